// jambox-crypto-bench: what authenticating one jam packet costs.
//
// The packet is the default audio datagram: 44-byte header + 64 frames of stereo s16 (256 bytes)
// + 16-byte tag = 316 bytes; v1 authenticates header and payload (300 bytes) without encrypting.
// For each candidate it measures ns per packet to seal (compute the tag) and to verify (check
// it), reusing contexts as the real code does, and reports the median of several runs.
// Prints exactly one JSON line.
//
//   jambox-crypto-bench [--runs N] [--iterations N]

#include <jambox/crypto/crypto.hpp>
#include <jambox/wire/packet.hpp>
#include <jambox/wire/room_audio.hpp>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace wire = jambox::wire;
namespace crypto = jambox::crypto;

constexpr std::size_t kAuthenticated = 300;  // header + payload
constexpr std::size_t kTag = 16;

struct Options {
  int runs = 9;
  int iterations = 20000;
};

// Keeps results observable so nothing is optimised away.
volatile std::uint32_t g_sink = 0;

template <typename Fn>
double median_ns(const Options& o, Fn&& fn) {
  for (int i = 0; i < o.iterations / 10; ++i) fn(static_cast<std::uint32_t>(i));  // warm-up
  std::vector<double> per_packet;
  for (int r = 0; r < o.runs; ++r) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < o.iterations; ++i) fn(static_cast<std::uint32_t>(i));
    const auto elapsed = std::chrono::steady_clock::now() - start;
    per_packet.push_back(
        static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count()) /
        o.iterations);
  }
  std::sort(per_packet.begin(), per_packet.end());
  return per_packet[per_packet.size() / 2];
}

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(what);
}

std::array<std::uint8_t, 12> nonce_of(std::uint32_t i) {
  std::array<std::uint8_t, 12> n{};
  n[0] = 1;
  std::memcpy(n.data() + 8, &i, sizeof i);
  return n;
}

// AES-GCM through EVP with one context per direction and the key set once, like crypto::Aead.
class Gcm {
 public:
  explicit Gcm(const char* name) {
    EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, name, nullptr);
    check(cipher != nullptr, "fetch AES-GCM");
    const int key_len = EVP_CIPHER_get_key_length(cipher);
    std::vector<std::uint8_t> key(static_cast<std::size_t>(key_len), 0x5A);
    enc_ = EVP_CIPHER_CTX_new();
    dec_ = EVP_CIPHER_CTX_new();
    check(enc_ != nullptr && dec_ != nullptr, "EVP_CIPHER_CTX_new");
    check(EVP_EncryptInit_ex(enc_, cipher, nullptr, key.data(), nullptr) == 1, "gcm enc init");
    check(EVP_DecryptInit_ex(dec_, cipher, nullptr, key.data(), nullptr) == 1, "gcm dec init");
    EVP_CIPHER_free(cipher);
  }
  Gcm(const Gcm&) = delete;
  Gcm& operator=(const Gcm&) = delete;
  ~Gcm() {
    EVP_CIPHER_CTX_free(enc_);
    EVP_CIPHER_CTX_free(dec_);
  }

  void seal(const std::uint8_t* iv, const std::uint8_t* aad, std::uint8_t* tag) {
    int len = 0;
    std::uint8_t none[1];
    check(EVP_EncryptInit_ex(enc_, nullptr, nullptr, nullptr, iv) == 1 &&
              EVP_EncryptUpdate(enc_, nullptr, &len, aad, kAuthenticated) == 1 &&
              EVP_EncryptFinal_ex(enc_, none, &len) == 1 &&
              EVP_CIPHER_CTX_ctrl(enc_, EVP_CTRL_AEAD_GET_TAG, kTag, tag) == 1,
          "gcm seal");
  }
  bool verify(const std::uint8_t* iv, const std::uint8_t* aad, std::uint8_t* tag) {
    int len = 0;
    std::uint8_t none[1];
    return EVP_DecryptInit_ex(dec_, nullptr, nullptr, nullptr, iv) == 1 &&
           EVP_DecryptUpdate(dec_, nullptr, &len, aad, kAuthenticated) == 1 &&
           EVP_CIPHER_CTX_ctrl(dec_, EVP_CTRL_AEAD_SET_TAG, kTag, tag) == 1 &&
           EVP_DecryptFinal_ex(dec_, none, &len) == 1;
  }

 private:
  EVP_CIPHER_CTX* enc_ = nullptr;
  EVP_CIPHER_CTX* dec_ = nullptr;
};

