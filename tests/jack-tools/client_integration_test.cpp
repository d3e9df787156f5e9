// jack::Client against real JACK servers (jackd -d dummy, see jack_server.hpp for the flags that
// work in our containers): ports, auto-connection, the processor's frame counts, refusals of
// unsupported rates and periods, and what happens when the server disappears.
#include <jambox/jack/client.hpp>
#include <jambox/jacktest/jack_server.hpp>
#include <jambox/test/temp_dir.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <limits>
#include <string>
#include <thread>
#include <vector>

namespace jt = jambox::jacktest;
namespace jack = jambox::jack;
using namespace std::chrono_literals;

namespace {

// Copies inputs to outputs and remembers what JACK handed it.
class ThruProcessor final : public jack::AudioProcessor {
 public:
  void process(std::span<const float* const> in, std::span<float* const> out,
               std::uint32_t frames) noexcept override {
    if (in.size() != jack::kChannels || out.size() != jack::kChannels) bad_shape = true;
    for (std::size_t c = 0; c < out.size(); ++c) {
      if (in[c] == nullptr || out[c] == nullptr) {
        bad_shape = true;
        continue;
      }
      std::copy_n(in[c], frames, out[c]);
    }
    std::uint32_t seen = min_frames.load();
    while (frames < seen && !min_frames.compare_exchange_weak(seen, frames)) {
    }
    seen = max_frames.load();
    while (frames > seen && !max_frames.compare_exchange_weak(seen, frames)) {
    }
    last_frames = frames;
    if (stall.exchange(false)) {
      // Test only: miss the deadline by far so JACK reports an xrun.
      const auto until = std::chrono::steady_clock::now() + 50ms;
      while (std::chrono::steady_clock::now() < until) {
      }
    }
    calls.fetch_add(1);
  }

  std::atomic<std::uint64_t> calls{0};
  std::atomic<std::uint32_t> last_frames{0};
  std::atomic<std::uint32_t> min_frames{std::numeric_limits<std::uint32_t>::max()};
  std::atomic<std::uint32_t> max_frames{0};
  std::atomic<bool> stall{false};
  std::atomic<bool> bad_shape{false};
};

jack::ClientConfig config_for(const jt::JackServer& server,
                              const std::string& name = "jbx-client") {
  jack::ClientConfig config;
  config.client_name = name;
  config.server_name = server.name();
  return config;
}

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

using Strings = std::vector<std::string>;

}  // namespace

TEST_CASE("the client registers four ports, auto-connects and processes every period",
          "[jack][integration]") {
  jambox::test::TempDir dir("jack-client");
  jt::JackServer server(dir);
  jt::JackProbe probe(server.name());
  ThruProcessor processor;

  jack::Client client(config_for(server), processor);
  CHECK(client.name() == "jbx-client");
  CHECK(client.server() == server.name());
  CHECK(client.sample_rate() == 48000);
  CHECK(client.period() == 64);
  CHECK(client.port_names() == std::array<std::string, 4>{"jbx-client:in_1", "jbx-client:in_2",
                                                          "jbx-client:out_1", "jbx-client:out_2"});
  // Registered before activation, so an owner can wire up before audio runs.
  CHECK(sorted(probe.ports("^jbx-client:")) ==
        Strings{"jbx-client:in_1", "jbx-client:in_2", "jbx-client:out_1", "jbx-client:out_2"});
  CHECK(probe.connections("jbx-client:in_1").empty());

  const jack::ConnectReport report = client.start();
  CHECK(report.missing.empty());
  CHECK(sorted(report.connected) ==
        Strings{"jbx-client:out_1 -> system:playback_1", "jbx-client:out_2 -> system:playback_2",
                "system:capture_1 -> jbx-client:in_1", "system:capture_2 -> jbx-client:in_2"});
  CHECK(probe.connections("jbx-client:in_1") == Strings{"system:capture_1"});
  CHECK(probe.connections("jbx-client:in_2") == Strings{"system:capture_2"});
  CHECK(probe.connections("jbx-client:out_1") == Strings{"system:playback_1"});
  CHECK(probe.connections("jbx-client:out_2") == Strings{"system:playback_2"});
  CHECK(client.connections(0) == Strings{"system:capture_1"});
  CHECK(client.connections(3) == Strings{"system:playback_2"});
  CHECK(client.connections(4).empty());
  CHECK(client.port_exists("system:capture_1"));
  CHECK_FALSE(client.port_exists("system:capture_9"));

  REQUIRE(jt::wait_until([&] { return processor.calls.load() >= 200; }, 20s));
  CHECK(processor.min_frames.load() == 64);
  CHECK(processor.max_frames.load() == 64);
  CHECK_FALSE(processor.bad_shape.load());
  CHECK(client.cycles() >= 200);
  CHECK(client.skipped_cycles() == 0);
  CHECK_FALSE(client.server_gone());

  // Real-time scheduling is JACK's: we only report what it did.
  CHECK(client.realtime() == probe.realtime());
  if (client.realtime()) {
    CHECK(client.realtime_priority() > 0);
  } else {
    CHECK(client.realtime_priority() == -1);
  }
  const auto stamp = client.cycle_time_us();
  CHECK(stamp > 0);
  std::this_thread::sleep_for(20ms);
  CHECK(client.cycle_time_us() > stamp);

  // An overrun of ~37 periods is an xrun the client counts (the dummy driver may add its own).
  const auto xruns_before = client.xruns();
  processor.stall = true;
  CHECK(jt::wait_until([&] { return client.xruns() > xruns_before; }, 20s));
}

