// Server addresses (HOST:PORT) are checked where they enter: one parser for configuration files,
// commands and the room server's answers.
#include <jambox/net/host_port.hpp>

#include <catch2/catch.hpp>

#include <string>

using jambox::net::HostPort;
using jambox::net::PortRule;

namespace {

HostPort parsed(std::string_view text, PortRule rule = PortRule::required) {
  HostPort out;
  std::string error;
  INFO("text: " << text);
  REQUIRE(jambox::net::parse_host_port(text, out, error, rule));
  CHECK(error.empty());
  return out;
}

std::string error_of(std::string_view text, PortRule rule = PortRule::required) {
  HostPort out;
  out.host = "untouched";
  std::string error;
  if (jambox::net::parse_host_port(text, out, error, rule)) return "(parsed)";
  CHECK(out.host == "untouched");  // a refused text leaves the result alone
  return error;
}

}  // namespace

TEST_CASE("host:port: host names, IPv4 and bracketed IPv6 parse", "[net][host_port]") {
  const HostPort name = parsed("jam.example.org:7930");
  CHECK(name.host == "jam.example.org");
  CHECK(name.port == 7930);
  CHECK_FALSE(name.numeric);
  CHECK_FALSE(name.v6);

  for (const char* text : {"localhost:1", "a:65535", "x-1.Example-Site.org:80", "a.b:7930",
                           "3com.example:7930", "xn--bcher-kva.example:7930"}) {
    const HostPort p = parsed(text);
    CHECK_FALSE(p.numeric);
  }
  // Labels of 63 characters, a name of 253.
  const std::string label63(63, 'a');
  CHECK(parsed(label63 + ".org:1").host == label63 + ".org");
  const std::string name253 = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b');
  REQUIRE(name253.size() == 253);
  CHECK(parsed(name253 + ":1").host == name253);  // 255 bytes in all

  const HostPort v4 = parsed("192.0.2.1:7930");
  CHECK(v4.host == "192.0.2.1");
  CHECK(v4.numeric);
  CHECK_FALSE(v4.v6);
  CHECK(parsed("0.0.0.0:1").numeric);
  CHECK(parsed("255.255.255.255:1").numeric);

  const HostPort v6 = parsed("[2001:db8::1]:7930");
  CHECK(v6.host == "2001:db8::1");
  CHECK(v6.port == 7930);
  CHECK(v6.numeric);
  CHECK(v6.v6);
  CHECK(parsed("[::1]:1").host == "::1");
  CHECK(parsed("[::ffff:192.0.2.1]:7930").v6);

  // With a zone (a link-local address needs one).
  const HostPort zoned = parsed("[fe80::1%eth0]:7930");
  CHECK(zoned.host == "fe80::1%eth0");
  CHECK(zoned.v6);
  CHECK(parsed("[fe80::1%1]:7930").host == "fe80::1%1");
}

TEST_CASE("host:port: the port is 1..65535 in plain decimal", "[net][host_port]") {
  CHECK(parsed("h:1").port == 1);
  CHECK(parsed("h:65535").port == 65535);
  for (const char* text : {"h:0", "h:65536", "h:99999", "h:123456", "h:-1", "h:+80", "h:80x",
                           "h:0x50", "h:07930", "h:00"}) {
    CAPTURE(text);
    CHECK_THAT(error_of(text), Catch::Contains("the port must be a number from 1 to 65535"));
  }
  CHECK_THAT(error_of("host:"), Catch::Contains("the port is missing"));
  CHECK_THAT(error_of("[::1]:"), Catch::Contains("the port is missing"));
  CHECK_THAT(error_of("nonsense"), Catch::Contains("the port is missing"));
  CHECK_THAT(error_of("[::1]"), Catch::Contains("the port is missing"));
}

