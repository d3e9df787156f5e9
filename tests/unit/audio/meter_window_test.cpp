// Meter windows: the levels over everything the engine published since the reader's previous
// take. The history ring on its own (exact folding, overflow, a reader racing the writer), then
// the engine end to end: a click between publications, exact RMS, overflow, remotes coming and
// going within a window.
#include <jambox/audio/dsp.hpp>
#include <jambox/audio/engine.hpp>
#include <jambox/audio/meter_window.hpp>
#include <jambox/wire/packet.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <numbers>
#include <random>
#include <thread>
#include <vector>

using namespace jambox;
using namespace jambox::audio;

namespace {

constexpr std::uint32_t kPeriod = 64;
constexpr std::uint32_t kPublish = 1024;  // EngineConfig's default: a publication every 16 periods
constexpr std::uint32_t kPeriodsPerPublication = kPublish / kPeriod;

float sine_at(double freq, double amplitude, std::uint64_t k) {
  return static_cast<float>(
      amplitude * std::sin(2.0 * std::numbers::pi * freq * static_cast<double>(k) / 48000.0));
}

double dbfs(double amplitude) {
  return 20.0 * std::log10(amplitude);
}

void check_silent(const Level& level) {
  CHECK(level.peak_dbfs == kSilenceDbfs);
  CHECK(level.rms_dbfs == kSilenceDbfs);
}

void check_empty(const MeterWindow& w) {
  CHECK(w.publications == 0);
  CHECK(w.dropped == 0);
  for (const Level& l : w.inputs) check_silent(l);
  for (const Level& l : w.master) check_silent(l);
  for (const RemoteLevel& r : w.remotes) CHECK_FALSE(r.active);
}

const RemoteLevel* find(const MeterWindow& w, std::uint32_t session) {
  const RemoteLevel* found = nullptr;
  for (const RemoteLevel& r : w.remotes) {
    if (!r.active || r.session_id != session) continue;
    CHECK(found == nullptr);  // each session at most once
    found = &r;
  }
  return found;
}

MeterSum sum_of(const std::vector<float>& x) {
  MeterSum s;
  for (const float v : x) {
    s.peak = std::max(s.peak, std::fabs(v));
    s.sum_squares += static_cast<double>(v) * static_cast<double>(v);
    ++s.count;
  }
  return s;
}

// Drives an engine 64 frames at a time, with remotes sending one packet per period.
struct Rig {
  explicit Rig(EngineConfig cfg = {}) : engine(cfg) {}

  Engine engine;
  std::vector<float> in1 = std::vector<float>(kPeriod, 0.0F);
  std::vector<float> in2 = std::vector<float>(kPeriod, 0.0F);
  std::uint64_t frame = 0;
  std::uint64_t periods = 0;

  [[nodiscard]] std::uint64_t now_us() const { return 1'000'000 + frame * 1'000'000 / 48000; }

  void run() {
    std::array<float, kPeriod> l{}, r{};
    const std::array<const float*, 2> ins{in1.data(), in2.data()};
    const std::array<float*, 2> outs{l.data(), r.data()};
    (void)engine.process(ins, outs, kPeriod, now_us());
    OutboundPacket p;
    while (engine.outbound().pop(p)) {
    }
    frame += kPeriod;
    ++periods;
  }

  void post(const Command& c) { REQUIRE(engine.post(c)); }

  // A 750 Hz tone of `amplitude` on both channels: a whole cycle per 64 frames, so its peak is
  // met exactly in every packet.
  void receive(std::uint32_t session, std::uint32_t sequence, double amplitude) {
    InboundPacket p;
    p.session_id = session;
    p.sequence = sequence;
    p.frames = kPeriod;
    p.format = wire::SampleFormat::f32;
    p.arrival_us = now_us() - 300;
    std::array<float, kPeriod> a{};
    for (std::uint32_t i = 0; i < kPeriod; ++i) {
      a[i] = sine_at(750.0, amplitude, static_cast<std::uint64_t>(sequence) * kPeriod + i);
    }
    p.payload_len = static_cast<std::uint16_t>(wire::audio_payload_size(kPeriod, 2, p.format));
    wire::encode_audio(a, a, p.format, {p.payload.data(), p.payload_len});
    REQUIRE(engine.inbound().push(p));
  }
};

MeterPublication publication_with(float peak, double sum_squares, std::uint64_t count) {
  MeterPublication p;
  for (MeterSum& s : p.inputs) s = MeterSum{peak, sum_squares, count};
  for (MeterSum& s : p.master) s = MeterSum{peak, sum_squares, count};
  return p;
}

}  // namespace

