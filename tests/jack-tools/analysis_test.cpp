#include <jambox/jacktest/analysis.hpp>
#include <jambox/jacktest/signal.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

namespace jt = jambox::jacktest;

namespace {

std::vector<float> noise(std::size_t frames, std::uint64_t seed = 1, std::size_t channel = 0) {
  jt::SignalSpec spec;
  spec.seed = seed;
  std::vector<float> x(frames);
  jt::generate(spec, channel, 0, x);
  return x;
}

// `delay` zeros, then gain * reference, then `tail` zeros.
std::vector<float> delayed(const std::vector<float>& reference, std::size_t delay, float gain,
                           std::size_t tail = 1000) {
  std::vector<float> x(delay, 0.0f);
  for (float v : reference) x.push_back(gain * v);
  x.resize(x.size() + tail, 0.0f);
  return x;
}

}  // namespace

TEST_CASE("normalised correlation", "[jack-tools]") {
  const auto a = noise(1000);
  std::vector<float> neg(a.size());
  std::vector<float> scaled(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    neg[i] = -a[i];
    scaled[i] = 0.1f * a[i];
  }
  CHECK(jt::normalised_correlation(a, a) == Approx(1.0));
  CHECK(jt::normalised_correlation(a, neg) == Approx(-1.0));
  CHECK(jt::normalised_correlation(a, scaled) == Approx(1.0));
  CHECK(jt::normalised_correlation(a, std::vector<float>(1000, 0.0f)) == 0.0);
  CHECK(jt::normalised_correlation({}, {}) == 0.0);
}

TEST_CASE("correlation of a delayed copy finds the delay", "[jack-tools]") {
  const auto reference = noise(96000);
  for (std::size_t delay : {0u, 1u, 63u, 1234u, 20000u}) {
    const auto recorded = delayed(reference, delay, 0.7f);
    const auto r = jt::correlate(recorded, reference);
    REQUIRE(r.found);
    CHECK(r.lag == static_cast<std::int64_t>(delay));
    CHECK(r.correlation > 0.999);
    CHECK(r.block_min > 0.999);
    CHECK(r.lag_min == r.lag);
    CHECK(r.lag_max == r.lag);
    CHECK(r.blocks == 2);
    CHECK(r.glitch_periods == 0);
    CHECK(r.lag_changes == 0);
    CHECK(r.compared_frames == 96000);
  }
}

TEST_CASE("added noise lowers the correlation but keeps the lag", "[jack-tools]") {
  const auto reference = noise(48000);
  auto recorded = delayed(reference, 500, 1.0f);
  const auto hiss = noise(recorded.size(), 99);
  for (std::size_t i = 0; i < recorded.size(); ++i) recorded[i] += 0.25f * hiss[i];
  const auto r = jt::correlate(recorded, reference);
  REQUIRE(r.found);
  CHECK(r.lag == 500);
  CHECK(r.correlation < 0.99);
  CHECK(r.correlation > 0.9);
}

TEST_CASE("another signal does not correlate", "[jack-tools]") {
  const auto reference = noise(48000, 1);
  const auto recorded = delayed(noise(48000, 7), 300, 1.0f);
  const auto r = jt::correlate(recorded, reference);
  CHECK(r.correlation < 0.1);
  CHECK(r.glitch_periods > 600);  // nearly every 64-frame piece
  CHECK(r.lag_changes < 10);      // no lag matches a 64-frame piece of unrelated noise
}

TEST_CASE("silence and empty input are reported as not found", "[jack-tools]") {
  const auto reference = noise(4800);
  CHECK_FALSE(jt::correlate(std::vector<float>(9600, 0.0f), reference).found);
  CHECK_FALSE(jt::correlate(reference, std::vector<float>(100, 0.0f)).found);
  CHECK_FALSE(jt::correlate({}, reference).found);
}

