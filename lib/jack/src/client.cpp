#include "jambox/jack/client.hpp"

#include "jambox/log/log.hpp"

#include <jack/jack.h>
#include <jack/thread.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace jambox::jack {
namespace {

// Set on JACK's process thread (thread-init callback) so that libjack's own error messages,
// which it may emit from that thread, are dropped there instead of being logged.
thread_local bool t_realtime_thread = false;

void on_jack_error(const char* message) {
  if (t_realtime_thread) return;
  // libjack is chatty about expected situations (no server yet, server gone); our supervisor
  // says the same in plain words, so libjack's wording is kept for debugging only.
  log::debug("libjack: {}", message);
}

void on_jack_info(const char* message) {
  if (t_realtime_thread) return;
  log::debug("libjack: {}", message);
}

// libjack's message handlers are process-wide; install ours once.
void install_message_handlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    jack_set_error_function(on_jack_error);
    jack_set_info_function(on_jack_info);
  });
}

constexpr std::array<const char*, kChannels> kInputNames{"in_1", "in_2"};
constexpr std::array<const char*, kChannels> kOutputNames{"out_1", "out_2"};

}  // namespace

struct Client::Impl {
  explicit Impl(AudioProcessor& p) : processor(p) {}
  ~Impl() {
    if (handle == nullptr) return;
    // JACK2 ends the process thread with an asynchronous pthread_cancel() when deactivating. A
    // cancel landing inside process() would unwind through noexcept frames and terminate the
    // daemon, so first make sure no process() call is running or will start: the callback
    // checks `closing` after raising `in_callback` (both sequentially consistent, so either it
    // sees the flag or we see it busy and wait). The wait is bounded in case a processor hangs.
    closing.store(true, std::memory_order_seq_cst);
    for (int i = 0; i < 2000 && in_callback.load(std::memory_order_seq_cst); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    // Deactivates first; also the documented way out after a shutdown notification.
    jack_client_close(handle);
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // ---- JACK callbacks. process() runs on the real-time thread; the others on JACK's
  // notification thread. None of them allocates, locks, logs or blocks.

  static int process(jack_nframes_t frames, void* arg) noexcept {
    auto& self = *static_cast<Impl*>(arg);
    self.in_callback.store(true, std::memory_order_seq_cst);
    if (self.closing.load(std::memory_order_seq_cst)) {
      self.in_callback.store(false, std::memory_order_release);
      return 0;
    }
    self.run_cycle(frames);
    self.in_callback.store(false, std::memory_order_release);
    return 0;
  }

  void run_cycle(jack_nframes_t frames) noexcept {
    std::array<const float*, kChannels> in{};
    std::array<float*, kChannels> out{};
    for (std::size_t c = 0; c < kChannels; ++c) {
      in[c] = static_cast<const float*>(jack_port_get_buffer(inputs[c], frames));
      out[c] = static_cast<float*>(jack_port_get_buffer(outputs[c], frames));
    }
    // Between a runtime change to an unsupported period/rate and the owner closing us, play
    // silence instead of handing the processor a size it did not prepare for.
    if (frames < kMinPeriod || frames > kMaxPeriod ||
        rate.load(std::memory_order_relaxed) != kSampleRate) {
      for (float* o : out) std::fill_n(o, frames, 0.0f);
      skipped.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    processor.process(in, out, frames);
    cycles.fetch_add(1, std::memory_order_relaxed);
  }

  static void thread_init(void* /*arg*/) noexcept { t_realtime_thread = true; }

  static int xrun(void* arg) noexcept {
    static_cast<Impl*>(arg)->xruns.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }

  static int buffer_size(jack_nframes_t frames, void* arg) noexcept {
    static_cast<Impl*>(arg)->period.store(frames, std::memory_order_relaxed);
    return 0;
  }

  static int sample_rate(jack_nframes_t rate_hz, void* arg) noexcept {
    static_cast<Impl*>(arg)->rate.store(rate_hz, std::memory_order_relaxed);
    return 0;
  }

  static void shutdown(jack_status_t /*code*/, const char* /*reason*/, void* arg) noexcept {
    static_cast<Impl*>(arg)->gone.store(true, std::memory_order_release);
  }

  // Connects one of our ports to the port the config names (`configured`), in the direction
  // that port allows; problems leave ours unconnected and are reported, never thrown.
  void connect(const std::string& configured, jack_port_t* ours, bool ours_is_input,
               ConnectReport& report, bool log_problems) {
    const std::string our_name = jack_port_name(ours);
    jack_port_t* other = jack_port_by_name(handle, configured.c_str());
    if (other == nullptr) {
      if (log_problems) {
        log::warning(
            "JACK port '{}' does not exist on server '{}', so {} stays unconnected (list the "
            "server's ports with 'jack_lsp -s {}')",
            configured, server, our_name, server);
      }
      report.missing.push_back(configured);
      return;
    }
    const int flags = jack_port_flags(other);
    const bool other_outputs = (flags & JackPortIsOutput) != 0;
    if (ours_is_input && !other_outputs) {
      if (log_problems) {
        log::warning("JACK port '{}' is an input port and cannot feed {}; {} stays unconnected",
                     configured, our_name, our_name);
      }
      report.missing.push_back(configured);
      return;
    }
    if (!ours_is_input && other_outputs) {
      if (log_problems) {
        log::warning(
            "JACK port '{}' is an output port, so {} cannot play into it; {} stays "
            "unconnected",
            configured, our_name, our_name);
      }
      report.missing.push_back(configured);
      return;
    }
    const std::string other_name = jack_port_name(other);
    const std::string& from = ours_is_input ? other_name : our_name;
    const std::string& to = ours_is_input ? our_name : other_name;
    const int rc = jack_connect(handle, from.c_str(), to.c_str());
    if (rc != 0 && rc != EEXIST) {
      if (log_problems) {
        log::warning(
            "JACK server '{}' refused to connect {} to {} (error {}; JACK connects only ports "
            "of active clients)",
            server, from, to, rc);
      }
      report.missing.push_back(configured);
      return;
    }
    report.connected.push_back(from + " -> " + to);
  }

  AudioProcessor& processor;
  jack_client_t* handle = nullptr;
  std::string name;
  std::string server;
  ClientConfig config;
  std::array<jack_port_t*, kChannels> inputs{};
  std::array<jack_port_t*, kChannels> outputs{};
  // Cached at registration: port structures live in the server's shared memory, which must not
  // be read any more once the server is gone.
  std::array<std::string, 2 * kChannels> port_names;
  bool realtime = false;
  int priority = -1;
  bool started = false;
  std::atomic<std::uint32_t> rate{0};
  std::atomic<std::uint32_t> period{0};
  std::atomic<bool> gone{false};
  std::atomic<bool> closing{false};
  std::atomic<bool> in_callback{false};
  std::atomic<std::uint64_t> xruns{0};
  std::atomic<std::uint64_t> cycles{0};
  std::atomic<std::uint64_t> skipped{0};
};

Client::Client(const ClientConfig& config, AudioProcessor& processor)
    : impl_(std::make_unique<Impl>(processor)) {
  install_message_handlers();
  Impl& s = *impl_;
  s.config = config;
  s.server = effective_server_name(config.server_name, std::getenv("JACK_DEFAULT_SERVER"));

  // Exact name: external patching and our own status name "jamboxd:in_1"; a silently renamed
  // "jamboxd-01" would leave every saved connection dangling.
  unsigned options = JackNoStartServer | JackUseExactName;
  if (!config.server_name.empty()) options |= JackServerName;
  jack_status_t status{};
  s.handle =
      config.server_name.empty()
          ? jack_client_open(config.client_name.c_str(), static_cast<jack_options_t>(options),
                             &status)
          : jack_client_open(config.client_name.c_str(), static_cast<jack_options_t>(options),
                             &status, config.server_name.c_str());
  if (s.handle == nullptr) {
    OpenFailure failure =
        describe_open_failure(static_cast<unsigned>(status), s.server, config.client_name);
    throw Error(failure.kind, failure.message);
  }
  s.name = jack_get_client_name(s.handle);

  s.rate.store(jack_get_sample_rate(s.handle), std::memory_order_relaxed);
  s.period.store(jack_get_buffer_size(s.handle), std::memory_order_relaxed);
  if (auto problem = check_sample_rate(s.rate.load(), s.server, s.name)) {
    throw Error(ErrorKind::unsupported_rate, *problem);
  }
  if (auto problem = check_period(s.period.load(), s.server, s.name)) {
    throw Error(ErrorKind::unsupported_period, *problem);
  }

  Impl* self = impl_.get();
  const bool callbacks_ok = jack_set_process_callback(s.handle, Impl::process, self) == 0 &&
                            jack_set_thread_init_callback(s.handle, Impl::thread_init, self) == 0 &&
                            jack_set_xrun_callback(s.handle, Impl::xrun, self) == 0 &&
                            jack_set_buffer_size_callback(s.handle, Impl::buffer_size, self) == 0 &&
                            jack_set_sample_rate_callback(s.handle, Impl::sample_rate, self) == 0;
  if (!callbacks_ok) {
    throw Error(ErrorKind::setup_failed,
                "JACK server '" + s.server + "' refused the callbacks of client '" + s.name + "'");
  }
  jack_on_info_shutdown(s.handle, Impl::shutdown, self);

  const auto register_port = [&](const char* short_name, unsigned long flags) {
    jack_port_t* port = jack_port_register(s.handle, short_name, JACK_DEFAULT_AUDIO_TYPE, flags, 0);
    if (port == nullptr) {
      throw Error(
          ErrorKind::setup_failed,
          "JACK server '" + s.server + "' could not register port " + s.name + ":" + short_name);
    }
    return port;
  };
  for (std::size_t c = 0; c < kChannels; ++c) {
    s.inputs[c] = register_port(kInputNames[c], JackPortIsInput);
    s.outputs[c] = register_port(kOutputNames[c], JackPortIsOutput);
    s.port_names[c] = jack_port_name(s.inputs[c]);
    s.port_names[kChannels + c] = jack_port_name(s.outputs[c]);
  }

  s.realtime = jack_is_realtime(s.handle) != 0;
  s.priority = s.realtime ? jack_client_real_time_priority(s.handle) : -1;
}

Client::~Client() = default;

ConnectReport Client::start(bool log_problems) {
  Impl& s = *impl_;
  if (s.started) return connect_ports(log_problems);
  if (jack_activate(s.handle) != 0) {
    throw Error(s.gone.load() ? ErrorKind::server_unavailable : ErrorKind::setup_failed,
                "JACK server '" + s.server + "' refused to activate client '" + s.name + "'");
  }
  s.started = true;
  return connect_ports(log_problems);
}

ConnectReport Client::connect_ports(bool log_problems) {
  Impl& s = *impl_;
  ConnectReport report;
  if (!s.started || server_gone()) return report;
  for (std::size_t c = 0; c < kChannels; ++c) {
    if (!s.config.capture[c].empty()) {
      s.connect(s.config.capture[c], s.inputs[c], true, report, log_problems);
    }
  }
  for (std::size_t c = 0; c < kChannels; ++c) {
    if (!s.config.playback[c].empty()) {
      s.connect(s.config.playback[c], s.outputs[c], false, report, log_problems);
    }
  }
  return report;
}

const std::string& Client::name() const noexcept {
  return impl_->name;
}
const std::string& Client::server() const noexcept {
  return impl_->server;
}
std::uint32_t Client::sample_rate() const noexcept {
  return impl_->rate.load(std::memory_order_relaxed);
}
std::uint32_t Client::period() const noexcept {
  return impl_->period.load(std::memory_order_relaxed);
}
bool Client::realtime() const noexcept {
  return impl_->realtime;
}
int Client::realtime_priority() const noexcept {
  return impl_->priority;
}
std::uint64_t Client::xruns() const noexcept {
  return impl_->xruns.load(std::memory_order_relaxed);
}
bool Client::server_gone() const noexcept {
  return impl_->gone.load(std::memory_order_acquire);
}
std::uint64_t Client::cycles() const noexcept {
  return impl_->cycles.load(std::memory_order_relaxed);
}
std::uint64_t Client::skipped_cycles() const noexcept {
  return impl_->skipped.load(std::memory_order_relaxed);
}

std::array<std::string, 2 * kChannels> Client::port_names() const {
  return impl_->port_names;
}

bool Client::port_exists(const std::string& full_name) const {
  if (server_gone()) return false;
  return jack_port_by_name(impl_->handle, full_name.c_str()) != nullptr;
}

std::vector<std::string> Client::connections(std::size_t index) const {
  std::vector<std::string> result;
  if (index >= 2 * kChannels || server_gone()) return result;
  jack_port_t* port = index < kChannels ? impl_->inputs[index] : impl_->outputs[index - kChannels];
  const char** names = jack_port_get_all_connections(impl_->handle, port);
  if (names == nullptr) return result;
  for (const char** p = names; *p != nullptr; ++p) result.emplace_back(*p);
  jack_free(static_cast<void*>(names));
  return result;
}

std::uint64_t Client::cycle_time_us() const noexcept {
  jack_nframes_t frames = 0;
  jack_time_t current = 0;
  jack_time_t next = 0;
  float period_us = 0.0f;
  if (jack_get_cycle_times(impl_->handle, &frames, &current, &next, &period_us) != 0) {
    return jack_get_time();
  }
  return current;
}

}  // namespace jambox::jack
