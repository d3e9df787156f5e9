// jamboxd in managed mode against a real mosquitto (the shipped configuration and ACL, a PKI from
// packaging/make-pki.sh). The boxes run without JACK: the control plane must work regardless.
// Waits are generous and only bound a failing test; nothing here asserts timings.
#include <jambox/control/admin.hpp>
#include <jambox/test/managed.hpp>
#include <jambox/test/mosquitto.hpp>
#include <jambox/test/mosquitto_clients.hpp>
#include <jambox/test/process.hpp>
#include <jambox/test/server.hpp>
#include <jambox/test/stats.hpp>
#include <jambox/test/temp_dir.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using jambox::control::AdminClient;
using jambox::test::admin_config;
using jambox::test::connect_to_boxes;
using jambox::test::MosquittoBroker;
using jambox::test::Process;
using jambox::test::start_managed_box;
using jambox::test::TempDir;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<Process> run(const TempDir& dir, const std::string& program,
                             std::vector<std::string> args, const std::string& name) {
  return jambox::test::spawn_built(dir.path(), program, std::move(args), name);
}

// Exit code of a short-lived program (-1 when it did not finish).
int finish(Process& p, std::chrono::milliseconds timeout = 30s) {
  const auto status = p.wait_for(timeout);
  UNSCOPED_INFO(p.stderr_path().filename().string() << " stderr: " << p.stderr_text());
  if (!status) return -1;
  return status->exited() ? status->code : 128 + status->signal;
}

json raw_command(const std::string& id, const std::string& type, json payload = json::object()) {
  return json{{"command_id", id}, {"command_type", type}, {"payload", std::move(payload)}};
}

}  // namespace

TEST_CASE("commands over the broker: acks, duplicates once, bad input answered, rate limit",
          "[integration][control]") {
  TempDir dir("control");
  MosquittoBroker broker(dir, {"box-1"});
  auto box = start_managed_box(dir, broker, "box-1", {.extra_mqtt = "commands_per_minute = 60\n"});
  AdminClient admin(admin_config(broker));
  INFO("box: " << box->stderr_text() << "\nbroker: " << broker.log());
  connect_to_boxes(admin, {"box-1"});

  // A full round trip with a result.
  const auto status = admin.command("box-1", "get_status", json::object(), 5s);
  REQUIRE(status);
  CHECK((*status)["status"] == "ok");
  const json& doc = (*status)["result"];
  CHECK(doc["player_key"] == "box-1");
  CHECK(doc["status"] == "online");
  CHECK(doc["connection_state"] == "connected");
  CHECK(doc["room"].is_null());
  const std::uint64_t executed_before = doc["commands"]["executed"].get<std::uint64_t>();

  // The same command twice (a QoS 1 redelivery): the same ack, executed once.
  const std::string twice = raw_command("dup-1", "set_master", {{"gain_db", -6}}).dump();
  REQUIRE(admin.send_raw("box-1", twice));
  const auto first = admin.wait_ack("dup-1", 5s);
  REQUIRE(admin.send_raw("box-1", twice));
  const auto second = admin.wait_ack("dup-1", 5s);
  REQUIRE(first);
  REQUIRE(second);
  CHECK((*first)["status"] == "ok");
  CHECK(*first == *second);
  const auto after = admin.command("box-1", "get_status", json::object(), 5s);
  REQUIRE(after);
  // get_status itself ran once before this one was answered.
  CHECK((*after)["result"]["commands"]["executed"].get<std::uint64_t>() == executed_before + 2);
  CHECK((*after)["result"]["commands"]["duplicates"].get<std::uint64_t>() == 1);

  // Bad input: each answered with its code; nothing breaks.
  REQUIRE(admin.send_raw("box-1", "{\"command_id\": \"x\", "));
  const auto malformed = admin.wait_ack(nullptr, 5s);
  REQUIRE(malformed);
  CHECK((*malformed)["error_code"] == "invalid_json");
  const auto unknown = admin.command("box-1", "format_disk", json::object(), 5s);
  REQUIRE(unknown);
  CHECK((*unknown)["status"] == "unsupported");
  const auto out_of_range = admin.command("box-1", "set_master", {{"gain_db", 99}}, 5s);
  REQUIRE(out_of_range);
  CHECK((*out_of_range)["error_code"] == "invalid_request");
  CHECK((*out_of_range)["field"] == "gain_db");
  const std::string big =
      raw_command("big-1", "set_master", {{"pad", std::string(130 * 1024, 'x')}}).dump();
  REQUIRE(admin.send_raw("box-1", big));
  const auto too_large = admin.wait_ack(nullptr, 5s);
  REQUIRE(too_large);
  CHECK((*too_large)["error_code"] == "payload_too_large");
  const auto no_room = admin.command("box-1", "leave_room", json::object(), 5s);
  REQUIRE(no_room);
  CHECK((*no_room)["error_code"] == "not_in_room");

  // A burst over the limit (60 a minute, some already used): every command answered, the
  // excess with rate_limited, and the box still running.
  std::vector<std::string> ids;
  for (int i = 0; i < 70; ++i) {
    ids.push_back("burst-" + std::to_string(i));
    REQUIRE(admin.send_raw("box-1", raw_command(ids.back(), "ping").dump()));
  }
  int ok = 0;
  int limited = 0;
  for (const auto& id : ids) {
    const auto ack = admin.wait_ack(id, 10s);
    REQUIRE(ack);
    if ((*ack)["status"] == "ok") ++ok;
    if ((*ack)["error_code"] == "rate_limited") ++limited;
  }
  CHECK(ok + limited == 70);
  CHECK(limited >= 10);
  CHECK(box->running());
}

