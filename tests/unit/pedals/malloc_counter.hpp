#pragma once
// Per-thread counts of every heap allocation and free in the process: malloc and its family are
// replaced (or, under AddressSanitizer, hooked), so C plugins' own allocations count too, not
// only C++ operator new.

#include <cstdint>

namespace jambox::test {

struct HeapCounts {
  std::uint64_t allocations = 0;
  std::uint64_t frees = 0;
};

// The calling thread's counts since it started.
[[nodiscard]] HeapCounts this_thread_heap_counts() noexcept;

}  // namespace jambox::test
