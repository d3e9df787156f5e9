#include "address_rules.hpp"
#include <jambox/net/endpoint.hpp>

#include <boost/asio/ip/address.hpp>

#include <stdexcept>

namespace jambox::net {
namespace {

constexpr std::string_view kExpected =
    "expected ADDRESS:PORT with a numeric address, e.g. 0.0.0.0:7930, [::]:7930 or [::1]:7930";

bool fail(std::string& error, std::string_view text, std::string_view problem) {
  error = "'" + detail::quoted(text) + "': ";
  error.append(problem);
  error.append("; ");
  error.append(kExpected);
  return false;
}

}  // namespace

bool parse_endpoint(std::string_view text, Endpoint& out, std::string& error) {
  if (text.empty()) return fail(error, text, "empty address");
  std::string_view host;
  std::string_view port_text;
  bool bracketed = false;
  if (text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return fail(error, text, "missing ']'");
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') return fail(error, text, "missing ':PORT' after ']'");
    port_text = rest.substr(1);
    bracketed = true;
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail(error, text, "missing ':PORT'");
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return fail(error, text, "an IPv6 address must be written in brackets, e.g. [::1]:7930");
    }
  }
  if (host.empty()) return fail(error, text, "missing address before the port");
  // Port 0 is allowed here: a listen address may ask the kernel for any free port.
  unsigned port = 0;
  if (!detail::parse_port_digits(port_text, port)) {
    return fail(error, text, "the port must be a number from 0 to 65535 (no leading zeros)");
  }
  const auto port16 = static_cast<unsigned short>(port);
  if (bracketed) {
    boost::asio::ip::address_v6 v6;
    if (!detail::parse_ipv6(host, v6)) return fail(error, text, "not a numeric IPv6 address");
    out = Endpoint(v6, port16);
  } else {
    if (!detail::valid_ipv4(host)) {
      return fail(error, text,
                  detail::ipv4_shaped(host)
                      ? "not a numeric IPv4 address (four numbers 0 to 255 without leading zeros)"
                      : "not a numeric IPv4 address (host names are not accepted)");
    }
    out = Endpoint(boost::asio::ip::make_address_v4(std::string(host)), port16);
  }
  return true;
}

Endpoint parse_endpoint(std::string_view text) {
  Endpoint out;
  std::string error;
  if (!parse_endpoint(text, out, error)) throw std::invalid_argument(error);
  return out;
}

Endpoint unmapped(const Endpoint& endpoint) {
  const auto address = endpoint.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return Endpoint(boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, address.to_v6()),
                    endpoint.port());
  }
  return endpoint;
}

std::string to_string(const Endpoint& endpoint) {
  const Endpoint plain = unmapped(endpoint);
  const auto address = plain.address();
  std::string text;
  if (address.is_v6()) {
    text = "[" + address.to_string() + "]";
  } else {
    text = address.to_string();
  }
  text += ":";
  text += std::to_string(plain.port());
  return text;
}

}  // namespace jambox::net
