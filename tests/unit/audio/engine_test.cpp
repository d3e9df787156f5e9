// The engine end to end, without JACK: packets in and out, mixer math, monitor, meters,
// metronome and remote slot management.
#include <jambox/audio/dsp.hpp>
#include <jambox/audio/engine.hpp>
#include <jambox/wire/packet.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <cmath>
#include <numbers>
#include <vector>

using namespace jambox;
using namespace jambox::audio;

namespace {

float sine_at(double freq, double amplitude, std::uint64_t k) {
  return static_cast<float>(
      amplitude * std::sin(2.0 * std::numbers::pi * freq * static_cast<double>(k) / 48000.0));
}

// Drives an engine period by period and keeps everything it outputs.
struct Rig {
  explicit Rig(EngineConfig cfg = {}) : engine(cfg) {}

  Engine engine;
  std::vector<float> in1, in2;      // the inputs for the next period (resized to n)
  std::vector<float> out_l, out_r;  // everything output so far
  std::vector<OutboundPacket> sent;
  std::uint64_t frame = 0;

  ProcessResult run(std::uint32_t n, std::uint64_t period_time_us = 0) {
    in1.resize(n);
    in2.resize(n);
    std::vector<float> l(n, 7.0F), r(n, 7.0F);  // garbage: the engine must overwrite it all
    const std::array<const float*, 2> ins{in1.data(), in2.data()};
    const std::array<float*, 2> outs{l.data(), r.data()};
    const ProcessResult result = engine.process(ins, outs, n, period_time_us);
    out_l.insert(out_l.end(), l.begin(), l.end());
    out_r.insert(out_r.end(), r.begin(), r.end());
    OutboundPacket p;
    std::uint32_t popped = 0;
    while (engine.outbound().pop(p)) {
      sent.push_back(p);
      ++popped;
    }
    CHECK(popped == result.packets_queued);
    CHECK(result.wake_network() == (popped > 0));
    frame += n;
    return result;
  }

  void post(const Command& c) { REQUIRE(engine.post(c)); }

  // An audio packet from `session`, channels from the two functions of the sender's frame index.
  template <typename F1, typename F2>
  void receive(std::uint32_t session, std::uint32_t seq, std::uint16_t frames,
               wire::SampleFormat format, F1 ch1, F2 ch2, std::uint64_t arrival_us = 0) {
    InboundPacket p;
    p.session_id = session;
    p.sequence = seq;
    p.frames = frames;
    p.format = format;
    p.arrival_us = arrival_us;
    std::vector<float> a(frames), b(frames);
    for (std::uint16_t i = 0; i < frames; ++i) {
      a[i] = ch1(static_cast<std::uint64_t>(seq) * frames + i);
      b[i] = ch2(static_cast<std::uint64_t>(seq) * frames + i);
    }
    p.payload_len = static_cast<std::uint16_t>(wire::audio_payload_size(frames, 2, format));
    wire::encode_audio(a, b, format, {p.payload.data(), p.payload_len});
    REQUIRE(engine.inbound().push(p));
  }
};

double rms(const std::vector<float>& x, std::size_t from, std::size_t to) {
  double sum = 0.0;
  for (std::size_t k = from; k < to; ++k)
    sum += static_cast<double>(x[k]) * static_cast<double>(x[k]);
  return std::sqrt(sum / static_cast<double>(to - from));
}

}  // namespace

