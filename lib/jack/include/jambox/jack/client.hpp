#pragma once
// A JACK client with jamboxd's four ports: in_1, in_2 (the player's inputs) and out_1, out_2
// (headphones), driving an owner-provided real-time AudioProcessor once per period.
//
// The client never starts a JACK server (JackNoStartServer): the appliance's jackd is a system
// service, and a server spawned by us would run with the wrong driver and die with us.
// The wrapper's own callbacks do not allocate, lock, log or block: process() only fetches port
// buffers and calls the processor; the xrun, buffer-size, sample-rate and shutdown callbacks only
// store atomics that the (non-real-time) owner polls.

#include <jambox/jack/checks.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace jambox::jack {

// Called on JACK's real-time thread once per period with kChannels inputs and outputs of
// `frames` samples each (kMinPeriod..kMaxPeriod). Must not allocate, lock, log or block, and must
// write every output sample.
class AudioProcessor {
 public:
  virtual void process(std::span<const float* const> in, std::span<float* const> out,
                       std::uint32_t frames) noexcept = 0;

 protected:
  ~AudioProcessor() = default;
};

struct ClientConfig {
  std::string client_name = "jamboxd";
  // Empty: libjack's default ($JACK_DEFAULT_SERVER, else "default").
  std::string server_name;
  // Ports connected to in_1/in_2 and from out_1/out_2. An empty name leaves that port
  // unconnected; a name that does not exist is a logged warning, not an error, so a box with a
  // missing USB interface still joins its room.
  std::array<std::string, kChannels> capture{"system:capture_1", "system:capture_2"};
  std::array<std::string, kChannels> playback{"system:playback_1", "system:playback_2"};
};

// The outcome of auto-connecting, for the start-up log and status reports.
struct ConnectReport {
  std::vector<std::string> connected;  // "system:capture_1 -> jamboxd:in_1"
  // Configured names left unconnected: absent, of the wrong direction, or refused by JACK.
  std::vector<std::string> missing;
};

class Client {
 public:
  // Opens the client (exact name) and registers the four ports; checks the server's rate and
  // period. Throws Error (kind and a message naming the server and what to change). The client
  // is not active yet: call start(). `processor` must outlive the client.
  Client(const ClientConfig& config, AudioProcessor& processor);
  // Closes the client (deactivating it first); also right after the server went away.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Activates (process() starts being called) and connects the configured ports. Two steps so an
  // owner can finish wiring up (e.g. keep a pointer for cycle_time_us()) before audio runs.
  // Throws Error(setup_failed) when JACK refuses activation. `log_problems` as below.
  ConnectReport start(bool log_problems = true);
  // Connects the configured ports again (already made connections count as connected), e.g.
  // when a sound card or another client appeared later: JACK refuses connections to ports of
  // clients that are not active yet. `log_problems` false keeps retries quiet.
  ConnectReport connect_ports(bool log_problems = true);

  [[nodiscard]] const std::string& name() const noexcept;    // our client name
  [[nodiscard]] const std::string& server() const noexcept;  // effective server name
  [[nodiscard]] std::uint32_t sample_rate() const noexcept;  // latest rate JACK reported
  [[nodiscard]] std::uint32_t period() const noexcept;       // latest period JACK reported
  // Whether JACK runs its process thread with real-time scheduling (jack_is_realtime); the
  // priority is JACK's business, not ours, and is -1 when not real-time.
  [[nodiscard]] bool realtime() const noexcept;
  [[nodiscard]] int realtime_priority() const noexcept;
  [[nodiscard]] std::uint64_t xruns() const noexcept;
  // True once JACK told us it shut down (or dropped us); only closing is left to do then.
  [[nodiscard]] bool server_gone() const noexcept;
  // Periods handed to the processor, and periods answered with silence because JACK's period or
  // rate was outside what we accept (between a runtime change and the owner reacting to it).
  [[nodiscard]] std::uint64_t cycles() const noexcept;
  [[nodiscard]] std::uint64_t skipped_cycles() const noexcept;

  // Full names of our ports: in_1, in_2, out_1, out_2.
  [[nodiscard]] std::array<std::string, 2 * kChannels> port_names() const;
  // Whether a port of that full name exists on the server (non-real-time; false once gone).
  [[nodiscard]] bool port_exists(const std::string& full_name) const;
  // Full names of the ports connected to one of ours (`index` 0..3 as in port_names()).
  [[nodiscard]] std::vector<std::string> connections(std::size_t index) const;

  // JACK's estimate of when the current period started, in microseconds of jack_get_time()
  // (CLOCK_MONOTONIC on Linux). Real-time safe: meant to be called from process().
  [[nodiscard]] std::uint64_t cycle_time_us() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace jambox::jack
