// Mixer arithmetic, meters and the snapshot seqlock.
#include <jambox/audio/dsp.hpp>
#include <jambox/audio/meter.hpp>
#include <jambox/audio/seqlock.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <numbers>
#include <thread>
#include <vector>

using namespace jambox::audio;

TEST_CASE("pan law keeps constant power at every position", "[audio][mixer]") {
  for (int i = -100; i <= 100; ++i) {
    const float pan = static_cast<float>(i) / 100.0F;
    const PanGains g = pan_gains(pan);
    CHECK(g.left * g.left + g.right * g.right == Approx(1.0F).epsilon(1e-6));
    CHECK(g.left >= 0.0F);
    CHECK(g.right >= 0.0F);
  }
  CHECK(pan_gains(-1.0F).left == 1.0F);
  CHECK(pan_gains(-1.0F).right == 0.0F);
  CHECK(pan_gains(1.0F).left == 0.0F);
  CHECK(pan_gains(1.0F).right == 1.0F);
  const PanGains centre = pan_gains(0.0F);
  CHECK(centre.left == Approx(std::sqrt(0.5F)));
  CHECK(centre.right == Approx(std::sqrt(0.5F)));
  // theta = (pan + 1) * pi / 4: a quarter of the way is pi/8.
  const PanGains quarter = pan_gains(-0.5F);
  CHECK(quarter.left == Approx(std::cos(std::numbers::pi_v<float> / 8.0F)));
  CHECK(quarter.right == Approx(std::sin(std::numbers::pi_v<float> / 8.0F)));
  // Out of range and NaN are clamped / centred, never propagate.
  CHECK(pan_gains(7.0F).right == 1.0F);
  CHECK(pan_gains(std::nanf("")).left == Approx(std::sqrt(0.5F)));
}

TEST_CASE("decibels convert both ways", "[audio][mixer]") {
  CHECK(db_to_gain(0.0F) == 1.0F);
  CHECK(db_to_gain(-6.0F) == Approx(0.501187F));
  CHECK(db_to_gain(6.0F) == Approx(1.995262F));
  CHECK(db_to_gain(-20.0F) == Approx(0.1F));
  CHECK(db_to_gain(-120.0F) == 0.0F);
  CHECK(db_to_gain(-std::numeric_limits<float>::infinity()) == 0.0F);
  CHECK(db_to_gain(std::nanf("")) == 0.0F);
  CHECK(amplitude_to_dbfs(1.0F) == Approx(0.0F).margin(1e-6));
  CHECK(amplitude_to_dbfs(0.5F) == Approx(-6.0206F));
  CHECK(amplitude_to_dbfs(0.0F) == kSilenceDbfs);
  CHECK(power_to_dbfs(0.5) == Approx(-3.0103F));
  CHECK(power_to_dbfs(0.0) == kSilenceDbfs);
}

TEST_CASE("gain ramps over one period instead of jumping", "[audio][mixer]") {
  GainRamp ramp(0.0F);
  ramp.set(1.0F);
  std::vector<float> in(64, 1.0F);
  std::vector<float> out(64, 0.0F);
  ramp.add(in.data(), out.data(), out.size());
  for (std::size_t i = 1; i < out.size(); ++i) {
    CHECK(out[i] > out[i - 1]);
    CHECK(out[i] - out[i - 1] == Approx(1.0F / 64.0F).margin(1e-6));
  }
  CHECK(out.back() == 1.0F);
  CHECK(ramp.current() == 1.0F);
  // Steady afterwards.
  std::fill(out.begin(), out.end(), 0.0F);
  ramp.add(in.data(), out.data(), out.size());
  for (const float v : out) CHECK(v == 1.0F);
  // apply() scales in place.
  ramp.set(0.5F);
  std::vector<float> x(64, 2.0F);
  ramp.apply(x.data(), x.size());
  CHECK(x.front() < 2.0F);
  CHECK(x.back() == Approx(1.0F));
}

namespace {

std::vector<float> sine(double freq, double amplitude, std::size_t n) {
  std::vector<float> x(n);
  for (std::size_t i = 0; i < n; ++i) {
    x[i] = static_cast<float>(
        amplitude * std::sin(2.0 * std::numbers::pi * freq * static_cast<double>(i) / 48000.0));
  }
  return x;
}

}  // namespace

TEST_CASE("meters read a full-scale sine as 0 dBFS peak and -3.01 dBFS RMS", "[audio][meter]") {
  Meter meter;
  // 750 Hz: exactly 64 samples a cycle, so the window holds whole cycles and hits the crest.
  const std::vector<float> x = sine(750.0, 1.0, 4096);
  for (std::size_t i = 0; i < x.size(); i += 64) meter.add(x.data() + i, 64);
  const Level level = meter.take();
  CHECK(level.peak_dbfs == Approx(0.0F).margin(0.001));
  CHECK(level.rms_dbfs == Approx(-3.0103F).margin(0.005));

  // Half scale: -6.02 / -9.03.
  const std::vector<float> half = sine(750.0, 0.5, 4096);
  meter.add(half.data(), half.size());
  const Level h = meter.take();
  CHECK(h.peak_dbfs == Approx(-6.0206F).margin(0.001));
  CHECK(h.rms_dbfs == Approx(-9.0309F).margin(0.005));

  // Silence, and an empty interval, read as the floor.
  const std::vector<float> zeros(1024, 0.0F);
  meter.add(zeros.data(), zeros.size());
  const Level s = meter.take();
  CHECK(s.peak_dbfs == kSilenceDbfs);
  CHECK(s.rms_dbfs == kSilenceDbfs);
  const Level empty = meter.take();
  CHECK(empty.peak_dbfs == kSilenceDbfs);
}

TEST_CASE("seqlock readers always see a consistent value", "[audio][meter]") {
  struct Payload {
    std::uint64_t a = 0;
    std::uint64_t values[64] = {};
  };
  Seqlock<Payload> lock;
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    Payload p;
    for (std::uint64_t i = 1; i <= 200000; ++i) {
      p.a = i;
      for (auto& v : p.values) v = i;
      lock.store(p);
    }
    stop = true;
  });
  std::uint64_t torn = 0;
  std::uint64_t reads = 0;
  std::uint64_t last = 0;
  bool monotonic = true;
  while (!stop.load()) {
    const Payload p = lock.load();
    ++reads;
    for (const auto v : p.values) torn += (v != p.a) ? 1 : 0;
    if (p.a < last) monotonic = false;
    last = p.a;
  }
  writer.join();
  CHECK(reads > 0);
  CHECK(torn == 0);
  CHECK(monotonic);
  CHECK(lock.load().a == 200000);
}