TEST_CASE("inputs -> outbound payload decodes back to the inputs", "[audio][engine]") {
  struct Case {
    std::uint32_t period;
    std::uint16_t packet;
    wire::SampleFormat format;
    double tolerance;
  };
  for (const Case c :
       {Case{64, 64, wire::SampleFormat::s16, 1.0 / 32767.0},
        Case{32, 64, wire::SampleFormat::s16, 1.0 / 32767.0},
        Case{128, 64, wire::SampleFormat::s24, 1.0 / 8388607.0},
        Case{256, 32, wire::SampleFormat::f32, 0.0}, Case{64, 128, wire::SampleFormat::f32, 0.0}}) {
    INFO("period " << c.period << ", packet " << c.packet << ", format "
                   << static_cast<int>(c.format));
    EngineConfig cfg;
    cfg.packet_frames = c.packet;
    cfg.format = c.format;
    Rig rig(cfg);
    std::vector<float> all1, all2;
    const std::uint64_t t0 = 5'000'000;
    for (int p = 0; p < 40; ++p) {
      for (std::uint32_t i = 0; i < c.period; ++i) {
        const std::uint64_t k = rig.frame + i;
        rig.in1.resize(c.period);
        rig.in2.resize(c.period);
        rig.in1[i] = sine_at(440.0, 0.9, k);
        rig.in2[i] = sine_at(1234.5, 0.7, k) - 0.1F;
      }
      all1.insert(all1.end(), rig.in1.begin(), rig.in1.begin() + c.period);
      all2.insert(all2.end(), rig.in2.begin(), rig.in2.begin() + c.period);
      const std::uint64_t now = t0 + rig.frame * 1'000'000 / 48000;
      const ProcessResult r = rig.run(c.period, now);
      // Exactly the packets completed in this period.
      CHECK(r.packets_queued == (rig.frame / c.packet) - ((rig.frame - c.period) / c.packet));
    }
    REQUIRE(rig.sent.size() == 40 * c.period / c.packet);
    for (std::size_t j = 0; j < rig.sent.size(); ++j) {
      const OutboundPacket& p = rig.sent[j];
      REQUIRE(p.sequence == j);
      REQUIRE(p.frames == c.packet);
      REQUIRE(p.format == c.format);
      REQUIRE(p.payload_len == wire::audio_payload_size(c.packet, 2, c.format));
      // Capture time of the packet's first frame.
      const double expected_us =
          static_cast<double>(t0) + static_cast<double>(j * c.packet) * 1e6 / 48000.0;
      CHECK(std::fabs(static_cast<double>(p.capture_us) - expected_us) <= 2.0);  // whole us
      std::vector<float> a(c.packet), b(c.packet);
      wire::decode_audio({p.payload.data(), p.payload_len}, c.format, a, b);
      for (std::size_t i = 0; i < c.packet; ++i) {
        REQUIRE(std::fabs(static_cast<double>(a[i] - all1[j * c.packet + i])) <= c.tolerance);
        REQUIRE(std::fabs(static_cast<double>(b[i] - all2[j * c.packet + i])) <= c.tolerance);
      }
    }
  }
}

TEST_CASE("local monitor is sample-exact with zero added delay", "[audio][engine][mixer]") {
  Rig rig;
  rig.post(Command::monitor(true, 0.0F, 0.0F));
  const float g = pan_gains(0.0F).left;
  for (int p = 0; p < 10; ++p) {
    for (std::uint32_t i = 0; i < 64; ++i) {
      rig.in1.resize(64);
      rig.in2.resize(64);
      rig.in1[i] = sine_at(300.0, 0.5, rig.frame + i);
      rig.in2[i] = sine_at(2000.0, 0.25, rig.frame + i);
    }
    const std::size_t at = rig.out_l.size();
    rig.run(64);
    if (p == 0) continue;  // the monitor fades in over its first period
    for (std::size_t i = 0; i < 64; ++i) {
      // Same period, same sample: the player hears the input with no delay at all.
      REQUIRE(rig.out_l[at + i] == (rig.in1[i] + rig.in2[i]) * g);
      REQUIRE(rig.out_r[at + i] == (rig.in1[i] + rig.in2[i]) * g);
    }
  }
  // Hard left, -6 dB.
  rig.post(Command::monitor(true, -6.0F, -1.0F));
  rig.run(64);
  const std::size_t at = rig.out_l.size();
  rig.run(64);
  for (std::size_t i = 0; i < 64; ++i) {
    CHECK(rig.out_l[at + i] == Approx((rig.in1[i] + rig.in2[i]) * db_to_gain(-6.0F)).margin(1e-6));
    CHECK(rig.out_r[at + i] == 0.0F);
  }
  // Off: silence after the fade.
  rig.post(Command::monitor(false, 0.0F));
  rig.run(64);
  const std::size_t off = rig.out_l.size();
  rig.run(64);
  for (std::size_t i = off; i < rig.out_l.size(); ++i) REQUIRE(rig.out_l[i] == 0.0F);
}

