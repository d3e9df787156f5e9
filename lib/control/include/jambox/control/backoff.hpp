#pragma once
// Reconnect delays: exponential from `first` to `ceiling`, each with random jitter so a fleet of
// boxes that lost the broker together does not come back in lockstep.

#include <chrono>
#include <cstdint>
#include <random>

namespace jambox::control {

class Backoff {
 public:
  // `jitter` is the fraction added on top, drawn uniformly from [0, jitter).
  Backoff(std::chrono::milliseconds first, std::chrono::milliseconds ceiling, double jitter,
          std::uint64_t seed);

  // The delay before the next attempt; every call doubles the base up to the ceiling.
  [[nodiscard]] std::chrono::milliseconds next();
  // After a good connection: the next failure starts again from `first`.
  void reset() noexcept;
  [[nodiscard]] std::uint32_t attempts() const noexcept { return attempts_; }

 private:
  std::chrono::milliseconds first_;
  std::chrono::milliseconds ceiling_;
  std::chrono::milliseconds base_;
  double jitter_;
  std::uint32_t attempts_ = 0;
  std::mt19937_64 random_;
};

}  // namespace jambox::control
