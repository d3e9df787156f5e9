#pragma once
// A UDP socket for high packet rates: batched, non-blocking recvmmsg/sendmmsg over preallocated
// batches, readiness through the Asio reactor (async_wait), and SO_REUSEPORT groups with a
// classic-BPF steering program so several threads can share one port without sharing state.
//
// Nothing here ever blocks: a receive with nothing pending returns 0, a send the kernel cannot
// take right now drops the datagrams (real-time audio that waits is audio that arrives too late)
// and counts them.

#include <jambox/net/batch.hpp>
#include <jambox/net/endpoint.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/socket_base.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>
#include <utility>

namespace jambox::net {

struct SocketOptions {
  std::size_t receive_buffer_bytes = 0;  // SO_RCVBUF request; 0 keeps the kernel default
  std::size_t send_buffer_bytes = 0;     // SO_SNDBUF request; 0 keeps the kernel default
  // Join (or found) a SO_REUSEPORT group: every socket of the group must set it, and sockets
  // are numbered in bind order for the steering program.
  bool reuse_port = false;
};

struct SendResult {
  std::size_t sent = 0;     // datagrams the kernel accepted
  std::size_t bytes = 0;    // their bytes
  std::size_t dropped = 0;  // datagrams given up (buffer full, unreachable, ...)
  int last_error = 0;       // errno of the latest failure, 0 when none
};

class UdpSocket {
 public:
  explicit UdpSocket(boost::asio::io_context& io);

  // Opens a socket of the endpoint's family, applies `options` and binds. The IPv6 wildcard
  // ("[::]") is bound dual-stack (IPV6_V6ONLY off) so IPv4 peers are served too. Throws
  // std::system_error whose what() names the endpoint ("bind 0.0.0.0:7930: Address already in
  // use"). The socket is non-blocking afterwards.
  void bind(const Endpoint& local, const SocketOptions& options);

  [[nodiscard]] bool is_open() const noexcept { return socket_.is_open(); }
  [[nodiscard]] Endpoint local_endpoint() const;
  [[nodiscard]] int native_handle() noexcept { return socket_.native_handle(); }
  // What the kernel granted (Linux reports twice the requested size, for its bookkeeping).
  [[nodiscard]] std::size_t receive_buffer_size() noexcept;
  [[nodiscard]] std::size_t send_buffer_size() noexcept;

  // Attaches to this socket's SO_REUSEPORT group a classic BPF program that picks socket number
  // (big-endian u32 at UDP payload offset `word_offset`) % `groups`. A datagram too short to hold
  // the word goes to socket 0. Returns the setsockopt error, if any.
  [[nodiscard]] std::error_code attach_reuseport_modulo(std::uint32_t word_offset,
                                                        std::uint32_t groups) noexcept;

  // Receives up to batch.capacity() datagrams without blocking; returns how many (also
  // batch.size()). Nothing pending is not an error: 0 with `ec` clear. Other failures set `ec`.
  std::size_t receive(ReceiveBatch& batch, std::error_code& ec) noexcept;

  // Sends every queued datagram without blocking, then clears the batch. IPv4 destinations
  // are mapped for a dual-stack IPv6 socket.
  SendResult send(SendBatch& batch) noexcept;

  // One datagram, for control paths and tests. False (with `ec`) when it was not sent.
  bool send_to(std::span<const std::uint8_t> datagram, const Endpoint& to,
               std::error_code& ec) noexcept;

  // Calls handler(const boost::system::error_code&) once the socket is readable (or the wait
  // was cancelled: boost::asio::error::operation_aborted).
  template <typename Handler>
  void async_wait_readable(Handler&& handler) {
    socket_.async_wait(boost::asio::socket_base::wait_read, std::forward<Handler>(handler));
  }

  void cancel() noexcept;
  void close() noexcept;

  [[nodiscard]] boost::asio::ip::udp::socket& asio_socket() noexcept { return socket_; }

 private:
  boost::asio::ip::udp::socket socket_;
  bool v6_ = false;
};

}  // namespace jambox::net
