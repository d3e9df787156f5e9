#pragma once
// Minimal UDP plumbing for tests: an address that prints and parses like the server's config
// ("127.0.0.1:7930", "[::1]:7930") and a bound loopback socket with receive-with-timeout.

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace jambox::test {

struct Endpoint {
  sockaddr_storage storage{};
  socklen_t length = 0;

  // "ADDRESS:PORT" with a numeric IPv4 address or a bracketed IPv6 one. Throws
  // std::invalid_argument.
  static Endpoint parse(std::string_view text);
  // 127.0.0.1 (AF_INET) or ::1 (AF_INET6).
  static Endpoint loopback(int family, std::uint16_t port);

  [[nodiscard]] int family() const noexcept { return storage.ss_family; }
  [[nodiscard]] std::uint16_t port() const noexcept;
  [[nodiscard]] std::string to_string() const;
  [[nodiscard]] const sockaddr* address() const noexcept {
    return reinterpret_cast<const sockaddr*>(&storage);
  }
  friend bool operator==(const Endpoint& a, const Endpoint& b) noexcept;
};

// A UDP socket bound to the loopback address of `family` on an ephemeral port.
class UdpSocket {
 public:
  explicit UdpSocket(int family);
  ~UdpSocket();
  UdpSocket(UdpSocket&& other) noexcept;
  UdpSocket& operator=(UdpSocket&& other) noexcept;
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;

  [[nodiscard]] int fd() const noexcept { return fd_; }
  [[nodiscard]] const Endpoint& local() const noexcept { return local_; }
  // Throws std::system_error unless the whole datagram was sent.
  void send_to(const Endpoint& to, std::span<const std::uint8_t> datagram) const;
  // Next datagram, or nullopt when nothing arrives within `timeout`. `from` gets the sender.
  std::optional<std::size_t> receive(std::span<std::uint8_t> buffer,
                                     std::chrono::milliseconds timeout,
                                     Endpoint* from = nullptr) const;

 private:
  int fd_ = -1;
  Endpoint local_;
};

// True when a socket can be bound on ::1 (IPv6 may be disabled in containers).
[[nodiscard]] bool ipv6_loopback_available();

}  // namespace jambox::test
