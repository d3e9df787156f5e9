#include <jambox/control/backoff.hpp>

#include <algorithm>

namespace jambox::control {

Backoff::Backoff(std::chrono::milliseconds first, std::chrono::milliseconds ceiling, double jitter,
                 std::uint64_t seed)
    : first_(first),
      ceiling_(std::max(ceiling, first)),
      base_(first),
      jitter_(std::clamp(jitter, 0.0, 1.0)),
      random_(seed) {}

std::chrono::milliseconds Backoff::next() {
  const std::chrono::milliseconds base = base_;
  base_ = std::min(base_ * 2, ceiling_);
  ++attempts_;
  std::uniform_real_distribution<double> extra(0.0, jitter_);
  const auto added = static_cast<std::chrono::milliseconds::rep>(static_cast<double>(base.count()) *
                                                                 extra(random_));
  return base + std::chrono::milliseconds(added);
}

void Backoff::reset() noexcept {
  base_ = first_;
  attempts_ = 0;
}

}  // namespace jambox::control
