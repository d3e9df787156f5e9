// The supervisor against a JACK server that does not exist: it must keep retrying with backoff,
// report "waiting for JACK" with a plain-words reason, and never block the event loop. (The
// tests with real servers are in tests/jack-tools.)
#include <jambox/jack/supervisor.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>

using namespace std::chrono_literals;

namespace {

struct SilentProcessor final : jambox::jack::AudioProcessor {
  void process(std::span<const float* const> /*in*/, std::span<float* const> out,
               std::uint32_t frames) noexcept override {
    for (float* o : out) std::fill_n(o, frames, 0.0f);
  }
};

// Runs the loop until `done` holds or `timeout` passes; returns whether `done` held.
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

jambox::jack::ClientConfig absent_server_config() {
  jambox::jack::ClientConfig config;
  config.client_name = "jbx-unit";
  config.server_name = "jbx-absent-" + std::to_string(::getpid());
  return config;
}

}  // namespace

TEST_CASE("without a server the supervisor waits, retries and keeps the loop free", "[jack]") {
  ::setenv("JACK_NO_START_SERVER", "1", 1);
  boost::asio::io_context io;
  SilentProcessor processor;
  int connected_events = 0;
  jambox::jack::SupervisorEvents events;
  events.connected = [&](const jambox::jack::ConnectionInfo&) { ++connected_events; };
  jambox::jack::SupervisorOptions options;
  options.initial_backoff = 10ms;
  options.max_backoff = 40ms;
  jambox::jack::Supervisor supervisor(io, absent_server_config(), processor, events, options);
  CHECK(supervisor.state() == jambox::jack::State::stopped);

  // Another user of the same loop (the network side in jamboxd).
  int ticks = 0;
  boost::asio::steady_timer ticker(io);
  std::function<void()> tick = [&] {
    ticker.expires_after(5ms);
    ticker.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      ++ticks;
      tick();
    });
  };
  tick();

  supervisor.start();
  CHECK(supervisor.state() == jambox::jack::State::waiting);
  REQUIRE(run_until(
      io, [&] { return supervisor.status().failed_attempts >= 4; }, 20s));

  const auto status = supervisor.status();
  CHECK(status.state == jambox::jack::State::waiting);
  CHECK(status.server == absent_server_config().server_name);
  CHECK(status.last_error.find("is not running") != std::string::npos);
  CHECK(status.connects == 0);
  CHECK(status.sample_rate == 0);
  CHECK(connected_events == 0);
  CHECK(ticks > 0);

  supervisor.stop();
  CHECK(supervisor.state() == jambox::jack::State::stopped);
  const auto attempts = supervisor.status().failed_attempts;
  // Stopped means no more attempts, however long the loop runs.
  run_until(
      io, [] { return false; }, 200ms);
  CHECK(supervisor.status().failed_attempts == attempts);
  ticker.cancel();
}

TEST_CASE("stop and destruction right after start leave nothing running", "[jack]") {
  ::setenv("JACK_NO_START_SERVER", "1", 1);
  boost::asio::io_context io;
  SilentProcessor processor;
  {
    jambox::jack::Supervisor supervisor(io, absent_server_config(), processor);
    supervisor.start();
    supervisor.stop();
    supervisor.start();  // restartable
    CHECK(supervisor.state() == jambox::jack::State::waiting);
  }
  // Results posted by the helper thread after destruction must be harmless.
  io.run_for(100ms);
  SUCCEED("no crash, no leak (checked under ASan)");
}
