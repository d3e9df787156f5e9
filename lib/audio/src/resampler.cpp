#include <jambox/audio/resampler.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <numbers>

namespace jambox::audio {
namespace {

constexpr std::size_t kTaps = Resampler::kTaps;
constexpr std::size_t kPhases = Resampler::kPhases;
constexpr std::size_t kHistory = kTaps - 1;
// Kaiser beta 8: side lobes near -80 dB; with 16 taps the response at every fractional phase is
// flat within 0.1 dB to about 15 kHz.
constexpr double kBeta = 8.0;

double bessel_i0(double x) {
  double sum = 1.0;
  double term = 1.0;
  for (int k = 1; k < 50; ++k) {
    const double f = x / (2.0 * k);
    term *= f * f;
    sum += term;
    if (term < 1e-17 * sum) break;
  }
  return sum;
}

using Kernel = std::array<float, (kPhases + 1) * kTaps>;

Kernel make_kernel() {
  Kernel kernel{};
  const double half = static_cast<double>(kTaps) / 2.0;
  const double norm = bessel_i0(kBeta);
  for (std::size_t p = 0; p <= kPhases; ++p) {
    const double frac = static_cast<double>(p) / static_cast<double>(kPhases);
    std::array<double, kTaps> row{};
    double sum = 0.0;
    for (std::size_t j = 0; j < kTaps; ++j) {
      // Distance of tap j from the interpolation point (tap 7 + frac).
      const double d = static_cast<double>(j) - (half - 1.0) - frac;
      double sinc = 1.0;
      if (d != 0.0) {
        const double nearest = std::round(d);
        // Integer distances are exact zeros, so phase 0 (and 1) is an exact identity.
        sinc = (d == nearest) ? 0.0 : std::sin(std::numbers::pi * d) / (std::numbers::pi * d);
      }
      const double x = d / half;
      const double window =
          (std::fabs(x) >= 1.0) ? 0.0 : bessel_i0(kBeta * std::sqrt(1.0 - x * x)) / norm;
      row[j] = sinc * window;
      sum += row[j];
    }
    // Unit gain at DC for every phase: no level ripple as the phase sweeps.
    for (std::size_t j = 0; j < kTaps; ++j) {
      kernel[p * kTaps + j] = static_cast<float>(row[j] / sum);
    }
  }
  return kernel;
}

// Built on first use, which is a constructor (never the audio thread).
const float* shared_kernel() {
  static const Kernel kernel = make_kernel();
  return kernel.data();
}

}  // namespace

Resampler::Resampler() noexcept : kernel_(shared_kernel()) {
  reset();
}

void Resampler::reset() noexcept {
  phase_ = 0.0;
  buf_l_.fill(0.0F);
  buf_r_.fill(0.0F);
  count_ = kHistory;  // start from silence
}

std::size_t Resampler::input_needed(std::size_t out_frames, double ratio) const noexcept {
  if (out_frames == 0) return 0;
  ratio = std::clamp(ratio, 1.0 - kMaxRatioDeviation, 1.0 + kMaxRatioDeviation);
  const double n = static_cast<double>(out_frames);
  // The last output's first tap, plus its kTaps taps.
  const auto last = static_cast<std::size_t>(std::floor(phase_ + (n - 1.0) * ratio)) + kTaps;
  return last > count_ ? std::min(last - count_, kMaxInput) : 0;
}

void Resampler::process(std::span<const float> in_l, std::span<const float> in_r,
                        std::span<float> out_l, std::span<float> out_r, double ratio) noexcept {
  ratio = std::clamp(ratio, 1.0 - kMaxRatioDeviation, 1.0 + kMaxRatioDeviation);
  const std::size_t n = std::min(out_l.size(), out_r.size());
  const std::size_t m = std::min({in_l.size(), in_r.size(), buf_l_.size() - count_});
  std::copy_n(in_l.data(), m, buf_l_.data() + count_);
  std::copy_n(in_r.data(), m, buf_r_.data() + count_);
  count_ += m;

  const float* bl = buf_l_.data();
  const float* br = buf_r_.data();
  const std::size_t max_base = count_ >= kTaps ? count_ - kTaps : 0;
  for (std::size_t k = 0; k < n; ++k) {
    const double t = phase_ + static_cast<double>(k) * ratio;
    const double whole = std::floor(t);
    // Guard: never read past the given input (only a caller error can trigger it).
    const std::size_t base = std::min(static_cast<std::size_t>(whole), max_base);
    const double p = (t - whole) * static_cast<double>(kPhases);
    const auto ip = std::min(static_cast<std::size_t>(p), kPhases - 1);
    const auto a = static_cast<float>(p - static_cast<double>(ip));
    const float* row0 = kernel_ + ip * kTaps;
    const float* row1 = row0 + kTaps;
    // Element-wise products, then a pairwise sum: unlike one running sum (a chain of dependent
    // additions the compiler may not reorder), every step here vectorises.
    static_assert(kTaps == 16);
    std::array<float, kTaps> pl;
    std::array<float, kTaps> pr;
    for (std::size_t j = 0; j < kTaps; ++j) {
      const float c = row0[j] + a * (row1[j] - row0[j]);
      pl[j] = c * bl[base + j];
      pr[j] = c * br[base + j];
    }
    for (std::size_t j = 0; j < kTaps / 2; ++j) {
      pl[j] += pl[j + kTaps / 2];
      pr[j] += pr[j + kTaps / 2];
    }
    for (std::size_t j = 0; j < kTaps / 4; ++j) {
      pl[j] += pl[j + kTaps / 4];
      pr[j] += pr[j + kTaps / 4];
    }
    out_l[k] = (pl[0] + pl[2]) + (pl[1] + pl[3]);
    out_r[k] = (pr[0] + pr[2]) + (pr[1] + pr[3]);
  }

  // Drop the input the next output no longer reaches; keep the rest (history and lookahead).
  const double end = phase_ + static_cast<double>(n) * ratio;
  const double whole = std::floor(end);
  const std::size_t advance = std::min(static_cast<std::size_t>(whole), count_);
  phase_ = end - whole;
  count_ -= advance;
  std::memmove(buf_l_.data(), buf_l_.data() + advance, count_ * sizeof(float));
  std::memmove(buf_r_.data(), buf_r_.data() + advance, count_ * sizeof(float));
}

}  // namespace jambox::audio
