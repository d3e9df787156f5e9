// Room privacy and chat end to end: a real mosquitto with the shipped configuration and ACL, a
// real jambox-broadcast admitting boxes by ticket and relaying their rooms, real managed jamboxd
// (without JACK: the control plane works regardless), musicians' accounts made by `jamboxctl
// user` and used through the broker's web socket listener with the stock mosquitto clients.
//
// - Two boxes in a room learn each other (roster) and the host's transport through the relay;
//   a box that is not a member, subscribing to everything, receives nothing of the room.
// - A musician's chat reaches every box of the room (and the other musicians there) as the
//   server's own record; the admin's chat appears "from": "admin"; `<script>` stays text.
// - The 51st message pushes the first out of the history; a text over 500 characters is
//   refused as too_long, the 11th message in 10 s as rate_limited, a box in no room as
//   not_in_room, each on the sender's box's room/chat/refused.
//
// Proving that nothing reached the outsider needs no quiet period: the relay publishes what it
// has for every box at once, and the outsider's own command, published afterwards, arrives after
// anything that was routed to it before.
#include <jambox/control/admin.hpp>
#include <jambox/test/eventually.hpp>
#include <jambox/test/managed.hpp>
#include <jambox/test/mosquitto.hpp>
#include <jambox/test/mosquitto_clients.hpp>
#include <jambox/test/musician_accounts.hpp>
#include <jambox/test/process.hpp>
#include <jambox/test/server.hpp>
#include <jambox/test/temp_dir.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace jt = jambox::test;
using jambox::control::AdminClient;
using jt::Finished;
using jt::Subscriber;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr std::chrono::milliseconds kWait{20000};  // for something that must happen
// The subscribers wait as long, and outlive the test's own timeout should it leave them behind.
const jt::SubscriberOptions kSubscriberOptions{.lifetime = 200s, .wait = kWait};

std::string player_topic(const std::string& key, std::string_view leaf) {
  return "jambox/player/" + key + "/" + std::string(leaf);
}

// The room of this test: broker, relaying room server, two managed boxes admitted to "band",
// musicians' accounts.
struct Room {
  jt::TempDir& dir;
  jt::MosquittoBroker broker;
  jt::MusicianAccounts musicians;
  std::unique_ptr<jt::BroadcastServer> server;
  std::unique_ptr<jt::Process> box1;
  std::unique_ptr<jt::Process> box2;

  explicit Room(jt::TempDir& d)
      : dir(d), broker(d, {"box-1", "box-2", "box-3"}), musicians(d, broker, kWait) {
    server = std::make_unique<jt::BroadcastServer>(dir, jt::relaying_room_server(broker));
    box1 = jt::start_managed_box(dir, broker, "box-1");
    box2 = jt::start_managed_box(dir, broker, "box-2");
  }

  [[nodiscard]] std::string diagnostics() const {
    return "box-1:\n" + box1->stderr_text() + "\nbox-2:\n" + box2->stderr_text() + "\nserver:\n" +
           server->log();
  }

  [[nodiscard]] jambox::control::AdminConfig admin_config() const {
    // The jamboxctl processes this test runs alongside connect with client ids of their own
    // (identity plus random bits): they do not take this session over.
    return jt::admin_config(broker);
  }

  // `jamboxctl [ARGS]` against this broker; its result.
  Finished jamboxctl(const std::vector<std::string>& args) const {
    std::vector<std::string> all = {"--broker",
                                    broker.uri(),
                                    "--ca",
                                    broker.ca().string(),
                                    "--cert",
                                    broker.cert("jamboxctl").string(),
                                    "--key",
                                    broker.key("jamboxctl").string(),
                                    "--web-dir",
                                    broker.web_dir().string(),
                                    "--broker-pid-file",
                                    musicians.pid_file().string()};
    all.insert(all.end(), args.begin(), args.end());
    auto p = jt::spawn_built(dir.path(), "jamboxctl", all, jt::unique_output_name("jamboxctl"));
    return jt::finish_within(*p, kWait);
  }

  // A musician granted `box`, password "<name>-password", and the broker reloaded with it.
  void add_musician(const std::string& name, const std::string& box) const {
    musicians.add(name, name + "-password", {"--box", box});
  }

  [[nodiscard]] jt::Login musician(const std::string& name) const {
    return jt::web_login(broker, name, name + "-password");
  }

  // Musician `name`'s chat on `box`: one message per line of `lines`.
  Finished chat(const std::string& name, const std::string& box,
                const std::vector<std::string>& lines) const {
    return jt::publish_lines(dir, musician(name), player_topic(box, "chat/from/" + name), lines,
                             kWait);
  }
};

std::string text_message(const std::string& text) {
  return json{{"text", text}}.dump();
}

bool is_message(const json& doc, const std::string& from, const std::string& text) {
  return doc.value("event", "") == "message" && doc.value("from", "") == from &&
         doc.value("text", "") == text;
}

}  // namespace

