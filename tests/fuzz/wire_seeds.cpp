// Writes the seed corpus of fuzz_wire_decode into a directory: one valid datagram of every type
// and audio shape (sealed with the keys the fuzz target uses), plus typical malformed ones.
//
//   fuzz_wire_seeds <directory>

#include "fuzz_common.hpp"

#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

namespace wire = jambox::wire;
namespace crypto = jambox::crypto;
using Buffer = std::array<std::uint8_t, wire::kMaxDatagram>;

class Writer {
 public:
  explicit Writer(std::filesystem::path dir) : dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_);
  }
  void write(const std::string& name, std::span<const std::uint8_t> bytes) {
    std::ofstream out(dir_ / ("seed-" + name), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error("cannot write seed " + name);
    ++count_;
  }
  [[nodiscard]] int count() const { return count_; }

 private:
  std::filesystem::path dir_;
  int count_ = 0;
};

wire::Header session_header(wire::PacketType type, std::uint32_t sequence) {
  wire::Header h;
  h.type = type;
  h.session_id = jambox::fuzz::kSessionId;
  h.sequence = sequence;
  h.time_us = 2'000'000 + sequence;
  h.echo_us = 1'500;
  h.hold_us = 40;
  return h;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_wire_seeds <directory>\n");
    return 2;
  }
  try {
    jambox::fuzz::Sessions s;
    Writer w(argv[1]);
    Buffer buf{};

    // Server -> box audio of every shape that fits.
    std::uint32_t seq = 1;
    for (const std::uint16_t frames :
         {std::uint16_t{32}, std::uint16_t{64}, std::uint16_t{128}, std::uint16_t{256}}) {
      for (const auto format :
           {wire::SampleFormat::s16, wire::SampleFormat::s24, wire::SampleFormat::f32}) {
        const std::size_t size = wire::audio_payload_size(frames, 2, format);
        if (size == 0) continue;
        wire::Header h = session_header(wire::PacketType::audio, seq++);
        h.frames = frames;
        h.channels = 2;
        h.format = format;
        std::vector<std::uint8_t> payload(size);
        for (std::size_t i = 0; i < size; ++i) payload[i] = static_cast<std::uint8_t>(i * 7);
        const std::size_t n = wire::seal(h, payload, s.down_key, buf);
        w.write("audio-" + std::to_string(frames) + "-" + std::to_string(static_cast<int>(format)),
                std::span(buf).first(n));
      }
    }
    // Header-only types.
    for (const auto type :
         {wire::PacketType::echo, wire::PacketType::keepalive, wire::PacketType::leave}) {
      const std::size_t n = wire::seal(session_header(type, seq++), {}, s.down_key, buf);
      w.write("type-" + std::to_string(static_cast<int>(type)), std::span(buf).first(n));
    }
    // Handshake.
    w.write("welcome", std::span(s.welcome).first(s.welcome_size));
    std::size_t n = s.fresh.make_join(buf);
    w.write("join", std::span(buf).first(n));
    {
      wire::Ticket ticket;
      ticket.nonce.fill(9);
      ticket.expires_s = 1'800'000'000;
      wire::ClientSession with_ticket(
          jambox::fuzz::kRoom,
          wire::derive_ticket_secret(jambox::fuzz::kRoom, jambox::fuzz::kSecret, ticket), ticket,
          wire::AudioShape{},
          wire::derive_room_audio_key(jambox::fuzz::kRoom, jambox::fuzz::kSecret));
      n = with_ticket.make_join(buf);
      w.write("join-ticket", std::span(buf).first(n));
    }
    wire::NoticeBody notice;
    notice.aead_nonce.fill(3);
    notice.client_nonce = s.joining_client_nonce;
    n = wire::make_notice(notice, 0, 0, s.join_key, buf);
    w.write("notice-room-full", std::span(buf).first(n));
    notice.code = wire::NoticeCode::server_stopping;
    notice.client_nonce = {};
    n = wire::make_notice(notice, jambox::fuzz::kSessionId, 1, s.down_key, buf);
    w.write("notice-session", std::span(buf).first(n));
    // Malformed.
    n = wire::seal(session_header(wire::PacketType::echo, seq++), {}, s.down_key, buf);
    w.write("short", std::span(buf).first(n - 1));
    buf[4] = wire::flags::kEncrypted;
    w.write("flags", std::span(buf).first(n));
    std::vector<std::uint8_t> big(wire::kMaxDatagram + 1, 0x4A);
    w.write("oversize", big);
    std::printf("wrote %d seeds to %s\n", w.count(), argv[1]);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_wire_seeds: %s\n", e.what());
    return 1;
  }
}
