// Proves that steady-state forwarding through a shard performs no heap allocation: the global
// operator new of this executable counts calls while a flag is set, and OpenSSL's allocator is
// routed through a counting hook too (ChaCha20-Poly1305 runs inside OpenSSL).
#include <jambox/broadcast/shard.hpp>
#include <jambox/crypto/crypto.hpp>
#include <jambox/wire/packet.hpp>
#include <jambox/wire/session.hpp>

#include <catch2/catch.hpp>
#include <openssl/crypto.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

namespace {

std::atomic<bool> g_counting{false};
std::atomic<std::size_t> g_news{0};
std::atomic<std::size_t> g_ssl_allocations{0};

void* counted_malloc(std::size_t n, const char*, int) {
  if (g_counting.load(std::memory_order_relaxed)) g_ssl_allocations.fetch_add(1);
  return std::malloc(n);
}
void* counted_realloc(void* p, std::size_t n, const char*, int) {
  if (g_counting.load(std::memory_order_relaxed)) g_ssl_allocations.fetch_add(1);
  return std::realloc(p, n);
}
void counted_free(void* p, const char*, int) {
  std::free(p);
}

// Must run before OpenSSL's first allocation, hence a static initialiser.
const bool g_ssl_hooked =
    CRYPTO_set_mem_functions(counted_malloc, counted_realloc, counted_free) == 1;

class Counting {
 public:
  Counting() { g_counting.store(true); }
  ~Counting() { g_counting.store(false); }
  Counting(const Counting&) = delete;
  Counting& operator=(const Counting&) = delete;
};

}  // namespace

// Every replaceable form, so no allocation bypasses the count and every pointer is released by
// the matching function (the sanitizers check that).
namespace {
void* counted_new(std::size_t n, std::size_t alignment = 0) noexcept {
  if (g_counting.load(std::memory_order_relaxed)) g_news.fetch_add(1);
  if (n == 0) n = 1;
  if (alignment <= alignof(std::max_align_t)) return std::malloc(n);
  return std::aligned_alloc(alignment, (n + alignment - 1) / alignment * alignment);
}
void* counted_new_or_throw(std::size_t n, std::size_t alignment = 0) {
  if (void* p = counted_new(n, alignment)) return p;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t n) {
  return counted_new_or_throw(n);
}
void* operator new[](std::size_t n) {
  return counted_new_or_throw(n);
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return counted_new(n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return counted_new(n);
}
void* operator new(std::size_t n, std::align_val_t a) {
  return counted_new_or_throw(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return counted_new_or_throw(n, static_cast<std::size_t>(a));
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return counted_new(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return counted_new(n, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  std::free(p);
}

namespace {

using jambox::broadcast::RoomPlan;
using jambox::broadcast::RoomShard;
using jambox::net::Endpoint;
namespace wire = jambox::wire;

constexpr const char* kSecret = "allocation-test-secret-0123";

// Keeps nothing: one reusable buffer, a count of datagrams.
class NullSink final : public jambox::broadcast::Sink {
 public:
  std::span<std::uint8_t> prepare() override { return buffer_; }
  void commit(std::size_t size, const Endpoint& to) override {
    ++datagrams;
    last_size = size;
    last_to = to;
  }
  std::size_t datagrams = 0;
  std::size_t last_size = 0;
  Endpoint last_to;
  std::array<std::uint8_t, wire::kMaxDatagram> buffer_{};
};

}  // namespace

TEST_CASE("alloc: the counters see allocations", "[broadcast][alloc]") {
  g_news = 0;
  {
    const Counting counting;
    auto p = std::make_unique<int>(7);
    CHECK(*p == 7);
  }
  CHECK(g_news == 1);
  if (!g_ssl_hooked) {
    WARN("CRYPTO_set_mem_functions was refused; OpenSSL allocations are not counted");
    return;
  }
  g_ssl_allocations = 0;
  {
    const Counting counting;
    const jambox::crypto::Aead aead(jambox::crypto::Key{});
  }
  CHECK(g_ssl_allocations > 0);
}

TEST_CASE("alloc: steady-state forwarding through a shard allocates nothing",
          "[broadcast][alloc]") {
  constexpr int kBoxes = 8;
  constexpr int kRounds = 500;
  RoomShard shard(0, 1);
  NullSink sink;
  RoomPlan plan;
  plan.member_timeout_ms = 1000;
  plan.rooms.push_back({"main", kSecret, 16, 0, 1});
  std::uint64_t now = 1'000'000;
  shard.apply(plan, now, sink);

  struct Box {
    std::unique_ptr<wire::ClientSession> session;
    Endpoint addr;
  };
  std::vector<Box> boxes;
  std::array<std::uint8_t, wire::kMaxDatagram> buffer{};
  wire::PacketView view;
  for (int i = 0; i < kBoxes; ++i) {
    Box box{std::make_unique<wire::ClientSession>("main", kSecret, wire::AudioShape{}),
            Endpoint(boost::asio::ip::make_address("127.0.0.1"),
                     static_cast<std::uint16_t>(42000 + i))};
    const std::size_t join = box.session->make_join(buffer);
    shard.handle(std::span(buffer).first(join), box.addr, now, sink);
    REQUIRE(box.session->receive(std::span(sink.buffer_).first(sink.last_size), now, view) ==
            wire::ClientSession::Event::welcomed);
    boxes.push_back(std::move(box));
  }
  const std::size_t payload = wire::audio_payload_size(64, 2, wire::SampleFormat::s16);

  const auto round = [&](bool counted) {
    for (auto& box : boxes) {
      now += 166;
      std::fill_n(buffer.begin() + wire::kHeaderSize, payload, std::uint8_t{0x11});
      const std::size_t size = box.session->seal_audio_in_place(now, buffer);
      REQUIRE(size != 0);
      if (counted) {
        const Counting counting;
        shard.handle(std::span(buffer).first(size), box.addr, now, sink);
        shard.expire(now);
      } else {
        shard.handle(std::span(buffer).first(size), box.addr, now, sink);
      }
    }
  };
  // Warm-up: admission (first packets) and every lazily initialised path.
  for (int i = 0; i < 5; ++i) round(false);
  REQUIRE(shard.member_count() == kBoxes);

  g_news = 0;
  g_ssl_allocations = 0;
  sink.datagrams = 0;
  for (int i = 0; i < kRounds; ++i) round(true);

  // Every packet went to the 7 others (everybody talks, so nobody needs an echo): the work
  // really happened.
  CHECK(sink.datagrams == std::size_t{kRounds} * kBoxes * (kBoxes - 1));
  CHECK(shard.counters().forwarded >= std::uint64_t{kRounds} * kBoxes * (kBoxes - 1));
  CHECK(g_news == 0);
  if (g_ssl_hooked) CHECK(g_ssl_allocations == 0);
}
