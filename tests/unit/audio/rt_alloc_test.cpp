// Proof of the real-time rule: process() never touches the heap. A counting global operator
// new/delete (per thread) watches the audio thread while the engine runs 100,000 periods of 64
// frames with remotes joining, leaving, losing, duplicating and reordering packets, stream
// resyncs, malformed slots, a full room, control commands, snapshot readers and a meter reader
// that now and then stays away long enough for the meter history to overflow.
#include <jambox/audio/dsp.hpp>
#include <jambox/audio/engine.hpp>
#include <jambox/audio/meter_window.hpp>
#include <jambox/wire/packet.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>
#include <random>
#include <thread>
#include <vector>

namespace {

thread_local std::uint64_t t_allocations = 0;
thread_local std::uint64_t t_frees = 0;

void* counted_alloc(std::size_t n) {
  ++t_allocations;
  return std::malloc(n == 0 ? 1 : n);
}

void* counted_aligned(std::size_t n, std::align_val_t align) {
  ++t_allocations;
  const auto a = static_cast<std::size_t>(align);
  const std::size_t size = ((n == 0 ? 1 : n) + a - 1) / a * a;
  return std::aligned_alloc(a, size);
}

void counted_free(void* p) {
  if (p == nullptr) return;
  ++t_frees;
  std::free(p);
}

}  // namespace

