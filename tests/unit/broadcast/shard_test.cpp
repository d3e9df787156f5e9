// The socket-free shard core, driven with datagrams built by wire::ClientSession (the box side).
#include <jambox/broadcast/shard.hpp>
#include <jambox/wire/packet.hpp>
#include <jambox/wire/session.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

using jambox::broadcast::JoinRequest;
using jambox::broadcast::JoinRouter;
using jambox::broadcast::PlannedRoom;
using jambox::broadcast::RoomPlan;
using jambox::broadcast::RoomShard;
using jambox::broadcast::Sink;
using jambox::net::Endpoint;
namespace wire = jambox::wire;
using Event = wire::ClientSession::Event;

namespace {

constexpr const char* kSecret = "main-room-secret-0123456789";
constexpr const char* kOtherSecret = "other-room-secret-0123456789";
constexpr std::uint32_t kTimeoutMs = 1000;

std::size_t reject_index(wire::Reject r) {
  return static_cast<std::size_t>(r);
}

Endpoint address(std::uint16_t port, const char* ip = "127.0.0.1") {
  return {boost::asio::ip::make_address(ip), port};
}

// Records every datagram the shard emits.
class Capture final : public Sink {
 public:
  struct Datagram {
    std::vector<std::uint8_t> bytes;
    Endpoint to;
  };
  std::span<std::uint8_t> prepare() override { return buffer_; }
  void commit(std::size_t size, const Endpoint& to) override {
    sent.push_back({std::vector<std::uint8_t>(buffer_.begin(),
                                              buffer_.begin() + static_cast<std::ptrdiff_t>(size)),
                    to});
  }
  std::vector<Datagram> take() {
    std::vector<Datagram> out;
    out.swap(sent);
    return out;
  }
  std::vector<Datagram> sent;

 private:
  std::array<std::uint8_t, wire::kMaxDatagram> buffer_{};
};

// A box: the client side of the protocol plus its address.
class Box {
 public:
  Box(const char* room, const char* secret, std::uint16_t port)
      : session(room, secret, wire::AudioShape{}), addr(address(port)) {}
  // A box admitted by ticket: it knows the ticket and its secret, never the room's secret.
  // `audio_key`: the room's audio key the server issues with the ticket.
  Box(const char* room, const std::string& ticket_secret, const wire::Ticket& ticket,
      std::uint16_t port, const std::optional<jambox::crypto::Key>& audio_key = std::nullopt)
      : session(room, ticket_secret, ticket, wire::AudioShape{}, audio_key), addr(address(port)) {}

  std::vector<std::uint8_t> join() { return copy(session.make_join(buffer_)); }
  std::vector<std::uint8_t> audio(std::uint64_t now, float level = 0.25f) {
    std::vector<float> ch1(session.shape().frames, level);
    std::vector<float> ch2(session.shape().frames, -level);
    return copy(session.make_audio(ch1, ch2, now, buffer_));
  }
  std::vector<std::uint8_t> keepalive(std::uint64_t now) {
    return copy(session.make_keepalive(now, buffer_));
  }
  std::vector<std::uint8_t> leave(std::uint64_t now) {
    return copy(session.make_leave(now, buffer_));
  }
  Event receive(const std::vector<std::uint8_t>& datagram, std::uint64_t now) {
    return session.receive(datagram, now, last);
  }

  wire::ClientSession session;
  Endpoint addr;
  wire::PacketView last;

 private:
  std::vector<std::uint8_t> copy(std::size_t size) {
    REQUIRE(size != 0);
    return {buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(size)};
  }
  std::array<std::uint8_t, wire::kMaxDatagram> buffer_{};
};

RoomPlan plan(std::uint32_t main_max = 4, std::uint64_t main_generation = 1, bool with_other = true,
              std::uint32_t main_shard = 0) {
  RoomPlan p;
  p.member_timeout_ms = kTimeoutMs;
  p.rooms.push_back({"main", kSecret, main_max, main_shard, main_generation});
  if (with_other) p.rooms.push_back({"other", kOtherSecret, 4, 0, 100});
  return p;
}

wire::Header header_of(const std::vector<std::uint8_t>& datagram) {
  wire::PacketView view;
  REQUIRE(wire::decode(datagram, view) == wire::Reject::none);
  return view.header;
}

struct Fixture {
  explicit Fixture(std::uint32_t main_max = 4) : shard(0, 1) {
    shard.apply(plan(main_max), now, out);
  }

  void feed(Box& box, const std::vector<std::uint8_t>& datagram) {
    shard.handle(datagram, box.addr, now, out);
  }
  void feed_from(const Endpoint& from, const std::vector<std::uint8_t>& datagram) {
    shard.handle(datagram, from, now, out);
  }

  // JOIN -> WELCOME -> keepalive -> echo: the box is a member afterwards.
  void admit(Box& box) {
    feed(box, box.join());
    auto answers = out.take();
    REQUIRE(answers.size() == 1);
    CHECK(answers[0].to == box.addr);
    REQUIRE(box.receive(answers[0].bytes, now) == Event::welcomed);
    now += 10;
    feed(box, box.keepalive(now));
    answers = out.take();
    REQUIRE(answers.size() == 1);
    REQUIRE(box.receive(answers[0].bytes, now) == Event::echo);
  }

