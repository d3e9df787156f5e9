#include <jambox/system/thread.hpp>

#include <pthread.h>
#include <sched.h>

namespace jambox::system {

std::error_code make_thread_realtime(int priority) noexcept {
  int policy = 0;
  sched_param current{};
  if (const int rc = ::pthread_getschedparam(::pthread_self(), &policy, &current); rc != 0) {
    return {rc, std::generic_category()};
  }
  if (policy == SCHED_FIFO || policy == SCHED_RR) return {};
  sched_param wanted{};
  wanted.sched_priority = priority;
  if (const int rc = ::pthread_setschedparam(::pthread_self(), SCHED_FIFO, &wanted); rc != 0) {
    return {rc, std::generic_category()};
  }
  return {};
}

}  // namespace jambox::system
