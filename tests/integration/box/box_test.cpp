// Two jamboxd in one room through a real jambox-broadcast, on one jackd (dummy driver, 48 kHz,
// 64 frames). A known signal played into box A's inputs must come out of box B's outputs intact,
// never out of A's own; both survive their JACK server being killed and restarted; SIGTERM makes A
// leave the room, and B falls silent. Nothing here asserts timings: every wait is generous and
// only bounds a failing test.
//
// One JACK server for both boxes: the dummy driver runs on the system clock and, on a loaded
// machine, drops the time it was late by at every xrun. Two servers would each drop their own
// share, hundreds of times in a take on a starved 2-core machine: two sound cards whose clocks
// stumble apart by several percent, which no receiver can play without concealing (the jitter
// buffer's own tests cover lost time on either side). Sharing the clock leaves the path under
// test: capture, sealing, UDP through the room server, opening, the jitter buffer and playback.
#include <jambox/jacktest/jack_server.hpp>
#include <jambox/test/binaries.hpp>
#include <jambox/test/process.hpp>
#include <jambox/test/server.hpp>
#include <jambox/test/temp_dir.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace jt = jambox::jacktest;
using jambox::test::Process;
using jambox::test::TempDir;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<Process> spawn(const TempDir& dir, const std::string& program,
                               std::vector<std::string> args, const std::string& name) {
  return jambox::test::spawn_built(dir.path(), program, std::move(args), name);
}

std::string box_config(const std::string& name, const std::string& jack_server,
                       const std::string& room_server, const std::string& secret,
                       const std::string& room = "band") {
  std::ostringstream c;
  c << "[audio]\n"
    << "client_name = \"" << name << "\"\n"
    << "server_name = \"" << jack_server << "\"\n"
    << "capture = [\"\", \"\"]\n"
    << "playback = [\"\", \"\"]\n"
    << "monitor = false\n"
    << "[room]\n"
    << "server = \"" << room_server << "\"\n"
    << "name = \"" << room << "\"\n"
    << "secret = \"" << secret << "\"\n"
    << "[status]\n"
    << "interval_s = 1\n";
  return c.str();
}

std::unique_ptr<Process> start_box(const TempDir& dir, const std::string& name,
                                   const std::string& jack_server, const std::string& room_server,
                                   const std::string& secret) {
  const auto conf =
      dir.write_file(name + ".conf", box_config(name, jack_server, room_server, secret));
  return spawn(dir, "jamboxd", {"--config", conf.string()}, name);
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

// Waits until the box logged `what` at least `times` times (or exited).
bool wait_for_log(Process& box, const std::string& what, std::size_t times = 1,
                  std::chrono::milliseconds timeout = 60s) {
  return jt::wait_until([&] { return count(box.stderr_text(), what) >= times || !box.running(); },
                        timeout) &&
         count(box.stderr_text(), what) >= times;
}

// The latest periodic status line of a box ("status room=... remotes=N ...").
std::string last_status(const Process& box) {
  const std::string text = box.stderr_text();
  const auto pos = text.rfind("status room=");
  if (pos == std::string::npos) return {};
  return text.substr(pos, text.find('\n', pos) - pos) + " ";
}

int finish(Process& p, std::chrono::milliseconds timeout = 120s) {
  const auto status = p.wait_for(timeout);
  UNSCOPED_INFO(p.stderr_path().filename().string() << " stderr: " << p.stderr_text());
  if (!status) return -1;
  return status->exited() ? status->code : 128 + status->signal;
}

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

// The engine sums a remote's two channels and pans the sum (centre by default), so a signal
// played into one input of A comes out of both outputs of B: in_1 and out_1 are compared.
std::vector<std::string> record_args(const std::string& server, const std::string& name,
                                     const std::string& box, double seconds) {
  return {"-s", server, "-n",       name,       "-p", box + ":out_1", "-t", std::to_string(seconds),
          "-w", "60",   "--signal", "multitone"};
}

std::vector<std::string> play_args(const std::string& server, const std::string& name,
                                   const std::string& box, double seconds, int delay_ms) {
  return {"-s",       server,        "-n",         name,
          "-p",       box + ":in_1", "-t",         std::to_string(seconds),
          "-w",       "60",          "--delay-ms", std::to_string(delay_ms),
          "--signal", "multitone"};
}

// B hears A's signal: high correlation on both channels, no stretch of silence inside it.
void check_heard(const nlohmann::json& rec) {
  INFO("recording: " << rec.dump());
  CHECK(rec.value("complete", false));
  // Correlation over the whole take, each period at the lag it was found at: the signal is there
  // and intact. Isolated bad periods are not asserted on: on a loaded 2-core machine the dummy
  // driver skips or repeats client cycles now and then (see tests/jack-tools/README.md), which
  // shows as glitches even on a direct JACK connection. Stretches of exact silence inside the
  // signal (lost audio) must stay rare.
  CHECK(rec.value("correlation_min", 0.0) > 0.8);
  REQUIRE(rec.contains("channels"));
  for (const auto& ch : rec["channels"]) {
    const double frames = ch.value("compared_frames", 0.0);
    CHECK(frames > 0.0);
    CHECK(ch.value("dropout_frames", frames) <= 0.01 * frames);
  }
}

// Nothing but silence (the recorder reports -120 dBFS or so for digital silence).
void check_silent(const nlohmann::json& rec) {
  INFO("recording: " << rec.dump());
  REQUIRE(rec.contains("channels"));
  for (const auto& ch : rec["channels"]) CHECK(ch.value("peak_dbfs", 0.0) < -90.0);
}

}  // namespace

