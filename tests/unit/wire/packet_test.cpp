#include <jambox/wire/packet.hpp>
#include <jambox/wire/session.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <set>
#include <vector>

namespace {

namespace wire = jambox::wire;
namespace crypto = jambox::crypto;
using wire::PacketType;
using wire::Reject;
using wire::SampleFormat;
using Buffer = std::array<std::uint8_t, 2048>;

crypto::Key key_of(std::uint8_t fill) {
  crypto::Key key{};
  key.fill(fill);
  return key;
}

wire::Header audio_header(std::uint16_t frames, SampleFormat format) {
  wire::Header h;
  h.type = PacketType::audio;
  h.format = format;
  h.channels = 2;
  h.frames = frames;
  h.payload_len = static_cast<std::uint16_t>(wire::audio_payload_size(frames, 2, format));
  h.session_id = 0xA1B2C3D4;
  h.sequence = 0xFFFFFFFE;
  h.hold_us = 0x01020304;
  h.time_us = 0x1122334455667788;
  h.echo_us = 0x8877665544332211;
  h.room_clock = 0xCAFEBABE;
  return h;
}

// A valid, sealed 64-frame s16 audio datagram.
std::vector<std::uint8_t> sample_audio(crypto::Aead& key) {
  Buffer buf{};
  const wire::Header h = audio_header(64, SampleFormat::s16);
  for (std::size_t i = 0; i < h.payload_len; ++i)
    buf[wire::kHeaderSize + i] = static_cast<std::uint8_t>(i);
  const std::size_t size = wire::seal_in_place(h, key, buf);
  return {buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(size)};
}

Reject decode(const std::vector<std::uint8_t>& datagram) {
  wire::PacketView view;
  return wire::decode(datagram, view);
}

// A header-only datagram of `type` with the given body size (not sealed: decode ignores the tag).
std::vector<std::uint8_t> raw(const wire::Header& h) {
  std::vector<std::uint8_t> d(wire::kHeaderSize + h.payload_len + wire::kTagSize, 0);
  wire::write_header(h, std::span(d).first<wire::kHeaderSize>());
  return d;
}

wire::Header bare(PacketType type, std::size_t payload_len = 0) {
  wire::Header h;
  h.type = type;
  h.payload_len = static_cast<std::uint16_t>(payload_len);
  return h;
}

double tolerance(SampleFormat format) {
  switch (format) {
    case SampleFormat::s16:
      return 1.0 / 32767.0;
    case SampleFormat::s24:
      return 1.0 / 8388607.0;
    default:
      return 0.0;
  }
}

}  // namespace

TEST_CASE("payload sizes of every shape", "[wire]") {
  CHECK(wire::bytes_per_sample(SampleFormat::s16) == 2);
  CHECK(wire::bytes_per_sample(SampleFormat::s24) == 3);
  CHECK(wire::bytes_per_sample(SampleFormat::f32) == 4);
  CHECK(wire::bytes_per_sample(SampleFormat::none) == 0);
  CHECK(wire::bytes_per_sample(static_cast<SampleFormat>(9)) == 0);

  CHECK(wire::audio_payload_size(64, 2, SampleFormat::s16) == 256);
  CHECK(wire::audio_payload_size(32, 2, SampleFormat::s24) == 192);
  CHECK(wire::audio_payload_size(128, 2, SampleFormat::f32) == 1024);
  CHECK(wire::audio_payload_size(256, 2, SampleFormat::s16) == 1024);
  // Do not fit in one 1200-byte datagram.
  CHECK(wire::audio_payload_size(256, 2, SampleFormat::s24) == 0);
  CHECK(wire::audio_payload_size(256, 2, SampleFormat::f32) == 0);
  // Not allowed at all.
  CHECK(wire::audio_payload_size(48, 2, SampleFormat::s16) == 0);
  CHECK(wire::audio_payload_size(0, 2, SampleFormat::s16) == 0);
  CHECK(wire::audio_payload_size(64, 1, SampleFormat::s16) == 0);
  CHECK(wire::audio_payload_size(64, 0, SampleFormat::s16) == 0);
  CHECK(wire::audio_payload_size(64, 2, SampleFormat::none) == 0);
  CHECK(wire::audio_payload_size(64, 2, static_cast<SampleFormat>(4)) == 0);
  // The default shape: a 316-byte datagram, far below the limit.
  CHECK(wire::kHeaderSize + wire::audio_payload_size(64, 2, SampleFormat::s16) + wire::kTagSize ==
        316);
}

