#pragma once
// The jam packet: jambox's UDP datagram, version 1. Full description in docs/wire-protocol.md.
//
// Layout (network byte order, 44-byte header, payload, 16-byte tag):
//
//   off size field
//    0   2   magic        0x4A42 ("JB")
//    2   1   version      1
//    3   1   type         PacketType
//    4   1   flags        bit 0: audio payload encrypted with the room key (room_audio.hpp)
//    5   1   format       SampleFormat (audio) or 0
//    6   1   channels     2 (audio) or 0
//    7   1   reserved     0
//    8   2   frames       32, 64, 128 or 256 (audio) or 0
//   10   2   payload_len  bytes of payload that follow the header
//   12   4   session_id   sender's session (server->box audio: the originating jammer's session)
//   16   4   sequence     per-sender counter (server->box audio: the originator's sequence)
//   20   4   hold_us      time between receiving the packet whose time_us is echoed and sending
//   24   8   time_us      sender's monotonic clock at sending (this hop)
//   32   8   echo_us      latest time_us received from the other end of this hop
//   40   4   room_clock   server-stamped room clock in 48 kHz samples (0 from boxes)
//   44   n   payload      audio: planar, channel 1 then channel 2, big-endian samples
//  44+n 16   tag          ChaCha20-Poly1305 tag over bytes [0, 44+n)
//
// Round trip of a hop, NTP style and free of wall clocks: rtt = now - echo_us - hold_us.
// A datagram is never larger than 1200 bytes, so it never fragments on any sane path.

#include <jambox/crypto/crypto.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace jambox::wire {

inline constexpr std::uint16_t kMagic = 0x4A42;
inline constexpr std::uint8_t kVersion = 1;
inline constexpr std::size_t kHeaderSize = 44;
inline constexpr std::size_t kTagSize = crypto::kTagSize;
inline constexpr std::size_t kMaxDatagram = 1200;
inline constexpr std::size_t kMaxPayload = kMaxDatagram - kHeaderSize - kTagSize;  // 1140
inline constexpr std::size_t kMinDatagram = kHeaderSize + kTagSize;
inline constexpr std::uint8_t kAudioChannels = 2;
inline constexpr std::uint32_t kSampleRate = 48000;

enum class PacketType : std::uint8_t {
  audio = 1,      // box -> server -> other boxes of the room
  keepalive = 2,  // box -> server when it has no audio to send; answered with an echo
  leave = 3,      // box -> server: leave the room now
  join = 4,       // box -> server: admission request (authenticated with the room's join key)
  welcome = 5,    // server -> box: admitted (join key)
  notice = 6,     // server -> box: room full, room closed, server stopping
  echo = 7,       // server -> box: header-only answer so a lone jammer still measures its RTT
};

enum class SampleFormat : std::uint8_t { none = 0, s16 = 1, s24 = 2, f32 = 3 };

namespace flags {
inline constexpr std::uint8_t kEncrypted = 0x01;    // audio only: payload sealed with the room key
inline constexpr std::uint8_t kKnown = kEncrypted;  // flags a v1 decoder accepts
}  // namespace flags

// Why a datagram was refused. Every refusal is counted under one of these.
enum class Reject : std::uint8_t {
  none = 0,
  short_packet,  // smaller than header + tag
  oversize,      // larger than kMaxDatagram
  bad_magic,
  bad_version,
  bad_type,
  bad_flags,        // unknown or not yet supported flag bits
  bad_length,       // payload_len disagrees with the datagram size
  bad_format,       // frames/channels/format/payload size inconsistent for the type
  bad_tag,          // authentication failed
  unknown_session,  // session id not admitted
  unknown_room,     // join for a room the server does not host
  replay,           // sequence already seen
  stale,            // sequence older than the replay window
  room_full,        // join refused, room at its member limit
  bad_direction,    // a server->box type sent to the server, or the reverse
  ticket_expired,   // join with a ticket past its expiry
  room_key,         // encrypted audio this box cannot open (no or another room key, tampered)
  count_
};
inline constexpr std::size_t kRejectCount = static_cast<std::size_t>(Reject::count_);
[[nodiscard]] std::string_view reject_name(Reject reason) noexcept;

