#include <jambox/audio/dsp.hpp>
#include <jambox/audio/meter.hpp>

#include <algorithm>
#include <cmath>

namespace jambox::audio {

void Meter::add(const float* x, std::size_t n) noexcept {
  float peak = peak_;
  // Accumulate in float per block (at most a period), then in double across blocks: precise
  // enough for a meter and cheap on the audio thread.
  float block = 0.0F;
  for (std::size_t i = 0; i < n; ++i) {
    const float v = x[i];
    peak = std::max(peak, std::fabs(v));
    block += v * v;
  }
  peak_ = peak;
  sum_squares_ += static_cast<double>(block);
  count_ += n;
}

Level Meter::take() noexcept {
  Level level;
  if (count_ > 0) {
    level.peak_dbfs = amplitude_to_dbfs(peak_);
    level.rms_dbfs = power_to_dbfs(sum_squares_ / static_cast<double>(count_));
  }
  peak_ = 0.0F;
  sum_squares_ = 0.0;
  count_ = 0;
  return level;
}

}  // namespace jambox::audio
