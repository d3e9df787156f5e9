#include "data_plane.hpp"

#include <cstring>
#include <ctime>
#include <thread>

namespace jambox::box {
namespace {

constexpr std::size_t kBatch = 32;
// recvmmsg calls per period on the audio thread: 4 x 32 datagrams is 18 remotes' worth of
// 32-frame packets in a 256-frame period, and the engine's inbound ring takes 512. A flood
// beyond that waits in the socket buffer (and is dropped by the kernel) instead of costing the
// period.
constexpr int kAudioThreadReceiveCalls = 4;
// The loop is not real-time; it still stops after this many and picks the rest up when the
// socket reports readable again.
constexpr int kLoopReceiveCalls = 16;

// Datagrams are read once a period, but the jitter buffer's statistics and the round trip want
// the moment each one arrived: the kernel's receive timestamp (CLOCK_REALTIME) moved onto our
// monotonic clock by the offset between the two clocks read now.
class ArrivalClock {
 public:
  explicit ArrivalClock(std::uint64_t now_us) noexcept : now_us_(now_us) {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    real_now_ns_ = static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  }
  // `received_ns`: the kernel's stamp, 0 when missing. A stamp from the future or older than a
  // second (the wall clock was stepped in between) counts as now.
  [[nodiscard]] std::uint64_t arrival_us(std::int64_t received_ns) const noexcept {
    if (received_ns == 0 || received_ns > real_now_ns_) return now_us_;
    const auto waited_us = static_cast<std::uint64_t>((real_now_ns_ - received_ns) / 1000);
    return waited_us < 1'000'000 && waited_us < now_us_ ? now_us_ - waited_us : now_us_;
  }

