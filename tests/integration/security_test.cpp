// Hostile input against a real jambox-broadcast: every kind is dropped, counted under its reason,
// never answered, and the members' traffic carries on untouched.
#include "integration.hpp"
#include <jambox/crypto/crypto.hpp>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <thread>

namespace jt = jambox::test;
namespace wire = jambox::wire;
using Event = jt::TestJammer::Event;
using jt::kQuiet;
using jt::kWait;

namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes random_bytes(std::size_t size) {
  Bytes bytes(size);
  jambox::crypto::random_bytes(bytes);
  return bytes;
}

void put_be32(Bytes& bytes, std::size_t offset, std::uint32_t value) {
  for (std::size_t i = 0; i < 4; ++i) {
    bytes[offset + i] = static_cast<std::uint8_t>(value >> (24 - 8 * i));
  }
}

// A well-formed datagram of `type` whose tag is random: passes decoding, fails authentication.
Bytes forged(wire::PacketType type, std::uint32_t session_id, std::uint32_t sequence) {
  wire::Header header;
  header.type = type;
  if (type == wire::PacketType::audio) {
    header.format = wire::SampleFormat::s16;
    header.channels = 2;
    header.frames = 64;
    header.payload_len =
        static_cast<std::uint16_t>(wire::audio_payload_size(64, 2, wire::SampleFormat::s16));
  }
  header.session_id = session_id;
  header.sequence = sequence;
  header.time_us = 1;
  Bytes bytes = random_bytes(wire::kHeaderSize + header.payload_len + wire::kTagSize);
  wire::write_header(header, std::span(bytes).first<wire::kHeaderSize>());
  return bytes;
}

}  // namespace

