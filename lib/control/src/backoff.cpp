#include <jambox/control/backoff.hpp>

#include <algorithm>

namespace jambox::control {

namespace {

BackoffSchedule sane(BackoffSchedule s) {
  s.quick = std::max(s.quick, std::chrono::milliseconds(0));
  s.first = std::max(s.first, std::chrono::milliseconds(1));
  s.ceiling = std::max(s.ceiling, s.first);
  s.jitter = std::clamp(s.jitter, 0.0, 1.0);
  s.quick_spacing = std::max(s.quick_spacing, std::chrono::milliseconds(0));
  return s;
}

}  // namespace

Backoff::Backoff(BackoffSchedule schedule, std::uint64_t seed)
    : schedule_(sane(schedule)), base_(schedule_.first), random_(seed) {}

std::chrono::milliseconds Backoff::next(Clock::time_point now) {
  ++attempts_;
  const bool quick =
      quick_armed_ && (!last_quick_ || now - *last_quick_ >= schedule_.quick_spacing);
  quick_armed_ = false;
  if (quick) {
    last_quick_ = now;
    std::uniform_int_distribution<std::chrono::milliseconds::rep> delay(0, schedule_.quick.count());
    return std::chrono::milliseconds(delay(random_));
  }
  const std::chrono::milliseconds base = base_;
  base_ = std::min(base_ * 2, schedule_.ceiling);
  std::uniform_real_distribution<double> extra(0.0, schedule_.jitter);
  const auto added = static_cast<std::chrono::milliseconds::rep>(static_cast<double>(base.count()) *
                                                                 extra(random_));
  return base + std::chrono::milliseconds(added);
}

void Backoff::reset() noexcept {
  base_ = schedule_.first;
  attempts_ = 0;
  quick_armed_ = true;
}

}  // namespace jambox::control