TEST_CASE("an unusable identity stops jamboxd with exit 78 and says what is wrong",
          "[integration][control]") {
  TempDir dir("control-identity");
  MosquittoBroker broker(dir, {"box-1", "box-2"});
  struct Case {
    std::string name;
    std::string cert;
    std::string key;
    std::string player;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"expired", "expired", "expired", "expired-player", "expired on"},
      {"wrong-ca", "rogue", "rogue", "rogue-player", "not signed by the CA"},
      {"loose-key", "loose", "loose", "loose-player", "chmod 600"},
      {"cn-mismatch", "box-1", "box-1", "box-2", "CN 'box-1'"},
      {"foreign-key", "box-1", "box-2", "box-1", "does not belong"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    const std::string text =
        "[mqtt]\nenabled = true\nbroker = \"" + broker.uri() + "\"\nplayer_key = \"" + c.player +
        "\"\nca_file = \"" + broker.ca().string() + "\"\ncert_file = \"" +
        broker.cert(c.cert).string() + "\"\nkey_file = \"" + broker.key(c.key).string() + "\"\n";
    const auto conf = dir.write_file(c.name + ".conf", text);
    for (const bool check_only : {true, false}) {
      std::vector<std::string> args = {"--config", conf.string()};
      if (check_only) args.emplace_back("--check-config");
      auto p = run(dir, "jamboxd", args, c.name + (check_only ? "-check" : "-run"));
      CHECK(finish(*p) == 78);
      const std::string err = p->stderr_text();
      CHECK(err.find(c.name + ".conf:") != std::string::npos);
      CHECK(err.find(c.says) != std::string::npos);
    }
  }
}

TEST_CASE("the broker restarts: the box reconnects, resubscribes and loses no command",
          "[integration][control]") {
  TempDir dir("control-restart");
  MosquittoBroker broker(dir, {"box-1"});
  auto box = start_managed_box(dir, broker, "box-1");
  AdminClient admin(admin_config(broker));
  INFO("box: " << box->stderr_text());
  connect_to_boxes(admin, {"box-1"});

  broker.kill();
  broker.start();
  // Both clients find the new broker by themselves (a first retry within 250 ms, then backoff
  // from 1 s).
  const bool back = jambox::test::box_answers(admin, "box-1", 30s);
  if (!back) UNSCOPED_INFO("box: " << box->stderr_text() << "\nbroker: " << broker.log());
  REQUIRE(back);
  CHECK(box->stderr_text().find("MQTT reconnecting") != std::string::npos);
  for (int i = 0; i < 20; ++i) {
    const auto ack = admin.command("box-1", "ping", json::object(), 5s);
    REQUIRE(ack);
    CHECK((*ack)["status"] == "ok");
  }
  CHECK(box->running());
}

