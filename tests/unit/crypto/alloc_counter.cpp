#include "alloc_counter.hpp"

#include <openssl/crypto.h>

#include <atomic>
#include <cstdlib>
#include <new>

namespace {

std::atomic<std::size_t> g_new_calls{0};
std::atomic<std::size_t> g_openssl_calls{0};
// The same per thread, and the frees too (a real-time thread must not free either).
thread_local std::size_t t_new_calls = 0;
thread_local std::size_t t_openssl_calls = 0;
thread_local std::size_t t_frees = 0;

void counted_free(void* p) noexcept {
  if (p != nullptr) ++t_frees;
  std::free(p);
}

void* counted_new(std::size_t size) {
  ++t_new_calls;
  g_new_calls.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}

void* counted_new_nothrow(std::size_t size) noexcept {
  ++t_new_calls;
  g_new_calls.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}

void* openssl_malloc(std::size_t size, const char* /*file*/, int /*line*/) {
  ++t_openssl_calls;
  g_openssl_calls.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size);
}

void* openssl_realloc(void* p, std::size_t size, const char* /*file*/, int /*line*/) {
  ++t_openssl_calls;
  g_openssl_calls.fetch_add(1, std::memory_order_relaxed);
  return std::realloc(p, size);
}

void openssl_free(void* p, const char* /*file*/, int /*line*/) {
  counted_free(p);
}

// Runs during static initialisation, before main and so before any OpenSSL call.
// NOLINTNEXTLINE(cert-err58-cpp): a C function, it cannot throw
const bool g_hooks_installed =
    CRYPTO_set_mem_functions(openssl_malloc, openssl_realloc, openssl_free) == 1;

}  // namespace

namespace jambox::test {

AllocCounts alloc_counts() noexcept {
  return {g_new_calls.load(std::memory_order_relaxed),
          g_openssl_calls.load(std::memory_order_relaxed)};
}

ThreadAllocCounts this_thread_alloc_counts() noexcept {
  return {t_new_calls, t_openssl_calls, t_frees};
}

bool openssl_hooks_installed() noexcept {
  return g_hooks_installed;
}

}  // namespace jambox::test

// Every replaceable form that does not take an alignment, so that no allocation/deallocation
// pair mixes our malloc with another allocator (ASan checks such mismatches).
void* operator new(std::size_t size) {
  return counted_new(size);
}
void* operator new[](std::size_t size) {
  return counted_new(size);
}
void* operator new(std::size_t size, const std::nothrow_t& /*tag*/) noexcept {
  return counted_new_nothrow(size);
}
void* operator new[](std::size_t size, const std::nothrow_t& /*tag*/) noexcept {
  return counted_new_nothrow(size);
}
void operator delete(void* p) noexcept {
  counted_free(p);
}
void operator delete[](void* p) noexcept {
  counted_free(p);
}
void operator delete(void* p, std::size_t /*size*/) noexcept {
  counted_free(p);
}
void operator delete[](void* p, std::size_t /*size*/) noexcept {
  counted_free(p);
}
void operator delete(void* p, const std::nothrow_t& /*tag*/) noexcept {
  counted_free(p);
}
void operator delete[](void* p, const std::nothrow_t& /*tag*/) noexcept {
  counted_free(p);
}
