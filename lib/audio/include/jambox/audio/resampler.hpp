#pragma once
// Fractional-ratio resampler used to absorb the clock difference between the sender's sound card
// and ours. The ratio stays within a few thousand ppm of 1, steered by the jitter buffer level.
//
// Why windowed sinc and not a cubic: the fractional phase sweeps slowly through [0, 1) (every
// 0.2 s at 100 ppm), and a 4-point cubic loses several dB above 10 kHz at mid phase, which would
// be heard as a slow treble flutter. 16 Kaiser-windowed sinc taps stay flat to well above 15 kHz
// at every phase, cost 16 multiply-adds per sample and channel, and add 8 samples (0.17 ms) of
// delay. At phase 0 the kernel is an exact identity, so ratio 1 passes audio bit for bit.

#include <jambox/audio/config.hpp>

#include <array>
#include <cstddef>
#include <span>

namespace jambox::audio {

class Resampler {
 public:
  static constexpr std::size_t kTaps = 16;
  static constexpr std::size_t kPhases = 512;
  // Largest input block one call may need: a full period at the highest ratio, plus rounding.
  static constexpr std::size_t kMaxInput = kMaxPeriodFrames + kMaxPeriodFrames / 64 + 4;
  static constexpr double kMaxRatioDeviation = 0.01;  // ratio is clamped to 1 +- this

  Resampler() noexcept;
  void reset() noexcept;  // silence history, phase 0

  // Input frames the next process() call must be given to produce `out_frames` at `ratio`
  // (input frames consumed per output frame).
  [[nodiscard]] std::size_t input_needed(std::size_t out_frames, double ratio) const noexcept;
  // in_* must hold exactly input_needed(out_l.size(), ratio) frames; out_l and out_r the same size.
  void process(std::span<const float> in_l, std::span<const float> in_r, std::span<float> out_l,
               std::span<float> out_r, double ratio) noexcept;

  [[nodiscard]] double phase() const noexcept { return phase_; }

 private:
  const float* kernel_;  // (kPhases + 1) x kTaps, shared by every instance
  double phase_ = 0.0;
  // Input from the next output's first tap on: history, then any lookahead not yet reached.
  std::array<float, kTaps + kMaxInput> buf_l_{};
  std::array<float, kTaps + kMaxInput> buf_r_{};
  std::size_t count_ = 0;
};

}  // namespace jambox::audio
