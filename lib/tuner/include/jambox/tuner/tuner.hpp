#pragma once
// The tuner: the pitch of one input, its nearest note and how far off it is. Runs off the audio
// thread on a copy of the input (input_tap.hpp). YIN (de Cheveigné and Kawahara, 2002) finds the
// period; the period is then measured again over as many whole periods as the window holds,
// which makes a high note as exact as a low one (+/- 1 cent from 41 Hz to 1320 Hz).

#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace jambox::tuner {

struct DetectorConfig {
  double sample_rate = 48000.0;
  double min_hz = 38.0;         // below a bass's low E (41.2 Hz) tuned 50 cents flat
  double max_hz = 1400.0;       // above E6 (1318.5 Hz)
  double threshold = 0.15;      // YIN: the first dip of the normalised difference below this
  double min_level_db = -60.0;  // an input quieter than this (RMS, dBFS) is silence
  // The span the period is finally measured over: longer is steadier against noise, shorter
  // follows a note sooner (a note is read right once the span holds only it).
  double window_ms = 150.0;
};

struct Pitch {
  bool found = false;  // false: silence, noise, or no steady period ("no pitch")
  double frequency_hz = 0.0;
  double confidence = 0.0;  // 0..1: how periodic the window is (1 - YIN's normalised difference)
};

class PitchDetector {
 public:
  // Throws std::invalid_argument for a range the sample rate cannot resolve.
  explicit PitchDetector(const DetectorConfig& config);

  // Samples analyse() reads: window_ms, at least two of the longest periods.
  [[nodiscard]] std::size_t window() const noexcept { return window_; }

  // The pitch of the last window() samples (fewer: not found). Allocates nothing.
  [[nodiscard]] Pitch analyse(std::span<const float> samples);

 private:
  [[nodiscard]] static double difference(const float* x, std::size_t lag,
                                         std::size_t length) noexcept;
  [[nodiscard]] double refine(const float* x, double period) const noexcept;

  DetectorConfig config_;
  std::size_t min_lag_;
  std::size_t max_lag_;
  std::size_t window_;
  double min_energy_;         // per sample, from min_level_db
  std::vector<double> diff_;  // YIN's difference d(lag), lag 0..max_lag_
};

// The twelve names a Note has, from C.
inline constexpr std::array<std::string_view, 12> kNoteNames{"C",  "C#", "D",  "D#", "E",  "F",
                                                             "F#", "G",  "G#", "A",  "A#", "B"};

struct Note {
  std::string name;    // one of kNoteNames
  int octave = 0;      // scientific pitch notation: A4 = 440 Hz, middle C = C4
  double cents = 0.0;  // -50..+50: sharp when positive
};

// The equal-tempered note nearest to `frequency_hz` (> 0), with A4 at `a4_hz`.
[[nodiscard]] Note nearest_note(double frequency_hz, double a4_hz = 440.0);

}  // namespace jambox::tuner