// HMAC-SHA256 truncated to 16 bytes through EVP_MAC; EVP_MAC_init without a key restarts with
// the key already set.
class Hmac {
 public:
  Hmac() {
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    check(mac != nullptr, "fetch HMAC");
    ctx_ = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);
    check(ctx_ != nullptr, "EVP_MAC_CTX_new");
    std::array<std::uint8_t, 32> key{};
    key.fill(0x5A);
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                                 OSSL_PARAM_construct_end()};
    check(EVP_MAC_init(ctx_, key.data(), key.size(), params) == 1, "hmac init");
  }
  Hmac(const Hmac&) = delete;
  Hmac& operator=(const Hmac&) = delete;
  ~Hmac() { EVP_MAC_CTX_free(ctx_); }

  void seal(const std::uint8_t* aad, std::uint8_t* tag) {
    std::array<std::uint8_t, 32> full{};
    std::size_t len = 0;
    check(EVP_MAC_init(ctx_, nullptr, 0, nullptr) == 1 &&
              EVP_MAC_update(ctx_, aad, kAuthenticated) == 1 &&
              EVP_MAC_final(ctx_, full.data(), &len, full.size()) == 1,
          "hmac");
    std::memcpy(tag, full.data(), kTag);
  }
  bool verify(const std::uint8_t* aad, const std::uint8_t* tag) {
    std::array<std::uint8_t, kTag> expected{};
    seal(aad, expected.data());
    return CRYPTO_memcmp(expected.data(), tag, kTag) == 0;
  }

 private:
  EVP_MAC_CTX* ctx_ = nullptr;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if ((arg == "--runs" || arg == "--iterations") && i + 1 < argc) {
      char* end = nullptr;
      const long value = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || value <= 0 || value > 100'000'000)
        throw std::invalid_argument(std::string(arg) + " needs a positive number");
      (arg == "--runs" ? o.runs : o.iterations) = static_cast<int>(value);
    } else {
      throw std::invalid_argument("usage: jambox-crypto-bench [--runs N] [--iterations N]");
    }
  }
  return o;
}

