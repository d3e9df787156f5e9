// JACK's server registry as jackd2 1.9.21 writes it, built byte by byte.
#include <jambox/jacktest/server_registry.hpp>

#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace jt = jambox::jacktest;

namespace {

constexpr std::size_t kHeader = 24;
constexpr std::size_t kEntry = 264;

std::vector<std::uint8_t> empty_registry() {
  std::vector<std::uint8_t> bytes(kHeader + 8 * kEntry + 64, 0);
  const std::uint32_t magic = 0x4a41434b;
  const std::uint32_t header_length = kHeader + 8 * kEntry;
  std::memcpy(bytes.data(), &magic, 4);
  std::memcpy(bytes.data() + 16, &header_length, 4);
  return bytes;
}

void put(std::vector<std::uint8_t>& bytes, std::size_t slot, std::int32_t pid,
         const std::string& prefix) {
  std::memcpy(bytes.data() + kHeader + slot * kEntry, &pid, 4);
  std::memcpy(bytes.data() + kHeader + slot * kEntry + 4, prefix.data(), prefix.size());
}

}  // namespace

TEST_CASE("the registry's occupied slots are read with pid, uid, name and owner", "[jack]") {
  auto bytes = empty_registry();
  put(bytes, 0, 447, "jack-0:jam-a-31935:");
  put(bytes, 3, 12528, "jack-1000:jbx-21872-1-85858:");
  put(bytes, 7, 99, "jack-0:default:");
  const auto servers = jt::parse_server_registry(bytes);
  REQUIRE(servers);
  REQUIRE(servers->size() == 3);
  CHECK((*servers)[0].pid == 447);
  CHECK((*servers)[0].uid == 0);
  CHECK((*servers)[0].name == "jam-a-31935");
  CHECK((*servers)[0].owner_pid == 31935);
  CHECK((*servers)[1].uid == 1000);
  CHECK((*servers)[1].name == "jbx-21872-1-85858");
  CHECK((*servers)[1].owner_pid == 21872);
  CHECK((*servers)[2].name == "default");
  CHECK_FALSE((*servers)[2].owner_pid);
}

TEST_CASE("a registry of another layout is not guessed at", "[jack]") {
  auto bytes = empty_registry();
  CHECK(jt::parse_server_registry(bytes));
  CHECK_FALSE(jt::parse_server_registry(std::span(bytes).first(100)));

  auto wrong_magic = bytes;
  wrong_magic[0] = 'X';
  CHECK_FALSE(jt::parse_server_registry(wrong_magic));

  auto wrong_header = bytes;
  wrong_header[16] += 8;
  CHECK_FALSE(jt::parse_server_registry(wrong_header));

  auto garbled = bytes;
  put(garbled, 1, 42, "not-a-prefix");
  CHECK_FALSE(jt::parse_server_registry(garbled));
}

TEST_CASE("a slot is stale only when its jackd and the process named in it are gone", "[jack]") {
  // pid 0x7ffffff0 is beyond any pid_max, so no such process exists.
  const int dead = 0x7ffffff0;
  const int alive = static_cast<int>(::getpid());
  CHECK(jt::is_stale({dead, 0, "jbx-2147483632-0-1", dead}));
  CHECK(jt::is_stale({dead, 0, "default", std::nullopt}));
  CHECK_FALSE(jt::is_stale({alive, 0, "default", std::nullopt}));
  // A test that killed its server on purpose and is about to restart it keeps the slot.
  CHECK_FALSE(jt::is_stale({dead, 0, "jbx-" + std::to_string(alive) + "-0-1", alive}));
}

TEST_CASE("an absent registry file is an empty registry", "[jack]") {
  const auto servers = jt::read_server_registry("/nonexistent/jack-shm-registry");
  REQUIRE(servers);
  CHECK(servers->empty());
}