TEST_CASE("managed join_room: jamboxctl puts two boxes into one room on jambox-broadcast",
          "[integration][control]") {
  TempDir dir("control-join");
  MosquittoBroker broker(dir, {"box-1", "box-2"});
  // The room server admits the boxes by ticket and relays their presence and transport.
  jambox::test::BroadcastServer server(dir, jambox::test::relaying_room_server(broker));
  auto box1 = start_managed_box(dir, broker, "box-1");
  auto box2 = start_managed_box(dir, broker, "box-2");
  {
    AdminClient admin(admin_config(broker));
    connect_to_boxes(admin, {"box-1", "box-2"});
    admin.disconnect();
  }

  const std::vector<std::string> ctl = {"--broker", broker.uri(),
                                        "--ca",     broker.ca().string(),
                                        "--cert",   broker.cert("jamboxctl").string(),
                                        "--key",    broker.key("jamboxctl").string()};
  const auto jamboxctl = [&](std::vector<std::string> words, const std::string& name) {
    std::vector<std::string> args = ctl;
    args.insert(args.end(), words.begin(), words.end());
    return run(dir, "jamboxctl", args, name);
  };
  for (const std::string key : {"box-1", "box-2"}) {
    auto send = jamboxctl({"send", key, "join_room", "--room", "band"}, "join-" + key);
    CHECK(finish(*send) == 0);
  }
  const auto both = server.wait_for_stats(
      [](const json& s) { return jambox::test::member_count(s, "band") == 2; });
  INFO("server: " << server.log());
  CHECK(both);

  // The join view event is repeated until acknowledged; each box sees the other in its roster.
  {
    AdminClient admin(admin_config(broker));
    std::string why;
    REQUIRE(admin.connect(10s, why));
    json join_view;
    const auto view_deadline = std::chrono::steady_clock::now() + 30s;
    admin.watch(
        "box-1",
        [&](const std::string& kind, const json& doc) {
          if (kind == "view" && doc.value("event", "") == "join") join_view = doc;
        },
        [&] { return join_view.is_object() || std::chrono::steady_clock::now() > view_deadline; },
        [] {});
    REQUIRE(join_view.is_object());
    CHECK(join_view["room"] == "band");
    CHECK(join_view["request_ack"] == true);
    REQUIRE(admin.ack_view("box-1", join_view["event_id"].get<std::string>()));
    json seen;
    const auto deadline = std::chrono::steady_clock::now() + 40s;
    while (std::chrono::steady_clock::now() < deadline) {
      const auto st = admin.command("box-1", "get_status", json::object(), 5s);
      if (st && (*st)["result"]["views"]["acked"] == 1 && (*st)["result"]["views"]["queued"] == 0 &&
          (*st)["result"]["peers"] == json::array({"box-2"})) {
        seen = (*st)["result"];
        break;
      }
      std::this_thread::sleep_for(200ms);
    }
    INFO("box-1: " << box1->stderr_text());
    REQUIRE(seen.is_object());
    admin.disconnect();
  }

  auto rooms = jamboxctl({"--json", "rooms"}, "rooms");
  REQUIRE(finish(*rooms) == 0);
  const json listed = json::parse(rooms->stdout_text());
  CHECK(listed["rooms"]["band"] == json::array({"box-1", "box-2"}));

  auto status = jamboxctl({"--json", "status", "box-1"}, "status-box-1");
  REQUIRE(finish(*status) == 0);
  const json ack = json::parse(status->stdout_text());
  CHECK(ack["result"]["room"] == "band");
  CHECK(ack["result"]["link"] == "joined");

  // box-1 hosts the room's transport: box-2 follows it, and learns it again as a late joiner.
  const auto transport_of = [&](const std::string& key) {
    AdminClient admin(admin_config(broker));
    std::string why;
    json found;
    if (!admin.connect(10s, why)) return found;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      const auto st = admin.command(key, "get_status", json::object(), 5s);
      if (st && (*st)["result"]["transport"].is_object()) {
        found = (*st)["result"]["transport"];
        break;
      }
      std::this_thread::sleep_for(200ms);
    }
    admin.disconnect();
    return found;
  };
  auto host = jamboxctl({"send", "box-1", "set_transport", "--tempo_bpm", "96", "--metronome",
                         "true", "--playing", "true"},
                        "transport");
  CHECK(finish(*host) == 0);
  const json followed = transport_of("box-2");
  CHECK(followed["host"] == "box-1");
  CHECK(followed["tempo_bpm"] == 96);
  CHECK(followed["metronome"] == true);
  CHECK(followed["playing"] == true);
  auto leave2 = jamboxctl({"send", "box-2", "leave_room"}, "leave-2");
  CHECK(finish(*leave2) == 0);
  auto rejoin2 = jamboxctl({"send", "box-2", "join_room", "--room", "band"}, "rejoin-2");
  CHECK(finish(*rejoin2) == 0);
  const json relearned = transport_of("box-2");
  CHECK(relearned["host"] == "box-1");
  CHECK(relearned["tempo_bpm"] == 96);

  // Broken room messages from a member (box-2's identity, on the topics the ACL grants it) are
  // dropped and counted by the room server, which relays only what it could read: box-1 never
  // sees them, nothing falls over, the room's transport stays the host's.
  const auto publish_as_box2 = [&](const std::string& topic, const std::string& payload) {
    return jambox::test::publish(broker, dir, "box-2", topic, payload, 30s);
  };
  const std::string transport_topic = "jambox/player/box-2/room/out/transport";
  for (const std::string payload :
       {"{not json", "[]",
        R"({"event":"update","host":"box-2","tempo_bpm":"fast","metronome":true})",
        R"({"event":"update","host":"box-1","tempo_bpm":100,"metronome":true})",
        R"({"event":"update","host":"box-2","tempo_bpm":1000,"metronome":true})"}) {
    CHECK_FALSE(publish_as_box2(transport_topic, payload).failed());
  }
  CHECK_FALSE(publish_as_box2("jambox/player/box-2/room/out/presence", "{\"event\":").failed());
  const auto dropped = server.wait_for_stats(
      [](const json& s) {
        return jambox::test::relay_dropped(
                   s, {"invalid_json", "not_object", "invalid_field", "not_owner"}) >= 6;
      },
      30s);
  CHECK(dropped);
  if (dropped) {
    const json& figures = (*dropped)["relay"];
    CHECK(figures["dropped"]["not_owner"] == 1);
    CHECK(figures["dropped"]["invalid_field"] == 2);
    CHECK(figures["relayed"]["transport"].get<int>() >= 1);
    CHECK(figures["relayed"]["presence"].get<int>() >= 2);
  }
  {
    AdminClient admin(admin_config(broker));
    connect_to_boxes(admin, {"box-1", "box-2"});
    const auto reply = admin.command("box-1", "get_status", json::object(), 5s);
    REQUIRE(reply);
    const json st = (*reply)["result"];
    REQUIRE(st.is_object());
    CHECK(st["transport_rejected"] == 0);  // nothing broken got through to the box
    CHECK(st["transport"]["host"] == "box-1");
    CHECK(st["transport"]["tempo_bpm"] == 96);
    CHECK(st["peers"] == json::array({"box-2"}));
    // Bad set_transport payloads are refused naming the field; the transport is unchanged.
    const auto bad_tempo = admin.command("box-1", "set_transport", json{{"tempo_bpm", 1000}}, 10s);
    REQUIRE(bad_tempo);
    CHECK((*bad_tempo)["error_code"] == "invalid_request");
    CHECK((*bad_tempo)["field"] == "tempo_bpm");
    const auto bad_queue = admin.command("box-1", "set_transport", json{{"queue", "x"}}, 10s);
    REQUIRE(bad_queue);
    CHECK((*bad_queue)["error_code"] == "invalid_request");
    CHECK((*bad_queue)["field"] == "queue");
    admin.disconnect();
  }

  // A refused command makes jamboxctl exit 1; leaving takes the box out of the room.
  auto refused = jamboxctl({"send", "box-1", "set_master", "--gain_db", "99"}, "refused");
  CHECK(finish(*refused) == 1);
  auto leave = jamboxctl({"send", "box-1", "leave_room"}, "leave");
  CHECK(finish(*leave) == 0);
  const auto one = server.wait_for_stats(
      [](const json& s) { return jambox::test::member_count(s, "band") == 1; });
  CHECK(one);
  for (auto* box : {box1.get(), box2.get()}) CHECK(box->running());
}