TEST_CASE("every valid audio shape round-trips through seal, decode, verify and the codec",
          "[wire]") {
  crypto::Aead key(key_of(1));
  crypto::Aead other(key_of(2));
  int shapes = 0;
  for (const std::uint16_t frames :
       {std::uint16_t{32}, std::uint16_t{64}, std::uint16_t{128}, std::uint16_t{256}}) {
    for (const SampleFormat format : {SampleFormat::s16, SampleFormat::s24, SampleFormat::f32}) {
      const std::size_t size = wire::audio_payload_size(frames, 2, format);
      if (size == 0) {
        CHECK(frames == 256);
        CHECK(format != SampleFormat::s16);
        continue;
      }
      ++shapes;
      CAPTURE(frames, static_cast<int>(format));
      std::vector<float> ch1(frames);
      std::vector<float> ch2(frames);
      for (std::size_t i = 0; i < frames; ++i) {
        ch1[i] = static_cast<float>(std::sin(static_cast<double>(i) * 0.1) * 0.9);
        ch2[i] = static_cast<float>(-0.5 + static_cast<double>(i) / frames);
      }
      ch1[0] = 0.0f;
      ch1[1] = 1.0f;
      ch1[2] = -1.0f;
      ch1[3] = 1.5f;   // clipped
      ch1[4] = -7.0f;  // clipped
      ch1[5] = std::numeric_limits<float>::quiet_NaN();
      ch1[6] = std::numeric_limits<float>::infinity();
      ch2[0] = -0.0f;

      Buffer buf{};
      wire::encode_audio(ch1, ch2, format, std::span(buf).subspan(wire::kHeaderSize, size));
      const wire::Header h = audio_header(frames, format);
      const std::size_t n = wire::seal_in_place(h, key, buf);
      REQUIRE(n == wire::kHeaderSize + size + wire::kTagSize);
      REQUIRE(n <= wire::kMaxDatagram);

      wire::PacketView view;
      REQUIRE(wire::decode(std::span(buf).first(n), view) == Reject::none);
      CHECK(view.header.type == PacketType::audio);
      CHECK(view.header.frames == frames);
      CHECK(view.header.format == format);
      CHECK(view.header.channels == 2);
      CHECK(view.header.payload_len == size);
      CHECK(view.header.session_id == h.session_id);
      CHECK(view.header.sequence == h.sequence);
      CHECK(view.header.hold_us == h.hold_us);
      CHECK(view.header.time_us == h.time_us);
      CHECK(view.header.echo_us == h.echo_us);
      CHECK(view.header.room_clock == h.room_clock);
      CHECK(view.payload.size() == size);
      CHECK(view.authenticated.size() == wire::kHeaderSize + size);
      CHECK(view.tag.size() == wire::kTagSize);
      CHECK(wire::verify(view, key));
      CHECK_FALSE(wire::verify(view, other));

      std::vector<float> out1(frames, 9.0f);
      std::vector<float> out2(frames, 9.0f);
      wire::decode_audio(view.payload, format, out1, out2);
      const double tol = tolerance(format);
      for (std::size_t i = 0; i < frames; ++i) {
        const float want1 = i == 3 || i == 6 ? 1.0f : i == 4 ? -1.0f : i == 5 ? 0.0f : ch1[i];
        CHECK(std::abs(static_cast<double>(out1[i] - want1)) <= tol);
        CHECK(std::abs(static_cast<double>(out2[i] - ch2[i])) <= tol);
      }
      CHECK(out1[0] == 0.0f);  // silence is exact
      CHECK(out2[0] == 0.0f);
      CHECK(out1[5] == 0.0f);  // NaN became silence
      CHECK(out1[1] == 1.0f);  // full scale is exact
      CHECK(out1[2] == -1.0f);
    }
  }
  CHECK(shapes == 10);
}

