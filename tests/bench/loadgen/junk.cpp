#include "junk.hpp"

#include <jambox/wire/packet.hpp>

#include <algorithm>
#include <cstring>

namespace jambox::loadgen {
namespace {

constexpr std::size_t kSequenceOffset = 16;  // header field offsets (packet.hpp)
constexpr std::size_t kVersionOffset = 2;

void store_be32(std::uint8_t* at, std::uint32_t value) noexcept {
  at[0] = static_cast<std::uint8_t>(value >> 24);
  at[1] = static_cast<std::uint8_t>(value >> 16);
  at[2] = static_cast<std::uint8_t>(value >> 8);
  at[3] = static_cast<std::uint8_t>(value);
}

std::uint32_t load_be32(const std::uint8_t* at) noexcept {
  return (std::uint32_t{at[0]} << 24) | (std::uint32_t{at[1]} << 16) | (std::uint32_t{at[2]} << 8) |
         std::uint32_t{at[3]};
}

}  // namespace

std::string_view junk_name(JunkKind kind) noexcept {
  switch (kind) {
    case JunkKind::random_bytes:
      return "random_bytes";
    case JunkKind::truncated:
      return "truncated";
    case JunkKind::bad_magic:
      return "bad_magic";
    case JunkKind::bad_version:
      return "bad_version";
    case JunkKind::unknown_session:
      return "unknown_session";
    case JunkKind::spoofed:
      return "spoofed";
    case JunkKind::replayed:
      return "replayed";
    case JunkKind::bad_join:
      return "bad_join";
    case JunkKind::count_:
      break;
  }
  return "unknown";
}

JunkGenerator::JunkGenerator(std::uint64_t seed, std::vector<std::uint32_t> members,
                             std::vector<std::vector<std::uint8_t>> bad_joins)
    : state_(seed == 0 ? 0x9E3779B97F4A7C15ULL : seed),
      members_(std::move(members)),
      bad_joins_(std::move(bad_joins)) {
  std::sort(members_.begin(), members_.end());
}

std::uint64_t JunkGenerator::next() noexcept {
  // xorshift64*: plenty for noise, and far cheaper than a CSPRNG at 100k datagrams/s.
  state_ ^= state_ >> 12;
  state_ ^= state_ << 25;
  state_ ^= state_ >> 27;
  return state_ * 0x2545F4914F6CDD1DULL;
}

void JunkGenerator::fill_random(std::span<std::uint8_t> out) noexcept {
  std::size_t i = 0;
  while (i < out.size()) {
    const std::uint64_t word = next();
    const std::size_t n = std::min<std::size_t>(8, out.size() - i);
    std::memcpy(out.data() + i, &word, n);
    i += n;
  }
}

bool JunkGenerator::is_member(std::uint32_t session_id) const noexcept {
  return std::binary_search(members_.begin(), members_.end(), session_id);
}

std::size_t JunkGenerator::forge(std::uint32_t session_id, std::span<std::uint8_t> out) noexcept {
  wire::Header header;
  header.type = wire::PacketType::audio;
  header.format = wire::SampleFormat::s16;
  header.channels = wire::kAudioChannels;
  header.frames = 64;
  header.payload_len = static_cast<std::uint16_t>(
      wire::audio_payload_size(header.frames, header.channels, header.format));
  header.session_id = session_id;
  header.sequence = static_cast<std::uint32_t>(next());
  header.time_us = next() >> 20;
  wire::write_header(header, out.first<wire::kHeaderSize>());
  const std::size_t size = wire::kHeaderSize + header.payload_len + wire::kTagSize;
  fill_random(out.subspan(wire::kHeaderSize, size - wire::kHeaderSize));  // payload and tag
  return size;
}

std::size_t JunkGenerator::make(JunkKind kind, std::span<const std::uint8_t> captured,
                                std::span<std::uint8_t> out) noexcept {
  const bool have_capture = captured.size() >= wire::kMinDatagram &&
                            captured.size() <= std::min(out.size(), wire::kMaxDatagram);
  const std::uint32_t some_member =
      members_.empty() ? 1 : members_[static_cast<std::size_t>(next() % members_.size())];
  // A real packet to corrupt: the captured one, or a forged one for a real member.
  const auto base = [&]() -> std::size_t {
    if (have_capture) {
      std::memcpy(out.data(), captured.data(), captured.size());
      return captured.size();
    }
    return forge(some_member, out);
  };

  switch (kind) {
    case JunkKind::random_bytes: {
      const std::size_t size = 1 + static_cast<std::size_t>(next() % wire::kMaxDatagram);
      fill_random(out.first(size));
      return size;
    }
    case JunkKind::truncated: {
      const std::size_t full = base();
      return 1 + static_cast<std::size_t>(next() % (full - 1));
    }
    case JunkKind::bad_magic: {
      const std::size_t size = base();
      out[0] = static_cast<std::uint8_t>(out[0] ^ (1 + next() % 255));
      return size;
    }
    case JunkKind::bad_version: {
      const std::size_t size = base();
      out[kVersionOffset] = static_cast<std::uint8_t>(2 + next() % 254);
      return size;
    }
    case JunkKind::unknown_session: {
      std::uint32_t session = 0;
      do {
        session = static_cast<std::uint32_t>(next());
      } while (session == 0 || is_member(session));
      return forge(session, out);
    }
    case JunkKind::spoofed: {
      const std::size_t size = base();
      // A sequence ahead of the member's, so only the tag can give the forgery away.
      const std::uint32_t sequence = load_be32(out.data() + kSequenceOffset);
      store_be32(out.data() + kSequenceOffset,
                 sequence + 1000 + static_cast<std::uint32_t>(next() % 100000));
      fill_random(out.subspan(size - wire::kTagSize, wire::kTagSize));
      return size;
    }
    case JunkKind::replayed:
      if (!have_capture) return forge(some_member, out);
      return base();
    case JunkKind::bad_join: {
      if (bad_joins_.empty()) return forge(some_member, out);
      const auto& join = bad_joins_[static_cast<std::size_t>(next() % bad_joins_.size())];
      std::memcpy(out.data(), join.data(), join.size());
      return join.size();
    }
    case JunkKind::count_:
      break;
  }
  return 0;
}

}  // namespace jambox::loadgen
