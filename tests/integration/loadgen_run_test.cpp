// A short jambox-loadgen run against a real server: the result line is one JSON object whose
// figures add up. Timings are reported by the benchmark, never asserted here.
#include "integration.hpp"
#include <jambox/test/binaries.hpp>
#include <jambox/test/process.hpp>

#include <sstream>

namespace jt = jambox::test;

namespace {

nlohmann::json last_json_line(const std::string& text) {
  std::istringstream lines(text);
  std::string line;
  std::string last;
  while (std::getline(lines, line)) {
    if (!line.empty()) last = line;
  }
  return nlohmann::json::parse(last, nullptr, /*allow_exceptions=*/false);
}

}  // namespace

TEST_CASE("jambox-loadgen reports a loss-free short run as one JSON line", "[integration]") {
  const unsigned junk_rate = GENERATE(0U, 2000U);
  // Audio sealed with the room's audio key, as boxes send it: the receiving jammers open it with
  // the same key, so a wrong seal shows as rejected (client_rejected) and missing deliveries.
  const bool room_audio = GENERATE(false, true);
  INFO("junk rate " << junk_rate << ", room audio " << room_audio);
  jt::TempDir dir;
  jt::ServerSpec spec;
  const std::string red = jt::random_secret();
  const std::string blue = jt::random_secret();
  spec.rooms = {{"red", red, 0}, {"blue", blue, 0}};
  spec.log_level = "info";
  jt::BroadcastServer server(dir, spec);

  jt::ProcessOptions options;
  options.program = jt::find_binary("jambox-loadgen");
  options.args = {"--server",     server.endpoint().to_string(),
                  "--room",       "red=" + red,
                  "--room",       "blue=" + blue,
                  "--jammers",    "4",
                  "--seconds",    "2",
                  "--server-pid", std::to_string(server.process().pid()),
                  "--junk-rate",  std::to_string(junk_rate),
                  "--live"};
  if (room_audio) options.args.emplace_back("--room-audio");
  options.output_dir = dir.path();
  jt::Process loadgen(std::move(options));
  const auto status = loadgen.wait_for(std::chrono::seconds(60));
  INFO("loadgen stderr:\n" << loadgen.stderr_text() << "\nserver log:\n" << server.log());
  REQUIRE(status);
  REQUIRE(status->code == 0);

  const std::string out = loadgen.stdout_text();
  INFO("loadgen stdout: " << out);
  // Exactly one line, and it is a JSON object.
  CHECK(std::count(out.begin(), out.end(), '\n') == 1);
  const nlohmann::json result = last_json_line(out);
  REQUIRE(result.is_object());
  for (const char* key :
       {"jammers", "rooms", "seconds", "sent", "expected", "received", "loss_pct", "lat_us_p50",
        "lat_us_p99", "lat_us_p999", "server_cpu_pct", "server_cpu_us_per_forwarded", "duplicates",
        "reordered", "junk_sent", "rtt_us_p50", "send_late_max_us"}) {
    CHECK(result.contains(key));
  }
  CHECK(result["jammers"] == 4);
  CHECK(result["room_audio"] == room_audio);
  CHECK(result["client_rejected"] == 0);
  CHECK(result["rooms"] == 2);
  // 2 jammers per room: every packet is expected once, at the other member.
  CHECK(result["sent"].get<std::uint64_t>() > 0);
  CHECK(result["expected"] == result["sent"]);
  CHECK(result["received"] == result["expected"]);
  CHECK(result["loss_pct"].get<double>() == 0.0);
  CHECK(result["duplicates"] == 0);
  CHECK(result["cross_room"] == 0);
  CHECK(result["self_deliveries"] == 0);
  CHECK(result["junk_answers"] == 0);
  CHECK(result["server_cpu_pct"].is_number());
  // Every member talks, so the round trip rides on forwarded audio (a sample per delivery once
  // the member's own first packet reached the server), and echoes are only the fallback for a
  // member that heard nothing for 50 ms.
  CHECK(result["rtt_samples"].get<double>() >= 0.99 * result["received"].get<double>());
  CHECK(result["echoes"].get<std::uint64_t>() < result["sent"].get<std::uint64_t>() / 10);
  if (junk_rate > 0) {
    CHECK(result["junk_sent"].get<std::uint64_t>() > 1000);
    // The server counted the junk as rejected.
    const auto stats = server.wait_for_stats([](const nlohmann::json& s) {
      return jt::total(s, "rejected") > 1000 && jt::rejected_count(s, "bad_tag") > 0 &&
             jt::rejected_count(s, "unknown_session") > 0;
    });
    CHECK(stats);
  } else {
    CHECK(result["junk_sent"] == 0);
  }
  // The jammers left at the end.
  const auto stats = server.wait_for_stats([](const nlohmann::json& s) {
    return jt::member_count(s, "red") == 0 && jt::member_count(s, "blue") == 0;
  });
  const auto last = server.stats();
  INFO("last stats: " << (last ? last->dump() : std::string("none")));
  CHECK(stats);
  // --live wrote its lines to stderr, not stdout.
  CHECK(loadgen.stderr_text().find("loss") != std::string::npos);
}
