// libFuzzer target for everything that reads untrusted datagrams in lib/wire: decode, the body
// parsers, verify, decode_audio, the replay window and ClientSession::receive in each state.
//
// Random bytes almost never carry a valid tag, so besides feeding the input as it is, the
// target also re-seals it with the right key (after patching in the client nonce a JOIN answer
// must echo): that drives the code behind authentication (welcome handling, key derivation,
// notices, RTT bookkeeping) with hostile field values too.

#include "fuzz_common.hpp"
#include <jambox/wire/packet.hpp>
#include <jambox/wire/session.hpp>

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>

namespace {

namespace wire = jambox::wire;
namespace crypto = jambox::crypto;
namespace fuzz = jambox::fuzz;

using Buffer = std::array<std::uint8_t, wire::kMaxDatagram>;
using Event = wire::ClientSession::Event;

// Offset of the client nonce in WELCOME and NOTICE bodies (docs/wire-protocol.md).
constexpr std::size_t kWelcomeClientNonce = 12;
constexpr std::size_t kNoticeClientNonce = 16;

void exercise_view(const wire::PacketView& view, crypto::Aead& key) {
  wire::JoinBody join;
  wire::WelcomeBody welcome;
  wire::NoticeBody notice;
  (void)wire::parse_join(view, join);
  (void)wire::parse_welcome(view, welcome);
  (void)wire::parse_notice(view, notice);
  (void)wire::verify(view, key);
  (void)wire::packet_nonce(view.header, view.payload);
  if (view.header.type == wire::PacketType::audio) {
    std::array<float, 256> ch1{};
    std::array<float, 256> ch2{};
    const std::size_t frames = view.header.frames;
    wire::decode_audio(view.payload, view.header.format, std::span(ch1).first(frames),
                       std::span(ch2).first(frames));
  }
  wire::ReplayWindow window;
  (void)window.accept(view.header.sequence);
  (void)window.check(view.header.hold_us);
  (void)window.accept(view.header.room_clock);
}

void receive_all(fuzz::Sessions& s, std::span<const std::uint8_t> datagram, std::uint64_t now) {
  wire::PacketView view;
  (void)s.fresh.receive(datagram, now, view);
  (void)s.joining.receive(datagram, now, view);
  const Event e = s.admitted.receive(datagram, now, view);
  if (e == Event::audio) {
    std::array<float, 256> ch1{};
    std::array<float, 256> ch2{};
    const std::size_t frames = view.header.frames;
    wire::decode_audio(view.payload, view.header.format, std::span(ch1).first(frames),
                       std::span(ch2).first(frames));
  }
  // After hostile input the sessions must still produce well-formed packets.
  Buffer out{};
  const std::size_t n = s.admitted.make_keepalive(now + 1, out);
  if (n != 0) {
    wire::PacketView mine;
    if (wire::decode(std::span(out).first(n), mine) != wire::Reject::none) __builtin_trap();
  }
}

// Re-seals a decodable datagram with the key its receiver expects.
void reseal_and_receive(fuzz::Sessions& s, std::span<const std::uint8_t> datagram) {
  wire::PacketView view;
  if (wire::decode(datagram, view) != wire::Reject::none) return;
  Buffer copy{};
  std::memcpy(copy.data(), datagram.data(), datagram.size());
  const std::size_t body = wire::kHeaderSize + view.header.payload_len;
  const wire::Header& h = view.header;
  const bool join_stage = h.type == wire::PacketType::welcome ||
                          (h.type == wire::PacketType::notice && h.session_id == 0) ||
                          h.type == wire::PacketType::join;
  if (h.type == wire::PacketType::welcome) {
    std::memcpy(copy.data() + wire::kHeaderSize + kWelcomeClientNonce,
                s.joining_client_nonce.data(), s.joining_client_nonce.size());
  } else if (h.type == wire::PacketType::notice && h.session_id == 0) {
    std::memcpy(copy.data() + wire::kHeaderSize + kNoticeClientNonce, s.joining_client_nonce.data(),
                s.joining_client_nonce.size());
  }
  const std::span<const std::uint8_t> payload(copy.data() + wire::kHeaderSize, h.payload_len);
  crypto::Aead& key = join_stage ? s.join_key : s.down_key;
  key.seal(wire::packet_nonce(h, payload), std::span(copy).first(body), {},
           std::span(copy).subspan(body).first<wire::kTagSize>());
  receive_all(s, std::span(copy).first(datagram.size()), h.time_us ^ h.echo_us);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> input(data, size);
  // Building sessions costs several key derivations, so they live across inputs. What an input
  // can change in them is bookkeeping (sequence, echoed times, RTT), except that a re-sealed
  // WELCOME admits `joining`: then the set is rebuilt so every input meets the same states.
  static std::unique_ptr<fuzz::Sessions> holder;
  if (!holder || holder->joining.admitted()) holder = std::make_unique<fuzz::Sessions>();
  fuzz::Sessions& sessions = *holder;

  wire::PacketView view;
  if (wire::decode(input, view) == wire::Reject::none) exercise_view(view, sessions.down_key);
  std::uint64_t now = 0;
  if (size >= 8) std::memcpy(&now, data, sizeof now);
  receive_all(sessions, input, now);
  reseal_and_receive(sessions, input);
  return 0;
}
