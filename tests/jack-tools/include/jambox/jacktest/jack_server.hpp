#pragma once
// Real JACK servers for tests: `jackd -n <unique name> -d dummy -r <rate> -p <period>`, started
// as a child, waited for until a client can connect, and stopped when the object dies (also when
// the test fails). The child also gets SIGTERM if the test process itself dies (setpriv
// --pdeathsig), so no jackd outlives a crashed or timed-out test.
//
// JACK keeps a machine-wide registry of at most 8 servers (/dev/shm/jack-shm-registry); a jackd
// killed with SIGKILL keeps its slot until a server of the same name starts again. So a server
// this class killed (or that died) is started once more and stopped cleanly on destruction, and
// when jackd finds every slot taken, the stale slots of earlier runs are reclaimed and the start
// is tried once more.
//
// What works in the Debian 12 containers used here (jackd2 1.9.21, as root): the dummy driver in
// the default real-time mode (server priority 10, clients 5); without CAP_SYS_NICE jackd logs
// "Cannot use real-time scheduling" and carries on, so no flag is needed either way.
// JACK_NO_AUDIO_RESERVATION=1 keeps jackd off D-Bus device reservation (no session bus here), and
// JACK_NO_START_SERVER=1 keeps any client from spawning a default server. Each server has its own
// name, so tests may run in parallel. Set JAMBOX_JACK_NO_REALTIME=1 to run jackd with
// --no-realtime.

#include <jambox/test/process.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace jambox::test {
class TempDir;
}

namespace jambox::jacktest {

// Gives back the registry slots of servers whose jackd died without unregistering (see
// server_registry.hpp): starts jackd once under each stale name of this user and stops it with
// SIGTERM, which frees the slot. Returns the names reclaimed.
std::vector<std::string> reclaim_stale_servers(const jambox::test::TempDir& dir);

// Sets JACK_NO_AUDIO_RESERVATION=1 and JACK_NO_START_SERVER=1 for this process and its children.
void prepare_jack_environment();

// "<prefix>-<pid>-<counter>-<random>": unique across parallel tests and reruns.
[[nodiscard]] std::string unique_server_name(std::string_view prefix = "jbx");

struct JackServerOptions {
  std::string name;  // empty: unique_server_name()
  std::uint32_t rate = 48000;
  std::uint32_t period = 64;
  std::chrono::milliseconds ready_timeout{15000};
};

class JackServer {
 public:
  // Starts jackd and waits until a client can connect. Throws std::runtime_error with jackd's
  // output when it does not come up.
  JackServer(const jambox::test::TempDir& dir, JackServerOptions options = {});
  ~JackServer();
  JackServer(const JackServer&) = delete;
  JackServer& operator=(const JackServer&) = delete;

  [[nodiscard]] const std::string& name() const noexcept { return options_.name; }
  [[nodiscard]] bool running();
  // SIGKILL: the server vanishes the way a crash does (its registry slot is reclaimed later).
  void kill();
  // SIGTERM, then SIGKILL when it does not exit within 5 s.
  void stop();
  // SIGSTOP / SIGCONT: a server that hangs without dying.
  void pause();
  void resume();
  // Starts it again under the same name and options (after kill/stop) and waits until ready.
  void start();
  // Everything jackd wrote so far (all runs), for failure messages.
  [[nodiscard]] std::string log() const;

 private:
  std::filesystem::path dir_;
  JackServerOptions options_;
  std::unique_ptr<jambox::test::Process> process_;
  std::vector<std::filesystem::path> logs_;
  int runs_ = 0;
  bool clean_exit_ = true;  // false once a run ended without unregistering
};

// A plain libjack client for checking from the outside what the code under test did: which
// ports exist, what they are connected to, and for changing the server's period.
class JackProbe {
 public:
  // Throws std::runtime_error when the server cannot be reached.
  JackProbe(const std::string& server, const std::string& client_name = "jbx-probe");
  ~JackProbe();
  JackProbe(const JackProbe&) = delete;
  JackProbe& operator=(const JackProbe&) = delete;

  // jack_get_ports(pattern) as full names (regular expression as in jack_lsp).
  [[nodiscard]] std::vector<std::string> ports(const std::string& pattern = "") const;
  [[nodiscard]] std::vector<std::string> connections(const std::string& port) const;
  [[nodiscard]] bool connect(const std::string& from, const std::string& to);
  // jack_set_buffer_size; true on success.
  bool set_period(std::uint32_t frames);
  [[nodiscard]] std::uint32_t period() const;
  [[nodiscard]] std::uint32_t sample_rate() const;
  [[nodiscard]] bool realtime() const;

 private:
  void* client_ = nullptr;  // jack_client_t*
};

// Polls `done` every 10 ms until it holds or `timeout` passes; returns whether it held.
template <typename Predicate>
bool wait_until(Predicate done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace jambox::jacktest