TEST_CASE("the room server relays a room to its members only; chat reaches every member",
          "[integration][control][relay]") {
  jt::TempDir dir("room-relay");
  Room room(dir);
  INFO(room.diagnostics());
  AdminClient admin(room.admin_config());
  jt::connect_to_boxes(admin, {"box-1", "box-2"});

  // What the room server publishes to any box, as the admin may read it.
  Subscriber watcher(dir, "watcher", room.broker.client_args("jamboxctl"),
                     {"jambox/player/+/room/#"}, kSubscriberOptions);
  // box-3 is in no room; it subscribes to everything it could ever want.
  Subscriber outsider(dir, "box-3", room.broker.client_args("box-3"),
                      {"#", "jambox/#", "jambox/room/#", "jambox/player/+/room/#",
                       player_topic("box-3", "room/in/+/+"), player_topic("box-3", "command")},
                      kSubscriberOptions);
  REQUIRE(watcher.wait_subscribed());
  REQUIRE(outsider.wait_subscribed());

  for (const std::string key : {"box-1", "box-2"}) {
    const auto ack = admin.command(key, "join_room", json{{"room", "band"}}, 10s);
    REQUIRE(ack);
    REQUIRE((*ack)["status"] == "ok");
  }
  // Each box learns the other through the relay alone.
  CHECK(jt::status_until(admin, "box-1",
                         [](const json& s) { return s["peers"] == json::array({"box-2"}); }));
  CHECK(jt::status_until(admin, "box-2",
                         [](const json& s) { return s["peers"] == json::array({"box-1"}); }));
  const json relayed = watcher.wait_for_document(
      player_topic("box-1", "room/in/presence/box-2"),
      [](const json& doc) { return doc.value("player_key", "") == "box-2"; });
  REQUIRE(relayed.is_object());
  CHECK(relayed.contains("timestamp"));
  CHECK_FALSE(relayed.contains("room"));  // the server's serialisation, not the box's

  // The host's transport reaches the other box.
  const auto hosted =
      admin.command("box-1", "set_transport",
                    json{{"tempo_bpm", 96}, {"metronome", true}, {"playing", true}}, 10s);
  REQUIRE(hosted);
  CHECK((*hosted)["status"] == "ok");
  const auto followed = jt::status_until(admin, "box-2", [](const json& s) {
    return s["transport"].is_object() && s["transport"].value("host", "") == "box-1";
  });
  REQUIRE(followed);
  CHECK((*followed)["transport"]["tempo_bpm"] == 96);
  CHECK((*followed)["transport"]["playing"] == true);

  // Musicians: alice plays on box-1, bob on box-2, carol on box-3 (in no room).
  room.add_musician("alice", "box-1");
  room.add_musician("bob", "box-2");
  room.add_musician("carol", "box-3");
  Subscriber bob(dir, "bob", room.musician("bob"), {player_topic("box-2", "room/#")},
                 kSubscriberOptions);
  REQUIRE(bob.wait_subscribed());

  // alice's message reaches both boxes' chat (and bob, reading his box): markup stays text.
  const std::string script = "<script>alert('x')</script> & <b>hi</b>";
  REQUIRE_FALSE(room.chat("alice", "box-1", {text_message(script)}).failed());
  for (const std::string key : {"box-1", "box-2"}) {
    const json got = watcher.wait_for_document(
        player_topic(key, "room/chat"),
        [&](const json& doc) { return is_message(doc, "alice", script); });
    INFO(key);
    REQUIRE(got.is_object());
    CHECK(got["box"] == "box-1");
    CHECK(got["room"] == "band");
    CHECK(got["seq"].is_number_unsigned());
    CHECK(got["time"].is_number_integer());
  }
  CHECK(bob.wait_for_document(player_topic("box-2", "room/chat"),
                              [&](const json& doc) { return is_message(doc, "alice", script); })
            .is_object());
  // As published, the text is a JSON string: the markup is inside quotes, never bare.
  bool raw_seen = false;
  for (const jt::Message& m : bob.messages()) {
    if (m.topic == player_topic("box-2", "room/chat") &&
        m.payload.find("alert") != std::string::npos) {
      raw_seen = true;
      CHECK(m.payload.find("\"text\":\"<script>alert('x')</script> & <b>hi</b>\"") !=
            std::string::npos);
    }
  }
  CHECK(raw_seen);

  // The admin's message.
  const Finished said = room.jamboxctl({"chat", "band", "soundcheck in five"});
  CHECK_FALSE(said.failed());
  CHECK(watcher
            .wait_for_document(player_topic("box-2", "room/chat"),
                               [](const json& doc) {
                                 return is_message(doc, "admin", "soundcheck in five") &&
                                        !doc.contains("box");
                               })
            .is_object());

  // Refusals, each on the sender's box's room/chat/refused.
  REQUIRE_FALSE(room.chat("alice", "box-1",
                          {json{{"text", std::string(501, 'a')}, {"client_id", "long-1"}}.dump()})
                    .failed());
  const json too_long = watcher.wait_for_document(
      player_topic("box-1", "room/chat/refused"),
      [](const json& doc) { return doc.value("error_code", "") == "too_long"; });
  REQUIRE(too_long.is_object());
  CHECK(too_long["user"] == "alice");
  CHECK(too_long["client_id"] == "long-1");
  std::vector<std::string> eleven;
  for (int i = 1; i <= 11; ++i) eleven.push_back(text_message("burst " + std::to_string(i)));
  REQUIRE_FALSE(room.chat("bob", "box-2", eleven).failed());
  const json limited = watcher.wait_for_document(
      player_topic("box-2", "room/chat/refused"),
      [](const json& doc) { return doc.value("error_code", "") == "rate_limited"; });
  REQUIRE(limited.is_object());
  CHECK(limited["user"] == "bob");
  REQUIRE_FALSE(room.chat("carol", "box-3", {text_message("anyone there?")}).failed());
  const json no_room = watcher.wait_for_document(
      player_topic("box-3", "room/chat/refused"),
      [](const json& doc) { return doc.value("error_code", "") == "not_in_room"; });
  REQUIRE(no_room.is_object());
  CHECK(no_room["user"] == "carol");
  // bob's first ten went through; the eleventh did not.
  CHECK(watcher
            .wait_for_document(player_topic("box-1", "room/chat"),
                               [](const json& doc) { return is_message(doc, "bob", "burst 10"); })
            .is_object());
  for (const json& doc : watcher.documents(player_topic("box-1", "room/chat"))) {
    CHECK_FALSE(is_message(doc, "bob", "burst 11"));
  }

  // History: 51 more messages (six musicians, nine each at most: within their limits); the
  // 51st pushes the first of them out.
  const std::vector<std::string> six = {"m-one", "m-two", "m-three", "m-four", "m-five", "m-six"};
  for (const auto& name : six) room.add_musician(name, "box-1");
  int n = 0;
  for (const auto& name : six) {
    std::vector<std::string> lines;
    for (int i = 0; i < 9 && n < 51; ++i) lines.push_back(text_message("h" + std::to_string(++n)));
    REQUIRE_FALSE(room.chat(name, "box-1", lines).failed());
  }
  REQUIRE(watcher
              .wait_for_document(player_topic("box-2", "room/chat"),
                                 [](const json& doc) { return doc.value("text", "") == "h51"; })
              .is_object());
  REQUIRE_FALSE(room.chat("alice", "box-1", {R"({"history":true})"}).failed());
  const json history =
      watcher.wait_for_document(player_topic("box-1", "room/chat/history"), [](const json& doc) {
        return doc["events"].is_array() && !doc["events"].empty() &&
               doc["events"].back().value("text", "") == "h51";
      });
  REQUIRE(history.is_object());
  CHECK(history["room"] == "band");
  REQUIRE(history["events"].size() == 50);
  CHECK(history["events"][0]["text"] == "h2");  // h1 gave way to h51
  for (std::size_t i = 1; i < 50; ++i) {
    CHECK(history["events"][i]["seq"].get<std::uint64_t>() ==
          history["events"][i - 1]["seq"].get<std::uint64_t>() + 1);
  }

  // The outsider: its own command arrives, and before it nothing of the room did (only carol's
  // refusal, which is about box-3 itself).
  CHECK_FALSE(admin.command("box-3", "ping", json::object(), 1s));  // box-3 does not run
  const bool own = jt::eventually(
      [&] { return outsider.count_on(player_topic("box-3", "command")) > 0; }, kWait);
  INFO("outsider:\n" << outsider.output());
  REQUIRE(own);
  for (const jt::Message& m : outsider.messages()) {
    CHECK(m.topic.rfind(player_topic("box-3", ""), 0) == 0);
    CHECK(m.topic.find("/room/in/") == std::string::npos);
    CHECK(m.payload.find("box-1") == std::string::npos);
    CHECK(m.payload.find("box-2") == std::string::npos);
    CHECK(m.payload.find("band") == std::string::npos);
  }

  // The room server counted it all.
  const auto stats = room.server->wait_for_stats([](const json& s) {
    return s.contains("relay") && s["relay"]["chat"]["accepted"].get<int>() >= 62;
  });
  REQUIRE(stats);
  const json& relay = (*stats)["relay"];
  CHECK(relay["members"] == 2);
  CHECK(relay["relayed"]["presence"].get<int>() >= 2);
  CHECK(relay["relayed"]["transport"].get<int>() >= 1);
  CHECK(relay["chat"]["admin"] == 1);
  CHECK(relay["chat"]["refused"]["too_long"] == 1);
  CHECK(relay["chat"]["refused"]["rate_limited"] == 1);
  CHECK(relay["chat"]["refused"]["not_in_room"] == 1);
  CHECK(room.box1->running());
  CHECK(room.box2->running());
  admin.disconnect();
}