TEST_CASE("the codec layout is planar big-endian with symmetric scaling", "[wire]") {
  const std::array<float, 2> ch1{0.5f, -1.0f};
  const std::array<float, 2> ch2{1.0f, 0.0f};
  std::array<std::uint8_t, 8> s16{};
  wire::encode_audio(ch1, ch2, SampleFormat::s16, s16);
  // 0.5 * 32767 = 16383.5 -> 16384 (0x4000); -32767 = 0x8001; 32767 = 0x7FFF; 0.
  CHECK(s16 == std::array<std::uint8_t, 8>{0x40, 0x00, 0x80, 0x01, 0x7F, 0xFF, 0x00, 0x00});

  std::array<std::uint8_t, 12> s24{};
  wire::encode_audio(ch1, ch2, SampleFormat::s24, s24);
  CHECK(s24 == std::array<std::uint8_t, 12>{0x40, 0x00, 0x00, 0x80, 0x00, 0x01, 0x7F, 0xFF, 0xFF,
                                            0x00, 0x00, 0x00});

  std::array<std::uint8_t, 16> f32{};
  wire::encode_audio(ch1, ch2, SampleFormat::f32, f32);
  CHECK(f32 == std::array<std::uint8_t, 16>{0x3F, 0x00, 0x00, 0x00, 0xBF, 0x80, 0x00, 0x00, 0x3F,
                                            0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00});

  SECTION("decoding clips what an encoder could never produce") {
    std::array<std::uint8_t, 4> min16{0x80, 0x00, 0x80, 0x00};  // -32768
    std::array<float, 1> a{};
    std::array<float, 1> b{};
    wire::decode_audio(min16, SampleFormat::s16, a, b);
    CHECK(a[0] == -1.0f);
    std::array<std::uint8_t, 8> nan_inf{0x7F, 0xC0, 0x00, 0x00, 0x7F, 0x80, 0x00, 0x00};
    wire::decode_audio(nan_inf, SampleFormat::f32, a, b);
    CHECK(a[0] == 0.0f);
    CHECK(b[0] == 1.0f);
  }
  SECTION("fewer output frames than the payload holds still find channel 2") {
    std::array<float, 1> a{};
    std::array<float, 1> b{};
    wire::decode_audio(s16, SampleFormat::s16, a, b);
    CHECK(std::abs(a[0] - 0.5f) < 1e-4f);
    CHECK(b[0] == 1.0f);  // ch2[0], not ch1[1] (-1.0)
  }
  SECTION("short buffers are never overrun") {
    std::array<std::uint8_t, 6> small{};  // room for 1 frame of s24 stereo
    const std::array<float, 4> in{0.25f, 0.25f, 0.25f, 0.25f};
    wire::encode_audio(in, in, SampleFormat::s24, small);
    std::array<float, 4> o1{};
    std::array<float, 4> o2{};
    o1.fill(5.0f);
    wire::decode_audio(small, SampleFormat::s24, o1, o2);
    CHECK(std::abs(o1[0] - 0.25f) < 1e-6f);
    CHECK(o1[1] == 0.0f);  // not covered by the payload: silence
  }
}