TEST_CASE("a lost period shows as a glitch and a dropout", "[jack-tools]") {
  const auto reference = noise(48000);
  auto recorded = delayed(reference, 700, 1.0f);
  std::fill_n(recorded.begin() + 700 + 10000, 64, 0.0f);  // one period of silence
  const auto r = jt::correlate(recorded, reference);
  REQUIRE(r.found);
  CHECK(r.lag == 700);
  CHECK(r.glitch_periods >= 1);
  CHECK(r.glitch_periods <= 2);
  CHECK(r.lag_changes == 0);
  CHECK(r.correlation > 0.99);

  const auto d = jt::find_dropouts(recorded, 8, 0.0f);
  CHECK(d.dropouts == 1);
  CHECK(d.dropout_frames == 64);
  CHECK(d.longest_dropout == 64);
  CHECK(d.active_begin == 700);
  CHECK(d.active_end == 700 + 48000);
}

TEST_CASE("slipping frames (drift) show in the block lags", "[jack-tools]") {
  const auto reference = noise(144000);
  auto recorded = delayed(reference, 100, 1.0f);
  // Five frames dropped in the middle of the second block: later blocks arrive 5 frames early.
  recorded.erase(recorded.begin() + 100 + 72000, recorded.begin() + 100 + 72005);
  const auto r = jt::correlate(recorded, reference);
  REQUIRE(r.found);
  CHECK(r.lag == 100);
  CHECK(r.lag_min == 95);
  CHECK(r.lag_max == 100);
  CHECK(r.lag_changes == 1);
  CHECK(r.lag_jumps == 0);  // 5 frames: drift, not lost audio
  CHECK(r.glitch_periods <= 1);
  CHECK(r.blocks == 3);
}

TEST_CASE("a period missing from the recording is a glitch and a lag change", "[jack-tools]") {
  const auto reference = noise(48000);
  auto recorded = delayed(reference, 640, 1.0f);
  // The recorder missed one 64-frame cycle on a period boundary.
  recorded.erase(recorded.begin() + 640 + 64 * 100, recorded.begin() + 640 + 64 * 101);
  const auto r = jt::correlate(recorded, reference);
  REQUIRE(r.found);
  CHECK(r.lag == 640);
  CHECK(r.glitch_periods == 1);  // its audio is nowhere in the recording
  CHECK(r.lag_changes == 1);     // and what follows arrives a period early
  CHECK(r.lag_jumps == 1);
  CHECK(r.lag_min == 640 - 64);
  CHECK(r.correlation > 0.99);
}

TEST_CASE("multitone: lost and repeated periods are found without aliasing", "[jack-tools]") {
  jt::SignalSpec spec;
  spec.kind = jt::SignalKind::multitone;
  std::vector<float> reference(5 * 48000);
  jt::generate(spec, 0, 0, reference);
  auto recorded = delayed(reference, 6400, 1.0f);
  // Ten events, 0.4 s apart, alternately a lost and a repeated period.
  for (int e = 0; e < 10; ++e) {
    const auto at = recorded.begin() + 6400 + 64 * (300 + 300 * e);
    if (e % 2 == 0) {
      recorded.erase(at, at + 64);
    } else {
      const std::vector<float> copy(at - 64, at);
      recorded.insert(at, copy.begin(), copy.end());
    }
  }
  const auto r = jt::correlate(recorded, reference);
  REQUIRE(r.found);
  CHECK(r.lag == 6400);
  CHECK(r.lag_jumps == 10);
  CHECK(r.lag_changes == 10);
  CHECK(r.glitch_periods <= 10);
  CHECK(r.lag_min == 6400 - 64);
  CHECK(r.lag_max == 6400);
  CHECK(r.correlation > 0.99);
}

