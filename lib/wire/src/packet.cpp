#include "bytes.hpp"
#include <jambox/wire/packet.hpp>
#include <jambox/wire/room_audio.hpp>
#include <jambox/wire/session.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace jambox::wire {
namespace {

constexpr std::size_t kOffMagic = 0;
constexpr std::size_t kOffVersion = 2;
constexpr std::size_t kOffType = 3;
constexpr std::size_t kOffFlags = 4;
constexpr std::size_t kOffFormat = 5;
constexpr std::size_t kOffChannels = 6;
constexpr std::size_t kOffReserved = 7;
constexpr std::size_t kOffFrames = 8;
constexpr std::size_t kOffPayloadLen = 10;
constexpr std::size_t kOffSession = 12;
constexpr std::size_t kOffSequence = 16;
constexpr std::size_t kOffHold = 20;
constexpr std::size_t kOffTime = 24;
constexpr std::size_t kOffEcho = 32;
constexpr std::size_t kOffRoomClock = 40;
static_assert(kOffRoomClock + 4 == kHeaderSize);

constexpr std::uint8_t kFirstType = static_cast<std::uint8_t>(PacketType::audio);
constexpr std::uint8_t kLastType = static_cast<std::uint8_t>(PacketType::echo);

bool allowed_frames(std::uint16_t frames) noexcept {
  return frames == 32 || frames == 64 || frames == 128 || frames == 256;
}

// Everything the header can say wrong about the payload for its type.
bool shape_ok(const Header& h) noexcept {
  const bool no_shape = h.frames == 0 && h.channels == 0 && h.format == SampleFormat::none;
  switch (h.type) {
    case PacketType::audio: {
      const std::size_t size = audio_payload_size(h.frames, h.channels, h.format);
      const std::size_t sealed = (h.flags & flags::kEncrypted) != 0 ? kRoomSealOverhead : 0;
      return size != 0 && h.payload_len == size + sealed;
    }
    case PacketType::keepalive:
    case PacketType::leave:
    case PacketType::echo:
      return no_shape && h.payload_len == 0;
    case PacketType::join:
      return no_shape && h.payload_len == kJoinPayload;
    case PacketType::welcome:
      return no_shape && h.payload_len == kWelcomePayload;
    case PacketType::notice:
      return no_shape && h.payload_len == kNoticePayload;
  }
  return false;
}

// Symmetric scaling keeps 0.0 exact and +-1.0 at +-full scale. NaN would otherwise be undefined
// behaviour in the float->int conversion, so it becomes silence.
float clip(float x) noexcept {
  if (std::isnan(x)) return 0.0f;
  return std::clamp(x, -1.0f, 1.0f);
}

constexpr float kScale16 = 32767.0f;
constexpr double kScale24 = 8388607.0;  // double: 24-bit products are not exact in float

std::int32_t round_to_int(double x) noexcept {
  return static_cast<std::int32_t>(x < 0.0 ? x - 0.5 : x + 0.5);
}

void encode_channel(std::span<const float> in, SampleFormat format, std::uint8_t* out) noexcept {
  switch (format) {
    case SampleFormat::s16:
      for (const float x : in) {
        const auto v =
            static_cast<std::int16_t>(round_to_int(static_cast<double>(clip(x) * kScale16)));
        detail::store_be16(out, static_cast<std::uint16_t>(v));
        out += 2;
      }
      return;
    case SampleFormat::s24:
      for (const float x : in) {
        const auto v =
            static_cast<std::uint32_t>(round_to_int(static_cast<double>(clip(x)) * kScale24));
        out[0] = static_cast<std::uint8_t>(v >> 16);
        out[1] = static_cast<std::uint8_t>(v >> 8);
        out[2] = static_cast<std::uint8_t>(v);
        out += 3;
      }
      return;
    case SampleFormat::f32:
      for (const float x : in) {
        const float c = clip(x);
        std::uint32_t bits = 0;
        std::memcpy(&bits, &c, sizeof bits);
        detail::store_be32(out, bits);
        out += 4;
      }
      return;
    case SampleFormat::none:
      return;
  }
}

void decode_channel(const std::uint8_t* in, SampleFormat format, std::span<float> out) noexcept {
  switch (format) {
    case SampleFormat::s16:
      for (float& x : out) {
        const auto v = static_cast<std::int16_t>(detail::load_be16(in));
        // -32768 cannot come from our encoder; clip it so decoded audio stays within [-1, 1].
        x = clip(static_cast<float>(v) / kScale16);
        in += 2;
      }
      return;
    case SampleFormat::s24:
      for (float& x : out) {
        std::uint32_t u = (std::uint32_t{in[0]} << 16) | (std::uint32_t{in[1]} << 8) | in[2];
        if ((u & 0x800000U) != 0) u |= 0xFF000000U;  // sign-extend 24 -> 32 bits
        const auto v = static_cast<std::int32_t>(u);
        x = clip(static_cast<float>(static_cast<double>(v) / kScale24));
        in += 3;
      }
      return;
    case SampleFormat::f32:
      for (float& x : out) {
        const std::uint32_t bits = detail::load_be32(in);
        float f = 0.0f;
        std::memcpy(&f, &bits, sizeof f);
        x = clip(f);  // a peer's NaN or infinity must not reach the mixer
        in += 4;
      }
      return;
    case SampleFormat::none:
      std::fill(out.begin(), out.end(), 0.0f);
      return;
  }
}

}  // namespace

