#include "loadgen.hpp"

#include "histogram.hpp"
#include "junk.hpp"
#include <jambox/crypto/crypto.hpp>
#include <jambox/net/host_port.hpp>
#include <jambox/system/process.hpp>
#include <jambox/wire/packet.hpp>
#include <jambox/wire/room_audio.hpp>
#include <jambox/wire/session.hpp>

#include <nlohmann/json.hpp>

#include <netdb.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>
#include <iomanip>
#include <limits>
#include <memory>
#include <mutex>
#include <numbers>
#include <optional>
#include <ostream>
#include <sstream>
#include <thread>
#include <utility>

namespace jambox::loadgen {
namespace {

// ---------------------------------------------------------------------------------------------
// Time

constexpr std::uint64_t kNsPerSecond = 1'000'000'000;

std::uint64_t now_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);  // the clock system::monotonic_us() reads
  return static_cast<std::uint64_t>(ts.tv_sec) * kNsPerSecond +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

void sleep_until_ns(std::uint64_t deadline) noexcept {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(deadline / kNsPerSecond);
  ts.tv_nsec = static_cast<long>(deadline % kNsPerSecond);
  while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

// CLOCK_REALTIME minus CLOCK_MONOTONIC now: kernel receive timestamps are realtime, the
// load generator's clock is monotonic. Sampled once per receive tick, so a clock step during a
// run misplaces at most one tick's latencies.
std::int64_t realtime_minus_monotonic_ns() noexcept {
  timespec mono{};
  timespec real{};
  ::clock_gettime(CLOCK_MONOTONIC, &mono);
  ::clock_gettime(CLOCK_REALTIME, &real);
  const auto ns = [](const timespec& ts) {
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  };
  return ns(real) - ns(mono);
}

// When the kernel queued the datagram (SO_TIMESTAMPNS), in monotonic microseconds; `fallback`
// when the timestamp is missing.
std::uint64_t kernel_arrival_us(const msghdr& message, std::int64_t realtime_offset_ns,
                                std::uint64_t fallback) noexcept {
  for (const cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr;
       c = CMSG_NXTHDR(const_cast<msghdr*>(&message), const_cast<cmsghdr*>(c))) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SO_TIMESTAMPNS) continue;
    timespec ts{};
    std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
    const std::int64_t real_ns = static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
    const std::int64_t mono_ns = real_ns - realtime_offset_ns;
    return mono_ns > 0 ? static_cast<std::uint64_t>(mono_ns) / 1000 : fallback;
  }
  return fallback;
}

std::uint64_t self_cpu_us() noexcept {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const auto us = [](const timeval& tv) {
    return static_cast<std::uint64_t>(tv.tv_sec) * 1'000'000 +
           static_cast<std::uint64_t>(tv.tv_usec);
  };
  return us(usage.ru_utime) + us(usage.ru_stime);
}

// ---------------------------------------------------------------------------------------------
// Sockets

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  [[nodiscard]] int get() const noexcept { return fd_; }

 private:
  int fd_ = -1;
};

struct ServerAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  std::string text;
};

ServerAddress resolve(const std::string& text, bool ipv6) {
  // The boxes' own parser: --server accepts what [room] server accepts.
  net::HostPort target;
  std::string error;
  if (!net::parse_host_port(text, target, error)) throw SetupError("--server " + error);
  const std::string port = std::to_string(target.port);
  addrinfo hints{};
  hints.ai_family = ipv6 ? AF_INET6 : AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(target.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    throw SetupError("cannot resolve --server " + text + ": " + ::gai_strerror(rc));
  }
  ServerAddress address;
  std::memcpy(&address.storage, found->ai_addr, found->ai_addrlen);
  address.length = found->ai_addrlen;
  address.text = text;
  ::freeaddrinfo(found);
  return address;
}

Fd open_socket(const ServerAddress& server) {
  Fd fd(::socket(server.storage.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) throw SetupError(std::string("socket: ") + std::strerror(errno));
  // Requests only: the kernel caps them at net.core.[rw]mem_max. A deep receive queue absorbs
  // the moments the receiver thread is not scheduled, so they do not show up as loss.
  const int rcvbuf = 1 << 20;
  const int sndbuf = 1 << 18;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
  // Arrival times from the kernel: the receiver polls (see kRecvPollNs).
  const int on = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on)) != 0) {
    throw SetupError(std::string("SO_TIMESTAMPNS: ") + std::strerror(errno));
  }
  // Connected: an ephemeral source port of its own, and only the server's datagrams come in.
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&server.storage), server.length) != 0) {
    throw SetupError("cannot reach " + server.text + ": " + std::strerror(errno));
  }
  return fd;
}

// ---------------------------------------------------------------------------------------------
// State

// Send timestamps of recent sequences, per jammer: written by the sender just before the send,
// read by the receiver when the forwarded copies arrive. A slot packs the low sequence bits with
// the time, so a slot already reused for a newer sequence is recognised and not misread.
constexpr std::size_t kRingSize = 2048;  // > 1 s of packets at any frame size
constexpr unsigned kRingSequenceBits = 20;
constexpr std::uint64_t kRingSequenceMask = (std::uint64_t{1} << kRingSequenceBits) - 1;

constexpr std::size_t kRecvBatch = 32;
constexpr std::size_t kRecvBufferSize = 2048;  // larger than any legal datagram
constexpr std::size_t kJunkSockets = 4;
// The receiver drains every socket on this grid instead of sleeping until a datagram comes. On
// loopback the kernel wakes a sleeping receiver inside the sender's send call, so 32 simulated
// boxes woken for every datagram would bill their wake-ups to the server under test (on a real
// network they happen on the boxes) and cost the load generator most of a core. The tick adds
// nothing to the measured latency: that comes from the kernel's receive timestamp.
constexpr std::uint64_t kRecvPollNs = 500'000;
constexpr std::size_t kRecvControlSize = CMSG_SPACE(sizeof(timespec));
constexpr std::size_t kJunkBatch = 64;
constexpr std::uint64_t kJoinRetryNs = 200'000'000;
constexpr std::uint64_t kJoinTickNs = 50'000'000;  // keepalives while others are still joining
constexpr std::uint64_t kStartDelayNs = 20'000'000;

