// jack::Supervisor against real JACK servers that come, go, hang and change settings: the owner's
// loop keeps running, the state and events tell what happened, and audio comes back by itself.
#include <jambox/jack/supervisor.hpp>
#include <jambox/jacktest/jack_server.hpp>
#include <jambox/test/temp_dir.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace jt = jambox::jacktest;
namespace jack = jambox::jack;
using namespace std::chrono_literals;

namespace {

class CountingProcessor final : public jack::AudioProcessor {
 public:
  void process(std::span<const float* const> /*in*/, std::span<float* const> out,
               std::uint32_t frames) noexcept override {
    for (float* o : out) std::fill_n(o, frames, 0.0f);
    std::uint32_t seen = max_frames.load();
    while (frames > seen && !max_frames.compare_exchange_weak(seen, frames)) {
    }
    last_frames = frames;
    calls.fetch_add(1);
  }
  std::atomic<std::uint64_t> calls{0};
  std::atomic<std::uint32_t> last_frames{0};
  std::atomic<std::uint32_t> max_frames{0};
};

// What the owner (jamboxd) would see.
struct Recorded {
  std::vector<jack::ConnectionInfo> connected;
  std::vector<std::string> disconnected;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> period_changes;

  jack::SupervisorEvents events() {
    jack::SupervisorEvents e;
    e.connected = [this](const jack::ConnectionInfo& info) { connected.push_back(info); };
    e.disconnected = [this](const std::string& reason) { disconnected.push_back(reason); };
    e.period_changed = [this](std::uint32_t a, std::uint32_t b) {
      period_changes.emplace_back(a, b);
    };
    return e;
  }
};

// The rest of the daemon on the same loop (the network side): must keep ticking whatever JACK
// does.
class Ticker {
 public:
  explicit Ticker(boost::asio::io_context& io) : timer_(io) { arm(); }
  ~Ticker() { timer_.cancel(); }
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;
  [[nodiscard]] int ticks() const { return ticks_; }

 private:
  void arm() {
    timer_.expires_after(10ms);
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      ++ticks_;
      arm();
    });
  }
  boost::asio::steady_timer timer_;
  int ticks_ = 0;
};

bool run_until(boost::asio::io_context& io, const std::function<bool()>& done,
               std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    io.run_for(10ms);
    if (io.stopped()) io.restart();
  }
  return true;
}

void run_for(boost::asio::io_context& io, std::chrono::milliseconds duration) {
  run_until(
      io, [] { return false; }, duration);
}

jack::ClientConfig config_for(const std::string& server) {
  jack::ClientConfig config;
  config.client_name = "jbx-box";
  config.server_name = server;
  return config;
}