TEST_CASE("mute to room zeroes only that input in the outgoing packet", "[audio][engine][mixer]") {
  Rig rig;
  rig.post(Command::monitor(true, 0.0F, 0.0F));
  rig.post(Command::input_mute_to_room(0, true));
  rig.in1.assign(64, 0.5F);
  rig.in2.assign(64, -0.25F);
  for (int p = 0; p < 6; ++p) rig.run(64);
  REQUIRE(rig.sent.size() == 6);
  for (std::size_t j = 1; j < rig.sent.size(); ++j) {  // packet 0 carries the fade
    std::vector<float> a(64), b(64);
    wire::decode_audio({rig.sent[j].payload.data(), rig.sent[j].payload_len},
                       wire::SampleFormat::s16, a, b);
    for (std::size_t i = 0; i < 64; ++i) {
      REQUIRE(a[i] == 0.0F);
      REQUIRE(b[i] == Approx(-0.25F).margin(1.0 / 32767.0));
    }
  }
  // The player still hears both inputs.
  CHECK(rig.out_l.back() == Approx((0.5F - 0.25F) * pan_gains(0.0F).left));
  // Unmuted again: the packet carries the input.
  rig.post(Command::input_mute_to_room(0, false));
  rig.run(64);
  rig.run(64);
  std::vector<float> a(64), b(64);
  wire::decode_audio({rig.sent.back().payload.data(), rig.sent.back().payload_len},
                     wire::SampleFormat::s16, a, b);
  CHECK(a[10] == Approx(0.5F).margin(1.0 / 32767.0));
}

TEST_CASE("a remote's packets reach the outputs with its gain and pan after the buffer delay",
          "[audio][engine][mixer]") {
  Rig rig;
  constexpr std::uint32_t kSession = 42;
  rig.post(Command::remote_join(kSession));
  rig.post(Command::remote_gain(kSession, -6.0F));
  rig.post(Command::remote_pan(kSession, 0.5F));
  // Silence, then a tone from sender frame 24000 on: its onset in the output gives the delay.
  auto x = [](std::uint64_t k) { return k < 24000 ? 0.0F : sine_at(440.0, 0.4, k); };
  auto zero = [](std::uint64_t) { return 0.0F; };
  const std::uint64_t t0 = 1'000'000;
  // One packet per period, each arriving 300 us before the period that drains it.
  for (std::uint32_t p = 0; p < 48000 * 2 / 64; ++p) {
    const std::uint64_t now = t0 + static_cast<std::uint64_t>(p) * 64 * 1'000'000 / 48000;
    rig.receive(kSession, p, 64, wire::SampleFormat::f32, x, zero, now - 300);
    rig.run(64, now);
  }
  const Snapshot snap = rig.engine.snapshot();
  const RemoteStats* remote = nullptr;
  for (const RemoteStats& r : snap.remotes) {
    if (r.active && r.session_id == kSession) remote = &r;
  }
  REQUIRE(remote != nullptr);
  CHECK(remote->gain_db == -6.0F);
  CHECK(remote->pan == 0.5F);
  CHECK(remote->jitter.playing);
  CHECK(remote->jitter.concealed == 0);
  CHECK(remote->jitter.underruns == 0);
  CHECK(remote->jitter.received >= 1480);  // published every 16 periods
  CHECK(remote->level.peak_dbfs == Approx(20.0 * std::log10(0.4)).margin(0.05));

  // Delay: the onset (to within the resampler's 8-sample kernel), refined by correlation.
  std::size_t onset = 0;
  while (onset < rig.out_l.size() && std::fabs(rig.out_l[onset]) < 0.01F) ++onset;
  REQUIRE(onset > 24000);
  const std::size_t from = 48000;
  const std::size_t to = 96000 - 1000;
  std::size_t best_lag = 0;
  double best = -1.0;
  for (std::size_t lag = onset - 24000; lag < onset - 24000 + 16; ++lag) {
    double c = 0.0;
    for (std::size_t k = from; k < to; k += 7)
      c += static_cast<double>(rig.out_l[k]) * static_cast<double>(x(k - lag));
    if (c > best) {
      best = c;
      best_lag = lag;
    }
  }
  // Buffer target (a period's wait + margin + 1 ms floor at most), resampler, one period.
  INFO("delay " << best_lag << " frames, target " << remote->jitter.target_ms << " ms");
  CHECK(best_lag <= static_cast<std::size_t>(remote->jitter.target_ms * 48.0F) + 8 + 64 + 2);
  // Gain and constant-power pan.
  const double g = static_cast<double>(db_to_gain(-6.0F));
  const PanGains pan = pan_gains(0.5F);
  const auto pl = static_cast<double>(pan.left);
  const auto pr = static_cast<double>(pan.right);
  const double in_rms = 0.4 / std::sqrt(2.0);
  CHECK(rms(rig.out_l, from, to) == Approx(in_rms * g * pl).epsilon(0.01));
  CHECK(rms(rig.out_r, from, to) == Approx(in_rms * g * pr).epsilon(0.01));
  double err = 0.0;
  for (std::size_t k = from; k < to; ++k) {
    err = std::max(err, std::fabs(static_cast<double>(rig.out_l[k]) -
                                  g * pl * static_cast<double>(x(k - best_lag))));
  }
  CHECK(err < 0.03);  // the controller may slide the alignment by a sample or two

  // Mute: silent after the fade. Master volume scales everything.
  rig.post(Command::remote_mute(kSession, true));
  for (std::uint32_t p = 1500; p < 1510; ++p) {
    rig.receive(kSession, p, 64, wire::SampleFormat::f32, x, zero);
    rig.run(64);
  }
  for (std::size_t k = rig.out_l.size() - 64 * 8; k < rig.out_l.size(); ++k)
    REQUIRE(rig.out_l[k] == 0.0F);
  rig.post(Command::remote_mute(kSession, false));
  rig.post(Command::master_gain(-20.0F));
  for (std::uint32_t p = 1510; p < 1600; ++p) {
    rig.receive(kSession, p, 64, wire::SampleFormat::f32, x, zero);
    rig.run(64);
  }
  const std::size_t n = rig.out_l.size();
  CHECK(rms(rig.out_l, n - 4800, n) == Approx(in_rms * g * pl * 0.1).epsilon(0.02));
}

