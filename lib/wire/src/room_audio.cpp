#include "bytes.hpp"
#include <jambox/wire/room_audio.hpp>
#include <jambox/wire/session.hpp>

#include <cstring>
#include <stdexcept>

namespace jambox::wire {
namespace {

constexpr std::string_view kRoomAudioSalt = "jambox/1 room audio";
constexpr std::size_t kAadSize = 8;

crypto::Nonce room_nonce(const Header& header, const std::uint8_t* salt) noexcept {
  crypto::Nonce nonce{};
  std::memcpy(nonce.data(), salt, kRoomSaltSize);
  detail::store_be32(nonce.data() + kRoomSaltSize, header.sequence);
  return nonce;
}

std::array<std::uint8_t, kAadSize> room_aad(const Header& header) noexcept {
  std::array<std::uint8_t, kAadSize> aad{};
  detail::store_be32(aad.data(), header.session_id);
  aad[4] = static_cast<std::uint8_t>(header.format);
  aad[5] = header.channels;
  detail::store_be16(aad.data() + 6, header.frames);
  return aad;
}

}  // namespace

crypto::Key derive_room_audio_key(std::string_view room, std::string_view room_secret) {
  if (!valid_room_name(room)) throw std::invalid_argument("derive_room_audio_key: invalid room");
  crypto::Key key{};
  crypto::hkdf_sha256(crypto::bytes_of(room_secret), crypto::bytes_of(kRoomAudioSalt),
                      crypto::bytes_of(room), key);
  return key;
}

void seal_room_audio(const Header& header, const RoomSalt& salt, crypto::Aead& key,
                     std::span<std::uint8_t> payload) {
  if (payload.size() < kRoomSealOverhead) return;
  const std::size_t n = payload.size() - kRoomSealOverhead;
  std::memcpy(payload.data(), salt.data(), kRoomSaltSize);
  const auto aad = room_aad(header);
  key.seal(room_nonce(header, salt.data()), aad, payload.subspan(kRoomSaltSize, n),
           payload.subspan(kRoomSaltSize + n).first<kTagSize>());
}

bool open_room_audio(const Header& header, std::span<const std::uint8_t> payload, crypto::Aead& key,
                     std::span<std::uint8_t> audio) noexcept {
  if (payload.size() < kRoomSealOverhead || audio.size() != payload.size() - kRoomSealOverhead) {
    return false;
  }
  std::memcpy(audio.data(), payload.data() + kRoomSaltSize, audio.size());
  const auto aad = room_aad(header);
  return key.open(room_nonce(header, payload.data()), aad, audio,
                  payload.subspan(kRoomSaltSize + audio.size()).first<kTagSize>());
}

}  // namespace jambox::wire
