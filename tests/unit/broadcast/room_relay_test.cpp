// The room relay and chat of jambox-broadcast without a broker: membership from admissions,
// what is relayed to whom (the server's own serialisation, never back to the sender), what is
// dropped and counted, and the chat's history, limits and refusals.
#include "room_relay.hpp"

#include <jambox/control/session.hpp>
#include <jambox/message/text.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

using namespace jambox;
using broadcast::RelayDrop;
using broadcast::RoomRelay;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

struct Published {
  std::string topic;
  std::string payload;
  bool retained = false;
};

struct Relay {
  std::vector<Published> sent;
  bool session_busy = false;  // the session refuses publishes (down, or too many in flight)
  std::set<std::string> rooms{"band", "jam"};
  std::int64_t wall = 1'700'000'000'000;
  RoomRelay relay{
      "jambox",
      RoomRelay::Hooks{[this](const std::string& topic, std::string_view payload, bool retained) {
                         if (session_busy) return false;
                         sent.push_back({topic, std::string(payload), retained});
                         return true;
                       },
                       [this](std::string_view room) { return rooms.contains(std::string(room)); },
                       [this] { return wall; }}};
  Clock::time_point now = Clock::now();

  bool from(const std::string& topic, const std::string& payload, bool retained = false) {
    control::Message m;
    m.topic = topic;
    m.payload = payload;
    m.retained = retained;
    return relay.on_message(m, now);
  }
  bool out(const std::string& key, const std::string& kind, const std::string& payload,
           bool retained = false) {
    return from("jambox/player/" + key + "/room/out/" + kind, payload, retained);
  }
  bool chat(const std::string& box, const std::string& user, const std::string& payload) {
    return from("jambox/player/" + box + "/chat/from/" + user, payload);
  }
  // What went to `topic` since `from`.
  std::vector<std::string> to(const std::string& topic, std::size_t since = 0) const {
    std::vector<std::string> out;
    for (std::size_t i = since; i < sent.size(); ++i) {
      if (sent[i].topic == topic) out.push_back(sent[i].payload);
    }
    return out;
  }
  std::uint64_t dropped(RelayDrop why) const {
    return relay.counters().dropped[static_cast<std::size_t>(why)];
  }
};

std::string presence(const std::string& event, const std::string& room = {}) {
  json p{{"player_key", "ignored"}, {"event", event}, {"timestamp", 1}, {"junk", "dropped"}};
  if (!room.empty()) p["room"] = room;
  return p.dump();
}

std::string in(const std::string& member, const std::string& kind, const std::string& from) {
  return "jambox/player/" + member + "/room/in/" + kind + "/" + from;
}

std::string chat_of(const std::string& box) {
  return "jambox/player/" + box + "/room/chat";
}

}  // namespace

TEST_CASE("relay: a member's presence and transport reach the other members only",
          "[broadcast][relay]") {
  Relay r;
  r.relay.admitted("box-a", "band", r.now);
  r.relay.admitted("box-b", "band", r.now);
  r.relay.admitted("box-c", "band", r.now);
  r.relay.admitted("box-x", "jam", r.now);
  CHECK(r.relay.members("band") == std::vector<std::string>{"box-a", "box-b", "box-c"});
  const std::size_t mark = r.sent.size();

  CHECK(r.out("box-a", "presence", presence("join", "band")));
  const auto to_b = r.to(in("box-b", "presence", "box-a"), mark);
  REQUIRE(to_b.size() == 1);
  CHECK(r.to(in("box-c", "presence", "box-a"), mark).size() == 1);
  CHECK(r.to(in("box-a", "presence", "box-a"), mark).empty());  // never back to the sender
  CHECK(r.to(in("box-x", "presence", "box-a"), mark).empty());  // nor to another room
  // Rebuilt by the server: the key from the topic, its own timestamp, no unknown fields.
  CHECK(json::parse(to_b[0]) ==
        json{{"player_key", "box-a"}, {"event", "join"}, {"timestamp", r.wall / 1000}});

  const std::string update =
      R"({"event":"update","host":"box-a","tempo_bpm":96,"metronome":true,"x":1})";
  CHECK(r.out("box-a", "transport", update));
  const auto t = r.to(in("box-b", "transport", "box-a"), mark);
  REQUIRE(t.size() == 1);
  CHECK(json::parse(t[0])["tempo_bpm"] == 96.0);
  CHECK_FALSE(json::parse(t[0]).contains("x"));
  CHECK(r.relay.counters().presence_relayed == 1);
  CHECK(r.relay.counters().transport_relayed == 1);
  CHECK(r.relay.counters().deliveries == 4);
  // Other topics are not the relay's.
  CHECK_FALSE(r.from("jambox/player/box-a/request/1", "{}"));
  CHECK_FALSE(r.from("jambox/room/band/presence/box-a", "{}"));
}