TEST_CASE("two jamboxd in one room: B hears A, A never hears itself, A survives JACK and leaves",
          "[box][integration]") {
  TempDir dir("box-e2e");
  jt::JackServer jack(dir);
  const std::string secret = jambox::test::random_secret();
  jambox::test::ServerSpec spec;
  spec.rooms = {{"band", secret, 0}, {"other", secret, 0}};
  spec.log_level = "info";
  jambox::test::BroadcastServer server(dir, spec);
  const std::string address = server.endpoint().to_string();

  auto box_a = start_box(dir, "boxA", jack.name(), address, secret);
  auto box_b = start_box(dir, "boxB", jack.name(), address, secret);
  for (Process* box : {box_a.get(), box_b.get()}) {
    INFO("stderr: " << box->stderr_text());
    REQUIRE(wait_for_log(*box, "joined room band"));
    REQUIRE(wait_for_log(*box, "audio running"));
  }

  // 1. A's signal at B's outputs; at the same time A's own outputs stay silent.
  {
    auto rec_b =
        spawn(dir, "jambox-jack-record", record_args(jack.name(), "rec-b1", "boxB", 12), "rec-b1");
    auto rec_a =
        spawn(dir, "jambox-jack-record", record_args(jack.name(), "rec-a1", "boxA", 12), "rec-a1");
    auto play = spawn(dir, "jambox-jack-play", play_args(jack.name(), "play-a1", "boxA", 9, 1500),
                      "play-a1");
    REQUIRE(finish(*play) == 0);
    REQUIRE(finish(*rec_b) == 0);
    REQUIRE(finish(*rec_a) == 0);
    check_heard(result_of(*rec_b));
    check_silent(result_of(*rec_a));
  }

  // 2. SIGHUP with another room: A moves without restarting audio, B stops hearing it; and back.
  dir.write_file("boxA.conf", box_config("boxA", jack.name(), address, secret, "other"));
  REQUIRE(box_a->signal(SIGHUP));
  REQUIRE(wait_for_log(*box_a, "joined room other"));
  REQUIRE(jt::wait_until(
      [&] { return last_status(*box_b).find(" remotes=0 ") != std::string::npos; }, 60s));
  dir.write_file("boxA.conf", box_config("boxA", jack.name(), address, secret));
  REQUIRE(box_a->signal(SIGHUP));
  REQUIRE(wait_for_log(*box_a, "joined room band", 2));
  CHECK(count(box_a->stderr_text(), "audio running") == 1);  // audio was never restarted
  REQUIRE(jt::wait_until(
      [&] { return last_status(*box_b).find(" remotes=1 ") != std::string::npos; }, 60s));

  // 3. The JACK server dies and comes back: both boxes reconnect by themselves and B hears A again.
  jack.kill();
  for (Process* box : {box_a.get(), box_b.get()}) REQUIRE(wait_for_log(*box, "audio stopped"));
  jack.start();
  for (Process* box : {box_a.get(), box_b.get()}) {
    REQUIRE(wait_for_log(*box, "audio running", 2));
    REQUIRE(box->running());
  }
  {
    auto rec_b =
        spawn(dir, "jambox-jack-record", record_args(jack.name(), "rec-b2", "boxB", 8), "rec-b2");
    auto play = spawn(dir, "jambox-jack-play", play_args(jack.name(), "play-a2", "boxA", 5, 1500),
                      "play-a2");
    REQUIRE(finish(*play) == 0);
    REQUIRE(finish(*rec_b) == 0);
    check_heard(result_of(*rec_b));
  }

  // 4. SIGTERM: A leaves the room and exits 0 while its input still gets the signal; B falls
  // silent.
  // The recorder starts first: it looks for the signal from its beginning.
  auto rec_b3 =
      spawn(dir, "jambox-jack-record", record_args(jack.name(), "rec-b3", "boxB", 6), "rec-b3");
  auto play =
      spawn(dir, "jambox-jack-play", play_args(jack.name(), "play-a3", "boxA", 0, 1500), "play-a3");
  REQUIRE(finish(*rec_b3) == 0);
  {
    const auto rec = result_of(*rec_b3);
    INFO("recording: " << rec.dump());
    CHECK(rec.value("correlation_min", 0.0) > 0.5);  // A is heard before it leaves
  }
  REQUIRE(box_a->signal(SIGTERM));
  CHECK(finish(*box_a, 30s) == 0);
  CHECK(count(box_a->stderr_text(), "leaving room band on") == 1);
  // B learns of A's departure from its silence: the engine conceals briefly, then releases A's
  // slot (remote_timeout_ms). From then on B plays silence although A's input still gets signal.
  REQUIRE(jt::wait_until(
      [&] { return last_status(*box_b).find(" remotes=0 ") != std::string::npos; }, 60s));
  {
    auto rec_b =
        spawn(dir, "jambox-jack-record", record_args(jack.name(), "rec-b4", "boxB", 3), "rec-b4");
    REQUIRE(finish(*rec_b) == 0);
    check_silent(result_of(*rec_b));
  }
  play->signal(SIGTERM);
  finish(*play, 30s);
  REQUIRE(box_b->signal(SIGTERM));
  CHECK(finish(*box_b, 30s) == 0);
}

