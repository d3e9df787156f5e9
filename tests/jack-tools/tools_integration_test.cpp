// jambox-jack-play and jambox-jack-record as the end-to-end harness uses them: real processes on a
// real (dummy) JACK server, the player's signal recorded through a direct JACK connection.
#include <jambox/jacktest/audio_file.hpp>
#include <jambox/jacktest/jack_server.hpp>
#include <jambox/jacktest/server_registry.hpp>
#include <jambox/test/binaries.hpp>
#include <jambox/test/process.hpp>
#include <jambox/test/temp_dir.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace jt = jambox::jacktest;
using jambox::test::Process;
using jambox::test::ProcessOptions;
using namespace std::chrono_literals;

namespace {

Process spawn(const jambox::test::TempDir& dir, const std::string& tool,
              std::vector<std::string> args, const std::string& name) {
  ProcessOptions options;
  options.program = jambox::test::find_binary(tool);
  options.args = std::move(args);
  options.output_dir = dir.path();
  options.name = name;
  return Process(options);
}

// Waits for the tool to exit and returns its exit code; its output goes with the caller's next
// assertion, so a failing check shows what the tool said.
int finish(Process& p, std::chrono::milliseconds timeout = 60s) {
  const auto status = p.wait_for(timeout);
  UNSCOPED_INFO("stdout: " << p.stdout_text());
  UNSCOPED_INFO("stderr: " << p.stderr_text());
  if (!status) return -1;  // still running: the caller's check fails and the process is killed
  return status->exited() ? status->code : 128 + status->signal;
}

// The last line of the tool's stdout, parsed.
nlohmann::json result_of(const Process& p) {
  std::istringstream lines(p.stdout_text());
  std::string line;
  std::string last;
  while (std::getline(lines, line)) {
    if (!line.empty()) last = line;
  }
  INFO("stdout: " << p.stdout_text() << "\nstderr: " << p.stderr_text());
  REQUIRE_FALSE(last.empty());
  return nlohmann::json::parse(last);
}

}  // namespace

TEST_CASE("noise played into a recorder through JACK correlates, frame-exact",
          "[jack][integration]") {
  jambox::test::TempDir dir("jack-tools");
  jt::JackServer server(dir);
  const std::string wav = (dir.path() / "take.wav").string();

  // Each connects to the other's ports once they exist; the player waits 500 ms after
  // connecting so the recorder is certainly recording when the signal starts.
  Process recorder =
      spawn(dir, "jambox-jack-record",
            {"-s", server.name(), "-n", "jbx-rec", "-p", "jbx-play:out_1", "-p", "jbx-play:out_2",
             "-t", "3", "-w", "30", "--signal", "noise", "--seed", "5", "-o", wav},
            "record");
  Process player =
      spawn(dir, "jambox-jack-play",
            {"-s", server.name(), "-n", "jbx-play", "-p", "jbx-rec:in_1", "-p", "jbx-rec:in_2",
             "-t", "1.5", "-w", "30", "--delay-ms", "500", "--signal", "noise", "--seed", "5"},
            "play");
  REQUIRE(finish(player) == 0);
  REQUIRE(finish(recorder) == 0);

  const auto played = result_of(player);
  CHECK(played["complete"] == true);
  CHECK(played["frames"] == 72000);
  CHECK(played["rate"] == 48000);

  const auto r = result_of(recorder);
  INFO(r.dump());
  CHECK(r["complete"] == true);
  CHECK(r["frames"] == 144000);
  // A direct connection is bit-exact. The dummy driver in a loaded container may still skip or
  // repeat a client's cycle now and then (it reports xruns by the dozen); each such period costs
  // about 1/1000 of the correlation and shows as a glitch or lag jump, so the bound leaves room
  // for several of them, and the counts are only checked to be reported.
  CHECK(r["correlation_min"].get<double>() > 0.98);
  CHECK(r["dropouts"].is_number());
  CHECK(r["glitch_periods"].is_number());
  CHECK(r["lag_jumps"].get<int>() <= r["lag_changes"].get<int>());
  REQUIRE(r["channels"].size() == 2);
  for (const auto& ch : r["channels"]) {
    CHECK(ch["found"] == true);
    CHECK(ch["probe_correlation"].get<double>() > 0.99);
    // All 1.5 s of the signal arrived (give or take skipped cycles and quiet first samples).
    CHECK(ch["active_frames"].get<std::int64_t>() >= 72000 - 4 * 64);
    CHECK(ch["active_frames"].get<std::int64_t>() <= 72000 + 4 * 64);
  }
  // Both tools start on period boundaries, so through a direct connection the signal begins a
  // whole number of periods into the recording.
  const auto lag = r["lag_frames"].get<std::int64_t>();
  CHECK(lag > 0);
  CHECK(lag % 64 == 0);

  // The saved take analysed offline gives the same answer.
  Process offline = spawn(dir, "jambox-jack-record",
                          {"--input", wav, "--signal", "noise", "--seed", "5"}, "offline");
  REQUIRE(finish(offline) == 0);
  const auto o = result_of(offline);
  CHECK(o["lag_frames"] == lag);
  CHECK(o["correlation_min"] == r["correlation_min"]);
  CHECK(o["glitch_periods"] == r["glitch_periods"]);
  const auto audio = jt::read_audio(wav);
  CHECK(audio.channels.size() == 2);
  CHECK(audio.channels[0].size() == 144000);

  // Against the wrong seed nothing correlates.
  Process wrong = spawn(dir, "jambox-jack-record",
                        {"--input", wav, "--signal", "noise", "--seed", "6"}, "wrong-seed");
  REQUIRE(finish(wrong) == 0);
  CHECK(result_of(wrong)["correlation_min"].get<double>() < 0.2);
}