TEST_CASE("relay: non-members, garbage, floods and retained messages are dropped and counted",
          "[broadcast][relay]") {
  Relay r;
  r.relay.admitted("box-a", "band", r.now);
  r.relay.admitted("box-evil", "band", r.now);
  const std::size_t mark = r.sent.size();
  r.out("box-stranger", "presence", presence("join"));
  CHECK(r.dropped(RelayDrop::not_member) == 1);
  r.out("box-evil", "presence", R"({"event":"join","x":[[[[1]]]]})");
  r.out("box-evil", "transport", std::string(60000, '[') + std::string(60000, ']'));
  r.out("box-evil", "presence", "{\"event\":\"join\",\"\xFF\":1}");
  r.out("box-evil", "transport",
        R"({"event":"update","host":"box-a","tempo_bpm":96,)"
        R"("metronome":true})");
  r.out("box-evil", "presence", "[]");
  r.out("box-evil", "shout", presence("join"));
  CHECK(r.dropped(RelayDrop::too_deep) == 1);
  CHECK(r.dropped(RelayDrop::too_large) == 1);
  CHECK(r.dropped(RelayDrop::invalid_json) == 1);
  CHECK(r.dropped(RelayDrop::not_owner) == 1);
  CHECK(r.dropped(RelayDrop::not_object) == 1);
  CHECK(r.dropped(RelayDrop::bad_topic) == 1);
  CHECK(r.to(in("box-a", "presence", "box-evil"), mark).empty());
  CHECK(r.to(in("box-a", "transport", "box-evil"), mark).empty());

  // A flood: the burst, then nothing more until time passes.
  for (int i = 0; i < 1000; ++i) r.out("box-evil", "presence", presence("join"));
  CHECK(r.to(in("box-a", "presence", "box-evil"), mark).size() <= 10);
  CHECK(r.dropped(RelayDrop::rate_limited) >= 990);

  // Retained: dropped, and cleared from the broker at the next tick (an empty retained one).
  r.out("box-evil", "transport", R"({"event":"update"})", true);
  r.out("box-evil", "transport", "", true);  // our own clearing coming back: nothing
  CHECK(r.dropped(RelayDrop::retained) == 1);
  r.now += std::chrono::seconds(1);
  r.relay.tick(r.now);
  const auto cleared = r.to("jambox/player/box-evil/room/out/transport", mark);
  REQUIRE(cleared.size() == 1);
  CHECK(cleared[0].empty());
  CHECK(r.sent.back().retained);
  CHECK(r.relay.counters().retained_cleared == 1);
  CHECK(message::dump(r.relay.figures()).size() < 4096);

  // Planted while the session refuses to publish: the clearing waits for it, it is not lost.
  r.out("box-evil", "presence", presence("join"), true);
  r.session_busy = true;
  for (int i = 0; i < 3; ++i) {
    r.now += std::chrono::seconds(1);
    r.relay.tick(r.now);
  }
  CHECK(r.to("jambox/player/box-evil/room/out/presence", mark).empty());
  CHECK(r.relay.counters().retained_cleared == 1);
  r.session_busy = false;
  r.now += std::chrono::seconds(1);
  r.relay.tick(r.now);
  const auto later = r.to("jambox/player/box-evil/room/out/presence", mark);
  REQUIRE(later.size() == 1);
  CHECK(later[0].empty());
  CHECK(r.relay.counters().retained_cleared == 2);
}

TEST_CASE("relay: membership ends with leave, a move, silence or the room's end",
          "[broadcast][relay]") {
  Relay r;
  for (const char* key : {"box-a", "box-b", "box-c", "box-d"}) r.relay.admitted(key, "band", r.now);

  // box-a says leave: relayed, then no longer a member.
  r.out("box-a", "presence", presence("leave", "band"));
  CHECK(r.to(in("box-b", "presence", "box-a")).size() == 1);
  CHECK(r.relay.room_of("box-a").empty());
  r.out("box-a", "presence", presence("presence"));
  CHECK(r.dropped(RelayDrop::not_member) == 1);

  // box-b is admitted to another room: the others hear it left (from the server), and its late
  // leave for the old room ends nothing in the new one.
  std::size_t mark = r.sent.size();
  r.relay.admitted("box-b", "jam", r.now);
  const auto told = r.to(in("box-c", "presence", "box-b"), mark);
  REQUIRE(told.size() == 1);
  CHECK(json::parse(told[0])["event"] == "leave");
  r.out("box-b", "presence", presence("leave", "band"));
  CHECK(r.dropped(RelayDrop::stale_room) == 1);
  CHECK(r.relay.room_of("box-b") == "jam");

  // box-c keeps talking, box-d is silent for 90 s.
  for (int i = 0; i < 4; ++i) {
    r.now += std::chrono::seconds(30);
    r.out("box-c", "presence", presence("presence", "band"));
    r.out("box-b", "presence", presence("presence", "jam"));
    r.relay.tick(r.now);
  }
  CHECK(r.relay.room_of("box-c") == "band");
  CHECK(r.relay.room_of("box-d").empty());

  // The room goes (on-demand expiry, reload): its members with it.
  r.rooms.erase("band");
  r.relay.tick(r.now);
  CHECK(r.relay.room_of("box-c").empty());
  CHECK(r.relay.members("band").empty());
  CHECK(r.relay.room_of("box-b") == "jam");
}