  std::uint64_t rejected(wire::Reject r) const {
    return shard.counters().rejected[reject_index(r)];
  }

  jambox::broadcast::RoomStats room_stats(const std::string& name) {
    for (auto& room : shard.snapshot(now).rooms) {
      if (room.name == name) return room;
    }
    FAIL("no room " << name);
    return {};
  }

  std::uint64_t now = 1'000'000;
  Capture out;
  RoomShard shard;
};

}  // namespace

TEST_CASE("shard: JOIN -> WELCOME -> first packet makes a member", "[broadcast][shard]") {
  Fixture f;
  Box a("main", kSecret, 40000);
  f.feed(a, a.join());
  auto answers = f.out.take();
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].to == a.addr);
  CHECK(header_of(answers[0].bytes).type == wire::PacketType::welcome);
  REQUIRE(a.receive(answers[0].bytes, f.now) == Event::welcomed);
  CHECK(a.session.session_id() != 0);
  CHECK(a.session.welcome().member_timeout_ms == kTimeoutMs);
  CHECK(a.session.welcome().max_members == 4);
  CHECK(a.session.welcome().members == 1);
  CHECK(f.shard.pending_count() == 1);
  CHECK(f.shard.member_count() == 0);
  CHECK(f.shard.counters().joins == 1);
  CHECK(f.shard.counters().welcomes == 1);

  f.now += 100;
  f.feed(a, a.keepalive(f.now));
  CHECK(f.shard.pending_count() == 0);
  CHECK(f.shard.member_count() == 1);
  CHECK(f.shard.counters().admitted == 1);
  answers = f.out.take();
  REQUIRE(answers.size() == 1);
  CHECK(a.receive(answers[0].bytes, f.now) == Event::echo);

  const auto room = f.room_stats("main");
  REQUIRE(room.members.size() == 1);
  CHECK(room.members[0].session_id == a.session.session_id());
  CHECK(room.members[0].address == "127.0.0.1:40000");
  CHECK(room.joins == 1);
  CHECK(room.admitted == 1);
}

TEST_CASE("shard: audio goes to every other member, never back to the sender",
          "[broadcast][shard]") {
  Fixture f;
  Box a("main", kSecret, 40001);
  Box b("main", kSecret, 40002);
  Box c("main", kSecret, 40003);
  Box x("other", kOtherSecret, 40004);  // another room: must hear nothing
  for (Box* box : {&a, &b, &c, &x}) f.admit(*box);
  REQUIRE(f.shard.member_count() == 4);

  f.now += 1000;
  const auto datagram = a.audio(f.now, 0.5f);
  const wire::Header sent = header_of(datagram);
  f.feed(a, datagram);
  const auto answers = f.out.take();
  // b and c; a heard from the server 1 ms ago (its keepalive's echo), so no echo now.
  REQUIRE(answers.size() == 2);

  std::vector<Endpoint> audio_to;
  for (const auto& d : answers) {
    const wire::Header h = header_of(d.bytes);
    REQUIRE(h.type == wire::PacketType::audio);
    audio_to.push_back(d.to);
    CHECK(d.to != a.addr);
    CHECK(d.to != x.addr);
    Box& receiver = d.to == b.addr ? b : c;
    REQUIRE(receiver.receive(d.bytes, f.now) == Event::audio);
    // Originator's session and sequence kept, payload untouched, server time stamped.
    CHECK(receiver.last.header.session_id == a.session.session_id());
    CHECK(receiver.last.header.sequence == sent.sequence);
    CHECK(receiver.last.header.time_us == f.now);
    CHECK(receiver.last.header.frames == sent.frames);
    // The payload is the sender's ciphertext, byte for byte: the server only re-seals the hop.
    wire::PacketView original;
    REQUIRE(wire::decode(datagram, original) == wire::Reject::none);
    wire::PacketView forwarded;
    REQUIRE(wire::decode(d.bytes, forwarded) == wire::Reject::none);
    CHECK((forwarded.header.flags & wire::flags::kEncrypted) != 0);
    CHECK(std::equal(forwarded.payload.begin(), forwarded.payload.end(), original.payload.begin(),
                     original.payload.end()));
    std::array<float, 64> ch1{};
    std::array<float, 64> ch2{};
    wire::decode_audio(receiver.last.payload, receiver.last.header.format, ch1, ch2);
    CHECK(ch1[7] == Approx(0.5f).margin(1e-4));
    CHECK(ch2[7] == Approx(-0.5f).margin(1e-4));
    // The recipient's own latest time_us comes back with how long the server held it.
    CHECK(receiver.last.header.echo_us != 0);
    CHECK(receiver.last.header.hold_us == f.now - receiver.last.header.echo_us);
  }
  CHECK(audio_to.size() == 2);
  CHECK(audio_to[0] != audio_to[1]);
  CHECK(f.shard.counters().forwarded == 2);
  CHECK(f.room_stats("main").forwarded == 2);
  CHECK(f.room_stats("other").forwarded == 0);
}

