// Rooms by code end to end (docs/control-plane.md, "Room admission"; docs/broadcast-server.md,
// "Rooms by code"): a real mosquitto with the shipped configuration and ACL, jambox-broadcast
// making rooms on demand over MQTT, and managed jamboxd boxes. Box A (on a dummy jackd, playing
// a signal) makes a room and gets its code; box B (on its own dummy jackd) joins by the code and
// receives A; box C (no JACK) meets every refusal: code_taken, server_full, room_full,
// unknown_code, and on_demand_disabled after a reload, which leaves the room made on demand as
// it was. Nothing here asserts timings: every wait is generous and only bounds a failing test.
#include <jambox/control/admin.hpp>
#include <jambox/jacktest/jack_server.hpp>
#include <jambox/test/managed.hpp>
#include <jambox/test/mosquitto.hpp>
#include <jambox/test/process.hpp>
#include <jambox/test/server.hpp>
#include <jambox/test/stats.hpp>
#include <jambox/test/temp_dir.hpp>
#include <jambox/test/text.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <exception>
#include <functional>
#include <iostream>
#include <optional>
#include <string>

namespace jt = jambox::jacktest;
using jambox::control::AdminClient;
using jambox::test::MosquittoBroker;
using jambox::test::received_by_remote;
using jambox::test::status_until;
using jambox::test::tail;
using jambox::test::TempDir;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// Sends `type` and waits until the box's admission has answered that request (admitted or
// refused); returns the status then.
std::optional<json> admission_outcome(AdminClient& admin, const std::string& key,
                                      const std::string& type, const json& payload) {
  const auto ack = admin.command(key, type, payload, 10s);
  if (!ack || ack->value("status", "") != "ok") {
    UNSCOPED_INFO(type << " to " << key << ": " << (ack ? ack->dump() : std::string("no ack")));
    return std::nullopt;
  }
  const std::string id = (*ack)["result"]["request_id"];
  return status_until(admin, key, [&id](const json& s) {
    const json a = s.value("admission", json());
    return a.is_object() && a.value("request_id", "") == id &&
           (a.value("state", "") == "admitted" || a.value("state", "") == "refused");
  });
}

const json* room_stats(const json& stats, const std::string& name) {
  return jambox::test::find_room(stats, name);
}

}  // namespace

