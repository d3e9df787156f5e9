#include <jambox/crypto/crypto.hpp>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <climits>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

namespace jambox::crypto {
namespace {

// Takes the oldest queued OpenSSL error into an exception message and clears the queue, so a
// failure never leaves stale entries for the next caller on this thread.
[[noreturn]] void fail(const char* what) {
  const unsigned long code = ERR_get_error();
  std::string message = std::string("OpenSSL: ") + what;
  if (code != 0) {
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    message += ": ";
    message += text;
  }
  ERR_clear_error();
  throw std::runtime_error(message);
}

// EVP takes int lengths; datagrams are tiny, so anything larger is a caller bug.
bool fits_int(std::size_t size) noexcept {
  return size <= static_cast<std::size_t>(INT_MAX);
}

struct KdfDeleter {
  void operator()(EVP_KDF* kdf) const noexcept { EVP_KDF_free(kdf); }
  void operator()(EVP_KDF_CTX* ctx) const noexcept { EVP_KDF_CTX_free(ctx); }
};

}  // namespace

// One context per direction: both keep the key schedule from construction, so each call only
// sets the nonce (EVP_CipherInit_ex with a null cipher and key keeps both) and nothing is fetched
// or allocated on the packet path.
struct Aead::Contexts {
  EVP_CIPHER* cipher = nullptr;
  EVP_CIPHER_CTX* enc = nullptr;
  EVP_CIPHER_CTX* dec = nullptr;

  Contexts() = default;
  Contexts(const Contexts&) = delete;
  Contexts& operator=(const Contexts&) = delete;
  ~Contexts() {
    EVP_CIPHER_CTX_free(enc);
    EVP_CIPHER_CTX_free(dec);
    EVP_CIPHER_free(cipher);
  }
};

namespace {

void init_context(EVP_CIPHER_CTX* ctx, const EVP_CIPHER* cipher, const Key& key, int enc) {
  if (EVP_CipherInit_ex(ctx, cipher, nullptr, nullptr, nullptr, enc) != 1) {
    fail("ChaCha20-Poly1305 init");
  }
  // 12 bytes is the default for this cipher; set explicitly because the nonce layout depends on it.
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, static_cast<int>(kNonceSize), nullptr) !=
      1) {
    fail("ChaCha20-Poly1305 nonce length");
  }
  if (EVP_CipherInit_ex(ctx, nullptr, nullptr, key.data(), nullptr, enc) != 1) {
    fail("ChaCha20-Poly1305 key");
  }
}

}  // namespace

Aead::Aead(const Key& key) {
  auto contexts = std::make_unique<Contexts>();
  contexts->cipher = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
  if (contexts->cipher == nullptr) fail("fetch ChaCha20-Poly1305");
  contexts->enc = EVP_CIPHER_CTX_new();
  contexts->dec = EVP_CIPHER_CTX_new();
  if (contexts->enc == nullptr || contexts->dec == nullptr) fail("EVP_CIPHER_CTX_new");
  init_context(contexts->enc, contexts->cipher, key, 1);
  init_context(contexts->dec, contexts->cipher, key, 0);
  ctx_ = contexts.release();
}

Aead::~Aead() {
  delete ctx_;
}

Aead::Aead(Aead&& other) noexcept : ctx_(std::exchange(other.ctx_, nullptr)) {}

Aead& Aead::operator=(Aead&& other) noexcept {
  if (this != &other) {
    delete ctx_;
    ctx_ = std::exchange(other.ctx_, nullptr);
  }
  return *this;
}

void Aead::rekey(const Key& key) {
  if (ctx_ == nullptr) throw std::logic_error("Aead::rekey on a moved-from instance");
  if (EVP_CipherInit_ex(ctx_->enc, nullptr, nullptr, key.data(), nullptr, 1) != 1 ||
      EVP_CipherInit_ex(ctx_->dec, nullptr, nullptr, key.data(), nullptr, 0) != 1) {
    fail("ChaCha20-Poly1305 rekey");
  }
}

