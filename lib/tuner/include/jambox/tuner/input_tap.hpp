#pragma once
// A lock-free copy of one input for the tuner: the audio thread writes every period into a ring
// (wait-free: relaxed atomic stores and one release store of its position, no allocation, no
// lock); the tuner's thread copies the latest samples whenever it likes and learns when the
// writer lapped it during the copy, so it never analyses a torn window.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace jambox::tuner {

class InputTap {
 public:
  // `capacity`: rounded up to a power of two; at least the reader's window plus a few periods.
  explicit InputTap(std::size_t capacity);

  // Audio thread only (one writer).
  void write(std::span<const float> samples) noexcept;

  // Any one reader: copies the latest out.size() samples. False when fewer were written yet, or
  // when the writer overwrote them while they were copied twice in a row.
  [[nodiscard]] bool read_latest(std::span<float> out) const noexcept;

  [[nodiscard]] std::uint64_t written() const noexcept {
    return written_.load(std::memory_order_acquire);
  }
  [[nodiscard]] std::size_t capacity() const noexcept { return mask_ + 1; }

 private:
  std::size_t mask_;
  std::unique_ptr<std::atomic<float>[]> ring_;
  // The writer announces how far it is about to write (begun_) before it writes, and publishes
  // (written_) after: a reader that saw any overwritten sample sees begun_ past its window.
  std::atomic<std::uint64_t> begun_{0};
  std::atomic<std::uint64_t> written_{0};
};

}  // namespace jambox::tuner
