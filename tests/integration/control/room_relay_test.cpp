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
#include <jambox/test/binaries.hpp>
#include <jambox/test/mosquitto.hpp>
#include <jambox/test/process.hpp>
#include <jambox/test/server.hpp>
#include <jambox/test/stats.hpp>
#include <jambox/test/temp_dir.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using jambox::control::AdminClient;
using jambox::control::AdminConfig;
using jambox::test::MosquittoBroker;
using jambox::test::Process;
using jambox::test::TempDir;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr std::chrono::milliseconds kWait{20000};  // for something that must happen

std::filesystem::path installed(std::string_view name) {
  const auto program = jambox::test::find_installed_program(name);
  if (!program) FAIL(name << " is not installed (packaging/install-deps.sh test)");
  return *program;
}

std::string unique_name(std::string_view what) {
  static int next = 0;
  return std::string(what) + "-" + std::to_string(++next);
}

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout = kWait) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

std::string player_topic(const std::string& key, std::string_view leaf) {
  return "jambox/player/" + key + "/" + std::string(leaf);
}

// --- the real parts ------------------------------------------------------------------------------

std::string box_config(const MosquittoBroker& broker, const std::string& key) {
  return "[audio]\nserver_name = \"no-jack-" + std::to_string(::getpid()) +
         "\"\ncapture = [\"\", \"\"]\nplayback = [\"\", \"\"]\n[mqtt]\nenabled = true\n"
         "broker = \"" +
         broker.uri() + "\"\nplayer_key = \"" + key + "\"\nca_file = \"" + broker.ca().string() +
         "\"\ncert_file = \"" + broker.cert(key).string() + "\"\nkey_file = \"" +
         broker.key(key).string() + "\"\nstatus_interval_s = 5\n";
}

std::unique_ptr<Process> start_box(const TempDir& dir, const MosquittoBroker& broker,
                                   const std::string& key) {
  const auto conf = dir.write_file(key + ".conf", box_config(broker, key));
  return jambox::test::spawn_built(dir.path(), "jamboxd", {"--config", conf.string()}, key);
}

std::string server_mqtt(const MosquittoBroker& broker) {
  return "[mqtt]\nenabled = true\nbroker = \"" + broker.uri() + "\"\nca_file = \"" +
         broker.ca().string() + "\"\ncert_file = \"" + broker.cert("jambox-broadcast").string() +
         "\"\nkey_file = \"" + broker.key("jambox-broadcast").string() +
         "\"\npublic_endpoint = \"127.0.0.1\"\n";
}

AdminConfig admin_config(const MosquittoBroker& broker) {
  AdminConfig c;
  c.broker = broker.uri();
  c.tls = {broker.ca(), broker.cert("jamboxctl"), broker.key("jamboxctl")};
  // Its own client id: the jamboxctl processes this test runs (client id "jamboxctl") would
  // otherwise take its session over. The broker knows it by its certificate all the same.
  c.identity = "jamboxctl-relay-test";
  return c;
}

bool answers(AdminClient& admin, const std::string& key) {
  return eventually([&] {
    const auto ack = admin.command(key, "ping", json::object(), 500ms);
    return ack && ack->value("status", "") == "ok";
  });
}

// The first status of `key` that `accept`s, or null.
json status_until(AdminClient& admin, const std::string& key,
                  const std::function<bool(const json&)>& accept) {
  json found;
  eventually([&] {
    const auto ack = admin.command(key, "get_status", json::object(), 5s);
    if (ack && (*ack)["result"].is_object() && accept((*ack)["result"])) found = (*ack)["result"];
    return found.is_object();
  });
  return found;
}

struct Finished {
  jambox::test::ExitStatus status;
  std::string output;
  [[nodiscard]] bool failed() const { return !status.exited() || status.code != 0; }
};

Finished finish(Process& p) {
  const auto status = p.wait_for(kWait);
  INFO(p.stderr_path().filename().string() << ":\n" << p.stdout_text() << p.stderr_text());
  REQUIRE(status);
  return {*status, p.stdout_text() + p.stderr_text()};
}

// How a client logs in: a certificate on the TLS listener, or a musician on the web socket.
using Login = std::vector<std::string>;