enum class JoinState : std::uint8_t { joining, welcomed, member, refused };

// Touched by the sender thread only (and by the main thread before and after it runs).
struct SenderPart {
  crypto::Aead up{crypto::Key{}};  // re-keyed on admission
  std::uint32_t session_id = 0;
  std::uint32_t next_sequence = 1;
  std::uint64_t sent_in_window = 0;
  std::array<std::uint8_t, wire::kMaxDatagram> audio{};  // payload encoded once at setup
  // --room-audio: the room's audio key and this session's salt. The payload is encrypted in
  // place, so every packet starts again from the plain samples (Engine::plain_audio_).
  crypto::Aead room{crypto::Key{}};
  wire::RoomSalt salt{};
};

// What the receiver learns that the sender needs for echo_us/hold_us (so the server can measure
// each member's round trip). Two separate values may be torn across one update; that only
// skews one hold_us by a packet period, which the server's RTT tolerates.
struct EchoShare {
  std::atomic<std::uint64_t> server_time_us{0};
  std::atomic<std::uint64_t> server_rx_us{0};
  // Highest sequence the server has echoed: packets up to it were processed by the server.
  std::atomic<std::uint32_t> echoed_sequence{0};
};

struct ReceiverPart {
  ReceiverPart(std::string_view room, std::string_view secret, wire::AudioShape shape)
      : session(room, secret, shape) {}
  wire::ClientSession session;        // opens what the server sends to this jammer
  std::vector<SequenceTracker> from;  // per origin slot in the room
};

struct Jammer {
  Jammer(std::size_t room_index, std::size_t slot_index, const RoomOption& room_option,
         wire::AudioShape shape)
      : room(room_index), slot(slot_index), recv(room_option.name, room_option.secret, shape) {}

  Fd fd;
  std::size_t room;
  std::size_t slot;  // position among the jammers of its room
  JoinState state = JoinState::joining;
  std::uint64_t last_join_ns = 0;
  alignas(64) SenderPart send;
  alignas(64) EchoShare echo;
  alignas(64) ReceiverPart recv;
};

// A recent legitimate datagram for the junk thread to replay and corrupt. The sender only ever
// try_locks, so it never waits for the junk thread.
struct Capture {
  std::mutex mutex;
  std::array<std::uint8_t, wire::kMaxDatagram> bytes{};
  std::size_t size = 0;
  std::size_t jammer = 0;
  std::uint32_t sequence = 0;
};

// Receiver-thread counters, read by the main thread after the receiver has been joined.
struct ReceiverStats {
  Histogram latency;           // in-window forwarding latency, us
  Histogram rtt;               // in-window round trips (echoes and forwarded audio), us
  Histogram live;              // latency of the current second (--live)
  std::uint64_t received = 0;  // unique in-window deliveries
  std::uint64_t deliveries = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t reordered = 0;
  std::uint64_t unmatched = 0;  // in-window deliveries whose send time was no longer known
  std::uint64_t echoes = 0;     // in-window echoes
  std::uint64_t notices = 0;
  std::uint64_t client_rejected = 0;
  std::uint64_t unknown_origin = 0;
  std::uint64_t self_deliveries = 0;
  std::uint64_t cross_room = 0;
  std::uint64_t junk_answers = 0;
};

// ---------------------------------------------------------------------------------------------

class Engine {
 public:
  Engine(const Options& options, std::ostream& live_out);
  std::string run();

 private:
  void open_sockets();
  void join_all();
  void handle_join_reply(std::size_t j, std::span<const std::uint8_t> datagram);
  void check_joined() const;
  void send_control(std::size_t j, wire::PacketType type);
  std::size_t seal(Jammer& jammer, wire::PacketType type, std::uint64_t now_us,
                   std::span<std::uint8_t> buffer);

  void sender_main();
  void receiver_main();
  void junk_main();
  void on_datagram(std::size_t j, std::span<const std::uint8_t> datagram, std::uint64_t now_us);
  static void record_rtt(ReceiverStats& rx, const wire::Header& h, std::uint64_t now_us);
  void live_loop();
  [[nodiscard]] bool in_window(std::size_t j, std::uint32_t sequence) const noexcept;
  [[nodiscard]] std::optional<std::size_t> origin_of(std::uint32_t session_id) const noexcept;
  std::string results() const;

  const Options& options_;
  std::ostream& live_out_;
  ServerAddress server_;
  wire::AudioShape shape_;
  std::size_t payload_size_ = 0;
  std::vector<std::uint8_t> plain_audio_;  // --room-audio: the encoded samples, read-only
  std::vector<std::size_t> room_sizes_;
  std::vector<std::unique_ptr<Jammer>> jammers_;
  std::vector<Fd> junk_fds_;
  Fd epoll_;

  // Read-only once the threads run.
  std::vector<std::pair<std::uint32_t, std::size_t>> origins_;  // (session id, jammer), sorted
  std::vector<std::uint32_t> first_audio_;  // sequence of each jammer's first audio packet
  std::uint64_t packets_warmup_ = 0;        // per jammer, before the window
  std::uint64_t packets_window_ = 0;        // per jammer, inside the window
  std::uint64_t t0_ns_ = 0;                 // first deadline
  std::uint64_t base_us_ = 0;               // origin of the ring's time stamps
  std::uint64_t window_start_ns_ = 0;
  std::uint64_t window_end_ns_ = 0;
  std::unique_ptr<std::atomic<std::uint64_t>[]> ring_;