TEST_CASE("impulses through a direct connection arrive with zero latency", "[jack][integration]") {
  jambox::test::TempDir dir("jack-tools");
  jt::JackServer server(dir);
  Process recorder =
      spawn(dir, "jambox-jack-record",
            {"-s", server.name(), "-n", "jbx-rec", "-p", "jbx-play:out_1", "-t", "2.5", "-w", "30",
             "--signal", "impulse", "--interval-ms", "100", "--amplitude", "0.9"},
            "record");
  Process player =
      spawn(dir, "jambox-jack-play",
            {"-s", server.name(), "-n", "jbx-play", "-p", "jbx-rec:in_1", "-t", "2", "-w", "30",
             "--signal", "impulse", "--interval-ms", "100", "--amplitude", "0.9"},
            "play");
  REQUIRE(finish(player) == 0);
  REQUIRE(finish(recorder) == 0);
  const auto played = result_of(player);
  const auto r = result_of(recorder);
  INFO(played.dump() << "\n" << r.dump());
  CHECK(played["impulses"].get<int>() >= 15);
  CHECK(r["impulses"].get<int>() >= 10);
  CHECK(r["impulses"].get<int>() <= played["impulses"].get<int>());
  // Same server, same cycle: what the player stamped is what the recorder sees (+/- rounding).
  // Under load the dummy driver occasionally hands an impulse over a period late (it reports
  // xruns then), so only the median is held to the frame.
  CHECK(std::fabs(r["latency_frames"]["median"].get<double>()) <= 1.0);
  CHECK(r["latency_frames"]["min"].get<double>() >= -1.0);
  CHECK(r["latency_frames"]["max"].get<double>() <= 2 * 64 + 1.0);
  CHECK(r["latency_ms_median"].is_number());
}

TEST_CASE("the tools reject bad command lines and missing servers plainly", "[jack][integration]") {
  jambox::test::TempDir dir("jack-tools");
  jt::prepare_jack_environment();

  Process no_port = spawn(dir, "jambox-jack-play", {"-t", "1"}, "no-port");
  CHECK(finish(no_port) == 64);
  CHECK_THAT(no_port.stderr_text(), Catch::Contains("--port"));

  Process bad_signal =
      spawn(dir, "jambox-jack-record", {"-p", "x:y", "--signal", "sine"}, "bad-signal");
  CHECK(finish(bad_signal) == 64);
  CHECK_THAT(bad_signal.stderr_text(), Catch::Contains("noise, multitone or impulse"));

  Process help = spawn(dir, "jambox-jack-record", {"--help"}, "help");
  CHECK(finish(help) == 0);
  CHECK_THAT(help.stdout_text(), Catch::Contains("--signal"));

  const std::string absent = jt::unique_server_name("jbx-none");
  Process no_server =
      spawn(dir, "jambox-jack-play", {"-s", absent, "-p", "system:playback_1"}, "no-server");
  CHECK(finish(no_server) == 1);
  CHECK_THAT(no_server.stderr_text(), Catch::Contains("'" + absent + "' is not running"));
}

namespace {

bool registered(const std::string& name) {
  const auto servers = jt::read_server_registry();
  REQUIRE(servers);
  return std::any_of(servers->begin(), servers->end(),
                     [&](const jt::RegisteredServer& s) { return s.name == name; });
}

}  // namespace

TEST_CASE("jambox-jack-reclaim frees the registry slot of a killed jackd", "[jack][integration]") {
  jambox::test::TempDir dir("jack-tools");
  jt::prepare_jack_environment();
  // Named after a process that cannot exist (beyond any pid_max), as if its test had died too.
  std::random_device random;
  const std::string name = "jbx-2147483632-reclaim-" + std::to_string(random() % 100000);
  ProcessOptions options;
  options.program = "/usr/bin/jackd";
  options.args = {"-n", name, "-d", "dummy", "-r", "48000", "-p", "64"};
  options.output_dir = dir.path();
  options.name = "jackd-killed";
  Process jackd(options);
  for (int i = 0; i < 200 && !registered(name); ++i) std::this_thread::sleep_for(25ms);
  INFO("jackd: " << jackd.stderr_text());
  REQUIRE(registered(name));
  jackd.kill();  // SIGKILL: no chance to unregister
  REQUIRE(registered(name));

  Process reclaim = spawn(dir, "jambox-jack-reclaim", {}, "reclaim");
  REQUIRE(finish(reclaim) == 0);
  CHECK(reclaim.stdout_text().find("'" + name + "'") != std::string::npos);
  CHECK_FALSE(registered(name));
}
