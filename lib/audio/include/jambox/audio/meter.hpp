#pragma once
// Peak and RMS accumulation over a publishing interval.

#include <jambox/audio/snapshot.hpp>

#include <cstddef>

namespace jambox::audio {

class Meter {
 public:
  void add(const float* x, std::size_t n) noexcept;
  // Levels since the last call (silence if nothing was added), then starts a new interval.
  [[nodiscard]] Level take() noexcept;

 private:
  float peak_ = 0.0F;
  double sum_squares_ = 0.0;
  std::size_t count_ = 0;
};

}  // namespace jambox::audio