  std::atomic<bool> stop_receiver_{false};
  Capture capture_;

  // Sender results (read after the sender is joined) and live counters.
  Histogram send_late_;
  std::uint64_t send_errors_ = 0;
  std::uint64_t sent_window_ = 0;
  std::atomic<std::uint64_t> live_sent_{0};
  std::atomic<std::uint64_t> live_expected_{0};

  std::unique_ptr<ReceiverStats> rx_ = std::make_unique<ReceiverStats>();
  std::atomic<std::uint64_t> live_deliveries_{0};
  std::atomic<std::uint64_t> live_p99_{0};

  std::array<std::uint64_t, kJunkKinds> junk_sent_{};
  std::uint64_t junk_errors_ = 0;

  // Measurement window facts.
  std::optional<system::CpuTimes> server_cpu_start_;
  std::optional<system::CpuTimes> server_cpu_end_;
  std::uint64_t self_cpu_start_ = 0;
  std::uint64_t self_cpu_end_ = 0;
  std::uint64_t measured_start_ns_ = 0;
  std::uint64_t measured_end_ns_ = 0;
};

Engine::Engine(const Options& options, std::ostream& live_out)
    : options_(options), live_out_(live_out), server_(resolve(options.server, options.ipv6)) {
  shape_.frames = static_cast<std::uint16_t>(options.frames);
  shape_.format = wire::SampleFormat::s16;
  shape_.channels = wire::kAudioChannels;
  payload_size_ = wire::audio_payload_size(shape_.frames, shape_.channels, shape_.format);
  if (payload_size_ == 0) throw SetupError("unsupported --frames");

  const double period_s = static_cast<double>(options.frames) / wire::kSampleRate;
  packets_warmup_ = static_cast<std::uint64_t>(std::ceil(options.warmup_ms / 1000.0 / period_s));
  packets_window_ = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(std::llround(options.seconds / period_s)));

  if (options.server_pid > 0 && !system::process_cpu_times(options.server_pid)) {
    throw SetupError("--server-pid " + std::to_string(options.server_pid) +
                     ": no such process (cannot read /proc/" + std::to_string(options.server_pid) +
                     "/stat)");
  }
}

void Engine::open_sockets() {
  epoll_ = Fd(::epoll_create1(EPOLL_CLOEXEC));
  if (epoll_.get() < 0) throw SetupError(std::string("epoll_create1: ") + std::strerror(errno));
  const std::size_t rooms = options_.rooms.size();
  room_sizes_.assign(rooms, 0);

  // A two-tone signal (quiet by default), encoded once: the sender only rewrites header and tag.
  std::vector<float> ch1(shape_.frames);
  std::vector<float> ch2(shape_.frames);
  for (std::size_t i = 0; i < ch1.size(); ++i) {
    const double t = static_cast<double>(i) / wire::kSampleRate;
    ch1[i] = static_cast<float>(options_.amplitude * std::sin(2.0 * std::numbers::pi * 440.0 * t));
    ch2[i] = static_cast<float>(options_.amplitude * std::sin(2.0 * std::numbers::pi * 660.0 * t));
  }

  if (options_.room_audio) {
    plain_audio_.resize(payload_size_);
    wire::encode_audio(ch1, ch2, shape_.format, plain_audio_);
  }

  jammers_.reserve(options_.jammers);
  for (std::size_t j = 0; j < options_.jammers; ++j) {
    const std::size_t room = j % rooms;
    auto jammer = std::make_unique<Jammer>(room, room_sizes_[room]++, options_.rooms[room], shape_);
    jammer->fd = open_socket(server_);
    if (options_.room_audio) {
      const RoomOption& option = options_.rooms[room];
      jammer->send.room.rekey(wire::derive_room_audio_key(option.name, option.secret));
      // One session per jammer and run: a fresh salt keeps room-key nonces unique, as a box's
      // JOIN does.
      crypto::random_bytes(jammer->send.salt);
    } else {
      wire::encode_audio(ch1, ch2, shape_.format,
                         std::span(jammer->send.audio).subspan(wire::kHeaderSize, payload_size_));
    }
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = j;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, jammer->fd.get(), &event) != 0) {
      throw SetupError(std::string("epoll_ctl: ") + std::strerror(errno));
    }
    jammers_.push_back(std::move(jammer));
  }
  for (auto& jammer : jammers_) jammer->recv.from.resize(room_sizes_[jammer->room]);

  if (options_.junk_rate > 0) {
    for (std::size_t i = 0; i < kJunkSockets; ++i) {
      junk_fds_.push_back(open_socket(server_));
      // Watched too: the server must never answer what it cannot authenticate.
      epoll_event event{};
      event.events = EPOLLIN;
      event.data.u64 = options_.jammers + i;
      ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, junk_fds_.back().get(), &event);
    }
  }
}

std::size_t Engine::seal(Jammer& jammer, wire::PacketType type, std::uint64_t now_us,
                         std::span<std::uint8_t> buffer) {
  SenderPart& s = jammer.send;
  wire::Header header;
  header.type = type;
  if (type == wire::PacketType::audio) {
    header.format = shape_.format;
    header.channels = shape_.channels;
    header.frames = shape_.frames;
    header.payload_len = static_cast<std::uint16_t>(payload_size_);
  }
  header.session_id = s.session_id;
  header.sequence = s.next_sequence++;
  header.time_us = now_us;
  if (type == wire::PacketType::audio && options_.room_audio) {
    const std::size_t sealed = payload_size_ + wire::kRoomSealOverhead;
    std::memcpy(buffer.data() + wire::kHeaderSize + wire::kRoomSaltSize, plain_audio_.data(),
                payload_size_);
    header.flags = wire::flags::kEncrypted;
    header.payload_len = static_cast<std::uint16_t>(sealed);
    wire::seal_room_audio(header, s.salt, s.room, buffer.subspan(wire::kHeaderSize, sealed));
  }
  const std::uint64_t server_time = jammer.echo.server_time_us.load(std::memory_order_relaxed);
  if (server_time != 0) {
    const std::uint64_t rx = jammer.echo.server_rx_us.load(std::memory_order_relaxed);
    header.echo_us = server_time;
    header.hold_us = static_cast<std::uint32_t>(std::min<std::uint64_t>(
        now_us > rx ? now_us - rx : 0, std::numeric_limits<std::uint32_t>::max()));
  }
  return wire::seal_in_place(header, s.up, buffer);
}

