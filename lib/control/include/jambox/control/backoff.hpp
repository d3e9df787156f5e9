#pragma once
// Reconnect delays. After a working connection is lost, the first retry comes after a random
// 0..`quick`: a broker restart is over in well under a second, and waiting the full floor would
// leave the box unreachable for longer than the restart itself. Every later failure waits
// exponentially from `first` to `ceiling`, each delay with random jitter, so a broker that is
// really down sees one extra attempt per outage and then the usual backoff, and a fleet of boxes
// that lost the broker together does not come back in lockstep (the quick window is as wide as
// the floor's jitter window was, 250 ms by default: the same spread, a second earlier).
//
// A connection that keeps being accepted and then dropped (e.g. another client taking over our
// client id, or a broker closing us right after the SUBACKs) must not turn the quick retry into
// a tight loop: at most one quick retry per `quick_spacing`; the others wait from `first`.
//
// Deterministic: the random source is seeded by the caller and time is passed in, never read.

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>

namespace jambox::control {

struct BackoffSchedule {
  std::chrono::milliseconds quick{250};  // the first retry after a loss: random in [0, quick]
  std::chrono::milliseconds first{1000};
  std::chrono::milliseconds ceiling{300'000};
  double jitter = 0.25;  // fraction added on top of each exponential delay, from [0, jitter)
  std::chrono::milliseconds quick_spacing{60'000};  // at most one quick retry per this long
};

class Backoff {
 public:
  using Clock = std::chrono::steady_clock;

  Backoff(BackoffSchedule schedule, std::uint64_t seed);

  // The delay before the next attempt, at time `now`: the quick one for the first failure after
  // reset() if none was used within quick_spacing, otherwise the exponential one (every such
  // call doubles the base, up to the ceiling).
  [[nodiscard]] std::chrono::milliseconds next(Clock::time_point now);
  // After a connection became ready (so the next failure is the loss of a working connection):
  // the next delay may be the quick one, and the ones after it start again from `first`.
  void reset() noexcept;
  [[nodiscard]] std::uint32_t attempts() const noexcept { return attempts_; }

 private:
  BackoffSchedule schedule_;
  std::chrono::milliseconds base_;
  bool quick_armed_ = false;  // reset() since the last failure
  std::optional<Clock::time_point> last_quick_;
  std::uint32_t attempts_ = 0;
  std::mt19937_64 random_;
};

}  // namespace jambox::control