 private:
  std::uint64_t now_us_;
  std::int64_t real_now_ns_ = 0;
};

void bump(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) noexcept {
  // One writer at a time (the holder), so no read-modify-write instruction is needed.
  counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

}  // namespace

DataPlane::DataPlane(audio::InboundQueue& inbound, audio::OutboundQueue& outbound)
    : inbound_(inbound),
      outbound_(outbound),
      receive_batch_(kBatch, wire::kMaxDatagram + 1, true),
      send_batch_(kBatch, wire::kMaxDatagram) {}

DataPlane::~DataPlane() {
  recall();
}

// --- the baton --------------------------------------------------------------------------------

void DataPlane::offer() noexcept {
  offered_.store(true, std::memory_order_seq_cst);
}

void DataPlane::recall() noexcept {
  if (!offered_.load(std::memory_order_relaxed)) return;
  offered_.store(false, std::memory_order_seq_cst);
  // The audio thread finishes the period it is in (tens of microseconds of work, bounded) and
  // will not take the plane again: its next begin_period() sees the offer withdrawn.
  while (in_period_.load(std::memory_order_seq_cst)) std::this_thread::yield();
}

void DataPlane::begin_period(std::uint64_t now_us) noexcept {
  last_period_us_.store(now_us, std::memory_order_relaxed);
  in_period_.store(true, std::memory_order_seq_cst);
  if (!offered_.load(std::memory_order_seq_cst)) {
    in_period_.store(false, std::memory_order_release);
    audio_thread_holds_ = false;
    return;
  }
  audio_thread_holds_ = true;
  bump(counters_.audio_thread_periods);
  receive_batches(now_us, Owner::audio_thread, nullptr);
}

void DataPlane::end_period(std::uint64_t now_us) noexcept {
  if (!audio_thread_holds_) return;
  send_outbound(now_us);
  // No audio went out for a while (the engine queued none): stay a member.
  if (now_us - last_send_us_.load(std::memory_order_relaxed) >= keepalive_us_) {
    (void)send_keepalive(now_us);
  }
  audio_thread_holds_ = false;
  in_period_.store(false, std::memory_order_release);
}

// --- holder only ------------------------------------------------------------------------------

void DataPlane::set_session(std::unique_ptr<wire::ClientSession> session) noexcept {
  session_ = std::move(session);
}

void DataPlane::reset_session() noexcept {
  if (session_) session_->reset();
  counters_.rtt_us.store(0, std::memory_order_relaxed);
}

void DataPlane::connect(const net::Endpoint& server) {
  socket_.open(server, true);
}

void DataPlane::receive_all(std::uint64_t now_us, const std::function<void(Heard)>& loop) {
  receive_batches(now_us, Owner::loop, &loop);
}

void DataPlane::receive_batches(std::uint64_t now_us, Owner owner,
                                const std::function<void(Heard)>* loop) {
  if (!socket_.is_open()) return;
  const int calls = owner == Owner::audio_thread ? kAudioThreadReceiveCalls : kLoopReceiveCalls;
  for (int call = 0; call < calls; ++call) {
    std::error_code ec;
    const std::size_t n = socket_.receive(receive_batch_, ec);
    if (ec || n == 0) return;
    const ArrivalClock clock(now_us);
    for (std::size_t i = 0; i < n; ++i) {
      if (receive_batch_.truncated(i) ||
          net::unmapped(receive_batch_.source(i)) != socket_.peer()) {
        bump(counters_.rejected);
        continue;
      }
      handle(receive_batch_.data(i), clock.arrival_us(receive_batch_.received_at_ns(i)), owner,
             loop);
    }
    // A partial batch emptied the socket: asking again would only cost a system call that
    // returns EAGAIN.
    if (n < receive_batch_.capacity()) return;
  }
}

void DataPlane::handle(std::span<const std::uint8_t> datagram, std::uint64_t now_us, Owner owner,
                       const std::function<void(Heard)>* loop) noexcept {
  if (!session_) {
    bump(counters_.rejected);  // nothing can be authentic before we joined anything
    return;
  }
  wire::PacketView view;
  if (owner == Owner::audio_thread) {
    // The audio thread handles what a member receives in the room. A WELCOME or a reply to a
    // JOIN cannot be for it (it holds the plane only while admitted), and handling one would
    // derive keys, which allocates.
    if (wire::decode(datagram, view) != wire::Reject::none ||
        !(view.header.type == wire::PacketType::audio ||
          view.header.type == wire::PacketType::echo ||
          (view.header.type == wire::PacketType::notice && view.header.session_id != 0))) {
      bump(counters_.rejected);
      return;
    }
  }
  switch (session_->receive(datagram, now_us, view)) {
    case wire::ClientSession::Event::rejected:
      bump(counters_.rejected);
      if (session_->last_reject() == wire::Reject::room_key) bump(counters_.room_key_rejected);
      return;
    case wire::ClientSession::Event::welcomed:
      mark_rx(now_us);
      if (loop != nullptr) (*loop)(Heard::welcomed);
      return;
    case wire::ClientSession::Event::notice:
      mark_rx(now_us);
      if (owner == Owner::audio_thread) {
        notice_pending_.store(true, std::memory_order_release);
      } else if (loop != nullptr) {
        (*loop)(Heard::notice);
      }
      return;
    case wire::ClientSession::Event::audio:
      mark_rx(now_us);
      counters_.rtt_us.store(session_->rtt_us(), std::memory_order_relaxed);
      deliver_audio(view, now_us);
      return;
    case wire::ClientSession::Event::echo:
      mark_rx(now_us);
      counters_.rtt_us.store(session_->rtt_us(), std::memory_order_relaxed);
      bump(counters_.echoes);
      deliver_echo_clock(view, now_us);
      return;
  }
}

void DataPlane::deliver_audio(const wire::PacketView& view, std::uint64_t now_us) noexcept {
  last_audio_rx_us_ = now_us;
  bump(counters_.audio_received);
  const wire::Header& h = view.header;
  scratch_.session_id = h.session_id;
  scratch_.sequence = h.sequence;
  scratch_.frames = h.frames;
  scratch_.format = h.format;
  scratch_.has_room_clock = h.room_clock != 0;
  scratch_.room_clock = h.room_clock;
  scratch_.arrival_us = now_us;
  scratch_.payload_len = static_cast<std::uint16_t>(view.payload.size());
  std::memcpy(scratch_.payload.data(), view.payload.data(), view.payload.size());
  if (!inbound_.push(scratch_)) bump(counters_.inbound_dropped);
}

void DataPlane::deliver_echo_clock(const wire::PacketView& view, std::uint64_t now_us) noexcept {
  // A lone jammer hears no audio that could carry the room clock: hand the echo's reading over
  // instead, at most every few periods.
  const std::uint32_t clock = view.header.room_clock;
  if (clock == 0 || now_us - last_audio_rx_us_ <= 50000 || now_us - last_clock_push_us_ <= 10000) {
    return;
  }
  clock_slot_.has_room_clock = true;
  clock_slot_.room_clock = clock;
  clock_slot_.arrival_us = now_us;
  if (inbound_.push(clock_slot_)) last_clock_push_us_ = now_us;
}

void DataPlane::send_outbound(std::uint64_t now_us) noexcept {
  const wire::ClientSession* s = session_.get();
  const bool admitted = sending_ && s != nullptr && s->admitted();
  const wire::AudioShape shape = s != nullptr ? s->shape() : wire::AudioShape{};
  const std::size_t payload = wire::audio_payload_size(shape.frames, shape.channels, shape.format);
  outbound_.consume_all([&](const audio::OutboundPacket& p) {
    if (!admitted || p.frames != shape.frames || p.format != shape.format ||
        p.payload_len != payload) {
      bump(counters_.outbound_skipped);
      return;
    }
    if (send_batch_.full()) flush();
    auto buf = send_batch_.prepare();
    std::memcpy(buf.data() + session_->audio_offset(), p.payload.data(), p.payload_len);
    const std::size_t n = session_->seal_audio_in_place(now_us, buf);
    if (n == 0 || !send_batch_.commit(n, socket_.peer())) {
      bump(counters_.outbound_skipped);
      return;
    }
    bump(counters_.audio_sent);
    sent(now_us);
  });
  flush();
}

void DataPlane::discard_outbound() noexcept {
  outbound_.consume_all([&](const audio::OutboundPacket&) { bump(counters_.outbound_skipped); });
}

void DataPlane::flush() noexcept {
  if (send_batch_.empty()) return;
  if (!socket_.is_open()) {
    bump(counters_.send_dropped, send_batch_.size());
    send_batch_.clear();
    return;
  }
  const net::SendResult r = socket_.send(send_batch_);
  if (r.dropped != 0) bump(counters_.send_dropped, r.dropped);
}

bool DataPlane::send_join() {
  if (!session_ || !socket_.is_open()) return false;
  auto buf = send_batch_.prepare();
  const std::size_t n = session_->make_join(buf);
  if (n == 0 || !send_batch_.commit(n, socket_.peer())) return false;
  flush();
  return true;
}

bool DataPlane::send_keepalive(std::uint64_t now_us) noexcept {
  if (!session_ || !socket_.is_open()) return false;
  auto buf = send_batch_.prepare();
  const std::size_t n = session_->make_keepalive(now_us, buf);
  if (n == 0 || !send_batch_.commit(n, socket_.peer())) return false;
  bump(counters_.keepalives_sent);
  sent(now_us);
  flush();
  return true;
}

void DataPlane::send_leave(std::uint64_t now_us) noexcept {
  if (!session_ || !session_->admitted() || !socket_.is_open()) return;
  auto buf = send_batch_.prepare();
  const std::size_t n = session_->make_leave(now_us, buf);
  if (n > 0 && send_batch_.commit(n, socket_.peer())) flush();
}

}  // namespace jambox::box
