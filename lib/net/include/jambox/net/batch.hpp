#pragma once
// Fixed-capacity datagram batches for recvmmsg/sendmmsg.
//
// All buffers, addresses and kernel message headers are allocated once, at construction, so a
// receive/process/send cycle performs no allocation whatever the packet rate. Slots are spaced
// on cache-line boundaries so neighbouring datagrams never share a line.

#include <jambox/net/endpoint.hpp>

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace jambox::net {

class UdpSocket;
namespace detail {
struct Mmsg;
}

// Datagrams from one recvmmsg call. Data and sources stay valid until the next receive.
class ReceiveBatch {
 public:
  // `buffer_size` bytes per datagram: make it one byte larger than the largest datagram the
  // protocol allows, so oversize datagrams show up as such (and are also flagged truncated()).
  // `kernel_timestamps`: room for the receive time the kernel attaches (SO_TIMESTAMPNS on the
  // socket), read with received_at().
  ReceiveBatch(std::size_t capacity, std::size_t buffer_size, bool kernel_timestamps = false);
  ReceiveBatch(const ReceiveBatch&) = delete;
  ReceiveBatch& operator=(const ReceiveBatch&) = delete;
  ReceiveBatch(ReceiveBatch&&) noexcept = default;
  ReceiveBatch& operator=(ReceiveBatch&&) noexcept = default;
  ~ReceiveBatch() = default;

  [[nodiscard]] std::size_t capacity() const noexcept { return headers_.size(); }
  [[nodiscard]] std::size_t buffer_size() const noexcept { return buffer_size_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

  // The i-th datagram (i < size()); at most buffer_size() bytes.
  [[nodiscard]] std::span<const std::uint8_t> data(std::size_t i) const noexcept;
  [[nodiscard]] std::span<std::uint8_t> mutable_data(std::size_t i) noexcept;
  [[nodiscard]] const Endpoint& source(std::size_t i) const noexcept { return sources_[i]; }
  // The datagram was larger than buffer_size() and was cut.
  [[nodiscard]] bool truncated(std::size_t i) const noexcept;
  // When the kernel received the i-th datagram (CLOCK_REALTIME, ns since the epoch); 0 when the
  // batch or the socket does not carry timestamps.
  [[nodiscard]] std::int64_t received_at_ns(std::size_t i) const noexcept;

  void clear() noexcept { size_ = 0; }

 private:
  friend struct detail::Mmsg;
  void arm() noexcept;  // resets the value-result fields before recvmmsg

  std::size_t buffer_size_;
  std::size_t stride_;
  std::size_t size_ = 0;
  std::vector<std::uint8_t> storage_;
  std::vector<Endpoint> sources_;
  std::vector<iovec> iov_;
  std::vector<mmsghdr> headers_;
  std::size_t control_stride_ = 0;      // 0: no timestamps
  std::vector<std::uint64_t> control_;  // cmsg buffers, 8-byte aligned as cmsghdr needs
};

// Outgoing datagrams queued for one sendmmsg call.
class SendBatch {
 public:
  SendBatch(std::size_t capacity, std::size_t buffer_size);
  SendBatch(const SendBatch&) = delete;
  SendBatch& operator=(const SendBatch&) = delete;
  SendBatch(SendBatch&&) noexcept = default;
  SendBatch& operator=(SendBatch&&) noexcept = default;
  ~SendBatch() = default;

  [[nodiscard]] std::size_t capacity() const noexcept { return headers_.size(); }
  [[nodiscard]] std::size_t buffer_size() const noexcept { return buffer_size_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] bool full() const noexcept { return size_ == headers_.size(); }

  // The buffer of the next slot, to be filled and then commit()ted; empty when full().
  [[nodiscard]] std::span<std::uint8_t> prepare() noexcept;
  // Queues the prepared slot: `length` bytes (at most buffer_size()) to `to`. False when full
  // or too long (nothing is queued then).
  bool commit(std::size_t length, const Endpoint& to) noexcept;
  // Copies `datagram` into the next slot and queues it. False when full or too long.
  bool push(std::span<const std::uint8_t> datagram, const Endpoint& to) noexcept;

  [[nodiscard]] std::span<const std::uint8_t> data(std::size_t i) const noexcept;
  [[nodiscard]] const Endpoint& destination(std::size_t i) const noexcept { return targets_[i]; }

  void clear() noexcept { size_ = 0; }

 private:
  friend struct detail::Mmsg;

  std::size_t buffer_size_;
  std::size_t stride_;
  std::size_t size_ = 0;
  std::vector<std::uint8_t> storage_;
  std::vector<Endpoint> targets_;
  std::vector<iovec> iov_;
  std::vector<mmsghdr> headers_;
};

}  // namespace jambox::net
