#include "data_plane.hpp"
#include <jambox/box/jam_link.hpp>
#include <jambox/log/log.hpp>
#include <jambox/net/endpoint.hpp>
#include <jambox/net/host_port.hpp>

#include <boost/asio/ip/udp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <optional>
#include <stdexcept>
#include <system_error>

namespace jambox::box {

using net::Endpoint;
using net::parse_endpoint;
using net::unmapped;

namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {

// How often the loop looks after retries, keepalives, timeouts and the audio thread. Audio never
// waits for it: the audio thread carries the packets itself once the box is in the room.
constexpr milliseconds kTick{20};
// The audio thread counts as running when it began a period this recently (JACK's longest
// accepted period is 5.3 ms), and as stalled, so that the loop takes the packets back and keeps
// the membership alive, when it has not for this long.
constexpr milliseconds kAudioRunning{50};
constexpr milliseconds kAudioStalled{250};

std::uint64_t now_us() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000U +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000U;
}

std::uint64_t us(milliseconds ms) noexcept {
  return static_cast<std::uint64_t>(ms.count()) * 1000U;
}

// How long ago `then` was; 0 when another thread stamped it after we read the clock.
std::uint64_t age(std::uint64_t now, std::uint64_t then) noexcept {
  return now > then ? now - then : 0;
}

// The configured server, or std::invalid_argument naming it and the accepted form.
net::HostPort checked_server(const std::string& server) {
  net::HostPort target;
  std::string error;
  if (!net::parse_host_port(server, target, error)) {
    throw std::invalid_argument("server " + error);
  }
  return target;
}

// The session for `config`'s room; none without a room (a managed box before its first
// join_room). Throws std::invalid_argument for a room name or secret the wire refuses.
std::unique_ptr<wire::ClientSession> session_for(const JamLinkConfig& config) {
  if (config.room.empty()) return nullptr;
  auto session =
      config.ticket.expires_s != 0
          ? std::make_unique<wire::ClientSession>(config.room, config.secret, config.ticket,
                                                  config.shape, config.audio_key)
          : std::make_unique<wire::ClientSession>(config.room, config.secret, config.shape);
  session->set_encrypt_audio(config.encrypt_audio);
  return session;
}

}  // namespace

std::string_view link_state_name(LinkState state) noexcept {
  switch (state) {
    case LinkState::stopped:
      return "stopped";
    case LinkState::resolving:
      return "resolving";
    case LinkState::joining:
      return "joining";
    case LinkState::joined:
      return "joined";
    case LinkState::backoff:
      return "waiting to rejoin";
  }
  return "?";
}

