// libFuzzer target: the one server-address parser (net::parse_host_port), with and without a
// required port. An accepted address prints back to the same text and parses to the same
// value; a refused one leaves its output untouched and explains itself in valid UTF-8.

#include "check.hpp"
#include <jambox/message/text.hpp>
#include <jambox/net/host_port.hpp>

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace jambox;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const auto rule : {net::PortRule::required, net::PortRule::optional}) {
    net::HostPort out;
    out.host = "untouched";
    std::string error;
    if (net::parse_host_port(text, out, error, rule)) {
      fuzz::require(!out.host.empty(), "an accepted address without a host");
      fuzz::require(rule == net::PortRule::optional || out.port != 0, "a required port is 0");
      const std::string printed = net::to_string(out);
      fuzz::require(printed == text, "an accepted address does not print back as written");
      net::HostPort again;
      std::string again_error;
      fuzz::require(net::parse_host_port(printed, again, again_error, rule) &&
                        again.host == out.host && again.port == out.port,
                    "an accepted address does not parse back to itself");
    } else {
      fuzz::require(out.host == "untouched", "a refused address changed the output");
      fuzz::require(!error.empty() && message::valid_utf8(error), "a refusal without a reason");
    }
  }
  return 0;
}
