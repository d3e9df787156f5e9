#include <jambox/jacktest/analysis.hpp>
#include <jambox/jacktest/signal.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

namespace jt = jambox::jacktest;

TEST_CASE("signal kinds parse and print", "[jack-tools]") {
  for (auto kind : {jt::SignalKind::noise, jt::SignalKind::multitone, jt::SignalKind::impulse}) {
    CHECK(jt::parse_signal_kind(jt::signal_kind_name(kind)) == kind);
  }
  CHECK_FALSE(jt::parse_signal_kind("sine"));
}

TEST_CASE("noise is deterministic, bounded, random-access and differs per channel",
          "[jack-tools]") {
  jt::SignalSpec spec;
  spec.amplitude = 0.5f;
  std::vector<float> a(4096);
  std::vector<float> b(4096);
  jt::generate(spec, 0, 1000, a);
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = jt::signal_sample(spec, 0, 1000 + i);
  CHECK(a == b);
  CHECK(jt::peak(a) <= 0.5f);
  CHECK(jt::peak(a) > 0.45f);
  CHECK(jt::rms(a) == Approx(0.5 / std::sqrt(3.0)).epsilon(0.05));  // uniform distribution

  std::vector<float> other_channel(4096);
  jt::generate(spec, 1, 1000, other_channel);
  CHECK(std::fabs(jt::normalised_correlation(a, other_channel)) < 0.1);
  jt::SignalSpec other_seed = spec;
  other_seed.seed = 2;
  std::vector<float> c(4096);
  jt::generate(other_seed, 0, 1000, c);
  CHECK(std::fabs(jt::normalised_correlation(a, c)) < 0.1);
  // Its own shifted copy does not correlate either: one sharp peak.
  std::vector<float> shifted(4096);
  jt::generate(spec, 0, 1001, shifted);
  CHECK(std::fabs(jt::normalised_correlation(a, shifted)) < 0.1);
}

TEST_CASE("multitone is smooth and bounded", "[jack-tools]") {
  jt::SignalSpec spec;
  spec.kind = jt::SignalKind::multitone;
  spec.amplitude = 0.8f;
  std::vector<float> x(48000);
  jt::generate(spec, 0, 0, x);
  CHECK(jt::peak(x) <= 0.8f);
  CHECK(jt::rms(x) > 0.1);
  // Highest tone 1319 Hz: the steepest step is well below 2*pi*1319/48000 of the amplitude.
  CHECK(jt::max_step(x) < 0.8f * 0.18f);
  std::vector<float> right(48000);
  jt::generate(spec, 1, 0, right);
  CHECK(std::fabs(jt::normalised_correlation(x, right)) < 0.2);
}

TEST_CASE("impulse samples are placed by time, not by frame", "[jack-tools]") {
  jt::SignalSpec spec;
  spec.kind = jt::SignalKind::impulse;
  CHECK(jt::signal_sample(spec, 0, 12345) == 0.0f);
}

TEST_CASE("impulses land on the frame nearest to each grid point", "[jack-tools]") {
  const double frame_us = 1e6 / 48000.0;
  const std::uint64_t interval_us = 250000;
  std::uint64_t next = 0;

  SECTION("a grid point inside the period") {
    // Period starts 100 us before t = 1 s: grid point 4 (1 s) is 4.8 frames in.
    const auto offset = jt::next_impulse_offset(1000000 - 100, frame_us, 64, interval_us, next);
    REQUIRE(offset);
    CHECK(*offset == 5);
    CHECK(next == 5);
    // The following period (1.33 ms later) has no grid point.
    CHECK_FALSE(jt::next_impulse_offset(1000000 - 100 + 1333, frame_us, 64, interval_us, next));
    CHECK(next == 5);
  }

  SECTION("ten seconds of periods emit one impulse per interval, each within half a frame") {
    const double period_us = 64 * frame_us;
    double start = 7.0e9 + 12.3;  // an arbitrary monotonic time
    int emitted = 0;
    for (int p = 0; p < 7500; ++p, start += period_us) {
      const auto begin = static_cast<std::uint64_t>(start);
      if (const auto offset = jt::next_impulse_offset(begin, frame_us, 64, interval_us, next)) {
        ++emitted;
        const double t = static_cast<double>(begin) + *offset * frame_us;
        const double grid = std::round(t / interval_us) * interval_us;
        CHECK(std::fabs(t - grid) <= frame_us / 2 + 1.0);
      }
    }
    CHECK(emitted >= 39);
    CHECK(emitted <= 41);
  }

  SECTION("bad arguments place nothing") {
    CHECK_FALSE(jt::next_impulse_offset(1000, frame_us, 64, 0, next));
    CHECK_FALSE(jt::next_impulse_offset(1000, 0.0, 64, interval_us, next));
    CHECK_FALSE(jt::next_impulse_offset(1000, frame_us, 0, interval_us, next));
  }
}
