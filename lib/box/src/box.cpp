#include "control_link.hpp"
#include "model.hpp"
#include <jambox/box/box.hpp>
#include <jambox/config/config.hpp>
#include <jambox/log/log.hpp>
#include <jambox/system/notify.hpp>
#include <jambox/version.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <sys/mman.h>

#include <cerrno>
#include <csignal>
#include <cstring>

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

}  // namespace

struct Box::Impl {
  Impl(BoxConfig c, std::function<BoxConfig()> r, BoxOptions o)
      : reload(std::move(r)),
        options(o),
        model((lock_memory(), io), std::move(c)),
        petter(io, notifier),
        status_timer(io),
        signals(io, SIGTERM, SIGINT, SIGHUP) {
    model.on_audio([this](const jack::ConnectionInfo* info) {
      if (info != nullptr) audio_connected(*info);
    });
    model.on_change([this](Change) {
      maybe_ready();
      update_status();
    });
    if (config().control.enabled) {
      control = std::make_unique<ControlLink>(io, config().control, model);
    }
  }

  [[nodiscard]] const BoxConfig& config() const noexcept { return model.config(); }

  void audio_connected(const jack::ConnectionInfo& info) {
    log::notice("audio running: JACK server {} as {}, {} frames at {} Hz{}", info.server,
                info.client, info.period, info.sample_rate,
                info.realtime
                    ? " (real-time priority " + std::to_string(info.realtime_priority) + ")"
                    : " (not real-time)");
  }

  int run() {
    log::set_level(config().log_level);
    for (const auto& w : config().warnings) log::warning("{}", w);
    signals.async_wait(
        [this](const boost::system::error_code& ec, int sig) { on_signal(ec, sig); });
    model.start();
    petter.start();
    // Before the loop thread turns real-time: Paho's threads, started by the first connect,
    // inherit the creating thread's scheduling and have no business running real-time.
    if (control) control->start();
    started = std::chrono::steady_clock::now();
    next_journal = started + config().status_interval;
    arm_status();
    log_start_summary();
    io.run();
    return exit_code;
  }

  // One journal line an admin reads first: what this box is, where it plays and who steers it.
  void log_start_summary() const {
    const BoxConfig& c = config();
    std::string room = fmt::format("room {} on {}", c.room.name, c.room.server);
    if (!model.in_room()) {
      room = c.ticket_room.empty() ? std::string("no room until a join_room command")
                                   : fmt::format("room {} by ticket", c.ticket_room);
    }
    const std::string managed =
        c.control.enabled
            ? fmt::format("managed by {} as {}", c.control.broker, c.control.player_key)
            : std::string("standalone (no MQTT)");
    log::notice(
        "jamboxd {} started: {}; {}; JACK client {} on server {}; {}-frame packets, jitter "
        "buffer {:.1f}..{:.1f} ms{}",
        kVersion, room, managed, c.jack.client_name,
        c.jack.server_name.empty() ? "default" : c.jack.server_name, c.engine.packet_frames,
        static_cast<double>(c.engine.jitter.floor_ms),
        static_cast<double>(c.engine.jitter.ceiling_ms),
        c.engine.jitter.adaptive ? " (adaptive)" : " (fixed)");
  }

  void on_signal(const boost::system::error_code& ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      do_reload();
      signals.async_wait([this](const boost::system::error_code& e, int s) { on_signal(e, s); });
      return;
    }
    log::notice("{} received: leaving room {} and stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                config().room.name);
    notifier.stopping();
    if (control) control->stop();
    model.stop();
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
      model.apply(std::move(next));
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
      const Figures f = model.gather();
      if (f.members() != status_members || tick >= next_status) {
        status_members = f.members();
        next_status = tick + options.status_refresh;
        update_status();
      }
      if (tick >= next_journal) {
        next_journal = tick + config().status_interval;
        log::info("{}", journal_line(f));
      }
      arm_status();
    });
  }

  void maybe_ready() {
    if (ready_sent || model.local_endpoint().empty()) return;
    const bool jack_up = model.jack_state() == jack::State::connected;
    const bool grace_over = std::chrono::steady_clock::now() - started >= options.jack_ready_grace;
    if (!jack_up && !grace_over) return;
    ready_sent = true;
    notifier.ready();
    if (!jack_up) log::warning("ready without JACK: still waiting for the JACK server");
  }

  struct Totals {
    std::uint64_t concealed = 0;
    std::uint64_t underruns = 0;
    std::uint64_t late = 0;
    std::uint64_t catch_ups = 0;
    float depth_ms = 0.0F;
  };

  static Totals totals(const Figures& f) {
    Totals t;
    for (const auto& r : f.remotes) {
      t.concealed += r.jitter.concealed;
      t.underruns += r.jitter.underruns;
      t.late += r.jitter.late;
      t.catch_ups += r.jitter.catch_ups;
      t.depth_ms = std::max(t.depth_ms, r.jitter.depth_ms);
    }
    return t;
  }

  void update_status() {
    const Figures f = model.gather();
    const LinkStats& l = f.link;
    const jack::SupervisorStatus& j = f.jack;
    std::string text = f.in_room ? fmt::format("room {}: {}", l.room, link_state_name(l.state))
                                 : std::string("no room");
    if (l.state == LinkState::joined) {
      text += fmt::format(", {} members, RTT {:.1f} ms", f.members(),
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
  [[nodiscard]] static std::string journal_line(const Figures& f) {
    const LinkStats& l = f.link;
    const jack::SupervisorStatus& j = f.jack;
    const Totals t = totals(f);
    return fmt::format(
        "status room={} link={} members={} rtt_ms={:.2f} jack={} period={} rate={} xruns={} "
        "engine_us_p999={} remotes={} depth_ms={:.2f} concealed={} underruns={} late={} "
        "catch_ups={} sent={} received={} keepalives={} rejected={} room_key_rejected={} "
        "inbound_dropped={} "
        "rejoins={} encrypted={}",
        l.room, l.state == LinkState::joined ? "joined" : "not-joined", f.members(),
        static_cast<double>(l.rtt_us) / 1000.0,
        j.state == jack::State::connected ? "connected" : "down", j.period, j.sample_rate, j.xruns,
        f.engine_us_p999, f.remotes.size(), static_cast<double>(t.depth_ms), t.concealed,
        t.underruns, t.late, t.catch_ups, l.audio_sent, l.audio_received, l.keepalives_sent,
        l.rejected, l.room_key_rejected, l.inbound_dropped, l.rejoins,
        l.audio_encrypted ? "yes" : "no");
  }

  // One thread runs the loop (the JACK supervisor's helper thread only posts to it).
  asio::io_context io{1};
  std::function<BoxConfig()> reload;
  BoxOptions options;
  BoxModel model;
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
  std::unique_ptr<ControlLink> control;  // managed mode only; destroyed before the model
};

Box::Box(BoxConfig config, std::function<BoxConfig()> reload, BoxOptions options)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(reload), options)) {}

Box::~Box() = default;

int Box::run() {
  return impl_->run();
}

}  // namespace jambox::box
