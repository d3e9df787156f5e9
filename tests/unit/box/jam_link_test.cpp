// box::JamLink against a real jambox-broadcast on the loopback interface: admission, audio from
// one box reaching the other (never the sender), echoes and RTT, wrong secrets, leaving and
// moving to another room. No JACK: the test thread plays the audio thread's part on the rings.
#include "run_loop.hpp"
#include <jambox/audio/queues.hpp>
#include <jambox/box/jam_link.hpp>
#include <jambox/test/server.hpp>
#include <jambox/test/temp_dir.hpp>
#include <jambox/wire/packet.hpp>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace box = jambox::box;
namespace audio = jambox::audio;
namespace wire = jambox::wire;
using namespace std::chrono_literals;
using jambox::box::test::run_until;

namespace {

struct Rings {
  // Large (hundreds of KiB): on the heap, as the engine keeps them.
  std::unique_ptr<audio::InboundQueue> in = std::make_unique<audio::InboundQueue>();
  std::unique_ptr<audio::OutboundQueue> out = std::make_unique<audio::OutboundQueue>();
};

box::JamLinkConfig link_config(const std::string& server, const std::string& room,
                               const std::string& secret) {
  box::JamLinkConfig c;
  c.server = server;
  c.room = room;
  c.secret = secret;
  c.no_answer_log = 1000ms;
  return c;
}

void run_for(boost::asio::io_context& io, std::chrono::milliseconds duration) {
  io.restart();
  io.run_for(duration);
}

audio::OutboundPacket audio_packet(std::uint32_t sequence, std::uint8_t fill) {
  audio::OutboundPacket p;
  p.sequence = sequence;
  p.frames = 64;
  p.format = wire::SampleFormat::s16;
  p.payload_len = static_cast<std::uint16_t>(
      wire::audio_payload_size(64, wire::kAudioChannels, wire::SampleFormat::s16));
  for (std::size_t i = 0; i < p.payload_len; ++i) {
    p.payload[i] = static_cast<std::uint8_t>(fill + i);
  }
  return p;
}

// Pops everything; returns the number of audio slots (frames > 0) and keeps the last one.
std::size_t drain_audio(audio::InboundQueue& q, audio::InboundPacket* last = nullptr) {
  std::size_t n = 0;
  q.consume_all([&](const audio::InboundPacket& p) {
    if (p.frames == 0) return;
    ++n;
    if (last != nullptr) *last = p;
  });
  return n;
}

}  // namespace

TEST_CASE("two links in one room exchange audio through jambox-broadcast", "[box][jam_link]") {
  jambox::test::TempDir dir("jam-link");
  const std::string secret = jambox::test::random_secret();
  jambox::test::ServerSpec spec;
  spec.rooms = {{"main", secret, 0}, {"other", secret, 0}};
  jambox::test::BroadcastServer server(dir, spec);
  const std::string address = server.endpoint().to_string();

  boost::asio::io_context io;
  Rings ra;
  Rings rb;
  box::JamLink a(io, *ra.in, *ra.out, link_config(address, "main", secret));
  box::JamLink b(io, *rb.in, *rb.out, link_config(address, "main", secret));
  a.start();
  b.start();
  REQUIRE(run_until(io, [&] {
    return a.state() == box::LinkState::joined && b.state() == box::LinkState::joined;
  }));
  CHECK(a.stats().session_id != b.stats().session_id);
  CHECK(a.stats().welcomes == 1);

  a.set_audio_running(true);
  for (std::uint32_t i = 1; i <= 20; ++i) REQUIRE(ra.out->push(audio_packet(i, 7)));
  std::size_t received = 0;
  audio::InboundPacket last;
  REQUIRE(run_until(io, [&] {
    received += drain_audio(*rb.in, &last);
    return received == 20;
  }));
  CHECK(last.session_id == a.stats().session_id);
  CHECK(last.frames == 64);
  CHECK(last.format == wire::SampleFormat::s16);
  CHECK(last.has_room_clock);
  REQUIRE(last.payload_len == audio_packet(0, 7).payload_len);
  CHECK(last.payload == audio_packet(0, 7).payload);
  CHECK(a.stats().audio_sent == 20);
  CHECK(b.stats().audio_received >= 20);

  // A never hears itself; its echoes give it a round trip time.
  REQUIRE(run_until(io, [&] { return a.stats().rtt_us > 0; }));
  CHECK(drain_audio(*ra.in) == 0);
  CHECK(a.stats().echoes > 0);

  SECTION("a silent box stays a member through keepalives") {
    a.set_audio_running(false);
    run_for(io, 3000ms);  // longer than silence_rejoin
    CHECK(a.state() == box::LinkState::joined);
    CHECK(a.stats().rejoins == 0);
    CHECK(a.stats().keepalives_sent > 10);
  }

  SECTION("after leave() the other box hears nothing more") {
    a.leave();
    CHECK(a.state() == box::LinkState::stopped);
    for (std::uint32_t i = 21; i <= 30; ++i) REQUIRE(ra.out->push(audio_packet(i, 9)));
    run_for(io, 500ms);
    CHECK(drain_audio(*rb.in) == 0);
    CHECK(a.stats().outbound_skipped >= 10);
  }

  SECTION("a reconfigure() with a malformed server keeps the room, session and state") {
    const std::uint32_t session_id = a.stats().session_id;
    const std::uint64_t joins_sent = a.stats().joins_sent;
    for (const char* bad : {"nonsense", "host:", ":7930", "256.1.1.1:99999", ""}) {
      CAPTURE(bad);
      try {
        a.reconfigure(link_config(bad, "other", secret));
        FAIL("accepted");
      } catch (const std::invalid_argument& e) {
        CHECK_THAT(e.what(), Catch::StartsWith(std::string("server '") + bad + "': "));
        CHECK_THAT(e.what(), Catch::Contains("expected HOST:PORT"));
      }
      CHECK(a.state() == box::LinkState::joined);
      CHECK(a.stats().room == "main");
      CHECK(a.stats().server == address);
      CHECK(a.stats().session_id == session_id);
    }
    // No LEAVE went out: the server still forwards A's audio to B, and A never joined again.
    drain_audio(*rb.in);
    for (std::uint32_t i = 21; i <= 30; ++i) REQUIRE(ra.out->push(audio_packet(i, 5)));
    std::size_t heard = 0;
    REQUIRE(run_until(io, [&] {
      heard += drain_audio(*rb.in);
      return heard == 10;
    }));
    CHECK(a.state() == box::LinkState::joined);
    CHECK(a.stats().session_id == session_id);
    CHECK(a.stats().joins_sent == joins_sent);
    CHECK(a.stats().rejoins == 0);
  }

  SECTION("reconfigure() moves to another room") {
    a.reconfigure(link_config(address, "other", secret));
    REQUIRE(run_until(io, [&] { return a.state() == box::LinkState::joined; }));
    CHECK(a.stats().room == "other");
    drain_audio(*rb.in);
    for (std::uint32_t i = 1; i <= 10; ++i) REQUIRE(ra.out->push(audio_packet(i, 3)));
    run_for(io, 500ms);
    CHECK(a.stats().audio_sent >= 10);
    CHECK(drain_audio(*rb.in) == 0);
  }
}

