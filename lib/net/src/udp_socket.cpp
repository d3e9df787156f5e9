#include "mmsg.hpp"
#include <jambox/net/udp_socket.hpp>

#include <boost/asio/ip/address_v6.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/system/system_error.hpp>
#include <linux/filter.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <climits>
#include <string>

namespace jambox::net {
namespace {

[[noreturn]] void throw_system(int error, const std::string& what) {
  throw std::system_error(error, std::system_category(), what);
}

void set_buffer(int fd, int force_option, int option, std::size_t bytes, const Endpoint& local) {
  if (bytes == 0) return;
  const int value =
      bytes > static_cast<std::size_t>(INT_MAX / 2) ? INT_MAX / 2 : static_cast<int>(bytes);
  // The FORCE variant ignores net.core.[rw]mem_max but needs CAP_NET_ADMIN; without it the
  // plain option is capped by the sysctl, which callers can detect from the granted size.
  if (::setsockopt(fd, SOL_SOCKET, force_option, &value, sizeof value) == 0) return;
  if (::setsockopt(fd, SOL_SOCKET, option, &value, sizeof value) != 0) {
    throw_system(errno, "set socket buffer size on " + to_string(local));
  }
}

std::size_t get_buffer(int fd, int option) noexcept {
  int value = 0;
  socklen_t length = sizeof value;
  if (::getsockopt(fd, SOL_SOCKET, option, &value, &length) != 0 || value < 0) return 0;
  return static_cast<std::size_t>(value);
}

}  // namespace

UdpSocket::UdpSocket(boost::asio::io_context& io) : socket_(io) {}

void UdpSocket::bind(const Endpoint& local, const SocketOptions& options) {
  const std::string where = to_string(local);
  boost::system::error_code ec;
  socket_.open(local.protocol(), ec);
  if (ec) throw_system(ec.value(), "open UDP socket for " + where);
  v6_ = local.address().is_v6();
  const int fd = socket_.native_handle();
  if (v6_ && local.address().is_unspecified()) {
    socket_.set_option(boost::asio::ip::v6_only(false), ec);
    if (ec) throw_system(ec.value(), "enable dual-stack on " + where);
  }
  if (options.reuse_port) {
    const int on = 1;
    if (::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
      throw_system(errno, "set SO_REUSEPORT on " + where);
    }
  }
  set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, options.receive_buffer_bytes, local);
  set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, options.send_buffer_bytes, local);
  socket_.bind(local, ec);
  if (ec) {
    socket_.close();
    throw_system(ec.value(), "bind " + where);
  }
  socket_.non_blocking(true, ec);
  if (ec) throw_system(ec.value(), "make " + where + " non-blocking");
}

Endpoint UdpSocket::local_endpoint() const {
  return socket_.local_endpoint();
}

std::size_t UdpSocket::receive_buffer_size() noexcept {
  return get_buffer(socket_.native_handle(), SO_RCVBUF);
}

std::size_t UdpSocket::send_buffer_size() noexcept {
  return get_buffer(socket_.native_handle(), SO_SNDBUF);
}

std::error_code UdpSocket::attach_reuseport_modulo(std::uint32_t word_offset,
                                                   std::uint32_t groups) noexcept {
  if (groups == 0) return std::make_error_code(std::errc::invalid_argument);
  // Classic BPF runs on the UDP payload here (the kernel pulls the UDP header first). An
  // absolute load beyond the end of the packet ends the program with 0, i.e. socket 0.
  sock_filter code[] = {
      {BPF_LD | BPF_W | BPF_ABS, 0, 0, word_offset},  // A = ntohl(payload[offset..+4])
      {BPF_ALU | BPF_MOD | BPF_K, 0, 0, groups},      // A %= groups
      {BPF_RET | BPF_A, 0, 0, 0},                     // socket index in bind order
  };
  sock_fprog program{};
  program.len = static_cast<unsigned short>(sizeof code / sizeof code[0]);
  program.filter = code;
  if (::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &program,
                   sizeof program) != 0) {
    return {errno, std::system_category()};
  }
  return {};
}

std::size_t UdpSocket::receive(ReceiveBatch& batch, std::error_code& ec) noexcept {
  return detail::Mmsg::receive(socket_.native_handle(), batch, ec);
}

SendResult UdpSocket::send(SendBatch& batch) noexcept {
  return detail::Mmsg::send(socket_.native_handle(), v6_, batch);
}

bool UdpSocket::send_to(std::span<const std::uint8_t> datagram, const Endpoint& to,
                        std::error_code& ec) noexcept {
  ec.clear();
  Endpoint target = to;
  if (v6_ && to.address().is_v4()) {
    target =
        Endpoint(boost::asio::ip::make_address_v6(boost::asio::ip::v4_mapped, to.address().to_v4()),
                 to.port());
  }
  for (;;) {
    const ssize_t n = ::sendto(socket_.native_handle(), datagram.data(), datagram.size(),
                               MSG_DONTWAIT, target.data(), static_cast<socklen_t>(target.size()));
    if (n >= 0) return true;
    if (errno == EINTR) continue;
    ec.assign(errno, std::system_category());
    return false;
  }
}

void UdpSocket::cancel() noexcept {
  boost::system::error_code ignored;
  socket_.cancel(ignored);
}

void UdpSocket::close() noexcept {
  boost::system::error_code ignored;
  socket_.close(ignored);
}

}  // namespace jambox::net
