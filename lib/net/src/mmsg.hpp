#pragma once
// The recvmmsg/sendmmsg loops shared by the sockets of this library: one place that knows the
// batches' kernel headers and what each errno means for a real-time sender.

#include <jambox/net/batch.hpp>
#include <jambox/net/udp_socket.hpp>

#include <system_error>

namespace jambox::net::detail {

struct Mmsg {
  // Receives up to batch.capacity() datagrams without blocking; nothing pending is 0 with `ec`
  // clear. EINTR is retried; other failures set `ec`.
  static std::size_t receive(int fd, ReceiveBatch& batch, std::error_code& ec) noexcept;
  // Sends every queued datagram without blocking, then clears the batch. `dual_stack`: the
  // socket is IPv6 and reaches IPv4 peers through mapped addresses.
  static SendResult send(int fd, bool dual_stack, SendBatch& batch) noexcept;
};

}  // namespace jambox::net::detail
