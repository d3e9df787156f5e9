#include <jambox/audio/dsp.hpp>
#include <jambox/audio/snapshot.hpp>

#include <algorithm>
#include <cmath>
#include <numbers>

namespace jambox::audio {

float db_to_gain(float db) noexcept {
  if (!(db > kSilenceDbfs)) return 0.0F;  // also catches NaN
  return std::pow(10.0F, db / 20.0F);
}

float amplitude_to_dbfs(float amplitude) noexcept {
  const float a = std::fabs(amplitude);
  if (!(a > 1e-6F)) return kSilenceDbfs;  // 1e-6 is -120 dBFS
  return std::max(kSilenceDbfs, 20.0F * std::log10(a));
}

float power_to_dbfs(double mean_square) noexcept {
  if (!(mean_square > 1e-12)) return kSilenceDbfs;
  return std::max(kSilenceDbfs, static_cast<float>(10.0 * std::log10(mean_square)));
}

PanGains pan_gains(float pan) noexcept {
  const float p = std::isnan(pan) ? 0.0F : std::clamp(pan, -1.0F, 1.0F);
  const float theta = (p + 1.0F) * std::numbers::pi_v<float> / 4.0F;
  // Exact values at the ends so hard-panned sources are fully silent on the other side.
  if (p <= -1.0F) return {1.0F, 0.0F};
  if (p >= 1.0F) return {0.0F, 1.0F};
  return {std::cos(theta), std::sin(theta)};
}

void GainRamp::add(const float* in, float* out, std::size_t n) noexcept {
  if (n == 0) return;
  if (current_ == target_) {
    const float g = current_;
    if (g == 0.0F) return;
    for (std::size_t i = 0; i < n; ++i) out[i] += in[i] * g;
    return;
  }
  const float step = (target_ - current_) / static_cast<float>(n);
  for (std::size_t i = 0; i < n; ++i) {
    out[i] += in[i] * (current_ + step * static_cast<float>(i + 1));
  }
  current_ = target_;
}

void GainRamp::apply(float* x, std::size_t n) noexcept {
  if (n == 0) return;
  if (current_ == target_) {
    const float g = current_;
    if (g == 1.0F) return;
    for (std::size_t i = 0; i < n; ++i) x[i] *= g;
    return;
  }
  const float step = (target_ - current_) / static_cast<float>(n);
  for (std::size_t i = 0; i < n; ++i) x[i] *= current_ + step * static_cast<float>(i + 1);
  current_ = target_;
}

}  // namespace jambox::audio
