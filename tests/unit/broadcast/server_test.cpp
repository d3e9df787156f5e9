// The threaded Server on real loopback sockets, in process: steering across workers, JOINs routed
// to the owning shard, forwarding, reload and stop. (Tests of the jambox-broadcast process live
// in tests/integration.)
#include <jambox/broadcast/server.hpp>
#include <jambox/config/config.hpp>
#include <jambox/net/endpoint.hpp>
#include <jambox/wire/packet.hpp>
#include <jambox/wire/session.hpp>

#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using jambox::broadcast::Server;
using jambox::broadcast::ServerConfig;
namespace wire = jambox::wire;
using Event = wire::ClientSession::Event;

namespace {

std::uint64_t now_us() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000u;
}

ServerConfig make_config(const std::string& rooms, std::uint32_t workers) {
  const std::string text =
      "[server]\nlisten = \"127.0.0.1:0\"\nworkers = " + std::to_string(workers) +
      "\nsocket_buffer_kb = 256\n[stats]\nfile = \"\"\ninterval_ms = 100\n" + rooms;
  return jambox::broadcast::load_config(jambox::config::Document::parse(text, "server.conf"));
}

std::string room(const std::string& name, const std::string& secret) {
  return "[[room]]\nname = \"" + name + "\"\nsecret = \"" + secret + "\"\n";
}

// A box on its own loopback socket.
class Box {
 public:
  Box(const std::string& room_name, const std::string& secret, std::uint16_t server_port)
      : session(room_name, secret, wire::AudioShape{}) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    server_.sin_family = AF_INET;
    server_.sin_port = htons(server_port);
    server_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  }
  ~Box() { ::close(fd_); }
  Box(const Box&) = delete;
  Box& operator=(const Box&) = delete;

  void send(std::size_t size) {
    REQUIRE(size != 0);
    const auto n = ::sendto(fd_, out_.data(), size, 0, reinterpret_cast<const sockaddr*>(&server_),
                            sizeof server_);
    REQUIRE(n == static_cast<ssize_t>(size));
  }
  void send_join() { send(session.make_join(out_)); }
  void send_audio() {
    std::vector<float> ch(session.shape().frames, 0.1f);
    send(session.make_audio(ch, ch, now_us(), out_));
  }
  void send_keepalive() { send(session.make_keepalive(now_us(), out_)); }

  // Next datagram from the server, classified by the session; nullopt on timeout.
  std::optional<Event> receive(std::chrono::milliseconds timeout = std::chrono::seconds(2)) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
    const auto n = ::recv(fd_, in_.data(), in_.size(), 0);
    if (n <= 0) return std::nullopt;
    return session.receive(std::span(in_).first(static_cast<std::size_t>(n)), now_us(), last);
  }
  // Skips other events until `want` arrives.
  bool expect(Event want, std::chrono::milliseconds timeout = std::chrono::seconds(2)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      const auto e = receive(std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now()));
      if (e == want) return true;
    }
    return false;
  }
  bool join_as_member() {
    for (int attempt = 0; attempt < 5; ++attempt) {
      send_join();
      if (expect(Event::welcomed, std::chrono::milliseconds(500))) {
        send_keepalive();
        return expect(Event::echo);
      }
    }
    return false;
  }

  wire::ClientSession session;
  wire::PacketView last;

 private:
  int fd_ = -1;
  sockaddr_in server_{};
  std::array<std::uint8_t, wire::kMaxDatagram> out_{};
  std::array<std::uint8_t, 2048> in_{};
};

const jambox::broadcast::RoomStats* find_room(const jambox::broadcast::Snapshot& s,
                                              const std::string& name) {
  for (const auto& r : s.rooms) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

// Waits until the published snapshot satisfies `ok` (workers publish every 100 ms here).
template <typename Predicate>
jambox::broadcast::Snapshot wait_for(const Server& server, Predicate ok) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  auto s = server.snapshot();
  while (!ok(s) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    s = server.snapshot();
  }
  return s;
}

}  // namespace