// The rms level of a recording's first channel.
double rms_dbfs(const nlohmann::json& rec) {
  REQUIRE(rec.contains("channels"));
  REQUIRE_FALSE(rec["channels"].empty());
  return rec["channels"][0].value("rms_dbfs", 0.0);
}

TEST_CASE("a pedal on box A: box B hears A through it, and A plays its board again after a restart",
          "[box][integration][pedals]") {
  TempDir dir("box-pedal");
  jt::JackServer jack(dir);
  const std::string secret = jambox::test::random_secret();
  jambox::test::ServerSpec spec;
  spec.rooms = {{"band", secret, 0}};
  jambox::test::BroadcastServer server(dir, spec);
  const std::string address = server.endpoint().to_string();
  const auto boards = dir.path() / "boards";
  const std::string effects =
      "[effects]\nallow = [\"http://lv2plug.in/plugins/*\"]\nboards_dir = \"" + boards.string() +
      "\"\n";
  const auto conf_a =
      dir.write_file("boxA.conf", box_config("boxA", jack.name(), address, secret) + effects);
  auto box_b = start_box(dir, "boxB", jack.name(), address, secret);

  // One take: A plays the signal into in_1, B records out_1.
  const auto take = [&](const std::string& name) {
    auto rec = spawn(dir, "jambox-jack-record", record_args(jack.name(), "rec-" + name, "boxB", 10),
                     "rec-" + name);
    auto play = spawn(dir, "jambox-jack-play",
                      play_args(jack.name(), "play-" + name, "boxA", 7, 1500), "play-" + name);
    REQUIRE(finish(*play) == 0);
    REQUIRE(finish(*rec) == 0);
    return result_of(*rec);
  };

  // 1. No pedals: the level B hears.
  double dry = 0.0;
  {
    auto box_a = spawn(dir, "jamboxd", {"--config", conf_a.string()}, "boxA-dry");
    for (Process* box : {box_a.get(), box_b.get()}) {
      INFO("stderr: " << box->stderr_text());
      REQUIRE(wait_for_log(*box, "joined room band"));
      REQUIRE(wait_for_log(*box, "audio running"));
    }
    const auto rec = take("dry");
    check_heard(rec);
    dry = rms_dbfs(rec);
    REQUIRE(box_a->signal(SIGTERM));
    CHECK(finish(*box_a, 30s) == 0);
  }

  // 2. The board A had when it stopped: a gain pedal at -12 dB on input 1 (as insert_pedal and
  // set_pedal_param leave it). A restarted A restores it and B hears the signal through it.
  std::filesystem::create_directories(boards);
  dir.write_file("boards/board.json",
                 R"({"version":1,"channels":[{"pedals":[{"uri":"http://lv2plug.in/plugins/eg-amp",)"
                 R"("bypassed":false,"params":[["gain",-12.0]]}]},{"pedals":[]}]})");
  auto box_a = spawn(dir, "jamboxd", {"--config", conf_a.string()}, "boxA-pedal");
  {
    INFO("stderr: " << box_a->stderr_text());
    REQUIRE(wait_for_log(*box_a, "channel 1: 1 pedals restored"));
    REQUIRE(wait_for_log(*box_a, "joined room band"));
    REQUIRE(wait_for_log(*box_a, "audio running"));
  }
  REQUIRE(jt::wait_until(
      [&] { return last_status(*box_b).find(" remotes=1 ") != std::string::npos; }, 60s));
  const auto rec = take("pedal");
  check_heard(rec);  // the signal intact, only quieter
  const double through = rms_dbfs(rec);
  INFO("dry " << dry << " dBFS, through the pedal " << through << " dBFS");
  CHECK(dry - through == Approx(12.0).margin(1.0));
  REQUIRE(box_a->signal(SIGTERM));
  CHECK(finish(*box_a, 30s) == 0);
  REQUIRE(box_b->signal(SIGTERM));
  CHECK(finish(*box_b, 30s) == 0);
}

