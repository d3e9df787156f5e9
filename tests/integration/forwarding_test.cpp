// A real jambox-broadcast on the loopback interface: who receives what.
#include "integration.hpp"

#include <sys/socket.h>

#include <set>
#include <thread>

namespace jt = jambox::test;
namespace wire = jambox::wire;
using Event = jt::TestJammer::Event;
using jt::kQuiet;
using jt::kWait;

namespace {

jt::ServerSpec one_room(const std::string& name, const std::string& secret) {
  jt::ServerSpec spec;
  spec.rooms = {{name, secret, 0}};
  return spec;
}

// Audio goes out encrypted with the room's audio key (the room seal adds 24 bytes).
std::size_t audio_datagram_size() {
  return wire::kHeaderSize + wire::audio_payload_size(64, 2, wire::SampleFormat::s16) +
         wire::kRoomSealOverhead + wire::kTagSize;
}

// The audio of the last packet `jammer` sent, opened with the room's audio key.
std::vector<std::uint8_t> sent_audio(const jt::TestJammer& jammer, const std::string& room,
                                     const std::string& secret) {
  const auto sent = jammer.last_sent();
  wire::PacketView view;
  REQUIRE(wire::decode(sent, view) == wire::Reject::none);
  REQUIRE((view.header.flags & wire::flags::kEncrypted) != 0);
  std::vector<std::uint8_t> audio(view.payload.size() - wire::kRoomSealOverhead);
  jambox::crypto::Aead key(wire::derive_room_audio_key(room, secret));
  REQUIRE(wire::open_room_audio(view.header, view.payload, key, audio));
  return audio;
}

}  // namespace

TEST_CASE("audio reaches every other member of the room and never its sender", "[integration]") {
  jt::TempDir dir;
  const std::string secret = jt::random_secret();
  jt::BroadcastServer server(dir, one_room("band", secret));
  auto jammers = jt::admit(server, "band", secret, 3);

  for (std::size_t s = 0; s < jammers.size(); ++s) {
    INFO("sender " << s);
    jt::TestJammer& sender = *jammers[s];
    const std::uint32_t sequence = sender.send_audio();
    for (std::size_t r = 0; r < jammers.size(); ++r) {
      if (r == s) continue;
      INFO("recipient " << r);
      const auto got = jammers[r]->receive_event(Event::audio, kWait);
      REQUIRE(got);
      CHECK(got->header.session_id == sender.session_id());
      CHECK(got->header.sequence == sequence);
      CHECK(got->header.frames == 64);
      CHECK(got->header.format == wire::SampleFormat::s16);
      CHECK(got->size == audio_datagram_size());
      CHECK(got->payload == sent_audio(sender, "band", secret));  // forwarded untouched
    }
    // No copy of its own audio comes back to the sender; at most an echo, when it has heard
    // nothing from the server for 50 ms (the others are silent between the test's steps).
    const auto back = sender.drain(kQuiet);
    CHECK(jt::count_events(back, Event::echo) <= 1);
    CHECK(jt::count_events(back, Event::audio) == 0);
    for (std::size_t r = 0; r < jammers.size(); ++r) {
      if (r != s) CHECK(jt::count_events(jammers[r]->drain(kQuiet), Event::audio) == 0);
    }
  }

  const auto stats = server.wait_for_stats([](const nlohmann::json& s) {
    return jt::member_count(s, "band") == 3 && jt::total(s, "forwarded") >= 6;
  });
  INFO(server.log());
  REQUIRE(stats);
  const nlohmann::json* room = jt::find_room(*stats, "band");
  REQUIRE(room != nullptr);
  for (const auto& jammer : jammers) CHECK(jt::find_member(*room, jammer->session_id()) != nullptr);
  CHECK(jt::total(*stats, "rejected") == 0);
}

