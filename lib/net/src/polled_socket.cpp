#include "mmsg.hpp"
#include <jambox/net/polled_socket.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace jambox::net {
namespace {

[[noreturn]] void throw_system(int error, const std::string& what) {
  throw std::system_error(error, std::system_category(), what);
}

}  // namespace

PolledSocket::~PolledSocket() {
  close();
}

void PolledSocket::open(const Endpoint& peer, bool kernel_timestamps) {
  const bool v6 = peer.address().is_v6();
  if (fd_ >= 0 && v6 != v6_) close();
  if (fd_ < 0) {
    const int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw_system(errno, "open UDP socket for " + to_string(peer));
    fd_ = fd;
    v6_ = v6;
  }
  // Asked for again on every open: a socket reused for another peer keeps its port, not this
  // choice. Where the kernel offers no stamps (an emulator such as qemu-user refuses the option),
  // the socket works without them: datagrams then carry no time (received_at_ns() is 0) and the
  // owner takes the moment it reads them.
  const int on = kernel_timestamps ? 1 : 0;
  kernel_timestamps_ =
      ::setsockopt(fd_, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) == 0 && kernel_timestamps;
  if (::connect(fd_, peer.data(), static_cast<socklen_t>(peer.size())) != 0) {
    const int error = errno;
    close();
    throw_system(error, "connect UDP socket to " + to_string(peer));
  }
  peer_ = peer;
}

void PolledSocket::close() noexcept {
  if (fd_ < 0) return;
  ::close(fd_);
  kernel_timestamps_ = false;
  fd_ = -1;
}

Endpoint PolledSocket::local_endpoint() const {
  Endpoint local;
  if (fd_ < 0) return local;
  socklen_t length = static_cast<socklen_t>(local.capacity());
  if (::getsockname(fd_, local.data(), &length) != 0) return Endpoint{};
  local.resize(length);
  return local;
}

std::size_t PolledSocket::receive(ReceiveBatch& batch, std::error_code& ec) noexcept {
  if (fd_ < 0) {
    ec = std::make_error_code(std::errc::bad_file_descriptor);
    batch.clear();
    return 0;
  }
  return detail::Mmsg::receive(fd_, batch, ec);
}

SendResult PolledSocket::send(SendBatch& batch) noexcept {
  if (fd_ < 0) {
    SendResult r;
    r.dropped = batch.size();
    r.last_error = EBADF;
    batch.clear();
    return r;
  }
  return detail::Mmsg::send(fd_, false, batch);
}

}  // namespace jambox::net