TEST_CASE("jamboxd command line: --check-config, --set, --help, --version", "[box][integration]") {
  TempDir dir("box-cli");
  const auto good = dir.write_file(
      "good.conf", box_config("boxA", "nojack", "127.0.0.1:7930", "0123456789abcdef0123"));
  const auto bad = dir.write_file("bad.conf", "[audio]\npacket_frames = 100\n");
  const auto run = [&](std::vector<std::string> args, const std::string& name) {
    auto p = spawn(dir, "jamboxd", std::move(args), name);
    const int code = finish(*p, 30s);
    return std::make_pair(code, p->stdout_text() + p->stderr_text());
  };
  CHECK(run({"--check-config", "--config", good.string()}, "check-good").first == 0);
  const auto [bad_code, bad_text] = run({"--check-config", "--config", bad.string()}, "check-bad");
  CHECK(bad_code == 78);
  CHECK(bad_text.find("bad.conf:2") != std::string::npos);
  CHECK(bad_text.find("packet_frames") != std::string::npos);
  CHECK(run({"--check-config", "--config", (dir.path() / "missing.conf").string()}, "missing")
            .first == 78);
  CHECK(
      run({"--check-config", "--config", good.string(), "--set", "room.name=bad name"}, "check-set")
          .first == 78);
  // A server address start-up would refuse is refused here too, naming file, line and key.
  int n = 0;
  for (const char* server : {"nonsense", "host:", ":7930", "256.1.1.1:99999", ""}) {
    CAPTURE(server);
    const std::string name = "server" + std::to_string(++n);
    const auto file = dir.write_file(name + ".conf",
                                     box_config("boxA", "nojack", server, "0123456789abcdef0123"));
    const auto [code, text] = run({"--check-config", "--config", file.string()}, "check-" + name);
    CAPTURE(text);
    CHECK(code == 78);
    CHECK(text.find(name + ".conf:8: room.server: '" + server + "': ") != std::string::npos);
    CHECK(text.find("expected HOST:PORT") != std::string::npos);
  }
  // A configuration error also stops the daemon itself with 78, before touching JACK.
  CHECK(run({"--config", bad.string()}, "run-bad").first == 78);
  CHECK(run({"--help"}, "help").second.find("--check-config") != std::string::npos);
  CHECK(run({"--version"}, "version").second.find("jamboxd") != std::string::npos);
  CHECK(run({"--no-such-option"}, "usage").first == 64);
}
