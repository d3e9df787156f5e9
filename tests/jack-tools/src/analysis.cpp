#include "jambox/jacktest/analysis.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace jambox::jacktest {
namespace {

struct Sums {
  double ab = 0.0;
  double aa = 0.0;
  double bb = 0.0;
  void add(std::span<const float> a, std::span<const float> b) noexcept {
    const std::size_t n = std::min(a.size(), b.size());
    for (std::size_t i = 0; i < n; ++i) {
      const auto x = static_cast<double>(a[i]);
      const auto y = static_cast<double>(b[i]);
      ab += x * y;
      aa += x * x;
      bb += y * y;
    }
  }
  [[nodiscard]] double correlation() const noexcept {
    if (aa <= 0.0 || bb <= 0.0) return 0.0;
    return ab / std::sqrt(aa * bb);
  }
};

// recorded[probe_start + lag, +length) when it lies inside the recording.
std::optional<std::span<const float>> window(std::span<const float> recorded,
                                             std::size_t probe_start, std::int64_t lag,
                                             std::size_t length) noexcept {
  const std::int64_t begin = static_cast<std::int64_t>(probe_start) + lag;
  if (begin < 0) return std::nullopt;
  const auto first = static_cast<std::size_t>(begin);
  if (first > recorded.size() || recorded.size() - first < length) return std::nullopt;
  return recorded.subspan(first, length);
}

// The lag in [min_lag, max_lag], every `step` frames, whose window matches the probe best.
Alignment scan_lags(std::span<const float> recorded, std::span<const float> probe,
                    std::size_t probe_start, std::int64_t min_lag, std::int64_t max_lag,
                    std::int64_t step) noexcept {
  Alignment best;
  if (probe.empty()) return best;
  double best_value = -std::numeric_limits<double>::infinity();
  for (std::int64_t lag = min_lag; lag <= max_lag; lag += step) {
    const auto w = window(recorded, probe_start, lag, probe.size());
    if (!w) continue;
    const double c = normalised_correlation(*w, probe);
    if (c > best_value) {
      best_value = c;
      best = {true, lag, c};
    }
  }
  return best;
}

// best_lag over [centre - range, centre + range] in steps of `step`, then refined frame by
// frame around the best coarse lag.
Alignment wide_lag(std::span<const float> recorded, std::span<const float> probe,
                   std::size_t probe_start, std::int64_t centre, std::int64_t range,
                   std::int64_t step) noexcept;

}  // namespace

double normalised_correlation(std::span<const float> a, std::span<const float> b) noexcept {
  Sums s;
  s.add(a, b);
  return s.correlation();
}

Alignment best_lag(std::span<const float> recorded, std::span<const float> probe,
                   std::size_t probe_start, std::int64_t min_lag, std::int64_t max_lag) noexcept {
  return scan_lags(recorded, probe, probe_start, min_lag, max_lag, 1);
}

namespace {

Alignment wide_lag(std::span<const float> recorded, std::span<const float> probe,
                   std::size_t probe_start, std::int64_t centre, std::int64_t range,
                   std::int64_t step) noexcept {
  step = std::max<std::int64_t>(step, 1);
  const Alignment coarse =
      scan_lags(recorded, probe, probe_start, centre - range, centre + range, step);
  if (!coarse.found || step == 1) return coarse;
  return best_lag(recorded, probe, probe_start, coarse.lag - step + 1, coarse.lag + step - 1);
}

}  // namespace

std::optional<std::size_t> first_above(std::span<const float> x, float threshold) noexcept {
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (std::fabs(x[i]) > threshold) return i;
  }
  return std::nullopt;
}

float peak(std::span<const float> x) noexcept {
  float p = 0.0f;
  for (float v : x) p = std::max(p, std::fabs(v));
  return p;
}

float max_step(std::span<const float> x) noexcept {
  float m = 0.0f;
  for (std::size_t i = 1; i < x.size(); ++i) m = std::max(m, std::fabs(x[i] - x[i - 1]));
  return m;
}

double to_dbfs(double value) noexcept {
  if (value <= 1e-10) return -200.0;
  return 20.0 * std::log10(value);
}

