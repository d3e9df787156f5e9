// The room's packets carried by the audio thread (box::JamLink::audio_period_begin/end around a
// real audio::Engine), two boxes in one room of a real jambox-broadcast on the loopback interface,
// with no JACK: a thread per box plays JACK's process thread, one 64-frame period every 1.33 ms.
//
// Proof of the real-time rule for the thread that carries packets: from its first period to its
// last, the audio thread makes no allocation and no free (global operator new/delete and
// OpenSSL's allocator are counted per thread, see tests/unit/crypto/alloc_counter.hpp) while it
// receives, authenticates, opens, mixes, seals and sends, while the loop takes the packets back
// when the audio thread stalls and hands them over again, and while a session notice it
// authenticated makes the loop rejoin.
#include "alloc_counter.hpp"
#include "run_loop.hpp"
#include <jambox/audio/engine.hpp>
#include <jambox/box/jam_link.hpp>
#include <jambox/test/server.hpp>
#include <jambox/test/temp_dir.hpp>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <thread>

namespace box = jambox::box;
namespace audio = jambox::audio;
namespace test = jambox::test;
using namespace std::chrono_literals;
using jambox::box::test::run_until;

namespace {

std::uint64_t now_us() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000U +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1000U;
}

// A box without JACK: the engine, the link, and a thread doing what JACK's process thread does.
class Box {
 public:
  Box(boost::asio::io_context& io, const std::string& server, const std::string& secret,
      float tone_hz)
      : engine_(audio::EngineConfig{}),
        link_(io, engine_.inbound(), engine_.outbound(), link_config(server, secret)),
        tone_hz_(tone_hz) {}
  ~Box() { pause(); }
  Box(const Box&) = delete;
  Box& operator=(const Box&) = delete;

  box::JamLink& link() noexcept { return link_; }
  audio::Snapshot snapshot() const noexcept { return engine_.snapshot(); }

  void run() {
    running_ = true;
    thread_ = std::thread([this] { periods(); });
  }
  // JACK stops calling (server gone): the thread ends; its counts are kept.
  void pause() {
    running_ = false;
    if (thread_.joinable()) thread_.join();
  }
  [[nodiscard]] test::ThreadAllocCounts allocations() const noexcept {
    return {allocations_.load(), openssl_.load(), frees_.load()};
  }
  [[nodiscard]] std::uint64_t periods_run() const noexcept { return periods_.load(); }

 private:
  static box::JamLinkConfig link_config(const std::string& server, const std::string& secret) {
    box::JamLinkConfig c;
    c.server = server;
    c.room = "main";
    c.secret = secret;
    return c;
  }

  void periods() {
    const test::ThreadAllocCounts before = test::this_thread_alloc_counts();
    std::array<float, 64> in_l{};
    std::array<float, 64> in_r{};
    std::array<float, 64> out_l{};
    std::array<float, 64> out_r{};
    const std::array<const float*, 2> ins{in_l.data(), in_r.data()};
    const std::array<float*, 2> outs{out_l.data(), out_r.data()};
    auto next = std::chrono::steady_clock::now();
    while (running_.load(std::memory_order_relaxed)) {
      for (std::size_t i = 0; i < in_l.size(); ++i) {
        in_l[i] = 0.25F * std::sin(phase_);
        in_r[i] = in_l[i];
        phase_ += 2.0F * 3.14159265F * tone_hz_ / 48000.0F;
        if (phase_ > 6.2831853F) phase_ -= 6.2831853F;
      }
      const std::uint64_t start = now_us();
      link_.audio_period_begin(start);
      static_cast<void>(engine_.process(ins, outs, 64, start));
      link_.audio_period_end(now_us());
      const test::ThreadAllocCounts now = test::this_thread_alloc_counts();
      allocations_.store(now.operator_new - before.operator_new);
      openssl_.store(now.openssl - before.openssl);
      frees_.store(now.frees - before.frees);
      periods_.fetch_add(1);
      next += 1333us;
      std::this_thread::sleep_until(next);
    }
  }

  audio::Engine engine_;
  box::JamLink link_;
  float tone_hz_;
  float phase_ = 0.0F;
  std::atomic<bool> running_{false};
  std::thread thread_;
  std::atomic<std::size_t> allocations_{0};
  std::atomic<std::size_t> openssl_{0};
  std::atomic<std::size_t> frees_{0};
  std::atomic<std::uint64_t> periods_{0};
};

// A copy: the snapshot is usually a temporary.
std::optional<audio::RemoteStats> remote(const audio::Snapshot& s, std::uint32_t session_id) {
  for (const audio::RemoteStats& r : s.remotes) {
    if (r.active && r.session_id == session_id) return r;
  }
  return std::nullopt;
}

