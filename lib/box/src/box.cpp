#include "control_link.hpp"
#include <jambox/audio/engine.hpp>
#include <jambox/box/box.hpp>
#include <jambox/box/jam_link.hpp>
#include <jambox/config/config.hpp>
#include <jambox/jack/supervisor.hpp>
#include <jambox/log/log.hpp>
#include <jambox/system/notify.hpp>
#include <jambox/system/thread.hpp>
#include <jambox/version.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <sys/mman.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <optional>

namespace jambox::box {

namespace asio = boost::asio;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

// Locks our memory so the audio path never waits for a page to come back from swap or a
// dropped file page. MCL_ONFAULT locks pages as they are touched instead of every mapping in
// full: with it the 8 MiB default stacks of JACK's and Asio's threads do not all become
// resident, which keeps jamboxd within its memory budget on a Pi.
void lock_memory() {
  if (kSanitized) {
    log::info("memory not locked: sanitizer build (its shadow memory cannot be locked)");
    return;
  }
  int flags = MCL_CURRENT | MCL_FUTURE;
#ifdef MCL_ONFAULT
  flags |= MCL_ONFAULT;
#endif
  if (::mlockall(flags) == 0) {
    log::info("memory locked (mlockall)");
    return;
  }
  const int err = errno;
  log::warning(
      "cannot lock memory (mlockall: {}): audio may glitch if pages are swapped out; "
      "allow it with LimitMEMLOCK=infinity in the unit",
      std::strerror(err));
}

std::uint64_t now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000U +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

// Runs the engine on JACK's thread and wakes the link when packets are queued. Also keeps a
// histogram of process() times (1 us buckets) for the status line: clock_gettime(MONOTONIC)
// is a vDSO read, not a system call, and relaxed increments of our own counters never wait.
class Processor final : public jack::AudioProcessor {
 public:
  Processor(audio::Engine& engine, int wake_fd) : engine_(engine), wake_fd_(wake_fd) {}

  void process(std::span<const float* const> in, std::span<float* const> out,
               std::uint32_t frames) noexcept override {
    const std::uint64_t start = now_ns();
    const audio::ProcessResult r = engine_.process(in, out, frames, start / 1000U);
    if (r.wake_network()) JamLink::wake(wake_fd_);
    const std::uint64_t us = (now_ns() - start) / 1000U;
    const std::size_t bucket = us < kBuckets - 1 ? static_cast<std::size_t>(us) : kBuckets - 1;
    histogram_[bucket].fetch_add(1, std::memory_order_relaxed);
  }

  // Engine time per period (us) at quantile q over the whole run; 0 before the first period.
  [[nodiscard]] std::uint32_t quantile_us(double q) const noexcept {
    std::array<std::uint64_t, kBuckets> counts{};
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      counts[i] = histogram_[i].load(std::memory_order_relaxed);
      total += counts[i];
    }
    if (total == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += counts[i];
      if (seen > rank) return static_cast<std::uint32_t>(i + 1);  // upper edge of the bucket
    }
    return static_cast<std::uint32_t>(kBuckets);
  }

 private:
  static constexpr std::size_t kBuckets = 2048;
  audio::Engine& engine_;
  int wake_fd_;
  std::array<std::atomic<std::uint64_t>, kBuckets> histogram_{};
};

JamLinkConfig link_config(const BoxConfig& c) {
  JamLinkConfig l;
  l.server = c.room.server;
  l.room = c.room.name;
  l.secret = c.room.secret;
  l.ticket = c.room.ticket;
  l.audio_key = c.room.audio_key;
  l.encrypt_audio = c.encrypt_audio;
  l.shape.frames = c.engine.packet_frames;
  l.shape.format = c.engine.format;
  l.shape.channels = wire::kAudioChannels;
  return l;
}

bool same_jack(const jack::ClientConfig& a, const jack::ClientConfig& b) {
  return a.client_name == b.client_name && a.server_name == b.server_name &&
         a.capture == b.capture && a.playback == b.playback;
}

}  // namespace

