#pragma once
// The packets of a box's room session: the socket, the session's seal and open state and the
// per-packet counters, owned by one thread at a time.
//
// The network loop (JamLink) owns the plane while it resolves, joins and waits, and whenever
// JACK is not running. Once the box is in the room and the audio thread runs, the loop offers
// the plane, stops watching the socket, and the audio thread takes it at the start of its next
// period. From then on each period is: drain the socket (recvmmsg, MSG_DONTWAIT, a bounded number
// of calls), authenticate and open what arrived and queue it for the engine; the engine's
// process(); seal what the engine queued and send it (one sendmmsg). No thread is woken for a
// packet in either direction, which is what a per-packet network thread spent most of its time
// on (docs/sound-loop.md has the measurements).
//
// The baton: the audio thread marks itself inside a period (`in_period_`) and then checks that
// the plane is offered; the loop withdraws the offer and then waits until the audio thread is
// outside a period. Both sides store before they load, sequentially consistent, so at least one
// of them sees the other (Dekker): the audio thread never waits, the loop waits at most for the
// rest of one period's processing. Everything else needs no synchronisation because only the
// holder touches it; the counters are atomics because any thread reads them for the status.
//
// Session notices (room closed, server stopping) the audio thread authenticates are left for the
// loop (take_notice()); the loop handles everything rare: JOIN, WELCOME, backoff, LEAVE.

#include <jambox/audio/queues.hpp>
#include <jambox/net/batch.hpp>
#include <jambox/net/endpoint.hpp>
#include <jambox/net/polled_socket.hpp>
#include <jambox/wire/session.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>

namespace jambox::box {

// Written only by the plane's holder; read by any thread.
struct PacketCounters {
  std::atomic<std::uint64_t> audio_sent{0};
  std::atomic<std::uint64_t> keepalives_sent{0};
  std::atomic<std::uint64_t> send_dropped{0};
  std::atomic<std::uint64_t> outbound_skipped{0};
  std::atomic<std::uint64_t> audio_received{0};
  std::atomic<std::uint64_t> echoes{0};
  std::atomic<std::uint64_t> rejected{0};
  std::atomic<std::uint64_t> room_key_rejected{0};
  std::atomic<std::uint64_t> inbound_dropped{0};
  std::atomic<std::uint32_t> rtt_us{0};
  // Periods in which the audio thread held the plane (tests and the status see who carries).
  std::atomic<std::uint64_t> audio_thread_periods{0};
};

class DataPlane {
 public:
  // What the loop must act on, from a datagram the loop itself received.
  enum class Heard : std::uint8_t { welcomed, notice };

  DataPlane(audio::InboundQueue& inbound, audio::OutboundQueue& outbound);
  DataPlane(const DataPlane&) = delete;
  DataPlane& operator=(const DataPlane&) = delete;
  ~DataPlane();

  // --- the baton -----------------------------------------------------------------------------
  // Loop thread: the audio thread may take the plane at its next period. The loop must not touch
  // anything below "holder only" until recall().
  void offer() noexcept;
  // Loop thread: takes the plane back; returns once the audio thread is outside any period that
  // holds it. Cheap when nothing was offered.
  void recall() noexcept;
  [[nodiscard]] bool offered() const noexcept { return offered_.load(std::memory_order_relaxed); }

  // Audio thread, around the engine's process(). begin_period() takes the plane when offered and
  // drains the socket into the engine's inbound ring; end_period() sends what the engine queued.
  void begin_period(std::uint64_t now_us) noexcept;
  void end_period(std::uint64_t now_us) noexcept;
  // Any thread: when the audio thread last began a period (monotonic µs; 0: never).
  [[nodiscard]] std::uint64_t last_period_us() const noexcept {
    return last_period_us_.load(std::memory_order_relaxed);
  }
  // Loop thread, holding the plane: whether the audio thread left a session notice (the code is
  // session()->last_notice()); clears it.
  bool take_notice() noexcept { return notice_pending_.exchange(false, std::memory_order_acquire); }