TEST_CASE("shard: the echo carries the sender's sequence and time", "[broadcast][shard]") {
  Fixture f;
  Box a("main", kSecret, 40010);
  f.admit(a);
  const std::uint64_t box_time = f.now + 5;
  const auto datagram = a.audio(box_time);
  const wire::Header sent = header_of(datagram);
  f.now += 700;  // arrives later
  f.feed(a, datagram);
  const auto answers = f.out.take();
  REQUIRE(answers.size() == 1);  // alone in the room: only the echo
  const wire::Header echo = header_of(answers[0].bytes);
  CHECK(echo.type == wire::PacketType::echo);
  CHECK(echo.session_id == a.session.session_id());
  CHECK(echo.sequence == sent.sequence);
  CHECK(echo.echo_us == box_time);
  CHECK(echo.time_us == f.now);
  CHECK(echo.hold_us == 0);
  CHECK(echo.payload_len == 0);
  CHECK(echo.frames == 0);
  // The box measures its round trip from it.
  REQUIRE(a.receive(answers[0].bytes, box_time + 900) == Event::echo);
  CHECK(a.session.rtt_us() == 900);
  CHECK(f.shard.counters().echoes == 2);  // the admitting keepalive's and this one
}

TEST_CASE("shard: KEEPALIVE is echoed, not forwarded; LEAVE removes now", "[broadcast][shard]") {
  Fixture f;
  Box a("main", kSecret, 40020);
  Box b("main", kSecret, 40021);
  f.admit(a);
  f.admit(b);
  f.feed(a, a.keepalive(f.now));
  auto answers = f.out.take();
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].to == a.addr);
  CHECK(header_of(answers[0].bytes).type == wire::PacketType::echo);

  f.feed(a, a.leave(f.now));
  CHECK(f.out.take().empty());
  CHECK(f.shard.member_count() == 1);
  CHECK(f.shard.counters().leaves == 1);
  // Its session is gone: further packets are unknown.
  f.feed(a, a.keepalive(f.now));
  CHECK(f.rejected(wire::Reject::unknown_session) == 1);
  CHECK(f.out.take().empty());
  // b no longer hears a... and a no longer hears b.
  f.feed(b, b.audio(f.now));
  answers = f.out.take();
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].to == b.addr);
}

TEST_CASE("shard: refusals are counted by reason and never answered", "[broadcast][shard]") {
  Fixture f;
  Box a("main", kSecret, 40030);
  Box b("main", kSecret, 40031);
  f.admit(a);
  f.admit(b);

  SECTION("replay") {
    const auto datagram = a.audio(f.now);
    f.feed(a, datagram);
    f.out.take();
    f.feed(a, datagram);
    CHECK(f.out.take().empty());
    CHECK(f.rejected(wire::Reject::replay) == 1);
  }
  SECTION("stale") {
    const auto old = a.audio(f.now);
    for (int i = 0; i < 70; ++i) f.feed(a, a.keepalive(f.now));
    f.out.take();
    f.feed(a, old);
    CHECK(f.out.take().empty());
    CHECK(f.rejected(wire::Reject::stale) == 1);
  }
  SECTION("bad tag") {
    auto datagram = a.audio(f.now);
    datagram[wire::kHeaderSize + 3] ^= 0x01;  // one payload bit
    f.feed(a, datagram);
    CHECK(f.out.take().empty());
    CHECK(f.rejected(wire::Reject::bad_tag) == 1);
    CHECK(f.shard.counters().forwarded == 0);
    // The forgery did not consume the sequence number: the genuine packet still goes through.
    datagram[wire::kHeaderSize + 3] ^= 0x01;
    f.feed(a, datagram);
    CHECK(f.shard.counters().forwarded == 1);
    CHECK(f.out.take().size() == 1);
  }
  SECTION("unknown session") {
    auto datagram = a.audio(f.now);
    datagram[12] ^= 0x80;  // another session id
    f.feed(a, datagram);
    CHECK(f.out.take().empty());
    CHECK(f.rejected(wire::Reject::unknown_session) == 1);
  }
  SECTION("bad direction") {
    auto datagram = a.keepalive(f.now);
    datagram[3] = static_cast<std::uint8_t>(wire::PacketType::echo);
    f.feed(a, datagram);
    CHECK(f.rejected(wire::Reject::bad_direction) == 1);
    CHECK(f.out.take().empty());
  }
  SECTION("malformed") {
    f.feed(a, std::vector<std::uint8_t>(10, 0));
    f.feed(a, std::vector<std::uint8_t>(wire::kMaxDatagram + 1, 0));
    auto datagram = a.keepalive(f.now);
    datagram[0] = 0;
    f.feed(a, datagram);
    CHECK(f.rejected(wire::Reject::short_packet) == 1);
    CHECK(f.rejected(wire::Reject::oversize) == 1);
    CHECK(f.rejected(wire::Reject::bad_magic) == 1);
    CHECK(f.out.take().empty());
  }
  SECTION("JOIN for an unknown room or with the wrong secret") {
    Box stranger("nowhere", kSecret, 40039);
    f.feed(stranger, stranger.join());
    CHECK(f.rejected(wire::Reject::unknown_room) == 1);
    Box liar("main", "not-the-right-secret-000", 40038);
    f.feed(liar, liar.join());
    CHECK(f.rejected(wire::Reject::bad_tag) == 1);
    CHECK(f.out.take().empty());
    CHECK(f.shard.pending_count() == 0);
  }
  // Nothing of the above changed the members.
  CHECK(f.shard.member_count() == 2);
  CHECK(f.shard.counters().packets_in >= 5);
}

