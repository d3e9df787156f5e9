#pragma once
// Packet loss concealment by waveform matching, for one stereo stream.
//
// When audio is missing, the concealer finds the pitch period of the most recent output (a
// normalised cross-correlation search, coarse on a 4x decimated signal, then refined at full
// rate), and continues the waveform by repeating the last period(s) in phase. Three details keep
// it free of clicks where a plain repeat would click: the jump between the last real sample and
// the repeated cycle is removed with a short decaying offset; the cycle's own wrap-around is
// smoothed by cross-fading its tail into the samples that preceded it; and long gaps fade to
// silence (full level for 10 ms, silent by 60 ms) rather than buzzing. The caller cross-fades
// back into real audio when it resumes, using more synthesized samples.

#include <cstddef>
#include <cstdint>
#include <memory>

namespace jambox::audio {

class Concealer {
 public:
  static constexpr std::size_t kHistory = 2048;   // power of two
  static constexpr std::size_t kMinPeriod = 40;   // 1.2 kHz
  static constexpr std::size_t kMaxPeriod = 640;  // 75 Hz
  static constexpr std::size_t kMatch = 192;      // 4 ms compared per candidate period
  static constexpr std::size_t kMinCycle = 240;   // repeat at least 5 ms: less buzz than 1 period
  static constexpr std::size_t kMaxCycle = 960;
  static constexpr std::size_t kHold = 480;   // 10 ms at full level
  static constexpr std::size_t kFade = 2400;  // then silent 50 ms later

  Concealer();
  ~Concealer();
  Concealer(const Concealer&) = delete;
  Concealer& operator=(const Concealer&) = delete;

  void reset() noexcept;  // forget history: a following begin() conceals with silence

  // Appends what was actually played (real, concealed or blended) to the history.
  void record(const float* left, const float* right, std::size_t n) noexcept;
  // A gap starts right after the recorded history.
  void begin() noexcept;
  // Next n samples of the gap (begin() must have been called).
  void synthesize(float* left, float* right, std::size_t n) noexcept;

  [[nodiscard]] std::size_t period() const noexcept;  // last pitch period found (0: none)
  [[nodiscard]] float correlation() const noexcept;   // its normalised correlation
  [[nodiscard]] bool silent() const noexcept;         // faded out (or nothing to repeat)

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace jambox::audio
