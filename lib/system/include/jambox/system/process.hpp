#pragma once
// Facts about processes and the clock, read from the kernel.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>

namespace jambox::system {

// Monotonic microseconds (CLOCK_MONOTONIC): the only clock jambox timing uses; never wall time.
[[nodiscard]] std::uint64_t monotonic_us() noexcept;

struct CpuTimes {
  std::chrono::microseconds user{0};
  std::chrono::microseconds system{0};
  [[nodiscard]] std::chrono::microseconds total() const { return user + system; }
};

// utime+stime of a process from /proc/<pid>/stat; nullopt when the process is gone.
[[nodiscard]] std::optional<CpuTimes> process_cpu_times(pid_t pid);

// Resident set size in KiB from /proc/<pid>/status (VmRSS); nullopt when unavailable.
[[nodiscard]] std::optional<std::uint64_t> process_rss_kib(pid_t pid);

}  // namespace jambox::system
