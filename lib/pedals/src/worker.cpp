#include "worker.hpp"

#include <chrono>
#include <cstring>

namespace jambox::pedals {

Worker::Worker() {
  schedule_.handle = this;
  schedule_.schedule_work = &Worker::schedule_work;
}

Worker::~Worker() {
  stop();
}

void Worker::start(LilvInstance* instance, const LV2_Worker_Interface* iface) {
  instance_ = instance;
  iface_ = iface;
  if (iface_ != nullptr && iface_->work != nullptr) thread_ = std::thread([this] { loop(); });
}

void Worker::stop() noexcept {
  stopping_.store(true, std::memory_order_relaxed);
  if (thread_.joinable()) thread_.join();
}

void Worker::finish() noexcept {
  stop();
  if (iface_ == nullptr || iface_->work == nullptr) return;
  LV2_Handle handle = lilv_instance_get_handle(instance_);
  // Bounded: a plugin that keeps scheduling from work_response() cannot keep us here.
  for (int round = 0; round < 64; ++round) {
    std::uint32_t size = 0;
    bool any = false;
    while (take(requests_, work_, size)) {
      iface_->work(handle, &Worker::respond, this, size, work_.data());
      any = true;
    }
    while (take(responses_, delivered_, size)) {
      if (iface_->work_response != nullptr) iface_->work_response(handle, size, delivered_.data());
      any = true;
    }
    if (!any) break;
  }
}

bool Worker::put(Ring& ring, std::array<std::uint8_t, 4 + kMaxMessage>& scratch, std::uint32_t size,
                 const void* data) noexcept {
  if (size > kMaxMessage || (size > 0 && data == nullptr) || ring.write_available() < 4 + size) {
    return false;
  }
  std::memcpy(scratch.data(), &size, 4);
  if (size > 0) std::memcpy(scratch.data() + 4, data, size);
  return ring.push(scratch.data(), 4 + size) == 4 + size;
}

bool Worker::take(Ring& ring, std::array<std::uint8_t, kMaxMessage>& out,
                  std::uint32_t& size) noexcept {
  if (ring.read_available() < 4) return false;
  std::array<std::uint8_t, 4> header{};
  static_cast<void>(ring.pop(header.data(), 4));
  std::memcpy(&size, header.data(), 4);
  // put() wrote the header and the bytes at once, so they are all there.
  return ring.pop(out.data(), size) == size;
}

LV2_Worker_Status Worker::schedule_work(LV2_Worker_Schedule_Handle handle, std::uint32_t size,
                                        const void* data) {
  auto* w = static_cast<Worker*>(handle);
  return put(w->requests_, w->request_scratch_, size, data) ? LV2_WORKER_SUCCESS
                                                            : LV2_WORKER_ERR_NO_SPACE;
}

LV2_Worker_Status Worker::respond(LV2_Worker_Respond_Handle handle, std::uint32_t size,
                                  const void* data) {
  auto* w = static_cast<Worker*>(handle);
  return put(w->responses_, w->response_scratch_, size, data) ? LV2_WORKER_SUCCESS
                                                              : LV2_WORKER_ERR_NO_SPACE;
}

void Worker::loop() {
  LV2_Handle handle = lilv_instance_get_handle(instance_);
  while (!stopping_.load(std::memory_order_relaxed)) {
    std::uint32_t size = 0;
    bool worked = false;
    while (take(requests_, work_, size)) {
      iface_->work(handle, &Worker::respond, this, size, work_.data());
      worked = true;
    }
    if (!worked) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void Worker::deliver() noexcept {
  if (iface_ == nullptr) return;
  LV2_Handle handle = lilv_instance_get_handle(instance_);
  std::uint32_t size = 0;
  while (take(responses_, delivered_, size)) {
    if (iface_->work_response != nullptr) iface_->work_response(handle, size, delivered_.data());
  }
  if (iface_->end_run != nullptr) iface_->end_run(handle);
}

}  // namespace jambox::pedals