TEST_CASE("multitone: audio dropped far beyond the slip window is found again", "[jack-tools]") {
  // A receiver whose audio clock lost 40 ms (xruns) drops the 40 ms of audio that went stale:
  // the signal goes on 1920 frames earlier, intact. Twice, in opposite directions, once past
  // 100 ms.
  jt::SignalSpec spec;
  spec.kind = jt::SignalKind::multitone;
  std::vector<float> reference(5 * 48000);
  jt::generate(spec, 0, 0, reference);
  auto recorded = delayed(reference, 6400, 1.0f);
  recorded.erase(recorded.begin() + 6400 + 64 * 500, recorded.begin() + 6400 + 64 * 530);
  const auto at = recorded.begin() + 6400 + 64 * 2000;
  const std::vector<float> copy(at - 5760, at);  // 120 ms played again
  recorded.insert(at, copy.begin(), copy.end());

  jt::CorrelationOptions options;
  options.relock_frames = 12000;
  options.relock_step = 4;
  const auto r = jt::correlate(recorded, reference, options);
  REQUIRE(r.found);
  CHECK(r.lag == 6400);
  CHECK(r.lag_changes == 2);
  CHECK(r.lag_jumps == 2);
  CHECK(r.lag_min == 6400 - 64 * 30);
  CHECK(r.lag_max == 6400 - 64 * 30 + 5760);
  // The 30 dropped periods are lost audio; the search needs a clean 1024-frame stretch after
  // them, found within two more tries. The repeated audio is found at once.
  CHECK(r.glitch_periods >= 30);
  CHECK(r.glitch_periods <= 30 + 2 * 16 + 2);
  CHECK(r.correlation > 0.97);

  // Followed only nearby (the default), everything after the first jump matches nowhere.
  const auto near = jt::correlate(recorded, reference);
  CHECK(near.lag_changes == 0);
  CHECK(near.glitch_periods > 3000);
  CHECK(near.correlation < 0.5);
}

TEST_CASE("multitone: a stretch of another signal is not mistaken for a far continuation",
          "[jack-tools]") {
  jt::SignalSpec spec;
  spec.kind = jt::SignalKind::multitone;
  std::vector<float> reference(3 * 48000);
  jt::generate(spec, 0, 0, reference);
  auto recorded = delayed(reference, 6400, 1.0f);
  // 0.5 s of a different multitone (another seed) in place of the signal.
  jt::SignalSpec other = spec;
  other.seed = spec.seed + 1;
  std::vector<float> wrong(24000);
  jt::generate(other, 0, 64 * 600, wrong);
  std::copy(wrong.begin(), wrong.end(), recorded.begin() + 6400 + 64 * 600);

  jt::CorrelationOptions options;
  options.relock_frames = 12000;
  options.relock_step = 4;
  const auto r = jt::correlate(recorded, reference, options);
  REQUIRE(r.found);
  CHECK(r.lag_changes == 0);  // the signal comes back where it was
  CHECK(r.glitch_periods >= 370);
  CHECK(r.glitch_periods <= 380);
}

TEST_CASE("a repeated period (naive concealment) is one lag change", "[jack-tools]") {
  const auto reference = noise(48000);
  auto recorded = delayed(reference, 640, 1.0f);
  // Period 200 is played twice; everything after it arrives one period later.
  const auto at = recorded.begin() + 640 + 64 * 200;
  const std::vector<float> copy(at - 64, at);
  recorded.insert(at, copy.begin(), copy.end());
  const auto r = jt::correlate(recorded, reference);
  REQUIRE(r.found);
  CHECK(r.lag_changes == 1);
  CHECK(r.lag_jumps == 1);
  CHECK(r.glitch_periods == 0);
  CHECK(r.lag_min == 640);
  CHECK(r.lag_max == 640 + 64);
}

TEST_CASE("dropouts: short zero runs and the silent edges are not counted", "[jack-tools]") {
  std::vector<float> x(1000, 0.5f);
  std::fill_n(x.begin(), 100, 0.0f);        // leading silence: outside the active span
  std::fill_n(x.begin() + 900, 100, 0.0f);  // trailing silence
  std::fill_n(x.begin() + 300, 7, 0.0f);    // shorter than the minimum
  std::fill_n(x.begin() + 500, 20, 0.0f);
  std::fill_n(x.begin() + 600, 8, 0.0f);
  const auto d = jt::find_dropouts(x, 8, 0.0f);
  CHECK(d.active_begin == 100);
  CHECK(d.active_end == 900);
  CHECK(d.dropouts == 2);
  CHECK(d.dropout_frames == 28);
  CHECK(d.longest_dropout == 20);
  CHECK(d.discontinuities == 0);

  CHECK(jt::find_dropouts(std::vector<float>(50, 0.0f), 8, 0.1f).dropouts == 0);
}