std::string_view reject_name(Reject reason) noexcept {
  switch (reason) {
    case Reject::none:
      return "none";
    case Reject::short_packet:
      return "short_packet";
    case Reject::oversize:
      return "oversize";
    case Reject::bad_magic:
      return "bad_magic";
    case Reject::bad_version:
      return "bad_version";
    case Reject::bad_type:
      return "bad_type";
    case Reject::bad_flags:
      return "bad_flags";
    case Reject::bad_length:
      return "bad_length";
    case Reject::bad_format:
      return "bad_format";
    case Reject::bad_tag:
      return "bad_tag";
    case Reject::unknown_session:
      return "unknown_session";
    case Reject::unknown_room:
      return "unknown_room";
    case Reject::replay:
      return "replay";
    case Reject::stale:
      return "stale";
    case Reject::room_full:
      return "room_full";
    case Reject::bad_direction:
      return "bad_direction";
    case Reject::ticket_expired:
      return "ticket_expired";
    case Reject::room_key:
      return "room_key";
    case Reject::count_:
      break;
  }
  return "unknown";
}

std::size_t bytes_per_sample(SampleFormat format) noexcept {
  switch (format) {
    case SampleFormat::s16:
      return 2;
    case SampleFormat::s24:
      return 3;
    case SampleFormat::f32:
      return 4;
    case SampleFormat::none:
      return 0;
  }
  return 0;
}

std::size_t audio_payload_size(std::uint16_t frames, std::uint8_t channels,
                               SampleFormat format) noexcept {
  if (!allowed_frames(frames) || channels != kAudioChannels) return 0;
  const std::size_t size = std::size_t{frames} * channels * bytes_per_sample(format);
  return size <= kMaxPayload ? size : 0;
}

bool is_server_to_box(PacketType type) noexcept {
  return type == PacketType::welcome || type == PacketType::notice || type == PacketType::echo;
}

Reject decode(std::span<const std::uint8_t> datagram, PacketView& out) noexcept {
  const std::size_t size = datagram.size();
  if (size > kMaxDatagram) return Reject::oversize;
  if (size < kMinDatagram) return Reject::short_packet;
  const std::uint8_t* p = datagram.data();
  if (detail::load_be16(p + kOffMagic) != kMagic) return Reject::bad_magic;
  if (p[kOffVersion] != kVersion) return Reject::bad_version;
  const std::uint8_t type = p[kOffType];
  if (type < kFirstType || type > kLastType) return Reject::bad_type;
  const std::uint8_t flag_bits = p[kOffFlags];
  if (p[kOffReserved] != 0 || (flag_bits & static_cast<std::uint8_t>(~flags::kKnown)) != 0 ||
      ((flag_bits & flags::kEncrypted) != 0 &&
       type != static_cast<std::uint8_t>(PacketType::audio))) {
    return Reject::bad_flags;
  }
  const std::uint16_t payload_len = detail::load_be16(p + kOffPayloadLen);
  if (std::size_t{payload_len} + kHeaderSize + kTagSize != size) return Reject::bad_length;

  Header h;
  h.type = static_cast<PacketType>(type);
  h.flags = flag_bits;
  // Any byte value is representable in the enum (fixed underlying type); shape_ok vets it.
  h.format = static_cast<SampleFormat>(p[kOffFormat]);
  h.channels = p[kOffChannels];
  h.frames = detail::load_be16(p + kOffFrames);
  h.payload_len = payload_len;
  if (!shape_ok(h)) return Reject::bad_format;
  h.session_id = detail::load_be32(p + kOffSession);
  h.sequence = detail::load_be32(p + kOffSequence);
  h.hold_us = detail::load_be32(p + kOffHold);
  h.time_us = detail::load_be64(p + kOffTime);
  h.echo_us = detail::load_be64(p + kOffEcho);
  h.room_clock = detail::load_be32(p + kOffRoomClock);

  out.header = h;
  out.authenticated = datagram.first(kHeaderSize + payload_len);
  out.payload = datagram.subspan(kHeaderSize, payload_len);
  out.tag = datagram.subspan(kHeaderSize + payload_len, kTagSize);
  return Reject::none;
}

