#pragma once
// Room audio encryption: the audio payload is sealed end to end between the boxes of a room with
// the room's audio key, inside the per-hop authentication of the jam packet. The room server
// forwards it as opaque bytes; the broker never carries audio at all; anyone on the path sees
// only ciphertext.
//
//   audio_key = HKDF-SHA256(ikm = room secret, salt = "jambox/1 room audio", info = room)
//
// Boxes of a standalone room derive it from the room's secret; boxes admitted by ticket never
// learn that secret and get the key from the room server with their ticket (over mutual TLS).
//
// An encrypted audio packet (flags bit 0) carries, as its payload:
//
//   salt (8) | ChaCha20-Poly1305 ciphertext of the audio (n) | inner tag (16)
//
//   nonce = salt || sequence (BE u32)      aad = session_id (BE u32) || format || channels ||
//                                                frames (BE u16)
//
// The salt is random per session (a new JOIN draws a new one) and the sender's sequence never
// repeats within a session, so no two packets of a room share a nonce under the room key. The
// aad binds the ciphertext to its originator and shape, so neither the server nor a member can
// pass one jammer's audio off as another's.

#include <jambox/crypto/crypto.hpp>
#include <jambox/wire/packet.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace jambox::wire {

inline constexpr std::size_t kRoomSaltSize = 8;
inline constexpr std::size_t kRoomSealOverhead = kRoomSaltSize + kTagSize;  // 24 bytes
using RoomSalt = std::array<std::uint8_t, kRoomSaltSize>;

// Throws std::invalid_argument on an invalid room name.
[[nodiscard]] crypto::Key derive_room_audio_key(std::string_view room,
                                                std::string_view room_secret);

// Encrypts the audio at payload[kRoomSaltSize, kRoomSaltSize + n) in place and writes salt and
// inner tag around it; `payload` is the whole encrypted payload (n + kRoomSealOverhead bytes).
// `header` supplies session_id, sequence and shape. No allocation.
void seal_room_audio(const Header& header, const RoomSalt& salt, crypto::Aead& key,
                     std::span<std::uint8_t> payload);

// Verifies and decrypts an encrypted payload into `audio` (payload.size() - kRoomSealOverhead
// bytes). False when the payload is too short, `audio` has the wrong size, or authentication
// fails (a different room key, or tampering). No allocation.
[[nodiscard]] bool open_room_audio(const Header& header, std::span<const std::uint8_t> payload,
                                   crypto::Aead& key, std::span<std::uint8_t> audio) noexcept;

}  // namespace jambox::wire