TEST_CASE("shard: a full room refuses with NOTICE room_full", "[broadcast][shard]") {
  Fixture f(2);
  Box a("main", kSecret, 40040);
  Box b("main", kSecret, 40041);
  Box c("main", kSecret, 40042);
  f.admit(a);
  f.admit(b);
  f.feed(c, c.join());
  const auto answers = f.out.take();
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].to == c.addr);
  REQUIRE(c.receive(answers[0].bytes, f.now) == Event::notice);
  CHECK(c.session.last_notice() == wire::NoticeCode::room_full);
  CHECK(f.rejected(wire::Reject::room_full) == 1);
  CHECK(f.room_stats("main").refused_full == 1);
  CHECK(f.shard.pending_count() == 0);

  // Replayed at a high rate, the JOIN gets a bounded number of answers.
  const auto join = c.join();
  for (int i = 0; i < 100; ++i) {
    f.now += 1000;  // 1000 JOINs/s for 0.1 s
    f.feed(c, join);
  }
  CHECK(f.out.take().size() == 10);
  CHECK(f.rejected(wire::Reject::room_full) == 101);
}

TEST_CASE("shard: places taken between WELCOME and first packet", "[broadcast][shard]") {
  Fixture f(2);
  Box a("main", kSecret, 40043);
  Box b("main", kSecret, 40044);
  Box c("main", kSecret, 40045);
  for (Box* box : {&a, &b, &c}) {
    f.feed(*box, box->join());
    auto answers = f.out.take();
    REQUIRE(answers.size() == 1);
    REQUIRE(box->receive(answers[0].bytes, f.now) == Event::welcomed);
  }
  CHECK(f.shard.pending_count() == 2);  // pending sessions are bounded: a's was pushed out
  CHECK(f.shard.counters().evicted == 1);
  f.feed(b, b.keepalive(f.now));
  f.feed(c, c.keepalive(f.now));
  f.out.take();
  CHECK(f.shard.member_count() == 2);
  // a's session is gone; it must rejoin.
  f.feed(a, a.keepalive(f.now));
  CHECK(f.rejected(wire::Reject::unknown_session) == 1);
  CHECK(f.out.take().empty());
}

TEST_CASE("shard: the member limit is checked again at the first packet", "[broadcast][shard]") {
  Fixture f(2);
  Box a("main", kSecret, 40046);
  Box b("main", kSecret, 40047);
  Box c("main", kSecret, 40048);
  const auto welcome = [&f](Box& box) {
    f.feed(box, box.join());
    auto answers = f.out.take();
    REQUIRE(answers.size() == 1);
    REQUIRE(box.receive(answers[0].bytes, f.now) == Event::welcomed);
  };
  welcome(a);
  welcome(b);
  f.feed(a, a.keepalive(f.now));  // a: member; b still pending
  f.out.take();
  welcome(c);                     // one place left when c is welcomed...
  f.feed(b, b.keepalive(f.now));  // ...and b takes it
  f.out.take();
  REQUIRE(f.shard.member_count() == 2);
  f.feed(c, c.keepalive(f.now));
  const auto answers = f.out.take();
  REQUIRE(answers.size() == 1);
  REQUIRE(c.receive(answers[0].bytes, f.now) == Event::notice);  // its session key
  CHECK(c.session.last_notice() == wire::NoticeCode::room_full);
  CHECK(f.shard.member_count() == 2);
  CHECK(f.shard.pending_count() == 0);
  CHECK(f.rejected(wire::Reject::room_full) == 1);
}

TEST_CASE("shard: a retransmitted JOIN gets the same session again", "[broadcast][shard]") {
  Fixture f;
  Box a("main", kSecret, 40050);
  const auto join = a.join();
  f.feed(a, join);
  // Replays faster than a box retries are not answered (no reflection towards a spoofed source).
  f.now += 1000;
  f.feed(a, join);
  CHECK(f.out.sent.size() == 1);
  CHECK(f.rejected(wire::Reject::replay) == 1);
  f.now += 200'000;
  f.feed(a, join);
  const auto answers = f.out.take();
  REQUIRE(answers.size() == 2);
  CHECK(header_of(answers[0].bytes).session_id == header_of(answers[1].bytes).session_id);
  CHECK(f.shard.pending_count() == 1);
  REQUIRE(a.receive(answers[1].bytes, f.now) == Event::welcomed);
  f.feed(a, a.keepalive(f.now));
  CHECK(f.shard.member_count() == 1);
  // Replayed once more after admission: refused, nothing sent.
  f.out.take();
  f.feed(a, join);
  CHECK(f.out.take().empty());
  CHECK(f.rejected(wire::Reject::replay) == 2);
}

