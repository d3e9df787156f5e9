// jambox-broadcast as a service: configuration checks, SIGHUP reloads, SIGTERM/SIGINT stops.
#include "integration.hpp"
#include <jambox/test/binaries.hpp>
#include <jambox/test/process.hpp>

#include <atomic>
#include <csignal>
#include <mutex>
#include <thread>

namespace jt = jambox::test;
namespace wire = jambox::wire;
using Event = jt::TestJammer::Event;
using jt::kQuiet;
using jt::kWait;

namespace {

// Runs `jambox-broadcast --check-config` on `config_text`; returns (status, stderr).
std::pair<jt::ExitStatus, std::string> check_config(const jt::TempDir& dir,
                                                    const std::filesystem::path& file) {
  jt::ProcessOptions options;
  options.program = jt::find_binary("jambox-broadcast");
  options.args = {"--check-config", "--config", file.string()};
  options.output_dir = dir.path();
  options.name = "check-" + file.stem().string();
  jt::Process process(std::move(options));
  const auto status = process.wait_for(std::chrono::seconds(20));
  REQUIRE(status);
  return {*status, process.stderr_text() + process.stdout_text()};
}

// Stops and joins helper threads however the test ends, so a failed REQUIRE never leaves a
// joinable std::thread behind (which would terminate the test program).
class Workers {
 public:
  ~Workers() { stop(); }
  template <typename F>
  void spawn(F body) {
    threads_.emplace_back([this, body] { body(stop_); });
  }
  void stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

}  // namespace

TEST_CASE("--check-config accepts a good file and rejects a broken one with file:line:key",
          "[integration]") {
  jt::TempDir dir;
  const std::string secret = jt::random_secret();

  SECTION("a good configuration") {
    jt::ServerSpec spec;
    spec.rooms = {{"main", secret, 0}};
    const auto file = dir.write_file("good.conf", jt::render_config(spec, dir.path() / "s.json"));
    const auto [status, output] = check_config(dir, file);
    INFO(output);
    CHECK(status.exited());
    CHECK(status.code == 0);
    CHECK(output.find("configuration OK") != std::string::npos);
  }

  SECTION("a value out of range") {
    const auto file = dir.write_file("range.conf",
                                     "[server]\n"
                                     "listen = \"127.0.0.1:0\"\n"
                                     "member_timeout_ms = 5\n"
                                     "\n"
                                     "[[room]]\n"
                                     "name = \"main\"\n"
                                     "secret = \"" +
                                         secret + "\"\n");
    const auto [status, output] = check_config(dir, file);
    INFO(output);
    CHECK(status.code == 78);
    CHECK(output.find(file.string() + ":3") != std::string::npos);
    CHECK(output.find("member_timeout_ms") != std::string::npos);
  }

  SECTION("a secret that is too short") {
    const auto file = dir.write_file("secret.conf",
                                     "[server]\n"
                                     "listen = \"127.0.0.1:0\"\n"
                                     "\n"
                                     "[[room]]\n"
                                     "name = \"main\"\n"
                                     "secret = \"short\"\n");
    const auto [status, output] = check_config(dir, file);
    INFO(output);
    CHECK(status.code == 78);
    CHECK(output.find(file.string() + ":6") != std::string::npos);
    CHECK(output.find("secret") != std::string::npos);
    CHECK(output.find("16") != std::string::npos);
  }

  SECTION("a room declared twice points at the second one") {
    const auto file = dir.write_file("twice.conf",
                                     "[server]\n"
                                     "listen = \"127.0.0.1:0\"\n"
                                     "\n"
                                     "[[room]]\n"
                                     "name = \"main\"\n"
                                     "secret = \"" +
                                         secret +
                                         "\"\n"
                                         "\n"
                                         "[[room]]\n"
                                         "name = \"main\"\n"
                                         "secret = \"" +
                                         secret + "\"\n");
    const auto [status, output] = check_config(dir, file);
    INFO(output);
    CHECK(status.code == 78);
    CHECK(output.find(file.string() + ":9") != std::string::npos);
    CHECK(output.find("name") != std::string::npos);
  }

  SECTION("a file that is not TOML") {
    const auto file = dir.write_file("garbage.conf", "[server\nlisten = = 3\n");
    const auto [status, output] = check_config(dir, file);
    INFO(output);
    CHECK(status.code == 78);
    CHECK(output.find(file.string()) != std::string::npos);
  }
}

TEST_CASE("SIGHUP reload adds and removes rooms without disturbing the others", "[integration]") {
  jt::TempDir dir;
  const std::string keep_secret = jt::random_secret();
  const std::string gone_secret = jt::random_secret();
  const std::string new_secret = jt::random_secret();
  jt::ServerSpec spec;
  spec.member_timeout_ms = 5000;
  spec.rooms = {{"keep", keep_secret, 0}, {"gone", gone_secret, 0}};
  jt::BroadcastServer server(dir, spec);
  auto keep = jt::admit(server, "keep", keep_secret, 2);
  auto gone = jt::admit(server, "gone", gone_secret, 1);
  const std::uint32_t talker_id = keep[0]->session_id();
  const std::uint32_t listener_id = keep[1]->session_id();

  // One member of "keep" talks every 2 ms and the other listens, each from its own thread, all
  // through the reload: not one packet may be missed and nobody rejoins.
  std::mutex mutex;
  std::vector<std::uint32_t> sent;
  std::vector<std::uint32_t> heard;
  std::atomic<bool> talking{true};
  std::atomic<std::size_t> listener_rejected{0};
  bool reloaded = false;
  {
    Workers workers;
    workers.spawn([&](const std::atomic<bool>& stop) {
      // Paced on an absolute 2 ms grid: draining returns as soon as an echo arrives, and an
      // unpaced talker would overflow the listener's socket buffer (a test-side loss).
      auto next_send = std::chrono::steady_clock::now();
      while (!stop && talking) {
        const std::uint32_t sequence = keep[0]->send_audio();
        {
          std::lock_guard lock(mutex);
          sent.push_back(sequence);
        }
        next_send += std::chrono::milliseconds(2);
        keep[0]->drain(std::chrono::milliseconds(1));  // its echoes
        std::this_thread::sleep_until(next_send);
      }
    });
    workers.spawn([&](const std::atomic<bool>& stop) {
      auto next_keepalive = std::chrono::steady_clock::now();
      while (!stop) {
        if (std::chrono::steady_clock::now() >= next_keepalive) {
          keep[1]->send_keepalive();
          next_keepalive += std::chrono::milliseconds(200);
        }
        const auto got = keep[1]->receive(std::chrono::milliseconds(20));
        if (!got) continue;
        if (got->event == Event::rejected || got->event == Event::notice) ++listener_rejected;
        if (got->event == Event::audio && got->header.session_id == talker_id) {
          std::lock_guard lock(mutex);
          heard.push_back(got->header.sequence);
        }
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    jt::ServerSpec next = spec;
    next.rooms = {{"keep", keep_secret, 0}, {"new", new_secret, 0}};
    reloaded = server.reload(jt::render_config(next, jt::BroadcastServer::stats_path(dir)));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    talking = false;
    // Let the last packets arrive before the listener stops.
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    for (;;) {
      {
        std::lock_guard lock(mutex);
        if (heard.size() >= sent.size() || std::chrono::steady_clock::now() > deadline) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  INFO("server log:\n" << server.log());
  REQUIRE(reloaded);
  REQUIRE(sent.size() > 10);
  CHECK(heard == sent);
  CHECK(listener_rejected == 0);

  // The removed room's member was told.
  const auto notice = gone[0]->receive_event(Event::notice, kWait);
  REQUIRE(notice);
  CHECK(notice->notice == wire::NoticeCode::room_closed);

  // The new room admits and forwards; the removed one no longer answers.
  auto fresh = jt::admit(server, "new", new_secret, 2);
  const std::uint32_t sequence = fresh[0]->send_audio();
  const auto got = fresh[1]->receive_event(Event::audio, kWait);
  REQUIRE(got);
  CHECK(got->header.sequence == sequence);
  jt::TestJammer late("gone", gone_secret, server.endpoint());
  CHECK(late.join(std::chrono::milliseconds(600)) == jt::TestJammer::JoinResult::no_answer);

  const auto stats = server.wait_for_stats([](const nlohmann::json& s) {
    return jt::find_room(s, "gone") == nullptr && jt::member_count(s, "new") == 2;
  });
  REQUIRE(stats);
  const nlohmann::json* room = jt::find_room(*stats, "keep");
  REQUIRE(room != nullptr);
  CHECK(jt::find_member(*room, talker_id) != nullptr);
  CHECK(jt::find_member(*room, listener_id) != nullptr);
}

TEST_CASE("a reload that changes a room's secret closes the room: a leaked secret is revoked",
          "[integration]") {
  jt::TempDir dir;
  const std::string old_secret = jt::random_secret();
  const std::string new_secret = jt::random_secret();
  jt::ServerSpec spec;
  spec.rooms = {{"band", old_secret, 0}};
  jt::BroadcastServer server(dir, spec);
  auto old_members = jt::admit(server, "band", old_secret, 2);

  spec.rooms = {{"band", new_secret, 0}};
  INFO("server log:\n" << server.log());
  REQUIRE(server.reload(jt::render_config(spec, jt::BroadcastServer::stats_path(dir))));
  for (auto& member : old_members) {
    const auto notice = member->receive_event(Event::notice, kWait);
    REQUIRE(notice);
    CHECK(notice->notice == wire::NoticeCode::room_closed);
  }

  // The old secret opens nothing any more; the new one does.
  jt::TestJammer stale("band", old_secret, server.endpoint());
  CHECK(stale.join(std::chrono::milliseconds(600)) == jt::TestJammer::JoinResult::no_answer);
  auto new_members = jt::admit(server, "band", new_secret, 1);

  // The old sessions are gone: their audio reaches nobody and is not echoed.
  old_members[0]->send_audio();
  CHECK(jt::count_events(new_members[0]->drain(kQuiet), Event::audio) == 0);
  CHECK(jt::count_events(old_members[0]->drain(kQuiet), Event::echo) == 0);
  const auto stats = server.wait_for_stats(
      [](const nlohmann::json& s) { return jt::member_count(s, "band") == 1; });
  CHECK(stats);
}

TEST_CASE("a reload with a broken config keeps the old configuration running", "[integration]") {
  jt::TempDir dir;
  const std::string secret = jt::random_secret();
  jt::ServerSpec spec;
  spec.member_timeout_ms = 5000;
  spec.rooms = {{"band", secret, 0}};
  jt::BroadcastServer server(dir, spec);
  auto jammers = jt::admit(server, "band", secret, 2);

  dir.write_file(server.config_file().filename().string(), "[server]\nmember_timeout_ms = \"x\"\n");
  REQUIRE(server.process().signal(SIGHUP));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  INFO("server log:\n" << server.log());
  REQUIRE(server.process().running());

  const std::uint32_t sequence = jammers[0]->send_audio();
  const auto got = jammers[1]->receive_event(Event::audio, kWait);
  REQUIRE(got);
  CHECK(got->header.sequence == sequence);
  const auto stats = server.wait_for_stats(
      [](const nlohmann::json& s) { return jt::member_count(s, "band") == 2; });
  CHECK(stats);
}

TEST_CASE("SIGTERM and SIGINT stop the server cleanly and tell the members", "[integration]") {
  const int sig = GENERATE(SIGTERM, SIGINT);
  INFO("signal " << sig);
  jt::TempDir dir;
  const std::string secret = jt::random_secret();
  jt::ServerSpec spec;
  spec.rooms = {{"band", secret, 0}};
  jt::BroadcastServer server(dir, spec);
  auto jammers = jt::admit(server, "band", secret, 2);
  std::filesystem::remove(server.stats_file());

  REQUIRE(server.process().signal(sig));
  const auto status = server.process().wait_for(std::chrono::seconds(10));
  INFO("server log:\n" << server.log());
  REQUIRE(status);
  CHECK(status->exited());
  CHECK(status->code == 0);

  for (auto& jammer : jammers) {
    const auto notice = jammer->receive_event(Event::notice, kWait);
    REQUIRE(notice);
    CHECK(notice->notice == wire::NoticeCode::server_stopping);
  }
  // A final stats file was written on the way out.
  const auto stats = jt::read_stats(server.stats_file());
  REQUIRE(stats);
  CHECK(stats->value("program", "") == "jambox-broadcast");
}
