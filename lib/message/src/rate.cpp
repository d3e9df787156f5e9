#include <jambox/message/rate.hpp>

#include <algorithm>

namespace jambox::message {

KeyedRate::KeyedRate(double burst, double per_second, std::size_t max_keys)
    : burst_(burst), per_second_(per_second), max_keys_(max_keys) {}

bool KeyedRate::admit(std::string_view key, Clock::time_point now) {
  auto it = table_.find(key);
  if (it == table_.end()) {
    if (table_.size() >= max_keys_) forget_idle(now);
    if (table_.size() >= max_keys_) return false;
    it = table_.emplace(std::string(key), Bucket{burst_, now}).first;
  }
  Bucket& b = it->second;
  const double elapsed = std::chrono::duration<double>(now - b.refilled).count();
  b.tokens = std::min(burst_, b.tokens + std::max(0.0, elapsed) * per_second_);
  b.refilled = now;
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

void KeyedRate::forget_idle(Clock::time_point now) {
  // Idle for as long as a full refill takes, twice over: its bucket would be full.
  const auto full = std::chrono::duration<double>(2.0 * burst_ / per_second_);
  std::erase_if(table_, [&](const auto& entry) { return now - entry.second.refilled > full; });
}

}  // namespace jambox::message
