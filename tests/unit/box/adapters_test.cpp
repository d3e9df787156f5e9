// The box's MQTT adapters without a broker: room presence and transport (as the room server
// relays them) under a flooding, lying member; admission answers; commands through the real
// handlers and model (a refused join_room keeps the room; hostile payloads are answered, never
// thrown).
#include "admission_client.hpp"
#include "command_handlers.hpp"
#include "model.hpp"
#include "room_channel.hpp"
#include "view_queue.hpp"
#include <jambox/control/commands.hpp>
#include <jambox/control/topics.hpp>
#include <jambox/message/text.hpp>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace jambox;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

struct Published {
  std::string topic;
  std::string payload;
};

class RecordingOutbox final : public box::Outbox {
 public:
  using Outbox::publish;
  [[nodiscard]] bool ready() const override { return true; }
  bool publish(const std::string& topic, std::string_view payload,
               const control::PublishOptions& /*options*/) override {
    sent.push_back({topic, std::string(payload)});
    return true;
  }
  void subscribe(const std::string& filter) override { subscribed.push_back(filter); }
  void unsubscribe(const std::string& /*filter*/) override {}
  std::size_t count(std::string_view part) const {
    std::size_t n = 0;
    for (const auto& p : sent) n += p.topic.find(part) != std::string::npos ? 1U : 0U;
    return n;
  }
  std::vector<Published> sent;
  std::vector<std::string> subscribed;
};

std::string presence(const std::string& event) {
  return json{{"player_key", "x"}, {"event", event}}.dump();
}

std::string transport_update(const std::string& host, double bpm, bool metronome) {
  return json{{"event", "update"}, {"host", host}, {"tempo_bpm", bpm}, {"metronome", metronome}}
      .dump();
}

struct Room {
  control::Topics topics{"jambox", "box-me"};
  RecordingOutbox out;
  int changes = 0;
  std::vector<std::pair<bool, float>> metronome;
  box::RoomChannel::LinkFacts link;
  box::RoomChannel room{
      out, topics,
      box::RoomChannel::Events{[this](bool on, float bpm) { metronome.emplace_back(on, bpm); },
                               [this] { ++changes; }, [this] { return link; }}};
  message::Rejections rejections;
  Clock::time_point now = Clock::now();

  Room() { room.enter("band", now); }
  bool on(const std::string& leaf, const std::string& payload) {
    return room.on_message("jambox/player/box-me/room/in/" + leaf, payload, false, now, rejections);
  }
};

}  // namespace

TEST_CASE("room: presence builds the roster, answers newcomers once per tick", "[box][room]") {
  Room r;
  CHECK(r.out.count("room/out/presence") == 1);  // our own join
  CHECK(r.on("presence/box-a", presence("join")));
  CHECK(r.on("presence/box-b", presence("join")));
  CHECK(r.room.peers() == std::vector<std::string>{"box-a", "box-b"});
  CHECK(r.out.count("room/out/presence") == 1);  // answers wait for the tick
  r.now += std::chrono::seconds(1);
  r.room.tick(r.now);
  CHECK(r.out.count("room/out/presence") == 2);  // one answer for both newcomers
  CHECK(r.on("presence/box-a", presence("leave")));
  CHECK(r.room.peers() == std::vector<std::string>{"box-b"});
  // Another box's topics, or this box's own output, are not relayed messages.
  CHECK_FALSE(r.room.on_message("jambox/player/box-other/room/in/presence/box-a", presence("join"),
                                false, r.now, r.rejections));
  CHECK_FALSE(r.room.on_message("jambox/player/box-me/room/out/presence", presence("join"), false,
                                r.now, r.rejections));
}

TEST_CASE("room: a flooding member is dropped and counted, and cannot make us publish more",
          "[box][room]") {
  Room r;
  const std::size_t before = r.out.sent.size();
  for (int i = 0; i < 2000; ++i) {
    r.on("presence/box-evil", presence("join"));
    r.on("transport/box-evil", transport_update("box-evil", 120, i % 2 == 0));
  }
  const auto rejected = r.rejections.to_json();
  CHECK(rejected["presence"]["rate_limited"].get<int>() >= 1990);
  CHECK(rejected["transport"]["rate_limited"].get<int>() >= 1990);
  CHECK(r.metronome.size() <= 10);  // the burst, no more
  r.now += std::chrono::seconds(1);
  r.room.tick(r.now);
  CHECK(r.out.sent.size() - before <= 1);  // one answer, whatever the flood
  // An honest member is unaffected.
  CHECK(r.on("presence/box-a", presence("join")));
  CHECK(r.room.peers().size() == 2);
}