struct JamLink::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& io_, audio::InboundQueue& in, audio::OutboundQueue& out, JamLinkConfig c)
      : io(io_), config(std::move(c)), plane(in, out), resolver(io_), watch(io_), timer(io_) {
    plane.set_session(session_for(config));
    plane.set_keepalive_interval_us(us(config.keepalive_interval));
    on_heard = [this](DataPlane::Heard heard) {
      if (heard == DataPlane::Heard::welcomed) {
        on_welcome();
      } else {
        on_notice();
      }
    };
  }

  [[nodiscard]] wire::ClientSession* session() noexcept { return plane.session(); }

  // --- who holds the packets --------------------------------------------------------------------

  // Takes the data plane back from the audio thread (if it had it) and watches the socket again.
  // Every loop action on the session or the socket starts here.
  void hold() {
    if (!plane.offered()) return;
    plane.recall();
    watch_socket();
  }

  // Leaves the session's packets to the audio thread: from its next period it receives, sends and
  // keeps the session alive, and this loop no longer watches the socket.
  void hand_over() {
    unwatch_socket();
    plane.offer();
  }

  void watch_socket() {
    if (watching || !plane.socket_open()) return;
    watch.assign(plane.socket_fd());
    watching = true;
    ++watch_generation;
    arm_receive();
  }

  void unwatch_socket() {
    if (!watching) return;
    // release(), not close(): the reactor forgets the descriptor (EPOLL_CTL_DEL) and the socket
    // stays open for whoever polls it. A pending wait completes with operation_aborted.
    static_cast<void>(watch.release());
    watching = false;
  }

  void set_state(LinkState next) {
    state = next;
    plane.set_sending(next == LinkState::joined);
  }

  // --- lifecycle ------------------------------------------------------------------------------

  // No room (a managed box before its first join_room): no session, and start() does nothing.
  void start() {
    hold();
    if (!session()) return;
    // Checked before anything changes: a malformed address leaves the link as it was.
    target = checked_server(config.server);
    stopped = false;
    if (!loops_armed) {
      loops_armed = true;
      arm_tick();
    }
    resolve();
  }

  // `target` was checked by start(): nothing here can refuse it.
  void resolve() {
    set_state(LinkState::resolving);
    // A lookup still under way for an earlier server must not land after this one.
    const unsigned generation = ++resolve_generation;
    if (target.numeric) {
      on_resolved(parse_endpoint(net::to_string(target)));
      return;
    }
    resolver.async_resolve(
        target.host, std::to_string(target.port),
        [self = shared_from_this(), generation](const boost::system::error_code& ec,
                                                const asio::ip::udp::resolver::results_type& r) {
          if (self->stopped || generation != self->resolve_generation) return;
          if (ec || r.empty()) {
            self->problem("cannot resolve " + self->config.server + ": " +
                          (ec ? ec.message() : std::string("no address")));
            log::warning("{}", self->stats.last_problem);
            self->enter_backoff(self->next_backoff());
            self->resolve_pending = true;
            return;
          }
          self->on_resolved(r.begin()->endpoint());
        });
  }

  void on_resolved(const Endpoint& ep) {
    hold();
    unwatch_socket();
    try {
      plane.connect(unmapped(ep));
    } catch (const std::system_error& e) {
      problem(e.what());
      log::warning("{}", e.what());
      enter_backoff(next_backoff());
      resolve_pending = true;
      return;
    }
    watch_socket();
    resolve_pending = false;
    begin_join();
  }

  void begin_join() {
    set_state(LinkState::joining);
    const std::uint64_t now = now_us();
    next_no_answer_log_us = now + us(config.no_answer_log);
    send_join(now);
  }

  void send_join(std::uint64_t now) {
    last_join_us = now;
    if (plane.send_join()) ++stats.joins_sent;
  }

  // Forgets the session and joins again after `delay`.
  void enter_backoff(milliseconds delay) {
    plane.reset_session();
    set_state(LinkState::backoff);
    backoff_until_us = now_us() + us(delay);
  }

  milliseconds next_backoff() {
    backoff =
        backoff.count() == 0 ? config.initial_backoff : std::min(backoff * 2, config.max_backoff);
    return backoff;
  }

  void leave() {
    hold();
    if (session() != nullptr && session()->admitted()) {
      log::info("leaving room {} on {}", config.room, config.server);
    }
    plane.send_leave(now_us());
    plane.reset_session();
    set_state(LinkState::stopped);
    stopped = true;
    ++resolve_generation;
    resolver.cancel();
  }

  void reconfigure(JamLinkConfig c) {
    // Everything that can refuse the new room is checked before the current one is left, so a
    // refused join_room or reload keeps the box where it is.
    if (!c.room.empty()) static_cast<void>(checked_server(c.server));
    std::unique_ptr<wire::ClientSession> next = session_for(c);
    hold();
    if (!next) {
      leave();  // no room to go to
      config = std::move(c);
      plane.set_session(nullptr);
      return;
    }
    plane.send_leave(now_us());
    config = std::move(c);
    plane.set_session(std::move(next));
    plane.set_keepalive_interval_us(us(config.keepalive_interval));
    backoff = milliseconds{0};
    stats.last_problem.clear();
    start();
  }

  void close() {
    plane.recall();
    stopped = true;
    closed = true;
    resolver.cancel();
    timer.cancel();
    unwatch_socket();
  }

  void problem(std::string text) { stats.last_problem = std::move(text); }

  // --- event sources -------------------------------------------------------------------------

  void arm_receive() {
    watch.async_wait(
        asio::posix::stream_descriptor::wait_read,
        [self = shared_from_this(),
         generation = watch_generation](const boost::system::error_code& ec) {
          if (ec || self->closed || !self->watching || generation != self->watch_generation) {
            return;
          }
          self->plane.receive_all(now_us(), self->on_heard);
          if (self->watching && generation == self->watch_generation) {
            self->arm_receive();
          }
        });
  }

  void arm_tick() {
    timer.expires_after(kTick);
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->closed) return;
      self->tick();
      self->arm_tick();
    });
  }

  // --- handshake events (rare: may log) -------------------------------------------------------

  void on_welcome() {
    if (state != LinkState::joining) return;
    set_state(LinkState::joined);
    backoff = milliseconds{0};
    ++stats.welcomes;
    stats.last_problem.clear();
    const auto& w = session()->welcome();
    log::notice("joined room {} on {} as session {:08x} ({} of {} members)", config.room,
                config.server, session()->session_id(), w.members, w.max_members);
    // The first packet makes us a member; send one now in case JACK is not running yet.
    plane.send_keepalive(now_us());
  }

  void on_notice() {
    ++stats.notices;
    const wire::NoticeCode code = session()->last_notice();
    if (code == wire::NoticeCode::room_full) {
      ++stats.room_full;
      const milliseconds delay = next_backoff();
      problem("room " + config.room + " on " + config.server + " is full");
      log::error("room {} on {} is full: retrying in {} ms", config.room, config.server,
                 delay.count());
      enter_backoff(delay);
      return;
    }
    const milliseconds delay = next_backoff();
    problem(std::string(wire::notice_name(code)) + " from " + config.server);
    log::warning("{}: {} (room {}); rejoining in {} ms", config.server, wire::notice_name(code),
                 config.room, delay.count());
    ++stats.rejoins;
    enter_backoff(delay);
  }

  // --- the tick: everything timed --------------------------------------------------------------

  void tick() {
    const std::uint64_t now = now_us();
    if (plane.offered()) {
      audio_thread_tick(now);
      return;
    }
    if (stopped) {
      // Keep the engine's ring empty so its drop counter means real trouble.
      plane.discard_outbound();
      return;
    }
    // JACK runs but the audio thread does not hold the packets (joining, or just admitted): what
    // it queued goes out (or is counted as skipped) from here.
    plane.send_outbound(now);
    log_room_key_rejections(now);
    switch (state) {
      case LinkState::stopped:
      case LinkState::resolving:
        break;
      case LinkState::joining:
        if (now - last_join_us >= us(config.join_retry)) send_join(now);
        if (now >= next_no_answer_log_us) {
          next_no_answer_log_us = now + us(config.no_answer_log);
          problem("no answer from " + config.server + " for room " + config.room);
          log::warning("no answer from {} for room {}: wrong room name or secret, or server down",
                       config.server, config.room);
        }
        break;
      case LinkState::joined:
        if (silent(now)) {
          rejoin_after_silence();
        } else if (age(now, plane.last_send_us()) >= us(config.keepalive_interval)) {
          // No audio went out lately (JACK down or stalled): stay a member, keep measuring.
          plane.send_keepalive(now);
        }
        if (state == LinkState::joined && audio_thread_running(now)) hand_over();
        break;
      case LinkState::backoff:
        if (now >= backoff_until_us) {
          if (resolve_pending) {
            resolve();
          } else {
            begin_join();
          }
        }
        break;
    }
  }

  // The audio thread holds the packets: only watch it and the session's health.
  void audio_thread_tick(std::uint64_t now) {
    log_room_key_rejections(now);
    if (plane.take_notice()) {
      hold();
      on_notice();
      return;
    }
    if (silent(now)) {
      hold();
      rejoin_after_silence();
      return;
    }
    // JACK stopped calling us (server gone, stalled or restarting): the loop keeps the
    // membership alive with keepalives until the audio thread runs again.
    if (age(now, plane.last_period_us()) > us(kAudioStalled)) hold();
  }

  [[nodiscard]] bool silent(std::uint64_t now) const {
    return age(now, plane.last_rx_us()) > us(config.silence_rejoin);
  }

  [[nodiscard]] bool audio_thread_running(std::uint64_t now) const {
    const std::uint64_t last = plane.last_period_us();
    return last != 0 && age(now, last) <= us(kAudioRunning);
  }

  void rejoin_after_silence() {
    ++stats.rejoins;
    problem("nothing heard from " + config.server + " for " +
            std::to_string(config.silence_rejoin.count()) + " ms");
    log::warning("{}: rejoining room {}", stats.last_problem, config.room);
    plane.reset_session();
    begin_join();
  }

  void log_room_key_rejections(std::uint64_t now) {
    const std::uint64_t rejected =
        plane.counters().room_key_rejected.load(std::memory_order_relaxed);
    if (rejected == room_key_rejected_logged || now < next_room_key_log_us) return;
    next_room_key_log_us = now + 10'000'000;
    room_key_rejected_logged = rejected;
    problem("audio from a member of room " + config.room + " cannot be decrypted");
    log::warning(
        "{} ({} packets so far): that member has another audio key for the room; check that "
        "every box of the room has the same secret, or joins through the same room server",
        stats.last_problem, rejected);
  }

  asio::io_context& io;
  JamLinkConfig config;
  DataPlane plane;
  std::function<void(DataPlane::Heard)> on_heard;
  std::uint64_t room_key_rejected_logged = 0;  // the journal says so at most every 10 s
  std::uint64_t next_room_key_log_us = 0;
  asio::ip::udp::resolver resolver;
  asio::posix::stream_descriptor watch;  // the socket's readiness, while the loop holds it
  bool watching = false;
  unsigned watch_generation = 0;
  asio::steady_timer timer;
  net::HostPort target;  // config.server, parsed by start()
  LinkState state = LinkState::stopped;
  LinkStats stats;  // the loop's own figures; the packet counters live in the plane
  std::atomic<bool> audio_running{false};
  bool stopped = true;
  bool closed = false;
  bool loops_armed = false;
  bool resolve_pending = false;
  unsigned resolve_generation = 0;
  milliseconds backoff{0};
  std::uint64_t last_join_us = 0;
  std::uint64_t next_no_answer_log_us = 0;
  std::uint64_t backoff_until_us = 0;
};

