#include "loadgen.hpp"
#include <jambox/wire/session.hpp>

#include <boost/program_options.hpp>

#include <ostream>

namespace jambox::loadgen {

namespace po = boost::program_options;

RoomOption parse_room(const std::string& text) {
  const auto equals = text.find('=');
  if (equals == std::string::npos) {
    throw SetupError("--room expects NAME=SECRET, got '" + text + "'");
  }
  RoomOption room{text.substr(0, equals), text.substr(equals + 1)};
  if (!wire::valid_room_name(room.name)) {
    throw SetupError("--room: '" + room.name +
                     "' is not a room name (1-32 characters of A-Z a-z 0-9 . _ -)");
  }
  if (room.secret.size() < wire::kMinSecretLength || room.secret.size() > 256) {
    throw SetupError("--room " + room.name + ": the secret must have 16 to 256 characters");
  }
  return room;
}

bool parse_options(int argc, const char* const* argv, Options& options, std::ostream& out,
                   int& exit_code) {
  std::vector<std::string> rooms;
  po::options_description described(
      "Usage: jambox-loadgen --server HOST:PORT --room NAME=SECRET [--room ...] [options]\n\n"
      "Simulates jammers sending 48 kHz stereo s16 jam packets to jambox-broadcast with\n"
      "absolute-deadline pacing, measures forwarding latency, loss, duplicates, reordering and\n"
      "the server's CPU time, and prints one JSON line with the results.\n\nOptions");
  // clang-format off
  described.add_options()
    ("help,h", "show this help")
    ("server", po::value(&options.server)->required(), "server address HOST:PORT ([::1]:PORT for IPv6)")
    ("room", po::value(&rooms)->required(), "NAME=SECRET of a room (repeatable); jammers are spread round-robin")
    ("jammers", po::value(&options.jammers)->default_value(options.jammers), "simulated jammers")
    ("seconds", po::value(&options.seconds)->default_value(options.seconds), "measurement window in seconds")
    ("frames", po::value(&options.frames)->default_value(options.frames), "frames per packet: 32, 64, 128 or 256")
    ("warmup-ms", po::value(&options.warmup_ms)->default_value(options.warmup_ms), "sending before the measurement window")
    ("drain-ms", po::value(&options.drain_ms)->default_value(options.drain_ms), "wait for late packets after the last send")
    ("junk-rate", po::value(&options.junk_rate)->default_value(options.junk_rate), "junk, spoofed and replayed datagrams per second")
    ("server-pid", po::value(&options.server_pid)->default_value(0), "measure this process's CPU time (/proc/PID/stat)")
    ("join-timeout-ms", po::value(&options.join_timeout_ms)->default_value(options.join_timeout_ms), "give up when a room does not admit its jammers in time")
    ("live", po::bool_switch(&options.live), "print one line per second to stderr")
    ("ipv6", po::bool_switch(&options.ipv6), "reach the server over IPv6")
    ("amplitude", po::value(&options.amplitude)->default_value(options.amplitude), "peak of the tone each channel sends (0..1]")
    ("send-only", po::bool_switch(&options.send_only), "send only, read nothing the server forwards (no latency or loss figures): light simulated remotes")
    ("room-audio", po::bool_switch(&options.room_audio), "encrypt the audio with the room's audio key, as boxes do, so boxes in the room mix it");
  // clang-format on
  po::variables_map values;
  try {
    po::store(po::parse_command_line(argc, argv, described), values);
    if (values.count("help") != 0) {
      out << described << '\n';
      exit_code = 0;
      return false;
    }
    po::notify(values);
  } catch (const po::error& error) {
    throw SetupError(std::string(error.what()) + " (see --help)");
  }
  options.rooms.clear();
  for (const auto& room : rooms) options.rooms.push_back(parse_room(room));
  for (std::size_t i = 0; i < options.rooms.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (options.rooms[i].name == options.rooms[j].name) {
        throw SetupError("--room " + options.rooms[i].name + " is given twice");
      }
    }
  }
  if (options.jammers < options.rooms.size()) {
    throw SetupError("--jammers must be at least the number of rooms (" +
                     std::to_string(options.rooms.size()) + ")");
  }
  if (options.jammers > 4096) throw SetupError("--jammers: at most 4096");
  if (options.frames != 32 && options.frames != 64 && options.frames != 128 &&
      options.frames != 256) {
    throw SetupError("--frames must be 32, 64, 128 or 256");
  }
  if (!(options.seconds > 0.0) || options.seconds > 86400.0) {
    throw SetupError("--seconds must be more than 0 and at most 86400");
  }
  if (!(options.amplitude > 0.0) || options.amplitude > 1.0) {
    throw SetupError("--amplitude must be more than 0 and at most 1");
  }
  if (options.send_only && options.junk_rate > 0) {
    throw SetupError("--junk-rate needs the forwarded packets that --send-only leaves unread");
  }
  if (options.junk_rate > 10'000'000) throw SetupError("--junk-rate: at most 10000000");
  return true;
}

}  // namespace jambox::loadgen
