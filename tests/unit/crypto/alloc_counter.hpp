#pragma once
// Allocation counters for "no allocation on the packet path" tests. Linking alloc_counter.cpp
// replaces the global operator new/delete and routes OpenSSL's CRYPTO_malloc family through
// counting hooks (installed by a static initialiser, before OpenSSL allocates anything).

#include <cstddef>

namespace jambox::test {

struct AllocCounts {
  std::size_t operator_new = 0;  // global operator new / new[] calls
  std::size_t openssl = 0;       // CRYPTO_malloc / CRYPTO_zalloc / CRYPTO_realloc calls
};

[[nodiscard]] AllocCounts alloc_counts() noexcept;

// The calling thread's own: allocations (operator new, OpenSSL) and frees (operator delete,
// OpenSSL's free), for tests that watch one thread while others run.
struct ThreadAllocCounts {
  std::size_t operator_new = 0;
  std::size_t openssl = 0;
  std::size_t frees = 0;
};
[[nodiscard]] ThreadAllocCounts this_thread_alloc_counts() noexcept;
// False when OpenSSL refused the hooks (it had allocated already): its counter then stays 0.
[[nodiscard]] bool openssl_hooks_installed() noexcept;

inline AllocCounts operator-(const AllocCounts& a, const AllocCounts& b) noexcept {
  return {a.operator_new - b.operator_new, a.openssl - b.openssl};
}

}  // namespace jambox::test
