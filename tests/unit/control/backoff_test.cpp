#include <jambox/control/backoff.hpp>

#include <catch2/catch.hpp>

using jambox::control::Backoff;
using std::chrono::milliseconds;

TEST_CASE("backoff doubles from 1 s to 300 s with bounded jitter, and resets", "[control]") {
  Backoff b(milliseconds(1000), milliseconds(300'000), 0.25, 42);
  milliseconds base(1000);
  for (int i = 0; i < 12; ++i) {
    const milliseconds d = b.next();
    INFO("attempt " << i);
    CHECK(d >= base);
    CHECK(d <= base + base / 4);
    base = std::min(base * 2, milliseconds(300'000));
  }
  CHECK(b.attempts() == 12);
  b.reset();
  const milliseconds first = b.next();
  CHECK(first >= milliseconds(1000));
  CHECK(first <= milliseconds(1250));
}

TEST_CASE("two boxes with different seeds do not retry in lockstep", "[control]") {
  Backoff a(milliseconds(1000), milliseconds(300'000), 0.25, 1);
  Backoff b(milliseconds(1000), milliseconds(300'000), 0.25, 2);
  int same = 0;
  for (int i = 0; i < 8; ++i) same += a.next() == b.next() ? 1 : 0;
  CHECK(same < 8);
}