TEST_CASE("room admission over MQTT: jambox-broadcast hands boxes tickets, never the secret",
          "[integration][control]") {
  TempDir dir("control-admission");
  MosquittoBroker broker(dir, {"box-1", "box-2"});
  jambox::test::BroadcastServer server(dir, jambox::test::relaying_room_server(broker));
  auto box1 = start_managed_box(dir, broker, "box-1");
  auto box2 = start_managed_box(dir, broker, "box-2");

  AdminClient admin(admin_config(broker));
  connect_to_boxes(admin, {"box-1", "box-2"});
  // join_room without server or secret: the box asks the room servers for a ticket.
  for (const std::string key : {"box-1", "box-2"}) {
    const auto ack = admin.command(key, "join_room", json{{"room", "band"}}, 10s);
    REQUIRE(ack);
    CHECK((*ack)["status"] == "ok");
    CHECK((*ack)["result"]["admission"] == "requested");
  }
  const auto both = server.wait_for_stats(
      [](const json& s) { return jambox::test::member_count(s, "band") == 2; });
  INFO("server: " << server.log());
  INFO("box-1: " << box1->stderr_text());
  CHECK(both);

  const auto status_of = [&](const std::string& key, const std::string& state) {
    json found;
    const auto deadline = std::chrono::steady_clock::now() + 40s;
    while (std::chrono::steady_clock::now() < deadline) {
      const auto st = admin.command(key, "get_status", json::object(), 5s);
      if (st && (*st)["result"].contains("admission") &&
          (*st)["result"]["admission"]["state"] == state) {
        found = (*st)["result"];
        break;
      }
      std::this_thread::sleep_for(200ms);
    }
    return found;
  };
  const json admitted = status_of("box-1", "admitted");
  REQUIRE(admitted.is_object());
  CHECK(admitted["room"] == "band");
  CHECK(admitted["link"] == "joined");

  // An unknown room is refused with its error code; until admitted elsewhere a box stays where
  // it plays.
  const auto ack = admin.command("box-2", "join_room", json{{"room", "nowhere"}}, 10s);
  REQUIRE(ack);
  const json refused = status_of("box-2", "refused");
  REQUIRE(refused.is_object());
  CHECK(refused["admission"]["room"] == "nowhere");
  CHECK(refused["admission"]["error_code"] == "unknown_room");
  // The status names the request it answers (jamboxctl follows it by that id).
  CHECK(refused["admission"]["request_id"] == (*ack)["result"]["request_id"]);
  CHECK(refused["room"] == "band");
  CHECK(refused["link"] == "joined");
  admin.disconnect();
  CHECK(server.log().find("admission: ticket for room band to box-1") != std::string::npos);
}

