// libFuzzer target: a box's request as jambox-broadcast reads it (answer_request), join_room and
// create_room, with rooms made on demand by the real OnDemandRooms (bounded by its limits).
// Every answer must be a valid UTF-8 JSON object, a refusal never carries a ticket, a room made
// is named by a code, and no room's secret is ever in an answer.

#include "check.hpp"
#include <jambox/broadcast/admission.hpp>
#include <jambox/broadcast/on_demand.hpp>
#include <jambox/message/messages.hpp>
#include <jambox/message/text.hpp>

#include <chrono>
#include <cstdint>
#include <string_view>

namespace {

constexpr std::string_view kDeclaredSecret = "a fuzzing room secret";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace jambox;
  static broadcast::OnDemandRooms rooms = [] {
    broadcast::RoomsConfig c;
    c.on_demand = true;
    c.max_on_demand = 4;
    c.max_members = 2;
    c.idle_expiry_s = 10;
    return broadcast::OnDemandRooms(c);
  }();
  static auto now = std::chrono::steady_clock::time_point{};
  static const broadcast::RoomLookup lookup = [](std::string_view room) {
    broadcast::RoomAvailability a;
    a.codes = true;
    a.exists = room == "band";
    a.secret = std::string(kDeclaredSecret);
    a.max_members = 8;
    if (const broadcast::OnDemandRoom* made = rooms.find(room)) {
      a.exists = true;
      a.secret = made->secret;
      a.max_members = made->max_members;
    }
    return a;
  };
  static const broadcast::RoomCreator create = [](std::string_view key, std::string_view wanted) {
    broadcast::RoomCreation out;
    const broadcast::Creation made = rooms.create(
        key, wanted, [](std::string_view name) { return name == "band"; }, 1 + rooms.size(), 16,
        now);
    if (made.room == nullptr) {
      out.error_code = made.error_code;
      out.error = made.error;
      return out;
    }
    out.room = made.room->code;
    out.available.exists = true;
    out.available.secret = made.room->secret;
    out.available.max_members = made.room->max_members;
    return out;
  };
  static const broadcast::AdmissionConfig config = [] {
    broadcast::AdmissionConfig c;
    c.public_endpoint = "127.0.0.1:7930";
    return c;
  }();
  // Rooms come and go: nobody ever joins, so each lasts idle_expiry_s of this clock.
  now += std::chrono::seconds(1);
  static_cast<void>(rooms.expire([](std::string_view) { return false; }, now));

  const std::string_view payload(reinterpret_cast<const char*>(data), size);
  const nlohmann::json answer =
      broadcast::answer_request("box-fuzz", payload, lookup, create, config, 1);
  const std::string text = message::dump(answer);
  fuzz::require(message::valid_utf8(text), "an answer is not valid UTF-8");
  fuzz::require(text.size() <= 8 * 1024, "an answer grew past 8 KiB");
  const bool success = answer.value("success", false);
  fuzz::require(success || !answer.contains("ticket_secret"), "a refusal carries a ticket");
  // A secret may come back only as an echo of the request's own text (say, its request_id).
  const auto leaks = [&](std::string_view secret) {
    return payload.find(secret) == std::string_view::npos && text.find(secret) != std::string::npos;
  };
  fuzz::require(!leaks(kDeclaredSecret), "an answer carries a secret");
  if (success && answer.contains("created")) {
    const std::string room = answer.value("room", "");
    fuzz::require(message::is_room_code(room), "a room was made without a code");
    const broadcast::OnDemandRoom* made = rooms.find(room);
    fuzz::require(made != nullptr, "an answer names a room that was not made");
    fuzz::require(!leaks(made->secret), "an answer carries a secret");
  }
  return 0;
}
