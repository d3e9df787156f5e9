#include <jambox/net/batch.hpp>
#include <jambox/net/udp_socket.hpp>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

using jambox::net::Endpoint;
using jambox::net::ReceiveBatch;
using jambox::net::SendBatch;
using jambox::net::UdpSocket;

namespace {

std::vector<std::uint8_t> bytes(std::initializer_list<int> values) {
  std::vector<std::uint8_t> out;
  for (const int v : values) out.push_back(static_cast<std::uint8_t>(v));
  return out;
}

// Receives until `want` datagrams arrived or a second passed (loopback delivery is immediate,
// but another thread of the kernel may still be queueing).
std::size_t receive_all(UdpSocket& socket, ReceiveBatch& batch, std::size_t want,
                        std::vector<std::vector<std::uint8_t>>& out,
                        std::vector<Endpoint>* sources = nullptr) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (out.size() < want && std::chrono::steady_clock::now() < deadline) {
    std::error_code ec;
    const std::size_t n = socket.receive(batch, ec);
    REQUIRE_FALSE(ec);
    for (std::size_t i = 0; i < n; ++i) {
      out.emplace_back(batch.data(i).begin(), batch.data(i).end());
      if (sources != nullptr) sources->push_back(batch.source(i));
    }
    if (n == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return out.size();
}

bool ipv6_available() {
  boost::asio::io_context io;
  UdpSocket probe(io);
  try {
    probe.bind(jambox::net::parse_endpoint("[::1]:0"), {});
    return true;
  } catch (const std::system_error&) {
    return false;
  }
}

}  // namespace

TEST_CASE("batches: fixed capacity, bounded lengths", "[net][batch]") {
  SendBatch batch(2, 8);
  const Endpoint to = jambox::net::parse_endpoint("127.0.0.1:9");
  CHECK(batch.capacity() == 2);
  CHECK(batch.empty());
  CHECK(batch.prepare().size() == 8);
  CHECK_FALSE(batch.commit(9, to));  // longer than a buffer
  CHECK(batch.push(bytes({1, 2, 3}), to));
  CHECK(batch.push(bytes({4}), to));
  CHECK(batch.full());
  CHECK(batch.prepare().empty());
  CHECK_FALSE(batch.push(bytes({5}), to));
  CHECK(batch.size() == 2);
  CHECK(std::vector<std::uint8_t>(batch.data(0).begin(), batch.data(0).end()) == bytes({1, 2, 3}));
  CHECK(batch.destination(1) == to);
  batch.clear();
  CHECK(batch.empty());

  CHECK_THROWS_AS(SendBatch(0, 8), std::invalid_argument);
  CHECK_THROWS_AS(ReceiveBatch(4, 0), std::invalid_argument);
  CHECK_THROWS_AS(ReceiveBatch(2000, 8), std::invalid_argument);
}

TEST_CASE("udp socket: batched send and receive on loopback", "[net][socket]") {
  boost::asio::io_context io;
  UdpSocket socket(io);
  socket.bind(jambox::net::parse_endpoint("127.0.0.1:0"), {1 << 20, 1 << 20, false});
  const Endpoint self = socket.local_endpoint();
  REQUIRE(self.port() != 0);
  CHECK(socket.receive_buffer_size() >= (1u << 20));

  ReceiveBatch rx(8, 64);
  std::error_code ec;
  CHECK(socket.receive(rx, ec) == 0);  // nothing pending is not an error
  CHECK_FALSE(ec);

  SendBatch tx(4, 64);
  for (int i = 0; i < 3; ++i) REQUIRE(tx.push(bytes({i, i + 1, i + 2}), self));
  const auto result = socket.send(tx);
  CHECK(result.sent == 3);
  CHECK(result.bytes == 9);
  CHECK(result.dropped == 0);
  CHECK(tx.empty());  // send clears the batch

  std::vector<std::vector<std::uint8_t>> got;
  std::vector<Endpoint> sources;
  REQUIRE(receive_all(socket, rx, 3, got, &sources) == 3);
  CHECK(got[0] == bytes({0, 1, 2}));
  CHECK(got[2] == bytes({2, 3, 4}));
  CHECK(sources[1] == self);
}

TEST_CASE("udp socket: an oversize datagram is cut and flagged", "[net][socket]") {
  boost::asio::io_context io;
  UdpSocket socket(io);
  socket.bind(jambox::net::parse_endpoint("127.0.0.1:0"), {});
  const Endpoint self = socket.local_endpoint();
  std::vector<std::uint8_t> big(150, 0xAB);
  std::error_code ec;
  REQUIRE(socket.send_to(big, self, ec));
  ReceiveBatch rx(4, 101);
  std::vector<std::vector<std::uint8_t>> got;
  REQUIRE(receive_all(socket, rx, 1, got) == 1);
  CHECK(got[0].size() == 101);
  CHECK(rx.truncated(0));
}

TEST_CASE("udp socket: failures to one destination drop only that datagram", "[net][socket]") {
  boost::asio::io_context io;
  UdpSocket socket(io);
  socket.bind(jambox::net::parse_endpoint("127.0.0.1:0"), {});
  const Endpoint self = socket.local_endpoint();
  SendBatch tx(4, 16);
  REQUIRE(tx.push(bytes({1}), self));
  // An IPv6 destination cannot be reached from an IPv4 socket.
  REQUIRE(tx.push(bytes({2}), jambox::net::parse_endpoint("[::1]:9")));
  REQUIRE(tx.push(bytes({3}), self));
  const auto result = socket.send(tx);
  CHECK(result.sent == 2);
  CHECK(result.dropped == 1);
  CHECK(result.last_error != 0);
  ReceiveBatch rx(4, 16);
  std::vector<std::vector<std::uint8_t>> got;
  REQUIRE(receive_all(socket, rx, 2, got) == 2);
  CHECK(got[0] == bytes({1}));
  CHECK(got[1] == bytes({3}));
}

TEST_CASE("udp socket: readiness through the asio reactor", "[net][socket]") {
  boost::asio::io_context io;
  UdpSocket socket(io);
  socket.bind(jambox::net::parse_endpoint("127.0.0.1:0"), {});
  bool ready = false;
  socket.async_wait_readable([&](const boost::system::error_code& ec) { ready = !ec; });
  CHECK(io.poll() == 0);  // nothing to read yet
  std::error_code ec;
  REQUIRE(socket.send_to(bytes({7}), socket.local_endpoint(), ec));
  io.run_for(std::chrono::seconds(1));
  CHECK(ready);
}

TEST_CASE("udp socket: dual-stack wildcard serves IPv4 peers", "[net][socket]") {
  if (!ipv6_available()) {
    WARN("IPv6 is not available here; dual-stack test skipped");
    return;
  }
  boost::asio::io_context io;
  UdpSocket server(io);
  server.bind(jambox::net::parse_endpoint("[::]:0"), {});
  const std::uint16_t port = server.local_endpoint().port();
  UdpSocket client(io);
  client.bind(jambox::net::parse_endpoint("127.0.0.1:0"), {});
  std::error_code ec;
  REQUIRE(client.send_to(bytes({1, 2}), Endpoint(boost::asio::ip::make_address("127.0.0.1"), port),
                         ec));
  ReceiveBatch rx(4, 16);
  std::vector<std::vector<std::uint8_t>> got;
  std::vector<Endpoint> sources;
  REQUIRE(receive_all(server, rx, 1, got, &sources) == 1);
  CHECK(jambox::net::to_string(sources[0]) == jambox::net::to_string(client.local_endpoint()));
  // Answering to the plain IPv4 form works too: the socket maps it.
  SendBatch tx(2, 16);
  REQUIRE(tx.push(bytes({9}), jambox::net::unmapped(sources[0])));
  CHECK(server.send(tx).sent == 1);
  std::vector<std::vector<std::uint8_t>> back;
  REQUIRE(receive_all(client, rx, 1, back) == 1);
  CHECK(back[0] == bytes({9}));
}

TEST_CASE("udp socket: SO_REUSEPORT group steered by a payload word", "[net][socket][bpf]") {
  constexpr std::uint32_t kGroups = 3;
  boost::asio::io_context io;
  std::vector<std::unique_ptr<UdpSocket>> group;
  jambox::net::SocketOptions options;
  options.reuse_port = true;
  Endpoint endpoint = jambox::net::parse_endpoint("127.0.0.1:0");
  for (std::uint32_t i = 0; i < kGroups; ++i) {
    group.push_back(std::make_unique<UdpSocket>(io));
    group.back()->bind(endpoint, options);
    endpoint = group.back()->local_endpoint();  // the others join the first one's port
  }
  const std::error_code attach = group[0]->attach_reuseport_modulo(12, kGroups);
  if (attach) {
    WARN("SO_ATTACH_REUSEPORT_CBPF unavailable: " << attach.message());
    return;
  }
  UdpSocket sender(io);
  sender.bind(jambox::net::parse_endpoint("127.0.0.1:0"), {});
  for (std::uint32_t id = 0; id < 12; ++id) {
    std::array<std::uint8_t, 20> datagram{};
    datagram[12] = static_cast<std::uint8_t>(id >> 24);
    datagram[13] = static_cast<std::uint8_t>(id >> 16);
    datagram[14] = static_cast<std::uint8_t>(id >> 8);
    datagram[15] = static_cast<std::uint8_t>(id);
    datagram[0] = static_cast<std::uint8_t>(id);
    std::error_code ec;
    REQUIRE(sender.send_to(datagram, endpoint, ec));
  }
  std::error_code ec;
  REQUIRE(sender.send_to(bytes({200, 0, 0}), endpoint, ec));  // too short for the word

  ReceiveBatch rx(16, 64);
  std::size_t total = 0;
  for (std::uint32_t i = 0; i < kGroups; ++i) {
    std::vector<std::vector<std::uint8_t>> got;
    receive_all(*group[i], rx, i == 0 ? 5 : 4, got);
    total += got.size();
    for (const auto& d : got) {
      if (d.size() == 3) {
        CHECK(i == 0);  // the short datagram goes to socket 0
        continue;
      }
      INFO("socket " << i << " got id " << int{d[0]});
      CHECK(d[0] % kGroups == i);
    }
  }
  CHECK(total == 13);
}