TEST_CASE("meter history keeps at least 2.5 s of publications", "[audio][meter]") {
  for (const std::uint32_t publish : {64U, 100U, 1024U, 4800U, 48000U}) {
    INFO("publish_frames " << publish);
    const std::size_t capacity = MeterHistory::capacity_for(publish);
    CHECK(capacity * publish >= kMeterHistoryFrames);
    CHECK(kMeterHistoryFrames >= 48000U * 5 / 2);
    CHECK((capacity & (capacity - 1)) == 0);  // a power of two
    // Not wildly more than needed.
    CHECK(capacity < 2 * (kMeterHistoryFrames / publish + 1));
  }
  CHECK(MeterHistory(MeterHistory::capacity_for(kPublish)).capacity() == 128);
}

TEST_CASE("meter history folds peaks and sums exactly and drops the oldest on overflow",
          "[audio][meter]") {
  MeterHistory history(8);
  check_empty(history.take());

  // Three publications: the peak is the largest, the RMS the summed squares over the count.
  history.push(publication_with(0.5F, 10.0, 100));
  history.push(publication_with(0.25F, 30.0, 100));
  MeterPublication third = publication_with(0.125F, 0.0, 200);
  third.remotes[3] = RemoteSum{true, 77, MeterSum{0.75F, 8.0, 50}};
  history.push(third);
  MeterWindow w = history.take();
  CHECK(w.publications == 3);
  CHECK(w.dropped == 0);
  for (const Level& l : w.inputs) {
    CHECK(l.peak_dbfs == Approx(dbfs(0.5)).margin(1e-4));
    CHECK(l.rms_dbfs == Approx(10.0 * std::log10(40.0 / 400.0)).margin(1e-4));
  }
  CHECK(w.master[1].rms_dbfs == Approx(-10.0).margin(1e-4));
  const RemoteLevel* r = find(w, 77);
  REQUIRE(r != nullptr);
  CHECK(r->level.peak_dbfs == Approx(dbfs(0.75)).margin(1e-4));
  CHECK(r->level.rms_dbfs == Approx(10.0 * std::log10(8.0 / 50.0)).margin(1e-4));
  check_empty(history.take());

  // 8 + 5 publications unread: the 5 oldest (the loud ones) are lost and counted.
  for (int i = 0; i < 5; ++i) history.push(publication_with(1.0F, 100.0, 100));
  for (int i = 0; i < 7; ++i) history.push(publication_with(0.1F, 1.0, 100));
  history.push(publication_with(0.2F, 1.0, 100));  // the newest
  w = history.take();
  CHECK(w.publications == 8);
  CHECK(w.dropped == 5);
  CHECK(w.inputs[0].peak_dbfs == Approx(dbfs(0.2)).margin(1e-4));
  CHECK(w.inputs[0].rms_dbfs == Approx(10.0 * std::log10(8.0 / 800.0)).margin(1e-4));
  check_empty(history.take());
}

TEST_CASE("meter history: more sessions than slots in one window keeps the recent ones",
          "[audio][meter]") {
  MeterHistory history(64);
  // 15 sessions present, then each one replaced by a newcomer, one per publication.
  for (std::uint32_t step = 0; step <= kMaxRemotes; ++step) {
    MeterPublication p;
    for (std::uint32_t slot = 0; slot < kMaxRemotes; ++slot) {
      const std::uint32_t session = slot < step ? 1000 + slot : 100 + slot;
      p.remotes[slot] = RemoteSum{true, session, MeterSum{0.5F, 1.0, 10}};
    }
    history.push(p);
  }
  const MeterWindow w = history.take();
  CHECK(w.publications == kMaxRemotes + 1);
  // Everyone present at the end is listed; the leavers gave way.
  for (std::uint32_t slot = 0; slot < kMaxRemotes; ++slot) {
    INFO("slot " << slot);
    CHECK(find(w, 1000 + slot) != nullptr);
  }
}