TEST_CASE("a lone jammer gets a header-only echo of every packet", "[integration]") {
  jt::TempDir dir;
  const std::string secret = jt::random_secret();
  jt::BroadcastServer server(dir, one_room("solo", secret));
  auto jammers = jt::admit(server, "solo", secret, 1);
  jt::TestJammer& jammer = *jammers[0];

  for (int i = 0; i < 3; ++i) {
    const std::uint32_t sequence = i == 1 ? jammer.send_keepalive() : jammer.send_audio();
    const std::uint64_t sent_us = jammer.last_sent_time_us();
    const auto echo = jammer.receive(kWait);
    REQUIRE(echo);
    REQUIRE(echo->event == Event::echo);
    CHECK(echo->size == wire::kHeaderSize + wire::kTagSize);  // header only
    CHECK(echo->header.payload_len == 0);
    CHECK(echo->header.session_id == jammer.session_id());
    CHECK(echo->header.sequence == sequence);
    CHECK(echo->header.echo_us == sent_us);
    CHECK(echo->header.time_us != 0);
    // The round trip from echo_us and hold_us fits between sending and receiving.
    CHECK(echo->header.hold_us <= echo->received_us - sent_us);
  }
  CHECK(jammer.session().rtt_us() > 0);
  CHECK(jt::count_events(jammer.drain(kQuiet), Event::audio) == 0);

  const auto stats = server.wait_for_stats(
      [](const nlohmann::json& s) { return jt::total(s, "echoes") >= 4; });  // + join keepalive
  INFO(server.log());
  REQUIRE(stats);
  CHECK(jt::total(*stats, "forwarded") == 0);
}

