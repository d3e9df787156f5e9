#include "malloc_counter.hpp"

#include <cstddef>

namespace {

// Initial-exec TLS of the executable: reading it never allocates (no lazy TLS block).
__thread std::uint64_t t_allocations = 0;
__thread std::uint64_t t_frees = 0;

}  // namespace

namespace jambox::test {

HeapCounts this_thread_heap_counts() noexcept {
  return {t_allocations, t_frees};
}

}  // namespace jambox::test

#if defined(__SANITIZE_ADDRESS__)
// The sanitizer owns malloc; it calls these hooks for every allocation and free.
extern "C" {
void __sanitizer_malloc_hook(const volatile void* /*ptr*/, std::size_t /*size*/) {
  ++t_allocations;
}
void __sanitizer_free_hook(const volatile void* /*ptr*/) {
  ++t_frees;
}
}
#else
// glibc's allocator under its internal names; the executable's malloc and friends take
// precedence over libc's for every library loaded into the process, plugins included.
extern "C" {
void* __libc_malloc(std::size_t size);
void __libc_free(void* ptr);
void* __libc_calloc(std::size_t n, std::size_t size);
void* __libc_realloc(void* ptr, std::size_t size);
void* __libc_memalign(std::size_t alignment, std::size_t size);

void* malloc(std::size_t size) {
  ++t_allocations;
  return __libc_malloc(size);
}
void free(void* ptr) {
  if (ptr != nullptr) ++t_frees;
  __libc_free(ptr);
}
void* calloc(std::size_t n, std::size_t size) {
  ++t_allocations;
  return __libc_calloc(n, size);
}
void* realloc(void* ptr, std::size_t size) {
  ++t_allocations;
  return __libc_realloc(ptr, size);
}
void* memalign(std::size_t alignment, std::size_t size) {
  ++t_allocations;
  return __libc_memalign(alignment, size);
}
void* aligned_alloc(std::size_t alignment, std::size_t size) {
  ++t_allocations;
  return __libc_memalign(alignment, size);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t size) {
  ++t_allocations;
  void* p = __libc_memalign(alignment, size);
  if (p == nullptr) return 12;  // ENOMEM
  *out = p;
  return 0;
}
}
#endif
