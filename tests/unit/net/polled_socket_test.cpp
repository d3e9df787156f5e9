// net::PolledSocket: a connected socket no event loop watches, with the kernel's receive times.
#include <jambox/net/batch.hpp>
#include <jambox/net/polled_socket.hpp>
#include <jambox/net/udp_socket.hpp>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <thread>

using jambox::net::Endpoint;
using jambox::net::parse_endpoint;
using jambox::net::PolledSocket;
using jambox::net::ReceiveBatch;
using jambox::net::SendBatch;
using jambox::net::UdpSocket;

namespace {

std::int64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Polls until something arrives or a second passed.
std::size_t poll(PolledSocket& socket, ReceiveBatch& batch) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (std::chrono::steady_clock::now() < deadline) {
    std::error_code ec;
    const std::size_t n = socket.receive(batch, ec);
    if (n > 0 || ec) return n;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return 0;
}

// Linux turns receive timestamps on for the whole stack lazily: the first socket that asks
// schedules a work item, and until it has run, datagrams are stamped when read rather than when
// they arrived (on a loaded machine that can take a while). Waits until a datagram that waited
// 10 ms in the socket carries its arrival time. False after about 2 s.
bool arrival_stamps_live(UdpSocket& sender, PolledSocket& box, const Endpoint& to) {
  const std::array<std::uint8_t, 1> probe{0};
  for (int i = 0; i < 200; ++i) {
    std::error_code ignored;
    if (!sender.send_to(probe, to, ignored)) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ReceiveBatch in(4, 64, true);
    if (poll(box, in) != 1) return false;
    if (realtime_ns() - in.received_at_ns(0) >= 5'000'000) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("polled socket: talks to its peer only, with the kernel's receive times",
          "[net][socket][polled]") {
  boost::asio::io_context io;
  UdpSocket server(io);
  server.bind(parse_endpoint("127.0.0.1:0"), {});
  UdpSocket stranger(io);
  stranger.bind(parse_endpoint("127.0.0.1:0"), {});

  PolledSocket box;
  CHECK_FALSE(box.is_open());
  box.open(server.local_endpoint(), true);
  REQUIRE(box.is_open());
  CHECK(box.peer() == server.local_endpoint());
  const Endpoint local = box.local_endpoint();
  CHECK(local.port() != 0);

  // Out: no address needed beyond the batch's, one sendmmsg.
  SendBatch out(4, 64);
  const std::array<std::uint8_t, 3> hello{1, 2, 3};
  REQUIRE(out.push(hello, server.local_endpoint()));
  CHECK(box.send(out).sent == 1);
  ReceiveBatch at_server(4, 64);
  std::error_code ec;
  for (int i = 0; i < 1000 && server.receive(at_server, ec) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  REQUIRE(at_server.size() == 1);
  CHECK(at_server.source(0) == local);

  // In: a stranger's datagram never reaches a connected socket; the peer's does, stamped with
  // when it arrived, not when we looked.
  std::error_code ignored;
  if (box.kernel_timestamps()) REQUIRE(arrival_stamps_live(server, box, local));
  REQUIRE(stranger.send_to(hello, local, ignored));
  const std::int64_t sent_ns = realtime_ns();
  REQUIRE(server.send_to(hello, local, ignored));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ReceiveBatch in(4, 64, true);
  REQUIRE(poll(box, in) == 1);
  const std::int64_t read_ns = realtime_ns();
  CHECK(in.source(0) == server.local_endpoint());
  const std::int64_t stamp = in.received_at_ns(0);
  if (box.kernel_timestamps()) {
    CHECK(stamp >= sent_ns - 1'000'000);  // clock granularity
    CHECK(stamp <= read_ns);
    CHECK(read_ns - stamp >= 40'000'000);  // we looked 50 ms later; the stamp knows
  } else {
    // qemu-user (the arm64 unit tests) refuses SO_TIMESTAMPNS: no stamp rather than a wrong one.
    WARN("no kernel receive timestamps here");
    CHECK(stamp == 0);
  }

  SECTION("a batch without room for timestamps reports none") {
    REQUIRE(server.send_to(hello, local, ignored));
    ReceiveBatch plain(4, 64);
    REQUIRE(poll(box, plain) == 1);
    CHECK(plain.received_at_ns(0) == 0);
  }

  SECTION("connecting again to another peer keeps the port") {
    box.open(stranger.local_endpoint(), true);
    CHECK(box.local_endpoint() == local);
    REQUIRE(stranger.send_to(hello, local, ignored));
    REQUIRE(poll(box, in) == 1);
    CHECK(in.source(0) == stranger.local_endpoint());
  }

  SECTION("closed: nothing to receive, sends are counted as dropped") {
    box.close();
    CHECK_FALSE(box.is_open());
    std::error_code closed_ec;
    CHECK(box.receive(in, closed_ec) == 0);
    CHECK(closed_ec);
    REQUIRE(out.push(hello, server.local_endpoint()));
    CHECK(box.send(out).dropped == 1);
  }
}
