#pragma once
// The jitter buffer of one remote jammer: turns packets that arrive early, late, twice, out of
// order or never into a continuous stereo stream at our sound card's rate.
//
// Time model. The buffer counts the frames it has played (its clock). A packet's "delay" is the
// clock when it reached the audio thread minus its position in the sender's stream; the smallest
// delay of the last 2 s is the arrival schedule's baseline, and each packet's delay above that
// baseline is its jitter. The playout "depth" is how far the read position runs behind the
// baseline: a packet is in time exactly when depth >= its jitter.
//
// Target. A forgetting histogram of jitter (memory a few seconds) gives the quantile the buffer
// must cover; target = quantile + margin, clamped to [floor, ceiling].
//
// Steering. Depth is steered to the target by resampling the stream at 1 + u, u from a PI
// controller on (depth - target). The integral term converges to the clock drift between the
// two sound cards, so the depth neither creeps nor needs periodic skips; the bounded u (a few
// thousand ppm) keeps the pitch change inaudible.
//
// Gaps. A missing packet whose successors are already here is lost: it is concealed in place and
// the stream keeps its timing. When nothing at all is buffered (a late packet), playout waits
// with concealment (an underrun) and resumes with the late packet, so a jitter spike costs one
// concealed stretch and makes the buffer deeper, never a skip; if the wait exceeds what the
// ceiling allows, the excess is dropped when audio resumes.
//
// Thread: one thread (the audio thread) calls everything. No allocation after construction.

#include <jambox/audio/config.hpp>
#include <jambox/audio/snapshot.hpp>

#include <cstdint>
#include <memory>
#include <span>

namespace jambox::audio {

enum class PushResult : std::uint8_t { stored, duplicate, late, resync, rejected };

class JitterBuffer {
 public:
  explicit JitterBuffer(const JitterConfig& config);
  ~JitterBuffer();
  JitterBuffer(const JitterBuffer&) = delete;
  JitterBuffer& operator=(const JitterBuffer&) = delete;

  // Takes effect immediately; the target moves smoothly (config must be valid).
  void configure(const JitterConfig& config) noexcept;
  // Forgets the stream and the statistics (slot reuse for a new remote).
  void reset() noexcept;

  // One packet of `frames` = ch1.size() (32, 64, 128 or 256) frames. arrival_us: when the packet
  // arrived (the kernel's receive time); now_us: the current period's time on the same monotonic
  // clock. With both, delays are measured to the microsecond instead of to the period, which keeps
  // the drift estimate smooth; 0 means unknown.
  PushResult push(std::uint32_t sequence, std::span<const float> ch1, std::span<const float> ch2,
                  std::uint64_t arrival_us = 0, std::uint64_t now_us = 0) noexcept;
  // The next out_l.size() (<= kMaxPeriodFrames) frames of the stream.
  void pull(std::span<float> out_l, std::span<float> out_r) noexcept;

  [[nodiscard]] JitterStats stats() const noexcept;
  [[nodiscard]] std::uint64_t frames_since_push() const noexcept;  // silence detection
  [[nodiscard]] double ratio() const noexcept;                     // current resampling ratio

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace jambox::audio
