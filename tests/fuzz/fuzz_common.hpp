#pragma once
// Shared by the wire fuzz target and its seed generator: a room, and box sessions in each state
// (never joined, JOIN sent, admitted) with the server-side keys that talk to them.

#include <jambox/crypto/crypto.hpp>
#include <jambox/wire/packet.hpp>
#include <jambox/wire/session.hpp>

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

namespace jambox::fuzz {

inline constexpr std::string_view kRoom = "fuzz-room";
inline constexpr std::string_view kSecret = "fuzzing secret, 16+ chars";
inline constexpr std::uint32_t kSessionId = 0x01020304;

struct Sessions {
  crypto::Aead join_key{wire::derive_join_key(kRoom, kSecret)};
  crypto::Aead up_key{crypto::Key{}};
  crypto::Aead down_key{crypto::Key{}};
  wire::ClientSession fresh{kRoom, kSecret, wire::AudioShape{}};
  wire::ClientSession joining{kRoom, kSecret, wire::AudioShape{}};
  wire::ClientSession admitted{kRoom, kSecret, wire::AudioShape{}};
  wire::Nonce16 joining_client_nonce{};
  std::array<std::uint8_t, wire::kMaxDatagram> welcome{};  // the one that admitted `admitted`
  std::size_t welcome_size = 0;

  Sessions() {
    std::array<std::uint8_t, wire::kMaxDatagram> buf{};
    joining_client_nonce = join_nonce(joining, buf);

    wire::WelcomeBody body;
    body.client_nonce = join_nonce(admitted, buf);
    body.aead_nonce.fill(0xA5);
    body.server_nonce.fill(0x5A);
    body.session_id = kSessionId;
    body.member_timeout_ms = 1000;
    body.max_members = 16;
    body.members = 2;
    const wire::SessionKeys keys =
        wire::derive_session_keys(kRoom, kSecret, body.client_nonce, body.server_nonce, kSessionId);
    up_key.rekey(keys.up);
    down_key.rekey(keys.down);
    welcome_size = wire::make_welcome(body, 1'000'000, 0, 0, join_key, welcome);
    wire::PacketView view;
    if (admitted.receive(std::span(welcome).first(welcome_size), 1'000, view) !=
        wire::ClientSession::Event::welcomed) {
      __builtin_trap();  // the harness itself is broken
    }
  }

 private:
  static wire::Nonce16 join_nonce(wire::ClientSession& session,
                                  std::span<std::uint8_t, wire::kMaxDatagram> buf) {
    const std::size_t n = session.make_join(buf);
    wire::PacketView view;
    wire::JoinBody body;
    if (wire::decode(buf.first(n), view) != wire::Reject::none ||
        wire::parse_join(view, body) != wire::Reject::none) {
      __builtin_trap();
    }
    return body.client_nonce;
  }
};

}  // namespace jambox::fuzz
