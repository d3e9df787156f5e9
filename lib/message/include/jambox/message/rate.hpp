#pragma once
// Per-peer rate limits: a token bucket per key (a member's player key, a box asking the room
// server), a burst and then a steady rate. The table is bounded: beyond max_keys a new key is
// refused until idle ones are forgotten, so a peer inventing keys cannot grow it.

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace jambox::message {

class KeyedRate {
 public:
  using Clock = std::chrono::steady_clock;

  KeyedRate(double burst, double per_second, std::size_t max_keys);

  // True when `key` may send one more message now (and counts it).
  bool admit(std::string_view key, Clock::time_point now);
  // Forgets keys whose bucket has been full again for a while (they are as good as new).
  void forget_idle(Clock::time_point now);
  void clear() { table_.clear(); }
  [[nodiscard]] std::size_t keys() const noexcept { return table_.size(); }

 private:
  struct Bucket {
    double tokens = 0.0;
    Clock::time_point refilled{};
  };
  double burst_;
  double per_second_;
  std::size_t max_keys_;
  std::map<std::string, Bucket, std::less<>> table_;
};

}  // namespace jambox::message