double rms(std::span<const float> x) noexcept {
  if (x.empty()) return 0.0;
  double sum = 0.0;
  for (float v : x) sum += static_cast<double>(v) * static_cast<double>(v);
  return std::sqrt(sum / static_cast<double>(x.size()));
}

CorrelationReport correlate(std::span<const float> recorded, std::span<const float> reference,
                            const CorrelationOptions& options) {
  CorrelationReport report;
  const float threshold = 0.05f * peak(reference);
  if (threshold <= 0.0f) return report;
  const auto ref_onset = first_above(reference, threshold);
  const auto rec_onset = first_above(recorded, threshold);
  if (!ref_onset || !rec_onset) return report;

  // Global alignment from a probe at the reference's start.
  const std::int64_t coarse =
      static_cast<std::int64_t>(*rec_onset) - static_cast<std::int64_t>(*ref_onset);
  const auto search = static_cast<std::int64_t>(options.search_frames);
  const std::size_t probe_len = std::min(options.probe_frames, reference.size() - *ref_onset);
  const Alignment global = best_lag(recorded, reference.subspan(*ref_onset, probe_len), *ref_onset,
                                    coarse - search, coarse + search);
  if (!global.found) return report;
  report.found = true;
  report.lag = global.lag;
  report.probe_correlation = global.correlation;
  report.lag_min = report.lag_max = global.lag;
  report.block_min = 1.0;

  // Piece by piece from the onset, following the lag when the signal continues elsewhere.
  const std::size_t piece = std::max<std::size_t>(options.piece_frames, 1);
  const std::size_t block = std::max<std::size_t>(options.block_frames, piece);
  const auto slip = static_cast<std::int64_t>(options.slip_frames);
  Sums total;
  Sums in_block;
  std::size_t block_fill = 0;
  report.block_min = 1.0;
  const auto close_block = [&] {
    if (block_fill == 0) return;
    ++report.blocks;
    report.block_min = std::min(report.block_min, in_block.correlation());
    in_block = Sums{};
    block_fill = 0;
  };
  const std::size_t resync = std::max(options.resync_frames, piece);
  std::size_t retry_after = 0;
  std::size_t relock_after = 0;
  std::int64_t lag = global.lag;
  // Pieces start on multiples of piece_frames from the reference's first frame: the player
  // starts its signal on a period boundary, so pieces and its periods coincide.
  for (std::size_t start = *ref_onset / piece * piece; start + piece <= reference.size();
       start += piece) {
    const auto ref_piece = reference.subspan(start, piece);
    auto rec_piece = window(recorded, start, lag, piece);
    if (!rec_piece) break;                      // the recording ends
    const bool good = rms(ref_piece) < 1e-6 ||  // nothing to compare against
                      normalised_correlation(*rec_piece, ref_piece) >= options.good_threshold;
    if (!good) {
      bool resynced = false;
      if (start >= retry_after) {
        // Where does the signal continue? Judged on a longer stretch after this piece (this
        // one may be the broken one), so a smooth signal has no second lag that fits.
        const std::size_t from = start + piece < reference.size() ? start + piece : start;
        const std::size_t length = std::min(resync, reference.size() - from);
        const auto probe = reference.subspan(from, length);
        Alignment moved = best_lag(recorded, probe, from, lag - slip, lag + slip);
        if (!(moved.found && moved.correlation >= options.resync_threshold) &&
            options.relock_frames > 0 && start >= relock_after) {
          // Not nearby: further away (stale audio dropped), judged by the same standard.
          moved =
              wide_lag(recorded, probe, from, lag, static_cast<std::int64_t>(options.relock_frames),
                       static_cast<std::int64_t>(options.relock_step));
          if (!(moved.found && moved.correlation >= options.resync_threshold)) {
            relock_after = from + std::max(options.relock_retry_frames, length);
          }
        }
        if (moved.found && moved.lag != lag && moved.correlation >= options.resync_threshold) {
          ++report.lag_changes;
          const std::int64_t step = moved.lag > lag ? moved.lag - lag : lag - moved.lag;
          if (step >= static_cast<std::int64_t>(options.jump_frames)) ++report.lag_jumps;
          lag = moved.lag;
          rec_piece = window(recorded, start, lag, piece);
          resynced = normalised_correlation(*rec_piece, ref_piece) >= options.good_threshold;
        } else {
          retry_after = from + length;  // no better lag nearby for a while: do not search again
        }
      }
      if (!resynced) ++report.glitch_periods;
    }
    report.lag_min = std::min(report.lag_min, lag);
    report.lag_max = std::max(report.lag_max, lag);
    total.add(*rec_piece, ref_piece);
    in_block.add(*rec_piece, ref_piece);
    report.compared_frames += piece;
    block_fill += piece;
    if (block_fill >= block) close_block();
  }
  close_block();
  if (report.blocks == 0) report.block_min = 0.0;
  report.correlation = total.correlation();
  return report;
}

