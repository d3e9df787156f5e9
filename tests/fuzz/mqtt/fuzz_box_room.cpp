// libFuzzer target: what the room server can send a box — other members' presence and transport
// as relayed, view acks and admission answers. The first byte picks the topic (and, for room
// topics, one of a few member keys); the rest is the payload. Afterwards the box's figures and
// everything it published must stay valid and bounded.

#include "admission_client.hpp"
#include "harness.hpp"
#include "room_channel.hpp"
#include "view_queue.hpp"
#include <jambox/control/topics.hpp>
#include <jambox/message/rejections.hpp>
#include <jambox/message/text.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using namespace jambox;
using Clock = std::chrono::steady_clock;

struct Box {
  control::Topics topics{"jambox", "box-fuzz"};
  fuzz::CheckingOutbox out;
  box::RoomChannel room{out, topics, {}};
  box::ViewQueue views{out, topics.view(), "box-fuzz"};
  box::AdmissionClient admission{out, topics, {}, {}};
  message::Rejections rejections;
  Clock::time_point now = Clock::now();

  Box() { room.enter("band", now); }
};

constexpr std::array<std::string_view, 4> kKeys = {"box-a", "box-b", "box-fuzz", "x"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Box box;
  if (size == 0) return 0;
  const std::uint8_t pick = data[0];
  const std::string_view payload(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::string_view key = kKeys[(pick >> 4U) % kKeys.size()];
  box.now += std::chrono::milliseconds(pick & 0x0FU) * 50;
  switch (pick % 4U) {
    case 0:
      box.room.on_message("jambox/player/box-fuzz/room/in/presence/" + std::string(key), payload,
                          (pick & 0x08U) != 0, box.now, box.rejections);
      break;
    case 1:
      box.room.on_message("jambox/player/box-fuzz/room/in/transport/" + std::string(key), payload,
                          (pick & 0x08U) != 0, box.now, box.rejections);
      break;
    case 2:
      box.views.queue("join", "band", box.room.peers());
      static_cast<void>(box.views.on_ack(payload));
      break;
    default: {
      const std::string id = box.admission.request("band", box.now);
      box.admission.on_response(id, payload, box.now, box.rejections);
      break;
    }
  }
  box.room.tick(box.now);
  const std::string figures = message::dump(nlohmann::json{{"room", box.room.figures()},
                                                           {"admission", box.admission.figures()},
                                                           {"views", box.views.figures()},
                                                           {"rejected", box.rejections.to_json()}});
  fuzz::require(figures.size() <= 64 * 1024, "the room's figures grew past 64 KiB");
  fuzz::require(message::valid_utf8(figures), "the room's figures are not valid UTF-8");
  return 0;
}