TEST_CASE("room: the roster is bounded", "[box][room]") {
  Room r;
  for (int i = 0; i < 200; ++i) r.on("presence/box-" + std::to_string(i), presence("join"));
  CHECK(r.room.peers().size() == box::RoomChannel::kMaxMembers);
  CHECK(message::dump(r.room.figures()).size() < 16 * 1024);
}

TEST_CASE("room: transport updates are typed; garbage and impostors are refused", "[box][room]") {
  Room r;
  CHECK(r.on("transport/box-a", transport_update("box-a", 90, true)));
  REQUIRE(r.metronome.size() == 1);
  CHECK(r.metronome[0] == std::make_pair(true, 90.0F));
  REQUIRE(r.room.transport());
  CHECK(r.room.transport()->host == "box-a");

  const std::string deep =
      "{\"event\":\"update\",\"host\":\"box-b\",\"tempo_bpm\":120,"
      "\"metronome\":false,\"x\":" +
      std::string(60000, '[') + std::string(60000, ']') + "}";
  r.on("transport/box-b", deep);
  r.on("transport/box-b", transport_update("box-a", 100, false));  // claims another host
  r.on("transport/box-b",
       "{\"event\":\"update\",\"host\":\"box-b\",\"tempo_bpm\":120,"
       "\"metronome\":false,\"x\":\"" +
           std::string(260000, 'x') + "\"}");
  r.on("transport/box-b", "\xFF\xFE");
  r.on("transport/box-b", "");  // a cleared retained message: ignored, not counted
  CHECK(r.rejections.total(message::Kind::transport) == 4);
  CHECK(r.metronome.size() == 1);
  CHECK(r.room.transport()->host == "box-a");  // unchanged by any of them
  CHECK(message::dump(r.room.figures()).size() < 4096);
}

TEST_CASE("room: hosting publishes our own typed update", "[box][room]") {
  Room r;
  message::Transport t;
  t.tempo_bpm = 140;
  t.queue = {"tune"};
  r.room.host(t);
  REQUIRE(r.out.count("room/out/transport") == 1);
  const json sent = json::parse(r.out.sent.back().payload);
  CHECK(sent["host"] == "box-me");
  CHECK(sent["tempo_bpm"] == 140.0);
  // The room server relays it to the others only: the host follows its own at once.
  REQUIRE(r.metronome.size() == 1);
  CHECK(r.metronome[0] == std::make_pair(false, 140.0F));
  // A newcomer gets the transport again with the presence answer.
  r.on("presence/box-a", presence("join"));
  r.now += std::chrono::seconds(1);
  r.room.tick(r.now);
  CHECK(r.out.count("room/out/transport") == 2);
}

TEST_CASE("admission: answers are read strictly; the server's words are clipped",
          "[box][admission]") {
  control::Topics topics("jambox", "box-me");
  RecordingOutbox out;
  std::vector<box::RoomConfig> admitted;
  box::AdmissionClient a(out, topics, [&](const box::RoomConfig& r) { admitted.push_back(r); }, {});
  message::Rejections rejections;
  const auto now = Clock::now();
  const std::string id = a.request("band", now);
  REQUIRE(out.count("request/" + id) == 1);
  a.on_response("other-id", R"({"success":true})", now, rejections);
  CHECK(a.asking());  // not the request in flight: ignored
  a.on_response(id, std::string(60000, '[') + std::string(60000, ']'), now, rejections);
  CHECK_FALSE(a.asking());
  CHECK(a.figures()["error_code"] == "invalid_response");
  CHECK(rejections.total(message::Kind::response) == 1);

  const std::string id2 = a.request("band", now);
  a.on_response(id2,
                json{{"success", false},
                     {"error_code", "room_full"},
                     {"error", std::string(1000, 'e') + "\xE2\x82\xAC"}}
                    .dump(),
                now, rejections);
  CHECK(a.figures()["state"] == "refused");
  CHECK(a.figures()["error"].get<std::string>().size() <= message::kMaxErrorLength);
  CHECK(admitted.empty());
}