TEST_CASE("shard: silent members and pending sessions expire", "[broadcast][shard]") {
  Fixture f;
  Box a("main", kSecret, 40060);
  Box b("main", kSecret, 40061);
  f.admit(a);
  f.feed(b, b.join());
  f.out.take();
  const std::uint64_t last = f.now;
  f.shard.expire(last + kTimeoutMs * 1000 - 1);
  CHECK(f.shard.member_count() == 1);
  CHECK(f.shard.pending_count() == 1);
  f.shard.expire(last + kTimeoutMs * 1000);
  CHECK(f.shard.member_count() == 0);
  CHECK(f.shard.pending_count() == 0);
  CHECK(f.shard.counters().expired == 2);
  f.now = last + kTimeoutMs * 1000 + 5;
  f.feed(a, a.keepalive(f.now));
  CHECK(f.rejected(wire::Reject::unknown_session) == 1);
}

TEST_CASE("shard: NAT rebinding follows authenticated packets only", "[broadcast][shard]") {
  Fixture f;
  Box a("main", kSecret, 40070);
  Box b("main", kSecret, 40071);
  f.admit(a);
  f.admit(b);
  const Endpoint moved = address(50000, "192.0.2.10");
  const Endpoint attacker = address(6666, "198.51.100.1");
  // Where b's audio for a goes.
  const auto audio_targets = [&] {
    f.out.take();
    f.feed(b, b.audio(f.now));
    std::vector<Endpoint> to;
    for (const auto& d : f.out.take()) {
      if (header_of(d.bytes).type == wire::PacketType::audio) to.push_back(d.to);
    }
    return to;
  };

  // A forged packet (bad tag) and a replayed genuine one from the attacker change nothing.
  const auto genuine = a.audio(f.now);
  auto forged = a.audio(f.now);
  forged[forged.size() - 1] ^= 0xFF;
  f.feed_from(attacker, forged);
  f.feed(a, genuine);
  f.feed_from(attacker, genuine);
  CHECK(audio_targets() == std::vector<Endpoint>{a.addr});
  CHECK(f.shard.counters().rebinds == 0);

  // The real box moves: its next authenticated packet carries the new address at once...
  f.out.take();
  f.feed_from(moved, a.audio(f.now));
  auto answers = f.out.take();
  REQUIRE(answers.size() == 1);  // to b (a just heard b's audio: no echo)
  CHECK(answers[0].to == b.addr);
  CHECK(f.shard.counters().rebinds == 1);
  // ...while unconfirmed, audio for it also goes to the old address...
  CHECK(audio_targets() == std::vector<Endpoint>{moved, a.addr});
  CHECK(f.room_stats("main").members.at(0).address == "192.0.2.10:50000");

  SECTION("a newer packet from the new address confirms the move") {
    f.feed_from(moved, a.keepalive(f.now));
    CHECK(audio_targets() == std::vector<Endpoint>{moved});
  }
  SECTION("the move is confirmed by time alone") {
    f.now += 500'000;
    CHECK(audio_targets() == std::vector<Endpoint>{moved});
    CHECK(audio_targets() == std::vector<Endpoint>{moved});
  }
  SECTION("a copy that overtook the original is undone when the original arrives") {
    f.feed_from(moved, a.keepalive(f.now));  // confirmed at `moved`
    const auto original = a.audio(f.now);
    f.feed_from(attacker, original);                                   // the copy wins the race...
    CHECK(audio_targets() == std::vector<Endpoint>{attacker, moved});  // ...`moved` still served
    f.feed_from(moved, original);  // ...then the original arrives from the real address
    CHECK(audio_targets() == std::vector<Endpoint>{moved});
    // A plain duplicate from the attacker does not move anything.
    f.feed_from(attacker, original);
    CHECK(audio_targets() == std::vector<Endpoint>{moved});
  }
  SECTION("fresh traffic from the previous address moves straight back") {
    f.feed(a, a.keepalive(f.now));
    CHECK(audio_targets() == std::vector<Endpoint>{a.addr});
  }
}

TEST_CASE("shard: per-member loss, reorder, duplicates, jitter and RTT", "[broadcast][shard]") {
  Fixture f;
  Box a("main", kSecret, 40080);
  f.admit(a);  // sequence 1 was the admitting keepalive
  // Sequences 2..11, 1333 us apart on the box's clock.
  std::vector<std::vector<std::uint8_t>> packets;
  const std::uint64_t base = f.now;
  for (int i = 0; i < 10; ++i) packets.push_back(a.audio(base + 1333u * static_cast<unsigned>(i)));
  // Lose 4 and 6 (indices 2 and 4), deliver 9 before 8, and 5 twice.
  const std::vector<int> order = {0, 1, 3, 3, 5, 7, 6, 8, 9};
  for (const int i : order) {
    f.now = base + 1333u * static_cast<unsigned>(i) + 200;
    f.feed(a, packets[static_cast<std::size_t>(i)]);
  }
  f.out.take();
  const auto room = f.room_stats("main");
  REQUIRE(room.members.size() == 1);
  const auto& m = room.members[0];
  CHECK(m.lost == 2);
  CHECK(m.reordered == 1);
  CHECK(m.duplicates == 1);
  CHECK(f.rejected(wire::Reject::replay) == 1);
  CHECK(m.packets_in == 9);  // keepalive + 8 fresh audio packets
  CHECK(m.jitter_us > 0.0);  // transit 0 for the admitting keepalive, 200 us after

  SECTION("RTT from the box's echo of the server time") {
    // Server time 5'000'000 reaches the box, which holds it 300 us before its next packet.
    f.now = 5'000'000;
    f.feed(a, a.keepalive(f.now - 10));
    auto answers = f.out.take();
    REQUIRE(answers.size() == 1);
    REQUIRE(a.receive(answers[0].bytes, 5'000'100) == Event::echo);
    const auto next = a.keepalive(5'000'400);
    CHECK(header_of(next).echo_us == 5'000'000);
    CHECK(header_of(next).hold_us == 300);
    f.now = 5'000'500;
    f.feed(a, next);
    CHECK(f.room_stats("main").members.at(0).rtt_us == 200);
  }
}