TEST_CASE("closing the client removes its ports", "[jack][integration]") {
  jambox::test::TempDir dir("jack-client");
  jt::JackServer server(dir);
  jt::JackProbe probe(server.name());
  ThruProcessor processor;
  {
    jack::Client client(config_for(server), processor);
    client.start();
    REQUIRE(probe.ports("^jbx-client:").size() == 4);
  }
  CHECK(jt::wait_until([&] { return probe.ports("^jbx-client:").empty(); }, 10s));
  const auto calls = processor.calls.load();
  std::this_thread::sleep_for(100ms);
  CHECK(processor.calls.load() == calls);
}

TEST_CASE("missing, empty and wrong-direction port names leave ports unconnected",
          "[jack][integration]") {
  jambox::test::TempDir dir("jack-client");
  jt::JackServer server(dir);
  jt::JackProbe probe(server.name());
  ThruProcessor processor;
  jack::ClientConfig config = config_for(server);
  config.capture = {"nosuch:port", ""};
  config.playback = {"system:playback_2", "system:capture_1"};  // capture_1 is not a sink

  jack::Client client(config, processor);
  const jack::ConnectReport report = client.start();
  CHECK(report.connected == Strings{"jbx-client:out_1 -> system:playback_2"});
  CHECK(sorted(report.missing) == Strings{"nosuch:port", "system:capture_1"});
  CHECK(probe.connections("jbx-client:in_1").empty());
  CHECK(probe.connections("jbx-client:in_2").empty());
  CHECK(probe.connections("jbx-client:out_1") == Strings{"system:playback_2"});
  CHECK(probe.connections("jbx-client:out_2").empty());
  // Unconnected or not, the processor runs.
  CHECK(jt::wait_until([&] { return processor.calls.load() >= 10; }, 20s));
}

TEST_CASE("a 44100 Hz server is refused with a clear error", "[jack][integration]") {
  jambox::test::TempDir dir("jack-client");
  jt::JackServerOptions options;
  options.rate = 44100;
  jt::JackServer server(dir, options);
  ThruProcessor processor;
  try {
    jack::Client client(config_for(server), processor);
    FAIL("a 44100 Hz server was accepted");
  } catch (const jack::Error& e) {
    CHECK(e.kind() == jack::ErrorKind::unsupported_rate);
    const std::string message = e.what();
    CHECK_THAT(message, Catch::Contains("'" + server.name() + "' runs at 44100 Hz"));
    CHECK_THAT(message, Catch::Contains("needs 48000 Hz"));
    CHECK_THAT(message, Catch::Contains("-r 48000"));
  }
  // The refused client is closed again, leaving nothing behind.
  jt::JackProbe probe(server.name());
  CHECK(jt::wait_until([&] { return probe.ports("^jbx-client:").empty(); }, 10s));
  CHECK(processor.calls.load() == 0);
}

