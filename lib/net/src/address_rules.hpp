#pragma once
// The lexical rules shared by parse_endpoint (listen addresses) and parse_host_port (servers):
// one spelling of a port, one of an IPv4 address, one way to read a bracketed IPv6 address.
//
// Leading zeros are refused in ports and in IPv4 parts: "010.1.1.1" is 8.1.1.1 to inet_aton and
// 10.1.1.1 to a reader, and "07930" would log differently from how it was written. Every address
// accepted here therefore prints back exactly as it was given.

#include <boost/asio/ip/address_v6.hpp>

#include <string>
#include <string_view>

namespace jambox::net::detail {

// Decimal digits only, no sign, no leading zero ("0" itself is allowed), at most 65535.
// The caller decides whether 0 is acceptable (a listen address may ask for any port).
[[nodiscard]] bool parse_port_digits(std::string_view digits, unsigned& port) noexcept;

// Whether `host` consists of digits and dots only: text meant as an IPv4 address, which is
// therefore never taken for a host name.
[[nodiscard]] bool ipv4_shaped(std::string_view host) noexcept;

// Strict dotted quad: four decimal parts 0..255, no leading zeros, nothing else.
[[nodiscard]] bool valid_ipv4(std::string_view host) noexcept;

// The text between the brackets: a numeric IPv6 address, optionally with a zone
// ("fe80::1%eth0", the zone being 1..15 characters of A-Z a-z 0-9 . _ -, as an interface name).
[[nodiscard]] bool parse_ipv6(std::string_view host, boost::asio::ip::address_v6& out);

// `text` made safe to quote in a message: bytes outside printable ASCII as \xNN, and at most
// 64 characters of it followed by "..." when longer (the text may come from the network).
[[nodiscard]] std::string quoted(std::string_view text);

}  // namespace jambox::net::detail