TEST_CASE("views: queued until acknowledged; a bad ack changes nothing", "[box][views]") {
  RecordingOutbox out;
  box::ViewQueue views(out, "jambox/player/box-me/view", "box-me");
  views.queue("join", "band", {"box-a"});
  REQUIRE(out.sent.size() == 1);
  const std::string id = json::parse(out.sent[0].payload)["event_id"];
  CHECK(views.on_ack("{\"event_id\":" + std::string(5000, '[') + "}"));
  CHECK(views.on_ack(R"({"event_id":"someone else"})") == std::nullopt);
  CHECK(views.figures()["queued"] == 1);
  CHECK(views.on_ack(json{{"event_id", id}}.dump()) == std::nullopt);
  CHECK(views.figures()["queued"] == 0);
  CHECK(views.figures()["acked"] == 1);
}

namespace {

struct Box {
  boost::asio::io_context io;
  box::BoxModel model{io, box::BoxConfig{}};
  control::Topics topics{"jambox", "box-me"};
  RecordingOutbox out;
  box::RoomChannel room{out, topics, {}};
  box::AdmissionClient admission{out, topics, {}, {}};
  box::CommandContext context{model,
                              room,
                              admission,
                              [](milliseconds ms) {
                                return json{{"interval_ms", ms.count()}};
                              },
                              [] {
                                return json{{"status", "online"}};
                              },
                              {}};
  control::CommandProcessor commands;
  int id = 0;

  Box() { box::register_commands(commands, context); }

  json send(const std::string& type, const json& payload) {
    return json::parse(commands.handle(json{{"command_id", "c" + std::to_string(++id)},
                                            {"command_type", type},
                                            {"payload", payload}}
                                           .dump(),
                                       Clock::now()));
  }
};

}  // namespace

TEST_CASE("commands: a join_room with a bad server is refused and keeps the room",
          "[box][commands]") {
  Box b;
  // The discard port on the loopback interface: nothing answers, nothing leaves the machine.
  const json joined =
      b.send("join_room",
             {{"room", "band"}, {"server", "127.0.0.1:9"}, {"secret", "a room secret of 16+"}});
  REQUIRE(joined["status"] == "ok");
  REQUIRE(b.model.room().name == "band");
  for (const char* bad : {"nonsense", "host:", ":7930", "256.1.1.1:99999", "a b:1"}) {
    INFO(bad);
    const json ack = b.send(
        "join_room", {{"room", "other"}, {"server", bad}, {"secret", "a room secret of 16+"}});
    CHECK(ack["status"] == "error");
    CHECK(ack["error_code"] == "invalid_request");
    CHECK(ack["field"] == "server");
    CHECK(b.model.room().name == "band");
    CHECK(b.model.room().server == "127.0.0.1:9");
  }
  CHECK(b.send("join_room",
               {{"room", "x"}, {"server", ""}, {"secret", "a room secret of 16+"}})["field"] ==
        "server");
  CHECK(b.model.room().name == "band");
}

TEST_CASE("commands: hostile payloads are answered with the field, never thrown",
          "[box][commands]") {
  Box b;
  const json jitter = b.send("set_jitter", {{"auto", "yes"}});
  CHECK(jitter["error_code"] == "invalid_request");
  CHECK(jitter["field"] == "auto");
  const json unknown = b.send(std::string(100, 'x') + "\xE2\x82\xAC\xE2\x82\xAC", json::object());
  CHECK(unknown["status"] == "unsupported");
  CHECK(message::valid_utf8(unknown["error"].get<std::string>()));
  const std::string text = b.commands.handle(
      json{{"command_id", "u"}, {"command_type", "\xE2\x82\xAC" + std::string(63, 'y')}}.dump(),
      Clock::now());
  CHECK(message::valid_utf8(text));  // clipped at a character boundary, never mid-character
  const std::string deep = R"({"command_id":"d","command_type":"set_master","payload":)" +
                           std::string(60000, '[') + std::string(60000, ']') + "}";
  const json deep_ack = json::parse(b.commands.handle(deep, Clock::now()));
  CHECK(deep_ack["error_code"] == "invalid_request");
  CHECK(b.send("set_transport", {{"tempo_bpm", 100}})["error_code"] == "not_in_room");
  CHECK(b.send("set_master", {{"gain_db", "loud"}})["field"] == "gain_db");
}

