#pragma once
// Cryptographic primitives for jambox, thin wrapper over OpenSSL 3.
//
// Packet authentication (and, later, payload encryption) uses ChaCha20-Poly1305 (RFC 8439):
// it is the fastest AEAD on the Raspberry Pi 4 (Cortex-A72 has no AES instructions, so AES-GCM
// runs in software there). On x86 with AES-NI, AES-GCM is about twice as fast for a jam packet,
// but both cost well under a microsecond; jambox-crypto-bench (tests/bench/crypto) measures
// them and docs/wire-protocol.md records the numbers.
// Keys are derived with HKDF-SHA256 (RFC 5869).

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace jambox::crypto {

inline constexpr std::size_t kKeySize = 32;
inline constexpr std::size_t kNonceSize = 12;
inline constexpr std::size_t kTagSize = 16;

using Key = std::array<std::uint8_t, kKeySize>;
using Nonce = std::array<std::uint8_t, kNonceSize>;
using Tag = std::array<std::uint8_t, kTagSize>;

// ChaCha20-Poly1305 with one fixed key. Construction allocates the OpenSSL contexts once;
// seal/open then reuse them and do not allocate. Not thread-safe: one instance per thread.
class Aead {
 public:
  explicit Aead(const Key& key);
  ~Aead();
  Aead(const Aead&) = delete;
  Aead& operator=(const Aead&) = delete;
  Aead(Aead&& other) noexcept;
  Aead& operator=(Aead&& other) noexcept;

  // Replaces the key, reusing the contexts: no allocation, so a session slot can be re-keyed on
  // admission. Throws only on an OpenSSL internal failure or on a moved-from instance.
  void rekey(const Key& key);

  // Authenticates `aad` and `data`, encrypting `data` in place (it may be empty: then this is a
  // pure MAC over `aad`). Writes the tag. Throws only on an OpenSSL internal failure or on a
  // moved-from instance.
  void seal(const Nonce& nonce, std::span<const std::uint8_t> aad, std::span<std::uint8_t> data,
            std::span<std::uint8_t, kTagSize> tag);

  // Verifies the tag over `aad` and `data` and decrypts `data` in place. Returns false (and
  // leaves `data` unspecified) when authentication fails; never throws (a moved-from instance
  // or an OpenSSL failure also yields false). The tag comparison is constant-time.
  [[nodiscard]] bool open(const Nonce& nonce, std::span<const std::uint8_t> aad,
                          std::span<std::uint8_t> data,
                          std::span<const std::uint8_t, kTagSize> tag);

 private:
  struct Contexts;
  Contexts* ctx_ = nullptr;
};

// HKDF-SHA256: fills `out` (up to 255*32 bytes) from input keying material, salt and info.
void hkdf_sha256(std::span<const std::uint8_t> ikm, std::span<const std::uint8_t> salt,
                 std::span<const std::uint8_t> info, std::span<std::uint8_t> out);

// Cryptographically secure random bytes (OpenSSL RAND_bytes). Throws on failure.
void random_bytes(std::span<std::uint8_t> out);

// Constant-time comparison of equal-length buffers.
[[nodiscard]] bool equal_constant_time(std::span<const std::uint8_t> a,
                                       std::span<const std::uint8_t> b);

// Lower-case hex, the form keys and nonces take in JSON and configuration files.
[[nodiscard]] std::string to_hex(std::span<const std::uint8_t> bytes);
// Fills `out` from exactly 2 * out.size() hex digits (either case); false otherwise, and `out`
// is then unspecified.
[[nodiscard]] bool from_hex(std::string_view text, std::span<std::uint8_t> out) noexcept;

// Convenience for string secrets and labels.
[[nodiscard]] inline std::span<const std::uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace jambox::crypto
