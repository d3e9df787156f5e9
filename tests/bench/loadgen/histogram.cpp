#include "histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace jambox::loadgen {

std::size_t Histogram::index(std::uint64_t value) noexcept {
  if (value < 2 * kSubCount) return static_cast<std::size_t>(value);
  const auto top = static_cast<unsigned>(63 - std::countl_zero(value));  // >= kSubBits + 1
  const unsigned shift = top - kSubBits;
  const auto sub = static_cast<std::size_t>(value >> shift) - kSubCount;
  return 2 * kSubCount + (top - kSubBits - 1) * kSubCount + sub;
}

std::uint64_t Histogram::bucket_low(std::size_t index) noexcept {
  if (index < 2 * kSubCount) return index;
  const std::size_t group = (index - 2 * kSubCount) / kSubCount;
  const std::size_t sub = (index - 2 * kSubCount) % kSubCount;
  return static_cast<std::uint64_t>(kSubCount + sub) << (group + 1);
}

std::uint64_t Histogram::bucket_width(std::size_t index) noexcept {
  if (index < 2 * kSubCount) return 1;
  return std::uint64_t{1} << ((index - 2 * kSubCount) / kSubCount + 1);
}

void Histogram::merge(const Histogram& other) noexcept {
  for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void Histogram::reset() noexcept {
  *this = Histogram{};
}

double Histogram::mean() const noexcept {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(count_);
}

std::uint64_t Histogram::percentile(double q) const noexcept {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const auto rank = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_))));
  if (rank >= count_) return max_;
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const std::uint64_t middle = bucket_low(i) + bucket_width(i) / 2;
      return std::clamp(middle, min(), max_);
    }
  }
  return max_;
}

SequenceTracker::Verdict SequenceTracker::note(std::uint32_t sequence) noexcept {
  if (!started_) {
    started_ = true;
    highest_ = sequence;
    seen_ = 1;
    return Verdict::in_order;
  }
  if (sequence > highest_) {
    const std::uint32_t shift = sequence - highest_;
    seen_ = shift >= 64 ? 1 : (seen_ << shift) | 1U;
    highest_ = sequence;
    return Verdict::in_order;
  }
  const std::uint32_t age = highest_ - sequence;
  // Older than the window: cannot tell a late original from a duplicate; count it as reordered.
  if (age >= 64) return Verdict::reordered;
  const std::uint64_t bit = std::uint64_t{1} << age;
  if ((seen_ & bit) != 0) return Verdict::duplicate;
  seen_ |= bit;
  return Verdict::reordered;
}

}  // namespace jambox::loadgen
