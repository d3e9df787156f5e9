#include "command_handlers.hpp"

#include <jambox/log/log.hpp>
#include <jambox/message/text.hpp>
#include <jambox/net/host_port.hpp>
#include <jambox/wire/session.hpp>

#include <algorithm>
#include <stdexcept>

namespace jambox::box {
namespace {

using control::CommandFailed;
using control::InvalidField;
using nlohmann::json;

// `taken`: whether the audio engine's command ring took the setting.
void require_taken(bool taken) {
  if (!taken) throw CommandFailed("busy", "the audio engine did not take the setting; retry");
}

void post(BoxModel& model, const audio::Command& c) {
  require_taken(model.post(c));
}

std::uint32_t remote_of(const json& payload) {
  if (payload.contains("input")) {
    throw CommandFailed(
        "unsupported_target",
        "inputs have no gain, pan or mute stage of their own: use set_monitor for what you hear "
        "and set_mute_to_room for what the room hears");
  }
  return static_cast<std::uint32_t>(control::int_field(payload, "remote", 1, 0xFFFFFFFFLL));
}

void require_remote(const BoxModel& model, std::uint32_t remote) {
  if (!model.has_remote(remote)) {
    throw CommandFailed(
        "unknown_remote",
        "no remote jammer with session " + std::to_string(remote) + " is playing (see get_status)");
  }
}

float gain_db(const json& p, const char* name = "gain_db") {
  return static_cast<float>(control::number_field(p, name, -60.0, 12.0));
}

json set_jitter(BoxModel& model, const json& p) {
  if (p.contains("auto")) {
    if (control::bool_field(p, "auto")) {
      post(model, audio::Command::jitter(1.0F, 40.0F, true));
      return nullptr;
    }
  }
  const auto floor = static_cast<float>(control::number_field(p, "floor_ms", 0.0, 100.0));
  const auto ceiling = static_cast<float>(control::number_field(p, "ceiling_ms", 1.0, 200.0));
  if (ceiling < floor) throw InvalidField("ceiling_ms", "must not be below floor_ms");
  const bool adaptive = !p.contains("adaptive") || control::bool_field(p, "adaptive");
  post(model, audio::Command::jitter(floor, ceiling, adaptive));
  return nullptr;
}

json join_room(CommandContext& c, const json& p) {
  RoomConfig target;
  target.name = control::string_field(p, "room", 32);
  if (!wire::valid_room_name(target.name)) {
    throw InvalidField("room", "1 to 32 characters of A-Z a-z 0-9 . _ -");
  }
  if (!p.contains("secret")) {
    // Managed rooms: a room server admits the box and hands it a ticket (the outcome shows in
    // the status's "admission" and in the journal).
    const std::string& id = c.admission.request(target.name, std::chrono::steady_clock::now());
    return {{"room", target.name}, {"admission", "requested"}, {"request_id", id}};
  }
  // A room by address and secret sends the box's audio wherever the command says: the admin's
  // decision, not a musician's (musicians join rooms the room servers admit them to).
  if (c.sender && c.sender() != kAdminSender) {
    throw CommandFailed("not_allowed",
                        "only the admin may name a room server and secret; join a room by name "
                        "or code");
  }
  target.server = control::string_field(p, "server", 255);
  net::HostPort address;
  std::string problem;
  if (!net::parse_host_port(target.server, address, problem)) throw InvalidField("server", problem);
  target.secret = control::string_field(p, "secret", 255);
  if (target.secret.size() < wire::kMinSecretLength) {
    throw InvalidField("secret",
                       "at least " + std::to_string(wire::kMinSecretLength) + " characters");
  }
  try {
    c.model.join(target);  // leaves the current room only once the new one is accepted
  } catch (const std::invalid_argument& e) {
    throw InvalidField("server", e.what());
  }
  c.admission.forget();
  log::notice("command: joined room {} on {}", target.name, target.server);
  return {{"room", target.name}, {"server", target.server}};
}

// create_room {code?}: a room server makes a room named by a code (the wanted one, or one it
// picks), the box joins it by the ticket in the answer and hosts the room's transport, at the
// tempo and metronome the box plays with now.
json create_room(CommandContext& c, const json& p) {
  std::string code;
  if (p.contains("code") && !p["code"].is_null()) {
    const auto typed = message::room_code_from_input(control::string_field(p, "code", 64));
    if (!typed) {
      throw InvalidField("code", std::to_string(message::kRoomCodeLength) + " characters of " +
                                     std::string(message::kRoomCodeAlphabet) +
                                     " (any case), or no code");
    }
    code = *typed;
  }
  message::Transport seed;
  if (const auto& current = c.room.transport()) {
    seed.tempo_bpm = current->tempo_bpm;
    seed.metronome = current->metronome;
  } else {
    const MixConfig& mix = c.model.config().mix;
    seed.tempo_bpm =
        std::clamp(static_cast<double>(mix.metronome_bpm), message::kMinTempo, message::kMaxTempo);
    seed.metronome = mix.metronome;
  }
  const std::string& id = c.admission.create(
      code, std::chrono::steady_clock::now(), [&c, seed](const RoomConfig& made) {
        // The join may have been refused (the box stays where it was): nothing to host then.
        if (c.room.room() != made.name) return;
        c.room.host(seed);
        log::notice("command: room {} made; this box hosts its transport", made.name);
      });
  return {
      {"room", code.empty() ? json() : json(code)}, {"admission", "requested"}, {"request_id", id}};
}

json leave_room(CommandContext& c) {
  const bool was_asking = c.admission.asking();
  c.admission.forget();
  if (!c.model.leave() && !was_asking) {
    throw CommandFailed("not_in_room", "the box is in no room");
  }
  log::notice("command: left the room");
  return nullptr;
}

json set_transport(CommandContext& c, const json& p) {
  if (c.room.room().empty()) throw CommandFailed("not_in_room", "the box is in no room");
  message::Transport next = c.room.transport().value_or(message::Transport{});
  if (p.contains("tempo_bpm")) {
    next.tempo_bpm = control::number_field(p, "tempo_bpm", message::kMinTempo, message::kMaxTempo);
  }
  if (p.contains("metronome")) next.metronome = control::bool_field(p, "metronome");
  if (p.contains("playing")) next.playing = control::bool_field(p, "playing");
  if (p.contains("queue")) {
    const json& q = p["queue"];
    if (!q.is_array() || q.size() > message::kMaxQueueTitles) {
      throw InvalidField("queue", "a list of at most 64 titles");
    }
    std::vector<std::string> titles;
    for (const auto& item : q) {
      if (!item.is_string() || item.get_ref<const std::string&>().empty() ||
          item.get_ref<const std::string&>().size() > message::kMaxTitleLength) {
        throw InvalidField("queue", "titles are strings of 1..128 characters");
      }
      titles.push_back(item.get<std::string>());
    }
    next.queue = std::move(titles);
  }
  // Titles grow when escaped: the update as published must fit what every member reads.
  if (message::dump(message::to_json(next)).size() > message::kMaxTransportBytes) {
    throw InvalidField("queue", "the titles take more than 16 KiB as JSON; shorten them");
  }
  c.room.host(next);
  return message::to_json(*c.room.transport());
}

}  // namespace

void register_commands(control::CommandProcessor& commands, CommandContext& c) {
  BoxModel& model = c.model;
  commands.on("ping", [](const json&) { return json{{"pong", true}}; });
  commands.on("get_status", [&c](const json&) { return c.status(); });
  commands.on("set_master", [&model](const json& p) {
    post(model, audio::Command::master_gain(gain_db(p)));
    return json();
  });
  commands.on("set_gain", [&model](const json& p) {
    const std::uint32_t remote = remote_of(p);
    const float db = gain_db(p);
    require_remote(model, remote);
    post(model, audio::Command::remote_gain(remote, db));
    return json();
  });
  commands.on("set_pan", [&model](const json& p) {
    const std::uint32_t remote = remote_of(p);
    const auto pan = static_cast<float>(control::number_field(p, "pan", -1.0, 1.0));
    require_remote(model, remote);
    post(model, audio::Command::remote_pan(remote, pan));
    return json();
  });
  commands.on("set_mute", [&model](const json& p) {
    const std::uint32_t remote = remote_of(p);
    const bool muted = control::bool_field(p, "muted");
    require_remote(model, remote);
    post(model, audio::Command::remote_mute(remote, muted));
    return json();
  });
  commands.on("set_monitor", [&model](const json& p) {
    const bool on = control::bool_field(p, "on");
    const auto db = static_cast<float>(control::number_field(p, "gain_db", -60.0, 12.0, 0.0));
    post(model, audio::Command::monitor(on, db));
    return json();
  });
  commands.on("set_mute_to_room", [&model](const json& p) {
    const auto input = static_cast<std::uint32_t>(control::int_field(p, "input", 1, 2));
    post(model, audio::Command::input_mute_to_room(input - 1, control::bool_field(p, "muted")));
    return json();
  });
  commands.on("set_tuner", [&model](const json& p) {
    const auto input = static_cast<std::uint32_t>(control::int_field(p, "channel", 1, 2));
    const bool on = control::bool_field(p, "on");
    require_taken(model.set_tuner(input - 1, on));
    return json{{"channel", input}, {"on", on}};
  });
  commands.on("set_metronome", [&model](const json& p) {
    const bool on = control::bool_field(p, "on");
    const auto bpm = static_cast<float>(control::number_field(p, "bpm", 30.0, 300.0, 120.0));
    const auto db = static_cast<float>(control::number_field(p, "gain_db", -60.0, 12.0, -12.0));
    post(model, audio::Command::metronome(on, bpm, db));
    return json();
  });
  commands.on("set_jitter", [&model](const json& p) { return set_jitter(model, p); });
  commands.on("set_meter_interval", [&c](const json& p) {
    return c.meters(std::chrono::milliseconds(control::int_field(p, "interval_ms", 150, 2000)));
  });
  commands.on("join_room", [&c](const json& p) { return join_room(c, p); });
  commands.on("create_room", [&c](const json& p) { return create_room(c, p); });
  commands.on("leave_room", [&c](const json&) { return leave_room(c); });
  commands.on("set_transport", [&c](const json& p) { return set_transport(c, p); });
  commands.on("restart_audio", [&model](const json&) {
    log::notice("command: restarting the JACK client");
    model.restart_audio();
    return json();
  });
}

}  // namespace jambox::box
