#include "address_rules.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/system/error_code.hpp>

#include <algorithm>

namespace jambox::net::detail {
namespace {

bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

bool is_zone_char(char c) noexcept {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' || c == '_' ||
         c == '-';
}

// Interface names are at most IFNAMSIZ - 1 characters.
constexpr std::size_t kMaxZone = 15;
constexpr std::size_t kMaxQuoted = 64;

}  // namespace

bool parse_port_digits(std::string_view digits, unsigned& port) noexcept {
  if (digits.empty() || digits.size() > 5) return false;
  if (!std::all_of(digits.begin(), digits.end(), is_digit)) return false;
  if (digits.size() > 1 && digits.front() == '0') return false;
  unsigned value = 0;
  for (const char c : digits) value = value * 10 + static_cast<unsigned>(c - '0');
  if (value > 65535) return false;
  port = value;
  return true;
}

bool ipv4_shaped(std::string_view host) noexcept {
  return !host.empty() &&
         std::all_of(host.begin(), host.end(), [](char c) { return is_digit(c) || c == '.'; });
}

bool valid_ipv4(std::string_view host) noexcept {
  int parts = 0;
  while (true) {
    const auto dot = host.find('.');
    const std::string_view part = host.substr(0, dot);
    unsigned value = 0;
    if (part.size() > 3 || !parse_port_digits(part, value) || value > 255) return false;
    ++parts;
    if (dot == std::string_view::npos) break;
    host.remove_prefix(dot + 1);
  }
  return parts == 4;
}

bool parse_ipv6(std::string_view host, boost::asio::ip::address_v6& out) {
  const auto percent = host.find('%');
  if (percent != std::string_view::npos) {
    const std::string_view zone = host.substr(percent + 1);
    if (zone.empty() || zone.size() > kMaxZone ||
        !std::all_of(zone.begin(), zone.end(), is_zone_char)) {
      return false;
    }
  }
  // inet_pton underneath: only the numeric forms, never a lookup.
  boost::system::error_code ec;
  out = boost::asio::ip::make_address_v6(std::string(host), ec);
  return !ec;
}

std::string quoted(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  const std::string_view shown = text.substr(0, kMaxQuoted);
  out.reserve(shown.size() + 3);
  for (const char c : shown) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f) {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0x0f];
    } else {
      out += c;
    }
  }
  if (text.size() > shown.size()) out += "...";
  return out;
}

}  // namespace jambox::net::detail