TEST_CASE(
    "a managed box boots into the room its jamboxd.conf names, by ticket, after a restart "
    "too, and follows a reload to another",
    "[integration][control]") {
  TempDir dir("control-ticket-room");
  MosquittoBroker broker(dir, {"box-1"});
  jambox::test::ServerSpec spec = jambox::test::relaying_room_server(broker);
  spec.rooms.push_back({"stage", jambox::test::random_secret(), 0});
  jambox::test::BroadcastServer server(dir, spec);
  const auto joins = [](const json& s) { return s["totals"]["joins"].get<std::int64_t>(); };
  const jambox::test::ManagedBoxOptions in_band{.extra_mqtt = "[room]\nname = \"band\"\n"};
  // The room server first, subscribed to requests: a request no server hears yet is asked again
  // only after the 30 s request timeout (and this test is not about that).
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (server.log().find("admission: answering join_room") == std::string::npos &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(50ms);
  }
  REQUIRE(server.log().find("admission: answering join_room") != std::string::npos);

  // No command: the box asks for its room once its MQTT session is up.
  auto box = start_managed_box(dir, broker, "box-1", in_band);
  INFO("server: " << server.log());
  INFO("box: " << box->stderr_text());
  CHECK(server.wait_for_stats(
      [](const json& s) { return jambox::test::member_count(s, "band") == 1; }, 30s));
  CHECK(box->stderr_text().find("admission: jamboxd.conf names room band") != std::string::npos);

  // Killed (a power cut, a watchdog restart) and started again: back in the room, no hands on it.
  const auto before = server.stats();
  REQUIRE(before);
  box->signal(SIGKILL);
  static_cast<void>(box->wait_for(10s));
  box = start_managed_box(dir, broker, "box-1", in_band);
  INFO("box after the restart: " << box->stderr_text());
  const std::int64_t joins_before = joins(*before);
  CHECK(server.wait_for_stats([&](const json& s) { return joins(s) > joins_before; }, 30s));

  // A reload naming another room moves the box there.
  const auto conf = dir.path() / "box-1.conf";
  std::ifstream in(conf);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto at = text.find("name = \"band\"");
  REQUIRE(at != std::string::npos);
  text.replace(at, 13, "name = \"stage\"");
  static_cast<void>(dir.write_file("box-1.conf", text));
  box->signal(SIGHUP);
  CHECK(server.wait_for_stats(
      [](const json& s) {
        return jambox::test::member_count(s, "stage") == 1 &&
               jambox::test::member_count(s, "band") == 0;
      },
      30s));
}
