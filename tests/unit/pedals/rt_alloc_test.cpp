// Proof of the real-time rule with real plugins: the audio thread runs 100,000 periods while the
// control thread inserts, moves, bypasses, sets and removes pedals (LV2 plugins from Debian
// packages) and takes the replaced chains back; not one malloc or free happens on the audio
// thread, the plugins' own included.
#include "malloc_counter.hpp"
#include "plugins.hpp"
#include <jambox/audio/engine.hpp>
#include <jambox/pedals/catalog.hpp>
#include <jambox/pedals/chain.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <cmath>
#include <cstring>
#include <thread>
#include <vector>

using namespace jambox;

TEST_CASE("the heap counter sees C and C++ allocations per thread", "[pedals][rt]") {
  std::uint64_t by_cpp = 0;
  std::uint64_t by_c = 0;
  std::thread t([&] {
    const auto before = test::this_thread_heap_counts();
    auto v = std::make_unique<std::vector<int>>(100);  // C++: operator new
    (*v)[5] = 1;
    const auto middle = test::this_thread_heap_counts();
    char* copy = strdup("a C library allocating");  // C: malloc inside libc
    by_c = test::this_thread_heap_counts().allocations - middle.allocations;
    by_cpp = middle.allocations - before.allocations;
    std::free(copy);
  });
  t.join();
  CHECK(by_cpp >= 1);
  CHECK(by_c == 1);
}

TEST_CASE("chains of real plugins change on a running engine: no allocation on the audio thread",
          "[pedals][rt]") {
  const pedals::Catalog catalog;
  for (const char* uri :
       {test::kAmp, test::kCompDelay, test::kNoDelay, test::kZamComp, test::kGxAmp}) {
    INFO(uri);
    REQUIRE(catalog.problem(uri).empty());
  }
  const auto amp = catalog.instantiate(test::kAmp);
  const auto delay = catalog.instantiate(test::kCompDelay);
  const auto nodelay = catalog.instantiate(test::kNoDelay);
  const auto comp = catalog.instantiate(test::kZamComp);
  const auto amp2 = catalog.instantiate(test::kAmp);
  const auto gx = catalog.instantiate(test::kGxAmp);  // with a worker: its answers on this thread

  std::uint64_t posted = 0;
  {
    audio::Engine engine{audio::EngineConfig{}};
    engine.post(audio::Command::monitor(true, 0.0F));
    constexpr std::uint64_t kPeriods = 100000;
    constexpr std::uint32_t kFrames = 64;
    constexpr std::uint64_t kEvery = 500;  // periods between two board changes
    std::atomic<std::uint64_t> done{0};
    std::atomic<std::uint64_t> handled{0};  // board changes the control thread has made
    std::atomic<std::uint64_t> audio_allocations{~0ULL};
    std::atomic<std::uint64_t> audio_frees{~0ULL};
    std::atomic<double> loudest{0.0};

    std::thread audio([&] {
      std::vector<float> in1(kFrames), in2(kFrames), out1(kFrames), out2(kFrames);
      const std::array<const float*, 2> ins{in1.data(), in2.data()};
      const std::array<float*, 2> outs{out1.data(), out2.data()};
      const auto before = test::this_thread_heap_counts();
      double peak = 0.0;
      for (std::uint64_t p = 0; p < kPeriods; ++p) {
        // Lock step: the change due now is posted before this period runs.
        while (p > 0 && p % kEvery == 0 && handled.load(std::memory_order_acquire) < p / kEvery) {
          std::this_thread::yield();
        }
        for (std::uint32_t i = 0; i < kFrames; ++i) {
          in1[i] = 0.5F * std::sin(0.05F * static_cast<float>(p * kFrames + i));
        }
        static_cast<void>(engine.process(ins, outs, kFrames, 1'000'000 + p * 1333));
        for (float v : out1) peak = std::max(peak, static_cast<double>(std::fabs(v)));
        audio::OutboundPacket packet;
        while (engine.outbound().pop(packet)) {
        }
        done.store(p + 1, std::memory_order_release);
      }
      const auto after = test::this_thread_heap_counts();
      audio_allocations = after.allocations - before.allocations;
      audio_frees = after.frees - before.frees;
      loudest = peak;
    });

    // A new board every kEvery periods: the control thread's side of what the commands do.
    const std::vector<std::vector<pedals::ChainEntry>> boards{
        {{amp, false}},
        {{amp, false}, {delay, false}},
        {{delay, false}, {amp, false}},  // moved
        {{delay, false}, {amp, true}},   // bypassed in the new chain
        {{comp, false}, {delay, false}, {amp, false}, {nodelay, false}},
        {{comp, false}, {nodelay, false}},  // two removed
        {{amp2, false}, {comp, false}, {nodelay, false}, {delay, false}, {amp, false}},
        {{gx, false}, {amp, false}},
        {{amp, false}, {gx, true}},
        {},  // cleared
    };
    std::size_t next = 0;
    std::uint64_t refused = 0;
    for (std::uint64_t step = 1; step < kPeriods / kEvery; ++step) {
      while (done.load(std::memory_order_acquire) < step * kEvery) {
        engine.reclaim_inserts();
        std::this_thread::yield();
      }
      {
        std::unique_ptr<audio::Insert> chain;
        if (!boards[next].empty()) chain = std::make_unique<pedals::Chain>(boards[next]);
        if (engine.post_insert(0, chain)) {
          ++posted;
        } else {
          ++refused;
        }
        // Settings for the chain just posted: a knob and a footswitch.
        engine.post(audio::Command::insert_param(0, 0, 0, static_cast<float>(step % 12) - 6.0F));
        engine.post(audio::Command::insert_bypass(0, 1, step % 3 == 0));
        next = (next + 1) % boards.size();
      }
      handled.store(step, std::memory_order_release);
    }
    audio.join();
    engine.reclaim_inserts();
    CHECK(audio_allocations == 0);
    CHECK(audio_frees == 0);
    CHECK(posted == kPeriods / kEvery - 1);
    CHECK(refused == 0);
    const audio::Snapshot s = engine.snapshot();
    CHECK(s.inserts[0].chains == posted);
    CHECK(loudest > 0.01);  // the signal went through the chains to the monitor
  }
  // The engine is gone: every chain it held was deleted, so only our own references remain.
  CHECK(amp.use_count() == 1);
  CHECK(delay.use_count() == 1);
  CHECK(nodelay.use_count() == 1);
  CHECK(comp.use_count() == 1);
  CHECK(amp2.use_count() == 1);
  CHECK(gx.use_count() == 1);
}