// mosquitto_sub, line-buffered, printing "MSG <topic> <payload>" for every message.
class Subscriber {
 public:
  Subscriber(const TempDir& dir, std::string_view name, const Login& login,
             const std::vector<std::string>& filters) {
    jambox::test::ProcessOptions options;
    options.program = installed("stdbuf");
    options.args = {"-oL", installed("mosquitto_sub").string(), "-d", "-F", "MSG %t %p", "-W",
                    "200"};
    options.args.insert(options.args.end(), login.begin(), login.end());
    for (const std::string& filter : filters) {
      options.args.insert(options.args.end(), {"-t", filter});
    }
    options.output_dir = dir.path();
    options.name = unique_name("sub-" + std::string(name));
    process_ = std::make_unique<Process>(std::move(options));
  }

  [[nodiscard]] bool wait_subscribed() const {
    return eventually([&] { return output().find("Subscribed (mid:") != std::string::npos; });
  }

  // (topic, payload) of every message so far.
  [[nodiscard]] std::vector<std::pair<std::string, std::string>> messages() const {
    std::vector<std::pair<std::string, std::string>> result;
    std::istringstream lines(process_->stdout_text());
    std::string line;
    while (std::getline(lines, line)) {
      if (line.rfind("MSG ", 0) != 0) continue;
      const auto space = line.find(' ', 4);
      if (space == std::string::npos) continue;
      result.emplace_back(line.substr(4, space - 4), line.substr(space + 1));
    }
    return result;
  }

  // The JSON documents received on `topic`.
  [[nodiscard]] std::vector<json> on(const std::string& topic) const {
    std::vector<json> docs;
    for (const auto& [t, payload] : messages()) {
      if (t != topic) continue;
      json doc = json::parse(payload, nullptr, false);
      if (!doc.is_discarded()) docs.push_back(std::move(doc));
    }
    return docs;
  }

  // Waits for a document on `topic` that `accept`s; null when none came.
  json wait_for(const std::string& topic, const std::function<bool(const json&)>& accept) const {
    json found;
    eventually([&] {
      for (const json& doc : on(topic)) {
        if (accept(doc)) {
          found = doc;
          return true;
        }
      }
      return false;
    });
    return found;
  }

  [[nodiscard]] std::string output() const {
    return process_->stdout_text() + process_->stderr_text();
  }

 private:
  std::unique_ptr<Process> process_;
};

// The room of this test: broker, relaying room server, two managed boxes admitted to "band",
// musicians' accounts.
struct Room {
  TempDir& dir;
  MosquittoBroker broker;
  std::unique_ptr<jambox::test::BroadcastServer> server;
  std::unique_ptr<Process> box1;
  std::unique_ptr<Process> box2;

  explicit Room(TempDir& d) : dir(d), broker(d, {"box-1", "box-2", "box-3"}) {
    jambox::test::ServerSpec spec;
    spec.rooms = {{"band", jambox::test::random_secret(), 0}};
    spec.log_level = "info";
    spec.extra = server_mqtt(broker);
    server = std::make_unique<jambox::test::BroadcastServer>(dir, spec);
    box1 = start_box(dir, broker, "box-1");
    box2 = start_box(dir, broker, "box-2");
    dir.write_file("mosquitto.pid", std::to_string(broker.pid()) + "\n");
  }

