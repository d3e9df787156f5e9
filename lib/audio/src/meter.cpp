#include <jambox/audio/dsp.hpp>
#include <jambox/audio/meter.hpp>

#include <algorithm>
#include <cmath>

namespace jambox::audio {

Level MeterSum::level() const noexcept {
  Level level;
  if (count > 0) {
    level.peak_dbfs = amplitude_to_dbfs(peak);
    level.rms_dbfs = power_to_dbfs(sum_squares / static_cast<double>(count));
  }
  return level;
}

void Meter::add(const float* x, std::size_t n) noexcept {
  float peak = sum_.peak;
  // Accumulate in float per block (at most a period), then in double across blocks: precise
  // enough for a meter and cheap on the audio thread.
  float block = 0.0F;
  for (std::size_t i = 0; i < n; ++i) {
    const float v = x[i];
    peak = std::max(peak, std::fabs(v));
    block += v * v;
  }
  sum_.peak = peak;
  sum_.sum_squares += static_cast<double>(block);
  sum_.count += n;
}

MeterSum Meter::take_sum() noexcept {
  const MeterSum taken = sum_;
  sum_ = MeterSum{};
  return taken;
}

}  // namespace jambox::audio