TEST_CASE("discontinuities in a smooth signal are counted", "[jack-tools]") {
  jt::SignalSpec spec;
  spec.kind = jt::SignalKind::multitone;
  std::vector<float> x(48000);
  jt::generate(spec, 0, 0, x);
  const float threshold = 1.5f * jt::max_step(x);
  CHECK(jt::find_dropouts(x, 8, threshold).discontinuities == 0);
  // A repeated period (naive concealment) leaves a step where it rejoins the signal.
  std::copy_n(x.begin() + 20000, 64, x.begin() + 20064 + 37);
  CHECK(jt::find_dropouts(x, 8, threshold).discontinuities >= 1);
}

TEST_CASE("impulses are found once each, at their peak", "[jack-tools]") {
  std::vector<float> x(48000, 0.0f);
  x[1000] = 0.9f;
  x[13000] = 0.45f;  // smeared over two samples (fractional delay)
  x[13001] = 0.47f;
  x[25000] = -0.8f;  // polarity does not matter
  x[25003] = 0.3f;   // ringing within the refractory window
  const auto found = jt::find_impulses(x, 0.2f, 6000);
  REQUIRE(found.size() == 3);
  CHECK(found[0] == 1000);
  CHECK(found[1] == 13001);
  CHECK(found[2] == 25000);
  CHECK(jt::find_impulses(std::vector<float>(100, 0.1f), 0.2f, 10).empty());
}

TEST_CASE("frame times come from the period marks", "[jack-tools]") {
  const std::vector<jt::PeriodMark> marks{{0, 1000000}, {64, 1001400}, {128, 1002700}};
  CHECK(*jt::frame_time_us(marks, 0, 48000) == Approx(1000000.0));
  CHECK(*jt::frame_time_us(marks, 48, 48000) == Approx(1001000.0));
  CHECK(*jt::frame_time_us(marks, 64, 48000) == Approx(1001400.0));
  CHECK(*jt::frame_time_us(marks, 200, 48000) == Approx(1002700.0 + 72 * 1e6 / 48000));
  const std::vector<jt::PeriodMark> late{{10, 5}};
  CHECK_FALSE(jt::frame_time_us(late, 3, 48000));
  CHECK_FALSE(jt::frame_time_us({}, 3, 48000));
}

TEST_CASE("grid latency tolerates rounding before the grid point", "[jack-tools]") {
  const std::uint64_t interval = 250000;
  CHECK(jt::grid_latency_us(4.0 * interval + 1000.0, interval) == Approx(1000.0));
  CHECK(jt::grid_latency_us(4.0 * interval - 5.0, interval) == Approx(-5.0));
  CHECK(jt::grid_latency_us(4.0 * interval + 0.8 * interval, interval) == Approx(0.8 * interval));
  CHECK(jt::grid_latency_us(4.0 * interval + 0.9 * interval, interval) == Approx(-0.1 * interval));
}

TEST_CASE("summaries", "[jack-tools]") {
  CHECK_FALSE(jt::summarise({}));
  const auto odd = jt::summarise({3.0, 1.0, 2.0});
  REQUIRE(odd);
  CHECK(odd->count == 3);
  CHECK(odd->min == 1.0);
  CHECK(odd->median == 2.0);
  CHECK(odd->max == 3.0);
  CHECK(odd->mean == Approx(2.0));
  const auto even = jt::summarise({4.0, 1.0, 2.0, 3.0});
  CHECK(even->median == Approx(2.5));
}

TEST_CASE("levels in dBFS", "[jack-tools]") {
  CHECK(jt::to_dbfs(1.0) == Approx(0.0));
  CHECK(jt::to_dbfs(0.5) == Approx(-6.0206));
  CHECK(jt::to_dbfs(0.0) == -200.0);
}
