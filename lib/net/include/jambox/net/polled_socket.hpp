#pragma once
// A UDP socket connected to one peer that no event loop watches: the thread that owns it polls
// it on its own schedule (jamboxd's audio thread, once per period), so an arriving datagram
// never wakes another thread. A socket an Asio loop has registered would: the epoll reactor
// watches every open socket edge-triggered, so each datagram ends the loop's epoll_wait even
// with no operation pending. A loop that wants readiness for a while assigns fd() to a
// boost::asio::posix::stream_descriptor and release()s it afterwards (never closes it).
//
// Connected: the kernel hands us only the peer's datagrams and routes ours without a lookup.
// Nothing here blocks: receive() returns 0 when nothing is pending, send() drops what the kernel
// cannot take now and counts it.

#include <jambox/net/batch.hpp>
#include <jambox/net/endpoint.hpp>
#include <jambox/net/udp_socket.hpp>

#include <system_error>

namespace jambox::net {

class PolledSocket {
 public:
  PolledSocket() = default;
  ~PolledSocket();
  PolledSocket(const PolledSocket&) = delete;
  PolledSocket& operator=(const PolledSocket&) = delete;

  // Opens a non-blocking socket of the peer's family on an ephemeral port and connects it to
  // `peer`; an open socket of the same family is only connected again (it keeps its port, so the
  // peer still knows it). `kernel_timestamps`: the kernel stamps each datagram's arrival
  // (SO_TIMESTAMPNS; ReceiveBatch::received_at_ns), so a thread that polls late still knows when
  // a datagram came, where the kernel offers that (kernel_timestamps() says). Throws
  // std::system_error naming the peer.
  void open(const Endpoint& peer, bool kernel_timestamps = false);
  void close() noexcept;

  [[nodiscard]] bool is_open() const noexcept { return fd_ >= 0; }
  [[nodiscard]] int fd() const noexcept { return fd_; }
  [[nodiscard]] const Endpoint& peer() const noexcept { return peer_; }
  // The kernel stamps arriving datagrams (asked for and granted at the last open()).
  [[nodiscard]] bool kernel_timestamps() const noexcept { return kernel_timestamps_; }
  // The bound address, or a default endpoint when closed.
  [[nodiscard]] Endpoint local_endpoint() const;

  // As UdpSocket::receive and UdpSocket::send. A refused earlier send (ICMP port unreachable:
  // the peer's port is closed) is reported by the next receive as ECONNREFUSED in `ec`.
  std::size_t receive(ReceiveBatch& batch, std::error_code& ec) noexcept;
  SendResult send(SendBatch& batch) noexcept;

 private:
  int fd_ = -1;
  bool v6_ = false;
  bool kernel_timestamps_ = false;
  Endpoint peer_;
};

}  // namespace jambox::net