TEST_CASE("shard: jitter follows RFC 3550", "[broadcast][shard]") {
  Fixture f;
  Box a("main", kSecret, 40090);
  f.admit(a);  // transit of the admitting keepalive: 0 (sent at f.now, arrived at f.now)
  const std::uint64_t t0 = f.now;
  // Transits 0, 50, 0: |D| = 0, 50, 50.
  f.now = t0 + 1333;
  f.feed(a, a.audio(t0 + 1333));
  f.now = t0 + 2666 + 50;
  f.feed(a, a.audio(t0 + 2666));
  f.now = t0 + 3999;
  f.feed(a, a.audio(t0 + 3999));
  const double j1 = 50.0 / 16.0;
  const double j2 = j1 + (50.0 - j1) / 16.0;
  CHECK(f.room_stats("main").members.at(0).jitter_us == Approx(j2));
}

TEST_CASE("shard: session ids steer to their shard; JOINs are routed to the owner",
          "[broadcast][shard]") {
  struct Router final : JoinRouter {
    void route(std::uint32_t shard, const JoinRequest& request) override {
      to = shard;
      routed = request;
    }
    std::uint32_t to = 99;
    std::optional<JoinRequest> routed;
  } router;
  Capture out0;
  Capture out1;
  RoomShard shard0(0, 3, &router);
  RoomShard shard1(1, 3, &router);
  const RoomPlan p = plan(4, 1, false, 1);  // "main" belongs to shard 1
  shard0.apply(p, 1000, out0);
  shard1.apply(p, 1000, out1);
  CHECK(shard0.room_count() == 0);
  CHECK(shard1.room_count() == 1);

  Box a("main", kSecret, 40100);
  shard0.handle(a.join(), a.addr, 2000, out0);  // JOINs (session 0) land on shard 0
  CHECK(out0.sent.empty());
  REQUIRE(router.routed.has_value());
  CHECK(router.to == 1);
  CHECK(shard0.counters().joins == 1);

  shard1.handle_join(*router.routed, 2100, out1);
  auto answers = out1.take();
  REQUIRE(answers.size() == 1);
  REQUIRE(a.receive(answers[0].bytes, 2200) == Event::welcomed);
  CHECK(a.session.session_id() % 3 == 1);
  // hold_us: the time the JOIN spent inside the server.
  CHECK(header_of(answers[0].bytes).hold_us == 100);

  shard1.handle(a.keepalive(2300), a.addr, 2300, out1);
  CHECK(shard1.member_count() == 1);

  SECTION("ids of many sessions all steer to the shard") {
    RoomShard big(2, 3);
    RoomPlan q;
    q.rooms.push_back({"main", kSecret, 64, 2, 1});
    big.apply(q, 0, out0);
    for (int i = 0; i < 40; ++i) {
      Box b("main", kSecret, static_cast<std::uint16_t>(41000 + i));
      big.handle(b.join(), b.addr, 10, out0);
      auto w = out0.take();
      REQUIRE(w.size() == 1);
      const std::uint32_t id = header_of(w[0].bytes).session_id;
      CHECK(id != 0);
      CHECK(id % 3 == 2);
    }
  }
  SECTION("a JOIN authenticated for an older room instance is dropped by the owner") {
    shard1.apply(plan(4, 2, false, 1), 2400, out1);  // re-keyed: new generation
    out1.take();
    Box b("main", kSecret, 40101);
    shard0.handle(b.join(), b.addr, 2500, out0);
    shard1.handle_join(*router.routed, 2600, out1);
    CHECK(out1.sent.empty());
    CHECK(shard1.counters().rejected[reject_index(wire::Reject::unknown_room)] == 1);
  }
}

