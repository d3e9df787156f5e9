// jambox-udp-floor: the cheapest possible room server, to measure what the kernel charges for
// forwarding on this machine.
//
// A paced sender sends one 316-byte datagram (a 64-frame stereo jam packet) every --gap-us to a
// forwarder thread, which sleeps in epoll_wait, drains its socket with recvmmsg and sends each
// datagram on to --fanout receiver sockets plus one echo back, in one sendmmsg: exactly the
// system calls jambox-broadcast makes, and nothing else (no parsing, no crypto, no statistics).
// The receivers are polled, like jambox-loadgen's, so no wake-up of theirs is billed to the
// forwarder. Prints one JSON line: the forwarder thread's CPU time per forwarded datagram.
//
// Usage: jambox-udp-floor [--fanout N] [--gap-us G] [--seconds S]

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr std::size_t kDatagram = 316;
constexpr std::size_t kBatch = 64;

std::uint64_t clock_ns(clockid_t clock) {
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000 +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "jambox-udp-floor: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

int bound_socket(sockaddr_in& address) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  const int buffer = 4 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
  address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) die("bind");
  socklen_t length = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) die("getsockname");
  return fd;
}

unsigned long number(const char* flag, const char* text) {
  char* end = nullptr;
  const unsigned long value = std::strtoul(text, &end, 10);
  if (end == text || *end != '\0' || value == 0) {
    std::fprintf(stderr, "jambox-udp-floor: %s expects a positive whole number, got '%s'\n", flag,
                 text);
    std::exit(2);
  }
  return value;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t fanout = 7;
  std::uint64_t gap_us = 167;  // 8 jammers' worth of input at 750 packets/s each
  std::uint64_t seconds = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "usage: jambox-udp-floor [--fanout N] [--gap-us G] [--seconds S]\n");
      return 2;
    }
    const unsigned long value = number(argv[i], argv[i + 1]);
    ++i;
    if (flag == "--fanout") {
      fanout = std::min<unsigned long>(value, 63);
    } else if (flag == "--gap-us") {
      gap_us = value;
    } else if (flag == "--seconds") {
      seconds = value;
    } else {
      std::fprintf(stderr, "jambox-udp-floor: unknown option '%s'\n", flag.c_str());
      return 2;
    }
  }

  sockaddr_in forwarder_address{};
  const int forwarder = bound_socket(forwarder_address);
  sockaddr_in sender_address{};
  const int sender = bound_socket(sender_address);
  std::vector<int> receivers(fanout);
  std::vector<sockaddr_in> destinations(fanout + 1);
  for (std::size_t i = 0; i < fanout; ++i) receivers[i] = bound_socket(destinations[i]);
  destinations[fanout] = sender_address;  // the echo

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> drained{0};
  // Receivers: polled every 500 us, never sleeping in a wait the forwarder would have to end.
  std::thread poller([&] {
    std::vector<std::uint8_t> buffer(2048);
    std::vector<int> all = receivers;
    all.push_back(sender);
    while (!stop.load()) {
      ::usleep(500);
      for (const int fd : all) {
        while (::recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT) > 0) drained.fetch_add(1);
      }
    }
  });

  std::uint64_t forwarded = 0;
  std::uint64_t inputs = 0;
  std::uint64_t wakeups = 0;
  std::uint64_t cpu_ns = 0;
  std::thread forward_thread([&] {
    const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
    epoll_event event{};
    event.events = EPOLLIN;
    ::epoll_ctl(epoll, EPOLL_CTL_ADD, forwarder, &event);
    std::vector<std::uint8_t> rx(kBatch * 2048);
    std::vector<iovec> rx_iov(kBatch);
    std::vector<mmsghdr> rx_msg(kBatch);
    for (std::size_t i = 0; i < kBatch; ++i) {
      rx_iov[i] = {rx.data() + i * 2048, 2048};
      rx_msg[i].msg_hdr.msg_iov = &rx_iov[i];
      rx_msg[i].msg_hdr.msg_iovlen = 1;
    }
    std::vector<iovec> tx_iov(fanout + 1);
    std::vector<mmsghdr> tx_msg(fanout + 1);
    const std::uint64_t start = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    while (!stop.load(std::memory_order_relaxed)) {
      epoll_event ready{};
      if (::epoll_wait(epoll, &ready, 1, 20) <= 0) continue;
      ++wakeups;
      const int got = ::recvmmsg(forwarder, rx_msg.data(), kBatch, MSG_DONTWAIT, nullptr);
      for (int m = 0; m < got; ++m) {
        ++inputs;
        for (std::size_t d = 0; d <= fanout; ++d) {
          tx_iov[d] = {rx.data() + static_cast<std::size_t>(m) * 2048,
                       d == fanout ? 60 : rx_msg[static_cast<std::size_t>(m)].msg_len};
          tx_msg[d].msg_hdr = {};
          tx_msg[d].msg_hdr.msg_name = &destinations[d];
          tx_msg[d].msg_hdr.msg_namelen = sizeof(sockaddr_in);
          tx_msg[d].msg_hdr.msg_iov = &tx_iov[d];
          tx_msg[d].msg_hdr.msg_iovlen = 1;
        }
        const int sent = ::sendmmsg(forwarder, tx_msg.data(), static_cast<unsigned>(fanout + 1), 0);
        if (sent > 0)
          forwarded += std::min<std::uint64_t>(static_cast<std::uint64_t>(sent), fanout);
      }
    }
    cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - start;
    ::close(epoll);
  });

  // Paced on an absolute grid, like the load generator's jammers.
  std::vector<std::uint8_t> packet(kDatagram, 0x5a);
  const std::uint64_t begin = clock_ns(CLOCK_MONOTONIC);
  const std::uint64_t end = begin + seconds * 1'000'000'000;
  for (std::uint64_t k = 1;; ++k) {
    const std::uint64_t deadline = begin + k * gap_us * 1000;
    if (deadline >= end) break;
    timespec ts{static_cast<time_t>(deadline / 1'000'000'000),
                static_cast<long>(deadline % 1'000'000'000)};
    while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
    ::sendto(sender, packet.data(), packet.size(), 0,
             reinterpret_cast<const sockaddr*>(&forwarder_address), sizeof forwarder_address);
  }
  ::usleep(20'000);
  stop.store(true);
  forward_thread.join();
  poller.join();

  const double per_forwarded =
      forwarded > 0 ? static_cast<double>(cpu_ns) / 1000.0 / static_cast<double>(forwarded) : 0.0;
  std::printf(
      "{\"fanout\":%zu,\"gap_us\":%llu,\"seconds\":%llu,\"inputs\":%llu,\"forwarded\":%llu,"
      "\"wakeups\":%llu,\"received\":%llu,\"cpu_pct\":%.1f,\"cpu_us_per_forwarded\":%.3f,"
      "\"cpu_us_per_input\":%.3f}\n",
      fanout, static_cast<unsigned long long>(gap_us), static_cast<unsigned long long>(seconds),
      static_cast<unsigned long long>(inputs), static_cast<unsigned long long>(forwarded),
      static_cast<unsigned long long>(wakeups), static_cast<unsigned long long>(drained.load()),
      static_cast<double>(cpu_ns) / 1e7 / static_cast<double>(seconds), per_forwarded,
      inputs > 0 ? static_cast<double>(cpu_ns) / 1000.0 / static_cast<double>(inputs) : 0.0);
  return 0;
}
