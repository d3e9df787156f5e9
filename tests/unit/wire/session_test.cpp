#include <jambox/wire/packet.hpp>
#include <jambox/wire/session.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace {

namespace wire = jambox::wire;
namespace crypto = jambox::crypto;
using wire::ClientSession;
using wire::PacketType;
using wire::Reject;
using wire::SampleFormat;
using Buffer = std::array<std::uint8_t, wire::kMaxDatagram>;
using Event = ClientSession::Event;

constexpr std::string_view kRoom = "main-room";
constexpr std::string_view kSecret = "correct horse battery staple";

std::span<const std::uint8_t> first(const Buffer& b, std::size_t n) {
  return std::span(b).first(n);
}

// The server's half of the handshake, written by hand from the public wire API.
struct Server {
  crypto::Aead join{wire::derive_join_key(kRoom, kSecret)};
  wire::JoinBody last_join;
  wire::SessionKeys keys;
  std::uint32_t session_id = 0x00C0FFEE;
  std::uint32_t notice_sequence = 0;

  // Accepts a JOIN; returns false if it does not decode, authenticate and parse.
  bool accept_join(std::span<const std::uint8_t> datagram) {
    wire::PacketView view;
    return wire::decode(datagram, view) == Reject::none && view.header.type == PacketType::join &&
           wire::verify(view, join) && wire::parse_join(view, last_join) == Reject::none;
  }

  std::size_t welcome(Buffer& out, const wire::Nonce16& client_nonce, std::uint64_t time_us = 0) {
    wire::WelcomeBody body;
    crypto::random_bytes(body.aead_nonce);
    crypto::random_bytes(body.server_nonce);
    body.client_nonce = client_nonce;
    body.session_id = session_id;
    body.member_timeout_ms = 1000;
    body.max_members = 16;
    body.members = 1;
    keys = wire::derive_session_keys(kRoom, kSecret, client_nonce, body.server_nonce, session_id);
    return wire::make_welcome(body, time_us, 0, 0, join, out);
  }
};

struct Admitted {
  ClientSession client{kRoom, kSecret, wire::AudioShape{}};
  Server server;
  Buffer buf{};
  wire::PacketView view;

  Admitted() {
    const std::size_t n = client.make_join(buf);
    REQUIRE(server.accept_join(first(buf, n)));
    const std::size_t w = server.welcome(buf, server.last_join.client_nonce, 5'000'000);
    REQUIRE(client.receive(first(buf, w), 1000, view) == Event::welcomed);
  }
};

wire::Header session_header(PacketType type, std::uint32_t session, std::uint32_t sequence) {
  wire::Header h;
  h.type = type;
  h.session_id = session;
  h.sequence = sequence;
  return h;
}

}  // namespace

TEST_CASE("room names", "[wire][session]") {
  CHECK(wire::valid_room_name("a"));
  CHECK(wire::valid_room_name("Band_Practice-2.0"));
  CHECK(wire::valid_room_name(std::string(32, 'x')));
  CHECK_FALSE(wire::valid_room_name(""));
  CHECK_FALSE(wire::valid_room_name(std::string(33, 'x')));
  CHECK_FALSE(wire::valid_room_name("with space"));
  CHECK_FALSE(wire::valid_room_name("slash/"));
  CHECK_FALSE(wire::valid_room_name("caf\xc3\xa9"));
  CHECK_FALSE(wire::valid_room_name(std::string_view("nul\0", 4)));

  wire::RoomName name;
  CHECK(name.empty());
  REQUIRE(name.assign("jazz"));
  CHECK(name.view() == "jazz");
  CHECK_FALSE(name.assign("no way"));
  CHECK(name.view() == "jazz");  // unchanged by a refused assignment
  wire::RoomName same;
  REQUIRE(same.assign("jazz"));
  CHECK(name == same);
}

