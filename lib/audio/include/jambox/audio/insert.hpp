#pragma once
// An effect chain on one input (lib/pedals makes them from LV2 plugins). It is built off the
// audio thread and handed to the engine by Command::insert; from then on the audio thread runs
// it and changes its settings, and the control thread gets it back to delete through
// Engine::reclaim_inserts(): the audio thread never frees one.

#include <cstdint>

namespace jambox::audio {

inline constexpr std::uint32_t kMaxInsertPositions = 8;  // pedals in one chain

class Insert {
 public:
  Insert() = default;
  virtual ~Insert() = default;
  Insert(const Insert&) = delete;
  Insert& operator=(const Insert&) = delete;

  // Audio thread: processes `frames` (1..kMaxPeriodFrames) samples in place.
  virtual void run(float* samples, std::uint32_t frames) noexcept = 0;
  // Audio thread: a control port's new value (already range-checked by the control thread);
  // unknown positions and ports are ignored.
  virtual void set_param(std::uint32_t position, std::uint32_t port, float value) noexcept = 0;
  // Audio thread: one pedal in or out of the signal (faded over one period).
  virtual void set_bypass(std::uint32_t position, bool bypassed) noexcept = 0;
};

}  // namespace jambox::audio