TEST_CASE("host:port: each refusal names the problem and the expected form", "[net][host_port]") {
  // The message asked for by the issue, word for word.
  CHECK(error_of("host:") ==
        "'host:': the port is missing; expected HOST:PORT, e.g. jam.example.org:7930, "
        "192.0.2.1:7930 or [2001:db8::1]:7930");
  CHECK_THAT(error_of(""), Catch::StartsWith("'': the address is empty; expected HOST:PORT"));
  CHECK_THAT(error_of(":7930"), Catch::Contains("the host is missing"));
  // Digits and dots are an IPv4 address or nothing: never a host name.
  for (const char* text : {"256.1.1.1:99999", "256.1.1.1:7930", "1.2.3:7930", "1.2.3.4.5:7930",
                           "01.2.3.4:7930", "1..2.3:7930", "1.2.3.4.:7930", "123:7930"}) {
    CAPTURE(text);
    CHECK_THAT(error_of(text), Catch::Contains("is not a valid IPv4 address"));
  }
  CHECK_THAT(error_of("256.1.1.1:99999"),
             Catch::StartsWith("'256.1.1.1:99999': '256.1.1.1' is not a valid IPv4 address"));
  CHECK_THAT(error_of("example.123:7930"), Catch::Contains("last label is all digits"));
  CHECK_THAT(error_of("-a.org:1"), Catch::Contains("hyphen"));
  CHECK_THAT(error_of("a-.org:1"), Catch::Contains("hyphen"));
  CHECK_THAT(error_of("a..org:1"), Catch::Contains("empty label"));
  CHECK_THAT(error_of(".a.org:1"), Catch::Contains("empty label"));
  CHECK_THAT(error_of("jam.example.org.:1"), Catch::Contains("empty label"));
  CHECK_THAT(error_of("under_score.org:1"), Catch::Contains("not a host name"));
  CHECK_THAT(error_of("caf\xc3\xa9.org:1"), Catch::Contains("not a host name"));
  CHECK_THAT(error_of(std::string(64, 'a') + ".org:1"), Catch::Contains("longer than 63"));
  const std::string label63(63, 'a');
  const std::string name254 = label63 + "." + label63 + "." + label63 + "." + std::string(62, 'b');
  CHECK_THAT(error_of(name254, PortRule::optional), Catch::Contains("longer than 253"));
  CHECK_THAT(error_of(name254 + ":1"), Catch::Contains("longer than 255 bytes"));

  CHECK_THAT(error_of("2001:db8::1:7930"), Catch::Contains("must be written in brackets"));
  CHECK_THAT(error_of("[2001:db8::1:7930"), Catch::Contains("']' closing"));
  CHECK_THAT(error_of("[::1]7930"), Catch::Contains("only ':PORT' may follow"));
  CHECK_THAT(error_of("[]:7930"), Catch::Contains("IPv6 address in the brackets is missing"));
  CHECK_THAT(error_of("[192.0.2.1]:7930"), Catch::Contains("not a numeric IPv6 address"));
  CHECK_THAT(error_of("[jam.example.org]:7930"), Catch::Contains("not a numeric IPv6 address"));
  CHECK_THAT(error_of("[fe80::1%]:7930"), Catch::Contains("not a numeric IPv6 address"));
  CHECK_THAT(error_of("[fe80::1%a/b]:7930"), Catch::Contains("not a numeric IPv6 address"));

  for (const char* text : {" host:1", "host:1 ", "ho st:1", "host:\t1", "host\n:1", "h\x7f:1"}) {
    CAPTURE(text);
    CHECK_THAT(error_of(text), Catch::Contains("whitespace or a control character"));
  }
  // Hostile bytes are escaped in the message, and long text is cut short.
  CHECK_THAT(error_of("a\nb:1"), Catch::StartsWith("'a\\x0ab:1': "));
  CHECK_THAT(error_of(std::string(300, 'x')),
             Catch::StartsWith("'" + std::string(64, 'x') + "...': "));
}

TEST_CASE("host:port: an optional port", "[net][host_port]") {
  const HostPort bare = parsed("jam.example.org", PortRule::optional);
  CHECK(bare.host == "jam.example.org");
  CHECK(bare.port == 0);
  CHECK(parsed("192.0.2.10:7930", PortRule::optional).port == 7930);
  const HostPort v6 = parsed("[2001:db8::10]", PortRule::optional);
  CHECK(v6.v6);
  CHECK(v6.port == 0);
  CHECK_THAT(error_of("host:", PortRule::optional), Catch::Contains("the port is missing"));
  CHECK_THAT(error_of("host:0", PortRule::optional), Catch::Contains("1 to 65535"));
  CHECK_THAT(error_of("", PortRule::optional),
             Catch::Contains("expected HOST or HOST:PORT, e.g. jam.example.org"));
}

TEST_CASE("host:port: to_string gives the text back", "[net][host_port]") {
  for (const char* text :
       {"jam.example.org:7930", "192.0.2.1:1", "[2001:db8::1]:65535", "[fe80::1%eth0]:7930"}) {
    CHECK(jambox::net::to_string(parsed(text)) == text);
  }
  for (const char* text : {"jam.example.org", "[2001:db8::10]", "192.0.2.1"}) {
    CHECK(jambox::net::to_string(parsed(text, PortRule::optional)) == text);
  }
  HostPort p{"jam.example.org", 0, false, false};
  p.port = 7930;
  CHECK(jambox::net::to_string(p) == "jam.example.org:7930");
}
