#pragma once
// Fixed-size log-linear histogram of microsecond values, for latency percentiles in loops that
// must not allocate: exact below 256, then 128 buckets per power of two (error < 0.4 %).

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace jambox::loadgen {

class Histogram {
 public:
  static constexpr unsigned kSubBits = 7;
  static constexpr std::size_t kSubCount = std::size_t{1} << kSubBits;
  static constexpr std::size_t kBuckets = 2 * kSubCount + (64 - kSubBits - 1) * kSubCount;

  void record(std::uint64_t value) noexcept {
    ++counts_[index(value)];
    ++count_;
    sum_ += value;
    if (value < min_) min_ = value;
    if (value > max_) max_ = value;
  }
  void merge(const Histogram& other) noexcept;
  void reset() noexcept;

  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
  [[nodiscard]] std::uint64_t min() const noexcept { return count_ == 0 ? 0 : min_; }
  [[nodiscard]] std::uint64_t max() const noexcept { return max_; }
  [[nodiscard]] double mean() const noexcept;
  // The value below which a fraction `q` (0..1) of the samples lie: the middle of its bucket,
  // clamped to [min, max] so q = 1 gives the exact maximum. 0 when empty.
  [[nodiscard]] std::uint64_t percentile(double q) const noexcept;

  [[nodiscard]] static std::size_t index(std::uint64_t value) noexcept;
  [[nodiscard]] static std::uint64_t bucket_low(std::size_t index) noexcept;
  [[nodiscard]] static std::uint64_t bucket_width(std::size_t index) noexcept;

 private:
  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t min_ = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t max_ = 0;
};

// What one recipient has seen of one origin's sequence numbers, to tell duplicates and
// reordering apart (the same 64-entry window idea as the server's replay check).
class SequenceTracker {
 public:
  enum class Verdict : std::uint8_t { in_order, reordered, duplicate };
  Verdict note(std::uint32_t sequence) noexcept;

 private:
  bool started_ = false;
  std::uint32_t highest_ = 0;
  std::uint64_t seen_ = 0;  // bit i: highest_ - i arrived
};

}  // namespace jambox::loadgen
