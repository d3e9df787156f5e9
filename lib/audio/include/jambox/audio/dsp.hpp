#pragma once
// Small mixing arithmetic shared by the engine and its tests: decibels, the pan law and gain
// ramps.

#include <cstddef>

namespace jambox::audio {

// dB to linear amplitude; -120 dB and below is treated as silence (exactly 0).
[[nodiscard]] float db_to_gain(float db) noexcept;
// Linear amplitude to dBFS, floored at kSilenceDbfs (-120) so silence is a finite number.
[[nodiscard]] float amplitude_to_dbfs(float amplitude) noexcept;
[[nodiscard]] float power_to_dbfs(double mean_square) noexcept;

// Constant-power pan: theta = (pan + 1) * pi / 4 in [0, pi/2], left = cos(theta),
// right = sin(theta). left^2 + right^2 == 1 at every position, so a source keeps its loudness
// while it moves; at the centre both sides get -3 dB. pan is clamped to [-1, 1].
struct PanGains {
  float left = 0.0F;
  float right = 0.0F;
};
[[nodiscard]] PanGains pan_gains(float pan) noexcept;

// A gain that moves to a new value linearly over one period instead of jumping, so fader moves
// and mutes never produce zipper noise or clicks.
class GainRamp {
 public:
  explicit GainRamp(float initial = 0.0F) noexcept : current_(initial), target_(initial) {}
  void set(float target) noexcept { target_ = target; }
  void jump(float value) noexcept { current_ = target_ = value; }
  [[nodiscard]] float current() const noexcept { return current_; }
  [[nodiscard]] float target() const noexcept { return target_; }
  [[nodiscard]] bool silent() const noexcept { return current_ == 0.0F && target_ == 0.0F; }
  // out[i] += in[i] * gain(i), gain ramping from current to target over n samples.
  void add(const float* in, float* out, std::size_t n) noexcept;
  // x[i] *= gain(i).
  void apply(float* x, std::size_t n) noexcept;

 private:
  float current_;
  float target_;
};

}  // namespace jambox::audio
