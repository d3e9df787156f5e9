#pragma once
// UDP endpoints as written in configuration files and logs: "ADDRESS:PORT" with a numeric IPv4
// address ("0.0.0.0:7930") or a bracketed IPv6 one ("[::]:7930", "[fe80::1%eth0]:7930").
// Host names are refused on purpose: a daemon must not depend on DNS at start-up. Ports are
// 0..65535 (0: any free port), written without leading zeros; IPv4 addresses are strict dotted
// quads. Server addresses, which may name a host, are parse_host_port in host_port.hpp; both
// follow the same port and address rules.

#include <boost/asio/ip/udp.hpp>

#include <string>
#include <string_view>

namespace jambox::net {

using Endpoint = boost::asio::ip::udp::endpoint;

// Parses `text`; on failure returns false and sets `error` to a sentence naming the problem and
// the expected form. Never throws.
[[nodiscard]] bool parse_endpoint(std::string_view text, Endpoint& out, std::string& error);

// Same, but throws std::invalid_argument carrying the error sentence.
[[nodiscard]] Endpoint parse_endpoint(std::string_view text);

// "1.2.3.4:5" or "[::1]:5". IPv4-mapped IPv6 addresses (what a dual-stack socket reports for
// IPv4 peers) are shown as plain IPv4, the way an administrator thinks of them.
[[nodiscard]] std::string to_string(const Endpoint& endpoint);

// The IPv4 endpoint behind an IPv4-mapped IPv6 one; any other endpoint unchanged.
[[nodiscard]] Endpoint unmapped(const Endpoint& endpoint);

}  // namespace jambox::net
