#pragma once
// Keeps jamboxd's JACK client alive across JACK server restarts, on the daemon's Asio loop.
//
// When the server is missing, refuses us, or goes away, the supervisor logs it in plain words,
// closes the dead client and tries again with exponential backoff, forever: the daemon keeps
// running and its network session stays up meanwhile. The blocking libjack calls (open, activate,
// close) run on a helper thread, because jack_client_open() waits for as long as a stopped or
// hung server does not answer, and the loop also carries the network traffic.
//
// All member functions and events run on the io_context's thread (or before it runs).

#include <jambox/jack/checks.hpp>
#include <jambox/jack/client.hpp>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace jambox::jack {

enum class State {
  stopped,    // start() not called yet, or stop() called
  waiting,    // no JACK server (not running, or went away): retrying
  connected,  // client active, processor called every period
  refused,    // a server runs but with settings we refuse (rate, period, name taken): retrying
};
// "stopped", "waiting for JACK", "connected", "refused by JACK" for status lines.
[[nodiscard]] std::string_view state_name(State state) noexcept;

struct ConnectionInfo {
  std::string server;
  std::string client;
  std::uint32_t sample_rate = 0;
  std::uint32_t period = 0;
  bool realtime = false;
  int realtime_priority = -1;
  ConnectReport ports;
};

struct SupervisorStatus {
  State state = State::stopped;
  std::string server;             // effective server name
  std::uint32_t sample_rate = 0;  // 0 while not connected
  std::uint32_t period = 0;       // 0 while not connected
  bool realtime = false;
  int realtime_priority = -1;
  std::uint64_t xruns = 0;   // since construction, over all connections
  std::uint64_t cycles = 0;  // periods handed to the processor, over all connections
  std::uint64_t connects = 0;
  std::uint64_t disconnects = 0;  // losses of an established connection
  std::uint64_t failed_attempts = 0;
  std::string last_error;  // why the last attempt failed or the last connection ended
};

struct SupervisorOptions {
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{8000};
  // How often the loop looks at the client's atomics (server gone, period change).
  std::chrono::milliseconds poll_interval{100};
  // How long destruction waits for a pending libjack call before abandoning it (a hung server).
  std::chrono::milliseconds stop_timeout{3000};
};

// Notifications to the owner, on the loop thread. Any may be empty.
struct SupervisorEvents {
  std::function<void(const ConnectionInfo&)> connected;
  // An established connection ended (server gone, or changed to settings we refuse).
  std::function<void(const std::string& reason)> disconnected;
  // JACK's period changed at runtime to another supported value.
  std::function<void(std::uint32_t old_period, std::uint32_t new_period)> period_changed;
};

class Supervisor {
 public:
  // `processor` must outlive the supervisor. Nothing happens before start().
  Supervisor(boost::asio::io_context& io, ClientConfig config, AudioProcessor& processor,
             SupervisorEvents events = {}, SupervisorOptions options = {});
  // stop(), then waits up to options.stop_timeout for the helper thread to close the client.
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Begins connecting (asynchronously); never throws for JACK trouble.
  void start();
  // Closes the client (asynchronously) and stops retrying. start() may be called again.
  void stop();

  [[nodiscard]] State state() const noexcept;
  [[nodiscard]] SupervisorStatus status() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace jambox::jack
