// The drift-compensating resampler: exact at ratio 1, clean at ratios near 1.
#include <jambox/audio/resampler.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <numbers>
#include <vector>

using namespace jambox::audio;

namespace {

double signal(double freq, double t) {
  return 0.5 * std::sin(2.0 * std::numbers::pi * freq * t / 48000.0);
}

// Runs the resampler over a sine for `periods` periods of 64 and returns the SNR in dB of the
// output against the ideal sine at the resampled positions (skipping the start-up).
double snr_db(double freq, double ratio, int periods) {
  Resampler rs;
  std::vector<float> in_l(Resampler::kMaxInput), in_r(Resampler::kMaxInput);
  std::vector<float> out_l(64), out_r(64);
  double in_pos = 0.0;   // index of the next input sample
  double out_pos = 0.0;  // input-time position of the next output (before the filter delay)
  double signal_power = 0.0;
  double noise_power = 0.0;
  for (int p = 0; p < periods; ++p) {
    const std::size_t m = rs.input_needed(64, ratio);
    for (std::size_t i = 0; i < m; ++i) {
      in_l[i] = static_cast<float>(signal(freq, in_pos));
      in_r[i] = -in_l[i];
      in_pos += 1.0;
    }
    rs.process({in_l.data(), m}, {in_r.data(), m}, out_l, out_r, ratio);
    for (std::size_t k = 0; k < 64; ++k) {
      // The kernel is centred 8 samples behind the newest input: output k sits at input time
      // out_pos - 8 (the history starts as 15 zeros, hence the warm-up skip).
      const double ideal = signal(freq, out_pos - 8.0);
      out_pos += ratio;
      if (p < 4) continue;
      signal_power += ideal * ideal;
      const double e = static_cast<double>(out_l[k]) - ideal;
      noise_power += e * e;
      const double er = static_cast<double>(out_r[k]) + ideal;
      noise_power += er * er;
      signal_power += ideal * ideal;
    }
  }
  return 10.0 * std::log10(signal_power / noise_power);
}

}  // namespace

TEST_CASE("resampler at ratio 1 is an exact 8-sample delay", "[audio][resampler]") {
  Resampler rs;
  std::vector<float> in(64), out_l(64), out_r(64), all;
  std::vector<float> in_all;
  for (int p = 0; p < 10; ++p) {
    REQUIRE(rs.input_needed(64, 1.0) == 64);
    for (std::size_t i = 0; i < 64; ++i) {
      in[i] = static_cast<float>(std::sin(0.1 * static_cast<double>(p * 64 + static_cast<int>(i))));
      in_all.push_back(in[i]);
    }
    rs.process(in, in, out_l, out_r, 1.0);
    all.insert(all.end(), out_l.begin(), out_l.end());
    for (std::size_t i = 0; i < 64; ++i) REQUIRE(out_l[i] == out_r[i]);
  }
  for (std::size_t i = 0; i < 8; ++i) CHECK(all[i] == 0.0F);
  for (std::size_t i = 8; i < all.size(); ++i) REQUIRE(all[i] == in_all[i - 8]);
}

TEST_CASE("resampler stays clean at drift-sized ratios", "[audio][resampler]") {
  for (const double ratio : {1.0001, 0.9999, 1.003, 0.997}) {
    INFO("ratio " << ratio);
    CHECK(snr_db(440.0, ratio, 400) > 90.0);
    CHECK(snr_db(5000.0, ratio, 400) > 80.0);
    CHECK(snr_db(12000.0, ratio, 400) > 60.0);
  }
}

TEST_CASE("resampler consumes input at the requested ratio", "[audio][resampler]") {
  Resampler rs;
  std::vector<float> in(Resampler::kMaxInput, 0.0F), out(64);
  for (const double ratio : {1.0, 1.002, 0.998}) {
    rs.reset();
    std::size_t consumed = 0;
    const int periods = 10000;
    for (int p = 0; p < periods; ++p) {
      const std::size_t m = rs.input_needed(64, ratio);
      REQUIRE(m <= Resampler::kMaxInput);
      consumed += m;
      rs.process({in.data(), m}, {in.data(), m}, out, out, ratio);
    }
    const double expected = 64.0 * periods * ratio;
    CHECK(std::fabs(static_cast<double>(consumed) - expected) <= 3.0);
  }
}