TEST_CASE("remote slots: join, silence timeout, leave, full room, reuse", "[audio][engine]") {
  EngineConfig cfg;
  cfg.remote_timeout_ms = 200;
  Rig rig(cfg);
  auto tone = [](std::uint64_t k) { return sine_at(220.0, 0.1, k); };
  for (std::uint32_t s = 1; s <= 16; ++s)
    rig.receive(100 + s, 0, 64, wire::SampleFormat::s16, tone, tone);
  rig.run(64);
  Snapshot snap;
  for (int i = 0; i < 20; ++i) rig.run(64);
  snap = rig.engine.snapshot();
  CHECK(snap.engine.remotes_joined == 15);
  CHECK(snap.engine.inbound_no_slot == 1);  // the 16th jammer
  std::size_t active = 0;
  for (const RemoteStats& r : snap.remotes) active += r.active ? 1 : 0;
  CHECK(active == 15);
  // 200 ms of silence releases them all.
  for (int i = 0; i < 200; ++i) rig.run(64);
  snap = rig.engine.snapshot();
  CHECK(snap.engine.remotes_released == 15);
  for (const RemoteStats& r : snap.remotes) CHECK_FALSE(r.active);
  // Now the 16th gets a slot; an explicit leave releases it at once.
  rig.receive(116, 0, 64, wire::SampleFormat::s16, tone, tone);
  rig.run(64);
  rig.post(Command::remote_leave(116));
  rig.run(64);
  for (int i = 0; i < 20; ++i) rig.run(64);
  snap = rig.engine.snapshot();
  CHECK(snap.engine.remotes_joined == 16);
  CHECK(snap.engine.remotes_released == 16);
  // A join command reserves a slot before any packet.
  rig.post(Command::remote_join(500));
  for (int i = 0; i < 20; ++i) rig.run(64);
  snap = rig.engine.snapshot();
  bool found = false;
  for (const RemoteStats& r : snap.remotes) found = found || (r.active && r.session_id == 500);
  CHECK(found);
}

