// libFuzzer target: what musicians, the admin and member boxes can send the room server's relay
// and chat — a chat message (musician or admin) and a member's presence and transport. The
// first byte picks the topic and the sender; the rest is the payload. Every message is also
// read by message::parse_chat on its own. Everything the relay publishes must be valid UTF-8
// JSON within its bounds, a chat event never longer than its limit, and the relay's figures
// bounded.

#include "check.hpp"
#include "room_relay.hpp"
#include <jambox/control/session.hpp>
#include <jambox/message/chat.hpp>
#include <jambox/message/text.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace jambox;
using Clock = std::chrono::steady_clock;

// A chat event is a few fixed members and at most 500 characters of text (control characters,
// the ones JSON escapes at length, are refused); a relayed transport update is at most what its
// reader took (16 KiB), re-serialised. Both fit in this with room to spare.
constexpr std::size_t kMaxEvent = 20 * 1024;

bool check_publication(const std::string& topic, std::string_view payload, bool retained) {
  fuzz::require(message::valid_utf8(topic), "a topic is not valid UTF-8");
  if (retained) {
    fuzz::require(payload.empty(), "the relay retained something other than a clearing");
    return true;
  }
  fuzz::require(message::valid_utf8(payload), "a publication is not valid UTF-8");
  fuzz::require(payload.size() <= fuzz::kMaxPublish, "a publication exceeds 256 KiB");
  const bool history = topic.ends_with("/room/chat/history");
  fuzz::require(history || payload.size() <= kMaxEvent,
                "a chat event or relayed message is "
                "larger than its bound");
  const auto doc = nlohmann::json::parse(payload, nullptr, false);
  fuzz::require(!doc.is_discarded() && doc.is_object(), "a publication is not a JSON object");
  return true;
}

struct Relay {
  broadcast::RoomRelay relay{
      "jambox", broadcast::RoomRelay::Hooks{check_publication,
                                            [](std::string_view room) { return room == "band"; },
                                            [] { return std::int64_t{1'700'000'000'000}; }}};
  Clock::time_point now = Clock::now();
  Relay() {
    relay.admitted("box-a", "band", now);
    relay.admitted("box-b", "band", now);
  }
};

constexpr std::array<std::string_view, 4> kBoxes = {"box-a", "box-b", "box-free", "box-a"};
constexpr std::array<std::string_view, 4> kUsers = {"alice", "bob", "admin", "x-1"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Relay r;
  if (size == 0) return 0;
  const std::uint8_t pick = data[0];
  const std::string_view payload(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::string box(kBoxes[(pick >> 2U) % kBoxes.size()]);
  const std::string user(kUsers[(pick >> 4U) % kUsers.size()]);
  r.now += std::chrono::milliseconds(pick & 0x03U) * 700;

  // The parser alone: a text is never empty, too long or carrying a control character.
  const message::Chat chat = message::parse_chat(payload);
  if (const auto* text = std::get_if<message::ChatText>(&chat)) {
    fuzz::require(!text->text.empty(), "an empty text was accepted");
    fuzz::require(message::character_count(text->text) <= message::kMaxChatCharacters,
                  "a text over 500 characters was accepted");
    fuzz::require(message::valid_utf8(text->text), "a text is not valid UTF-8");
    for (const char c : text->text) {
      fuzz::require(static_cast<unsigned char>(c) >= 0x20 && c != 0x7F,
                    "a text with a control character was accepted");
    }
  }

  control::Message m;
  m.payload = std::string(payload);
  // A member's message is retained when the time bits are both set (a planted one).
  m.retained = (pick & 0x80U) != 0 && (pick & 0x03U) == 0x03U;
  switch ((pick >> 6U) & 0x03U) {
    case 0:
      m.topic = "jambox/player/" + box + "/chat/from/" + user;
      break;
    case 1:
      m.topic = "jambox/room/band/chat";
      break;
    case 2:
      m.topic = "jambox/player/" + box + "/room/out/presence";
      break;
    default:
      m.topic = "jambox/player/" + box + "/room/out/transport";
      break;
  }
  fuzz::require(r.relay.on_message(m, r.now), "a relay topic was not taken");
  r.relay.tick(r.now);
  // Members come back (a leave or silence ended them): the fuzzer keeps a room to talk to.
  if (r.relay.room_of("box-a").empty()) r.relay.admitted("box-a", "band", r.now);
  if (r.relay.room_of("box-b").empty()) r.relay.admitted("box-b", "band", r.now);
  const std::string figures = message::dump(r.relay.figures());
  fuzz::require(figures.size() <= 8 * 1024, "the relay's figures grew past 8 KiB");
  return 0;
}