TEST_CASE("model: a reload naming a bad server is refused before anything changes",
          "[box][model]") {
  boost::asio::io_context io;
  box::BoxConfig c;
  c.room.server = "127.0.0.1:9";
  c.room.name = "band";
  c.room.secret = "a room secret of 16+";
  box::BoxModel model(io, c);
  int room_changes = 0;
  model.on_change([&](box::Change change) { room_changes += change == box::Change::room; });
  box::BoxConfig next = c;
  next.room.server = "nonsense";
  next.room.name = "other";
  CHECK_THROWS_AS(model.apply(next), std::invalid_argument);
  CHECK(model.room().name == "band");
  CHECK(model.room().server == "127.0.0.1:9");
  CHECK(room_changes == 0);
  next.room.server = "127.0.0.1:9";
  model.apply(next);
  CHECK(model.room().name == "other");
  CHECK(room_changes == 1);
}

TEST_CASE("room: a member repeating its join is answered once per heartbeat interval",
          "[box][room]") {
  Room r;
  const std::size_t before = r.out.sent.size();
  for (int second = 0; second < 20; ++second) {
    r.on("presence/box-a", presence("join"));
    r.on("presence/box-a", presence("join"));
    r.now += std::chrono::seconds(1);
    r.room.tick(r.now);
  }
  CHECK(r.out.sent.size() - before == 1);  // one answer, not twenty
}

TEST_CASE("room: retained room messages are ignored and counted", "[box][room]") {
  Room r;
  const std::string valid = transport_update("box-a", 300, true);
  const std::string in = "jambox/player/box-me/room/in/";
  CHECK(r.room.on_message(in + "transport/box-a", valid, true, r.now, r.rejections));
  CHECK(r.room.on_message(in + "presence/box-a", presence("join"), true, r.now, r.rejections));
  CHECK(r.room.on_message(in + "transport/box-a", "", true, r.now, r.rejections));
  CHECK(r.metronome.empty());  // a planted, well-formed update is not obeyed
  CHECK(r.room.peers().empty());
  CHECK(r.rejections.to_json()["transport"]["retained"] == 1);
  CHECK(r.rejections.to_json()["presence"]["retained"] == 1);
}

TEST_CASE("commands: a transport update too large once escaped is refused", "[box][commands]") {
  Box b;
  b.send("join_room",
         {{"room", "band"}, {"server", "127.0.0.1:9"}, {"secret", "a room secret of 16+"}});
  b.room.enter("band", Clock::now());
  const json ack =
      b.send("set_transport", {{"queue", std::vector<std::string>(64, std::string(128, '"'))}});
  CHECK(ack["error_code"] == "invalid_request");
  CHECK(ack["field"] == "queue");
  CHECK_FALSE(b.room.transport());
  const json ok = b.send("set_transport", {{"queue", {"a tune"}}, {"tempo_bpm", 90}});
  CHECK(ok["status"] == "ok");
}