TEST_CASE("malformed inbound slots and bad periods are refused and counted", "[audio][engine]") {
  Rig rig;
  InboundPacket p;
  p.session_id = 9;
  p.frames = 64;
  p.format = wire::SampleFormat::s16;
  p.payload_len = 10;  // wrong size
  REQUIRE(rig.engine.inbound().push(p));
  p.frames = 48;  // not a valid frame count
  p.payload_len = static_cast<std::uint16_t>(48 * 2 * 2);
  REQUIRE(rig.engine.inbound().push(p));
  p.frames = 256;  // 256 frames of f32 do not fit a datagram
  p.format = wire::SampleFormat::f32;
  p.payload_len = 1140;
  REQUIRE(rig.engine.inbound().push(p));
  rig.run(64);
  // A period of 0 or more than 256 frames outputs silence and is counted.
  std::vector<float> l(512, 1.0F), r(512, 1.0F);
  const std::array<const float*, 2> ins{l.data(), r.data()};
  const std::array<float*, 2> outs{l.data(), r.data()};
  CHECK(rig.engine.process(ins, outs, 512).packets_queued == 0);
  for (const float v : l) REQUIRE(v == 0.0F);
  (void)rig.engine.process(ins, outs, 0);
  // Missing input and output channels are tolerated.
  rig.in1.assign(64, 0.0F);
  (void)rig.engine.process(std::span<const float* const>{}, std::span<float* const>{}, 64);
  OutboundPacket drained;
  while (rig.engine.outbound().pop(drained)) {
  }
  for (int i = 0; i < 20; ++i) rig.run(64);
  const Snapshot snap = rig.engine.snapshot();
  CHECK(snap.engine.inbound_rejected == 3);
  CHECK(snap.engine.bad_periods == 2);
  CHECK(snap.engine.remotes_joined == 0);
}

TEST_CASE("meters: inputs, remotes and master through the snapshot", "[audio][engine][meter]") {
  EngineConfig cfg;
  cfg.publish_frames = 1024;
  Rig rig(cfg);
  for (int p = 0; p < 48; ++p) {
    rig.in1.resize(64);
    rig.in2.assign(64, 0.0F);
    for (std::uint32_t i = 0; i < 64; ++i) rig.in1[i] = sine_at(750.0, 1.0, rig.frame + i);
    rig.run(64);
  }
  Snapshot snap = rig.engine.snapshot();
  CHECK(snap.sequence >= 2);
  CHECK(snap.inputs[0].peak_dbfs == Approx(0.0F).margin(0.001));
  CHECK(snap.inputs[0].rms_dbfs == Approx(-3.0103F).margin(0.005));
  CHECK(snap.inputs[1].peak_dbfs == kSilenceDbfs);
  CHECK(snap.inputs[1].rms_dbfs == kSilenceDbfs);
  CHECK(snap.master[0].peak_dbfs == kSilenceDbfs);  // monitor off: nothing in the mix
  rig.post(Command::monitor(true, 0.0F, 0.0F));
  for (int p = 0; p < 48; ++p) {
    for (std::uint32_t i = 0; i < 64; ++i) rig.in1[i] = sine_at(750.0, 1.0, rig.frame + i);
    rig.run(64);
  }
  snap = rig.engine.snapshot();
  // Centre pan: -3.01 dB on each side.
  CHECK(snap.master[0].peak_dbfs == Approx(-3.0103F).margin(0.001));
  CHECK(snap.master[0].rms_dbfs == Approx(-6.0206F).margin(0.005));
  CHECK(snap.master[1].peak_dbfs == Approx(-3.0103F).margin(0.001));
}

namespace {

std::vector<std::size_t> onsets(const std::vector<float>& x) {
  std::vector<std::size_t> found;
  std::size_t quiet = 1000;
  for (std::size_t k = 0; k < x.size(); ++k) {
    if (x[k] != 0.0F) {
      if (quiet >= 1000) found.push_back(k);
      quiet = 0;
    } else {
      ++quiet;
    }
  }
  return found;
}

}  // namespace

