// libFuzzer target: a box's request as jambox-broadcast reads it (answer_request). Every answer
// must be a valid UTF-8 JSON object, and a refusal never carries a ticket.

#include "check.hpp"
#include <jambox/broadcast/admission.hpp>
#include <jambox/message/text.hpp>

#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace jambox;
  static const broadcast::RoomLookup lookup = [](std::string_view room) {
    broadcast::RoomAvailability a;
    a.exists = room == "band";
    a.secret = "a fuzzing room secret";
    a.max_members = 8;
    return a;
  };
  static const broadcast::AdmissionConfig config = [] {
    broadcast::AdmissionConfig c;
    c.public_endpoint = "127.0.0.1:7930";
    return c;
  }();
  const std::string_view payload(reinterpret_cast<const char*>(data), size);
  const nlohmann::json answer = broadcast::answer_request("box-fuzz", payload, lookup, config, 1);
  const std::string text = message::dump(answer);
  fuzz::require(message::valid_utf8(text), "an answer is not valid UTF-8");
  fuzz::require(text.size() <= 8 * 1024, "an answer grew past 8 KiB");
  fuzz::require(answer.value("success", false) || !answer.contains("ticket_secret"),
                "a refusal carries a ticket");
  return 0;
}
