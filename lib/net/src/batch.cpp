#include <jambox/net/batch.hpp>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <stdexcept>

namespace jambox::net {
namespace {

constexpr std::size_t kCacheLine = 64;

std::size_t stride_for(std::size_t buffer_size) {
  return (buffer_size + kCacheLine - 1) / kCacheLine * kCacheLine;
}

void check_shape(std::size_t capacity, std::size_t buffer_size) {
  // The kernel caps one sendmmsg/recvmmsg call at UIO_MAXIOV (1024) messages.
  if (capacity == 0 || capacity > 1024) {
    throw std::invalid_argument("datagram batch capacity must be 1..1024");
  }
  if (buffer_size == 0 || buffer_size > 65536) {
    throw std::invalid_argument("datagram buffer size must be 1..65536 bytes");
  }
}

}  // namespace

ReceiveBatch::ReceiveBatch(std::size_t capacity, std::size_t buffer_size, bool kernel_timestamps)
    : buffer_size_(buffer_size), stride_(stride_for(buffer_size)) {
  check_shape(capacity, buffer_size);
  storage_.resize(capacity * stride_);
  if (kernel_timestamps) {
    control_stride_ = (CMSG_SPACE(sizeof(timespec)) + sizeof(std::uint64_t) - 1) /
                      sizeof(std::uint64_t) * sizeof(std::uint64_t);
    control_.resize(capacity * control_stride_ / sizeof(std::uint64_t));
  }
  sources_.resize(capacity);
  iov_.resize(capacity);
  headers_.resize(capacity);
  for (std::size_t i = 0; i < capacity; ++i) {
    iov_[i].iov_base = storage_.data() + i * stride_;
    iov_[i].iov_len = buffer_size_;
    msghdr& h = headers_[i].msg_hdr;
    std::memset(&h, 0, sizeof h);
    h.msg_iov = &iov_[i];
    h.msg_iovlen = 1;
  }
  arm();
}

void ReceiveBatch::arm() noexcept {
  size_ = 0;
  for (std::size_t i = 0; i < headers_.size(); ++i) {
    msghdr& h = headers_[i].msg_hdr;
    // The kernel writes the peer address straight into the endpoint's storage.
    h.msg_name = sources_[i].data();
    h.msg_namelen = static_cast<socklen_t>(sources_[i].capacity());
    h.msg_flags = 0;
    if (control_stride_ != 0) {
      h.msg_control = control_.data() + i * control_stride_ / sizeof(std::uint64_t);
      h.msg_controllen = control_stride_;
    }
    headers_[i].msg_len = 0;
  }
}

std::span<const std::uint8_t> ReceiveBatch::data(std::size_t i) const noexcept {
  const std::size_t length = std::min<std::size_t>(headers_[i].msg_len, buffer_size_);
  return {storage_.data() + i * stride_, length};
}

std::span<std::uint8_t> ReceiveBatch::mutable_data(std::size_t i) noexcept {
  const std::size_t length = std::min<std::size_t>(headers_[i].msg_len, buffer_size_);
  return {storage_.data() + i * stride_, length};
}

bool ReceiveBatch::truncated(std::size_t i) const noexcept {
  return (headers_[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
}

std::int64_t ReceiveBatch::received_at_ns(std::size_t i) const noexcept {
  if (control_stride_ == 0) return 0;
  // The kernel rewrote the header's control fields for this datagram; CMSG_NXTHDR wants a
  // non-const msghdr, so walk a copy.
  msghdr h = headers_[i].msg_hdr;
  for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS &&
        c->cmsg_len >= CMSG_LEN(sizeof(timespec))) {
      timespec ts{};
      std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
      return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
    }
  }
  return 0;
}

SendBatch::SendBatch(std::size_t capacity, std::size_t buffer_size)
    : buffer_size_(buffer_size), stride_(stride_for(buffer_size)) {
  check_shape(capacity, buffer_size);
  storage_.resize(capacity * stride_);
  targets_.resize(capacity);
  iov_.resize(capacity);
  headers_.resize(capacity);
  for (std::size_t i = 0; i < capacity; ++i) {
    iov_[i].iov_base = storage_.data() + i * stride_;
    iov_[i].iov_len = 0;
    msghdr& h = headers_[i].msg_hdr;
    std::memset(&h, 0, sizeof h);
    h.msg_iov = &iov_[i];
    h.msg_iovlen = 1;
    h.msg_name = targets_[i].data();
  }
}

std::span<std::uint8_t> SendBatch::prepare() noexcept {
  if (full()) return {};
  return {storage_.data() + size_ * stride_, buffer_size_};
}

bool SendBatch::commit(std::size_t length, const Endpoint& to) noexcept {
  if (full() || length > buffer_size_) return false;
  iov_[size_].iov_len = length;
  targets_[size_] = to;
  headers_[size_].msg_hdr.msg_namelen = static_cast<socklen_t>(to.size());
  ++size_;
  return true;
}

bool SendBatch::push(std::span<const std::uint8_t> datagram, const Endpoint& to) noexcept {
  const auto buffer = prepare();
  if (buffer.size() < datagram.size()) return false;
  if (!datagram.empty()) std::memcpy(buffer.data(), datagram.data(), datagram.size());
  return commit(datagram.size(), to);
}

std::span<const std::uint8_t> SendBatch::data(std::size_t i) const noexcept {
  return {storage_.data() + i * stride_, iov_[i].iov_len};
}

}  // namespace jambox::net