JamLink::JamLink(asio::io_context& io, audio::InboundQueue& inbound, audio::OutboundQueue& outbound,
                 JamLinkConfig config)
    : impl_(std::make_shared<Impl>(io, inbound, outbound, std::move(config))) {}

JamLink::~JamLink() {
  impl_->close();
}

void JamLink::start() {
  impl_->start();
}
void JamLink::reconfigure(JamLinkConfig config) {
  impl_->reconfigure(std::move(config));
}
void JamLink::leave() {
  impl_->leave();
}

void JamLink::set_audio_running(bool running) noexcept {
  impl_->audio_running.store(running, std::memory_order_relaxed);
}

void JamLink::audio_period_begin(std::uint64_t now_us) noexcept {
  impl_->plane.begin_period(now_us);
}

void JamLink::audio_period_end(std::uint64_t now_us) noexcept {
  impl_->plane.end_period(now_us);
}

LinkState JamLink::state() const noexcept {
  return impl_->state;
}

LinkStats JamLink::stats() const {
  const Impl& m = *impl_;
  LinkStats s = m.stats;
  s.state = m.state;
  s.audio_running = m.audio_running.load(std::memory_order_relaxed);
  s.server = m.config.server;
  s.room = m.config.room;
  const PacketCounters& c = m.plane.counters();
  constexpr auto relaxed = std::memory_order_relaxed;
  s.audio_sent = c.audio_sent.load(relaxed);
  s.keepalives_sent = c.keepalives_sent.load(relaxed);
  s.send_dropped = c.send_dropped.load(relaxed);
  s.outbound_skipped = c.outbound_skipped.load(relaxed);
  s.audio_received = c.audio_received.load(relaxed);
  s.echoes = c.echoes.load(relaxed);
  s.rejected = c.rejected.load(relaxed);
  s.room_key_rejected = c.room_key_rejected.load(relaxed);
  s.inbound_dropped = c.inbound_dropped.load(relaxed);
  s.rtt_us = c.rtt_us.load(relaxed);
  s.audio_thread_periods = c.audio_thread_periods.load(relaxed);
  s.audio_thread_carries = m.plane.offered();
  // Admission and the welcome change only on this (the loop's) thread: reading them while the
  // audio thread holds the plane races with nothing.
  const wire::ClientSession* session = m.plane.session();
  const bool admitted = session != nullptr && session->admitted();
  s.session_id = admitted ? session->session_id() : 0;
  s.welcome_members = admitted ? session->welcome().members : 0;
  s.audio_encrypted = session != nullptr && session->encrypts_audio();
  return s;
}

std::string JamLink::local_endpoint() const {
  if (!impl_->plane.socket_open()) return {};
  return net::to_string(impl_->plane.local_endpoint());
}

}  // namespace jambox::box
