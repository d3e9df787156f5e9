#pragma once
// Single-writer, many-reader publication of a trivially copyable value. The writer (the audio
// thread) never waits: it bumps a sequence counter around its copy. Readers retry when they
// raced with a write. The payload is copied word by word through relaxed atomics, so there is no
// data race in the C++ memory model (Boehm, "Can seqlocks get along with programming language
// memory models?", 2012).

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace jambox::audio {

template <typename T>
class Seqlock {
  static_assert(std::is_trivially_copyable_v<T>);
  static constexpr std::size_t kWords =
      (sizeof(T) + sizeof(std::uint64_t) - 1) / sizeof(std::uint64_t);

 public:
  // Writer side: one thread only. Wait-free.
  void store(const T& value) noexcept {
    std::array<std::uint64_t, kWords> words{};
    std::memcpy(words.data(), &value, sizeof(T));
    const std::uint64_t seq = sequence_.load(std::memory_order_relaxed);
    sequence_.store(seq + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    for (std::size_t i = 0; i < kWords; ++i) words_[i].store(words[i], std::memory_order_relaxed);
    sequence_.store(seq + 2, std::memory_order_release);
  }

  // Reader side: any thread. Lock-free; retries while a write is in progress.
  T load() const noexcept {
    std::array<std::uint64_t, kWords> words{};
    for (;;) {
      const std::uint64_t before = sequence_.load(std::memory_order_acquire);
      if ((before & 1U) != 0) continue;
      for (std::size_t i = 0; i < kWords; ++i) words[i] = words_[i].load(std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_acquire);
      if (sequence_.load(std::memory_order_relaxed) == before) break;
    }
    T value;
    std::memcpy(static_cast<void*>(&value), words.data(), sizeof(T));
    return value;
  }

 private:
  std::atomic<std::uint64_t> sequence_{0};
  std::array<std::atomic<std::uint64_t>, kWords> words_{};
};

}  // namespace jambox::audio
