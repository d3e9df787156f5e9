#pragma once
// jambox-loadgen: simulated jammers against a jambox-broadcast server (docs/broadcast-server.md).
// The engine is a library so the unit tests can exercise its parts without a server.

#include <sys/types.h>

#include <cstdint>
#include <iosfwd>
#include <stdexcept>
#include <string>
#include <vector>

namespace jambox::loadgen {

struct RoomOption {
  std::string name;
  std::string secret;
};

struct Options {
  std::string server;             // HOST:PORT, HOST may be [IPv6]
  std::vector<RoomOption> rooms;  // jammers are spread over them round-robin
  unsigned jammers = 8;
  double seconds = 10.0;     // measurement window
  unsigned frames = 64;      // per packet: 32, 64, 128 or 256
  unsigned warmup_ms = 500;  // sending before the window opens (not counted)
  unsigned drain_ms = 300;   // waiting for stragglers after the last packet
  unsigned junk_rate = 0;    // junk/spoofed/replayed datagrams per second
  pid_t server_pid = 0;      // 0: server CPU is not measured
  unsigned join_timeout_ms = 5000;
  bool live = false;  // one line per second on stderr
  bool ipv6 = false;  // resolve the server as IPv6 only
  // Audio sealed end to end with the room's audio key, as boxes send it (room_audio.hpp), so a
  // jamboxd in the room opens and mixes the simulated jammers like real members.
  bool room_audio = false;
  double amplitude = 0.25;  // peak of each channel's tone (440 Hz, 660 Hz), 0..1
  // Senders only: what the server forwards to the jammers is left unread (their receive queues
  // fill and the kernel drops the rest), so the load generator costs the machine its sends alone,
  // as remote jammers on other machines would. No latency, loss or round-trip figures.
  bool send_only = false;
};

// Thrown for anything that stops the run before it starts (bad options, no server, refused
// joins): main prints the message and exits non-zero.
class SetupError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses the command line. Returns false and prints help/usage to `out` when the program should
// exit (with `exit_code`) instead of running. Throws SetupError on bad options.
bool parse_options(int argc, const char* const* argv, Options& options, std::ostream& out,
                   int& exit_code);

// "NAME=SECRET" -> RoomOption; throws SetupError naming the problem.
[[nodiscard]] RoomOption parse_room(const std::string& text);

// Runs the whole benchmark and returns the result line (one JSON object, no newline).
[[nodiscard]] std::string run(const Options& options, std::ostream& live_out);

}  // namespace jambox::loadgen