TEST_CASE("meter history: a reader racing the writer never folds a torn entry",
          "[audio][meter][threads]") {
  // A small ring so the writer laps the reader often, overwriting slots while they are read.
  MeterHistory history(4);
  // The writer keeps going until the reader has folded many windows, however the two threads are
  // scheduled (both yield now and then, so they interleave even on one core), and the reader
  // until the writer is done.
  std::atomic<std::uint64_t> windows{0};
  std::atomic<bool> writer_done{false};
  std::uint64_t pushed = 0;
  std::thread writer([&] {
    std::uint64_t n = 0;
    for (; n < 100000 || windows.load(std::memory_order_relaxed) < 2000; ++n) {
      // Every sum of an entry is the same function of n: a torn copy mixes two entries.
      const float peak = static_cast<float>(n % 1000 + 1) / 1000.0F;
      MeterPublication p = publication_with(peak, static_cast<double>(n % 777), 1 + n % 5);
      p.remotes[n % kMaxRemotes] = RemoteSum{true, 9, p.inputs[0]};
      history.push(p);
      if (n % 16 == 15) std::this_thread::yield();
    }
    pushed = n;
    writer_done.store(true, std::memory_order_release);
  });
  std::uint64_t accounted = 0;
  std::uint64_t folded = 0;
  std::uint64_t mismatches = 0;
  auto take = [&] {
    const MeterWindow w = history.take();
    accounted += w.publications + w.dropped;
    folded += w.publications;
    if (w.publications == 0) {
      std::this_thread::yield();
      return;
    }
    windows.fetch_add(1, std::memory_order_relaxed);
    const RemoteLevel* r = find(w, 9);
    const bool same = w.inputs[1].peak_dbfs == w.inputs[0].peak_dbfs &&
                      w.inputs[1].rms_dbfs == w.inputs[0].rms_dbfs &&
                      w.master[0].rms_dbfs == w.inputs[0].rms_dbfs &&
                      w.master[1].rms_dbfs == w.inputs[0].rms_dbfs && r != nullptr &&
                      r->level.rms_dbfs == w.inputs[0].rms_dbfs &&
                      r->level.peak_dbfs == w.inputs[0].peak_dbfs;
    mismatches += same ? 0 : 1;
  };
  while (!writer_done.load(std::memory_order_acquire)) take();
  writer.join();
  take();  // what was pushed after the last take in the loop
  CHECK(mismatches == 0);
  CHECK(accounted == pushed);  // every publication folded or counted as dropped, exactly once
  CHECK(folded > 0);
}

TEST_CASE("a click between publications reads 0 dBFS in the meter window", "[audio][meter]") {
  Rig rig;
  rig.post(Command::monitor(true, 0.0F, 0.0F));
  // 150 ms, the shortest meter interval: 7 publications, one sample at full scale in period 37.
  constexpr std::uint32_t kPeriods = 7 * kPeriodsPerPublication;
  for (std::uint32_t p = 0; p < kPeriods; ++p) {
    std::fill(rig.in1.begin(), rig.in1.end(), 0.0F);
    if (p == 37) rig.in1[10] = 1.0F;
    rig.run();
  }
  // The snapshot covers the last publication only: the click is not in it.
  const Snapshot snap = rig.engine.snapshot();
  CHECK(snap.inputs[0].peak_dbfs == kSilenceDbfs);

  const MeterWindow w = rig.engine.take_meter_window();
  CHECK(w.publications == 7);
  CHECK(w.dropped == 0);
  CHECK(w.inputs[0].peak_dbfs == Approx(0.0).margin(0.01));
  CHECK(w.inputs[0].rms_dbfs == Approx(10.0 * std::log10(1.0 / (kPeriods * kPeriod))).margin(0.01));
  check_silent(w.inputs[1]);
  // Through the monitor at centre pan: -3.01 dB on each side.
  CHECK(w.master[0].peak_dbfs == Approx(-3.0103).margin(0.01));
  CHECK(w.master[1].peak_dbfs == Approx(-3.0103).margin(0.01));
  for (const RemoteLevel& r : w.remotes) CHECK_FALSE(r.active);

  // Nothing new since: an empty window, not the click again.
  check_empty(rig.engine.take_meter_window());
}

TEST_CASE("meter window RMS equals the RMS over all samples of the window", "[audio][meter]") {
  Rig rig;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> noise(-0.8F, 0.8F);
  std::vector<float> all1, all2;
  auto play = [&](std::uint32_t periods) {
    for (std::uint32_t p = 0; p < periods; ++p) {
      for (std::uint32_t i = 0; i < kPeriod; ++i) {
        rig.in1[i] = noise(rng);
        rig.in2[i] = sine_at(1000.0, 0.3, rig.frame + i) + 0.05F;
      }
      all1.insert(all1.end(), rig.in1.begin(), rig.in1.end());
      all2.insert(all2.end(), rig.in2.begin(), rig.in2.end());
      rig.run();
    }
  };
  auto check_against = [](const Level& level, const std::vector<float>& x) {
    const MeterSum direct = sum_of(x);
    CHECK(level.peak_dbfs == Approx(dbfs(direct.peak)).margin(1e-4));
    CHECK(level.rms_dbfs ==
          Approx(10.0 * std::log10(direct.sum_squares / static_cast<double>(direct.count)))
              .margin(1e-3));
  };

  play(20 * kPeriodsPerPublication);
  MeterWindow w = rig.engine.take_meter_window();
  CHECK(w.publications == 20);
  check_against(w.inputs[0], all1);
  check_against(w.inputs[1], all2);
  check_empty(rig.engine.take_meter_window());

  // Periods not yet published belong to the next window, whole.
  all1.clear();
  all2.clear();
  play(5);
  check_empty(rig.engine.take_meter_window());
  play(kPeriodsPerPublication - 5);
  w = rig.engine.take_meter_window();
  CHECK(w.publications == 1);
  check_against(w.inputs[0], all1);
  check_against(w.inputs[1], all2);
}