std::string room_config(const test::TempDir& dir, const std::string& secret, bool with_room) {
  test::ServerSpec spec;
  if (with_room) spec.rooms = {{"main", secret, 0}};
  spec.rooms.push_back({"other", secret, 0});
  return test::render_config(spec, test::BroadcastServer::stats_path(dir));
}

void check_no_allocation(const Box& b) {
  const test::ThreadAllocCounts a = b.allocations();
  CHECK(a.operator_new == 0);
  CHECK(a.openssl == 0);
  CHECK(a.frees == 0);
}

}  // namespace

TEST_CASE("the audio thread carries the room's packets and never allocates",
          "[box][jam_link][realtime]") {
  REQUIRE(test::openssl_hooks_installed());
  test::TempDir dir("audio-thread-link");
  const std::string secret = test::random_secret();
  test::BroadcastServer server(dir, room_config(dir, secret, true));
  const std::string address = server.endpoint().to_string();

  boost::asio::io_context io;
  Box a(io, address, secret, 440.0F);
  Box b(io, address, secret, 660.0F);
  a.link().start();
  b.link().start();
  a.run();
  b.run();

  // Admitted, then handed over: from then on the loop only watches.
  REQUIRE(run_until(io, [&] {
    return a.link().stats().audio_thread_carries && b.link().stats().audio_thread_carries;
  }));
  const std::uint32_t a_id = a.link().stats().session_id;
  const std::uint32_t b_id = b.link().stats().session_id;
  REQUIRE(a_id != 0);
  REQUIRE(b_id != 0);

  // B's engine plays A (and A's B) from packets its own audio thread received.
  const std::uint64_t b_received = b.link().stats().audio_received;
  REQUIRE(run_until(io, [&] {
    const auto r = remote(b.snapshot(), a_id);
    return r.has_value() && r->jitter.playing && r->level.rms_dbfs > -20.0F &&
           b.link().stats().audio_received > b_received + 500;
  }));
  REQUIRE(run_until(io, [&] {
    const auto r = remote(a.snapshot(), b_id);
    return r.has_value() && r->jitter.playing && a.link().stats().rtt_us > 0;
  }));
  CHECK_FALSE(remote(a.snapshot(), a_id).has_value());  // never hears itself
  // Waited for, not sampled: on a loaded machine the audio thread may be behind B's count (a
  // stall hands the packets to the loop for a while).
  CHECK(run_until(io, [&] { return a.link().stats().audio_thread_periods > 500; }));
  CHECK(a.link().stats().rejected == 0);
  CHECK(a.link().stats().send_dropped == 0);
  check_no_allocation(a);
  check_no_allocation(b);

  SECTION("JACK stops: the loop keeps the membership; JACK returns: the audio thread again") {
    a.pause();
    const std::uint64_t keepalives = a.link().stats().keepalives_sent;
    REQUIRE(run_until(io, [&] {
      return !a.link().stats().audio_thread_carries &&
             a.link().stats().keepalives_sent > keepalives + 10;
    }));
    CHECK(a.link().state() == box::LinkState::joined);
    CHECK(a.link().stats().rejoins == 0);
    const std::uint64_t carried = a.link().stats().audio_thread_periods;
    a.run();
    REQUIRE(run_until(io, [&] {
      return a.link().stats().audio_thread_carries &&
             a.link().stats().audio_thread_periods > carried + 200;
    }));
    CHECK(a.link().stats().session_id == a_id);
    const std::uint64_t heard = b.link().stats().audio_received;
    REQUIRE(run_until(io, [&] { return b.link().stats().audio_received > heard + 200; }));
    check_no_allocation(a);
  }

  SECTION("a room closed under the audio thread: the loop rejoins once the room is back") {
    REQUIRE(server.reload(room_config(dir, secret, false)));
    REQUIRE(run_until(io, [&] { return a.link().stats().notices >= 1; }));
    CHECK(a.link().stats().last_problem.find("room_closed") != std::string::npos);
    REQUIRE(server.reload(room_config(dir, secret, true)));
    REQUIRE(run_until(
        io,
        [&] {
          const box::LinkStats s = a.link().stats();
          return s.state == box::LinkState::joined && s.audio_thread_carries &&
                 s.session_id != a_id;
        },
        20s));
    check_no_allocation(a);
    check_no_allocation(b);
  }

  a.pause();
  b.pause();
  check_no_allocation(a);
  check_no_allocation(b);
}
