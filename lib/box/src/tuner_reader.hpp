#pragma once
// The tuner of each input, read off the audio thread: while an input's tuner is on, the engine
// keeps a lock-free copy of it (audio::Engine::tuner_tap); the meters publisher asks for readings
// at its own pace and each one is the pitch of the latest window (lib/tuner).

#include <jambox/audio/engine.hpp>
#include <jambox/tuner/tuner.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace jambox::box {

struct TunerReading {
  std::uint32_t input = 0;  // 0 or 1
  bool settling = false;    // switched on less than a window ago: nothing to say yet
  bool pitched = false;     // false: silence, noise or no steady note ("no pitch")
  double frequency_hz = 0.0;
  std::string note;  // C, C#, ... B
  int octave = 0;
  double cents = 0.0;
  double confidence = 0.0;
};

class TunerReader {
 public:
  explicit TunerReader(const audio::Engine& engine);

  // Input 0 or 1 was switched (Command::tuner posted to the engine): a reading waits until the
  // copy holds a whole window written since.
  void switched(std::uint32_t input, bool on);
  [[nodiscard]] bool any_on() const noexcept { return on_[0] || on_[1]; }

  // One reading per input whose tuner is on. One thread only (the meters publisher's).
  [[nodiscard]] std::vector<TunerReading> read();

 private:
  const audio::Engine& engine_;
  tuner::PitchDetector detector_;
  std::vector<float> window_;
  std::array<bool, 2> on_{};
  std::array<std::uint64_t, 2> since_{};
};

}  // namespace jambox::box
