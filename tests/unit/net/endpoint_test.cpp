#include <jambox/net/endpoint.hpp>

#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>

using jambox::net::Endpoint;

namespace {

std::string parse_error(std::string_view text) {
  Endpoint out;
  std::string error;
  if (jambox::net::parse_endpoint(text, out, error)) return "(parsed)";
  return error;
}

}  // namespace

TEST_CASE("endpoint: IPv4 and bracketed IPv6 forms parse", "[net][endpoint]") {
  const Endpoint any4 = jambox::net::parse_endpoint("0.0.0.0:7930");
  CHECK(any4.address().is_v4());
  CHECK(any4.address().is_unspecified());
  CHECK(any4.port() == 7930);

  const Endpoint any6 = jambox::net::parse_endpoint("[::]:7930");
  CHECK(any6.address().is_v6());
  CHECK(any6.address().is_unspecified());
  CHECK(any6.port() == 7930);

  const Endpoint loop6 = jambox::net::parse_endpoint("[::1]:0");
  CHECK(loop6.address().is_loopback());
  CHECK(loop6.port() == 0);

  CHECK(jambox::net::parse_endpoint("127.0.0.1:65535").port() == 65535);
  CHECK(jambox::net::parse_endpoint("192.0.2.7:1").address().to_string() == "192.0.2.7");
}

TEST_CASE("endpoint: malformed text is refused with a sentence naming the problem",
          "[net][endpoint]") {
  CHECK_THAT(parse_error(""), Catch::Contains("empty"));
  CHECK_THAT(parse_error("127.0.0.1"), Catch::Contains("missing ':PORT'"));
  CHECK_THAT(parse_error("127.0.0.1:"), Catch::Contains("0 to 65535"));
  CHECK_THAT(parse_error("127.0.0.1:65536"), Catch::Contains("0 to 65535"));
  CHECK_THAT(parse_error("127.0.0.1:-1"), Catch::Contains("0 to 65535"));
  CHECK_THAT(parse_error("127.0.0.1:80x"), Catch::Contains("0 to 65535"));
  CHECK_THAT(parse_error("127.0.0.1:123456"), Catch::Contains("0 to 65535"));
  CHECK_THAT(parse_error("::1:7930"), Catch::Contains("brackets"));
  CHECK_THAT(parse_error("[::1]7930"), Catch::Contains("missing ':PORT' after ']'"));
  CHECK_THAT(parse_error("[::1:7930"), Catch::Contains("missing ']'"));
  CHECK_THAT(parse_error("[]:7930"), Catch::Contains("missing address"));
  CHECK_THAT(parse_error(":7930"), Catch::Contains("missing address"));
  CHECK_THAT(parse_error("localhost:7930"), Catch::Contains("host names are not accepted"));
  CHECK_THAT(parse_error("1.2.3:7930"), Catch::Contains("not a numeric IPv4 address"));
  CHECK_THAT(parse_error("[127.0.0.1]:7930"), Catch::Contains("not a numeric IPv6 address"));
  // The same IPv4 and port rules as server addresses: one spelling, no leading zeros.
  CHECK_THAT(parse_error("256.1.1.1:7930"), Catch::Contains("not a numeric IPv4 address"));
  CHECK_THAT(parse_error("010.0.0.1:7930"), Catch::Contains("without leading zeros"));
  CHECK_THAT(parse_error("127.0.0.1:07930"), Catch::Contains("0 to 65535"));
  CHECK_THAT(parse_error("[fe80::1%]:7930"), Catch::Contains("not a numeric IPv6 address"));
  // Hostile bytes are escaped in the message.
  CHECK_THAT(parse_error("a\x01:1"), Catch::StartsWith("'a\\x01:1': "));
  // Every message quotes the input and shows the expected form.
  CHECK_THAT(parse_error("nonsense"), Catch::StartsWith("'nonsense': "));
  CHECK_THAT(parse_error("nonsense"), Catch::Contains("expected ADDRESS:PORT"));
}

TEST_CASE("endpoint: the throwing overload carries the same message", "[net][endpoint]") {
  try {
    (void)jambox::net::parse_endpoint("host:1");
    FAIL("no exception");
  } catch (const std::invalid_argument& e) {
    CHECK_THAT(e.what(), Catch::Contains("'host:1'"));
  }
}

TEST_CASE("endpoint: to_string prints the config form, IPv4-mapped as IPv4", "[net][endpoint]") {
  CHECK(jambox::net::to_string(jambox::net::parse_endpoint("10.1.2.3:40000")) == "10.1.2.3:40000");
  CHECK(jambox::net::to_string(jambox::net::parse_endpoint("[::1]:7930")) == "[::1]:7930");
  const Endpoint mapped = jambox::net::parse_endpoint("[::ffff:127.0.0.1]:5000");
  CHECK(jambox::net::to_string(mapped) == "127.0.0.1:5000");
  CHECK(jambox::net::unmapped(mapped).address().is_v4());
  CHECK(jambox::net::unmapped(mapped).port() == 5000);
  // Round trip through the parser.
  for (const char* text : {"0.0.0.0:1", "[::]:7930", "[2001:db8::1]:65535"}) {
    CHECK(jambox::net::to_string(jambox::net::parse_endpoint(text)) == text);
  }
}
