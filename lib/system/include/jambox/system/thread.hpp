#pragma once
// Scheduling of the calling thread.

#include <system_error>

namespace jambox::system {

// Puts the calling thread under SCHED_FIFO at `priority` (1..99). A thread that already runs
// under a real-time policy (given by the service manager, e.g. CPUSchedulingPolicy=) is left
// as it is. Fails with EPERM when neither RLIMIT_RTPRIO nor CAP_SYS_NICE allows it.
[[nodiscard]] std::error_code make_thread_realtime(int priority) noexcept;

}  // namespace jambox::system