  [[nodiscard]] std::string diagnostics() const {
    return "box-1:\n" + box1->stderr_text() + "\nbox-2:\n" + box2->stderr_text() + "\nserver:\n" +
           server->log();
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
                                    (dir.path() / "mosquitto.pid").string()};
    all.insert(all.end(), args.begin(), args.end());
    auto p = jambox::test::spawn_built(dir.path(), "jamboxctl", all, unique_name("jamboxctl"));
    return finish(*p);
  }

  // A musician granted `box`, password "<name>-password", and the broker reloaded with it.
  void add_musician(const std::string& name, const std::string& box) const {
    const auto reloads = [&] {
      const std::string log = broker.log();
      std::size_t n = 0;
      for (auto at = log.find("Reloading config."); at != std::string::npos;
           at = log.find("Reloading config.", at + 1)) {
        ++n;
      }
      return n;
    };
    const std::size_t before = reloads();
    const auto password = dir.write_file(unique_name("password"), name + "-password\n");
    const Finished added =
        jamboxctl({"user", "add", name, "--box", box, "--password-file", password.string()});
    INFO(added.output);
    REQUIRE_FALSE(added.failed());
    REQUIRE(eventually([&] { return reloads() > before; }));
  }

  [[nodiscard]] Login musician(const std::string& name) const {
    return {"--unix",          broker.web_socket().string(), "-V", "mqttv5", "-u", name, "-P",
            name + "-password"};
  }

  // mosquitto_pub as musician `name` on `box`'s chat topic: one message per line of `lines`
  // (-l, one connection), QoS 1, so the broker has them all when it returns.
  Finished chat(const std::string& name, const std::string& box,
                const std::vector<std::string>& lines) const {
    std::string text;
    for (const auto& line : lines) text += line + "\n";
    const auto file = dir.write_file(unique_name("chat-lines"), text);
    std::string command = "exec '" + installed("mosquitto_pub").string() + "'";
    for (const std::string& arg : musician(name)) command += " '" + arg + "'";
    command +=
        " -q 1 -l -t '" + player_topic(box, "chat/from/" + name) + "' < '" + file.string() + "'";
    jambox::test::ProcessOptions options;
    options.program = "/bin/sh";
    options.args = {"-c", command};
    options.output_dir = dir.path();
    options.name = unique_name("chat-" + name);
    Process p(std::move(options));
    return finish(p);
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
  TempDir dir("room-relay");
  Room room(dir);
  INFO(room.diagnostics());
  AdminClient admin(admin_config(room.broker));
  std::string why;
  REQUIRE(admin.connect(10s, why));
  REQUIRE(answers(admin, "box-1"));
  REQUIRE(answers(admin, "box-2"));

  // What the room server publishes to any box, as the admin may read it.
  Subscriber watcher(dir, "watcher", room.broker.client_args("jamboxctl"),
                     {"jambox/player/+/room/#"});
  // box-3 is in no room; it subscribes to everything it could ever want.
  Subscriber outsider(dir, "box-3", room.broker.client_args("box-3"),
                      {"#", "jambox/#", "jambox/room/#", "jambox/player/+/room/#",
                       player_topic("box-3", "room/in/+/+"), player_topic("box-3", "command")});
  REQUIRE(watcher.wait_subscribed());
  REQUIRE(outsider.wait_subscribed());

  for (const std::string key : {"box-1", "box-2"}) {
    const auto ack = admin.command(key, "join_room", json{{"room", "band"}}, 10s);
    REQUIRE(ack);
    REQUIRE((*ack)["status"] == "ok");
  }
  // Each box learns the other through the relay alone.
  CHECK(status_until(admin, "box-1", [](const json& s) {
          return s["peers"] == json::array({"box-2"});
        }).is_object());
  CHECK(status_until(admin, "box-2", [](const json& s) {
          return s["peers"] == json::array({"box-1"});
        }).is_object());
  const json relayed =
      watcher.wait_for(player_topic("box-1", "room/in/presence/box-2"),
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
  const json followed = status_until(admin, "box-2", [](const json& s) {
    return s["transport"].is_object() && s["transport"].value("host", "") == "box-1";
  });
  REQUIRE(followed.is_object());
  CHECK(followed["transport"]["tempo_bpm"] == 96);
  CHECK(followed["transport"]["playing"] == true);

  // Musicians: alice plays on box-1, bob on box-2, carol on box-3 (in no room).
  room.add_musician("alice", "box-1");
  room.add_musician("bob", "box-2");
  room.add_musician("carol", "box-3");
  Subscriber bob(dir, "bob", room.musician("bob"), {player_topic("box-2", "room/#")});
  REQUIRE(bob.wait_subscribed());

  // alice's message reaches both boxes' chat (and bob, reading his box): markup stays text.
  const std::string script = "<script>alert('x')</script> & <b>hi</b>";
  REQUIRE_FALSE(room.chat("alice", "box-1", {text_message(script)}).failed());
  for (const std::string key : {"box-1", "box-2"}) {
    const json got = watcher.wait_for(player_topic(key, "room/chat"), [&](const json& doc) {
      return is_message(doc, "alice", script);
    });
    INFO(key);
    REQUIRE(got.is_object());
    CHECK(got["box"] == "box-1");
    CHECK(got["room"] == "band");
    CHECK(got["seq"].is_number_unsigned());
    CHECK(got["time"].is_number_integer());
  }
  CHECK(bob.wait_for(player_topic("box-2", "room/chat"),
                     [&](const json& doc) { return is_message(doc, "alice", script); })
            .is_object());
  // As published, the text is a JSON string: the markup is inside quotes, never bare.
  bool raw_seen = false;
  for (const auto& [topic, payload] : bob.messages()) {
    if (topic == player_topic("box-2", "room/chat") && payload.find("alert") != std::string::npos) {
      raw_seen = true;
      CHECK(payload.find("\"text\":\"<script>alert('x')</script> & <b>hi</b>\"") !=
            std::string::npos);
    }
  }
  CHECK(raw_seen);

  // The admin's message.
  const Finished said = room.jamboxctl({"chat", "band", "soundcheck in five"});
  CHECK_FALSE(said.failed());
  CHECK(watcher
            .wait_for(player_topic("box-2", "room/chat"),
                      [](const json& doc) {
                        return is_message(doc, "admin", "soundcheck in five") &&
                               !doc.contains("box");
                      })
            .is_object());

  // Refusals, each on the sender's box's room/chat/refused.
  REQUIRE_FALSE(room.chat("alice", "box-1",
                          {json{{"text", std::string(501, 'a')}, {"client_id", "long-1"}}.dump()})
                    .failed());
  const json too_long =
      watcher.wait_for(player_topic("box-1", "room/chat/refused"),
                       [](const json& doc) { return doc.value("error_code", "") == "too_long"; });
  REQUIRE(too_long.is_object());
  CHECK(too_long["user"] == "alice");
  CHECK(too_long["client_id"] == "long-1");
  std::vector<std::string> eleven;
  for (int i = 1; i <= 11; ++i) eleven.push_back(text_message("burst " + std::to_string(i)));
  REQUIRE_FALSE(room.chat("bob", "box-2", eleven).failed());
  const json limited = watcher.wait_for(
      player_topic("box-2", "room/chat/refused"),
      [](const json& doc) { return doc.value("error_code", "") == "rate_limited"; });
  REQUIRE(limited.is_object());
  CHECK(limited["user"] == "bob");
  REQUIRE_FALSE(room.chat("carol", "box-3", {text_message("anyone there?")}).failed());
  const json no_room = watcher.wait_for(
      player_topic("box-3", "room/chat/refused"),
      [](const json& doc) { return doc.value("error_code", "") == "not_in_room"; });
  REQUIRE(no_room.is_object());
  CHECK(no_room["user"] == "carol");
  // bob's first ten went through; the eleventh did not.
  CHECK(watcher
            .wait_for(player_topic("box-1", "room/chat"),
                      [](const json& doc) { return is_message(doc, "bob", "burst 10"); })
            .is_object());
  for (const json& doc : watcher.on(player_topic("box-1", "room/chat"))) {
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
              .wait_for(player_topic("box-2", "room/chat"),
                        [](const json& doc) { return doc.value("text", "") == "h51"; })
              .is_object());
  REQUIRE_FALSE(room.chat("alice", "box-1", {R"({"history":true})"}).failed());
  const json history =
      watcher.wait_for(player_topic("box-1", "room/chat/history"), [](const json& doc) {
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
  const bool own = eventually([&] {
    const auto all = outsider.messages();
    return std::any_of(all.begin(), all.end(),
                       [](const auto& m) { return m.first == player_topic("box-3", "command"); });
  });
  INFO("outsider:\n" << outsider.output());
  REQUIRE(own);
  for (const auto& [topic, payload] : outsider.messages()) {
    CHECK(topic.rfind(player_topic("box-3", ""), 0) == 0);
    CHECK(topic.find("/room/in/") == std::string::npos);
    CHECK(payload.find("box-1") == std::string::npos);
    CHECK(payload.find("box-2") == std::string::npos);
    CHECK(payload.find("band") == std::string::npos);
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
