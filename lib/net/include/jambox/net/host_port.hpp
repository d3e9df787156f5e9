#pragma once
// A server address as an administrator writes it and a peer sends it: HOST:PORT, where HOST is
//  - a numeric IPv4 address, strictly a dotted quad of 0..255 without leading zeros
//    ("192.0.2.1"; "256.1.1.1" and "1.2.3" are invalid IPv4 addresses, never host names),
//  - a numeric IPv6 address in brackets, optionally with a zone ("[2001:db8::1]",
//    "[fe80::1%eth0]"), or
//  - a DNS host name: labels of letters, digits and hyphens, 1..63 characters each, neither
//    starting nor ending with a hyphen, at most 253 characters in all, the last label not all
//    digits ("jam.example.org", "localhost"; no trailing dot),
// and PORT is 1..65535 in decimal without leading zeros. The whole text has at most 255 bytes and
// no whitespace or control characters.
//
// This is the one parser for every server address jambox reads: [room] server in jamboxd's
// configuration, the server of a join_room command and of a room server's admission answer,
// [mqtt] public_endpoint of jambox-broadcast. Checking the text here, where it enters, is what
// lets a daemon refuse a bad address before it acts on it. Listen addresses (numeric only, port 0
// allowed) are parse_endpoint in endpoint.hpp, which shares the port and address rules.
//
// Nothing here touches DNS: a host name is only checked for its form.

#include <cstdint>
#include <string>
#include <string_view>

namespace jambox::net {

struct HostPort {
  std::string host;        // as written; an IPv6 address without its brackets
  std::uint16_t port = 0;  // 0 only when PortRule::optional and the text had none
  bool numeric = false;    // an IPv4 or IPv6 address, nothing to resolve
  bool v6 = false;         // a bracketed IPv6 address
};

enum class PortRule {
  required,  // HOST:PORT
  optional,  // HOST or HOST:PORT ("host:" is still refused: the port is missing)
};

// Parses `text`. On failure returns false, leaves `out` unchanged and sets `error` to one
// sentence that quotes the text (non-printable bytes escaped, long text shortened), names what is
// wrong and shows the expected form, e.g. "'host:': the port is missing; expected HOST:PORT, e.g.
// jam.example.org:7930, 192.0.2.1:7930 or [2001:db8::1]:7930". Never throws.
[[nodiscard]] bool parse_host_port(std::string_view text, HostPort& out, std::string& error,
                                   PortRule rule = PortRule::required);

// "host:port" or "[v6]:port"; without ":port" when the port is 0 (none was given).
// parse_host_port(to_string(x)) gives x back.
[[nodiscard]] std::string to_string(const HostPort& address);

}  // namespace jambox::net