TEST_CASE("replay window", "[wire][session]") {
  using V = wire::ReplayWindow::Verdict;
  wire::ReplayWindow w;
  CHECK(w.check(1000) == V::fresh);
  CHECK(w.accept(1000) == V::fresh);
  CHECK(w.highest() == 1000);
  CHECK(w.accept(1000) == V::duplicate);
  CHECK(w.accept(1001) == V::fresh);
  CHECK(w.accept(999) == V::fresh);  // late but inside the window
  CHECK(w.accept(999) == V::duplicate);

  SECTION("window edge at 64") {
    CHECK(w.accept(1100) == V::fresh);
    CHECK(w.check(1100 - 63) == V::fresh);
    CHECK(w.accept(1100 - 63) == V::fresh);
    CHECK(w.accept(1100 - 63) == V::duplicate);
    CHECK(w.check(1100 - 64) == V::stale);
    CHECK(w.accept(1000) == V::stale);
    CHECK(w.accept(0) == V::stale);
  }
  SECTION("check does not record") {
    CHECK(w.check(1002) == V::fresh);
    CHECK(w.check(1002) == V::fresh);
    CHECK(w.highest() == 1001);
  }
  SECTION("shifts keep history exactly") {
    CHECK(w.accept(1040) == V::fresh);  // shift by 39
    CHECK(w.accept(1001) == V::duplicate);
    CHECK(w.accept(1000) == V::duplicate);
    CHECK(w.accept(998) == V::fresh);  // 42 behind: still inside
    CHECK(w.accept(1041) == V::fresh);
    CHECK(w.accept(1040) == V::duplicate);
  }
  SECTION("large jumps") {
    CHECK(w.accept(1001 + 64) == V::fresh);  // shift of exactly 64 drops the old history
    CHECK(w.accept(1001) == V::stale);
    CHECK(w.accept(1002) == V::fresh);
    CHECK(w.accept(0xFFFFFFF0U) == V::fresh);
    CHECK(w.accept(0xFFFFFFF0U) == V::duplicate);
    CHECK(w.accept(1002) == V::stale);
    CHECK(w.accept(0xFFFFFFFFU) == V::fresh);
    CHECK(w.accept(0xFFFFFFF1U) == V::fresh);
    CHECK(w.accept(0xFFFFFFF0U) == V::duplicate);
  }
  SECTION("reset starts over") {
    w.reset();
    CHECK(w.accept(5) == V::fresh);
    CHECK(w.highest() == 5);
    CHECK(w.accept(1000) == V::fresh);
  }
}

TEST_CASE("key derivation", "[wire][session]") {
  const crypto::Key join = wire::derive_join_key(kRoom, kSecret);
  CHECK(join == wire::derive_join_key(kRoom, kSecret));
  CHECK(join != wire::derive_join_key("other", kSecret));
  CHECK(join != wire::derive_join_key(kRoom, "correct horse battery stapler"));
  CHECK_THROWS_AS(wire::derive_join_key("bad room", kSecret), std::invalid_argument);

  wire::Nonce16 c{};
  wire::Nonce16 s{};
  c[0] = 1;
  s[0] = 2;
  const wire::SessionKeys k = wire::derive_session_keys(kRoom, kSecret, c, s, 7);
  CHECK(k.up != k.down);
  CHECK(k.up != join);
  const wire::SessionKeys same = wire::derive_session_keys(kRoom, kSecret, c, s, 7);
  CHECK(k.up == same.up);
  CHECK(k.down == same.down);
  CHECK(wire::derive_session_keys(kRoom, kSecret, c, s, 8).up != k.up);
  CHECK(wire::derive_session_keys(kRoom, kSecret, s, c, 7).up != k.up);
  CHECK(wire::derive_session_keys("main-roo", kSecret, c, s, 7).up != k.up);
  CHECK(wire::derive_session_keys(kRoom, "correct horse battery stapl", c, s, 7).up != k.up);
}