TEST_CASE("server: two workers, rooms on both, JOINs routed to the owner", "[broadcast][server]") {
  const std::string secret_a = "room-a-secret-0123456789";
  const std::string secret_b = "room-b-secret-0123456789";
  Server server(make_config(room("a", secret_a) + room("b", secret_b), 2));
  server.start();
  REQUIRE(server.running());
  const std::uint16_t port = server.local_endpoint().port();
  REQUIRE(port != 0);
  if (server.workers() != 2) WARN("steering unavailable: running with one worker");

  Box a1("a", secret_a, port);
  Box a2("a", secret_a, port);
  Box b1("b", secret_b, port);
  Box b2("b", secret_b, port);
  for (Box* box : {&a1, &a2, &b1, &b2}) REQUIRE(box->join_as_member());
  // Rooms are spread over the workers in config order; the ids say which shard owns a room.
  const std::uint32_t w = server.workers();
  CHECK(a1.session.session_id() % w == a2.session.session_id() % w);
  CHECK(b1.session.session_id() % w == b2.session.session_id() % w);
  if (w == 2) CHECK(a1.session.session_id() % 2 != b1.session.session_id() % 2);

  a1.send_audio();
  REQUIRE(a2.expect(Event::audio));
  CHECK(a2.last.header.session_id == a1.session.session_id());
  // Nothing comes back to a1: never its own audio, and no echo (it heard the server just now).
  CHECK_FALSE(a1.receive(std::chrono::milliseconds(20)).has_value());
  b2.send_audio();
  REQUIRE(b1.expect(Event::audio));
  CHECK(b1.last.header.session_id == b2.session.session_id());
  // Isolation: nothing crossed rooms.
  CHECK_FALSE(b1.receive(std::chrono::milliseconds(100)).has_value());
  CHECK_FALSE(a2.receive(std::chrono::milliseconds(50)).has_value());

  const auto s = wait_for(
      server, [](const auto& snap) { return snap.members == 4 && snap.totals.forwarded >= 2; });
  CHECK(s.members == 4);
  CHECK(s.totals.forwarded >= 2);
  CHECK(s.totals.packets_out >= 2 + 4 + 4);  // 2 forwards, 4 WELCOMEs, 4 keepalive echoes
  CHECK(s.rooms_configured == 2);
  REQUIRE(find_room(s, "a") != nullptr);
  CHECK(find_room(s, "a")->member_count == 2);
  CHECK(server.workers_alive(std::chrono::seconds(2)));

  SECTION("reload: a room removed, one added, the untouched one keeps its members") {
    const std::string secret_c = "room-c-secret-0123456789";
    auto summary = server.reload(make_config(room("a", secret_a) + room("c", secret_c), 2));
    CHECK(summary.removed == std::vector<std::string>{"b"});
    CHECK(summary.added == std::vector<std::string>{"c"});
    CHECK(summary.kept == std::vector<std::string>{"a"});
    CHECK(b1.expect(Event::notice));
    CHECK(b1.session.last_notice() == wire::NoticeCode::room_closed);
    a2.send_audio();
    CHECK(a1.expect(Event::audio));
    Box c1("c", secret_c, port);
    CHECK(c1.join_as_member());

    summary =
        server.reload(make_config(room("a", "a-new-secret-0123456789") + room("c", secret_c), 2));
    CHECK(summary.rekeyed == std::vector<std::string>{"a"});
    CHECK(a1.expect(Event::notice));
    CHECK(a1.session.last_notice() == wire::NoticeCode::room_closed);
  }
  SECTION("stop: every member is told") {
    server.stop();
    CHECK_FALSE(server.running());
    for (Box* box : {&a1, &a2, &b1, &b2}) {
      REQUIRE(box->expect(Event::notice));
      CHECK(box->session.last_notice() == wire::NoticeCode::server_stopping);
    }
    const auto final_stats = server.snapshot();
    CHECK(final_stats.members == 0);
    CHECK(final_stats.totals.notices >= 4);
  }
}