TEST_CASE("periods 32..256 are accepted, 16 and 512 refused", "[jack][integration]") {
  jambox::test::TempDir dir("jack-client");
  for (std::uint32_t period : {32u, 256u, 16u, 512u}) {
    CAPTURE(period);
    jt::JackServerOptions options;
    options.period = period;
    jt::JackServer server(dir, options);
    ThruProcessor processor;
    const bool supported = period >= jack::kMinPeriod && period <= jack::kMaxPeriod;
    if (supported) {
      jack::Client client(config_for(server), processor);
      client.start();
      REQUIRE(jt::wait_until([&] { return processor.calls.load() >= 20; }, 20s));
      CHECK(processor.min_frames.load() == period);
      CHECK(processor.max_frames.load() == period);
    } else {
      try {
        jack::Client client(config_for(server), processor);
        FAIL("period accepted");
      } catch (const jack::Error& e) {
        CHECK(e.kind() == jack::ErrorKind::unsupported_period);
        CHECK_THAT(std::string(e.what()), Catch::Contains(std::to_string(period) + " frames") &&
                                              Catch::Contains("32..256"));
      }
    }
  }
}

TEST_CASE("no server, or a taken name, is reported as such", "[jack][integration]") {
  jt::prepare_jack_environment();
  ThruProcessor processor;
  jack::ClientConfig config;
  config.client_name = "jbx-client";
  config.server_name = jt::unique_server_name("jbx-none");
  try {
    jack::Client client(config, processor);
    FAIL("opened a client without a server");
  } catch (const jack::Error& e) {
    CHECK(e.kind() == jack::ErrorKind::server_unavailable);
    CHECK_THAT(std::string(e.what()), Catch::Contains("is not running"));
  }

  jambox::test::TempDir dir("jack-client");
  jt::JackServer server(dir);
  jack::Client first(config_for(server, "jbx-same"), processor);
  ThruProcessor other;
  try {
    jack::Client second(config_for(server, "jbx-same"), other);
    FAIL("two clients with one exact name");
  } catch (const jack::Error& e) {
    CHECK(e.kind() == jack::ErrorKind::name_taken);
    CHECK_THAT(std::string(e.what()),
               Catch::Contains("'jbx-same'") && Catch::Contains("already exists"));
  }
}

TEST_CASE("a runtime period change reaches the client; unsupported periods get silence",
          "[jack][integration]") {
  jambox::test::TempDir dir("jack-client");
  jt::JackServer server(dir);
  jt::JackProbe probe(server.name());
  ThruProcessor processor;
  jack::Client client(config_for(server), processor);
  client.start();
  REQUIRE(jt::wait_until([&] { return processor.calls.load() >= 10; }, 20s));

  REQUIRE(probe.set_period(128));
  CHECK(jt::wait_until([&] { return client.period() == 128; }, 10s));
  CHECK(jt::wait_until([&] { return processor.last_frames.load() == 128; }, 10s));

  REQUIRE(probe.set_period(512));
  CHECK(jt::wait_until([&] { return client.period() == 512; }, 10s));
  CHECK(jt::wait_until([&] { return client.skipped_cycles() >= 10; }, 10s));
  // The processor never saw a period it did not prepare for.
  CHECK(processor.max_frames.load() == 128);
}

TEST_CASE("a server that disappears is noticed, and closing afterwards is safe",
          "[jack][integration]") {
  jambox::test::TempDir dir("jack-client");
  jt::JackServer server(dir);
  ThruProcessor processor;
  auto client = std::make_unique<jack::Client>(config_for(server), processor);
  client->start();
  REQUIRE(jt::wait_until([&] { return processor.calls.load() >= 10; }, 20s));
  server.kill();
  REQUIRE(jt::wait_until([&] { return client->server_gone(); }, 10s));
  CHECK_FALSE(client->port_exists("system:capture_1"));
  CHECK(client->connections(0).empty());
  CHECK(client->port_names()[0] == "jbx-client:in_1");
  const auto start = std::chrono::steady_clock::now();
  client.reset();
  CHECK(std::chrono::steady_clock::now() - start < 10s);
}