TEST_CASE("metronome clicks on the room clock's beats, else on the local clock",
          "[audio][engine][metronome]") {
  SECTION("local clock") {
    Rig rig;
    rig.post(Command::metronome(true, 120.0F, -6.0F, 4));
    for (int p = 0; p < 48000 * 2 / 64; ++p) rig.run(64);
    const std::vector<std::size_t> at = onsets(rig.out_l);
    REQUIRE(at.size() == 4);
    for (std::size_t i = 0; i < at.size(); ++i) CHECK(at[i] == i * 24000);  // 120 BPM
    CHECK_FALSE(rig.engine.snapshot().metronome_on_room_clock);
  }
  SECTION("room clock") {
    Rig rig;
    rig.post(Command::metronome(true, 100.0F, -6.0F, 4));
    // The server's room clock runs 1000 frames ahead of ours (and wraps mid-way).
    const std::uint32_t offset = 0xFFFFFFFFU - 40000U;
    for (int p = 0; p < 48000 * 3 / 64; ++p) {
      InboundPacket clock;
      clock.frames = 0;
      clock.has_room_clock = true;
      clock.room_clock = static_cast<std::uint32_t>(rig.frame) + offset;
      REQUIRE(rig.engine.inbound().push(clock));
      rig.run(64);
    }
    CHECK(rig.engine.snapshot().metronome_on_room_clock);
    const std::vector<std::size_t> at = onsets(rig.out_l);
    REQUIRE(at.size() >= 4);
    // 100 BPM = 28800 frames a beat, on the room clock's grid.
    for (const std::size_t k : at) {
      const std::uint64_t room = static_cast<std::uint64_t>(k) + offset;
      CHECK(room % 28800 == 0);
    }
    // Beat 1 of the bar is the higher click: its first cycle is shorter, so compare the
    // zero crossings of the first 2 ms of each click.
    const std::size_t accents =
        static_cast<std::size_t>(std::count_if(at.begin(), at.end(), [&](std::size_t k) {
          return ((static_cast<std::uint64_t>(k) + offset) / 28800) % 4 == 0;
        }));
    CHECK(accents >= 1);
  }
  SECTION("off by default") {
    Rig rig;
    for (int p = 0; p < 1000; ++p) rig.run(64);
    for (const float v : rig.out_l) REQUIRE(v == 0.0F);
  }
}

namespace {

// An effect chain for the engine's plumbing: scales by a factor per position, can be told to
// burn time, and counts how it is driven.
struct TestInsert final : Insert {
  std::array<float, 2> factor{1.0F, 1.0F};
  std::array<bool, 2> bypassed{};
  std::uint64_t runs = 0;
  std::uint64_t busy_us = 0;  // time to burn per run
  int* deleted = nullptr;
  bool saw_flush_to_zero = false;

  ~TestInsert() override {
    if (deleted != nullptr) ++*deleted;
  }
  void run(float* x, std::uint32_t n) noexcept override {
    ++runs;
    volatile float tiny = 1e-39F;  // a denormal: flushed to zero on the audio thread
    saw_flush_to_zero = tiny * 1.0F == 0.0F;
    for (std::uint32_t i = 0; i < n; ++i) {
      for (std::size_t k = 0; k < 2; ++k) x[i] *= bypassed[k] ? 1.0F : factor[k];
    }
    if (busy_us > 0) {
      const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(busy_us);
      while (std::chrono::steady_clock::now() < until) {
      }
    }
  }
  void set_param(std::uint32_t position, std::uint32_t /*port*/, float value) noexcept override {
    if (position < 2) factor[position] = value;
  }
  void set_bypass(std::uint32_t position, bool on) noexcept override {
    if (position < 2) bypassed[position] = on;
  }
};

}  // namespace