TEST_CASE("commands: only the admin points the box at a room server by address and secret",
          "[box][commands]") {
  Box b;
  box::AdmissionClient admission{b.out, b.topics, {}, {}};
  control::CommandProcessor commands;
  box::CommandContext context{
      b.model,          b.room,
      admission,        b.context.meters,
      b.context.status, [&commands]() -> const std::string& {
                                return commands.sender(); }};
  box::register_commands(commands, context);
  const json by_address = {{"room", "elsewhere"},
                           {"server", "192.0.2.10:7930"},
                           {"secret", "a-secret-of-the-room-1234"}};
  const auto send = [&](std::string_view sender, const json& payload) {
    return json::parse(commands.handle(json{{"command_id", "j" + std::to_string(++b.id)},
                                            {"command_type", "join_room"},
                                            {"payload", payload}}
                                           .dump(),
                                       Clock::now(), sender));
  };
  // A musician's page: refused, the box stays where it is.
  const json refused = send("alice", by_address);
  CHECK(refused["status"] == "error");
  CHECK(refused["error_code"] == "not_allowed");
  CHECK_FALSE(b.model.in_room());
  // Joining by name (the room servers admit the box) is every sender's right.
  const json by_name = send("alice", {{"room", "band"}});
  CHECK(by_name["status"] == "ok");
  CHECK(by_name["result"]["admission"] == "requested");
  // The admin may.
  const json admin = send("jamboxctl", by_address);
  CHECK(admin["status"] == "ok");
  CHECK(b.model.room().name == "elsewhere");
}

TEST_CASE("commands: create_room asks for a room by code, joins it and hosts its transport",
          "[box][commands][admission]") {
  Box b;
  // What jamboxd's control link does with an admitted room: the model joins it, the room's
  // topics follow the model.
  const auto follow = [&b](const box::RoomConfig& r) {
    b.model.join(r);
    b.room.enter(b.model.room().name, Clock::now());
  };
  box::AdmissionClient admission{b.out, b.topics, follow, {}};
  box::CommandContext context{b.model, b.room, admission, b.context.meters, b.context.status, {}};
  control::CommandProcessor commands;
  box::register_commands(commands, context);
  const auto send = [&](const json& payload) {
    return json::parse(commands.handle(json{{"command_id", "c" + std::to_string(++b.id)},
                                            {"command_type", "create_room"},
                                            {"payload", payload}}
                                           .dump(),
                                       Clock::now()));
  };

  // A code that is none is refused naming the field, and nothing is asked.
  for (const json& bad : {json("K7M2Q0"), json("band"), json("K7M2QXX"), json(7)}) {
    const json ack = send({{"code", bad}});
    CHECK(ack["status"] == "error");
    CHECK(ack["error_code"] == "invalid_request");
    CHECK(ack["field"] == "code");
  }
  CHECK(b.out.count("/request/") == 0);

  // Typed in lower case: sent upper-cased.
  const json ack = send({{"code", "k7m2qx"}});
  REQUIRE(ack["status"] == "ok");
  CHECK(ack["result"]["room"] == "K7M2QX");
  CHECK(ack["result"]["admission"] == "requested");
  const std::string id = ack["result"]["request_id"];
  REQUIRE(b.out.count("request/" + id) == 1);
  const json request = json::parse(b.out.sent.back().payload);
  CHECK(request["request_type"] == "create_room");
  CHECK(request["room"] == "K7M2QX");
  CHECK(request["player_key"] == "box-me");
  CHECK(admission.figures()["request_type"] == "create_room");
  CHECK(admission.figures()["room"] == "K7M2QX");

  // An answer for another code than the one asked for makes no room.
  message::Rejections rejections;
  json answer = {{"request_id", id},
                 {"request_type", "create_room"},
                 {"success", true},
                 {"created", true},
                 {"room", "ZZZ999"},
                 {"server", "127.0.0.1:9"},
                 {"ticket", {{"nonce", std::string(32, '0')}, {"expires", 4000000000U}}},
                 {"ticket_secret", std::string(64, 'a')},
                 {"audio_key", std::string(64, 'b')},
                 {"members", 0},
                 {"max_members", 8}};
  admission.on_response(id, answer.dump(), Clock::now(), rejections);
  CHECK(admission.figures()["error_code"] == "invalid_response");
  CHECK_FALSE(b.model.in_room());

  // Made: the box is in the room and hosts its transport.
  const json again = send({{"code", "K7M2QX"}});
  const std::string id2 = again["result"]["request_id"];
  answer["request_id"] = id2;
  answer["room"] = "K7M2QX";
  admission.on_response(id2, answer.dump(), Clock::now(), rejections);
  CHECK(admission.figures()["state"] == "admitted");
  CHECK(admission.figures()["room"] == "K7M2QX");
  CHECK(admission.figures()["request_type"] == "create_room");
  CHECK(b.model.room().name == "K7M2QX");
  REQUIRE(b.room.transport());
  CHECK(b.room.transport()->host == "box-me");
  CHECK(b.room.transport()->tempo_bpm == 120.0);
  CHECK(b.out.count("player/box-me/room/out/transport") == 1);

  // Refusals show their code in the status; no code at all lets the server pick one.
  const json any = send(json::object());
  REQUIRE(any["status"] == "ok");
  CHECK(any["result"]["room"].is_null());
  CHECK_FALSE(json::parse(b.out.sent.back().payload).contains("room"));
  const std::string id3 = any["result"]["request_id"];
  admission.on_response(
      id3, json{{"success", false}, {"error_code", "server_full"}, {"error", "full"}}.dump(),
      Clock::now(), rejections);
  CHECK(admission.figures()["state"] == "refused");
  CHECK(admission.figures()["error_code"] == "server_full");
  CHECK(admission.figures()["request_type"] == "create_room");
  CHECK(b.model.room().name == "K7M2QX");  // still where it plays
}

