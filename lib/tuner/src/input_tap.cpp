#include <jambox/tuner/input_tap.hpp>

namespace jambox::tuner {

InputTap::InputTap(std::size_t capacity) {
  std::size_t size = 1;
  while (size < capacity) size <<= 1U;
  mask_ = size - 1;
  ring_ = std::make_unique<std::atomic<float>[]>(size);
  for (std::size_t i = 0; i < size; ++i) ring_[i].store(0.0F, std::memory_order_relaxed);
}

void InputTap::write(std::span<const float> samples) noexcept {
  const std::uint64_t at = written_.load(std::memory_order_relaxed);
  const std::uint64_t end = at + samples.size();
  begun_.store(end, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  for (std::size_t i = 0; i < samples.size(); ++i) {
    ring_[(at + i) & mask_].store(samples[i], std::memory_order_relaxed);
  }
  written_.store(end, std::memory_order_release);
}

bool InputTap::read_latest(std::span<float> out) const noexcept {
  const std::size_t n = out.size();
  if (n > capacity()) return false;
  for (int attempt = 0; attempt < 2; ++attempt) {
    const std::uint64_t end = written_.load(std::memory_order_acquire);
    if (end < n) return false;
    const std::uint64_t start = end - n;
    for (std::size_t i = 0; i < n; ++i) {
      out[i] = ring_[(start + i) & mask_].load(std::memory_order_relaxed);
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    // The first sample copied is overwritten once the writer began writing past start + capacity.
    if (begun_.load(std::memory_order_relaxed) - start <= capacity()) return true;
  }
  return false;
}

}  // namespace jambox::tuner