TEST_CASE(
    "inserts: an input's chain is heard by the room and the monitor, set and swapped in order",
    "[audio][engine][insert]") {
  EngineConfig cfg;
  cfg.publish_frames = 64;
  Rig rig(cfg);
  int deleted = 0;
  rig.post(Command::monitor(true, 0.0F, 0.0F));
  auto first = std::make_unique<TestInsert>();
  first->deleted = &deleted;
  TestInsert* seen = first.get();
  std::unique_ptr<Insert> chain = std::move(first);
  REQUIRE(rig.engine.post_insert(0, chain));
  CHECK(chain == nullptr);
  // Settings posted after the chain reach the chain.
  rig.post(Command::insert_param(0, 0, 0, 0.5F));
  rig.post(Command::insert_param(0, 1, 0, 0.5F));
  rig.post(Command::insert_bypass(0, 1, true));
  CHECK_FALSE(rig.engine.post(Command{CommandType::insert}));  // chains only by post_insert
  rig.in1.assign(64, 0.8F);
  rig.in2.assign(64, 0.0F);
  for (int p = 0; p < 4; ++p) rig.run(64);
  CHECK(seen->runs == 4);
  CHECK(seen->saw_flush_to_zero);
  std::vector<float> a(64), b(64);
  wire::decode_audio({rig.sent.back().payload.data(), rig.sent.back().payload_len},
                     wire::SampleFormat::s16, a, b);
  CHECK(a[10] == Approx(0.4F).margin(1.0 / 32767.0));
  CHECK(rig.out_l.back() == Approx(0.4F * pan_gains(0.0F).left));
  // Swapped for none: the old chain comes back to the control thread, never deleted in process().
  std::unique_ptr<Insert> none;
  REQUIRE(rig.engine.post_insert(0, none));
  rig.run(64);
  CHECK(deleted == 0);
  rig.engine.reclaim_inserts();
  CHECK(deleted == 1);
  CHECK(rig.out_l.back() == Approx(0.8F * pan_gains(0.0F).left));
  CHECK_FALSE(rig.engine.post_insert(2, none));  // no third input
  const Snapshot s = rig.engine.snapshot();
  CHECK(s.inserts[0].chains == 2);
}

TEST_CASE("inserts: a chain that keeps overrunning its budget is bypassed whole",
          "[audio][engine][insert]") {
  EngineConfig cfg;
  cfg.insert_budget = 0.1F;  // 133 us of a 1333 us period
  cfg.insert_overrun_periods = 8;
  cfg.publish_frames = 64;
  Rig rig(cfg);
  auto slow = std::make_unique<TestInsert>();
  slow->factor = {0.5F, 1.0F};
  slow->busy_us = 400;
  TestInsert* seen = slow.get();
  std::unique_ptr<Insert> chain = std::move(slow);
  REQUIRE(rig.engine.post_insert(1, chain));
  rig.in2.assign(64, 0.8F);
  for (int p = 0; p < 20; ++p) rig.run(64);
  CHECK(seen->runs == 8);  // over budget every period: bypassed after the 8th
  const Snapshot s = rig.engine.snapshot();
  CHECK(s.inserts[1].present);
  CHECK(s.inserts[1].overloaded);
  CHECK(s.inserts[1].overruns == 8);
  std::vector<float> a(64), b(64);
  wire::decode_audio({rig.sent.back().payload.data(), rig.sent.back().payload_len},
                     wire::SampleFormat::s16, a, b);
  CHECK(b[10] == Approx(0.8F).margin(1.0 / 32767.0));  // the dry input, not a silence
  // A new chain starts afresh.
  auto fresh = std::make_unique<TestInsert>();
  std::unique_ptr<Insert> next = std::move(fresh);
  REQUIRE(rig.engine.post_insert(1, next));
  rig.run(64);
  CHECK_FALSE(rig.engine.snapshot().inserts[1].overloaded);
}

TEST_CASE("inserts: a bad budget is refused by name", "[audio][engine][insert]") {
  EngineConfig cfg;
  cfg.insert_budget = 0.0F;
  CHECK_THROWS_WITH(cfg.validate(), Catch::Contains("insert_budget"));
  cfg.insert_budget = 0.5F;
  cfg.insert_overrun_periods = 0;
  CHECK_THROWS_WITH(cfg.validate(), Catch::Contains("insert_overrun_periods"));
}