struct Header {
  PacketType type = PacketType::keepalive;
  std::uint8_t flags = 0;
  SampleFormat format = SampleFormat::none;
  std::uint8_t channels = 0;
  std::uint16_t frames = 0;
  std::uint16_t payload_len = 0;
  std::uint32_t session_id = 0;
  std::uint32_t sequence = 0;
  std::uint32_t hold_us = 0;
  std::uint64_t time_us = 0;
  std::uint64_t echo_us = 0;
  std::uint32_t room_clock = 0;
};

// A decoded, not yet authenticated datagram. Spans point into the caller's buffer.
struct PacketView {
  Header header;
  std::span<const std::uint8_t> authenticated;  // header + payload: what the tag covers
  std::span<const std::uint8_t> payload;
  std::span<const std::uint8_t> tag;  // kTagSize bytes
};

[[nodiscard]] std::size_t bytes_per_sample(SampleFormat format) noexcept;  // 0 for none/unknown
// Payload bytes of an audio packet, 0 when the shape is not allowed (bad frames/channels/format
// or larger than kMaxPayload: e.g. 256 frames of s24 or f32 do not fit in one datagram).
[[nodiscard]] std::size_t audio_payload_size(std::uint16_t frames, std::uint8_t channels,
                                             SampleFormat format) noexcept;
[[nodiscard]] bool is_server_to_box(PacketType type) noexcept;  // welcome, notice, echo

// Strict decoder: validates everything that can be checked without a key. Never reads outside
// `datagram`. On success fills `out` and returns Reject::none; on failure `out` is untouched.
// Checks, first failure wins: oversize, short_packet, bad_magic, bad_version, bad_type,
// bad_flags (unknown flag bits, the encrypted flag on anything but audio, or reserved byte != 0),
// bad_length (payload_len + 60 != size), bad_format (audio shape, plus the room seal's 24 bytes
// when encrypted / control packets with a shape / wrong handshake body size).
[[nodiscard]] Reject decode(std::span<const std::uint8_t> datagram, PacketView& out) noexcept;

// Serialises the header into the first kHeaderSize bytes of `out`.
void write_header(const Header& header, std::span<std::uint8_t, kHeaderSize> out) noexcept;

// The AEAD nonce of a packet: [type, 0, 0, 0, session_id, sequence] for session packets; the
// first 12 payload bytes for join, welcome, and notices with session_id 0 (random nonces, since
// their key is long-lived). Nonces never repeat under one key because senders never reuse a
// sequence number and the server forwards each (session, sequence) at most once.
[[nodiscard]] crypto::Nonce packet_nonce(const Header& header,
                                         std::span<const std::uint8_t> payload) noexcept;

// Writes header (payload_len taken from header), expects the payload already at
// buffer[kHeaderSize, kHeaderSize + payload_len), and appends the tag. Returns the datagram size.
// `buffer` must hold kHeaderSize + payload_len + kTagSize bytes, else nothing is written and 0
// is returned (also for payload_len > kMaxPayload). No allocation.
std::size_t seal_in_place(const Header& header, crypto::Aead& key, std::span<std::uint8_t> buffer);

// Copies `payload` after the header and seals. Sets payload_len from payload.size(). Returns 0
// when it does not fit in `out` or in a datagram.
std::size_t seal(Header header, std::span<const std::uint8_t> payload, crypto::Aead& key,
                 std::span<std::uint8_t> out);

// Verifies the tag of a decoded packet with `key`.
[[nodiscard]] bool verify(const PacketView& packet, crypto::Aead& key) noexcept;

// Audio sample conversion between float [-1, 1] (clipped) and the payload's big-endian planar
// layout. Symmetric scaling: 0.0 encodes to 0 exactly. `out`/`payload` must be
// audio_payload_size(frames, 2, format) bytes.
void encode_audio(std::span<const float> ch1, std::span<const float> ch2, SampleFormat format,
                  std::span<std::uint8_t> out) noexcept;
void decode_audio(std::span<const std::uint8_t> payload, SampleFormat format, std::span<float> ch1,
                  std::span<float> ch2) noexcept;

}  // namespace jambox::wire