struct Box::Impl {
  Impl(BoxConfig c, std::function<BoxConfig()> r, BoxOptions o)
      : config(std::move(c)),
        reload(std::move(r)),
        options(o),
        engine((lock_memory(), config.engine)),
        link(io, engine.inbound(), engine.outbound(), link_config(config)),
        processor(engine, link.wake_fd()),
        supervisor(io, config.jack, processor, events()),
        petter(io, notifier),
        status_timer(io),
        signals(io, SIGTERM, SIGINT, SIGHUP) {
    apply_mix(config, nullptr);
    if (config.control.enabled) {
      control = std::make_unique<ControlLink>(io, config.control, control_hooks());
    }
  }

  [[nodiscard]] bool in_room() const { return !config.room.server.empty(); }

  ControlHooks control_hooks() {
    ControlHooks h;
    h.post = [this](const audio::Command& c) { return engine.post(c); };
    h.status = [this] { return status_json(); };
    h.meters = [this] { return meters_json(); };
    h.has_remote = [this](std::uint32_t session_id) {
      const audio::Snapshot s = engine.snapshot();
      for (const auto& r : s.remotes) {
        if (r.active && r.session_id == session_id) return true;
      }
      return false;
    };
    h.join_room = [this](const RoomConfig& room) {
      config.room = room;
      log::notice("command: joining room {} on {}", room.name, room.server);
      link.reconfigure(link_config(config));  // leaves the current room, if any, first
      update_status();
    };
    h.needs_ticket = [this] {
      // A ticket admits until it expires: a box that lost its session after that needs a new
      // one to get back in.
      if (!in_room() || config.room.ticket.expires_s == 0) return false;
      if (link.stats().state == LinkState::joined) return false;
      return wire::unix_seconds() + 5 >= config.room.ticket.expires_s;
    };
    h.leave_room = [this] {
      if (!in_room()) return false;
      log::notice("command: leaving room {}", config.room.name);
      link.leave();
      config.room = RoomConfig{};
      update_status();
      return true;
    };
    h.restart_audio = [this] {
      log::notice("command: restarting the JACK client");
      supervisor.stop();
      auto timer = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(500));
      timer->async_wait([this, timer](const boost::system::error_code& ec) {
        if (!ec) supervisor.start();
      });
    };
    h.state_changed = [this](const std::string&) { update_status(); };
    h.metronome_gain_db = [this] { return config.mix.metronome_gain_db; };
    return h;
  }

  [[nodiscard]] nlohmann::json status_json() const {
    const LinkStats l = link.stats();
    const jack::SupervisorStatus j = supervisor.status();
    const audio::Snapshot snap = engine.snapshot();
    nlohmann::json remotes = nlohmann::json::array();
    for (const auto& r : snap.remotes) {
      if (!r.active) continue;
      remotes.push_back({{"session_id", r.session_id},
                         {"gain_db", r.gain_db},
                         {"pan", r.pan},
                         {"muted", r.muted},
                         {"depth_ms", r.jitter.depth_ms},
                         {"target_ms", r.jitter.target_ms},
                         {"jitter_ms", r.jitter.jitter_ms},
                         {"drift_ppm", r.jitter.drift_ppm},
                         {"underruns", r.jitter.underruns},
                         {"concealed", r.jitter.concealed},
                         {"late", r.jitter.late}});
    }
    nlohmann::json s;
    s["room"] = in_room() ? nlohmann::json(config.room.name) : nlohmann::json();
    s["server"] = in_room() ? nlohmann::json(config.room.server) : nlohmann::json();
    s["link"] = link_state_name(l.state);
    s["members"] = l.state == LinkState::joined ? 1 + remotes.size() : 0;
    s["rtt_ms"] = static_cast<double>(l.rtt_us) / 1000.0;
    s["audio_encrypted"] = l.audio_encrypted;
    s["room_key_rejected"] = l.room_key_rejected;
    s["jack"] = {{"state", jack::state_name(j.state)},
                 {"period", j.period},
                 {"sample_rate", j.sample_rate},
                 {"xruns", j.xruns}};
    s["remotes"] = std::move(remotes);
    if (!l.last_problem.empty()) s["problem"] = l.last_problem;
    return s;
  }

  [[nodiscard]] nlohmann::json meters_json() const {
    const audio::Snapshot snap = engine.snapshot();
    const auto level = [](const audio::Level& v) {
      return nlohmann::json{{"peak_dbfs", v.peak_dbfs}, {"rms_dbfs", v.rms_dbfs}};
    };
    nlohmann::json m;
    m["inputs"] = {level(snap.inputs[0]), level(snap.inputs[1])};
    m["master"] = {level(snap.master[0]), level(snap.master[1])};
    m["remotes"] = nlohmann::json::array();
    for (const auto& r : snap.remotes) {
      if (r.active)
        m["remotes"].push_back({{"session_id", r.session_id}, {"level", level(r.level)}});
    }
    return m;
  }

  jack::SupervisorEvents events() {
    jack::SupervisorEvents e;
    e.connected = [this](const jack::ConnectionInfo& info) {
      link.set_audio_running(true);
      log::notice("audio running: JACK server {} as {}, {} frames at {} Hz{}", info.server,
                  info.client, info.period, info.sample_rate,
                  info.realtime
                      ? " (real-time priority " + std::to_string(info.realtime_priority) + ")"
                      : " (not real-time)");
      if (info.realtime && config.network_priority >= info.realtime_priority) {
        log::warning(
            "the network thread (audio.network_priority = {}) is not below JACK's audio thread "
            "(priority {}): lower network_priority or raise jackd's -P",
            config.network_priority, info.realtime_priority);
      }
      maybe_ready();
      update_status();
    };
    e.disconnected = [this](const std::string& reason) {
      link.set_audio_running(false);
      log::warning("audio stopped: {}; the room session stays up", reason);
      update_status();
    };
    return e;
  }

  void apply_mix(const BoxConfig& next, const BoxConfig* previous) {
    const MixConfig& m = next.mix;
    if (previous == nullptr || !(previous->mix == m)) {
      post(audio::Command::monitor(m.monitor, m.monitor_gain_db));
      post(audio::Command::master_gain(m.master_gain_db));
      post(audio::Command::metronome(m.metronome, m.metronome_bpm, m.metronome_gain_db));
    }
    const auto& j = next.engine.jitter;
    if (previous != nullptr && (previous->engine.jitter.floor_ms != j.floor_ms ||
                                previous->engine.jitter.ceiling_ms != j.ceiling_ms ||
                                previous->engine.jitter.adaptive != j.adaptive)) {
      post(audio::Command::jitter(j.floor_ms, j.ceiling_ms, j.adaptive));
    }
  }

  void post(const audio::Command& command) {
    // The ring holds far more than a reload posts; a full ring means the audio thread is not
    // running, and the command is simply retried by the next reload.
    if (!engine.post(command)) log::warning("audio engine busy: a mixer setting was not applied");
  }

  int run() {
    log::set_level(config.log_level);
    for (const auto& w : config.warnings) log::warning("{}", w);
    signals.async_wait(
        [this](const boost::system::error_code& ec, int sig) { on_signal(ec, sig); });
    if (in_room()) link.start();
    supervisor.start();
    petter.start();
    // Before the loop thread turns real-time: Paho's threads, started by the first connect,
    // inherit the creating thread's scheduling and have no business running real-time.
    if (control) {
      control->start();
      if (in_room()) control->room_changed(config.room.name);
    }
    started = std::chrono::steady_clock::now();
    next_journal = started + config.status_interval;
    arm_status();
    log_start_summary();
    prioritise_network();
    io.run();
    return exit_code;
  }

  // One journal line an admin reads first: what this box is, where it plays and who steers it.
  void log_start_summary() const {
    const std::string room =
        in_room() ? fmt::format("room {} on {}", config.room.name, config.room.server)
                  : std::string("no room until a join_room command");
    const std::string managed =
        config.control.enabled
            ? fmt::format("managed by {} as {}", config.control.broker, config.control.player_key)
            : std::string("standalone (no MQTT)");
    log::notice(
        "jamboxd {} started: {}; {}; JACK client {} on server {}; {}-frame packets, jitter "
        "buffer {:.1f}..{:.1f} ms{}",
        kVersion, room, managed, config.jack.client_name,
        config.jack.server_name.empty() ? "default" : config.jack.server_name,
        config.engine.packet_frames, static_cast<double>(config.engine.jitter.floor_ms),
        static_cast<double>(config.engine.jitter.ceiling_ms),
        config.engine.jitter.adaptive ? " (adaptive)" : " (fixed)");
  }

  // This thread runs the event loop, so it is the network thread. Threads started before (the
  // JACK supervisor's) keep normal scheduling.
  void prioritise_network() const {
    if (config.network_priority <= 0) return;
    if (const std::error_code ec = system::make_thread_realtime(config.network_priority)) {
      log::warning(
          "network thread runs with normal scheduling: SCHED_FIFO priority {} refused ({}); "
          "packets may wait behind other programs. Allow it with LimitRTPRIO= in the unit (or "
          "membership of the audio group), or set audio.network_priority = 0",
          config.network_priority, ec.message());
    } else {
      log::info("network thread runs under SCHED_FIFO priority {}", config.network_priority);
    }
  }

  void on_signal(const boost::system::error_code& ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      do_reload();
      signals.async_wait([this](const boost::system::error_code& e, int s) { on_signal(e, s); });
      return;
    }
    log::notice("{} received: leaving room {} and stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                config.room.name);
    notifier.stopping();
    link.leave();
    if (control) control->stop();
    supervisor.stop();
    petter.stop();
    status_timer.cancel();
    io.stop();
    exit_code = 0;
  }

  void do_reload() {
    notifier.reloading();
    try {
      BoxConfig next = reload();
      for (const auto& w : next.warnings) log::warning("{}", w);
      log::set_level(next.log_level);
      if (!same_jack(next.jack, config.jack) ||
          next.engine.packet_frames != config.engine.packet_frames ||
          next.network_priority != config.network_priority) {
        log::warning(
            "reload: JACK client settings, packet_frames and network_priority take effect when "
            "jamboxd restarts");
      }
      apply_mix(next, &config);
      // A managed box whose file names no room stays where the admin's commands put it.
      if (next.control.enabled && next.room.server.empty()) next.room = config.room;
      if (!(next.control == config.control)) {
        log::warning("reload: [mqtt] settings take effect when jamboxd restarts");
      }
      next.control = config.control;
      if (!(next.room == config.room)) {
        log::notice("reload: moving to room {} on {}", next.room.name, next.room.server);
        link.reconfigure(link_config(next));
        if (control) control->room_changed(next.room.name);
      } else if (next.encrypt_audio != config.encrypt_audio) {
        log::notice("reload: audio to the room is {} from now on (joining again)",
                    next.encrypt_audio ? "encrypted" : "NOT encrypted");
        link.reconfigure(link_config(next));
      }
      // Keep what needs a restart as it runs, so the next reload compares with reality.
      next.jack = config.jack;
      next.engine.packet_frames = config.engine.packet_frames;
      next.engine.format = config.engine.format;
      next.network_priority = config.network_priority;
      config = std::move(next);
      log::notice("configuration reloaded");
    } catch (const std::exception& e) {
      log::error("reload failed, keeping the running configuration: {}", e.what());
    }
    if (ready_sent) notifier.ready();
    update_status();
  }

  // STATUS= is refreshed every status_refresh; a change of the member count shows within a
  // quarter of that (an admin watching `systemctl status` sees a jammer arrive at once).
  void arm_status() {
    status_timer.expires_after(options.status_refresh / 4);
    status_timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      maybe_ready();
      const auto tick = std::chrono::steady_clock::now();
      const std::size_t members_now = members(link.stats(), figures());
      if (members_now != status_members || tick >= next_status) {
        status_members = members_now;
        next_status = tick + options.status_refresh;
        update_status();
      }
      const auto now = std::chrono::steady_clock::now();
      if (now >= next_journal) {
        next_journal = now + config.status_interval;
        log::info("{}", journal_line());
      }
      arm_status();
    });
  }

  void maybe_ready() {
    if (ready_sent || link.local_endpoint().empty()) return;
    const bool jack_up = supervisor.state() == jack::State::connected;
    const bool grace_over = std::chrono::steady_clock::now() - started >= options.jack_ready_grace;
    if (!jack_up && !grace_over) return;
    ready_sent = true;
    notifier.ready();
    if (!jack_up) log::warning("ready without JACK: still waiting for the JACK server");
  }

  struct Figures {
    std::size_t remotes = 0;
    std::uint64_t concealed = 0;
    std::uint64_t underruns = 0;
    std::uint64_t late = 0;
    float depth_ms = 0.0F;
  };

  [[nodiscard]] Figures figures() const {
    const audio::Snapshot s = engine.snapshot();
    Figures f;
    for (const auto& r : s.remotes) {
      if (!r.active) continue;
      ++f.remotes;
      f.concealed += r.jitter.concealed;
      f.underruns += r.jitter.underruns;
      f.late += r.jitter.late;
      f.depth_ms = std::max(f.depth_ms, r.jitter.depth_ms);
    }
    return f;
  }

  [[nodiscard]] std::size_t members(const LinkStats& l, const Figures& f) const {
    if (l.state != LinkState::joined) return 0;
    return 1 + f.remotes;
  }

  void update_status() {
    const LinkStats l = link.stats();
    const jack::SupervisorStatus j = supervisor.status();
    const Figures f = figures();
    std::string text = in_room() ? fmt::format("room {}: {}", l.room, link_state_name(l.state))
                                 : std::string("no room");
    if (l.state == LinkState::joined) {
      text += fmt::format(", {} members, RTT {:.1f} ms", members(l, f),
                          static_cast<double>(l.rtt_us) / 1000.0);
    } else if (!l.last_problem.empty()) {
      text += " (" + l.last_problem + ")";
    }
    if (j.state == jack::State::connected) {
      text += fmt::format("; JACK {}/{} Hz, {} xruns", j.period, j.sample_rate, j.xruns);
    } else {
      text += fmt::format("; {}", jack::state_name(j.state));
      if (!j.last_error.empty()) text += " (" + j.last_error + ")";
    }
    if (control) text += "; MQTT " + control->summary();
    notifier.status(text);
  }

  // The periodic journal line: key=value so it is easy to grep and to parse in benchmarks.
  [[nodiscard]] std::string journal_line() const {
    const LinkStats l = link.stats();
    const jack::SupervisorStatus j = supervisor.status();
    const Figures f = figures();
    return fmt::format(
        "status room={} link={} members={} rtt_ms={:.2f} jack={} period={} rate={} xruns={} "
        "engine_us_p999={} remotes={} depth_ms={:.2f} concealed={} underruns={} late={} "
        "sent={} received={} keepalives={} rejected={} room_key_rejected={} inbound_dropped={} "
        "rejoins={} encrypted={}",
        l.room, l.state == LinkState::joined ? "joined" : "not-joined", members(l, f),
        static_cast<double>(l.rtt_us) / 1000.0,
        j.state == jack::State::connected ? "connected" : "down", j.period, j.sample_rate, j.xruns,
        processor.quantile_us(0.999), f.remotes, static_cast<double>(f.depth_ms), f.concealed,
        f.underruns, f.late, l.audio_sent, l.audio_received, l.keepalives_sent, l.rejected,
        l.room_key_rejected, l.inbound_dropped, l.rejoins, l.audio_encrypted ? "yes" : "no");
  }

  // One thread runs the loop (the JACK supervisor's helper thread only posts to it).
  asio::io_context io{1};
  BoxConfig config;
  std::function<BoxConfig()> reload;
  BoxOptions options;
  audio::Engine engine;
  JamLink link;
  Processor processor;
  jack::Supervisor supervisor;
  system::Notifier notifier;
  system::WatchdogPetter petter;
  asio::steady_timer status_timer;
  asio::signal_set signals;
  std::chrono::steady_clock::time_point started;
  std::chrono::steady_clock::time_point next_journal;
  std::chrono::steady_clock::time_point next_status;
  std::size_t status_members = 0;
  bool ready_sent = false;
  int exit_code = 0;
  std::unique_ptr<ControlLink> control;  // managed mode only; destroyed before the link
};

Box::Box(BoxConfig config, std::function<BoxConfig()> reload, BoxOptions options)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(reload), options)) {}

Box::~Box() = default;

int Box::run() {
  return impl_->run();
}

}  // namespace jambox::box