TEST_CASE("ticket secrets derive from the room's secret, room, nonce and expiry",
          "[wire][session]") {
  wire::Ticket t;
  t.nonce.fill(7);
  t.expires_s = 1'800'000'000;
  const std::string secret = wire::derive_ticket_secret(kRoom, kSecret, t);
  CHECK(secret.size() == wire::kTicketSecretLength);
  CHECK(secret.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(secret == wire::derive_ticket_secret(kRoom, kSecret, t));
  CHECK(secret != wire::derive_ticket_secret("other", kSecret, t));
  CHECK(secret != wire::derive_ticket_secret(kRoom, "correct horse battery stapler", t));
  wire::Ticket later = t;
  later.expires_s += 1;
  CHECK(secret != wire::derive_ticket_secret(kRoom, kSecret, later));
  wire::Ticket other_nonce = t;
  other_nonce.nonce[15] = 8;
  CHECK(secret != wire::derive_ticket_secret(kRoom, kSecret, other_nonce));
  CHECK_THROWS_AS(wire::derive_ticket_secret("bad room", kSecret, t), std::invalid_argument);
  CHECK_THROWS_AS(wire::ClientSession(kRoom, secret, wire::Ticket{}, {}, std::nullopt),
                  std::invalid_argument);
}

TEST_CASE("handshake bodies round-trip", "[wire][session]") {
  crypto::Aead key(wire::derive_join_key(kRoom, kSecret));
  Buffer buf{};
  wire::PacketView view;

  SECTION("join") {
    wire::JoinBody body;
    crypto::random_bytes(body.aead_nonce);
    crypto::random_bytes(body.client_nonce);
    REQUIRE(body.room.assign(kRoom));
    body.shape = {128, SampleFormat::s24, 2};
    const std::size_t n = wire::make_join(body, key, buf);
    REQUIRE(n == wire::kHeaderSize + wire::kJoinPayload + wire::kTagSize);
    REQUIRE(wire::decode(first(buf, n), view) == Reject::none);
    CHECK(wire::verify(view, key));
    wire::JoinBody out;
    REQUIRE(wire::parse_join(view, out) == Reject::none);
    CHECK(out.aead_nonce == body.aead_nonce);
    CHECK(out.client_nonce == body.client_nonce);
    CHECK(out.room == body.room);
    CHECK(out.shape == body.shape);
    CHECK(wire::packet_nonce(view.header, view.payload) == body.aead_nonce);
    // A JOIN is larger than any answer to it: no amplification.
    CHECK(n > wire::kHeaderSize + wire::kWelcomePayload + wire::kTagSize);
    CHECK(n > wire::kHeaderSize + wire::kNoticePayload + wire::kTagSize);

    auto reparse = [&](std::size_t offset, std::uint8_t value) {
      Buffer copy = buf;
      copy[wire::kHeaderSize + offset] = value;
      wire::PacketView v;
      REQUIRE(wire::decode(first(copy, n), v) == Reject::none);
      wire::JoinBody b;
      return wire::parse_join(v, b);
    };
    CHECK(reparse(28, 0) == Reject::bad_format);         // empty room name
    CHECK(reparse(28, 33) == Reject::bad_format);        // longer than the field
    CHECK(reparse(28, 10) == Reject::bad_format);        // would include a zero byte
    CHECK(reparse(28, 8) == Reject::bad_format);         // leaves a non-zero byte after the name
    CHECK(reparse(29, ' ') == Reject::bad_format);       // character outside [A-Za-z0-9._-]
    CHECK(reparse(29 + 20, 'x') == Reject::bad_format);  // garbage after the name
    CHECK(reparse(62, 0) == Reject::bad_format);         // frames 0
    CHECK(reparse(62, 48) == Reject::bad_format);        // frames 48
    CHECK(reparse(61, 1) == Reject::bad_format);         // frames 384
    CHECK(reparse(63, 9) == Reject::bad_format);         // unknown format
    CHECK(reparse(63, 0) == Reject::bad_format);         // no format
    CHECK(reparse(64, 1) == Reject::bad_format);         // mono
    CHECK(reparse(65, 1) == Reject::bad_format);         // ticket flag, but no expiry
    CHECK(reparse(65, 2) == Reject::bad_format);         // unknown ticket flag
    CHECK(reparse(70, 1) == Reject::bad_format);         // ticket nonce without the flag
    CHECK(reparse(90, 1) == Reject::bad_format);         // first padding byte
    CHECK(reparse(95, 1) == Reject::bad_format);         // last padding byte
    CHECK(reparse(63, 1) == Reject::none);               // s16 instead of s24: still a valid shape
  }
  SECTION("join with a ticket") {
    wire::JoinBody body;
    crypto::random_bytes(body.aead_nonce);
    crypto::random_bytes(body.client_nonce);
    REQUIRE(body.room.assign(kRoom));
    crypto::random_bytes(body.ticket.nonce);
    body.ticket.expires_s = 1'800'000'000;
    const std::size_t n = wire::make_join(body, key, buf);
    REQUIRE(n == wire::kHeaderSize + wire::kJoinPayload + wire::kTagSize);
    REQUIRE(wire::decode(first(buf, n), view) == Reject::none);
    CHECK(wire::verify(view, key));
    wire::JoinBody out;
    REQUIRE(wire::parse_join(view, out) == Reject::none);
    CHECK(out.ticket == body.ticket);
    CHECK(out.room == body.room);
  }
  SECTION("welcome") {
    wire::WelcomeBody body;
    crypto::random_bytes(body.aead_nonce);
    crypto::random_bytes(body.client_nonce);
    crypto::random_bytes(body.server_nonce);
    body.session_id = 0x01020304;
    body.member_timeout_ms = 1500;
    body.max_members = 16;
    body.members = 3;
    const std::size_t n = wire::make_welcome(body, 11, 22, 33, key, buf);
    REQUIRE(n == wire::kHeaderSize + wire::kWelcomePayload + wire::kTagSize);
    REQUIRE(wire::decode(first(buf, n), view) == Reject::none);
    CHECK(wire::verify(view, key));
    CHECK(view.header.session_id == body.session_id);
    CHECK(view.header.time_us == 11);
    CHECK(view.header.echo_us == 22);
    CHECK(view.header.hold_us == 33);
    wire::WelcomeBody out;
    REQUIRE(wire::parse_welcome(view, out) == Reject::none);
    CHECK(out.aead_nonce == body.aead_nonce);
    CHECK(out.client_nonce == body.client_nonce);
    CHECK(out.server_nonce == body.server_nonce);
    CHECK(out.session_id == body.session_id);
    CHECK(out.member_timeout_ms == 1500);
    CHECK(out.max_members == 16);
    CHECK(out.members == 3);

    Buffer copy = buf;
    copy[wire::kHeaderSize + 59] = 1;  // padding
    REQUIRE(wire::decode(first(copy, n), view) == Reject::none);
    CHECK(wire::parse_welcome(view, out) == Reject::bad_format);
    copy = buf;
    copy[15] ^= 1;  // header session id no longer matches the body
    REQUIRE(wire::decode(first(copy, n), view) == Reject::none);
    CHECK(wire::parse_welcome(view, out) == Reject::bad_format);
    body.session_id = 0;  // session 0 is never granted
    const std::size_t z = wire::make_welcome(body, 0, 0, 0, key, buf);
    REQUIRE(wire::decode(first(buf, z), view) == Reject::none);
    CHECK(wire::parse_welcome(view, out) == Reject::bad_format);
  }
  SECTION("notice") {
    wire::NoticeBody body;
    crypto::random_bytes(body.aead_nonce);
    crypto::random_bytes(body.client_nonce);
    body.code = wire::NoticeCode::room_full;
    const std::size_t n = wire::make_notice(body, 0, 0, key, buf);
    REQUIRE(n == wire::kHeaderSize + wire::kNoticePayload + wire::kTagSize);
    REQUIRE(wire::decode(first(buf, n), view) == Reject::none);
    CHECK(wire::verify(view, key));
    wire::NoticeBody out;
    REQUIRE(wire::parse_notice(view, out) == Reject::none);
    CHECK(out.code == wire::NoticeCode::room_full);
    CHECK(out.client_nonce == body.client_nonce);
    CHECK(out.aead_nonce == body.aead_nonce);
    for (const std::uint8_t code : {std::uint8_t{0}, std::uint8_t{4}, std::uint8_t{255}}) {
      Buffer copy = buf;
      copy[wire::kHeaderSize + 12] = code;
      REQUIRE(wire::decode(first(copy, n), view) == Reject::none);
      CHECK(wire::parse_notice(view, out) == Reject::bad_format);
    }
    Buffer copy = buf;
    copy[wire::kHeaderSize + 14] = 1;  // padding
    REQUIRE(wire::decode(first(copy, n), view) == Reject::none);
    CHECK(wire::parse_notice(view, out) == Reject::bad_format);
    CHECK(wire::notice_name(wire::NoticeCode::room_full) == "room_full");
    CHECK(wire::notice_name(wire::NoticeCode::room_closed) == "room_closed");
    CHECK(wire::notice_name(wire::NoticeCode::server_stopping) == "server_stopping");
  }
  SECTION("parse_* refuse other packet types") {
    const std::size_t n = wire::seal(session_header(PacketType::keepalive, 1, 1), {}, key, buf);
    REQUIRE(wire::decode(first(buf, n), view) == Reject::none);
    wire::JoinBody j;
    wire::WelcomeBody w;
    wire::NoticeBody no;
    CHECK(wire::parse_join(view, j) == Reject::bad_type);
    CHECK(wire::parse_welcome(view, w) == Reject::bad_type);
    CHECK(wire::parse_notice(view, no) == Reject::bad_type);
  }
}

TEST_CASE("ClientSession construction validates its inputs", "[wire][session]") {
  CHECK_THROWS_AS(ClientSession("bad room", kSecret, {}), std::invalid_argument);
  CHECK_THROWS_AS(ClientSession(kRoom, "too short", {}), std::invalid_argument);
  CHECK_THROWS_AS(ClientSession(kRoom, std::string(257, 's'), {}), std::invalid_argument);
  CHECK_THROWS_AS(ClientSession(kRoom, kSecret, {256, SampleFormat::f32, 2}),
                  std::invalid_argument);
  const ClientSession ok(kRoom, kSecret, {32, SampleFormat::f32, 2});
  CHECK_FALSE(ok.admitted());
  CHECK(ok.next_sequence() == 1);
}

TEST_CASE("full handshake between a box and a hand-written server", "[wire][session]") {
  ClientSession client(kRoom, kSecret, wire::AudioShape{});
  Server server;
  Buffer buf{};
  wire::PacketView view;

  const std::size_t join_size = client.make_join(buf);
  REQUIRE(join_size == 156);
  REQUIRE(server.accept_join(first(buf, join_size)));
  CHECK(server.last_join.room.view() == kRoom);
  CHECK(server.last_join.shape == wire::AudioShape{});
  CHECK_FALSE(client.admitted());

  // Nothing can be sent before admission.
  const std::array<float, 64> silence{};
  Buffer out{};
  CHECK(client.make_audio(silence, silence, 10, out) == 0);
  CHECK(client.make_keepalive(10, out) == 0);

  SECTION("a welcome for another client nonce is rejected") {
    wire::Nonce16 other = server.last_join.client_nonce;
    other[0] ^= 1;
    const std::size_t w = server.welcome(buf, other);
    CHECK(client.receive(first(buf, w), 100, view) == Event::rejected);
    CHECK(client.last_reject() == Reject::unknown_session);
    CHECK_FALSE(client.admitted());
  }
  SECTION("a welcome sealed with another room's key is rejected") {
    Server imposter;
    imposter.join = crypto::Aead(wire::derive_join_key(kRoom, "some other secret value"));
    const std::size_t w = imposter.welcome(buf, server.last_join.client_nonce);
    CHECK(client.receive(first(buf, w), 100, view) == Event::rejected);
    CHECK(client.last_reject() == Reject::bad_tag);
    CHECK_FALSE(client.admitted());
  }
  SECTION("a welcome answering an older JOIN is rejected") {
    const wire::Nonce16 old_nonce = server.last_join.client_nonce;
    const std::size_t n = client.make_join(buf);
    REQUIRE(server.accept_join(first(buf, n)));
    REQUIRE(server.last_join.client_nonce != old_nonce);  // fresh nonce per JOIN
    const std::size_t w = server.welcome(buf, old_nonce);
    CHECK(client.receive(first(buf, w), 100, view) == Event::rejected);
    CHECK(client.last_reject() == Reject::unknown_session);
  }
  SECTION("a room_full notice is surfaced") {
    wire::NoticeBody body;
    crypto::random_bytes(body.aead_nonce);
    body.client_nonce = server.last_join.client_nonce;
    body.code = wire::NoticeCode::room_full;
    const std::size_t n = wire::make_notice(body, 0, 0, server.join, buf);
    const Buffer notice = buf;
    REQUIRE(client.receive(first(buf, n), 100, view) == Event::notice);
    CHECK(client.last_notice() == wire::NoticeCode::room_full);
    CHECK(wire::notice_name(client.last_notice()) == "room_full");
    CHECK_FALSE(client.admitted());
    // Replayed, it is no longer news.
    CHECK(client.receive(first(notice, n), 200, view) == Event::rejected);
    CHECK(client.last_reject() == Reject::replay);

    body.client_nonce[3] ^= 1;  // a notice for someone else's JOIN
    const std::size_t m = wire::make_notice(body, 0, 0, server.join, buf);
    CHECK(client.receive(first(buf, m), 300, view) == Event::rejected);
    CHECK(client.last_reject() == Reject::unknown_session);
  }
  SECTION("admission, keys in both directions, replayed welcome") {
    const std::size_t w = server.welcome(buf, server.last_join.client_nonce, 5'000'000);
    const Buffer welcome = buf;
    REQUIRE(client.receive(first(buf, w), 1000, view) == Event::welcomed);
    CHECK(client.admitted());
    CHECK(client.session_id() == server.session_id);
    CHECK(client.welcome().members == 1);
    CHECK(client.welcome().max_members == 16);
    CHECK(client.welcome().member_timeout_ms == 1000);

    crypto::Aead up(server.keys.up);
    crypto::Aead down(server.keys.down);

    // Box -> server: authenticated with the up key only.
    std::array<float, 64> ch1{};
    std::array<float, 64> ch2{};
    ch1[10] = 0.5f;
    ch2[20] = -0.25f;
    const std::size_t a = client.make_audio(ch1, ch2, 1500, out);
    REQUIRE(a == 316 + wire::kRoomSealOverhead);  // encrypted with the room's audio key
    wire::PacketView sv;
    REQUIRE(wire::decode(first(out, a), sv) == Reject::none);
    CHECK(sv.header.flags == wire::flags::kEncrypted);
    CHECK(wire::verify(sv, up));
    CHECK_FALSE(wire::verify(sv, down));
    CHECK(sv.header.session_id == server.session_id);
    CHECK(sv.header.sequence == 1);
    CHECK(sv.header.time_us == 1500);
    CHECK(sv.header.echo_us == 5'000'000);  // the welcome's server time
    CHECK(sv.header.hold_us == 500);        // received at 1000, sent at 1500
    // The server sees ciphertext; a box with the room's audio key opens it.
    std::array<std::uint8_t, 256> plain{};
    crypto::Aead room_key(wire::derive_room_audio_key(kRoom, kSecret));
    REQUIRE(wire::open_room_audio(sv.header, sv.payload, room_key, plain));
    CHECK_FALSE(std::equal(plain.begin(), plain.end(), sv.payload.begin() + wire::kRoomSaltSize));
    std::array<float, 64> r1{};
    std::array<float, 64> r2{};
    wire::decode_audio(plain, SampleFormat::s16, r1, r2);
    CHECK(std::abs(r1[10] - 0.5f) < 1e-4f);
    CHECK(std::abs(r2[20] + 0.25f) < 1e-4f);

    // Sequence numbers run across packet types.
    const std::size_t k = client.make_keepalive(1600, out);
    REQUIRE(wire::decode(first(out, k), sv) == Reject::none);
    CHECK(sv.header.type == PacketType::keepalive);
    CHECK(sv.header.sequence == 2);
    CHECK(wire::verify(sv, up));
    CHECK(client.next_sequence() == 3);

    // Server -> box: another member's audio, carrying the originator's session and sequence.
    wire::Header fwd = session_header(PacketType::audio, 0x0BADF00D, 77);
    fwd.frames = 64;
    fwd.channels = 2;
    fwd.format = SampleFormat::s16;
    fwd.time_us = 6'000'000;
    std::vector<std::uint8_t> payload(256, 0);
    payload[0] = 0x40;  // ch1[0] = 0.5
    const std::size_t f = wire::seal(fwd, payload, down, buf);
    REQUIRE(client.receive(first(buf, f), 2000, view) == Event::audio);
    CHECK(view.header.session_id == 0x0BADF00D);
    CHECK(view.header.sequence == 77);
    wire::decode_audio(view.payload, view.header.format, r1, r2);
    CHECK(std::abs(r1[0] - 0.5f) < 1e-4f);

    // Sealed with the up key (a reflected box packet) it is refused.
    const std::size_t reflected = wire::seal(fwd, payload, up, buf);
    CHECK(client.receive(first(buf, reflected), 2100, view) == Event::rejected);
    CHECK(client.last_reject() == Reject::bad_tag);

    // A replayed welcome changes nothing.
    CHECK(client.receive(first(welcome, w), 2200, view) == Event::rejected);
    CHECK(client.last_reject() == Reject::replay);
    CHECK(client.admitted());
    CHECK(client.session_id() == server.session_id);
    CHECK(client.next_sequence() == 3);

    // Leave and reset.
    const std::size_t l = client.make_leave(2300, out);
    REQUIRE(wire::decode(first(out, l), sv) == Reject::none);
    CHECK(sv.header.type == PacketType::leave);
    CHECK(sv.header.sequence == 3);
    CHECK(wire::verify(sv, up));
    client.reset();
    CHECK_FALSE(client.admitted());
    CHECK(client.make_keepalive(2400, out) == 0);
    CHECK(client.receive(first(buf, f), 2500, view) == Event::rejected);
    CHECK(client.last_reject() == Reject::unknown_session);
  }
}

TEST_CASE("echo gives the round trip time", "[wire][session]") {
  Admitted s;
  crypto::Aead down(s.server.keys.down);
  Buffer out{};

  // The box sends at t=10'000 (its clock); the server holds it 150 us and answers.
  const std::size_t k = s.client.make_keepalive(10'000, out);
  wire::PacketView sv;
  REQUIRE(wire::decode(std::span(out).first(k), sv) == Reject::none);
  wire::Header echo = session_header(PacketType::echo, s.client.session_id(), sv.header.sequence);
  echo.echo_us = sv.header.time_us;
  echo.hold_us = 150;
  echo.time_us = 7'000'000;  // server clock, unrelated to ours
  std::size_t e = wire::seal(echo, {}, down, s.buf);
  CHECK(s.client.rtt_us() == 0);
  REQUIRE(s.client.receive(first(s.buf, e), 10'400, s.view) == Event::echo);
  CHECK(s.client.rtt_us() == 250);  // 10'400 - 10'000 - 150

  // Our next packet echoes the server's time and how long we held it.
  const std::size_t a = s.client.make_keepalive(10'500, out);
  REQUIRE(wire::decode(std::span(out).first(a), sv) == Reject::none);
  CHECK(sv.header.echo_us == 7'000'000);
  CHECK(sv.header.hold_us == 100);

  SECTION("implausible echoes are ignored") {
    echo.sequence += 1;
    echo.echo_us = 20'000;  // from our future
    e = wire::seal(echo, {}, down, s.buf);
    REQUIRE(s.client.receive(first(s.buf, e), 10'600, s.view) == Event::echo);
    CHECK(s.client.rtt_us() == 250);
    echo.sequence += 1;
    echo.echo_us = 10'500;
    echo.hold_us = 1'000;  // held longer than the whole round trip
    e = wire::seal(echo, {}, down, s.buf);
    REQUIRE(s.client.receive(first(s.buf, e), 10'700, s.view) == Event::echo);
    CHECK(s.client.rtt_us() == 250);
    echo.sequence += 1;
    echo.echo_us = 9'000;  // older than the measurement we already have
    echo.hold_us = 0;
    e = wire::seal(echo, {}, down, s.buf);
    REQUIRE(s.client.receive(first(s.buf, e), 10'800, s.view) == Event::echo);
    CHECK(s.client.rtt_us() == 250);
  }
  SECTION("forwarded audio also measures the round trip") {
    wire::Header fwd = session_header(PacketType::audio, 99, 1);
    fwd.frames = 64;
    fwd.channels = 2;
    fwd.format = SampleFormat::s16;
    fwd.echo_us = 10'500;
    fwd.hold_us = 20;
    fwd.time_us = 7'000'100;
    const std::vector<std::uint8_t> payload(256, 0);
    e = wire::seal(fwd, payload, down, s.buf);
    REQUIRE(s.client.receive(first(s.buf, e), 10'900, s.view) == Event::audio);
    CHECK(s.client.rtt_us() == 380);  // 10'900 - 10'500 - 20
  }
  SECTION("an echo for another session is refused") {
    echo.session_id += 1;
    e = wire::seal(echo, {}, down, s.buf);
    CHECK(s.client.receive(first(s.buf, e), 10'600, s.view) == Event::rejected);
    CHECK(s.client.last_reject() == Reject::unknown_session);
  }
}

TEST_CASE("session notices", "[wire][session]") {
  Admitted s;
  crypto::Aead down(s.server.keys.down);
  wire::NoticeBody body;
  body.code = wire::NoticeCode::server_stopping;
  std::size_t n = wire::make_notice(body, s.client.session_id(), 1, down, s.buf);
  REQUIRE(s.client.receive(first(s.buf, n), 2000, s.view) == Event::notice);
  CHECK(s.client.last_notice() == wire::NoticeCode::server_stopping);

  body.code = wire::NoticeCode::room_closed;
  n = wire::make_notice(body, s.client.session_id() + 1, 2, down, s.buf);
  CHECK(s.client.receive(first(s.buf, n), 2100, s.view) == Event::rejected);
  CHECK(s.client.last_reject() == Reject::unknown_session);

  crypto::Aead up(s.server.keys.up);
  n = wire::make_notice(body, s.client.session_id(), 3, up, s.buf);
  CHECK(s.client.receive(first(s.buf, n), 2200, s.view) == Event::rejected);
  CHECK(s.client.last_reject() == Reject::bad_tag);
}

TEST_CASE("a box refuses box->server packet types", "[wire][session]") {
  Admitted s;
  crypto::Aead down(s.server.keys.down);
  for (const PacketType type : {PacketType::keepalive, PacketType::leave}) {
    const std::size_t n =
        wire::seal(session_header(type, s.client.session_id(), 9), {}, down, s.buf);
    CHECK(s.client.receive(first(s.buf, n), 3000, s.view) == Event::rejected);
    CHECK(s.client.last_reject() == Reject::bad_direction);
  }
  ClientSession other(kRoom, kSecret, wire::AudioShape{});
  const std::size_t j = other.make_join(s.buf);
  CHECK(s.client.receive(first(s.buf, j), 3100, s.view) == Event::rejected);
  CHECK(s.client.last_reject() == Reject::bad_direction);

  // Garbage is refused with the decoder's reason.
  std::array<std::uint8_t, 20> junk{};
  CHECK(s.client.receive(junk, 3200, s.view) == Event::rejected);
  CHECK(s.client.last_reject() == Reject::short_packet);
  CHECK(s.client.admitted());
}

TEST_CASE("make_join starts over", "[wire][session]") {
  Admitted s;
  REQUIRE(s.client.admitted());
  Buffer out{};
  REQUIRE(s.client.make_keepalive(5000, out) != 0);
  const std::size_t n = s.client.make_join(out);
  CHECK(n == 156);
  CHECK_FALSE(s.client.admitted());
  CHECK(s.client.next_sequence() == 1);
  CHECK(s.client.make_keepalive(5100, out) == 0);
}

namespace {

// What the room server does with audio: verify it under the sender's up key and re-seal the
// same header and payload for a receiver under the receiver's down key.
std::size_t forward(const Admitted& from, std::span<const std::uint8_t> datagram,
                    const Admitted& to, Buffer& out) {
  wire::PacketView v;
  REQUIRE(wire::decode(datagram, v) == Reject::none);
  crypto::Aead up(from.server.keys.up);
  REQUIRE(wire::verify(v, up));
  crypto::Aead down(to.server.keys.down);
  return wire::seal(v.header, v.payload, down, out);
}

}  // namespace

TEST_CASE("audio is encrypted end to end with the room's audio key", "[wire][session]") {
  Admitted a;
  Admitted b;
  std::array<float, 64> ch1{};
  std::array<float, 64> ch2{};
  for (std::size_t i = 0; i < ch1.size(); ++i) {
    ch1[i] = 0.5f * std::sin(static_cast<float>(i) * 0.3f);
    ch2[i] = -ch1[i];
  }
  Buffer sent{};
  Buffer fwd{};
  REQUIRE(a.client.encrypts_audio());
  CHECK(a.client.audio_offset() == wire::kHeaderSize + wire::kRoomSaltSize);
  const std::size_t n = a.client.make_audio(ch1, ch2, 2000, sent);
  REQUIRE(n == wire::kMinDatagram + 256 + wire::kRoomSealOverhead);

  // No sample appears in the clear on the wire.
  std::array<std::uint8_t, 256> clear{};
  wire::encode_audio(ch1, ch2, SampleFormat::s16, clear);
  const auto wire_bytes = first(sent, n);
  CHECK(std::search(wire_bytes.begin(), wire_bytes.end(), clear.begin() + 4, clear.begin() + 20) ==
        wire_bytes.end());

  SECTION("a member of the room hears it") {
    const std::size_t f = forward(a, first(sent, n), b, fwd);
    REQUIRE(b.client.receive(first(fwd, f), 2100, b.view) == Event::audio);
    REQUIRE(b.view.payload.size() == 256);
    CHECK(std::equal(b.view.payload.begin(), b.view.payload.end(), clear.begin()));
  }
  SECTION("a box with another audio key cannot open it") {
    wire::Ticket ticket;
    ticket.expires_s = 1'900'000'000;
    const std::string ticket_secret = wire::derive_ticket_secret(kRoom, kSecret, ticket);
    ClientSession other(kRoom, ticket_secret, ticket, wire::AudioShape{},
                        wire::derive_room_audio_key(kRoom, "another room secret, not ours"));
    Admitted c;  // keys of a session; its client is replaced by `other` below
    c.client = std::move(other);
    std::size_t j = c.client.make_join(c.buf);
    wire::PacketView jv;
    REQUIRE(wire::decode(first(c.buf, j), jv) == Reject::none);
    wire::JoinBody body;
    REQUIRE(wire::parse_join(jv, body) == Reject::none);
    c.server.join = crypto::Aead(wire::derive_join_key(kRoom, ticket_secret));
    // The server derives the ticket box's session keys from the ticket's secret.
    wire::WelcomeBody w;
    crypto::random_bytes(w.aead_nonce);
    crypto::random_bytes(w.server_nonce);
    w.client_nonce = body.client_nonce;
    w.session_id = 99;
    c.server.keys =
        wire::derive_session_keys(kRoom, ticket_secret, body.client_nonce, w.server_nonce, 99);
    j = wire::make_welcome(w, 0, 0, 0, c.server.join, c.buf);
    REQUIRE(c.client.receive(first(c.buf, j), 2000, c.view) == Event::welcomed);

    const std::size_t f = forward(a, first(sent, n), c, fwd);
    CHECK(c.client.receive(first(fwd, f), 2100, c.view) == Event::rejected);
    CHECK(c.client.last_reject() == Reject::room_key);
  }
  SECTION("the server cannot alter it or pass it off as another member's") {
    wire::PacketView v;
    REQUIRE(wire::decode(first(sent, n), v) == Reject::none);
    crypto::Aead down(b.server.keys.down);
    std::vector<std::uint8_t> payload(v.payload.begin(), v.payload.end());
    payload[wire::kRoomSaltSize + 3] ^= 0x10;  // one sample bit
    std::size_t f = wire::seal(v.header, payload, down, fwd);
    CHECK(b.client.receive(first(fwd, f), 2100, b.view) == Event::rejected);
    CHECK(b.client.last_reject() == Reject::room_key);

    wire::Header relabelled = v.header;
    relabelled.session_id ^= 1;
    f = wire::seal(relabelled, v.payload, down, fwd);
    CHECK(b.client.receive(first(fwd, f), 2200, b.view) == Event::rejected);
    CHECK(b.client.last_reject() == Reject::room_key);
  }
  SECTION("turned off, audio goes in the clear and is still heard") {
    a.client.set_encrypt_audio(false);
    CHECK(a.client.audio_offset() == wire::kHeaderSize);
    const std::size_t m = a.client.make_audio(ch1, ch2, 2300, sent);
    REQUIRE(m == wire::kMinDatagram + 256);
    wire::PacketView v;
    REQUIRE(wire::decode(first(sent, m), v) == Reject::none);
    CHECK(v.header.flags == 0);
    CHECK(std::equal(v.payload.begin(), v.payload.end(), clear.begin()));
    const std::size_t f = forward(a, first(sent, m), b, fwd);
    REQUIRE(b.client.receive(first(fwd, f), 2400, b.view) == Event::audio);
    CHECK(std::equal(b.view.payload.begin(), b.view.payload.end(), clear.begin()));
  }
}

TEST_CASE("every JOIN draws a new room salt, so room-key nonces never repeat", "[wire][session]") {
  Admitted first_session;
  std::array<float, 64> silence{};
  Buffer one{};
  const std::size_t n1 = first_session.client.make_audio(silence, silence, 10, one);
  REQUIRE(n1 != 0);
  // Join again (same client object): sequence starts over at 1, the salt must not.
  const std::size_t j = first_session.client.make_join(first_session.buf);
  REQUIRE(first_session.server.accept_join(first(first_session.buf, j)));
  const std::size_t w = first_session.server.welcome(
      first_session.buf, first_session.server.last_join.client_nonce, 20);
  REQUIRE(first_session.client.receive(first(first_session.buf, w), 30, first_session.view) ==
          Event::welcomed);
  Buffer two{};
  const std::size_t n2 = first_session.client.make_audio(silence, silence, 40, two);
  REQUIRE(n2 == n1);
  wire::PacketView v1;
  wire::PacketView v2;
  REQUIRE(wire::decode(first(one, n1), v1) == Reject::none);
  REQUIRE(wire::decode(first(two, n2), v2) == Reject::none);
  CHECK(v1.header.sequence == v2.header.sequence);
  CHECK_FALSE(
      std::equal(v1.payload.begin(), v1.payload.begin() + wire::kRoomSaltSize, v2.payload.begin()));
}