void Aead::seal(const Nonce& nonce, std::span<const std::uint8_t> aad, std::span<std::uint8_t> data,
                std::span<std::uint8_t, kTagSize> tag) {
  if (ctx_ == nullptr) throw std::logic_error("Aead::seal on a moved-from instance");
  if (!fits_int(aad.size()) || !fits_int(data.size())) {
    throw std::length_error("Aead::seal: input too large");
  }
  EVP_CIPHER_CTX* ctx = ctx_->enc;
  int len = 0;
  if (EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce.data()) != 1) fail("seal nonce");
  if (!aad.empty() &&
      EVP_EncryptUpdate(ctx, nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) {
    fail("seal aad");
  }
  if (!data.empty() &&
      EVP_EncryptUpdate(ctx, data.data(), &len, data.data(), static_cast<int>(data.size())) != 1) {
    fail("seal data");
  }
  std::uint8_t none[1];  // a stream cipher emits nothing at finalisation
  if (EVP_EncryptFinal_ex(ctx, none, &len) != 1) fail("seal final");
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kTagSize), tag.data()) !=
      1) {
    fail("seal tag");
  }
}

bool Aead::open(const Nonce& nonce, std::span<const std::uint8_t> aad, std::span<std::uint8_t> data,
                std::span<const std::uint8_t, kTagSize> tag) {
  if (ctx_ == nullptr || !fits_int(aad.size()) || !fits_int(data.size())) return false;
  EVP_CIPHER_CTX* ctx = ctx_->dec;
  int len = 0;
  // The ctrl interface takes a mutable pointer; hand it a copy rather than casting const away.
  Tag expected;
  std::memcpy(expected.data(), tag.data(), kTagSize);
  const bool ok = EVP_DecryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce.data()) == 1 &&
                  (aad.empty() || EVP_DecryptUpdate(ctx, nullptr, &len, aad.data(),
                                                    static_cast<int>(aad.size())) == 1) &&
                  (data.empty() || EVP_DecryptUpdate(ctx, data.data(), &len, data.data(),
                                                     static_cast<int>(data.size())) == 1) &&
                  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kTagSize),
                                      expected.data()) == 1;
  // The provider compares tags with CRYPTO_memcmp, so the check does not leak timing.
  std::uint8_t none[1];
  const bool authentic = ok && EVP_DecryptFinal_ex(ctx, none, &len) == 1;
  if (!authentic) ERR_clear_error();  // forged packets must not fill the thread's error queue
  return authentic;
}

void hkdf_sha256(std::span<const std::uint8_t> ikm, std::span<const std::uint8_t> salt,
                 std::span<const std::uint8_t> info, std::span<std::uint8_t> out) {
  if (out.empty()) return;
  if (out.size() > std::size_t{255} * 32)
    throw std::length_error("hkdf_sha256: output longer than 255 blocks");
  const std::unique_ptr<EVP_KDF, KdfDeleter> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  if (!kdf) fail("fetch HKDF");
  const std::unique_ptr<EVP_KDF_CTX, KdfDeleter> ctx(EVP_KDF_CTX_new(kdf.get()));
  if (!ctx) fail("EVP_KDF_CTX_new");

  // OSSL_PARAM wants mutable pointers although the KDF only reads through them.
  char digest[] = "SHA256";
  OSSL_PARAM params[5];
  std::size_t n = 0;
  params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  params[n++] = OSSL_PARAM_construct_octet_string(
      OSSL_KDF_PARAM_KEY, const_cast<std::uint8_t*>(ikm.data()), ikm.size());
  // An absent salt or info is what RFC 5869 calls empty: the KDF then uses its defaults.
  if (!salt.empty()) {
    params[n++] = OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_SALT, const_cast<std::uint8_t*>(salt.data()), salt.size());
  }
  if (!info.empty()) {
    params[n++] = OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_INFO, const_cast<std::uint8_t*>(info.data()), info.size());
  }
  params[n] = OSSL_PARAM_construct_end();
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) fail("HKDF derive");
}

void random_bytes(std::span<std::uint8_t> out) {
  if (out.empty()) return;
  if (!fits_int(out.size())) throw std::length_error("random_bytes: request too large");
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) fail("RAND_bytes");
}

bool equal_constant_time(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  // Lengths are public (they are datagram or key sizes); only the contents are secret.
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static constexpr std::string_view kDigits = "0123456789abcdef";
  std::string text;
  text.reserve(bytes.size() * 2);
  for (const std::uint8_t b : bytes) {
    text.push_back(kDigits[b >> 4U]);
    text.push_back(kDigits[b & 0xFU]);
  }
  return text;
}

bool from_hex(std::string_view text, std::span<std::uint8_t> out) noexcept {
  if (text.size() != out.size() * 2) return false;
  const auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int high = digit(text[2 * i]);
    const int low = digit(text[2 * i + 1]);
    if (high < 0 || low < 0) return false;
    out[i] = static_cast<std::uint8_t>(high * 16 + low);
  }
  return true;
}

}  // namespace jambox::crypto
