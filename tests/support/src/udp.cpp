#include <jambox/net/endpoint.hpp>
#include <jambox/test/udp.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

namespace jambox::test {
namespace {

[[noreturn]] void fail(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

}  // namespace

// The daemons' own parser (numeric addresses, port 0..65535), so a test address means what it
// would mean in a configuration file.
Endpoint Endpoint::parse(std::string_view text) {
  const net::Endpoint parsed = net::parse_endpoint(text);  // std::invalid_argument
  Endpoint endpoint;
  std::memcpy(&endpoint.storage, parsed.data(), parsed.size());
  endpoint.length = static_cast<socklen_t>(parsed.size());
  return endpoint;
}

Endpoint Endpoint::loopback(int family, std::uint16_t port) {
  return parse(family == AF_INET6 ? "[::1]:" + std::to_string(port)
                                  : "127.0.0.1:" + std::to_string(port));
}

std::uint16_t Endpoint::port() const noexcept {
  if (family() == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
}

std::string Endpoint::to_string() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, text,
                sizeof(text));
    return "[" + std::string(text) + "]:" + std::to_string(port());
  }
  ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, text,
              sizeof(text));
  return std::string(text) + ":" + std::to_string(port());
}

bool operator==(const Endpoint& a, const Endpoint& b) noexcept {
  if (a.family() != b.family() || a.port() != b.port()) return false;
  if (a.family() == AF_INET6) {
    return std::memcmp(&reinterpret_cast<const sockaddr_in6*>(&a.storage)->sin6_addr,
                       &reinterpret_cast<const sockaddr_in6*>(&b.storage)->sin6_addr,
                       sizeof(in6_addr)) == 0;
  }
  return reinterpret_cast<const sockaddr_in*>(&a.storage)->sin_addr.s_addr ==
         reinterpret_cast<const sockaddr_in*>(&b.storage)->sin_addr.s_addr;
}

UdpSocket::UdpSocket(int family) {
  fd_ = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) fail("socket");
  // Room for a few seconds of a test's traffic while the test looks elsewhere (a request: the
  // kernel caps it at net.core.rmem_max).
  const int receive_buffer = 1 << 20;
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof(receive_buffer));
  Endpoint bind_to = Endpoint::loopback(family, 0);
  if (::bind(fd_, bind_to.address(), bind_to.length) != 0) {
    const int error = errno;
    ::close(fd_);
    throw std::system_error(error, std::generic_category(), "bind " + bind_to.to_string());
  }
  local_.length = sizeof(local_.storage);
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&local_.storage), &local_.length) != 0) {
    const int error = errno;
    ::close(fd_);
    throw std::system_error(error, std::generic_category(), "getsockname");
  }
}

UdpSocket::~UdpSocket() {
  if (fd_ >= 0) ::close(fd_);
}

UdpSocket::UdpSocket(UdpSocket&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), local_(other.local_) {}

UdpSocket& UdpSocket::operator=(UdpSocket&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    local_ = other.local_;
  }
  return *this;
}

void UdpSocket::send_to(const Endpoint& to, std::span<const std::uint8_t> datagram) const {
  const ssize_t sent = ::sendto(fd_, datagram.data(), datagram.size(), 0, to.address(), to.length);
  if (sent < 0) fail("sendto");
  if (static_cast<std::size_t>(sent) != datagram.size()) {
    throw std::runtime_error("short UDP send");
  }
}

std::optional<std::size_t> UdpSocket::receive(std::span<std::uint8_t> buffer,
                                              std::chrono::milliseconds timeout,
                                              Endpoint* from) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd waiting{fd_, POLLIN, 0};
    const int ready = ::poll(&waiting, 1, static_cast<int>(std::max<long long>(0, left.count())));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return std::nullopt;
    Endpoint sender;
    sender.length = sizeof(sender.storage);
    const ssize_t n = ::recvfrom(fd_, buffer.data(), buffer.size(), MSG_DONTWAIT,
                                 reinterpret_cast<sockaddr*>(&sender.storage), &sender.length);
    if (n < 0) {
      // ICMP errors from earlier sends surface here (ECONNREFUSED); they are not datagrams.
      if (errno == EAGAIN || errno == EINTR || errno == ECONNREFUSED) continue;
      fail("recvfrom");
    }
    if (from != nullptr) *from = sender;
    return static_cast<std::size_t>(n);
  }
}

bool ipv6_loopback_available() {
  try {
    UdpSocket probe(AF_INET6);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace jambox::test
