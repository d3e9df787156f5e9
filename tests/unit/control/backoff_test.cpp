#include <jambox/control/backoff.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

using jambox::control::Backoff;
using jambox::control::BackoffSchedule;
using std::chrono::milliseconds;
using namespace std::chrono_literals;

namespace {

// Time is passed in: the tests walk a clock of their own, no waiting.
const Backoff::Clock::time_point t0{};

// Checks the exponential part: `count` delays from 1 s doubling to the 300 s cap, each within
// [base, base + 25 %].
void check_exponential(Backoff& b, Backoff::Clock::time_point now, int count) {
  milliseconds base(1000);
  for (int i = 0; i < count; ++i) {
    const milliseconds d = b.next(now);
    INFO("exponential attempt " << i << ": " << d.count() << " ms");
    CHECK(d >= base);
    CHECK(d <= base + base / 4);
    base = std::min(base * 2, milliseconds(300'000));
  }
}

}  // namespace

TEST_CASE("before any connection became ready, failures back off from 1 s to 300 s", "[control]") {
  // The first attempt at start is immediate (the session's), so its failure is a repeated one.
  Backoff b(BackoffSchedule{}, 42);
  check_exponential(b, t0, 12);  // 1, 2, 4 ... 256, then the 300 s cap
  CHECK(b.attempts() == 12);
}

TEST_CASE("after a working connection is lost: one retry within 250 ms, then 1 s .. 300 s",
          "[control]") {
  Backoff b(BackoffSchedule{}, 7);
  check_exponential(b, t0, 3);
  b.reset();  // connected and ready
  CHECK(b.attempts() == 0);
  const milliseconds quick = b.next(t0 + 10min);
  CHECK(quick >= 0ms);
  CHECK(quick <= 250ms);
  // That retry failed too: the broker is really down, so the usual backoff, from its floor.
  check_exponential(b, t0 + 10min, 12);
  CHECK(b.attempts() == 13);
}

TEST_CASE("the quick retry covers the whole 0..250 ms window", "[control]") {
  std::set<milliseconds::rep> seen;
  for (std::uint64_t seed = 0; seed < 400; ++seed) {
    Backoff b(BackoffSchedule{}, seed);
    b.reset();
    const milliseconds d = b.next(t0);
    REQUIRE(d >= 0ms);
    REQUIRE(d <= 250ms);
    seen.insert(std::min<milliseconds::rep>(d.count() / 50, 4));  // which fifth of the window
  }
  // Jitter, not a constant: every fifth of the window is used.
  CHECK(seen == std::set<milliseconds::rep>{0, 1, 2, 3, 4});
}

TEST_CASE("a connection dropped again soon after a quick retry waits from the 1 s floor",
          "[control]") {
  // A tug of war over the client id, or a broker closing us right after the SUBACKs: the
  // connection becomes ready and is lost over and over. At most one quick retry a minute.
  Backoff b(BackoffSchedule{}, 3);
  b.reset();
  CHECK(b.next(t0) <= 250ms);
  b.reset();  // ready again, lost again 5 s later
  const milliseconds second = b.next(t0 + 5s);
  CHECK(second >= 1000ms);
  CHECK(second <= 1250ms);
  b.reset();  // ready again, lost again a minute after the quick retry
  CHECK(b.next(t0 + 60s) <= 250ms);
}

TEST_CASE("a custom schedule: quick window, floor and cap as configured", "[control]") {
  Backoff b(BackoffSchedule{.quick = 0ms, .first = 200ms, .ceiling = 1000ms, .jitter = 0.0}, 1);
  b.reset();
  CHECK(b.next(t0) == 0ms);
  CHECK(b.next(t0) == 200ms);
  CHECK(b.next(t0) == 400ms);
  CHECK(b.next(t0) == 800ms);
  CHECK(b.next(t0) == 1000ms);
  CHECK(b.next(t0) == 1000ms);
}

TEST_CASE("a nonsensical schedule is made usable", "[control]") {
  // A zero floor would never grow; a cap below the floor is raised to it; jitter is clamped.
  Backoff b(BackoffSchedule{.quick = -5ms, .first = 0ms, .ceiling = -1ms, .jitter = 7.0}, 1);
  b.reset();
  CHECK(b.next(t0) == 0ms);
  const milliseconds d = b.next(t0);
  CHECK(d >= 1ms);
  CHECK(d <= 2ms);
}

TEST_CASE("two boxes with different seeds do not retry in lockstep", "[control]") {
  Backoff a(BackoffSchedule{}, 1);
  Backoff b(BackoffSchedule{}, 2);
  a.reset();
  b.reset();
  int same = a.next(t0) == b.next(t0) ? 1 : 0;  // the quick retries
  for (int i = 0; i < 8; ++i) same += a.next(t0) == b.next(t0) ? 1 : 0;
  CHECK(same < 9);
}