TEST_CASE("shard: reload closes removed and re-keyed rooms, keeps the others",
          "[broadcast][shard]") {
  Fixture f;
  Box a("main", kSecret, 40110);
  Box x("other", kOtherSecret, 40111);
  Box y("other", kOtherSecret, 40112);
  f.admit(a);
  f.admit(x);
  f.admit(y);

  SECTION("room removed: its members get room_closed") {
    RoomPlan p = plan();
    p.rooms.pop_back();  // "other" goes
    f.shard.apply(p, f.now, f.out);
    const auto answers = f.out.take();
    REQUIRE(answers.size() == 2);
    for (const auto& d : answers) {
      Box& box = d.to == x.addr ? x : y;
      REQUIRE(box.receive(d.bytes, f.now) == Event::notice);
      CHECK(box.session.last_notice() == wire::NoticeCode::room_closed);
    }
    CHECK(f.shard.room_count() == 1);
    CHECK(f.shard.member_count() == 1);  // a stays
    f.feed(a, a.audio(f.now));
    CHECK(f.out.take().size() == 1);  // still served (its echo)
    f.feed(x, x.audio(f.now));
    CHECK(f.rejected(wire::Reject::unknown_session) == 1);
  }
  SECTION("secret changed: closed and reopened, members must rejoin") {
    f.shard.apply(plan(4, 7), f.now, f.out);
    const auto answers = f.out.take();
    REQUIRE(answers.size() == 1);
    REQUIRE(a.receive(answers[0].bytes, f.now) == Event::notice);
    CHECK(a.session.last_notice() == wire::NoticeCode::room_closed);
    CHECK(f.shard.member_count() == 2);  // x and y untouched
    f.feed(x, x.audio(f.now));
    CHECK(f.out.take().size() == 1);  // forwarded to y: not a packet missed
    Box again("main", kSecret, 40113);
    f.admit(again);
    CHECK(f.shard.member_count() == 3);
  }
  SECTION("a lower member limit keeps existing members, refuses new ones") {
    f.shard.apply(plan(1), f.now, f.out);
    CHECK(f.out.take().empty());
    CHECK(f.room_stats("main").members.size() == 1);
    Box b("main", kSecret, 40114);
    f.feed(b, b.join());
    const auto answers = f.out.take();
    REQUIRE(answers.size() == 1);
    REQUIRE(b.receive(answers[0].bytes, f.now) == Event::notice);
  }
}

TEST_CASE("shard: stop tells every session the server is stopping", "[broadcast][shard]") {
  Fixture f;
  Box a("main", kSecret, 40120);
  Box b("other", kOtherSecret, 40121);
  f.admit(a);
  f.admit(b);
  f.shard.stop(f.now, f.out);
  const auto answers = f.out.take();
  REQUIRE(answers.size() == 2);
  for (const auto& d : answers) {
    Box& box = d.to == a.addr ? a : b;
    REQUIRE(box.receive(d.bytes, f.now) == Event::notice);
    CHECK(box.session.last_notice() == wire::NoticeCode::server_stopping);
  }
  CHECK(f.shard.member_count() == 0);
}

TEST_CASE("shard: a full sink drops and counts instead of failing", "[broadcast][shard]") {
  struct Full final : Sink {
    std::span<std::uint8_t> prepare() override { return {}; }
    void commit(std::size_t, const Endpoint&) override { FAIL("commit without buffer"); }
  } full;
  Fixture f;
  Box a("main", kSecret, 40130);
  Box b("main", kSecret, 40131);
  f.admit(a);
  f.admit(b);
  f.shard.handle(a.audio(f.now), a.addr, f.now, full);
  CHECK(f.shard.counters().send_dropped == 1);  // the forward to b (a needs no echo)
}

TEST_CASE("shard: audio is echoed only to a sender that would otherwise hear nothing",
          "[broadcast][shard]") {
  Fixture f;
  Box a("main", kSecret, 40140);
  f.admit(a);
  const auto types = [&](Box& from, std::vector<std::uint8_t> datagram) {
    f.feed(from, datagram);
    std::vector<std::pair<Endpoint, wire::PacketType>> sent;
    for (const auto& d : f.out.take()) sent.emplace_back(d.to, header_of(d.bytes).type);
    return sent;
  };
  using Sent = std::vector<std::pair<Endpoint, wire::PacketType>>;
  // Alone in the room: every audio packet is echoed, so a lone jammer measures its round trip.
  for (int i = 0; i < 3; ++i) {
    f.now += 1333;
    CHECK(types(a, a.audio(f.now)) == Sent{{a.addr, wire::PacketType::echo}});
  }
  Box b("main", kSecret, 40141);
  f.admit(b);
  // b is silent: a hears nothing but what the fallback sends, one echo per 50 ms at most.
  f.now += 1333;
  CHECK(types(a, a.audio(f.now)) == Sent{{b.addr, wire::PacketType::audio}});
  f.now += 50'000;
  CHECK(types(a, a.audio(f.now)) ==
        Sent{{b.addr, wire::PacketType::audio}, {a.addr, wire::PacketType::echo}});
  f.now += 1333;
  CHECK(types(a, a.audio(f.now)) == Sent{{b.addr, wire::PacketType::audio}});
  // b talks: its audio carries a's echo timestamps, and a needs no echo of its own.
  f.now += 1333;
  const auto from_b = types(b, b.audio(f.now));
  CHECK(from_b == Sent{{a.addr, wire::PacketType::audio}});
  f.now += 40'000;
  CHECK(types(a, a.audio(f.now)) == Sent{{b.addr, wire::PacketType::audio}});
  // Keepalives are always echoed.
  CHECK(types(a, a.keepalive(f.now)) == Sent{{a.addr, wire::PacketType::echo}});
  CHECK(f.shard.counters().echoes == 3 + 1 + 1 + 2);  // lone, fallback, keepalive, 2 admissions
}

