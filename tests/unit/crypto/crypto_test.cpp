#include <jambox/crypto/crypto.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using jambox::crypto::Aead;
using jambox::crypto::Key;
using jambox::crypto::Nonce;
using jambox::crypto::Tag;
using Bytes = std::vector<std::uint8_t>;

Bytes from_hex(std::string_view hex) {
  auto nibble = [](char c) -> std::uint8_t {
    if (c >= '0' && c <= '9') return static_cast<std::uint8_t>(c - '0');
    return static_cast<std::uint8_t>(c - 'a' + 10);
  };
  Bytes out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>((nibble(hex[i]) << 4) | nibble(hex[i + 1])));
  }
  return out;
}

Bytes bytes(std::string_view s) {
  return {s.begin(), s.end()};
}

template <std::size_t N>
std::array<std::uint8_t, N> array_from_hex(std::string_view hex) {
  // Runs during static initialisation (no Catch assertions there); a wrong length leaves zeros,
  // which the comparisons below then catch.
  const Bytes b = from_hex(hex);
  std::array<std::uint8_t, N> out{};
  std::copy_n(b.begin(), std::min(N, b.size()), out.begin());
  return out;
}

// RFC 8439 section 2.8.2.
const Key kRfcKey =
    array_from_hex<32>("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
const Nonce kRfcNonce = array_from_hex<12>("070000004041424344454647");
const Bytes kRfcAad = from_hex("50515253c0c1c2c3c4c5c6c7");
constexpr std::string_view kRfcPlaintext =
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, "
    "sunscreen would be it.";
const Bytes kRfcCiphertext = from_hex(
    "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92"
    "728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b"
    "4831d7bc3ff4def08e4b7a9de576d26586cec64b6116");
const Tag kRfcTag = array_from_hex<16>("1ae10b594f09e26a7e902ecbd0600691");

}  // namespace

TEST_CASE("ChaCha20-Poly1305 matches RFC 8439 section 2.8.2", "[crypto]") {
  Aead aead(kRfcKey);
  Bytes data = bytes(kRfcPlaintext);
  REQUIRE(data.size() == 114);
  Tag tag{};
  aead.seal(kRfcNonce, kRfcAad, data, tag);
  CHECK(data == kRfcCiphertext);
  CHECK(tag == kRfcTag);

  SECTION("open recovers the plaintext") {
    REQUIRE(aead.open(kRfcNonce, kRfcAad, data, tag));
    CHECK(data == bytes(kRfcPlaintext));
  }
  SECTION("any flipped bit fails authentication") {
    Bytes ct = kRfcCiphertext;
    ct[57] ^= 0x01;
    CHECK_FALSE(aead.open(kRfcNonce, kRfcAad, ct, tag));

    Bytes aad = kRfcAad;
    aad[3] ^= 0x80;
    ct = kRfcCiphertext;
    CHECK_FALSE(aead.open(kRfcNonce, aad, ct, tag));

    Tag bad = tag;
    bad[15] ^= 0x01;
    ct = kRfcCiphertext;
    CHECK_FALSE(aead.open(kRfcNonce, kRfcAad, ct, bad));

    Nonce nonce = kRfcNonce;
    nonce[11] ^= 0x01;
    ct = kRfcCiphertext;
    CHECK_FALSE(aead.open(nonce, kRfcAad, ct, tag));
  }
  SECTION("a context is reusable after a failed open") {
    Tag bad = tag;
    bad[0] ^= 0x01;
    Bytes ct = kRfcCiphertext;
    CHECK_FALSE(aead.open(kRfcNonce, kRfcAad, ct, bad));
    ct = kRfcCiphertext;
    REQUIRE(aead.open(kRfcNonce, kRfcAad, ct, tag));
    CHECK(ct == bytes(kRfcPlaintext));
  }
}

TEST_CASE("Aead as a MAC over associated data only", "[crypto]") {
  Key key{};
  key.fill(7);
  Aead aead(key);
  const Bytes aad = bytes("jam packet header and payload");
  Nonce nonce{};
  nonce[0] = 1;

  Tag first{};
  Tag again{};
  aead.seal(nonce, aad, {}, first);
  aead.seal(nonce, aad, {}, again);
  CHECK(first == again);  // each call starts from the nonce: no state carried over

  Tag other_nonce{};
  nonce[11] = 9;
  aead.seal(nonce, aad, {}, other_nonce);
  CHECK(other_nonce != first);
  CHECK(aead.open(nonce, aad, {}, other_nonce));
  CHECK_FALSE(aead.open(nonce, aad, {}, first));

  Key other_key = key;
  other_key[31] ^= 1;
  Aead wrong(other_key);
  CHECK_FALSE(wrong.open(nonce, aad, {}, other_nonce));

  SECTION("empty associated data and data still give a tag") {
    Tag empty{};
    aead.seal(nonce, {}, {}, empty);
    CHECK(empty != Tag{});
    CHECK(aead.open(nonce, {}, {}, empty));
  }
}

