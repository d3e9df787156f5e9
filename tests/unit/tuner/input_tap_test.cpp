// The tuner's copy of an input: what the audio thread wrote, in order, never a torn window, and
// a reader lapped by the writer says so instead of handing over a mix of two moments.
#include <jambox/tuner/input_tap.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

using jambox::tuner::InputTap;

TEST_CASE("input tap: the latest samples in order, once enough were written", "[tuner]") {
  InputTap tap(1000);
  CHECK(tap.capacity() == 1024);
  std::vector<float> out(100);
  CHECK_FALSE(tap.read_latest(out));  // nothing yet
  std::vector<float> period(64);
  float next = 0.0F;
  for (int p = 0; p < 40; ++p) {
    for (auto& s : period) s = next++;
    tap.write(period);
  }
  REQUIRE(tap.read_latest(out));
  for (std::size_t i = 0; i < out.size(); ++i)
    CHECK(out[i] == next - 100.0F + static_cast<float>(i));
  std::vector<float> too_many(2048);
  CHECK_FALSE(tap.read_latest(too_many));
}

// A writer `pace` apart between periods of 64 samples (zero: as fast as it can, lapping the
// reader); returns how many whole windows the reader got, each checked for order.
int read_while_writing(std::chrono::microseconds pace, int reads) {
  InputTap tap(4096);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    std::vector<float> period(64);
    float next = 0.0F;
    while (!stop.load(std::memory_order_relaxed)) {
      for (auto& s : period) {
        s = next;
        next = next >= 1.0e6F ? 0.0F : next + 1.0F;  // exact in a float
      }
      tap.write(period);
      if (pace.count() > 0) std::this_thread::sleep_for(pace);
    }
  });
  std::vector<float> out(3000);
  int whole = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (int i = 0; i < reads && std::chrono::steady_clock::now() < until; ++i) {
    std::this_thread::sleep_for(std::chrono::microseconds(20));
    if (!tap.read_latest(out)) continue;
    ++whole;
    for (std::size_t j = 1; j < out.size(); ++j) {
      const bool wraps = out[j] == 0.0F && out[j - 1] == 1.0e6F;
      if (out[j] != out[j - 1] + 1.0F && !wraps) {
        stop = true;
        writer.join();
        FAIL("torn window at " << j << ": " << out[j - 1] << " then " << out[j]);
      }
    }
  }
  stop = true;
  writer.join();
  return whole;
}

TEST_CASE("input tap: a concurrent writer never hands the reader a torn window", "[tuner]") {
  // 64 samples every 50 us: 27 times faster than the audio thread at 48 kHz.
  CHECK(read_while_writing(std::chrono::microseconds(50), 2000) > 100);
  // Unpaced, the writer laps the reader mid-copy: refused, never torn (checked inside).
  static_cast<void>(read_while_writing(std::chrono::microseconds(0), 2000));
}