TEST_CASE("relay: a room relays between at most 64 members", "[broadcast][relay]") {
  Relay r;
  for (std::size_t i = 0; i < RoomRelay::kMaxRoomMembers + 5; ++i) {
    r.relay.admitted("box-" + std::to_string(i), "band", r.now);
  }
  CHECK(r.relay.members("band").size() == RoomRelay::kMaxRoomMembers);
  CHECK(r.relay.room_of("box-" + std::to_string(RoomRelay::kMaxRoomMembers)).empty());
  // One member's message goes out once per other member, never more.
  const std::size_t mark = r.sent.size();
  r.out("box-0", "presence", presence("presence", "band"));
  CHECK(r.sent.size() - mark == RoomRelay::kMaxRoomMembers - 1);
  // Another room is not held back by it.
  r.relay.admitted("box-late", "jam", r.now);
  CHECK(r.relay.room_of("box-late") == "jam");
}

TEST_CASE("chat: a musician's message reaches every box of the room, as the server's record",
          "[broadcast][chat]") {
  Relay r;
  r.relay.admitted("box-1", "band", r.now);
  r.relay.admitted("box-2", "band", r.now);
  r.relay.admitted("box-x", "jam", r.now);
  // Each admission: a join event to the room, the history to the newcomer.
  const auto history = r.to("jambox/player/box-2/room/chat/history");
  REQUIRE(history.size() == 1);
  CHECK(json::parse(history[0])["events"].size() == 2);  // box-1's join and its own

  const std::size_t mark = r.sent.size();
  CHECK(r.chat("box-1", "alice", R"({"text":" <script>alert(1)</script> ","junk":1})"));
  for (const char* box : {"box-1", "box-2"}) {
    const auto got = r.to(chat_of(box), mark);
    REQUIRE(got.size() == 1);
    const json event = json::parse(got[0]);
    CHECK(event["event"] == "message");
    CHECK(event["room"] == "band");
    CHECK(event["from"] == "alice");
    CHECK(event["box"] == "box-1");
    CHECK(event["text"] == "<script>alert(1)</script>");  // verbatim, as text
    CHECK(event["time"] == r.wall);
    CHECK(event["seq"] == 3);
    CHECK_FALSE(event.contains("junk"));
  }
  CHECK(r.to(chat_of("box-x"), mark).empty());

  // The admin's message: from "admin", no box.
  r.from("jambox/room/band/chat", R"({"text":"soundcheck in 5"})");
  const json admin = json::parse(r.to(chat_of("box-2"), mark).back());
  CHECK(admin["from"] == "admin");
  CHECK_FALSE(admin.contains("box"));
  CHECK(r.relay.chat().counters().admin_accepted == 1);
}

