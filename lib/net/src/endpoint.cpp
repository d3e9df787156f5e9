#include <jambox/net/endpoint.hpp>

#include <boost/asio/ip/address.hpp>
#include <boost/system/error_code.hpp>

#include <charconv>
#include <stdexcept>

namespace jambox::net {
namespace {

constexpr std::string_view kExpected =
    "expected ADDRESS:PORT with a numeric address, e.g. 0.0.0.0:7930, [::]:7930 or [::1]:7930";

bool fail(std::string& error, std::string_view text, std::string_view problem) {
  error = "'";
  error.append(text);
  error.append("': ");
  error.append(problem);
  error.append("; ");
  error.append(kExpected);
  return false;
}

bool parse_port(std::string_view digits, unsigned short& port) {
  if (digits.empty() || digits.size() > 5) return false;
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc{} || end != digits.data() + digits.size() || value > 65535) return false;
  port = static_cast<unsigned short>(value);
  return true;
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
  unsigned short port = 0;
  if (!parse_port(port_text, port)) {
    return fail(error, text, "the port must be a number from 0 to 65535");
  }
  boost::system::error_code ec;
  if (bracketed) {
    const auto v6 = boost::asio::ip::make_address_v6(std::string(host), ec);
    if (ec) return fail(error, text, "not a numeric IPv6 address");
    out = Endpoint(v6, port);
  } else {
    const auto v4 = boost::asio::ip::make_address_v4(std::string(host), ec);
    if (ec) return fail(error, text, "not a numeric IPv4 address (host names are not accepted)");
    out = Endpoint(v4, port);
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
