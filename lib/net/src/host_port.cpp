#include "address_rules.hpp"
#include <jambox/net/host_port.hpp>

#include <boost/asio/ip/address_v6.hpp>

#include <algorithm>

namespace jambox::net {
namespace {

constexpr std::size_t kMaxText = 255;
constexpr std::size_t kMaxHostName = 253;
constexpr std::size_t kMaxLabel = 63;

constexpr std::string_view kExpectedRequired =
    "expected HOST:PORT, e.g. jam.example.org:7930, 192.0.2.1:7930 or [2001:db8::1]:7930";
constexpr std::string_view kExpectedOptional =
    "expected HOST or HOST:PORT, e.g. jam.example.org, 192.0.2.1:7930 or [2001:db8::1]:7930";

bool fail(std::string& error, std::string_view text, PortRule rule, const std::string& problem) {
  error = "'" + detail::quoted(text) + "': " + problem + "; ";
  error.append(rule == PortRule::required ? kExpectedRequired : kExpectedOptional);
  return false;
}

bool is_name_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

// Empty when `host` is a host name, else what is wrong with it.
std::string host_name_problem(std::string_view host) {
  const std::string shown = detail::quoted(host);
  if (host.size() > kMaxHostName) return "the host name is longer than 253 characters";
  std::string_view last_label;
  std::string_view rest = host;
  while (true) {
    const auto dot = rest.find('.');
    const std::string_view label = rest.substr(0, dot);
    if (label.empty()) return "'" + shown + "' has an empty label (two dots, or one at an end)";
    if (label.size() > kMaxLabel) return "'" + shown + "' has a label longer than 63 characters";
    if (!std::all_of(label.begin(), label.end(), is_name_char)) {
      return "'" + shown +
             "' is not a host name (only letters, digits, hyphens and dots between labels)";
    }
    if (label.front() == '-' || label.back() == '-') {
      return "'" + shown + "' has a label starting or ending with a hyphen";
    }
    last_label = label;
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  if (std::all_of(last_label.begin(), last_label.end(),
                  [](char c) { return c >= '0' && c <= '9'; })) {
    return "'" + shown +
           "' is neither an IPv4 address nor a host name (its last label is all digits)";
  }
  return {};
}

}  // namespace

bool parse_host_port(std::string_view text, HostPort& out, std::string& error, PortRule rule) {
  if (text.empty()) return fail(error, text, rule, "the address is empty");
  if (text.size() > kMaxText) {
    return fail(error, text, rule, "the address is longer than 255 bytes");
  }
  if (std::any_of(text.begin(), text.end(), [](char c) {
        const auto byte = static_cast<unsigned char>(c);
        return byte <= 0x20 || byte == 0x7f;
      })) {
    return fail(error, text, rule, "the address contains whitespace or a control character");
  }

  HostPort parsed;
  std::string_view host;
  std::string_view port_text;
  bool has_port = false;
  if (text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
      return fail(error, text, rule, "the ']' closing the IPv6 address is missing");
    }
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return fail(error, text, rule, "only ':PORT' may follow the ']'");
      port_text = rest.substr(1);
      has_port = true;
    }
    if (host.empty()) return fail(error, text, rule, "the IPv6 address in the brackets is missing");
    boost::asio::ip::address_v6 ignored;
    if (!detail::parse_ipv6(host, ignored)) {
      return fail(error, text, rule,
                  "'" + detail::quoted(host) + "' is not a numeric IPv6 address");
    }
    parsed.numeric = true;
    parsed.v6 = true;
  } else {
    const auto colon = text.find(':');
    if (colon != std::string_view::npos && text.find(':', colon + 1) != std::string_view::npos) {
      return fail(error, text, rule,
                  "an IPv6 address must be written in brackets, e.g. [2001:db8::1]:7930");
    }
    host = text.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_text = text.substr(colon + 1);
      has_port = true;
    }
    if (host.empty()) return fail(error, text, rule, "the host is missing");
    if (detail::ipv4_shaped(host)) {
      if (!detail::valid_ipv4(host)) {
        return fail(error, text, rule,
                    "'" + detail::quoted(host) +
                        "' is not a valid IPv4 address (four numbers 0 to 255 without leading "
                        "zeros)");
      }
      parsed.numeric = true;
    } else if (const std::string problem = host_name_problem(host); !problem.empty()) {
      return fail(error, text, rule, problem);
    }
  }

  if (has_port) {
    if (port_text.empty()) return fail(error, text, rule, "the port is missing");
    unsigned port = 0;
    if (!detail::parse_port_digits(port_text, port) || port == 0) {
      return fail(error, text, rule,
                  "the port must be a number from 1 to 65535 (no sign, no leading zeros)");
    }
    parsed.port = static_cast<std::uint16_t>(port);
  } else if (rule == PortRule::required) {
    return fail(error, text, rule, "the port is missing");
  }
  parsed.host = std::string(host);
  out = std::move(parsed);
  return true;
}

std::string to_string(const HostPort& address) {
  std::string text = address.v6 ? "[" + address.host + "]" : address.host;
  if (address.port != 0) {
    text += ':';
    text += std::to_string(address.port);
  }
  return text;
}

}  // namespace jambox::net