TEST_CASE("every rejection reason of the decoder", "[wire]") {
  crypto::Aead key(key_of(3));
  const std::vector<std::uint8_t> good = sample_audio(key);
  REQUIRE(good.size() == 316);
  REQUIRE(decode(good) == Reject::none);

  SECTION("sizes") {
    CHECK(decode({}) == Reject::short_packet);
    CHECK(decode(std::vector<std::uint8_t>(good.begin(), good.begin() + 59)) ==
          Reject::short_packet);
    std::vector<std::uint8_t> big(1201, 0);
    CHECK(decode(big) == Reject::oversize);
    big.resize(65536);
    CHECK(decode(big) == Reject::oversize);
    // Size is checked before anything else.
    std::vector<std::uint8_t> junk(10, 0xFF);
    CHECK(decode(junk) == Reject::short_packet);
  }
  SECTION("magic and version") {
    auto d = good;
    d[0] ^= 0x01;
    CHECK(decode(d) == Reject::bad_magic);
    d = good;
    d[1] = 0;
    CHECK(decode(d) == Reject::bad_magic);
    d = good;
    d[2] = 2;
    CHECK(decode(d) == Reject::bad_version);
    d[2] = 0;
    CHECK(decode(d) == Reject::bad_version);
  }
  SECTION("type") {
    for (const int type : {0, 8, 9, 0x81, 255}) {
      auto d = good;
      d[3] = static_cast<std::uint8_t>(type);
      CHECK(decode(d) == Reject::bad_type);
    }
  }
  SECTION("flags and reserved byte") {
    for (const int flag : {0x02, 0x80, 0x03}) {
      auto d = good;
      d[4] = static_cast<std::uint8_t>(flag);
      CHECK(decode(d) == Reject::bad_flags);
    }
    // Encrypted audio carries the room seal's 24 bytes; without them the shape is wrong.
    auto d = good;
    d[4] = 0x01;
    CHECK(decode(d) == Reject::bad_format);
    // Only audio can be encrypted.
    wire::Header keepalive;
    keepalive.type = PacketType::keepalive;
    keepalive.flags = wire::flags::kEncrypted;
    std::vector<std::uint8_t> k(wire::kMinDatagram);
    REQUIRE(wire::seal(keepalive, {}, key, k) == k.size());
    CHECK(decode(k) == Reject::bad_flags);
    d = good;
    d[7] = 1;
    CHECK(decode(d) == Reject::bad_flags);
  }
  SECTION("length field disagreeing with the datagram size") {
    auto d = good;
    d[11] = static_cast<std::uint8_t>(d[11] + 1);
    CHECK(decode(d) == Reject::bad_length);
    d = good;
    d[11] = static_cast<std::uint8_t>(d[11] - 1);
    CHECK(decode(d) == Reject::bad_length);
    d = good;
    d.push_back(0);  // one trailing byte
    CHECK(decode(d) == Reject::bad_length);
  }
  SECTION("audio shape") {
    struct Case {
      std::uint16_t frames;
      std::uint8_t channels;
      std::uint8_t format;
      std::uint16_t payload;
    };
    for (const Case c :
         {Case{48, 2, 1, 192}, Case{64, 1, 1, 128}, Case{64, 3, 1, 384}, Case{64, 2, 0, 256},
          Case{64, 2, 4, 256}, Case{64, 2, 2, 256}, Case{256, 2, 3, 1140}, Case{256, 2, 2, 1140},
          Case{0, 2, 1, 0}, Case{64, 2, 1, 0}}) {
      wire::Header h = bare(PacketType::audio, c.payload);
      h.frames = c.frames;
      h.channels = c.channels;
      h.format = static_cast<SampleFormat>(c.format);
      CAPTURE(c.frames, c.channels, c.format, c.payload);
      CHECK(decode(raw(h)) == Reject::bad_format);
    }
  }
  SECTION("control packets carry no audio shape and fixed body sizes") {
    for (const PacketType type : {PacketType::keepalive, PacketType::leave, PacketType::echo}) {
      CHECK(decode(raw(bare(type))) == Reject::none);
      CHECK(decode(raw(bare(type, 4))) == Reject::bad_format);
      wire::Header h = bare(type);
      h.frames = 64;
      CHECK(decode(raw(h)) == Reject::bad_format);
      h = bare(type);
      h.channels = 2;
      CHECK(decode(raw(h)) == Reject::bad_format);
      h = bare(type);
      h.format = SampleFormat::s16;
      CHECK(decode(raw(h)) == Reject::bad_format);
    }
    const std::pair<PacketType, std::size_t> bodies[] = {
        {PacketType::join, wire::kJoinPayload},
        {PacketType::welcome, wire::kWelcomePayload},
        {PacketType::notice, wire::kNoticePayload}};
    for (const auto& [type, size] : bodies) {
      CHECK(decode(raw(bare(type, size))) == Reject::none);
      CHECK(decode(raw(bare(type, size - 1))) == Reject::bad_format);
      CHECK(decode(raw(bare(type, size + 1))) == Reject::bad_format);
      CHECK(decode(raw(bare(type))) == Reject::bad_format);
      wire::Header h = bare(type, size);
      h.frames = 64;
      CHECK(decode(raw(h)) == Reject::bad_format);
    }
  }
  SECTION("a flipped bit anywhere is never accepted") {
    int tag_failures = 0;
    for (std::size_t i = 0; i < good.size(); ++i) {
      for (const std::uint8_t bit : {std::uint8_t{0x01}, std::uint8_t{0x80}}) {
        auto d = good;
        d[i] ^= bit;
        wire::PacketView view;
        const Reject r = wire::decode(d, view);
        CAPTURE(i, static_cast<int>(bit));
        if (r == Reject::none) {
          CHECK_FALSE(wire::verify(view, key));
          ++tag_failures;
        }
      }
    }
    // Every byte of the time/session fields, payload and tag decodes and then fails the tag.
    CHECK(tag_failures >= 2 * (316 - 12));
  }
  SECTION("wrong key") {
    crypto::Aead other(key_of(4));
    wire::PacketView view;
    REQUIRE(wire::decode(good, view) == Reject::none);
    CHECK(wire::verify(view, key));
    CHECK_FALSE(wire::verify(view, other));
  }
}

TEST_CASE("reject names", "[wire]") {
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < wire::kRejectCount; ++i) {
    const auto name = wire::reject_name(static_cast<Reject>(i));
    CHECK(name != "unknown");
    names.insert(name);
  }
  CHECK(names.size() == wire::kRejectCount);
  CHECK(wire::reject_name(Reject::count_) == "unknown");
}