TEST_CASE("server: a port in use is refused", "[broadcast][server]") {
  Server first(make_config(room("a", "room-a-secret-0123456789"), 2));
  first.start();
  ServerConfig clash = make_config(room("a", "room-a-secret-0123456789"), 2);
  clash.listen = first.local_endpoint();
  Server second(clash);
  CHECK_THROWS_AS(second.start(), std::system_error);
  ServerConfig single = clash;
  single.workers = 1;
  Server third(single);
  CHECK_THROWS_AS(third.start(), std::system_error);
}

TEST_CASE("server: rooms made on demand are added and removed live and outlive reloads",
          "[broadcast][server][rooms]") {
  const std::string secret_a = "room-a-secret-0123456789";
  Server server(make_config(room("a", secret_a), 2));
  server.start();
  const std::uint16_t port = server.local_endpoint().port();

  jambox::broadcast::RoomConfig made;
  made.name = "K7M2QX";
  made.secret = "a-secret-made-on-demand-0123456789";
  made.max_members = 2;
  REQUIRE(server.add_room(made));
  CHECK_FALSE(server.add_room(made));  // a name is one room
  jambox::broadcast::RoomConfig clash = made;
  clash.name = "a";
  CHECK_FALSE(server.add_room(clash));  // nor the name of a declared room
  CHECK(server.room_count() == 2);

  Box k1("K7M2QX", made.secret, port);
  Box k2("K7M2QX", made.secret, port);
  REQUIRE(k1.join_as_member());
  REQUIRE(k2.join_as_member());
  k1.send_audio();
  REQUIRE(k2.expect(Event::audio));
  auto s = wait_for(server, [](const auto& snap) {
    const auto* r = find_room(snap, "K7M2QX");
    return r != nullptr && r->member_count == 2;
  });
  REQUIRE(find_room(s, "K7M2QX") != nullptr);
  CHECK(find_room(s, "K7M2QX")->on_demand);
  CHECK(find_room(s, "K7M2QX")->max_members == 2);
  CHECK_FALSE(find_room(s, "a")->on_demand);
  CHECK(s.rooms_on_demand == 1);
  CHECK(s.rooms_configured == 2);

  // A reload leaves it alone: the summary is about the file, the members keep playing.
  const std::string secret_b = "room-b-secret-0123456789";
  const auto summary = server.reload(make_config(room("a", secret_a) + room("b", secret_b), 2));
  CHECK(summary.added == std::vector<std::string>{"b"});
  CHECK(summary.kept == std::vector<std::string>{"a"});
  CHECK(summary.removed.empty());
  k2.send_audio();
  CHECK(k1.expect(Event::audio));
  // A declared room may not take its name while it exists: refused, nothing changes.
  CHECK_THROWS_AS(server.reload(make_config(room("a", secret_a) + room("K7M2QX", secret_b), 2)),
                  std::invalid_argument);
  CHECK(server.room_count() == 3);
  k1.send_audio();
  CHECK(k2.expect(Event::audio));

  // Removed: its members are told, the others stay.
  CHECK(server.remove_room("K7M2QX"));
  CHECK_FALSE(server.remove_room("K7M2QX"));
  CHECK_FALSE(server.remove_room("a"));  // only rooms made on demand
  CHECK(k1.expect(Event::notice));
  CHECK(k1.session.last_notice() == wire::NoticeCode::room_closed);
  s = wait_for(server, [](const auto& snap) { return find_room(snap, "K7M2QX") == nullptr; });
  CHECK(find_room(s, "K7M2QX") == nullptr);
  CHECK(s.rooms_on_demand == 0);
  CHECK(server.room_count() == 2);
}
