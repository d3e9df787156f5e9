// libFuzzer target: one message on a box's command topic, through the command processor and
// every command handler of jamboxd (payloads included), against a real model (engine, room
// link, JACK supervisor; nothing started). The acknowledgement must be one valid UTF-8 JSON
// object within 256 KiB, and nothing may throw out of the processor.
//
// A join_room with a secret would make the room link send a JOIN: its server is pointed at the
// discard port on the loopback interface, so the target never sends anywhere else (the address
// rules have their own target, fuzz_host_port).

#include "admission_client.hpp"
#include "command_handlers.hpp"
#include "harness.hpp"
#include "model.hpp"
#include "pedal_commands.hpp"
#include "room_channel.hpp"
#include <jambox/control/commands.hpp>
#include <jambox/control/topics.hpp>
#include <jambox/message/messages.hpp>

#include <boost/asio/io_context.hpp>

#include <unistd.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <string_view>

namespace {

using namespace jambox;

// Boards and presets go to a folder of this process on tmpfs (each change is written and
// fsynced), with the default allow-list: the pedal commands run against the installed plugins.
box::BoxConfig fuzz_config() {
  box::BoxConfig c;
  c.effects.boards_dir = "/dev/shm/jambox-fuzz-boards-" + std::to_string(::getpid());
  return c;
}

struct Box {
  boost::asio::io_context io;
  box::BoxModel model{io, fuzz_config()};
  control::Topics topics{"jambox", "box-fuzz"};
  fuzz::CheckingOutbox out;
  box::RoomChannel room{out, topics, {}};
  box::AdmissionClient admission{out, topics, {}, {}};
  box::CommandContext context{model,
                              room,
                              admission,
                              [](std::chrono::milliseconds ms) {
                                return nlohmann::json{{"interval_ms", ms.count()}};
                              },
                              [] {
                                return nlohmann::json{{"status", "online"}};
                              },
                              {}};
  control::CommandProcessor commands{[] {
    control::CommandLimits l;
    l.per_minute = std::numeric_limits<std::uint32_t>::max();
    return l;
  }()};

  Box() {
    box::register_commands(commands, context);
    box::register_pedal_commands(commands, model.pedalboard());
    room.enter("band", std::chrono::steady_clock::now());
    model.pedalboard().start();
    while (!model.pedalboard().ready()) {
      io.run_for(std::chrono::milliseconds(50));
      io.restart();
    }
  }
};

// Keeps the room link on the loopback interface whatever the command says.
std::string tame(std::string_view text) {
  const auto parsed = message::parse_command(text);
  const auto* command = std::get_if<message::Command>(&parsed);
  if (command == nullptr || command->type != "join_room" || !command->payload.contains("server")) {
    return std::string(text);
  }
  nlohmann::json doc = nlohmann::json::parse(text);
  doc["payload"]["server"] = "127.0.0.1:9";
  return doc.dump();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Box box;
  const std::string text = tame(std::string_view(reinterpret_cast<const char*>(data), size));
  const std::string ack = box.commands.handle(text, std::chrono::steady_clock::now());
  fuzz::require(ack.size() <= fuzz::kMaxPublish, "an ack exceeds 256 KiB");
  fuzz::require(message::valid_utf8(ack), "an ack is not valid UTF-8");
  const nlohmann::json doc = nlohmann::json::parse(ack, nullptr, false);
  fuzz::require(doc.is_object() && doc.contains("status"), "an ack is not an ack");
  box.io.poll();  // lets the room link run what the command started
  return 0;
}
