#include "mmsg.hpp"

#include <boost/asio/ip/address_v6.hpp>

#include <sys/socket.h>

#include <cerrno>

namespace jambox::net::detail {
namespace {

bool transient(int error) noexcept {
  return error == EAGAIN || error == EWOULDBLOCK || error == ENOBUFS || error == ENOMEM;
}

}  // namespace

std::size_t Mmsg::receive(int fd, ReceiveBatch& batch, std::error_code& ec) noexcept {
  ec.clear();
  batch.arm();
  for (;;) {
    const int n = ::recvmmsg(fd, batch.headers_.data(),
                             static_cast<unsigned>(batch.headers_.size()), MSG_DONTWAIT, nullptr);
    if (n >= 0) {
      batch.size_ = static_cast<std::size_t>(n);
      return batch.size_;
    }
    const int error = errno;
    if (error == EINTR) continue;
    if (error != EAGAIN && error != EWOULDBLOCK) ec.assign(error, std::system_category());
    return 0;
  }
}

SendResult Mmsg::send(int fd, bool dual_stack, SendBatch& batch) noexcept {
  SendResult result;
  const std::size_t count = batch.size_;
  if (dual_stack) {
    // A dual-stack socket speaks to IPv4 peers through IPv4-mapped addresses.
    for (std::size_t i = 0; i < count; ++i) {
      Endpoint& target = batch.targets_[i];
      if (target.address().is_v4()) {
        target = Endpoint(
            boost::asio::ip::make_address_v6(boost::asio::ip::v4_mapped, target.address().to_v4()),
            target.port());
        batch.headers_[i].msg_hdr.msg_namelen = static_cast<socklen_t>(target.size());
      }
    }
  }
  std::size_t next = 0;
  while (next < count) {
    const int n = ::sendmmsg(fd, batch.headers_.data() + next, static_cast<unsigned>(count - next),
                             MSG_DONTWAIT);
    if (n > 0) {
      for (std::size_t i = next; i < next + static_cast<std::size_t>(n); ++i) {
        result.bytes += batch.iov_[i].iov_len;
      }
      result.sent += static_cast<std::size_t>(n);
      next += static_cast<std::size_t>(n);
      continue;
    }
    const int error = n < 0 ? errno : EIO;
    if (error == EINTR) continue;
    result.last_error = error;
    if (transient(error)) {
      // The socket buffer is full: everything still queued is dropped rather than waited for.
      result.dropped += count - next;
      break;
    }
    // This datagram cannot be sent (unreachable, refused, bad address): skip it alone.
    ++result.dropped;
    ++next;
  }
  batch.clear();
  return result;
}

}  // namespace jambox::net::detail