TEST_CASE("a wrong secret never gets in and keeps retrying", "[box][jam_link]") {
  jambox::test::TempDir dir("jam-link");
  jambox::test::ServerSpec spec;
  spec.rooms = {{"main", jambox::test::random_secret(), 0}};
  jambox::test::BroadcastServer server(dir, spec);

  boost::asio::io_context io;
  Rings r;
  box::JamLink link(io, *r.in, *r.out,
                    link_config(server.endpoint().to_string(), "main", "not the right secret"));
  link.start();
  run_for(io, 1500ms);
  const box::LinkStats s = link.stats();
  CHECK(s.state == box::LinkState::joining);
  CHECK(s.welcomes == 0);
  CHECK(s.joins_sent >= 3);
  CHECK(s.last_problem.find("no answer") != std::string::npos);
}

TEST_CASE("a full room is reported and retried with backoff", "[box][jam_link]") {
  jambox::test::TempDir dir("jam-link");
  const std::string secret = jambox::test::random_secret();
  jambox::test::ServerSpec spec;
  spec.rooms = {{"duo", secret, 2}};
  jambox::test::BroadcastServer server(dir, spec);
  const std::string address = server.endpoint().to_string();

  boost::asio::io_context io;
  Rings r1;
  Rings r2;
  Rings r3;
  box::JamLink l1(io, *r1.in, *r1.out, link_config(address, "duo", secret));
  box::JamLink l2(io, *r2.in, *r2.out, link_config(address, "duo", secret));
  l1.start();
  l2.start();
  REQUIRE(run_until(io, [&] {
    return l1.state() == box::LinkState::joined && l2.state() == box::LinkState::joined;
  }));
  run_for(io, 300ms);  // their first packets make them members
  box::JamLink l3(io, *r3.in, *r3.out, link_config(address, "duo", secret));
  l3.start();
  REQUIRE(run_until(io, [&] { return l3.stats().room_full > 0; }));
  CHECK(l3.state() != box::LinkState::joined);
  CHECK(l3.stats().last_problem.find("full") != std::string::npos);

  // A place frees up: the third box gets in on a later attempt.
  l1.leave();
  REQUIRE(run_until(
      io, [&] { return l3.state() == box::LinkState::joined; }, 20s));
}

TEST_CASE("a server that never answers is retried", "[box][jam_link]") {
  boost::asio::io_context io;
  Rings r;
  // A port nobody listens on (the discard port, closed on test machines).
  box::JamLink link(io, *r.in, *r.out, link_config("127.0.0.1:9", "main", "0123456789abcdef"));
  link.start();
  run_for(io, 800ms);
  CHECK(link.state() == box::LinkState::joining);
  CHECK(link.stats().joins_sent >= 3);
  CHECK_FALSE(link.local_endpoint().empty());
}

TEST_CASE("a malformed server address is refused at start", "[box][jam_link]") {
  boost::asio::io_context io;
  Rings r;
  box::JamLink link(io, *r.in, *r.out, link_config("no-port-here", "main", "0123456789abcdef"));
  CHECK_THROWS_WITH(link.start(), Catch::StartsWith("server 'no-port-here': the port is missing"));
  // Refused before anything changed: not left "resolving".
  CHECK(link.state() == box::LinkState::stopped);
  run_for(io, 100ms);
  CHECK(link.state() == box::LinkState::stopped);
  CHECK(link.stats().joins_sent == 0);
}