void write_header(const Header& header, std::span<std::uint8_t, kHeaderSize> out) noexcept {
  std::uint8_t* p = out.data();
  detail::store_be16(p + kOffMagic, kMagic);
  p[kOffVersion] = kVersion;
  p[kOffType] = static_cast<std::uint8_t>(header.type);
  p[kOffFlags] = header.flags;
  p[kOffFormat] = static_cast<std::uint8_t>(header.format);
  p[kOffChannels] = header.channels;
  p[kOffReserved] = 0;
  detail::store_be16(p + kOffFrames, header.frames);
  detail::store_be16(p + kOffPayloadLen, header.payload_len);
  detail::store_be32(p + kOffSession, header.session_id);
  detail::store_be32(p + kOffSequence, header.sequence);
  detail::store_be32(p + kOffHold, header.hold_us);
  detail::store_be64(p + kOffTime, header.time_us);
  detail::store_be64(p + kOffEcho, header.echo_us);
  detail::store_be32(p + kOffRoomClock, header.room_clock);
}

crypto::Nonce packet_nonce(const Header& header, std::span<const std::uint8_t> payload) noexcept {
  crypto::Nonce nonce{};
  const bool random_nonce = header.type == PacketType::join || header.type == PacketType::welcome ||
                            (header.type == PacketType::notice && header.session_id == 0);
  if (random_nonce) {
    // Bodies that carry a nonce are always longer than one; a short span leaves zeros (the
    // decoder never lets such a packet through, and the bound keeps this safe regardless).
    if (!payload.empty()) {
      std::memcpy(nonce.data(), payload.data(), std::min(payload.size(), nonce.size()));
    }
    return nonce;
  }
  // The type byte separates the nonce spaces of packet types that share (session, sequence)
  // counters, e.g. a box's audio sequence echoed back by the server.
  nonce[0] = static_cast<std::uint8_t>(header.type);
  detail::store_be32(nonce.data() + 4, header.session_id);
  detail::store_be32(nonce.data() + 8, header.sequence);
  return nonce;
}

std::size_t seal_in_place(const Header& header, crypto::Aead& key, std::span<std::uint8_t> buffer) {
  const std::size_t body_end = kHeaderSize + header.payload_len;
  if (header.payload_len > kMaxPayload || buffer.size() < body_end + kTagSize) return 0;
  write_header(header, buffer.first<kHeaderSize>());
  const crypto::Nonce nonce = packet_nonce(header, buffer.subspan(kHeaderSize, header.payload_len));
  key.seal(nonce, buffer.first(body_end), {}, buffer.subspan(body_end).first<kTagSize>());
  return body_end + kTagSize;
}

std::size_t seal(Header header, std::span<const std::uint8_t> payload, crypto::Aead& key,
                 std::span<std::uint8_t> out) {
  if (payload.size() > kMaxPayload || out.size() < kHeaderSize + payload.size() + kTagSize) {
    return 0;
  }
  header.payload_len = static_cast<std::uint16_t>(payload.size());
  // memmove: callers may pass a payload that already sits inside `out`.
  if (!payload.empty()) std::memmove(out.data() + kHeaderSize, payload.data(), payload.size());
  return seal_in_place(header, key, out);
}

bool verify(const PacketView& packet, crypto::Aead& key) noexcept {
  if (packet.tag.size() != kTagSize) return false;
  const crypto::Nonce nonce = packet_nonce(packet.header, packet.payload);
  // v1 authenticates without encrypting: header and payload are all associated data.
  return key.open(nonce, packet.authenticated, {}, packet.tag.first<kTagSize>());
}

void encode_audio(std::span<const float> ch1, std::span<const float> ch2, SampleFormat format,
                  std::span<std::uint8_t> out) noexcept {
  const std::size_t bps = bytes_per_sample(format);
  if (bps == 0) return;
  // Never write past `out`, whatever the caller passed.
  const std::size_t frames = std::min({ch1.size(), ch2.size(), out.size() / (2 * bps)});
  encode_channel(ch1.first(frames), format, out.data());
  encode_channel(ch2.first(frames), format, out.data() + frames * bps);
}

void decode_audio(std::span<const std::uint8_t> payload, SampleFormat format, std::span<float> ch1,
                  std::span<float> ch2) noexcept {
  const std::size_t bps = bytes_per_sample(format);
  if (bps == 0) {
    std::fill(ch1.begin(), ch1.end(), 0.0f);
    std::fill(ch2.begin(), ch2.end(), 0.0f);
    return;
  }
  // Channel 2 starts after all of the payload's channel-1 samples, however many the caller wants.
  const std::size_t payload_frames = payload.size() / (2 * bps);
  const std::size_t frames = std::min({ch1.size(), ch2.size(), payload_frames});
  decode_channel(payload.data(), format, ch1.first(frames));
  decode_channel(payload.data() + payload_frames * bps, format, ch2.first(frames));
  // Frames the payload does not cover are silence rather than stale samples.
  std::fill(ch1.begin() + static_cast<std::ptrdiff_t>(frames), ch1.end(), 0.0f);
  std::fill(ch2.begin() + static_cast<std::ptrdiff_t>(frames), ch2.end(), 0.0f);
}

}  // namespace jambox::wire