TEST_CASE("rekey switches keys without a new instance", "[crypto]") {
  Key a{};
  a.fill(1);
  Key b{};
  b.fill(2);
  Aead aead(a);
  Aead fresh_b(b);
  const Bytes aad = bytes("header");
  const Nonce nonce{};
  Tag tag_b{};
  fresh_b.seal(nonce, aad, {}, tag_b);

  Tag tag{};
  aead.seal(nonce, aad, {}, tag);
  CHECK(tag != tag_b);
  aead.rekey(b);
  aead.seal(nonce, aad, {}, tag);
  CHECK(tag == tag_b);
  CHECK(aead.open(nonce, aad, {}, tag_b));
}

TEST_CASE("a moved-from Aead is safe", "[crypto]") {
  Key key{};
  Aead original(key);
  const Bytes aad = bytes("x");
  const Nonce nonce{};
  Tag tag{};
  original.seal(nonce, aad, {}, tag);

  Aead moved(std::move(original));
  CHECK(moved.open(nonce, aad, {}, tag));
  // NOLINTBEGIN(bugprone-use-after-move): exercising the moved-from state on purpose
  CHECK_FALSE(original.open(nonce, aad, {}, tag));
  Tag out{};
  CHECK_THROWS_AS(original.seal(nonce, aad, {}, out), std::logic_error);
  CHECK_THROWS_AS(original.rekey(key), std::logic_error);

  Aead target(key);
  target = std::move(moved);
  CHECK(target.open(nonce, aad, {}, tag));
  CHECK_FALSE(moved.open(nonce, aad, {}, tag));
  original = std::move(target);  // assigning into a moved-from instance revives it
  CHECK(original.open(nonce, aad, {}, tag));
  // NOLINTEND(bugprone-use-after-move)
}

TEST_CASE("HKDF-SHA256 matches RFC 5869", "[crypto]") {
  const Bytes ikm(22, 0x0b);
  SECTION("test case 1") {
    const Bytes salt = from_hex("000102030405060708090a0b0c");
    const Bytes info = from_hex("f0f1f2f3f4f5f6f7f8f9");
    Bytes okm(42);
    jambox::crypto::hkdf_sha256(ikm, salt, info, okm);
    CHECK(okm == from_hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf3400"
                          "7208d5b887185865"));
  }
  SECTION("test case 3: empty salt and info") {
    Bytes okm(42);
    jambox::crypto::hkdf_sha256(ikm, {}, {}, okm);
    CHECK(okm == from_hex("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d20"
                          "1395faa4b61a96c8"));
  }
  SECTION("output length limits") {
    Bytes none;
    jambox::crypto::hkdf_sha256(ikm, {}, {}, none);  // no-op, no throw
    Bytes too_long(255 * 32 + 1);
    CHECK_THROWS_AS(jambox::crypto::hkdf_sha256(ikm, {}, {}, too_long), std::length_error);
    Bytes longest(255 * 32);
    jambox::crypto::hkdf_sha256(ikm, {}, {}, longest);
    CHECK(std::any_of(longest.end() - 32, longest.end(), [](std::uint8_t b) { return b != 0; }));
  }
}

TEST_CASE("random_bytes draws distinct values", "[crypto]") {
  std::array<std::uint8_t, 32> a{};
  std::array<std::uint8_t, 32> b{};
  jambox::crypto::random_bytes(a);
  jambox::crypto::random_bytes(b);
  CHECK(a != b);
  CHECK(a != std::array<std::uint8_t, 32>{});
  jambox::crypto::random_bytes({});  // empty request is fine
}

TEST_CASE("equal_constant_time", "[crypto]") {
  const Bytes a = bytes("0123456789abcdef");
  Bytes b = a;
  CHECK(jambox::crypto::equal_constant_time(a, b));
  b.back() ^= 1;
  CHECK_FALSE(jambox::crypto::equal_constant_time(a, b));
  b = a;
  b.front() ^= 1;
  CHECK_FALSE(jambox::crypto::equal_constant_time(a, b));
  CHECK_FALSE(jambox::crypto::equal_constant_time(a, std::span(a).first(15)));
  CHECK(jambox::crypto::equal_constant_time({}, {}));
}

TEST_CASE("bytes_of views the characters of a string", "[crypto]") {
  const auto view = jambox::crypto::bytes_of("AB");
  REQUIRE(view.size() == 2);
  CHECK(view[0] == 0x41);
  CHECK(view[1] == 0x42);
}

TEST_CASE("hex round-trips and refuses anything but exact hex", "[crypto]") {
  const std::array<std::uint8_t, 4> bytes{0x00, 0x9f, 0xa0, 0xff};
  CHECK(jambox::crypto::to_hex(bytes) == "009fa0ff");
  std::array<std::uint8_t, 4> back{};
  REQUIRE(jambox::crypto::from_hex("009FA0ff", back));
  CHECK(back == bytes);
  CHECK_FALSE(jambox::crypto::from_hex("009fa0f", back));     // odd length
  CHECK_FALSE(jambox::crypto::from_hex("009fa0ff00", back));  // too long
  CHECK_FALSE(jambox::crypto::from_hex("009fa0fg", back));    // not a digit
  CHECK_FALSE(jambox::crypto::from_hex("-09fa0ff", back));
}
