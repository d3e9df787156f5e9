// The LV2 worker: requests from run() reach work() on the worker's thread, answers reach
// work_response() on the next deliver(), in order, whole; a full ring says so instead of
// blocking; and real plugins that need a worker (guitarix's amp and cabinet) run with one.
#include "worker.hpp"

#include "plugins.hpp"
#include <jambox/pedals/catalog.hpp>
#include <jambox/pedals/chain.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

using namespace jambox;

namespace {

// A plugin's side of the worker: work() answers each request with its bytes reversed.
struct FakePlugin {
  std::vector<std::string> worked;     // on the worker thread
  std::vector<std::string> responses;  // on the "audio" thread
  int end_runs = 0;
  std::thread::id work_thread;
};

LV2_Worker_Status work(LV2_Handle h, LV2_Worker_Respond_Function respond,
                       LV2_Worker_Respond_Handle rh, std::uint32_t size, const void* data) {
  auto* p = static_cast<FakePlugin*>(h);
  std::string s(static_cast<const char*>(data), size);
  p->worked.push_back(s);
  p->work_thread = std::this_thread::get_id();
  const std::string reply(s.rbegin(), s.rend());
  return respond(rh, static_cast<std::uint32_t>(reply.size()), reply.data());
}

LV2_Worker_Status work_response(LV2_Handle h, std::uint32_t size, const void* data) {
  static_cast<FakePlugin*>(h)->responses.emplace_back(static_cast<const char*>(data), size);
  return LV2_WORKER_SUCCESS;
}

LV2_Worker_Status end_run(LV2_Handle h) {
  ++static_cast<FakePlugin*>(h)->end_runs;
  return LV2_WORKER_SUCCESS;
}

}  // namespace

TEST_CASE("worker: requests reach work() on its thread, answers come back whole and in order",
          "[pedals][worker]") {
  FakePlugin plugin;
  // lilv_instance_get_handle() reads the handle field of the instance.
  LilvInstance instance{};
  instance.lv2_handle = &plugin;
  const LV2_Worker_Interface iface{work, work_response, end_run};
  pedals::Worker worker;
  worker.start(&instance, &iface);
  LV2_Worker_Schedule* schedule = worker.schedule();
  for (const std::string s : {"one", "two", "three"}) {
    REQUIRE(schedule->schedule_work(schedule->handle, static_cast<std::uint32_t>(s.size()),
                                    s.data()) == LV2_WORKER_SUCCESS);
  }
  const std::string too_big(pedals::Worker::kMaxMessage + 1, 'x');
  CHECK(schedule->schedule_work(schedule->handle, static_cast<std::uint32_t>(too_big.size()),
                                too_big.data()) == LV2_WORKER_ERR_NO_SPACE);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (plugin.responses.size() < 3 && std::chrono::steady_clock::now() < until) {
    worker.deliver();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  worker.stop();
  CHECK(plugin.worked == std::vector<std::string>{"one", "two", "three"});
  CHECK(plugin.responses == std::vector<std::string>{"eno", "owt", "eerht"});
  CHECK(plugin.work_thread != std::this_thread::get_id());
  CHECK(plugin.end_runs >= 1);
  // Stopped: nothing more is worked on.
  REQUIRE(schedule->schedule_work(schedule->handle, 4, "late") == LV2_WORKER_SUCCESS);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(plugin.worked.size() == 3);
}

TEST_CASE("worker: guitarix's amp and cabinet, which need one, play", "[pedals][worker]") {
  const pedals::Catalog catalog;
  for (const char* uri : {test::kGxAmp, test::kGxCabinet}) {
    INFO(uri);
    REQUIRE(catalog.problem(uri).empty());
    pedals::Chain chain({{catalog.instantiate(uri), false}});
    std::vector<float> x(64);
    double energy = 0.0;
    double input = 0.0;
    for (int period = 0; period < 750; ++period) {  // 1 s
      for (std::size_t i = 0; i < x.size(); ++i) {
        x[i] = 0.3F * std::sin(0.0577F * static_cast<float>(period * 64 + static_cast<int>(i)));
        if (period >= 375) input += static_cast<double>(x[i]) * static_cast<double>(x[i]);
      }
      chain.run(x.data(), 64);
      if (period >= 375) {
        for (const float v : x) energy += static_cast<double>(v) * static_cast<double>(v);
      }
      if (period % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    CHECK(std::isfinite(energy));
    CHECK(energy > 1e-4 * input);  // sound comes out
  }
}