TEST_CASE("a silent member expires and receives nothing more", "[integration]") {
  jt::TempDir dir;
  const std::string secret = jt::random_secret();
  jt::ServerSpec spec = one_room("band", secret);
  spec.member_timeout_ms = 300;
  jt::BroadcastServer server(dir, spec);
  auto jammers = jt::admit(server, "band", secret, 2);
  jt::TestJammer& talker = *jammers[0];
  jt::TestJammer& silent = *jammers[1];
  const std::uint32_t silent_id = silent.session_id();

  // The talker keeps itself alive while the silent one times out.
  std::optional<nlohmann::json> stats;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!stats && std::chrono::steady_clock::now() < deadline) {
    talker.send_keepalive();
    stats = jt::read_stats(server.stats_file());
    if (stats && !(jt::member_count(*stats, "band") == 1 && jt::total(*stats, "expired") >= 1)) {
      stats.reset();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  INFO(server.log());
  REQUIRE(stats);
  const nlohmann::json* room = jt::find_room(*stats, "band");
  REQUIRE(room != nullptr);
  CHECK(jt::find_member(*room, silent_id) == nullptr);
  CHECK(jt::find_member(*room, talker.session_id()) != nullptr);

  silent.drain(std::chrono::milliseconds(50));  // what was forwarded before it expired
  const std::uint32_t sequence = talker.send_audio();
  REQUIRE(talker.receive_echo(sequence, kWait));
  CHECK(jt::count_events(silent.drain(kQuiet), Event::audio) == 0);

  // The expired session is gone for good: its packets are refused, not re-admitted.
  silent.send_audio();
  CHECK(jt::count_events(silent.drain(kQuiet), Event::echo) == 0);
  CHECK(jt::count_events(talker.drain(kQuiet), Event::audio) == 0);
}

TEST_CASE("a full room refuses with a notice, and a leave makes room", "[integration]") {
  jt::TempDir dir;
  const std::string secret = jt::random_secret();
  jt::ServerSpec spec;
  spec.rooms = {{"duo", secret, 2}};
  jt::BroadcastServer server(dir, spec);
  auto jammers = jt::admit(server, "duo", secret, 2);

  jt::TestJammer third("duo", secret, server.endpoint());
  REQUIRE(third.join(kWait) == jt::TestJammer::JoinResult::room_full);
  CHECK(third.session().last_notice() == wire::NoticeCode::room_full);

  auto stats = server.wait_for_stats([](const nlohmann::json& s) {
    const nlohmann::json* room = jt::find_room(s, "duo");
    return room != nullptr && room->value("refused_full", 0) >= 1;
  });
  INFO(server.log());
  REQUIRE(stats);
  CHECK(jt::member_count(*stats, "duo") == 2);
  CHECK(jt::find_room(*stats, "duo")->value("max_members", 0) == 2);

  // LEAVE frees the seat at once.
  jammers[0]->send_leave();
  stats = server.wait_for_stats([](const nlohmann::json& s) {
    return jt::member_count(s, "duo") == 1 && jt::total(s, "leaves") >= 1;
  });
  REQUIRE(stats);
  REQUIRE(third.join_as_member(kWait));
  const std::uint32_t sequence = third.send_audio();
  const auto got = jammers[1]->receive_event(Event::audio, kWait);
  REQUIRE(got);
  CHECK(got->header.session_id == third.session_id());
  CHECK(got->header.sequence == sequence);
  CHECK(jt::count_events(jammers[0]->drain(kQuiet), Event::audio) == 0);  // it left
}

TEST_CASE("rooms are isolated from each other", "[integration]") {
  jt::TempDir dir;
  const std::string red_secret = jt::random_secret();
  const std::string blue_secret = jt::random_secret();
  jt::ServerSpec spec;
  spec.rooms = {{"red", red_secret, 0}, {"blue", blue_secret, 0}};
  jt::BroadcastServer server(dir, spec);
  auto red = jt::admit(server, "red", red_secret, 2);
  auto blue = jt::admit(server, "blue", blue_secret, 2);

  for (int round = 0; round < 2; ++round) {
    auto& talkers = round == 0 ? red : blue;
    auto& others = round == 0 ? blue : red;
    const std::uint32_t sequence = talkers[0]->send_audio();
    const auto got = talkers[1]->receive_event(Event::audio, kWait);
    REQUIRE(got);
    CHECK(got->header.sequence == sequence);
    for (auto& other : others) CHECK(jt::count_events(other->drain(kQuiet), Event::audio) == 0);
  }

  // A room's secret does not open another room: the JOIN is dropped without an answer.
  jt::TestJammer intruder("blue", red_secret, server.endpoint());
  CHECK(intruder.join(std::chrono::milliseconds(600)) == jt::TestJammer::JoinResult::no_answer);
  const auto stats = server.wait_for_stats([](const nlohmann::json& s) {
    return jt::rejected_count(s, "bad_tag") >= 1 && jt::member_count(s, "blue") == 2;
  });
  INFO(server.log());
  REQUIRE(stats);
  CHECK(jt::member_count(*stats, "red") == 2);
}

TEST_CASE("an authenticated session may move to a new address (NAT rebinding)", "[integration]") {
  jt::TempDir dir;
  const std::string secret = jt::random_secret();
  jt::BroadcastServer server(dir, one_room("band", secret));
  auto jammers = jt::admit(server, "band", secret, 2);
  jt::TestJammer& mover = *jammers[0];
  jt::TestJammer& other = *jammers[1];

  const std::string old_address = mover.local().to_string();
  mover.rebind();
  REQUIRE(mover.local().to_string() != old_address);
  const std::uint32_t sequence = mover.send_audio();
  mover.send_keepalive();  // always echoed: the answer must reach the new address
  REQUIRE(mover.receive_event(Event::echo, kWait));
  const auto got = other.receive_event(Event::audio, kWait);
  REQUIRE(got);
  CHECK(got->header.sequence == sequence);

  other.send_audio();
  const auto back = mover.receive_event(Event::audio, kWait);
  REQUIRE(back);
  CHECK(back->header.session_id == other.session_id());

  const std::string new_address = mover.local().to_string();
  const auto stats = server.wait_for_stats([&](const nlohmann::json& s) {
    const nlohmann::json* room = jt::find_room(s, "band");
    const nlohmann::json* member = room ? jt::find_member(*room, mover.session_id()) : nullptr;
    return member != nullptr && member->value("address", "") == new_address;
  });
  INFO(server.log());
  CHECK(stats);
}

TEST_CASE("forwarding over IPv6", "[integration]") {
  if (!jt::ipv6_loopback_available()) {
    WARN("IPv6 loopback unavailable here: test skipped");
    return;
  }
  jt::TempDir dir;
  const std::string secret = jt::random_secret();
  jt::ServerSpec spec = one_room("six", secret);
  spec.listen = "[::1]:0";
  jt::BroadcastServer server(dir, spec);
  REQUIRE(server.endpoint().family() == AF_INET6);
  auto jammers = jt::admit(server, "six", secret, 3);

  const std::uint32_t sequence = jammers[0]->send_audio();
  for (std::size_t r = 1; r < jammers.size(); ++r) {
    const auto got = jammers[r]->receive_event(Event::audio, kWait);
    REQUIRE(got);
    CHECK(got->header.session_id == jammers[0]->session_id());
    CHECK(got->header.sequence == sequence);
  }
  const auto back = jammers[0]->drain(kQuiet);
  CHECK(jt::count_events(back, Event::echo) <= 1);  // only the 50 ms fallback
  CHECK(jt::count_events(back, Event::audio) == 0);

  const auto stats = server.wait_for_stats([&](const nlohmann::json& s) {
    const nlohmann::json* room = jt::find_room(s, "six");
    const nlohmann::json* member =
        room ? jt::find_member(*room, jammers[0]->session_id()) : nullptr;
    return member != nullptr && member->value("address", "").rfind("[::1]:", 0) == 0;
  });
  INFO(server.log());
  CHECK(stats);
}