DropoutReport find_dropouts(std::span<const float> x, std::size_t min_zero_run,
                            float jump_threshold) noexcept {
  DropoutReport report;
  std::size_t begin = 0;
  while (begin < x.size() && x[begin] == 0.0f) ++begin;
  std::size_t end = x.size();
  while (end > begin && x[end - 1] == 0.0f) --end;
  report.active_begin = begin;
  report.active_end = end;
  if (begin >= end) return report;
  const std::size_t min_run = std::max<std::size_t>(min_zero_run, 1);
  std::size_t run = 0;
  for (std::size_t i = begin; i < end; ++i) {
    if (x[i] == 0.0f) {
      ++run;
      continue;
    }
    if (run >= min_run) {
      ++report.dropouts;
      report.dropout_frames += run;
      report.longest_dropout = std::max(report.longest_dropout, run);
    }
    run = 0;
  }
  if (jump_threshold > 0.0f) {
    for (std::size_t i = begin + 1; i < end; ++i) {
      if (std::fabs(x[i] - x[i - 1]) > jump_threshold) ++report.discontinuities;
    }
  }
  return report;
}

std::vector<std::size_t> find_impulses(std::span<const float> x, float threshold,
                                       std::size_t refractory) {
  std::vector<std::size_t> result;
  std::size_t i = 0;
  while (i < x.size()) {
    if (std::fabs(x[i]) <= threshold) {
      ++i;
      continue;
    }
    const std::size_t end = std::min(x.size(), i + std::max<std::size_t>(refractory, 1));
    std::size_t best = i;
    for (std::size_t j = i; j < end; ++j) {
      if (std::fabs(x[j]) > std::fabs(x[best])) best = j;
    }
    result.push_back(best);
    i = end;
  }
  return result;
}

std::optional<double> frame_time_us(std::span<const PeriodMark> marks, std::uint64_t frame,
                                    std::uint32_t rate) noexcept {
  if (marks.empty() || rate == 0 || frame < marks.front().frame) return std::nullopt;
  const auto it =
      std::upper_bound(marks.begin(), marks.end(), frame,
                       [](std::uint64_t f, const PeriodMark& m) { return f < m.frame; });
  const PeriodMark& mark = *(it - 1);
  return static_cast<double>(mark.time_us) +
         static_cast<double>(frame - mark.frame) * 1e6 / static_cast<double>(rate);
}

double grid_latency_us(double arrival_us, std::uint64_t interval_us) noexcept {
  if (interval_us == 0) return 0.0;
  const double interval = static_cast<double>(interval_us);
  double latency = std::fmod(arrival_us, interval);
  if (latency < 0.0) latency += interval;
  if (latency > interval * 7.0 / 8.0) latency -= interval;
  return latency;
}

std::optional<Summary> summarise(std::vector<double> values) {
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  Summary s;
  s.count = values.size();
  s.min = values.front();
  s.max = values.back();
  const std::size_t mid = values.size() / 2;
  s.median = values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2.0;
  double sum = 0.0;
  for (double v : values) sum += v;
  s.mean = sum / static_cast<double>(values.size());
  return s;
}

}  // namespace jambox::jacktest