TEST_CASE("header fields survive write_header and decode at their extremes", "[wire]") {
  for (const std::uint64_t v : {std::uint64_t{0}, std::uint64_t{1}, ~std::uint64_t{0}}) {
    wire::Header h = bare(PacketType::keepalive);
    h.session_id = static_cast<std::uint32_t>(v);
    h.sequence = static_cast<std::uint32_t>(v);
    h.hold_us = static_cast<std::uint32_t>(v);
    h.time_us = v;
    h.echo_us = v ^ 0x5555;
    h.room_clock = static_cast<std::uint32_t>(v);
    wire::PacketView view;
    const auto d = raw(h);
    REQUIRE(wire::decode(d, view) == Reject::none);
    CHECK(view.header.session_id == h.session_id);
    CHECK(view.header.sequence == h.sequence);
    CHECK(view.header.hold_us == h.hold_us);
    CHECK(view.header.time_us == h.time_us);
    CHECK(view.header.echo_us == h.echo_us);
    CHECK(view.header.room_clock == h.room_clock);
  }
  // Byte order and offsets as documented.
  wire::Header h = bare(PacketType::echo);
  h.session_id = 0x01020304;
  h.sequence = 0x05060708;
  const auto d = raw(h);
  CHECK(d[0] == 0x4A);
  CHECK(d[1] == 0x42);
  CHECK(d[2] == 1);
  CHECK(d[3] == 7);
  CHECK(d[12] == 0x01);
  CHECK(d[15] == 0x04);
  CHECK(d[16] == 0x05);
  CHECK(d[19] == 0x08);
}

TEST_CASE("packet nonces", "[wire]") {
  SECTION("session packets: [type, 0, 0, 0, session BE, sequence BE]") {
    wire::Header h = bare(PacketType::audio);
    h.session_id = 0x11223344;
    h.sequence = 0x55667788;
    CHECK(wire::packet_nonce(h, {}) ==
          crypto::Nonce{1, 0, 0, 0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88});
  }
  SECTION("distinct for distinct (type, session, sequence)") {
    std::set<crypto::Nonce> seen;
    int count = 0;
    for (const PacketType type : {PacketType::audio, PacketType::keepalive, PacketType::leave,
                                  PacketType::echo, PacketType::notice}) {
      for (const std::uint32_t session : {1U, 2U, 0x100U, 0xFFFFFFFFU}) {
        for (const std::uint32_t seq : {0U, 1U, 2U, 0x100U, 0x10000U, 0xFFFFFFFFU}) {
          wire::Header h = bare(type);
          h.session_id = session;
          h.sequence = seq;
          seen.insert(wire::packet_nonce(h, {}));
          ++count;
        }
      }
    }
    CHECK(seen.size() == static_cast<std::size_t>(count));
  }
  SECTION("join, welcome and join-stage notices take their nonce from the body") {
    std::array<std::uint8_t, 96> body{};
    for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<std::uint8_t>(0xA0 + i);
    crypto::Nonce want{};
    std::memcpy(want.data(), body.data(), want.size());
    CHECK(wire::packet_nonce(bare(PacketType::join), body) == want);
    CHECK(wire::packet_nonce(bare(PacketType::welcome), body) == want);
    CHECK(wire::packet_nonce(bare(PacketType::notice), body) == want);
    wire::Header session_notice = bare(PacketType::notice);
    session_notice.session_id = 5;
    CHECK(wire::packet_nonce(session_notice, body) != want);
    CHECK(wire::packet_nonce(bare(PacketType::join), {}) == crypto::Nonce{});  // no overread
  }
}

TEST_CASE("seal refuses what does not fit", "[wire]") {
  crypto::Aead key(key_of(5));
  std::array<std::uint8_t, 100> small{};
  const wire::Header h = audio_header(64, SampleFormat::s16);
  CHECK(wire::seal_in_place(h, key, small) == 0);
  std::vector<std::uint8_t> payload(wire::kMaxPayload + 1);
  Buffer buf{};
  CHECK(wire::seal(bare(PacketType::audio), payload, key, buf) == 0);
  payload.resize(16);
  const std::size_t n = wire::seal(bare(PacketType::keepalive), payload, key, buf);
  CHECK(n == wire::kHeaderSize + 16 + wire::kTagSize);  // seal sets payload_len
  wire::PacketView view;
  CHECK(wire::decode(std::span(buf).first(n), view) == Reject::bad_format);  // keepalive with body
}

TEST_CASE("direction of packet types", "[wire]") {
  CHECK(wire::is_server_to_box(PacketType::welcome));
  CHECK(wire::is_server_to_box(PacketType::notice));
  CHECK(wire::is_server_to_box(PacketType::echo));
  CHECK_FALSE(wire::is_server_to_box(PacketType::audio));
  CHECK_FALSE(wire::is_server_to_box(PacketType::keepalive));
  CHECK_FALSE(wire::is_server_to_box(PacketType::leave));
  CHECK_FALSE(wire::is_server_to_box(PacketType::join));
}