TEST_CASE("unauthenticated, spoofed, replayed and malformed packets are dropped and counted",
          "[integration]") {
  jt::TempDir dir;
  const std::string secret = jt::random_secret();
  jt::ServerSpec spec;
  spec.rooms = {{"band", secret, 0}};
  jt::BroadcastServer server(dir, spec);
  auto jammers = jt::admit(server, "band", secret, 2);
  jt::TestJammer& alice = *jammers[0];
  jt::TestJammer& bob = *jammers[1];
  const std::string alice_address = alice.local().to_string();

  // A legitimate packet of Alice's, captured on the way (Bob gets it as usual).
  alice.send_audio();
  const Bytes captured(alice.last_sent().begin(), alice.last_sent().end());
  REQUIRE(bob.receive_event(Event::audio, kWait));

  const auto before =
      server.wait_for_stats([](const nlohmann::json& s) { return jt::total(s, "forwarded") >= 1; });
  REQUIRE(before);

  jt::UdpSocket attacker(server.endpoint().family());
  const auto attack = [&](const Bytes& bytes) { attacker.send_to(server.endpoint(), bytes); };

  // Reason -> how many datagrams that reason must at least have counted.
  std::map<std::string, std::uint64_t> want;
  constexpr int kRounds = 5;
  std::vector<std::uint32_t> alice_sequences;
  for (int round = 0; round < kRounds; ++round) {
    // Alice keeps talking through the attack; Bob must get every packet.
    alice_sequences.push_back(alice.send_audio());

    attack(random_bytes(10));  // shorter than a header
    want["short_packet"]++;
    attack(random_bytes(wire::kMaxDatagram + 100));
    want["oversize"]++;

    Bytes magic = captured;
    magic[0] ^= 0xFF;
    attack(magic);
    want["bad_magic"]++;

    Bytes version = captured;
    version[2] = 2;
    attack(version);
    want["bad_version"]++;

    Bytes type = captured;
    type[3] = 0x63;
    attack(type);
    want["bad_type"]++;

    Bytes flags = captured;
    flags[4] = 0x80;  // a flag bit v1 does not know
    attack(flags);
    want["bad_flags"]++;

    Bytes format = captured;
    format[8] = 0;
    format[9] = 100;  // 100 frames per packet is not a shape the protocol allows
    attack(format);
    want["bad_format"]++;

    Bytes length = captured;
    length.resize(length.size() - 20);  // payload_len no longer matches
    attack(length);
    want["bad_length"]++;

    // A server->box type sent to the server.
    attack(forged(wire::PacketType::echo, alice.session_id(), 1));
    want["bad_direction"]++;

    // A session that does not exist.
    attack(forged(wire::PacketType::audio, 0x7FFF0000U + static_cast<std::uint32_t>(round), 5));
    want["unknown_session"]++;

    // Spoofed: Alice's session id and a fresh sequence, but no key to sign with, from another
    // port.
    Bytes spoofed = captured;
    put_be32(spoofed, 16,
             alice.session().next_sequence() + 1000 + static_cast<std::uint32_t>(round));
    std::copy_n(random_bytes(wire::kTagSize).begin(), wire::kTagSize,
                spoofed.end() - static_cast<std::ptrdiff_t>(wire::kTagSize));
    attack(spoofed);
    want["bad_tag"]++;

    // Replayed: Alice's captured packet, byte for byte, from another port.
    attack(captured);
    want["replay+stale"]++;

    // JOINs that cannot be authenticated: wrong secret, unknown room.
    jt::TestJammer wrong_secret("band", jt::random_secret(), server.endpoint());
    REQUIRE(wrong_secret.join(std::chrono::milliseconds(0)) ==
            jt::TestJammer::JoinResult::no_answer);
    want["bad_tag"]++;
    jt::TestJammer no_room("nowhere", secret, server.endpoint());
    REQUIRE(no_room.join(std::chrono::milliseconds(0)) == jt::TestJammer::JoinResult::no_answer);
    want["unknown_room"]++;
  }

  std::uint64_t junk = 0;
  for (const auto& [reason, count] : want) junk += count;

  // Everything was counted under its reason...
  const auto after = server.wait_for_stats([&](const nlohmann::json& s) {
    for (const auto& [reason, count] : want) {
      if (reason == "replay+stale") {
        if (jt::rejected_count(s, "replay") + jt::rejected_count(s, "stale") <
            jt::rejected_count(*before, "replay") + jt::rejected_count(*before, "stale") + count) {
          return false;
        }
      } else if (jt::rejected_count(s, reason) < jt::rejected_count(*before, reason) + count) {
        return false;
      }
    }
    return jt::total(s, "rejected") >= jt::total(*before, "rejected") + junk;
  });
  INFO("server log:\n" << server.log());
  if (!after) {
    const auto last = server.stats();
    INFO("last stats: " << (last ? last->dump() : std::string("none")));
    FAIL("the stats never counted every rejected datagram under its reason");
  }
  // ... with the reasons the contract names.
  for (const char* key : {"short_packet", "oversize", "bad_magic", "bad_version", "bad_type",
                          "bad_flags", "bad_length", "bad_format", "bad_tag", "unknown_session",
                          "unknown_room", "replay", "stale", "room_full", "bad_direction"}) {
    CHECK((*after)["rejected"].contains(key));
  }

  // ... nothing was answered ...
  std::array<std::uint8_t, 2048> buffer{};
  CHECK_FALSE(attacker.receive(buffer, kQuiet));

  // ... and the members never noticed: Bob got every one of Alice's packets, in order, and
  // Alice is still reached at her own address (the replay from another port moved nothing).
  std::vector<std::uint32_t> got;
  while (got.size() < alice_sequences.size()) {
    const auto audio = bob.receive_event(Event::audio, kWait);
    REQUIRE(audio);
    CHECK(audio->header.session_id == alice.session_id());
    got.push_back(audio->header.sequence);
  }
  CHECK(got == alice_sequences);
  const std::uint32_t sequence = bob.send_audio();
  const auto back = alice.receive_event(Event::audio, kWait);
  REQUIRE(back);
  CHECK(back->header.sequence == sequence);

  const nlohmann::json* room = jt::find_room(*after, "band");
  REQUIRE(room != nullptr);
  CHECK(room->value("member_count", 0) == 2);
  const nlohmann::json* member = jt::find_member(*room, alice.session_id());
  REQUIRE(member != nullptr);
  CHECK(member->value("address", "") == alice_address);
}

TEST_CASE("a replay from the member's own address is refused too", "[integration]") {
  jt::TempDir dir;
  const std::string secret = jt::random_secret();
  jt::ServerSpec spec;
  spec.rooms = {{"band", secret, 0}};
  jt::BroadcastServer server(dir, spec);
  auto jammers = jt::admit(server, "band", secret, 2);

  jammers[0]->send_audio();
  const std::vector<std::uint8_t> captured(jammers[0]->last_sent().begin(),
                                           jammers[0]->last_sent().end());
  REQUIRE(jammers[1]->receive_event(Event::audio, kWait));
  for (int i = 0; i < 3; ++i) jammers[0]->send_raw(captured);

  // Forwarded once, never again.
  CHECK(jt::count_events(jammers[1]->drain(kQuiet), Event::audio) == 0);

  // A keepalive is always echoed; its copies are not.
  jammers[0]->drain(kQuiet);
  jammers[0]->send_keepalive();
  const std::vector<std::uint8_t> keepalive(jammers[0]->last_sent().begin(),
                                            jammers[0]->last_sent().end());
  for (int i = 0; i < 3; ++i) jammers[0]->send_raw(keepalive);
  const auto echoes = jammers[0]->drain(kQuiet);
  CHECK(jt::count_events(echoes, Event::echo) == 1);
  const auto stats = server.wait_for_stats(
      [](const nlohmann::json& s) { return jt::rejected_count(s, "replay") >= 6; });
  INFO(server.log());
  CHECK(stats);
}