  // --- holder only ---------------------------------------------------------------------------
  [[nodiscard]] wire::ClientSession* session() noexcept { return session_.get(); }
  [[nodiscard]] const wire::ClientSession* session() const noexcept { return session_.get(); }
  void set_session(std::unique_ptr<wire::ClientSession> session) noexcept;
  // Forgets the session's admission (session()->reset()) and its round trip.
  void reset_session() noexcept;
  // (Re)connects the socket to `server` (throws std::system_error naming it).
  void connect(const net::Endpoint& server);
  [[nodiscard]] bool socket_open() const noexcept { return socket_.is_open(); }
  [[nodiscard]] int socket_fd() const noexcept { return socket_.fd(); }
  [[nodiscard]] net::Endpoint local_endpoint() const { return socket_.local_endpoint(); }
  // Audio goes out only while admitted to the room (the loop's `joined`).
  void set_sending(bool on) noexcept { sending_ = on; }
  void set_keepalive_interval_us(std::uint64_t us) noexcept { keepalive_us_ = us; }

  // Receives everything pending (bounded) and handles it; `loop` receives what needs the loop.
  void receive_all(std::uint64_t now_us, const std::function<void(Heard)>& loop);
  // Seals and sends the engine's queued packets (skipped and counted when not sending).
  void send_outbound(std::uint64_t now_us) noexcept;
  // Drops the engine's queued packets, counted (nobody may send them).
  void discard_outbound() noexcept;
  bool send_join();
  bool send_keepalive(std::uint64_t now_us) noexcept;
  void send_leave(std::uint64_t now_us) noexcept;

  // Times of the latest authenticated server packet, audio heard and packet sent (any thread).
  [[nodiscard]] std::uint64_t last_rx_us() const noexcept {
    return last_rx_us_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::uint64_t last_send_us() const noexcept {
    return last_send_us_.load(std::memory_order_relaxed);
  }
  void mark_rx(std::uint64_t now_us) noexcept {
    last_rx_us_.store(now_us, std::memory_order_relaxed);
  }

  [[nodiscard]] const PacketCounters& counters() const noexcept { return counters_; }

 private:
  enum class Owner : std::uint8_t { loop, audio_thread };
  void receive_batches(std::uint64_t now_us, Owner owner, const std::function<void(Heard)>* loop);
  void handle(std::span<const std::uint8_t> datagram, std::uint64_t now_us, Owner owner,
              const std::function<void(Heard)>* loop) noexcept;
  void deliver_audio(const wire::PacketView& view, std::uint64_t now_us) noexcept;
  void deliver_echo_clock(const wire::PacketView& view, std::uint64_t now_us) noexcept;
  void flush() noexcept;
  void sent(std::uint64_t now_us) noexcept {
    last_send_us_.store(now_us, std::memory_order_relaxed);
  }

  audio::InboundQueue& inbound_;
  audio::OutboundQueue& outbound_;
  std::unique_ptr<wire::ClientSession> session_;
  net::PolledSocket socket_;
  net::ReceiveBatch receive_batch_;
  net::SendBatch send_batch_;
  bool sending_ = false;
  std::uint64_t keepalive_us_ = 100'000;
  std::uint64_t last_audio_rx_us_ = 0;
  std::uint64_t last_clock_push_us_ = 0;
  audio::InboundPacket scratch_;
  audio::InboundPacket clock_slot_;  // frames 0: clock only

  std::atomic<bool> offered_{false};
  std::atomic<bool> in_period_{false};
  bool audio_thread_holds_ = false;  // audio thread's own: it took the plane this period
  std::atomic<bool> notice_pending_{false};
  std::atomic<std::uint64_t> last_period_us_{0};
  std::atomic<std::uint64_t> last_rx_us_{0};
  std::atomic<std::uint64_t> last_send_us_{0};
  PacketCounters counters_;
};

}  // namespace jambox::box