namespace {
wire::Ticket ticket_expiring_in(std::int64_t seconds) {
  wire::Ticket t;
  t.nonce.fill(0x5a);
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  t.expires_s = static_cast<std::uint64_t>(now + seconds);
  return t;
}
}  // namespace

TEST_CASE("shard: a ticket admits a box that does not know the room's secret",
          "[broadcast][shard][ticket]") {
  Fixture f;
  const wire::Ticket ticket = ticket_expiring_in(60);
  Box a("main", wire::derive_ticket_secret("main", kSecret, ticket), ticket, 40100,
        wire::derive_room_audio_key("main", kSecret));
  Box b("main", kSecret, 40101);
  f.admit(a);
  f.admit(b);
  CHECK(f.shard.member_count() == 2);
  CHECK(a.session.encrypts_audio());

  // Audio flows both ways: the ticket box's session keys derive from the ticket's secret.
  f.now += 100;
  f.feed(a, a.audio(f.now));
  auto answers = f.out.take();
  REQUIRE(!answers.empty());
  bool b_heard_a = false;
  for (const auto& d : answers) {
    if (d.to == b.addr) b_heard_a = b.receive(d.bytes, f.now) == Event::audio;
  }
  CHECK(b_heard_a);
  f.feed(b, b.audio(f.now));
  bool a_heard_b = false;
  for (const auto& d : f.out.take()) {
    if (d.to == a.addr) a_heard_b = a.receive(d.bytes, f.now) == Event::audio;
  }
  CHECK(a_heard_b);
}

TEST_CASE("shard: a ticket box without the room's audio key cannot open the room's audio",
          "[broadcast][shard][ticket]") {
  Fixture f;
  const wire::Ticket ticket = ticket_expiring_in(60);
  Box keyless("main", wire::derive_ticket_secret("main", kSecret, ticket), ticket, 40102);
  Box b("main", kSecret, 40103);
  f.admit(keyless);
  f.admit(b);
  CHECK_FALSE(keyless.session.encrypts_audio());

  f.now += 100;
  f.feed(b, b.audio(f.now));  // encrypted: b knows the room's secret
  bool refused = false;
  for (const auto& d : f.out.take()) {
    if (d.to != keyless.addr) continue;
    refused = keyless.receive(d.bytes, f.now) == Event::rejected &&
              keyless.session.last_reject() == wire::Reject::room_key;
  }
  CHECK(refused);
  // Its own audio goes out in the clear and is still heard.
  f.feed(keyless, keyless.audio(f.now));
  bool heard = false;
  for (const auto& d : f.out.take()) {
    if (d.to == b.addr) heard = b.receive(d.bytes, f.now) == Event::audio;
  }
  CHECK(heard);
}

TEST_CASE("shard: expired, forged and other rooms' tickets are refused without an answer",
          "[broadcast][shard][ticket]") {
  Fixture f;
  SECTION("expired") {
    const wire::Ticket ticket = ticket_expiring_in(-1);
    Box a("main", wire::derive_ticket_secret("main", kSecret, ticket), ticket, 40110);
    f.feed(a, a.join());
    CHECK(f.out.take().empty());
    CHECK(f.rejected(wire::Reject::ticket_expired) == 1);
  }
  SECTION("a secret that is not the ticket's (forged expiry)") {
    wire::Ticket ticket = ticket_expiring_in(60);
    const std::string secret = wire::derive_ticket_secret("main", kSecret, ticket);
    ticket.expires_s += 3600;  // stretching the expiry changes the ticket's secret
    Box a("main", secret, ticket, 40111);
    f.feed(a, a.join());
    CHECK(f.out.take().empty());
    CHECK(f.rejected(wire::Reject::bad_tag) == 1);
  }
  SECTION("an expiry no server issues (beyond the longest ticket lifetime)") {
    const wire::Ticket ticket = ticket_expiring_in(10 * 3600);
    Box a("main", wire::derive_ticket_secret("main", kSecret, ticket), ticket, 40113);
    f.feed(a, a.join());
    CHECK(f.out.take().empty());
    CHECK(f.rejected(wire::Reject::bad_tag) == 1);
  }
  SECTION("issued for another room") {
    const wire::Ticket ticket = ticket_expiring_in(60);
    Box a("main", wire::derive_ticket_secret("other", kOtherSecret, ticket), ticket, 40112);
    f.feed(a, a.join());
    CHECK(f.out.take().empty());
    CHECK(f.rejected(wire::Reject::bad_tag) == 1);
  }
  CHECK(f.shard.pending_count() == 0);
}

TEST_CASE("shard: a full room tells a ticket box so, under the ticket's key",
          "[broadcast][shard][ticket]") {
  Fixture f(1);
  Box a("main", kSecret, 40120);
  f.admit(a);
  const wire::Ticket ticket = ticket_expiring_in(60);
  Box b("main", wire::derive_ticket_secret("main", kSecret, ticket), ticket, 40121);
  f.feed(b, b.join());
  const auto answers = f.out.take();
  REQUIRE(answers.size() == 1);
  REQUIRE(b.receive(answers[0].bytes, f.now) == Event::notice);
  CHECK(b.session.last_notice() == wire::NoticeCode::room_full);
}