void* operator new(std::size_t n) {
  if (void* p = counted_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = counted_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return counted_alloc(n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return counted_alloc(n);
}
void* operator new(std::size_t n, std::align_val_t a) {
  if (void* p = counted_aligned(n, a)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) {
  if (void* p = counted_aligned(n, a)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return counted_aligned(n, a);
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return counted_aligned(n, a);
}
void operator delete(void* p) noexcept {
  counted_free(p);
}
void operator delete[](void* p) noexcept {
  counted_free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  counted_free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  counted_free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  counted_free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  counted_free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  counted_free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  counted_free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  counted_free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  counted_free(p);
}

using namespace jambox;
using namespace jambox::audio;

TEST_CASE("the allocation hook counts allocations per thread", "[audio][rt]") {
  std::uint64_t seen = 0;
  std::thread t([&seen] {
    const std::uint64_t before = t_allocations;
    std::vector<int> v(100);
    v[5] = 1;
    seen = t_allocations - before;
  });
  t.join();
  CHECK(seen >= 1);
}

namespace {

struct Seat {
  bool on = false;
  std::uint32_t session = 0;
  std::uint32_t seq = 0;
  std::uint16_t frames = 64;
  std::uint64_t until = 0;  // period at which this session stops
  bool leave_by_command = false;
};

}  // namespace

TEST_CASE("process() never allocates: 100,000 periods of churn", "[audio][rt]") {
  EngineConfig cfg;
  cfg.remote_timeout_ms = 300;
  Engine engine(cfg);

  constexpr std::uint64_t kPeriods = 100000;
  constexpr std::uint32_t kFrames = 64;
  std::atomic<std::uint64_t> ready{0};  // periods the producer has fed
  std::atomic<std::uint64_t> done{0};   // periods the audio thread has processed
  std::atomic<std::uint64_t> audio_allocations{~0ULL};
  std::atomic<std::uint64_t> audio_frees{~0ULL};
  std::atomic<std::uint64_t> woken{0};

  std::thread audio([&] {
    std::vector<float> in1(kFrames), in2(kFrames), out1(kFrames), out2(kFrames);
    for (std::uint32_t i = 0; i < kFrames; ++i) {
      in1[i] = 0.5F * std::sin(0.05F * static_cast<float>(i));
      in2[i] = 0.25F;
    }
    const std::array<const float*, 2> ins{in1.data(), in2.data()};
    const std::array<float*, 2> outs{out1.data(), out2.data()};
    const std::uint64_t allocations_before = t_allocations;
    const std::uint64_t frees_before = t_frees;
    std::uint64_t wakes = 0;
    for (std::uint64_t p = 0; p < kPeriods; ++p) {
      while (ready.load(std::memory_order_acquire) <= p) std::this_thread::yield();
      const ProcessResult r = engine.process(ins, outs, kFrames, 1'000'000 + p * 1333);
      wakes += r.wake_network() ? 1U : 0U;
      done.store(p + 1, std::memory_order_release);
    }
    audio_allocations = t_allocations - allocations_before;
    audio_frees = t_frees - frees_before;
    woken = wakes;
  });

  std::mt19937_64 rng(1234);
  std::uniform_real_distribution<double> uni(0.0, 1.0);
  std::array<Seat, 8> seats{};  // 8 seats + a 16th jammer now and then
  std::uint32_t next_session = 1000;
  std::vector<InboundPacket> held;  // reordered / very late packets
  std::vector<float> a(256), b(256);
  std::uint64_t sent = 0;
  std::uint64_t max_concealed = 0, max_duplicates = 0, max_late = 0, max_resyncs = 0;
  std::uint64_t commands = 0;
  OutboundPacket out;

  // The meter reader takes a window every 100 periods for 10,000 periods, then stays away for
  // 10,000: far longer than the history holds, so the audio thread keeps overwriting a full ring.
  const std::uint64_t history_periods =
      MeterHistory::capacity_for(cfg.publish_frames) * cfg.publish_frames / kFrames;
  REQUIRE(history_periods < 10000);
  std::uint64_t meter_publications = 0;
  std::uint64_t meter_dropped = 0;
  std::uint64_t meter_windows_with_remotes = 0;
  std::uint64_t reader_allocations = 0;
  float input_peak_dbfs = kSilenceDbfs;
  auto take_window = [&] {
    const std::uint64_t before = t_allocations;
    const MeterWindow w = engine.take_meter_window();
    reader_allocations += t_allocations - before;
    meter_publications += w.publications;
    meter_dropped += w.dropped;
    input_peak_dbfs = std::max(input_peak_dbfs, w.inputs[0].peak_dbfs);
    meter_windows_with_remotes += std::any_of(w.remotes.begin(), w.remotes.end(),
                                              [](const RemoteLevel& r) { return r.active; })
                                      ? 1U
                                      : 0U;
  };

  auto make = [&](Seat& s, std::uint32_t seq) {
    InboundPacket p;
    p.session_id = s.session;
    p.sequence = seq;
    p.frames = s.frames;
    p.format = (s.session % 3 == 0) ? wire::SampleFormat::s24 : wire::SampleFormat::s16;
    p.has_room_clock = true;
    p.room_clock = seq * s.frames;
    p.arrival_us = 1'000'000 + sent * 1333;
    for (std::uint32_t i = 0; i < s.frames; ++i) {
      a[i] = 0.3F * std::sin(0.01F * static_cast<float>(seq * s.frames + i) +
                             static_cast<float>(s.session));
      b[i] = -a[i];
    }
    p.payload_len = static_cast<std::uint16_t>(wire::audio_payload_size(s.frames, 2, p.format));
    wire::encode_audio({a.data(), s.frames}, {b.data(), s.frames}, p.format,
                       {p.payload.data(), p.payload_len});
    return p;
  };
  auto push = [&](const InboundPacket& p) {
    if (engine.inbound().push(p)) ++sent;
  };

  for (std::uint64_t p = 0; p < kPeriods; ++p) {
    // Seats come and go.
    for (Seat& s : seats) {
      if (!s.on && uni(rng) < 0.0005) {
        s = Seat{true,
                 next_session++,
                 static_cast<std::uint32_t>(rng()),
                 64,
                 p + 2000 + static_cast<std::uint64_t>(uni(rng) * 20000),
                 uni(rng) < 0.5};
      }
      if (s.on && p >= s.until) {
        s.on = false;
        if (s.leave_by_command) {
          engine.post(Command::remote_leave(s.session));
          ++commands;
        }
      }
      if (!s.on) continue;
      // Now and then the sender changes packet size or jumps its sequence: resyncs.
      if (uni(rng) < 0.0002) s.frames = s.frames == 64 ? 128 : 64;
      if (uni(rng) < 0.0001) s.seq += 100000;
      if (s.frames == 128 && p % 2 == 1) continue;  // 128-frame packets every other period
      const double r = uni(rng);
      const InboundPacket pk = make(s, s.seq++);
      if (r < 0.02) continue;  // lost
      if (r < 0.03) {          // duplicated
        push(pk);
        push(pk);
      } else if (r < 0.05) {  // held back: reordered or late
        held.push_back(pk);
      } else {
        push(pk);
      }
    }
    if (!held.empty() && uni(rng) < 0.5) {
      push(held.front());
      held.erase(held.begin());
    }
    // A 16th jammer (no slot when the room is full), malformed slots, clock-only readings.
    if (uni(rng) < 0.001) {
      Seat extra{true, 99999, static_cast<std::uint32_t>(p), 64, 0, false};
      push(make(extra, extra.seq));
    }
    if (uni(rng) < 0.001) {
      InboundPacket bad;
      bad.session_id = 7;
      bad.frames = 64;
      bad.format = wire::SampleFormat::s16;
      bad.payload_len = 3;
      push(bad);
    }
    if (p % 16 == 0) {
      InboundPacket clock;
      clock.has_room_clock = true;
      clock.room_clock = static_cast<std::uint32_t>(p * kFrames);
      push(clock);
    }
    // Control traffic.
    if (p % 97 == 0) {
      const std::uint32_t who = seats[p % seats.size()].session;
      switch ((p / 97) % 9) {
        case 0:
          engine.post(Command::remote_gain(who, static_cast<float>(uni(rng) * 12.0 - 9.0)));
          break;
        case 1:
          engine.post(Command::remote_pan(who, static_cast<float>(uni(rng) * 2.0 - 1.0)));
          break;
        case 2:
          engine.post(Command::remote_mute(who, uni(rng) < 0.5));
          break;
        case 3:
          engine.post(Command::master_gain(static_cast<float>(-uni(rng) * 6.0)));
          break;
        case 4:
          engine.post(Command::monitor(uni(rng) < 0.7, -3.0F, 0.2F));
          break;
        case 5:
          engine.post(
              Command::input_mute_to_room(static_cast<std::uint32_t>(p % 2), uni(rng) < 0.5));
          break;
        case 6:
          engine.post(
              Command::jitter(1.0F + static_cast<float>(uni(rng) * 3.0), 40.0F, uni(rng) < 0.8));
          break;
        case 7:
          // Mostly on: the input copy for the tuner is written in most periods.
          engine.post(Command::tuner(static_cast<std::uint32_t>(p % 2), uni(rng) < 0.8));
          break;
        default:
          engine.post(Command::metronome(uni(rng) < 0.8,
                                         90.0F + static_cast<float>(uni(rng) * 60.0), -10.0F, 4));
          break;
      }
      ++commands;
      if (p % (97 * 50) == 0) engine.post(Command::remote_join(next_session++));
    }
    ready.store(p + 1, std::memory_order_release);
    // Consume what the audio thread sent, read the snapshot now and then.
    while (done.load(std::memory_order_acquire) < p + 1) {
      while (engine.outbound().pop(out)) {
      }
      std::this_thread::yield();
    }
    const std::uint64_t phase = p % 20000;
    if (phase < 10000 ? p % 100 == 99 : phase == 19999) take_window();
    if (p % 1000 == 999) {
      const Snapshot snap = engine.snapshot();
      for (const RemoteStats& rs : snap.remotes) {
        max_concealed = std::max(max_concealed, rs.jitter.concealed);
        max_duplicates = std::max(max_duplicates, rs.jitter.duplicates);
        max_late = std::max(max_late, rs.jitter.late);
        max_resyncs = std::max(max_resyncs, rs.jitter.resyncs);
      }
    }
  }
  audio.join();
  while (engine.outbound().pop(out)) {
  }
  take_window();

  // The proof.
  CHECK(audio_allocations.load() == 0);
  CHECK(audio_frees.load() == 0);

  // And the churn really happened.
  const Snapshot snap = engine.snapshot();
  CHECK(snap.engine.periods == kPeriods);
  CHECK(snap.engine.packets_sent + snap.engine.outbound_dropped == kPeriods);
  CHECK(woken.load() == snap.engine.packets_sent);
  CHECK(snap.engine.remotes_joined >= 10);
  CHECK(snap.engine.remotes_released >= 5);
  CHECK(snap.engine.inbound_rejected > 0);
  CHECK(snap.engine.commands >= commands);
  CHECK(max_concealed > 0);
  CHECK(max_duplicates > 0);
  CHECK(max_late > 0);
  CHECK(max_resyncs > 0);
  CHECK(sent > 100000);

  // The meter history overflowed, every publication was either folded into a window or counted
  // as lost, and taking windows did not allocate either.
  CHECK(meter_dropped > 0);
  CHECK(meter_publications + meter_dropped == snap.sequence);
  CHECK(meter_windows_with_remotes > 0);
  CHECK(reader_allocations == 0);
  float peak = 0.0F;
  for (std::uint32_t i = 0; i < kFrames; ++i)
    peak = std::max(peak, std::fabs(0.5F * std::sin(0.05F * static_cast<float>(i))));
  CHECK(input_peak_dbfs == Approx(amplitude_to_dbfs(peak)).margin(0.01));
}
