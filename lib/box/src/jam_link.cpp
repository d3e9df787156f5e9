#include <jambox/box/jam_link.hpp>
#include <jambox/log/log.hpp>
#include <jambox/net/endpoint.hpp>
#include <jambox/net/host_port.hpp>
#include <jambox/net/udp_socket.hpp>

#include <boost/asio/ip/udp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <sys/eventfd.h>
#include <unistd.h>

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
using net::ReceiveBatch;
using net::SendBatch;
using net::SendResult;
using net::SocketOptions;
using net::UdpSocket;
using net::unmapped;

namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {

// How often the loop looks after retries, keepalives and timeouts. Audio never waits for it: the
// eventfd wakes the link for every period.
constexpr milliseconds kTick{20};
constexpr std::size_t kBatch = 32;

std::uint64_t now_us() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000U +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000U;
}

std::uint64_t us(milliseconds ms) noexcept {
  return static_cast<std::uint64_t>(ms.count()) * 1000U;
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
      : io(io_),
        inbound(in),
        outbound(out),
        config(std::move(c)),
        socket(io_),
        resolver(io_),
        wake_descriptor(io_),
        timer(io_),
        receive_batch(kBatch, wire::kMaxDatagram + 1),
        send_batch(kBatch, wire::kMaxDatagram) {
    const int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
    wake_descriptor.assign(fd);
    wake_fd = fd;
    session = session_for(config);
  }

  // --- lifecycle ------------------------------------------------------------------------------

  // No room (a managed box before its first join_room): no session, and start() does nothing.
  void start() {
    if (!session) return;
    // Checked before anything changes: a malformed address leaves the link as it was.
    target = checked_server(config.server);
    stopped = false;
    if (!loops_armed) {
      loops_armed = true;
      arm_wake();
      arm_tick();
    }
    resolve();
  }

  // `target` was checked by start(): nothing here can refuse it.
  void resolve() {
    state = LinkState::resolving;
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
    server_ep = unmapped(ep);
    const bool v6 = server_ep.address().is_v6();
    if (socket.is_open() && socket_v6 != v6) socket.close();
    if (!socket.is_open()) {
      socket.bind(parse_endpoint(v6 ? "[::]:0" : "0.0.0.0:0"), SocketOptions{});
      socket_v6 = v6;
      arm_receive();
    }
    resolve_pending = false;
    begin_join();
  }

  void begin_join() {
    state = LinkState::joining;
    const std::uint64_t now = now_us();
    join_started_us = now;
    next_no_answer_log_us = now + us(config.no_answer_log);
    send_join(now);
  }

  void send_join(std::uint64_t now) {
    auto buf = send_batch.prepare();
    const std::size_t n = session->make_join(buf);
    last_join_us = now;
    if (n > 0 && send_batch.commit(n, server_ep)) {
      ++stats.joins_sent;
      flush();
    }
  }

  // Forgets the session and joins again after `delay`.
  void enter_backoff(milliseconds delay) {
    session->reset();
    state = LinkState::backoff;
    backoff_until_us = now_us() + us(delay);
  }

  milliseconds next_backoff() {
    backoff =
        backoff.count() == 0 ? config.initial_backoff : std::min(backoff * 2, config.max_backoff);
    return backoff;
  }

  void send_leave() {
    if (!session || !session->admitted() || !socket.is_open()) return;
    auto buf = send_batch.prepare();
    const std::size_t n = session->make_leave(now_us(), buf);
    if (n > 0 && send_batch.commit(n, server_ep)) flush();
  }

  void leave() {
    if (session && session->admitted()) {
      log::info("leaving room {} on {}", config.room, config.server);
    }
    send_leave();
    if (session) session->reset();
    state = LinkState::stopped;
    stopped = true;
    ++resolve_generation;
    resolver.cancel();
  }

  void reconfigure(JamLinkConfig c) {
    // Everything that can refuse the new room is checked before the current one is left, so a
    // refused join_room or reload keeps the box where it is.
    if (!c.room.empty()) static_cast<void>(checked_server(c.server));
    std::unique_ptr<wire::ClientSession> next = session_for(c);
    if (!next) {
      leave();  // no room to go to
      config = std::move(c);
      session.reset();
      return;
    }
    send_leave();
    config = std::move(c);
    session = std::move(next);
    backoff = milliseconds{0};
    stats.last_problem.clear();
    start();
  }

  void close() {
    stopped = true;
    closed = true;
    resolver.cancel();
    timer.cancel();
    boost::system::error_code ignored;
    wake_descriptor.cancel(ignored);
    socket.cancel();
  }

  void problem(std::string text) { stats.last_problem = std::move(text); }

  // --- event sources -------------------------------------------------------------------------

  void arm_wake() {
    wake_descriptor.async_wait(asio::posix::stream_descriptor::wait_read,
                               [self = shared_from_this()](const boost::system::error_code& ec) {
                                 if (ec || self->closed) return;
                                 std::uint64_t count = 0;
                                 // Resets the counter; EAGAIN (already drained) is harmless.
                                 const ssize_t r = ::read(self->wake_descriptor.native_handle(),
                                                          &count, sizeof count);
                                 static_cast<void>(r);
                                 self->drain_outbound();
                                 self->arm_wake();
                               });
  }

  void arm_receive() {
    socket.async_wait_readable([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->closed || !self->socket.is_open()) return;
      self->receive_all();
      self->arm_receive();
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

  // --- hot paths: no allocation, no logging ---------------------------------------------------

  void drain_outbound() {
    const std::uint64_t now = now_us();
    const bool admitted = session && session->admitted() && state == LinkState::joined;
    const std::size_t payload =
        wire::audio_payload_size(config.shape.frames, config.shape.channels, config.shape.format);
    outbound.consume_all([&](const audio::OutboundPacket& p) {
      if (!admitted || p.frames != config.shape.frames || p.format != config.shape.format ||
          p.payload_len != payload) {
        ++stats.outbound_skipped;
        return;
      }
      if (send_batch.full()) flush();
      auto buf = send_batch.prepare();
      std::memcpy(buf.data() + session->audio_offset(), p.payload.data(), p.payload_len);
      const std::size_t n = session->seal_audio_in_place(now, buf);
      if (n == 0 || !send_batch.commit(n, server_ep)) {
        ++stats.outbound_skipped;
        return;
      }
      ++stats.audio_sent;
      last_send_us = now;
    });
    flush();
  }

  void flush() {
    if (send_batch.empty()) return;
    if (!socket.is_open()) {
      stats.send_dropped += send_batch.size();
      send_batch.clear();
      return;
    }
    const SendResult r = socket.send(send_batch);
    stats.send_dropped += r.dropped;
  }

  void receive_all() {
    for (;;) {
      std::error_code ec;
      const std::size_t n = socket.receive(receive_batch, ec);
      if (ec || n == 0) return;
      const bool more = n == receive_batch.capacity();
      const std::uint64_t now = now_us();
      for (std::size_t i = 0; i < n; ++i) {
        if (receive_batch.truncated(i) || unmapped(receive_batch.source(i)) != server_ep) {
          ++stats.rejected;
          continue;
        }
        handle(receive_batch.data(i), now);
      }
      // A partial batch emptied the socket: asking again would only cost a system call that
      // returns EAGAIN (at 64 frames this path runs over a thousand times a second).
      if (!more) return;
    }
  }

  void handle(std::span<const std::uint8_t> datagram, std::uint64_t now) {
    wire::PacketView view;
    if (!session) {
      ++stats.rejected;  // nothing can be authentic before we joined anything
      return;
    }
    switch (session->receive(datagram, now, view)) {
      case wire::ClientSession::Event::rejected:
        ++stats.rejected;
        if (session->last_reject() == wire::Reject::room_key) ++stats.room_key_rejected;
        return;
      case wire::ClientSession::Event::welcomed:
        last_rx_us = now;
        on_welcome();
        return;
      case wire::ClientSession::Event::notice:
        last_rx_us = now;
        on_notice();
        return;
      case wire::ClientSession::Event::audio: {
        last_rx_us = now;
        last_audio_rx_us = now;
        ++stats.audio_received;
        const wire::Header& h = view.header;
        scratch.session_id = h.session_id;
        scratch.sequence = h.sequence;
        scratch.frames = h.frames;
        scratch.format = h.format;
        scratch.has_room_clock = h.room_clock != 0;
        scratch.room_clock = h.room_clock;
        scratch.arrival_us = now;
        scratch.payload_len = static_cast<std::uint16_t>(view.payload.size());
        std::memcpy(scratch.payload.data(), view.payload.data(), view.payload.size());
        if (!inbound.push(scratch)) ++stats.inbound_dropped;
        return;
      }
      case wire::ClientSession::Event::echo: {
        last_rx_us = now;
        ++stats.echoes;
        // A lone jammer hears no audio that could carry the room clock: hand the echo's
        // reading over instead, at most every few periods.
        const std::uint32_t clock = view.header.room_clock;
        if (clock != 0 && now - last_audio_rx_us > 50000 && now - last_clock_push_us > 10000) {
          clock_slot.has_room_clock = true;
          clock_slot.room_clock = clock;
          clock_slot.arrival_us = now;
          if (inbound.push(clock_slot)) last_clock_push_us = now;
        }
        return;
      }
    }
  }

  // --- handshake events (rare: may log) -------------------------------------------------------

  void on_welcome() {
    if (state != LinkState::joining) return;
    state = LinkState::joined;
    backoff = milliseconds{0};
    ++stats.welcomes;
    stats.last_problem.clear();
    const auto& w = session->welcome();
    log::notice("joined room {} on {} as session {:08x} ({} of {} members)", config.room,
                config.server, session->session_id(), w.members, w.max_members);
    // The first packet makes us a member; send one now in case JACK is not running yet.
    send_keepalive(now_us());
  }

  void on_notice() {
    ++stats.notices;
    const wire::NoticeCode code = session->last_notice();
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

  void send_keepalive(std::uint64_t now) {
    auto buf = send_batch.prepare();
    const std::size_t n = session->make_keepalive(now, buf);
    if (n > 0 && send_batch.commit(n, server_ep)) {
      ++stats.keepalives_sent;
      last_send_us = now;
      flush();
    }
  }

  void tick() {
    if (stopped) {
      // Keep the engine's ring empty so its drop counter means real trouble.
      outbound.consume_all([&](const audio::OutboundPacket&) { ++stats.outbound_skipped; });
      return;
    }
    const std::uint64_t now = now_us();
    drain_outbound();  // in case a wake-up was coalesced away
    if (stats.room_key_rejected != room_key_rejected_logged && now >= next_room_key_log_us) {
      next_room_key_log_us = now + 10'000'000;
      room_key_rejected_logged = stats.room_key_rejected;
      problem("audio from a member of room " + config.room + " cannot be decrypted");
      log::warning(
          "{} ({} packets so far): that member has another audio key for the room; check that "
          "every box of the room has the same secret, or joins through the same room server",
          stats.last_problem, stats.room_key_rejected);
    }
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
        if (now - last_rx_us > us(config.silence_rejoin)) {
          ++stats.rejoins;
          problem("nothing heard from " + config.server + " for " +
                  std::to_string(config.silence_rejoin.count()) + " ms");
          log::warning("{}: rejoining room {}", stats.last_problem, config.room);
          session->reset();
          begin_join();
        } else if (now - last_send_us >= us(config.keepalive_interval)) {
          // No audio went out lately (JACK down or stalled): stay a member, keep measuring.
          send_keepalive(now);
        }
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

  asio::io_context& io;
  audio::InboundQueue& inbound;
  audio::OutboundQueue& outbound;
  JamLinkConfig config;
  std::unique_ptr<wire::ClientSession> session;
  std::uint64_t room_key_rejected_logged = 0;  // the journal says so at most every 10 s
  std::uint64_t next_room_key_log_us = 0;
  UdpSocket socket;
  bool socket_v6 = false;
  asio::ip::udp::resolver resolver;
  asio::posix::stream_descriptor wake_descriptor;
  int wake_fd = -1;
  asio::steady_timer timer;
  ReceiveBatch receive_batch;
  SendBatch send_batch;
  net::HostPort target;  // config.server, parsed by start()
  Endpoint server_ep;
  LinkState state = LinkState::stopped;
  LinkStats stats;
  std::atomic<bool> audio_running{false};
  bool stopped = true;
  bool closed = false;
  bool loops_armed = false;
  bool resolve_pending = false;
  unsigned resolve_generation = 0;
  milliseconds backoff{0};
  std::uint64_t last_join_us = 0;
  std::uint64_t join_started_us = 0;
  std::uint64_t next_no_answer_log_us = 0;
  std::uint64_t backoff_until_us = 0;
  std::uint64_t last_rx_us = 0;
  std::uint64_t last_audio_rx_us = 0;
  std::uint64_t last_clock_push_us = 0;
  std::uint64_t last_send_us = 0;
  audio::InboundPacket scratch;
  audio::InboundPacket clock_slot;  // frames 0: clock only
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

int JamLink::wake_fd() const noexcept {
  return impl_->wake_fd;
}

void JamLink::wake(int fd) noexcept {
  const std::uint64_t one = 1;
  // EFD_NONBLOCK: never blocks; EAGAIN only when the counter is saturated, i.e. already woken.
  const ssize_t r = ::write(fd, &one, sizeof one);
  static_cast<void>(r);
}

LinkState JamLink::state() const noexcept {
  return impl_->state;
}

LinkStats JamLink::stats() const {
  LinkStats s = impl_->stats;
  s.state = impl_->state;
  s.audio_running = impl_->audio_running.load(std::memory_order_relaxed);
  s.server = impl_->config.server;
  s.room = impl_->config.room;
  const wire::ClientSession* session = impl_->session.get();
  const bool admitted = session != nullptr && session->admitted();
  s.session_id = admitted ? session->session_id() : 0;
  s.rtt_us = session != nullptr ? session->rtt_us() : 0;
  s.welcome_members = admitted ? session->welcome().members : 0;
  s.audio_encrypted = session != nullptr && session->encrypts_audio();
  return s;
}

std::string JamLink::local_endpoint() const {
  if (!impl_->socket.is_open()) return {};
  return net::to_string(impl_->socket.local_endpoint());
}

}  // namespace jambox::box