void Engine::send_control(std::size_t j, wire::PacketType type) {
  std::array<std::uint8_t, wire::kMinDatagram> buffer{};
  Jammer& jammer = *jammers_[j];
  const std::size_t size = seal(jammer, type, system::monotonic_us(), buffer);
  (void)::send(jammer.fd.get(), buffer.data(), size, 0);
}

// ---------------------------------------------------------------------------------------------
// Admission: JOIN -> WELCOME -> KEEPALIVE -> ECHO. The echo proves the server counts the session
// as a member, so no audio of the measurement is lost to a jammer that is still pending.

void Engine::handle_join_reply(std::size_t j, std::span<const std::uint8_t> datagram) {
  Jammer& jammer = *jammers_[j];
  wire::PacketView view;
  const auto now = system::monotonic_us();
  switch (jammer.recv.session.receive(datagram, now, view)) {
    case wire::ClientSession::Event::welcomed: {
      const auto& room = options_.rooms[jammer.room];
      const auto& welcome = jammer.recv.session.welcome();
      const wire::SessionKeys keys =
          wire::derive_session_keys(room.name, room.secret, welcome.client_nonce,
                                    welcome.server_nonce, jammer.recv.session.session_id());
      jammer.send.up.rekey(keys.up);
      jammer.send.session_id = jammer.recv.session.session_id();
      jammer.send.next_sequence = 1;
      jammer.state = JoinState::welcomed;
      jammer.echo.server_time_us.store(view.header.time_us, std::memory_order_relaxed);
      jammer.echo.server_rx_us.store(now, std::memory_order_relaxed);
      send_control(j, wire::PacketType::keepalive);
      break;
    }
    case wire::ClientSession::Event::echo:
      if (jammer.state == JoinState::welcomed) jammer.state = JoinState::member;
      break;
    case wire::ClientSession::Event::notice:
      if (jammer.recv.session.last_notice() == wire::NoticeCode::room_full) {
        jammer.state = JoinState::refused;
      } else {
        throw SetupError("room '" + options_.rooms[jammer.room].name + "' answered with notice " +
                         std::string(wire::notice_name(jammer.recv.session.last_notice())) +
                         " while jammers were joining");
      }
      break;
    default:
      break;  // e.g. an answer to an older JOIN, or audio from a jammer of a previous run
  }
}

void Engine::join_all() {
  const std::uint64_t start = now_ns();
  const std::uint64_t deadline = start + std::uint64_t{options_.join_timeout_ms} * 1'000'000;
  std::uint64_t next_tick = start;
  std::array<std::uint8_t, kRecvBufferSize> buffer{};
  std::array<epoll_event, 64> events{};
  for (;;) {
    std::uint64_t now = now_ns();
    if (now >= next_tick) {
      for (std::size_t j = 0; j < jammers_.size(); ++j) {
        Jammer& jammer = *jammers_[j];
        if (jammer.state == JoinState::joining && now - jammer.last_join_ns >= kJoinRetryNs) {
          const std::size_t size = jammer.recv.session.make_join(buffer);
          (void)::send(jammer.fd.get(), buffer.data(), size, 0);
          jammer.last_join_ns = now;
        } else if (jammer.state == JoinState::welcomed || jammer.state == JoinState::member) {
          send_control(j, wire::PacketType::keepalive);
        }
      }
      next_tick = now + kJoinTickNs;
    }
    const bool done = std::all_of(jammers_.begin(), jammers_.end(), [](const auto& jammer) {
      return jammer->state == JoinState::member || jammer->state == JoinState::refused;
    });
    if (done || now >= deadline) break;
    const auto wait_ms = static_cast<int>((std::min(next_tick, deadline) - now) / 1'000'000 + 1);
    const int ready =
        ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), wait_ms);
    for (int i = 0; i < ready; ++i) {
      const auto j = static_cast<std::size_t>(events[static_cast<std::size_t>(i)].data.u64);
      if (j >= jammers_.size()) continue;
      for (;;) {
        const ssize_t n = ::recv(jammers_[j]->fd.get(), buffer.data(), buffer.size(), MSG_DONTWAIT);
        if (n < 0 && errno == ECONNREFUSED) continue;  // ICMP from an earlier send
        if (n < 0) break;
        handle_join_reply(
            j, std::span<const std::uint8_t>(buffer.data(), static_cast<std::size_t>(n)));
      }
    }
  }
  check_joined();
}

void Engine::check_joined() const {
  std::ostringstream problems;
  for (std::size_t r = 0; r < options_.rooms.size(); ++r) {
    std::size_t members = 0;
    std::size_t refused = 0;
    std::size_t answered = 0;
    for (const auto& jammer : jammers_) {
      if (jammer->room != r) continue;
      if (jammer->state == JoinState::member) ++members;
      if (jammer->state == JoinState::refused) ++refused;
      if (jammer->state != JoinState::joining) ++answered;
    }
    const std::string& name = options_.rooms[r].name;
    if (members == room_sizes_[r]) continue;
    if (answered == 0) {
      problems << "room '" << name << "' at " << server_.text << " never answered a JOIN within "
               << options_.join_timeout_ms
               << " ms: is jambox-broadcast running there, does it host this room, and is the "
                  "secret right?\n";
    } else if (refused > 0) {
      problems << "room '" << name << "' is full: it refused " << refused << " of its "
               << room_sizes_[r] << " jammers (raise its max_members)\n";
    } else {
      problems << "room '" << name << "' admitted only " << members << " of its " << room_sizes_[r]
               << " jammers within " << options_.join_timeout_ms << " ms\n";
    }
  }
  std::string text = problems.str();
  if (!text.empty()) {
    text.pop_back();
    throw SetupError(text);
  }
}

