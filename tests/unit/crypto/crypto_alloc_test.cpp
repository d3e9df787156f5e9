// The per-packet crypto path must not allocate: neither through operator new nor through
// OpenSSL's own allocator (which operator new does not see).
#include "alloc_counter.hpp"
#include <jambox/crypto/crypto.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <cstdint>

namespace {

using jambox::crypto::Aead;
using jambox::crypto::Key;
using jambox::crypto::Nonce;
using jambox::crypto::Tag;

Nonce nonce_for(std::uint32_t i) {
  Nonce n{};
  n[8] = static_cast<std::uint8_t>(i >> 24);
  n[9] = static_cast<std::uint8_t>(i >> 16);
  n[10] = static_cast<std::uint8_t>(i >> 8);
  n[11] = static_cast<std::uint8_t>(i);
  return n;
}

}  // namespace

TEST_CASE("seal and open allocate nothing after warm-up", "[crypto][alloc]") {
  REQUIRE(jambox::test::openssl_hooks_installed());

  Key key{};
  key.fill(0x42);
  Aead aead(key);
  std::array<std::uint8_t, 300> aad{};  // a 64-frame s16 jam packet without its tag
  std::array<std::uint8_t, 64> data{};
  Tag tag{};
  Tag bad{};

  // Warm-up: first use may initialise per-thread state inside OpenSSL.
  for (std::uint32_t i = 0; i < 10; ++i) {
    aead.seal(nonce_for(i), aad, data, tag);
    REQUIRE(aead.open(nonce_for(i), aad, data, tag));
    REQUIRE_FALSE(aead.open(nonce_for(i), aad, data, bad));
  }

  const auto before = jambox::test::alloc_counts();
  bool all_ok = true;
  for (std::uint32_t i = 100; i < 1100; ++i) {
    aad[0] = static_cast<std::uint8_t>(i);
    aead.seal(nonce_for(i), aad, {}, tag);                      // MAC only, as v1 packets
    all_ok = all_ok && aead.open(nonce_for(i), aad, {}, tag);   // authentic
    all_ok = all_ok && !aead.open(nonce_for(i), aad, {}, bad);  // forged: the error path too
    aead.seal(nonce_for(i + 5000), aad, data, tag);             // with encrypted data
    all_ok = all_ok && aead.open(nonce_for(i + 5000), aad, data, tag);
  }
  const auto used = jambox::test::alloc_counts() - before;

  CHECK(all_ok);
  CHECK(used.operator_new == 0);
  CHECK(used.openssl == 0);
}

TEST_CASE("rekey allocates nothing", "[crypto][alloc]") {
  REQUIRE(jambox::test::openssl_hooks_installed());
  Key key{};
  Aead aead(key);
  Tag tag{};
  std::array<std::uint8_t, 16> aad{};
  aead.seal(nonce_for(1), aad, {}, tag);

  const auto before = jambox::test::alloc_counts();
  for (std::uint8_t i = 0; i < 100; ++i) {
    key[0] = i;
    aead.rekey(key);
    aead.seal(nonce_for(i), aad, {}, tag);
  }
  const auto used = jambox::test::alloc_counts() - before;
  CHECK(used.operator_new == 0);
  CHECK(used.openssl == 0);
}

TEST_CASE("the counters see allocations (the checks above can fail)", "[crypto][alloc]") {
  REQUIRE(jambox::test::openssl_hooks_installed());
  const auto before = jambox::test::alloc_counts();
  Key key{};
  const Aead aead(key);  // allocates its OpenSSL contexts by design
  // Through a volatile pointer, so the compiler cannot elide the new/delete pair.
  static int* volatile boxed = nullptr;
  boxed = new int(7);
  const auto used = jambox::test::alloc_counts() - before;
  delete boxed;
  CHECK(used.operator_new >= 1);
  CHECK(used.openssl >= 1);
}
