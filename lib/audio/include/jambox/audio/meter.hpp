#pragma once
// Peak and RMS accumulation over a publishing interval.

#include <jambox/audio/snapshot.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace jambox::audio {

// What a meter accumulated, kept raw (linear peak, sum of squares, sample count) rather than in
// dB so that accumulations over consecutive intervals combine exactly: the peak of a longer
// window is the largest peak, its RMS comes from the summed squares over the summed count.
struct MeterSum {
  float peak = 0.0F;  // largest |sample|
  double sum_squares = 0.0;
  std::uint64_t count = 0;  // samples; 0: nothing was measured

  void merge(const MeterSum& other) noexcept {
    peak = std::max(peak, other.peak);
    sum_squares += other.sum_squares;
    count += other.count;
  }
  // Silence when nothing was measured.
  [[nodiscard]] Level level() const noexcept;
};

class Meter {
 public:
  void add(const float* x, std::size_t n) noexcept;
  // Levels since the last call (silence if nothing was added), then starts a new interval.
  [[nodiscard]] Level take() noexcept { return take_sum().level(); }
  // The same, raw, for combining with other intervals.
  [[nodiscard]] MeterSum take_sum() noexcept;

 private:
  MeterSum sum_;
};

}  // namespace jambox::audio
