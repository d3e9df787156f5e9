#include <jambox/tuner/tuner.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace jambox::tuner {
namespace {

// Samples beyond the longest lag that the refinement may look at (it searches +/- kSearch).
constexpr std::size_t kSearch = 3;

// Where the minimum of a parabola through (-1, a), (0, b), (1, c) lies, -0.5..0.5.
double parabola_offset(double a, double b, double c) {
  const double curvature = a - 2.0 * b + c;
  if (curvature <= 0.0) return 0.0;
  return std::clamp(0.5 * (a - c) / curvature, -0.5, 0.5);
}

}  // namespace

PitchDetector::PitchDetector(const DetectorConfig& config) : config_(config) {
  if (!(config.sample_rate > 0.0) || !(config.min_hz > 0.0) || !(config.max_hz > config.min_hz) ||
      config.max_hz * 8.0 > config.sample_rate) {
    throw std::invalid_argument("tuner: want 0 < min_hz < max_hz <= sample_rate / 8");
  }
  min_lag_ = static_cast<std::size_t>(std::floor(config.sample_rate / config.max_hz));
  max_lag_ = static_cast<std::size_t>(std::ceil(config.sample_rate / config.min_hz)) + kSearch;
  // The refinement's first step looks up to a sixteenth of the longest period beyond it: half
  // the window holds at least that, whatever window_ms asks for.
  const auto longest = static_cast<std::size_t>(config.sample_rate * config.window_ms / 1000.0);
  window_ = std::max(2 * (max_lag_ + max_lag_ / 16 + kSearch + 1), longest + longest % 2);
  min_energy_ = std::pow(10.0, config.min_level_db / 10.0);
  diff_.assign(max_lag_ + 1, 0.0);
}

// YIN's difference: how unlike the signal is to itself `lag` samples later, summed over
// `length` samples from x.
double PitchDetector::difference(const float* x, std::size_t lag, std::size_t length) noexcept {
  double sum = 0.0;
  for (std::size_t j = 0; j < length; ++j) {
    const double d = static_cast<double>(x[j]) - static_cast<double>(x[j + lag]);
    sum += d * d;
  }
  return sum;
}

// The period measured again over the whole window at multiples of itself, doubling up to as many
// whole periods as half the window holds: the error of locating a minimum between samples, and
// the noise's, shrink with the multiple and the length summed over. Each step searches around
// the multiple the previous step predicts. x holds window_ samples.
double PitchDetector::refine(const float* x, double period) const noexcept {
  const std::size_t half = window_ / 2;
  // The first step looks wider: YIN's estimate from its short window may be a few samples off
  // for a low note in noise; later steps start from the whole window's measure.
  std::size_t search = std::max(kSearch, static_cast<std::size_t>(period / 16.0));
  const double longest = static_cast<double>(half - kSearch - 1);
  const auto most = std::max<std::size_t>(1, static_cast<std::size_t>(longest / period));
  for (std::size_t k = 1;; k = std::min(2 * k, most), search = kSearch) {
    const auto centre = static_cast<std::size_t>(std::llround(static_cast<double>(k) * period));
    std::size_t best = centre;
    double best_value = std::numeric_limits<double>::max();
    for (std::size_t lag = centre + 1 - search; lag < centre + search; ++lag) {
      const double value = difference(x, lag, half);
      if (value < best_value) {
        best_value = value;
        best = lag;
      }
    }
    const double offset =
        parabola_offset(difference(x, best - 1, half), best_value, difference(x, best + 1, half));
    period = (static_cast<double>(best) + offset) / static_cast<double>(k);
    if (k == most) return period;
  }
}

Pitch PitchDetector::analyse(std::span<const float> samples) {
  Pitch pitch;
  if (samples.size() < window_) return pitch;
  const float* whole = samples.data() + (samples.size() - window_);
  // YIN looks at the latest two longest periods; the refinement at the whole window.
  const float* x = samples.data() + (samples.size() - 2 * max_lag_);

  double energy = 0.0;
  for (std::size_t i = 0; i < window_; ++i) {
    energy += static_cast<double>(whole[i]) * static_cast<double>(whole[i]);
  }
  if (energy / static_cast<double>(window_) < min_energy_) return pitch;  // silence

  // The cumulative-mean-normalised difference: 1 where the signal is unlike itself, near 0 at
  // its period. The first dip below the threshold (then down to its bottom) is the period; a
  // later, deeper one would be a multiple of it.
  const std::size_t last = max_lag_ - kSearch;
  double running = 0.0;
  std::size_t lag = 0;
  double normalised = 1.0;
  double deepest = 1.0;
  for (std::size_t tau = 1; tau <= last; ++tau) {
    diff_[tau] = difference(x, tau, max_lag_);
    running += diff_[tau];
    const double value = running > 0.0 ? diff_[tau] * static_cast<double>(tau) / running : 1.0;
    if (tau < min_lag_) continue;
    deepest = std::min(deepest, value);
    if (lag == 0) {
      if (value < config_.threshold) {
        lag = tau;
        normalised = value;
      }
    } else if (value < config_.threshold) {
      if (value < normalised) {  // the bottom of the dip (noise may ripple on its way down)
        lag = tau;
        normalised = value;
      }
    } else {
      break;  // past the dip
    }
  }
  if (lag == 0 || lag + 1 > last) {
    pitch.confidence = std::clamp(1.0 - deepest, 0.0, 1.0);
    return pitch;  // no steady period: noise, or a sound between notes
  }
  diff_[lag + 1] = difference(x, lag + 1, max_lag_);  // the loop may have stopped before it
  const double coarse =
      static_cast<double>(lag) + parabola_offset(diff_[lag - 1], diff_[lag], diff_[lag + 1]);
  const double period = refine(whole, coarse);
  pitch.frequency_hz = config_.sample_rate / period;
  pitch.found = pitch.frequency_hz >= config_.min_hz && pitch.frequency_hz <= config_.max_hz;
  pitch.confidence = std::clamp(1.0 - normalised, 0.0, 1.0);
  return pitch;
}

Note nearest_note(double frequency_hz, double a4_hz) {
  const double semitones = 12.0 * std::log2(frequency_hz / a4_hz);
  const long steps = std::lround(semitones);
  const long midi = 69 + steps;
  Note note;
  note.name = kNoteNames[static_cast<std::size_t>(((midi % 12) + 12) % 12)];
  note.octave = static_cast<int>(std::floor(static_cast<double>(midi) / 12.0)) - 1;
  note.cents = 100.0 * (semitones - static_cast<double>(steps));
  return note;
}

}  // namespace jambox::tuner