TEST_CASE("room: the box speaks on its own topics, naming its room, session and round trip",
          "[box][room]") {
  Room r;
  // Entering subscribed the relayed topics once; the join says which room it is for.
  CHECK(r.out.subscribed == std::vector<std::string>{"jambox/player/box-me/room/in/+/+"});
  REQUIRE(r.out.count("jambox/player/box-me/room/out/presence") == 1);
  const json join = json::parse(r.out.sent.back().payload);
  CHECK(join["event"] == "join");
  CHECK(join["room"] == "band");
  CHECK_FALSE(join.contains("session_id"));  // not admitted over UDP yet: not known
  // Once the link knows them, the heartbeat carries the session id and the round trip.
  r.link.session_id = 77;
  r.link.rtt_ms = 12;
  r.now += box::RoomChannel::kPresenceInterval;
  r.room.tick(r.now);
  const json beat = json::parse(r.out.sent.back().payload);
  CHECK(beat["event"] == "presence");
  CHECK(beat["session_id"] == 77);
  CHECK(beat["rtt_ms"] == 12);
  // What the box sends is what the room server reads.
  message::ParseError error;
  const auto parsed = message::parse_presence(r.out.sent.back().payload, error);
  REQUIRE(parsed);
  CHECK(parsed->session_id == 77U);
  CHECK(parsed->room == "band");
  // Moving to another room says leave for the old one (by name) and join for the new one.
  r.room.enter("other", r.now);
  CHECK(r.out.subscribed.size() == 1);  // the same filter serves every room
  const auto n = r.out.sent.size();
  CHECK(json::parse(r.out.sent[n - 2].payload)["room"] == "band");
  CHECK(json::parse(r.out.sent[n - 2].payload)["event"] == "leave");
  CHECK(json::parse(r.out.sent[n - 1].payload)["room"] == "other");
  // Out of every room: relayed messages still arriving are taken and change nothing.
  r.room.enter("", r.now);
  CHECK(r.on("presence/box-a", presence("join")));
  CHECK(r.room.peers().empty());
}

TEST_CASE("commands: set_tuner switches an input's tuner; bad channels and flags are named",
          "[box][commands]") {
  Box b;
  const json on = b.send("set_tuner", {{"channel", 2}, {"on", true}});
  REQUIRE(on["status"] == "ok");
  CHECK(on["result"]["channel"] == 2);
  CHECK(b.model.gather().mix.tuner == std::array<bool, 2>{false, true});
  for (const json& bad : {json{{"channel", 0}, {"on", true}}, json{{"channel", 3}, {"on", true}},
                          json{{"channel", "1"}, {"on", true}}, json{{"on", true}}}) {
    const json ack = b.send("set_tuner", bad);
    CHECK(ack["error_code"] == "invalid_request");
    CHECK(ack["field"] == "channel");
  }
  CHECK(b.send("set_tuner", {{"channel", 1}, {"on", "yes"}})["field"] == "on");
  CHECK(b.send("set_tuner", {{"channel", 2}, {"on", false}})["status"] == "ok");
  CHECK(b.model.gather().mix.tuner == std::array<bool, 2>{false, false});
}
