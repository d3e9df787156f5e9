// jambox-tuner-bench [--seeds N]: the tuner's worst error in cents over every semitone from E1
// (41.2 Hz) to E6 (1318.5 Hz), pure tones and tones with 6 harmonics, with white noise 30 dB and
// 20 dB below the tone, N noise seeds each; and the time one reading takes (median) at the
// range's ends. Prints one JSON line.
#include <jambox/tuner/tuner.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numbers>
#include <random>
#include <vector>

namespace {

constexpr double kRate = 48000.0;

std::vector<float> tone(double hz, std::size_t n, int harmonics, double snr_db, unsigned seed) {
  std::vector<double> x(n, 0.0);
  double power = 0.0;
  for (int h = 1; h <= harmonics; ++h) {
    const double a = 0.5 / h;
    power += a * a / 2.0;
    for (std::size_t i = 0; i < n; ++i) {
      x[i] += a * std::sin(2.0 * std::numbers::pi * hz * h * static_cast<double>(i) / kRate + h);
    }
  }
  std::mt19937 random(seed);
  std::normal_distribution<double> noise(0.0, std::sqrt(power / std::pow(10.0, snr_db / 10.0)));
  std::vector<float> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(x[i] + noise(random));
  return out;
}

double worst_cents(jambox::tuner::PitchDetector& detector, double snr_db, unsigned seeds,
                   unsigned& misses) {
  double worst = 0.0;
  for (int midi = 28; midi <= 88; ++midi) {
    const double hz = 440.0 * std::pow(2.0, (midi - 69 + 0.13) / 12.0);
    for (const int harmonics : {1, 6}) {
      for (unsigned seed = 1; seed <= seeds; ++seed) {
        const auto pitch = detector.analyse(tone(hz, detector.window(), harmonics, snr_db, seed));
        if (!pitch.found) {
          ++misses;
          continue;
        }
        worst = std::max(worst, std::abs(1200.0 * std::log2(pitch.frequency_hz / hz)));
      }
    }
  }
  return worst;
}

double median_us(jambox::tuner::PitchDetector& detector, double hz) {
  const std::vector<float> x = tone(hz, detector.window(), 6, 30.0, 1);
  std::vector<double> times;
  for (int i = 0; i < 31; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const auto pitch = detector.analyse(x);
    times.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
            .count());
    if (!pitch.found) std::fprintf(stderr, "no pitch at %.1f Hz\n", hz);
  }
  std::nth_element(times.begin(), times.begin() + 15, times.end());
  return times[15];
}

}  // namespace

int main(int argc, char** argv) {
  unsigned seeds = 5;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) {
      seeds = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
    } else {
      std::fprintf(stderr, "usage: %s [--seeds N]\n", argv[0]);
      return 64;
    }
  }
  jambox::tuner::PitchDetector detector(jambox::tuner::DetectorConfig{});
  unsigned misses30 = 0;
  unsigned misses20 = 0;
  const double worst30 = worst_cents(detector, 30.0, seeds, misses30);
  const double worst20 = worst_cents(detector, 20.0, seeds, misses20);
  std::printf(
      "{\"window_ms\":%.1f,\"tones\":%u,\"worst_cents_snr30\":%.3f,\"misses_snr30\":%u,"
      "\"worst_cents_snr20\":%.3f,\"misses_snr20\":%u,\"reading_us_41hz\":%.0f,"
      "\"reading_us_1318hz\":%.0f}\n",
      static_cast<double>(detector.window()) * 1000.0 / kRate, 61U * 2U * seeds, worst30, misses30,
      worst20, misses20, median_us(detector, 41.2), median_us(detector, 1318.5));
  return 0;
}