TEST_CASE("chat: refusals with their codes, answered to the sender's box only",
          "[broadcast][chat]") {
  Relay r;
  r.relay.admitted("box-1", "band", r.now);
  r.relay.admitted("box-2", "band", r.now);
  const std::string refused = "jambox/player/box-1/room/chat/refused";
  const auto last_refusal = [&] { return json::parse(r.to(refused).back()); };

  r.chat("box-1", "alice", json{{"text", std::string(501, 'a')}, {"client_id", "m1"}}.dump());
  CHECK(last_refusal() == json{{"user", "alice"},
                               {"error_code", "too_long"},
                               {"error", "text: at most 500 characters"},
                               {"client_id", "m1"}});
  r.chat("box-1", "alice", "{not json");
  CHECK(last_refusal()["error_code"] == "invalid_request");
  r.chat("box-free", "carol", R"({"text":"anyone?"})");
  const auto not_in_room = r.to("jambox/player/box-free/room/chat/refused");
  REQUIRE(not_in_room.size() == 1);
  CHECK(json::parse(not_in_room[0])["error_code"] == "not_in_room");
  r.chat("box-1", "admin", R"({"text":"I am the admin"})");
  CHECK(last_refusal()["error_code"] == "invalid_request");

  // 10 messages in 10 s per sender (user and box); the 11th is refused, others are not held.
  const std::size_t mark = r.sent.size();
  for (int i = 0; i < 11; ++i) r.chat("box-2", "bob", json{{"text", std::to_string(i)}}.dump());
  CHECK(r.to(chat_of("box-1"), mark).size() == 10);
  const auto limited = r.to("jambox/player/box-2/room/chat/refused", mark);
  REQUIRE(limited.size() == 1);
  CHECK(json::parse(limited[0])["error_code"] == "rate_limited");
  r.chat("box-2", "dave", R"({"text":"still here"})");
  CHECK(r.to(chat_of("box-1"), mark).size() == 11);
  r.now += broadcast::RoomChat::kWindow;
  r.chat("box-2", "bob", R"({"text":"later"})");
  CHECK(r.to(chat_of("box-1"), mark).size() == 12);

  // A flood of refused messages does not become a flood of answers.
  const std::size_t before = r.to("jambox/player/box-2/room/chat/refused").size();
  for (int i = 0; i < 200; ++i) r.chat("box-2", "eve", "garbage");
  CHECK(r.to("jambox/player/box-2/room/chat/refused").size() - before <= 5);
  CHECK(r.relay.chat().counters().refusals_unsent >= 195);
  // Nobody's name can be a topic: malformed user levels are dropped unanswered.
  CHECK(r.chat("box-1", "Not-A-User", R"({"text":"x"})"));
  CHECK(r.relay.chat().counters().dropped == 1);
}

TEST_CASE("chat: the last 50 events per room, on request and on admission", "[broadcast][chat]") {
  Relay r;
  r.relay.admitted("box-1", "band", r.now);
  for (int i = 1; i <= 51; ++i) {
    r.chat("box-1", "user" + std::to_string(i), json{{"text", "m" + std::to_string(i)}}.dump());
  }
  const std::size_t mark = r.sent.size();
  r.chat("box-1", "alice", R"({"history":true})");
  const auto answer = r.to("jambox/player/box-1/room/chat/history", mark);
  REQUIRE(answer.size() == 1);
  const json h = json::parse(answer[0]);
  CHECK(h["room"] == "band");
  REQUIRE(h["events"].size() == 50);
  // The join and the first message gave way to the 51st message.
  CHECK(h["events"][0]["text"] == "m2");
  CHECK(h["events"][49]["text"] == "m51");
  CHECK(h["events"][49]["seq"] == 52);
  // A box admitted later gets the same history (with its own join last).
  r.relay.admitted("box-2", "band", r.now);
  const json later = json::parse(r.to("jambox/player/box-2/room/chat/history").back());
  REQUIRE(later["events"].size() == 50);
  CHECK(later["events"][49]["event"] == "join");
  CHECK(later["events"][49]["box"] == "box-2");
  // A room that goes takes its history with it.
  r.rooms.erase("band");
  r.relay.tick(r.now);
  CHECK(r.relay.chat().history("band") == nullptr);
}

TEST_CASE("retained clearer: each topic once, a bounded queue, a refused publish kept first",
          "[broadcast][relay]") {
  broadcast::RetainedClearer clearer("test");
  const auto now = broadcast::RetainedClearer::Clock::now();
  std::vector<std::string> published;
  bool accept = true;
  const auto publish = [&](const std::string& topic) {
    if (!accept) return false;
    published.push_back(topic);
    return true;
  };
  clearer.add("a");
  clearer.add("a");  // queued already: cleared once
  clearer.add("b");
  accept = false;
  clearer.clear_some(publish, now);
  CHECK(published.empty());
  CHECK_FALSE(clearer.empty());  // nothing lost while the session refuses
  accept = true;
  clearer.clear_some(publish, now);
  CHECK(published == std::vector<std::string>{"a", "b"});
  CHECK(clearer.cleared() == 2);
  CHECK(clearer.empty());

  // A flood: the queue holds kMaxQueued topics, and one call clears at most kPerTick of them.
  for (std::size_t i = 0; i < broadcast::RetainedClearer::kMaxQueued + 100; ++i) {
    clearer.add("t/" + std::to_string(i));
  }
  published.clear();
  clearer.clear_some(publish, now);
  CHECK(published.size() == broadcast::RetainedClearer::kPerTick);
  std::size_t calls = 1;
  while (!clearer.empty()) {
    clearer.clear_some(publish, now);
    ++calls;
  }
  CHECK(published.size() == broadcast::RetainedClearer::kMaxQueued);
  CHECK(calls ==
        broadcast::RetainedClearer::kMaxQueued / broadcast::RetainedClearer::kPerTick +
            (broadcast::RetainedClearer::kMaxQueued % broadcast::RetainedClearer::kPerTick != 0));
}
