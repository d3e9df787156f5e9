#pragma once
// The LV2 worker (worker:schedule) of one pedal: what the plugin asks for in run() is carried,
// through a wait-free ring, to a thread of the pedal's own, which calls the plugin's work(); its
// answers come back through a second ring and are handed to work_response() on the audio thread
// after the next run(). Guitarix's amps and cabinets, the dragonfly reverbs and x42's convolvers
// load their impulse responses and filters this way.
//
// The audio thread only copies bytes into and out of the rings: no allocation, lock or system
// call. The worker thread looks for requests every millisecond (rather than being woken by the
// audio thread, which would take a system call there).

#include <boost/lockfree/spsc_queue.hpp>

#include <lilv/lilv.h>
#include <lv2/worker/worker.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <thread>

namespace jambox::pedals {

class Worker {
 public:
  static constexpr std::uint32_t kMaxMessage = 8192;  // bytes of one request or response

  Worker();
  ~Worker();  // stops the thread (call stop() before the instance goes)
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // What the plugin gets as the worker:schedule feature's data.
  [[nodiscard]] LV2_Worker_Schedule* schedule() noexcept { return &schedule_; }
  // Starts the thread once the plugin is instantiated and says it has a worker.
  void start(LilvInstance* instance, const LV2_Worker_Interface* iface);
  void stop() noexcept;
  // Off the audio thread, once the pedal is out of every chain: stops the thread, then works off
  // what is still asked and hands over every answer. The worker spec promises the plugin that an
  // accepted answer reaches work_response(); guitarix's amp hands its new convolver over that way,
  // and it would leak otherwise.
  void finish() noexcept;

  // Audio thread, after run(): the worker's answers to work_response(), then end_run().
  void deliver() noexcept;

 private:
  using Ring = boost::lockfree::spsc_queue<std::uint8_t, boost::lockfree::capacity<65536>>;
  static LV2_Worker_Status schedule_work(LV2_Worker_Schedule_Handle handle, std::uint32_t size,
                                         const void* data);
  static LV2_Worker_Status respond(LV2_Worker_Respond_Handle handle, std::uint32_t size,
                                   const void* data);
  // Writes size and bytes as one piece: the reader sees all of a message or none of it.
  static bool put(Ring& ring, std::array<std::uint8_t, 4 + kMaxMessage>& scratch,
                  std::uint32_t size, const void* data) noexcept;
  // The next whole message into `out`; false when there is none.
  static bool take(Ring& ring, std::array<std::uint8_t, kMaxMessage>& out,
                   std::uint32_t& size) noexcept;
  void loop();

  LV2_Worker_Schedule schedule_{};
  LilvInstance* instance_ = nullptr;
  const LV2_Worker_Interface* iface_ = nullptr;
  Ring requests_;
  Ring responses_;
  std::array<std::uint8_t, 4 + kMaxMessage> request_scratch_{};   // audio thread
  std::array<std::uint8_t, 4 + kMaxMessage> response_scratch_{};  // worker thread
  std::array<std::uint8_t, kMaxMessage> delivered_{};             // audio thread
  std::array<std::uint8_t, kMaxMessage> work_{};                  // worker thread
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace jambox::pedals