// Short backoff so the tests do not wait for the production 0.5..8 s schedule.
jack::SupervisorOptions quick() {
  jack::SupervisorOptions options;
  options.initial_backoff = 100ms;
  options.max_backoff = 800ms;
  options.poll_interval = 20ms;
  return options;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("the supervisor connects, survives a server crash and reconnects on restart",
          "[jack][integration]") {
  jambox::test::TempDir dir("jack-supervisor");
  jt::JackServer server(dir);
  boost::asio::io_context io;
  CountingProcessor processor;
  Recorded seen;
  jack::Supervisor supervisor(io, config_for(server.name()), processor, seen.events(), quick());
  Ticker network(io);

  supervisor.start();
  REQUIRE(run_until(
      io, [&] { return supervisor.state() == jack::State::connected; }, 20s));
  REQUIRE(seen.connected.size() == 1);
  CHECK(seen.connected[0].server == server.name());
  CHECK(seen.connected[0].client == "jbx-box");
  CHECK(seen.connected[0].sample_rate == 48000);
  CHECK(seen.connected[0].period == 64);
  CHECK(seen.connected[0].ports.connected.size() == 4);
  CHECK(seen.connected[0].ports.missing.empty());
  REQUIRE(run_until(
      io, [&] { return processor.calls.load() >= 100; }, 20s));
  auto status = supervisor.status();
  CHECK(status.state == jack::State::connected);
  CHECK(status.sample_rate == 48000);
  CHECK(status.period == 64);
  CHECK(status.connects == 1);
  CHECK(status.disconnects == 0);
  CHECK(status.cycles >= 100);

  // The server crashes.
  server.kill();
  REQUIRE(run_until(
      io, [&] { return supervisor.state() == jack::State::waiting; }, 20s));
  REQUIRE(seen.disconnected.size() == 1);
  CHECK(contains(seen.disconnected[0], "went away"));
  status = supervisor.status();
  CHECK(status.disconnects == 1);
  CHECK(status.sample_rate == 0);
  CHECK(contains(status.last_error, "went away"));
  const auto cycles_before = status.cycles;
  CHECK(cycles_before >= 100);  // kept across the loss

  // Meanwhile the rest of the daemon carries on, and retries fail quietly.
  const int ticks = network.ticks();
  run_for(io, 500ms);
  CHECK(network.ticks() > ticks);
  CHECK(supervisor.state() == jack::State::waiting);

  // The server comes back under the same name: audio resumes without anyone's help.
  server.start();
  REQUIRE(run_until(
      io, [&] { return supervisor.state() == jack::State::connected; }, 30s));
  CHECK(seen.connected.size() == 2);
  const auto calls = processor.calls.load();
  REQUIRE(run_until(
      io, [&] { return processor.calls.load() >= calls + 100; }, 20s));
  status = supervisor.status();
  CHECK(status.connects == 2);
  CHECK(status.cycles > cycles_before);
}

TEST_CASE("the supervisor waits for a server that is not there yet", "[jack][integration]") {
  jambox::test::TempDir dir("jack-supervisor");
  jt::prepare_jack_environment();
  const std::string name = jt::unique_server_name("jbx-late");
  boost::asio::io_context io;
  CountingProcessor processor;
  Recorded seen;
  jack::Supervisor supervisor(io, config_for(name), processor, seen.events(), quick());
  supervisor.start();
  REQUIRE(run_until(
      io, [&] { return supervisor.status().failed_attempts >= 2; }, 20s));
  CHECK(supervisor.state() == jack::State::waiting);
  CHECK(contains(supervisor.status().last_error, "is not running"));
  CHECK(seen.connected.empty());

  jt::JackServerOptions options;
  options.name = name;
  jt::JackServer server(dir, options);
  REQUIRE(run_until(
      io, [&] { return supervisor.state() == jack::State::connected; }, 30s));
  CHECK(run_until(
      io, [&] { return processor.calls.load() >= 10; }, 20s));
  CHECK(seen.disconnected.empty());
}

TEST_CASE("a 44100 Hz server is refused until it runs at 48000 Hz", "[jack][integration]") {
  jambox::test::TempDir dir("jack-supervisor");
  jt::JackServerOptions options;
  options.name = jt::unique_server_name("jbx-rate");
  options.rate = 44100;
  boost::asio::io_context io;
  CountingProcessor processor;
  Recorded seen;
  jack::Supervisor supervisor(io, config_for(options.name), processor, seen.events(), quick());
  {
    jt::JackServer wrong(dir, options);
    supervisor.start();
    REQUIRE(run_until(
        io, [&] { return supervisor.status().failed_attempts >= 2; }, 20s));
    CHECK(supervisor.state() == jack::State::refused);
    CHECK(contains(supervisor.status().last_error, "44100 Hz"));
    CHECK(seen.connected.empty());
    CHECK(processor.calls.load() == 0);
  }
  options.rate = 48000;
  jt::JackServer right(dir, options);
  REQUIRE(run_until(
      io, [&] { return supervisor.state() == jack::State::connected; }, 30s));
  CHECK(seen.connected.size() == 1);
}

TEST_CASE("period changes are reported; an unsupported one is refused until fixed",
          "[jack][integration]") {
  jambox::test::TempDir dir("jack-supervisor");
  jt::JackServer server(dir);
  jt::JackProbe probe(server.name());
  boost::asio::io_context io;
  CountingProcessor processor;
  Recorded seen;
  jack::Supervisor supervisor(io, config_for(server.name()), processor, seen.events(), quick());
  supervisor.start();
  REQUIRE(run_until(
      io, [&] { return supervisor.state() == jack::State::connected; }, 20s));

  REQUIRE(probe.set_period(128));
  REQUIRE(run_until(
      io, [&] { return !seen.period_changes.empty(); }, 10s));
  CHECK(seen.period_changes[0] == std::pair<std::uint32_t, std::uint32_t>{64, 128});
  CHECK(supervisor.status().period == 128);
  CHECK(run_until(
      io, [&] { return processor.last_frames.load() == 128; }, 10s));

  REQUIRE(probe.set_period(512));
  REQUIRE(run_until(
      io, [&] { return supervisor.state() == jack::State::refused; }, 10s));
  REQUIRE(seen.disconnected.size() == 1);
  CHECK(contains(seen.disconnected[0], "512 frames"));
  run_for(io, 300ms);  // retries meet the same refusal
  CHECK(supervisor.state() == jack::State::refused);

  REQUIRE(probe.set_period(64));
  REQUIRE(run_until(
      io, [&] { return supervisor.state() == jack::State::connected; }, 20s));
  CHECK(seen.connected.size() == 2);
  CHECK(seen.connected[1].period == 64);
  const auto calls = processor.calls.load();
  CHECK(run_until(
      io, [&] { return processor.calls.load() >= calls + 10; }, 20s));
  CHECK(processor.max_frames.load() <= jack::kMaxPeriod);
}

TEST_CASE("a hung server blocks neither the loop nor shutdown", "[jack][integration]") {
  jambox::test::TempDir dir("jack-supervisor");
  jt::JackServer server(dir);
  boost::asio::io_context io;
  CountingProcessor processor;
  Recorded seen;
  Ticker network(io);

  SECTION("the client connects once the server answers again") {
    jack::Supervisor supervisor(io, config_for(server.name()), processor, seen.events(), quick());
    server.pause();  // SIGSTOP: jack_client_open() now waits for an answer
    supervisor.start();
    const int ticks = network.ticks();
    run_for(io, 500ms);
    CHECK(network.ticks() >= ticks + 10);
    CHECK(supervisor.state() == jack::State::waiting);
    server.resume();
    REQUIRE(run_until(
        io, [&] { return supervisor.state() == jack::State::connected; }, 30s));
    CHECK(run_until(
        io, [&] { return processor.calls.load() >= 10; }, 20s));
  }

  SECTION("destruction gives up on a stuck libjack call after the stop timeout") {
    jack::SupervisorOptions options = quick();
    options.stop_timeout = 300ms;
    server.pause();
    const auto start = std::chrono::steady_clock::now();
    {
      jack::Supervisor supervisor(io, config_for(server.name()), processor, seen.events(), options);
      supervisor.start();
      run_for(io, 200ms);
    }
    CHECK(std::chrono::steady_clock::now() - start < 10s);
    server.resume();
    // The abandoned attempt finishes on its own and never activates: no audio reaches the
    // processor of an owner that has gone.
    run_for(io, 1000ms);
    CHECK(processor.calls.load() == 0);
    CHECK(seen.connected.empty());
  }
}