// ---------------------------------------------------------------------------------------------
// Sender: one audio packet per jammer per period, jammers spread evenly across the period, each
// at an absolute deadline so that a late wake-up never shifts the schedule that follows.

void Engine::sender_main() {
  // Default timer slack (50 us) would make every wake-up late by up to a period of 32 frames.
  ::prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
  const std::uint64_t frames_ns = std::uint64_t{options_.frames} * kNsPerSecond;
  const std::uint64_t jammers = jammers_.size();
  const std::uint64_t total = packets_warmup_ + packets_window_;
  std::uint64_t capture_tick = 0;
  for (std::uint64_t k = 0; k < total; ++k) {
    const std::uint64_t period_start = t0_ns_ + k * frames_ns / wire::kSampleRate;
    const bool counted = k >= packets_warmup_;
    for (std::size_t j = 0; j < jammers; ++j) {
      const std::uint64_t deadline = period_start + j * frames_ns / (wire::kSampleRate * jammers);
      std::uint64_t now = now_ns();
      if (now < deadline) {
        sleep_until_ns(deadline);
        now = now_ns();
      }
      send_late_.record(now > deadline ? (now - deadline) / 1000 : 0);

      Jammer& jammer = *jammers_[j];
      const std::uint64_t now_us = now / 1000;
      const std::uint32_t sequence = jammer.send.next_sequence;
      ring_[j * kRingSize + (sequence & (kRingSize - 1))].store(
          ((now_us - base_us_) << kRingSequenceBits) | (sequence & kRingSequenceMask),
          std::memory_order_release);
      const std::size_t size = seal(jammer, wire::PacketType::audio, now_us, jammer.send.audio);
      const ssize_t sent = ::send(jammer.fd.get(), jammer.send.audio.data(), size, 0);
      if (sent != static_cast<ssize_t>(size)) {
        ++send_errors_;
        continue;
      }
      live_sent_.fetch_add(1, std::memory_order_relaxed);
      if (!options_.send_only) {
        live_expected_.fetch_add(room_sizes_[jammer.room] - 1, std::memory_order_relaxed);
      }
      if (counted) {
        ++jammer.send.sent_in_window;
        ++sent_window_;
      }
      if (!junk_fds_.empty() && (++capture_tick & 15) == 0 && capture_.mutex.try_lock()) {
        std::memcpy(capture_.bytes.data(), jammer.send.audio.data(), size);
        capture_.size = size;
        capture_.jammer = j;
        capture_.sequence = sequence;
        capture_.mutex.unlock();
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Receiver: every socket in one epoll set, each ready socket drained with one recvmmsg.

bool Engine::in_window(std::size_t j, std::uint32_t sequence) const noexcept {
  const std::uint32_t first = first_audio_[j];
  if (sequence < first) return false;
  const std::uint64_t k = sequence - first;
  return k >= packets_warmup_ && k < packets_warmup_ + packets_window_;
}

std::optional<std::size_t> Engine::origin_of(std::uint32_t session_id) const noexcept {
  const auto it = std::lower_bound(origins_.begin(), origins_.end(), session_id,
                                   [](const std::pair<std::uint32_t, std::size_t>& entry,
                                      std::uint32_t id) { return entry.first < id; });
  if (it == origins_.end() || it->first != session_id) return std::nullopt;
  return it->second;
}

void Engine::record_rtt(ReceiverStats& rx, const wire::Header& h, std::uint64_t now_us) {
  if (h.echo_us != 0 && now_us >= h.echo_us && now_us - h.echo_us >= h.hold_us) {
    rx.rtt.record(now_us - h.echo_us - h.hold_us);
  }
}

void Engine::on_datagram(std::size_t j, std::span<const std::uint8_t> datagram,
                         std::uint64_t now_us) {
  ReceiverStats& rx = *rx_;
  Jammer& jammer = *jammers_[j];
  wire::PacketView view;
  const auto event = jammer.recv.session.receive(datagram, now_us, view);
  const wire::Header& h = view.header;
  switch (event) {
    case wire::ClientSession::Event::audio: {
      if (h.time_us > jammer.echo.server_time_us.load(std::memory_order_relaxed)) {
        jammer.echo.server_time_us.store(h.time_us, std::memory_order_relaxed);
        jammer.echo.server_rx_us.store(now_us, std::memory_order_relaxed);
      }
      const auto origin = origin_of(h.session_id);
      if (!origin) {
        ++rx.unknown_origin;
        return;
      }
      if (*origin == j) {
        ++rx.self_deliveries;
        return;
      }
      const Jammer& from = *jammers_[*origin];
      if (from.room != jammer.room) {
        ++rx.cross_room;
        return;
      }
      const auto verdict = jammer.recv.from[from.slot].note(h.sequence);
      if (verdict == SequenceTracker::Verdict::duplicate) {
        ++rx.duplicates;
        return;
      }
      if (verdict == SequenceTracker::Verdict::reordered) ++rx.reordered;
      ++rx.deliveries;
      if (!in_window(*origin, h.sequence)) return;
      ++rx.received;
      // Forwarded audio carries our own latest time_us and how long the server held it.
      record_rtt(rx, h, now_us);
      const std::uint64_t slot = ring_[*origin * kRingSize + (h.sequence & (kRingSize - 1))].load(
          std::memory_order_acquire);
      if ((slot & kRingSequenceMask) != (h.sequence & kRingSequenceMask)) {
        ++rx.unmatched;
        return;
      }
      const std::uint64_t sent_us = base_us_ + (slot >> kRingSequenceBits);
      const std::uint64_t latency = now_us > sent_us ? now_us - sent_us : 0;
      rx.latency.record(latency);
      rx.live.record(latency);
      return;
    }
    case wire::ClientSession::Event::echo: {
      if (h.time_us > jammer.echo.server_time_us.load(std::memory_order_relaxed)) {
        jammer.echo.server_time_us.store(h.time_us, std::memory_order_relaxed);
        jammer.echo.server_rx_us.store(now_us, std::memory_order_relaxed);
      }
      if (h.sequence > jammer.echo.echoed_sequence.load(std::memory_order_relaxed)) {
        jammer.echo.echoed_sequence.store(h.sequence, std::memory_order_relaxed);
      }
      if (!in_window(j, h.sequence)) return;
      ++rx.echoes;
      record_rtt(rx, h, now_us);
      return;
    }
    case wire::ClientSession::Event::notice:
      ++rx.notices;
      return;
    case wire::ClientSession::Event::welcomed:
    case wire::ClientSession::Event::rejected:
      ++rx.client_rejected;
      return;
  }
}

void Engine::receiver_main() {
  ReceiverStats& rx = *rx_;
  std::vector<std::array<std::uint8_t, kRecvBufferSize>> buffers(kRecvBatch);
  std::vector<std::array<std::uint8_t, kRecvControlSize>> controls(kRecvBatch);
  std::array<iovec, kRecvBatch> iov{};
  std::array<mmsghdr, kRecvBatch> messages{};
  for (std::size_t i = 0; i < kRecvBatch; ++i) {
    iov[i].iov_base = buffers[i].data();
    iov[i].iov_len = buffers[i].size();
    messages[i].msg_hdr.msg_iov = &iov[i];
    messages[i].msg_hdr.msg_iovlen = 1;
  }
  // Every socket the server could answer on: the jammers', then the junk ones.
  std::vector<int> fds;
  for (const auto& jammer : jammers_) fds.push_back(jammer->fd.get());
  for (const auto& fd : junk_fds_) fds.push_back(fd.get());

  std::uint64_t next_live_us = t0_ns_ / 1000 + 1'000'000;
  std::uint64_t tick = now_ns();
  while (!stop_receiver_.load(std::memory_order_relaxed)) {
    tick += kRecvPollNs;
    sleep_until_ns(tick);
    const std::int64_t realtime_offset_ns = realtime_minus_monotonic_ns();
    for (std::size_t index = 0; index < fds.size(); ++index) {
      const bool junk = index >= jammers_.size();
      for (;;) {
        for (std::size_t i = 0; i < kRecvBatch; ++i) {
          messages[i].msg_hdr.msg_control = controls[i].data();
          messages[i].msg_hdr.msg_controllen = controls[i].size();
        }
        const int got = ::recvmmsg(fds[index], messages.data(), kRecvBatch, MSG_DONTWAIT, nullptr);
        if (got <= 0) break;
        if (junk) {
          rx.junk_answers += static_cast<std::uint64_t>(got);
        } else {
          const std::uint64_t fallback_us = system::monotonic_us();
          for (int m = 0; m < got; ++m) {
            const auto i = static_cast<std::size_t>(m);
            const std::uint64_t arrival_us =
                kernel_arrival_us(messages[i].msg_hdr, realtime_offset_ns, fallback_us);
            on_datagram(index,
                        std::span<const std::uint8_t>(buffers[i].data(), messages[i].msg_len),
                        arrival_us);
          }
        }
        if (static_cast<std::size_t>(got) < kRecvBatch) break;
      }
    }
    live_deliveries_.store(rx.deliveries, std::memory_order_relaxed);
    if (options_.live) {
      const std::uint64_t now_us = system::monotonic_us();
      if (now_us >= next_live_us) {
        live_p99_.store(rx.live.percentile(0.99), std::memory_order_relaxed);
        rx.live.reset();
        next_live_us += 1'000'000;
      }
    }
    // Behind by more than a tick (descheduled): start the grid again from now.
    if (const std::uint64_t now = now_ns(); now > tick + kRecvPollNs) tick = now;
  }
}

// ---------------------------------------------------------------------------------------------
// Junk: paced in 1 ms ticks, sent in sendmmsg batches from sockets that are not members.

void Engine::junk_main() {
  std::vector<std::uint32_t> members;
  for (const auto& [session_id, jammer] : origins_) members.push_back(session_id);
  std::vector<std::vector<std::uint8_t>> bad_joins;
  for (const auto& room : options_.rooms) {
    // The right room, the wrong secret: the server must refuse it without an answer.
    wire::ClientSession impostor(room.name, "not-the-secret-of-" + room.name, shape_);
    std::vector<std::uint8_t> join(wire::kMaxDatagram);
    join.resize(impostor.make_join(join));
    bad_joins.push_back(std::move(join));
  }
  std::array<std::uint8_t, 8> seed_bytes{};
  crypto::random_bytes(seed_bytes);
  std::uint64_t seed = 0;
  std::memcpy(&seed, seed_bytes.data(), sizeof(seed));
  JunkGenerator generator(seed, std::move(members), std::move(bad_joins));

  std::vector<std::array<std::uint8_t, wire::kMaxDatagram>> buffers(kJunkBatch);
  std::array<iovec, kJunkBatch> iov{};
  std::array<mmsghdr, kJunkBatch> messages{};
  // What corrupted and replayed packets are made from: the newest capture whose echo has come
  // back, i.e. that the server has processed. A copy of a packet still queued at the server could
  // overtake its original and would rightly be taken for the member moving to a new address.
  std::array<std::uint8_t, wire::kMaxDatagram> captured{};
  std::size_t captured_size = 0;
  std::array<std::uint8_t, wire::kMaxDatagram> pending{};  // captured, echo not seen yet
  std::size_t pending_size = 0;
  std::size_t pending_jammer = 0;
  std::uint32_t pending_sequence = 0;
  std::uint64_t pending_since = 0;

  const std::uint64_t rate = options_.junk_rate;
  std::uint64_t sent = 0;
  std::size_t kind = 0;
  std::size_t socket = 0;
  std::uint64_t tick = t0_ns_;
  while (tick < window_end_ns_) {
    tick += 1'000'000;
    sleep_until_ns(tick);
    const std::uint64_t now = now_ns();
    if (pending_size != 0 && now - pending_since > 500'000'000) pending_size = 0;  // echo lost
    if (pending_size == 0) {
      std::lock_guard lock(capture_.mutex);
      if (capture_.size != 0 && capture_.sequence != pending_sequence) {
        pending_size = capture_.size;
        pending_jammer = capture_.jammer;
        pending_sequence = capture_.sequence;
        pending_since = now;
        std::memcpy(pending.data(), capture_.bytes.data(), pending_size);
      }
    }
    if (pending_size != 0 && jammers_[pending_jammer]->echo.echoed_sequence.load(
                                 std::memory_order_relaxed) >= pending_sequence) {
      captured = pending;
      captured_size = pending_size;
      pending_size = 0;
    }
    const std::uint64_t due = rate * (std::min(now, window_end_ns_) - t0_ns_) / kNsPerSecond;
    // Catch up after a stall, but never in one burst bigger than a few batches.
    std::uint64_t backlog = std::min<std::uint64_t>(due > sent ? due - sent : 0, 4 * kJunkBatch);
    while (backlog > 0) {
      const std::size_t batch =
          static_cast<std::size_t>(std::min<std::uint64_t>(backlog, kJunkBatch));
      std::array<std::size_t, kJunkBatch> kinds{};
      for (std::size_t i = 0; i < batch; ++i) {
        kinds[i] = kind;
        const std::size_t size = generator.make(
            static_cast<JunkKind>(kind),
            std::span<const std::uint8_t>(captured.data(), captured_size), buffers[i]);
        kind = (kind + 1) % kJunkKinds;
        iov[i].iov_base = buffers[i].data();
        iov[i].iov_len = size;
        messages[i] = mmsghdr{};
        messages[i].msg_hdr.msg_iov = &iov[i];
        messages[i].msg_hdr.msg_iovlen = 1;
      }
      const int done =
          ::sendmmsg(junk_fds_[socket].get(), messages.data(), static_cast<unsigned>(batch), 0);
      socket = (socket + 1) % junk_fds_.size();
      const std::size_t accepted = done > 0 ? static_cast<std::size_t>(done) : 0;
      for (std::size_t i = 0; i < accepted; ++i) ++junk_sent_[kinds[i]];
      sent += batch;  // what was refused by the kernel is not retried
      junk_errors_ += batch - accepted;
      backlog -= batch;
    }
  }
}

// ---------------------------------------------------------------------------------------------

void Engine::live_loop() {
  // Just after the receiver publishes each second's p99 (at t0 + k s), so the line shows it.
  std::uint64_t next = t0_ns_ + kNsPerSecond + kNsPerSecond / 20;
  std::uint64_t last_sent = 0;
  std::uint64_t last_expected = 0;
  std::uint64_t last_delivered = 0;
  unsigned second = 0;
  while (next <= window_end_ns_ + kNsPerSecond / 2) {
    sleep_until_ns(next);
    next += kNsPerSecond;
    ++second;
    const std::uint64_t sent = live_sent_.load(std::memory_order_relaxed);
    const std::uint64_t expected = live_expected_.load(std::memory_order_relaxed);
    const std::uint64_t delivered = live_deliveries_.load(std::memory_order_relaxed);
    const std::uint64_t want = expected - last_expected;
    const std::uint64_t got = delivered - last_delivered;
    const double loss = want == 0 || got >= want
                            ? 0.0
                            : 100.0 * static_cast<double>(want - got) / static_cast<double>(want);
    live_out_ << "jambox-loadgen: " << second << " s: sent " << (sent - last_sent)
              << " pkt/s, received " << got << " pkt/s, loss " << std::fixed << std::setprecision(3)
              << loss << " %, p99 " << live_p99_.load(std::memory_order_relaxed) << " us\n"
              << std::flush;
    last_sent = sent;
    last_expected = expected;
    last_delivered = delivered;
  }
}

std::string Engine::run() {
  open_sockets();
  join_all();
  // Joined: from here the receiver polls, and a socket in an epoll set would still cost the
  // server's send path a readiness callback per datagram.
  epoll_ = Fd();

  origins_.clear();
  first_audio_.clear();
  for (std::size_t j = 0; j < jammers_.size(); ++j) {
    origins_.emplace_back(jammers_[j]->send.session_id, j);
    first_audio_.push_back(jammers_[j]->send.next_sequence);
  }
  std::sort(origins_.begin(), origins_.end());
  ring_ = std::make_unique<std::atomic<std::uint64_t>[]>(jammers_.size() * kRingSize);

  const std::uint64_t frames_ns = std::uint64_t{options_.frames} * kNsPerSecond;
  t0_ns_ = now_ns() + kStartDelayNs;
  base_us_ = t0_ns_ / 1000;
  window_start_ns_ = t0_ns_ + packets_warmup_ * frames_ns / wire::kSampleRate;
  window_end_ns_ = t0_ns_ + (packets_warmup_ + packets_window_) * frames_ns / wire::kSampleRate;

  // Named, so `top -H` and perf tell the load generator's threads apart.
  std::thread receiver;
  if (!options_.send_only) {
    receiver = std::thread([this] {
      ::pthread_setname_np(::pthread_self(), "lg-receiver");
      receiver_main();
    });
  }
  std::thread sender([this] {
    ::pthread_setname_np(::pthread_self(), "lg-sender");
    sender_main();
  });
  std::thread junk;
  if (!junk_fds_.empty()) {
    junk = std::thread([this] {
      ::pthread_setname_np(::pthread_self(), "lg-junk");
      junk_main();
    });
  }
  std::thread live;
  if (options_.live) {
    live = std::thread([this] {
      ::pthread_setname_np(::pthread_self(), "lg-live");
      live_loop();
    });
  }

  sleep_until_ns(window_start_ns_);
  measured_start_ns_ = now_ns();
  if (options_.server_pid > 0) server_cpu_start_ = system::process_cpu_times(options_.server_pid);
  self_cpu_start_ = self_cpu_us();
  sleep_until_ns(window_end_ns_);
  measured_end_ns_ = now_ns();
  if (options_.server_pid > 0) server_cpu_end_ = system::process_cpu_times(options_.server_pid);
  self_cpu_end_ = self_cpu_us();

  sender.join();
  if (junk.joinable()) junk.join();
  sleep_until_ns(now_ns() + std::uint64_t{options_.drain_ms} * 1'000'000);
  stop_receiver_.store(true, std::memory_order_relaxed);
  if (receiver.joinable()) receiver.join();
  if (live.joinable()) live.join();

  for (std::size_t j = 0; j < jammers_.size(); ++j) send_control(j, wire::PacketType::leave);
  return results();
}

std::string Engine::results() const {
  const ReceiverStats& rx = *rx_;
  std::uint64_t expected = 0;
  for (const auto& jammer : jammers_) {
    if (options_.send_only) break;  // nothing is read, so nothing is expected
    expected += jammer->send.sent_in_window * (room_sizes_[jammer->room] - 1);
  }
  const std::uint64_t lost = expected > rx.received ? expected - rx.received : 0;
  const double window_s = static_cast<double>(measured_end_ns_ - measured_start_ns_) / 1e9;

  nlohmann::ordered_json out;
  out["jammers"] = jammers_.size();
  out["rooms"] = options_.rooms.size();
  out["seconds"] = options_.seconds;
  out["frames"] = options_.frames;
  out["room_audio"] = options_.room_audio;
  out["send_only"] = options_.send_only;
  out["sent"] = sent_window_;
  out["expected"] = expected;
  out["received"] = rx.received;
  out["lost"] = lost;
  out["loss_pct"] =
      expected == 0 ? 0.0 : 100.0 * static_cast<double>(lost) / static_cast<double>(expected);
  out["duplicates"] = rx.duplicates;
  out["reordered"] = rx.reordered;
  out["lat_us_p50"] = rx.latency.percentile(0.50);
  out["lat_us_p99"] = rx.latency.percentile(0.99);
  out["lat_us_p999"] = rx.latency.percentile(0.999);
  out["lat_us_max"] = rx.latency.max();
  out["lat_us_mean"] = std::round(rx.latency.mean() * 10.0) / 10.0;
  out["rtt_samples"] = rx.rtt.count();
  out["rtt_us_p50"] = rx.rtt.percentile(0.50);
  out["rtt_us_p99"] = rx.rtt.percentile(0.99);
  out["echoes"] = rx.echoes;
  out["forwarded_per_s"] =
      window_s > 0 ? std::round(static_cast<double>(rx.received) / window_s) : 0.0;
  if (server_cpu_start_ && server_cpu_end_ && window_s > 0) {
    const auto cpu_us =
        static_cast<double>((server_cpu_end_->total() - server_cpu_start_->total()).count());
    out["server_cpu_pct"] = std::round(cpu_us / (window_s * 1e6) * 1000.0) / 10.0;
    out["server_cpu_us_per_forwarded"] =
        rx.received == 0
            ? nlohmann::ordered_json(nullptr)
            : nlohmann::ordered_json(
                  std::round(cpu_us / static_cast<double>(rx.received) * 1000.0) / 1000.0);
  } else {
    out["server_cpu_pct"] = nullptr;
    out["server_cpu_us_per_forwarded"] = nullptr;
  }
  out["loadgen_cpu_pct"] = window_s > 0
                               ? std::round(static_cast<double>(self_cpu_end_ - self_cpu_start_) /
                                            (window_s * 1e6) * 1000.0) /
                                     10.0
                               : 0.0;
  std::uint64_t junk_total = 0;
  nlohmann::ordered_json junk = nlohmann::ordered_json::object();
  for (std::size_t k = 0; k < kJunkKinds; ++k) {
    junk_total += junk_sent_[k];
    junk[std::string(junk_name(static_cast<JunkKind>(k)))] = junk_sent_[k];
  }
  out["junk_sent"] = junk_total;
  out["junk"] = junk;
  out["junk_answers"] = rx.junk_answers;
  out["send_late_max_us"] = send_late_.max();
  out["send_late_p99_us"] = send_late_.percentile(0.99);
  out["send_errors"] = send_errors_ + junk_errors_;
  out["unmatched"] = rx.unmatched;
  out["notices"] = rx.notices;
  out["client_rejected"] = rx.client_rejected;
  out["unknown_origin"] = rx.unknown_origin;
  out["self_deliveries"] = rx.self_deliveries;
  out["cross_room"] = rx.cross_room;
  return out.dump();
}

}  // namespace

std::string run(const Options& options, std::ostream& live_out) {
  Engine engine(options, live_out);
  return engine.run();
}

}  // namespace jambox::loadgen