TEST_CASE("meter window overflow counts the lost publications and keeps the newest",
          "[audio][meter]") {
  Rig rig;
  const std::size_t capacity = MeterHistory::capacity_for(kPublish);
  const std::uint64_t publications = capacity + 20;
  for (std::uint64_t p = 0; p < publications * kPeriodsPerPublication; ++p) {
    std::fill(rig.in1.begin(), rig.in1.end(), 0.01F);
    if (p == 3) rig.in1[0] = 1.0F;  // in the oldest publication: overwritten
    if (p == publications * kPeriodsPerPublication - 2) rig.in1[0] = 0.5F;  // in the newest
    rig.run();
  }
  const MeterWindow w = rig.engine.take_meter_window();
  CHECK(w.publications == capacity);
  CHECK(w.dropped == 20);
  CHECK(w.inputs[0].peak_dbfs == Approx(dbfs(0.5)).margin(0.01));
  check_empty(rig.engine.take_meter_window());
}

TEST_CASE("meter window lists remotes that joined or left within it", "[audio][meter]") {
  Rig rig;
  constexpr std::uint32_t kStays = 42;
  constexpr std::uint32_t kJoins = 43;
  constexpr double kStaysAmplitude = 0.25;
  constexpr double kJoinsAmplitude = 0.5;
  std::uint32_t seq_stays = 0;
  std::uint32_t seq_joins = 0;
  // 10 publications for the first remote's buffer to fill and play steadily.
  for (std::uint32_t p = 0; p < 10 * kPeriodsPerPublication; ++p) {
    rig.receive(kStays, seq_stays++, kStaysAmplitude);
    rig.run();
  }
  (void)rig.engine.take_meter_window();

  // A window in which the second one joins after a publication and a few periods.
  for (std::uint32_t p = 0; p < 4 * kPeriodsPerPublication; ++p) {
    rig.receive(kStays, seq_stays++, kStaysAmplitude);
    if (p >= kPeriodsPerPublication + 5) rig.receive(kJoins, seq_joins++, kJoinsAmplitude);
    rig.run();
  }
  MeterWindow w = rig.engine.take_meter_window();
  CHECK(w.publications == 4);
  const RemoteLevel* stays = find(w, kStays);
  const RemoteLevel* joins = find(w, kJoins);
  REQUIRE(stays != nullptr);
  REQUIRE(joins != nullptr);
  CHECK(stays->level.peak_dbfs == Approx(dbfs(kStaysAmplitude)).margin(0.1));
  CHECK(stays->level.rms_dbfs == Approx(dbfs(kStaysAmplitude / std::sqrt(2.0))).margin(0.1));
  CHECK(joins->level.peak_dbfs == Approx(dbfs(kJoinsAmplitude)).margin(0.1));
  std::size_t listed = 0;
  for (const RemoteLevel& r : w.remotes) listed += r.active ? 1 : 0;
  CHECK(listed == 2);

  // The first one leaves 6 periods after a publication: the window still shows those periods,
  // published after it left.
  for (std::uint32_t p = 0; p < kPeriodsPerPublication; ++p) {
    if (p == 5) rig.post(Command::remote_leave(kStays));
    if (p < 5) rig.receive(kStays, seq_stays++, kStaysAmplitude);
    rig.receive(kJoins, seq_joins++, kJoinsAmplitude);
    rig.run();
  }
  bool still_active = false;
  for (const RemoteStats& r : rig.engine.snapshot().remotes)
    still_active = still_active || (r.active && r.session_id == kStays);
  CHECK_FALSE(still_active);
  w = rig.engine.take_meter_window();
  CHECK(w.publications == 1);
  stays = find(w, kStays);
  REQUIRE(stays != nullptr);
  CHECK(stays->level.peak_dbfs == Approx(dbfs(kStaysAmplitude)).margin(0.1));
  CHECK(find(w, kJoins) != nullptr);

  // Gone from the next window.
  for (std::uint32_t p = 0; p < kPeriodsPerPublication; ++p) {
    rig.receive(kJoins, seq_joins++, kJoinsAmplitude);
    rig.run();
  }
  w = rig.engine.take_meter_window();
  CHECK(w.publications == 1);
  CHECK(find(w, kStays) == nullptr);
  CHECK(find(w, kJoins) != nullptr);
}
