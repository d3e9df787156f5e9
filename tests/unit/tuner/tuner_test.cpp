// The tuner's pitch detector on test tones: +/- 1 cent from 41 Hz (a bass's low E) to 1320 Hz,
// pure and with harmonics, with white noise 30 dB below the tone (a noisy pickup; at 20 dB the
// lowest notes stay within 2.5 cents); settled 200 ms after a note starts; no pitch on silence and
// on noise.
#include <jambox/tuner/tuner.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <numbers>
#include <random>
#include <vector>

using jambox::tuner::DetectorConfig;
using jambox::tuner::nearest_note;
using jambox::tuner::PitchDetector;

namespace {

constexpr double kRate = 48000.0;

// `seconds` of a tone at `hz`: `harmonics` partials falling off as 1/h (a plucked string's
// rough shape), peak around `amplitude`, plus white noise `snr_db` below the tone (RMS).
std::vector<float> tone(double hz, double seconds, int harmonics, double amplitude, double snr_db,
                        unsigned seed) {
  const auto n = static_cast<std::size_t>(seconds * kRate);
  std::vector<double> x(n, 0.0);
  double power = 0.0;
  for (int h = 1; h <= harmonics; ++h) {
    const double a = amplitude / h;
    power += a * a / 2.0;
    for (std::size_t i = 0; i < n; ++i) {
      x[i] +=
          a * std::sin(2.0 * std::numbers::pi * hz * h * static_cast<double>(i) / kRate + 0.7 * h);
    }
  }
  std::mt19937 random(seed);
  std::normal_distribution<double> noise(0.0, std::sqrt(power / std::pow(10.0, snr_db / 10.0)));
  std::vector<float> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(x[i] + noise(random));
  return out;
}

double cents_between(double measured, double truth) {
  return 1200.0 * std::log2(measured / truth);
}

}  // namespace

TEST_CASE("tuner: +/- 1 cent from 41 Hz to 1320 Hz, pure and with harmonics, 30 dB SNR",
          "[tuner]") {
  PitchDetector detector(DetectorConfig{});
  double worst = 0.0;
  unsigned seed = 1;
  // Every semitone from E1 (41.2 Hz) to E6 (1318.5 Hz), a few cents off, and the range's ends.
  std::vector<double> frequencies{41.0, 1320.0};
  for (int midi = 28; midi <= 88; ++midi) {
    frequencies.push_back(440.0 * std::pow(2.0, (midi - 69 + 0.13) / 12.0));
  }
  for (const double hz : frequencies) {
    for (const int harmonics : {1, 6}) {
      const std::vector<float> x = tone(hz, 0.2, harmonics, 0.5, 30.0, seed++);
      const auto pitch = detector.analyse(x);
      CAPTURE(hz, harmonics, pitch.frequency_hz, pitch.confidence);
      REQUIRE(pitch.found);
      const double off = cents_between(pitch.frequency_hz, hz);
      CHECK(std::abs(off) <= 1.0);
      CHECK(pitch.confidence > 0.5);
      worst = std::max(worst, std::abs(off));
    }
  }
  UNSCOPED_INFO("worst error " << worst << " cents");
}

TEST_CASE("tuner: settled 200 ms after a note starts out of silence", "[tuner]") {
  PitchDetector detector(DetectorConfig{});
  for (const double hz : {41.2, 110.0, 329.6, 1318.5}) {
    std::vector<float> x(static_cast<std::size_t>(0.5 * kRate), 0.0F);
    const std::vector<float> note = tone(hz, 0.2, 4, 0.5, 30.0, 7);
    x.insert(x.end(), note.begin(), note.end());  // the input as it is 200 ms after the onset
    const auto pitch = detector.analyse(x);
    CAPTURE(hz, pitch.frequency_hz);
    REQUIRE(pitch.found);
    CHECK(std::abs(cents_between(pitch.frequency_hz, hz)) <= 1.0);
  }
}

TEST_CASE("tuner: no pitch on silence, on a hum below the floor, and on noise", "[tuner]") {
  PitchDetector detector(DetectorConfig{});
  const std::size_t n = detector.window() + 1000;
  CHECK_FALSE(detector.analyse(std::vector<float>(n, 0.0F)).found);
  // -70 dBFS: quieter than min_level_db (-60).
  CHECK_FALSE(detector.analyse(tone(110.0, 0.2, 1, 0.00045, 60.0, 3)).found);
  std::mt19937 random(11);
  std::normal_distribution<float> white(0.0F, 0.2F);
  for (int run = 0; run < 20; ++run) {
    std::vector<float> noise(n);
    for (auto& s : noise) s = white(random);
    const auto pitch = detector.analyse(noise);
    CAPTURE(run, pitch.frequency_hz, pitch.confidence);
    CHECK_FALSE(pitch.found);
  }
  // Fewer samples than the window: nothing to say.
  CHECK_FALSE(detector.analyse(tone(440.0, 0.01, 1, 0.5, 60.0, 5)).found);
}

TEST_CASE("tuner: note names and cents, A4 = 440 Hz", "[tuner]") {
  const auto a4 = nearest_note(440.0);
  CHECK(a4.name == "A");
  CHECK(a4.octave == 4);
  CHECK(a4.cents == Approx(0.0).margin(1e-9));
  const auto low_e = nearest_note(41.2034);
  CHECK(low_e.name == "E");
  CHECK(low_e.octave == 1);
  CHECK(std::abs(low_e.cents) < 0.01);
  const auto sharp = nearest_note(440.0 * std::pow(2.0, 0.3 / 12.0));  // 30 cents sharp
  CHECK(sharp.name == "A");
  CHECK(sharp.cents == Approx(30.0).margin(1e-6));
  const auto flat_c = nearest_note(261.6256 * std::pow(2.0, -0.45 / 12.0));
  CHECK(flat_c.name == "C");
  CHECK(flat_c.octave == 4);
  CHECK(flat_c.cents == Approx(-45.0).margin(0.01));
  const auto b3 = nearest_note(246.9417);
  CHECK(b3.name == "B");
  CHECK(b3.octave == 3);
  CHECK(nearest_note(1318.51).name == "E");
  CHECK(nearest_note(1318.51).octave == 6);
  // Another reference: A4 = 442 Hz.
  CHECK(nearest_note(442.0, 442.0).cents == Approx(0.0).margin(1e-9));
  CHECK(nearest_note(440.0, 442.0).cents == Approx(-7.85).margin(0.01));
}

TEST_CASE("tuner: a range the sample rate cannot resolve is refused", "[tuner]") {
  CHECK_THROWS_AS(PitchDetector(DetectorConfig{.sample_rate = 8000.0}), std::invalid_argument);
  CHECK_THROWS_AS(PitchDetector(DetectorConfig{.min_hz = 500.0, .max_hz = 400.0}),
                  std::invalid_argument);
}

TEST_CASE("tuner: a short window_ms still leaves the refinement room to look (low E at 10 ms)",
          "[tuner]") {
  PitchDetector detector(DetectorConfig{.window_ms = 10.0});
  // Two of the longest periods and the refinement's first look beyond one: never less.
  CHECK(detector.window() >= 2 * (48000 / 38 + 48000 / 38 / 16));
  const std::vector<float> x = tone(41.2, 0.2, 4, 0.5, 40.0, 9);
  const auto pitch = detector.analyse(x);  // reads only the window (ASan would say otherwise)
  REQUIRE(pitch.found);
  CHECK(std::abs(cents_between(pitch.frequency_hz, 41.2)) < 5.0);
}