TEST_CASE("rooms by code: a box makes a room, another joins by its code and hears it",
          "[integration][control][rooms]") {
  TempDir dir("control-rooms");
  MosquittoBroker broker(dir, {"box-a", "box-b", "box-c"});
  jambox::test::ServerSpec spec = jambox::test::relaying_room_server(broker);
  const auto rooms_section = [](bool on_demand) {
    return std::string("[rooms]\non_demand = ") + (on_demand ? "true" : "false") +
           "\nmax_on_demand = 2\nmax_members = 2\nidle_expiry_s = 600\n";
  };
  spec.extra += rooms_section(true);
  jambox::test::BroadcastServer server(dir, spec);
  jt::JackServer jack_a(dir);
  jt::JackServer jack_b(dir);
  auto box_a =
      jambox::test::start_managed_box(dir, broker, "box-a", {.jack_server = jack_a.name()});
  auto box_b =
      jambox::test::start_managed_box(dir, broker, "box-b", {.jack_server = jack_b.name()});
  auto box_c = jambox::test::start_managed_box(dir, broker, "box-c");
  const auto diagnostics = [&] {
    return "server:\n" + tail(server.log()) + "\nbox-a:\n" + tail(box_a->stderr_text()) +
           "\nbox-b:\n" + tail(box_b->stderr_text()) + "\nbox-c:\n" + tail(box_c->stderr_text()) +
           "\nbroker:\n" + tail(broker.log());
  };

  AdminClient admin(jambox::test::admin_config(broker));
  // Whatever stops the test early (a failed REQUIRE throws), the logs say why.
  struct OnFailure {
    std::function<std::string()> what;
    ~OnFailure() {
      if (std::uncaught_exceptions() > 0) std::cerr << what() << "\n";
    }
  } on_failure{diagnostics};
  jambox::test::connect_to_boxes(admin, {"box-a", "box-b", "box-c"});

  // 1. Box A makes a room: it gets a code, is admitted, and hosts the room's transport.
  const auto made = admission_outcome(admin, "box-a", "create_room", json::object());
  REQUIRE(made);
  REQUIRE((*made)["admission"]["state"] == "admitted");
  CHECK((*made)["admission"]["request_type"] == "create_room");
  const std::string code = (*made)["admission"]["room"];
  INFO("code " << code);
  REQUIRE(code.size() == 6);
  CHECK(code.find_first_not_of("23456789ABCDEFGHJKMNPQRSTUVWXYZ") == std::string::npos);
  const auto a_in = status_until(admin, "box-a", [&](const json& s) {
    return s.value("room", json()) == code && s.value("link", "") == "joined" &&
           s["transport"].is_object();
  });
  REQUIRE(a_in);
  CHECK((*a_in)["transport"]["host"] == "box-a");
  const auto listed = server.wait_for_stats([&](const json& s) {
    const json* r = room_stats(s, code);
    return r != nullptr && r->value("member_count", 0) == 1;
  });
  REQUIRE(listed);
  CHECK((*room_stats(*listed, code))["on_demand"] == true);
  CHECK((*room_stats(*listed, code))["max_members"] == 2);
  CHECK((*room_stats(*listed, "band"))["on_demand"] == false);
  CHECK((*listed)["totals"]["rooms_on_demand"] == 1);
  CHECK(server.log().find("room " + code + " made on demand for box-a") != std::string::npos);

  // 2. Another box asking for the same code: code_taken; for its own code (typed in lower
  // case): made, upper-cased. That is max_on_demand (2).
  const auto taken = admission_outcome(admin, "box-c", "create_room", json{{"code", code}});
  REQUIRE(taken);
  CHECK((*taken)["admission"]["state"] == "refused");
  CHECK((*taken)["admission"]["error_code"] == "code_taken");
  const auto own = admission_outcome(admin, "box-c", "create_room", json{{"code", "xyz234"}});
  REQUIRE(own);
  CHECK((*own)["admission"]["state"] == "admitted");
  CHECK((*own)["admission"]["room"] == "XYZ234");
  // A code that is none is refused by the box itself, naming the field.
  const auto bad = admin.command("box-c", "create_room", json{{"code", "XYZ230"}}, 10s);
  REQUIRE(bad);
  CHECK((*bad)["error_code"] == "invalid_request");
  CHECK((*bad)["field"] == "code");

  // 3. Box B joins by the code and receives A's audio (A plays a signal into its input).
  auto play = jambox::test::spawn_built(dir.path(), "jambox-jack-play",
                                        {"-s", jack_a.name(), "-n", "play-a", "-p", "box-a:in_1",
                                         "-t", "0", "-w", "60", "--signal", "multitone"},
                                        "play-a");
  const auto joined = admission_outcome(admin, "box-b", "join_room", json{{"room", code}});
  REQUIRE(joined);
  REQUIRE((*joined)["admission"]["state"] == "admitted");
  const auto hearing = status_until(admin, "box-b", [&](const json& s) {
    return s.value("room", json()) == code && !received_by_remote(s).empty();
  });
  REQUIRE(hearing);
  const auto before = received_by_remote(*hearing);
  REQUIRE(before.size() == 1);
  // Still receiving: the count of A's packets grows.
  const auto growing = status_until(admin, "box-b", [&](const json& s) {
    const auto now = received_by_remote(s);
    return now.size() == 1 && now.begin()->first == before.begin()->first &&
           now.begin()->second > before.begin()->second + 100;
  });
  CHECK(growing);
  // The late joiner follows the room's transport, hosted by A.
  const auto follows = status_until(admin, "box-b", [](const json& s) {
    return s["transport"].is_object() && s["transport"].value("host", "") == "box-a";
  });
  CHECK(follows);
  REQUIRE(server.wait_for_stats(
      [&](const json& s) { return jambox::test::member_count(s, code) == 2; }, 30s));

  // 4. A third room on demand: server_full (C stays where it plays).
  const auto full = admission_outcome(admin, "box-c", "create_room", json::object());
  REQUIRE(full);
  CHECK((*full)["admission"]["state"] == "refused");
  CHECK((*full)["admission"]["error_code"] == "server_full");
  CHECK((*full)["room"] == "XYZ234");

  // 5. Joining A's room beyond its max_members (2): room_full.
  const auto crowded = admission_outcome(admin, "box-c", "join_room", json{{"room", code}});
  REQUIRE(crowded);
  CHECK((*crowded)["admission"]["state"] == "refused");
  CHECK((*crowded)["admission"]["error_code"] == "room_full");

  // 6. A code that names no room: unknown_code (a declared room's misspelling stays unknown_room).
  const std::string unknown = code == "ZZZ999" ? "ZZZ998" : "ZZZ999";
  const auto nowhere = admission_outcome(admin, "box-c", "join_room", json{{"room", unknown}});
  REQUIRE(nowhere);
  CHECK((*nowhere)["admission"]["error_code"] == "unknown_code");
  const auto misspelt = admission_outcome(admin, "box-c", "join_room", json{{"room", "bnad"}});
  REQUIRE(misspelt);
  CHECK((*misspelt)["admission"]["error_code"] == "unknown_room");

  // 7. A reload that turns rooms on demand off: the rooms made stay as they are, with their
  // members; no more are made.
  jambox::test::ServerSpec off = spec;
  off.extra = jambox::test::room_server_mqtt(broker) + rooms_section(false);
  REQUIRE(server.reload(
      jambox::test::render_config(off, jambox::test::BroadcastServer::stats_path(dir))));
  const auto disabled = admission_outcome(admin, "box-c", "create_room", json::object());
  REQUIRE(disabled);
  CHECK((*disabled)["admission"]["state"] == "refused");
  CHECK((*disabled)["admission"]["error_code"] == "on_demand_disabled");
  const auto kept = server.wait_for_stats([&](const json& s) {
    return jambox::test::member_count(s, code) == 2 && jambox::test::member_count(s, "XYZ234") == 1;
  });
  REQUIRE(kept);
  // B still receives A after the reload.
  const auto still = status_until(admin, "box-b", [&](const json& s) {
    const auto now = received_by_remote(s);
    return s.value("room", json()) == code && now.size() == 1 &&
           now.begin()->second > before.begin()->second + 200;
  });
  CHECK(still);
  CHECK(server.log().find("made on demand kept") != std::string::npos);

  play->signal(SIGTERM);
  admin.disconnect();
  for (auto* box : {box_a.get(), box_b.get(), box_c.get()}) CHECK(box->running());
  CHECK(server.process().running());
}