int run(const Options& o) {
  // A real 64-frame stereo s16 datagram.
  crypto::Key key{};
  key.fill(0x5A);
  crypto::Aead aead(key);
  std::array<std::uint8_t, wire::kMaxDatagram> packet{};
  wire::Header h;
  h.type = wire::PacketType::audio;
  h.format = wire::SampleFormat::s16;
  h.channels = 2;
  h.frames = 64;
  h.payload_len = 256;
  h.session_id = 1;
  h.sequence = 1;
  h.time_us = 123456789;
  for (std::size_t i = 0; i < 256; ++i)
    packet[wire::kHeaderSize + i] = static_cast<std::uint8_t>(i);
  const std::size_t size = wire::seal_in_place(h, aead, packet);
  check(size == kAuthenticated + kTag, "datagram size");
  const std::span<const std::uint8_t> datagram(packet.data(), size);
  const std::span<const std::uint8_t> aad = datagram.first(kAuthenticated);

  crypto::Tag tag{};
  const crypto::Nonce fixed = nonce_of(0);

  const double chacha_seal = median_ns(o, [&](std::uint32_t i) {
    aead.seal(nonce_of(i), aad, {}, tag);
    g_sink = g_sink + tag[0];
  });
  aead.seal(fixed, aad, {}, tag);
  const double chacha_verify =
      median_ns(o, [&](std::uint32_t) { check(aead.open(fixed, aad, {}, tag), "chacha verify"); });

  double gcm_seal[2] = {};
  double gcm_verify[2] = {};
  const char* gcm_names[2] = {"AES-128-GCM", "AES-256-GCM"};
  for (int g = 0; g < 2; ++g) {
    Gcm gcm(gcm_names[g]);
    std::array<std::uint8_t, kTag> t{};
    gcm_seal[g] = median_ns(o, [&](std::uint32_t i) {
      gcm.seal(nonce_of(i).data(), aad.data(), t.data());
      g_sink = g_sink + t[0];
    });
    gcm.seal(fixed.data(), aad.data(), t.data());
    gcm_verify[g] = median_ns(o, [&](std::uint32_t) {
      check(gcm.verify(fixed.data(), aad.data(), t.data()), "gcm verify");
    });
  }

  Hmac hmac;
  std::array<std::uint8_t, kTag> mac{};
  const double hmac_seal = median_ns(o, [&](std::uint32_t i) {
    packet[24] = static_cast<std::uint8_t>(i);  // vary the input like a changing timestamp
    hmac.seal(aad.data(), mac.data());
    g_sink = g_sink + mac[0];
  });
  hmac.seal(aad.data(), mac.data());
  const double hmac_verify = median_ns(
      o, [&](std::uint32_t) { check(hmac.verify(aad.data(), mac.data()), "hmac verify"); });

  // Restore the sealed datagram for the wire-level measurements.
  wire::seal_in_place(h, aead, packet);
  wire::PacketView view;
  const double decode = median_ns(o, [&](std::uint32_t) {
    check(wire::decode(datagram, view) == wire::Reject::none, "decode");
    g_sink = g_sink + view.header.sequence;
  });
  const double decode_verify = median_ns(o, [&](std::uint32_t) {
    check(wire::decode(datagram, view) == wire::Reject::none && wire::verify(view, aead),
          "decode+verify");
  });
  const double wire_seal = median_ns(o, [&](std::uint32_t i) {
    h.sequence = i;
    g_sink = g_sink + static_cast<std::uint32_t>(wire::seal_in_place(h, aead, packet));
  });

  // End-to-end room audio (the default): the samples sealed with the room key inside the
  // payload, the hop sealed around them (340 bytes); the receiver verifies the hop and opens.
  crypto::Aead room_key(wire::derive_room_audio_key("bench", "a room secret for the bench"));
  const wire::RoomSalt salt{1, 2, 3, 4, 5, 6, 7, 8};
  std::array<std::uint8_t, wire::kMaxDatagram> encrypted{};
  wire::Header eh = h;
  eh.flags = wire::flags::kEncrypted;
  eh.payload_len = static_cast<std::uint16_t>(256 + wire::kRoomSealOverhead);
  const auto sealed_payload = std::span(encrypted).subspan(wire::kHeaderSize, eh.payload_len);
  const double room_seal = median_ns(o, [&](std::uint32_t i) {
    eh.sequence = i;
    wire::seal_room_audio(eh, salt, room_key, sealed_payload);
    g_sink = g_sink + static_cast<std::uint32_t>(wire::seal_in_place(eh, aead, encrypted));
  });
  eh.sequence = 7;
  for (std::size_t i = 0; i < 256; ++i) {
    encrypted[wire::kHeaderSize + wire::kRoomSaltSize + i] = static_cast<std::uint8_t>(i);
  }
  wire::seal_room_audio(eh, salt, room_key, sealed_payload);
  const std::size_t encrypted_size = wire::seal_in_place(eh, aead, encrypted);
  check(encrypted_size == size + wire::kRoomSealOverhead, "encrypted datagram size");
  const std::span<const std::uint8_t> encrypted_datagram(encrypted.data(), encrypted_size);
  std::array<std::uint8_t, 256> opened{};
  const double room_open = median_ns(o, [&](std::uint32_t) {
    check(wire::decode(encrypted_datagram, view) == wire::Reject::none &&
              wire::verify(view, aead) &&
              wire::open_room_audio(view.header, view.payload, room_key, opened),
          "decode+verify+open");
    g_sink = g_sink + opened[9];
  });

  std::printf(
      "{\"benchmark\":\"crypto\",\"openssl\":\"%s\",\"datagram_bytes\":%zu,"
      "\"authenticated_bytes\":%zu,\"runs\":%d,\"iterations\":%d,"
      "\"chacha20_poly1305_seal_ns\":%.1f,\"chacha20_poly1305_verify_ns\":%.1f,"
      "\"aes128_gcm_seal_ns\":%.1f,\"aes128_gcm_verify_ns\":%.1f,"
      "\"aes256_gcm_seal_ns\":%.1f,\"aes256_gcm_verify_ns\":%.1f,"
      "\"hmac_sha256_128_seal_ns\":%.1f,\"hmac_sha256_128_verify_ns\":%.1f,"
      "\"wire_decode_ns\":%.1f,\"wire_decode_verify_ns\":%.1f,\"wire_seal_ns\":%.1f,"
      "\"encrypted_datagram_bytes\":%zu,\"encrypted_audio_seal_ns\":%.1f,"
      "\"encrypted_audio_open_ns\":%.1f}\n",
      OpenSSL_version(OPENSSL_VERSION), size, kAuthenticated, o.runs, o.iterations, chacha_seal,
      chacha_verify, gcm_seal[0], gcm_verify[0], gcm_seal[1], gcm_verify[1], hmac_seal, hmac_verify,
      decode, decode_verify, wire_seal, encrypted_size, room_seal, room_open);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "jambox-crypto-bench: %s\n", e.what());
    return 1;
  }
}
