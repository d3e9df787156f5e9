#pragma once
// Analysis of recorded test signals: alignment and normalised correlation against the known
// reference, dropouts (runs of exact zeros) and discontinuities, impulse arrivals and latency.
// Pure functions over sample spans, unit-tested on synthetic recordings.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace jambox::jacktest {

// sum(a*b) / sqrt(sum(a^2) * sum(b^2)) over the common length; 0 when either is silent.
[[nodiscard]] double normalised_correlation(std::span<const float> a,
                                            std::span<const float> b) noexcept;

struct Alignment {
  bool found = false;
  std::int64_t lag = 0;  // recorded[n + lag] lines up with reference[n]
  double correlation = 0.0;
};
// Best lag in [min_lag, max_lag] for `probe` (a piece of the reference that starts at reference
// frame `probe_start`) inside `recorded`. Lags whose window does not fit are skipped.
[[nodiscard]] Alignment best_lag(std::span<const float> recorded, std::span<const float> probe,
                                 std::size_t probe_start, std::int64_t min_lag,
                                 std::int64_t max_lag) noexcept;

// Index of the first sample with |x| > threshold.
[[nodiscard]] std::optional<std::size_t> first_above(std::span<const float> x,
                                                     float threshold) noexcept;
[[nodiscard]] float peak(std::span<const float> x) noexcept;
// Largest |x[n] - x[n-1]|: how steep the reference can be.
[[nodiscard]] float max_step(std::span<const float> x) noexcept;
// 20*log10(value), clamped at -200 dBFS for silence.
[[nodiscard]] double to_dbfs(double value) noexcept;
[[nodiscard]] double rms(std::span<const float> x) noexcept;

struct CorrelationOptions {
  std::size_t search_frames = 4800;  // +/- window around the onset-based estimate (100 ms)
  std::size_t probe_frames = 4096;   // reference piece used for the global search
  std::size_t piece_frames = 64;     // the signal is followed piece by piece (one 64-frame period)
  double good_threshold = 0.9;       // a piece correlating at least this well is intact
  // A piece below the threshold is searched again within +/- this many frames of the current
  // lag: a lost or repeated period moves the lag by a period, and the signal continues there.
  std::size_t slip_frames = 512;
  // How much reference the new lag must match: long enough that a smooth signal (multitone)
  // has no second lag that fits, short enough to re-lock before the next event.
  std::size_t resync_frames = 1024;
  double resync_threshold = 0.97;  // ...and how well: a real continuation matches almost exactly
  // When nothing fits within slip_frames, the signal is looked for again within +/- this many
  // frames (0: not at all), at most once every relock_retry_frames while it stays lost. A
  // receiver whose audio clock lost time (xruns) drops the audio that went stale meanwhile:
  // the signal goes on tens of milliseconds earlier, and every period after that is intact.
  std::size_t relock_frames = 0;
  std::size_t relock_step = 1;  // coarse step of that search; 4 suits multitone (smooth)
  // The dropped audio itself matches nowhere: look again right after it.
  std::size_t relock_retry_frames = 1024;
  // Lag changes at least this large are jumps (audio lost or repeated); smaller ones are the
  // slow drift of a resampling path catching up.
  std::size_t jump_frames = 16;
  std::size_t block_frames = 48000;  // blocks for block_min (1 s)
};

struct CorrelationReport {
  bool found = false;
  std::int64_t lag = 0;      // lag at the signal's start (frames)
  double correlation = 0.0;  // over every compared frame, each piece at its own lag
  double probe_correlation = 0.0;
  double block_min = 0.0;    // worst block, pieces at their own lags
  std::int64_t lag_min = 0;  // range of the lags followed (slips and drift show here)
  std::int64_t lag_max = 0;
  std::size_t blocks = 0;
  std::size_t compared_frames = 0;
  std::size_t lag_changes = 0;     // times the signal continued at another lag
  std::size_t lag_jumps = 0;       // ... by at least jump_frames (lost or repeated audio)
  std::size_t glitch_periods = 0;  // pieces that match the reference nowhere near (lost audio)
};
// Finds where the reference starts in the recording (onset of both, refined by correlation
// within +/- search_frames), then follows it piece by piece. An audible event shows as a glitch
// (audio that is nowhere: a lost period), a lag change (a repeated period), or both (a lost
// period followed by the rest arriving earlier).
[[nodiscard]] CorrelationReport correlate(std::span<const float> recorded,
                                          std::span<const float> reference,
                                          const CorrelationOptions& options = {});

struct DropoutReport {
  std::size_t active_begin = 0;  // first non-zero sample
  std::size_t active_end = 0;    // one past the last non-zero sample
  std::size_t dropouts = 0;      // runs of >= min_zero_run exact zeros inside the active span
  std::size_t dropout_frames = 0;
  std::size_t longest_dropout = 0;
  std::size_t discontinuities = 0;  // |x[n] - x[n-1]| > jump_threshold inside the active span
};
// jump_threshold <= 0 disables discontinuity counting (e.g. for white noise).
[[nodiscard]] DropoutReport find_dropouts(std::span<const float> x, std::size_t min_zero_run,
                                          float jump_threshold) noexcept;

// Frame index of each impulse: the largest |x| within `refractory` frames after x first exceeds
// `threshold`; the next impulse is looked for after that window.
[[nodiscard]] std::vector<std::size_t> find_impulses(std::span<const float> x, float threshold,
                                                     std::size_t refractory);

// The monotonic time of the first frame of each recorded period.
struct PeriodMark {
  std::uint64_t frame = 0;  // index of the period's first frame in the recording
  std::uint64_t time_us = 0;
};
// Time of recorded frame `frame`: its period's mark plus the frames since, at `rate`. Marks must
// be sorted by frame; nullopt when `frame` precedes the first mark.
[[nodiscard]] std::optional<double> frame_time_us(std::span<const PeriodMark> marks,
                                                  std::uint64_t frame, std::uint32_t rate) noexcept;
// Latency of an impulse that arrived at `arrival_us`, sent on the grid of `interval_us`
// (see next_impulse_offset). Latencies in (-interval/8, 7*interval/8] are told apart: a few
// microseconds "early" is rounding, not seven eighths of an interval late.
[[nodiscard]] double grid_latency_us(double arrival_us, std::uint64_t interval_us) noexcept;

struct Summary {
  std::size_t count = 0;
  double min = 0.0;
  double median = 0.0;
  double mean = 0.0;
  double max = 0.0;
};
[[nodiscard]] std::optional<Summary> summarise(std::vector<double> values);

}  // namespace jambox::jacktest
