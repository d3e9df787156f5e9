// The per-packet paths of the wire layer allocate nothing, neither via operator new nor via
// OpenSSL's allocator: seal/decode/verify and the admitted ClientSession's send/receive.
#include "alloc_counter.hpp"
#include <jambox/wire/packet.hpp>
#include <jambox/wire/session.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <cstdint>

namespace {
namespace wire = jambox::wire;
namespace crypto = jambox::crypto;
constexpr std::string_view kRoom = "alloc";
constexpr std::string_view kSecret = "a secret of sufficient length";
}  // namespace

TEST_CASE("an admitted session's packet paths allocate nothing", "[wire][alloc]") {
  REQUIRE(jambox::test::openssl_hooks_installed());
  using Event = wire::ClientSession::Event;
  wire::ClientSession client(kRoom, kSecret, wire::AudioShape{});
  crypto::Aead join(wire::derive_join_key(kRoom, kSecret));
  std::array<std::uint8_t, wire::kMaxDatagram> buf{};
  std::array<std::uint8_t, wire::kMaxDatagram> fwd{};
  wire::PacketView view;

  // Handshake (allowed to allocate: key derivation).
  std::size_t n = client.make_join(buf);
  REQUIRE(wire::decode(std::span(buf).first(n), view) == wire::Reject::none);
  wire::JoinBody jb;
  REQUIRE(wire::parse_join(view, jb) == wire::Reject::none);
  wire::WelcomeBody wb;
  wb.client_nonce = jb.client_nonce;
  wb.session_id = 42;
  crypto::random_bytes(wb.aead_nonce);
  crypto::random_bytes(wb.server_nonce);
  const auto keys = wire::derive_session_keys(kRoom, kSecret, wb.client_nonce, wb.server_nonce, 42);
  crypto::Aead up(keys.up);
  crypto::Aead down(keys.down);
  n = wire::make_welcome(wb, 1, 0, 0, join, buf);
  REQUIRE(client.receive(std::span(buf).first(n), 1, view) == Event::welcomed);

  std::array<float, 64> ch1{};
  std::array<float, 64> ch2{};
  wire::ReplayWindow window;
  bool ok = true;
  auto one_round = [&](std::uint64_t t) {
    ch1[t % 64] = 0.25f;
    // Box sends audio; the server decodes, checks replay, verifies, forwards with a down key.
    const std::size_t a = client.make_audio(ch1, ch2, t, buf);
    wire::PacketView sv;
    ok = ok && a != 0 && wire::decode(std::span(buf).first(a), sv) == wire::Reject::none;
    ok = ok && window.check(sv.header.sequence) == wire::ReplayWindow::Verdict::fresh;
    ok = ok && wire::verify(sv, up);
    ok = ok && window.accept(sv.header.sequence) == wire::ReplayWindow::Verdict::fresh;
    wire::Header h = sv.header;  // forwarded as is: originator's session, encrypted payload
    h.time_us = t + 3;
    const std::size_t f = wire::seal(h, sv.payload, down, fwd);
    ok = ok && client.receive(std::span(fwd).first(f), t + 5, view) == Event::audio;
    std::array<float, 64> o1{};
    std::array<float, 64> o2{};
    wire::decode_audio(view.payload, view.header.format, o1, o2);
    // Echo of a keepalive.
    const std::size_t k = client.make_keepalive(t + 6, buf);
    ok = ok && wire::decode(std::span(buf).first(k), sv) == wire::Reject::none;
    wire::Header e = sv.header;
    e.type = wire::PacketType::echo;
    e.echo_us = sv.header.time_us;
    e.time_us = t + 7;
    const std::size_t en = wire::seal(e, {}, down, fwd);
    ok = ok && client.receive(std::span(fwd).first(en), t + 9, view) == Event::echo;
    // A forged packet takes the rejection path.
    fwd[en - 1] ^= 1;
    ok = ok && client.receive(std::span(fwd).first(en), t + 9, view) == Event::rejected;
  };

  for (std::uint64_t t = 100; t < 110; ++t) one_round(t * 10);  // warm-up
  const auto before = jambox::test::alloc_counts();
  for (std::uint64_t t = 200; t < 1200; ++t) one_round(t * 10);
  const auto used = jambox::test::alloc_counts() - before;
  CHECK(ok);
  CHECK(client.rtt_us() != 0);
  CHECK(used.operator_new == 0);
  CHECK(used.openssl == 0);
}
