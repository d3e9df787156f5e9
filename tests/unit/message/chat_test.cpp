// Room chat and the presence a box sends its room server: typed, bounded, refused with the
// field at fault; what the room server publishes is its own serialisation.
#include <jambox/message/chat.hpp>
#include <jambox/message/messages.hpp>
#include <jambox/message/text.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <string>

using namespace jambox::message;
using nlohmann::json;

namespace {

ChatRefusal refused(std::string_view payload) {
  const Chat chat = parse_chat(payload);
  REQUIRE(std::holds_alternative<ChatRefusal>(chat));
  return std::get<ChatRefusal>(chat);
}

std::string text_of(std::string_view payload) {
  const Chat chat = parse_chat(payload);
  REQUIRE(std::holds_alternative<ChatText>(chat));
  return std::get<ChatText>(chat).text;
}

}  // namespace

TEST_CASE("chat: a text message is trimmed and kept as text", "[message][chat]") {
  CHECK(text_of(R"({"text":"  hello room \n"})") == "hello room");
  // Markup is text like any other: carried verbatim, never interpreted.
  CHECK(text_of(R"({"text":"<script>alert(1)</script>"})") == "<script>alert(1)</script>");
  CHECK(text_of(json{{"text", "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x8E\xB8"}}.dump()) ==
        "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x8E\xB8");
  const Chat with_id = parse_chat(R"({"text":"hi","client_id":"m-1.a_B","extra":1})");
  REQUIRE(std::holds_alternative<ChatText>(with_id));
  CHECK(std::get<ChatText>(with_id).client_id == "m-1.a_B");
  CHECK(std::holds_alternative<ChatHistoryRequest>(parse_chat(R"({"history":true})")));
}

TEST_CASE("chat: 500 characters, not bytes; longer is too_long", "[message][chat]") {
  const std::string euro = "\xE2\x82\xAC";
  std::string longest;
  for (int i = 0; i < 500; ++i) longest += euro;  // 1500 bytes, 500 characters
  CHECK(character_count(longest) == 500);
  CHECK(text_of(json{{"text", longest}}.dump()) == longest);
  CHECK(refused(json{{"text", longest + "x"}}.dump()).error_code == "too_long");
  CHECK(refused(json{{"text", std::string(501, 'a')}}.dump()).error_code == "too_long");
  CHECK(refused(json{{"text", std::string(3000, 'a')}}.dump()).error_code == "too_long");
  // Larger than any message can be: too long before it is read.
  const ChatRefusal huge = refused(json{{"text", std::string(100000, 'a')}}.dump());
  CHECK(huge.error_code == "too_long");
  CHECK(huge.reason == Refusal::too_large);
}

TEST_CASE("chat: anything else is invalid_request, naming the field", "[message][chat]") {
  for (const std::string& bad : {std::string("{"),
                                 std::string("[]"),
                                 std::string("\"text\""),
                                 std::string("{}"),
                                 std::string(R"({"text":""})"),
                                 std::string(R"({"text":"   "})"),
                                 std::string(R"({"text":5})"),
                                 std::string(R"({"text":["a"]})"),
                                 std::string(R"({"history":false})"),
                                 std::string(R"({"history":"yes"})"),
                                 std::string(R"({"text":"line\nbreak"})"),
                                 std::string(R"({"text":"nul\u0000"})"),
                                 std::string(R"({"text":"bell\u0007"})"),
                                 std::string(R"({"text":"c1\u0085"})"),
                                 std::string(R"({"text":"del\u007f"})"),
                                 std::string("{\"text\":\"bad \xFF utf8\"}"),
                                 std::string(R"({"text":"lone \ud800"})"),
                                 std::string(R"({"text":{"a":1}})"),
                                 std::string(R"({"text":"hi","client_id":"no spaces"})"),
                                 std::string(R"({"text":"hi","client_id":7})"),
                                 std::string(2000, '['),
                                 std::string(R"({"text":"hi","extra":[1]})")}) {
    INFO(bad);
    const ChatRefusal r = refused(bad);
    CHECK(r.error_code == "invalid_request");
    CHECK_FALSE(r.error.empty());
    CHECK(valid_utf8(r.error));
  }
  CHECK(refused(R"({"text":5})").error.find("text") != std::string::npos);
  CHECK(refused(R"({"text":"a","client_id":"x y"})").error.find("client_id") != std::string::npos);
  // The page's id comes back with a refusal of the text it sent.
  CHECK(refused(R"({"text":"a\tb","client_id":"c7"})").client_id == "c7");
}

TEST_CASE("chat: the server's own records", "[message][chat]") {
  ChatEvent message;
  message.room = "band";
  message.seq = 3;
  message.time_ms = 1700000000123;
  message.from = "alice";
  message.box = "box-1";
  message.text = "<b>\"hi\"</b>";
  const json m = json::parse(chat_event_text(message));
  CHECK(m == json{{"event", "message"},
                  {"room", "band"},
                  {"seq", 3},
                  {"time", 1700000000123},
                  {"from", "alice"},
                  {"box", "box-1"},
                  {"text", "<b>\"hi\"</b>"}});
  ChatEvent join;
  join.type = ChatEventType::join;
  join.room = "band";
  join.seq = 4;
  join.box = "box-2";
  const json j = json::parse(chat_event_text(join));
  CHECK(j["event"] == "join");
  CHECK(j["box"] == "box-2");
  CHECK_FALSE(j.contains("text"));
  CHECK_FALSE(j.contains("from"));
  const json h = json::parse(chat_history_text("band", {message, join}));
  CHECK(h["room"] == "band");
  REQUIRE(h["events"].size() == 2);
  CHECK(h["events"][1]["seq"] == 4);
  const json r = json::parse(chat_refusal_text("alice", "too_long", "text: too long", "c1"));
  CHECK(r == json{{"user", "alice"},
                  {"error_code", "too_long"},
                  {"error", "text: too long"},
                  {"client_id", "c1"}});
  CHECK_FALSE(json::parse(chat_refusal_text("bob", "not_in_room", "x", "")).contains("client_id"));
}

TEST_CASE("presence: session id, round trip and room are typed and bounded", "[message]") {
  ParseError error;
  const auto full = parse_presence(
      R"({"player_key":"k","event":"presence","session_id":4294967295,"rtt_ms":60000,"room":"band"})",
      error);
  REQUIRE(full);
  CHECK(full->session_id == 4294967295U);
  CHECK(full->rtt_ms == 60000U);
  CHECK(full->room == "band");
  const auto bare = parse_presence(R"({"event":"join"})", error);
  REQUIRE(bare);
  CHECK_FALSE(bare->session_id);
  CHECK_FALSE(bare->rtt_ms);
  CHECK(bare->room.empty());
  for (const char* bad :
       {R"({"event":"join","session_id":0})", R"({"event":"join","session_id":4294967296})",
        R"({"event":"join","session_id":-1})", R"({"event":"join","session_id":"7"})",
        R"({"event":"join","rtt_ms":60001})", R"({"event":"join","rtt_ms":1.5})",
        R"({"event":"join","room":"a/b"})", R"({"event":"join","room":""})"}) {
    INFO(bad);
    CHECK_FALSE(parse_presence(bad, error));
    CHECK(error.reason == Refusal::invalid_field);
  }
  // What the room server sends on is built from the struct: the fields it read, nothing else.
  Presence p = *full;
  p.room.clear();
  const json out = json::parse(presence_text("box-a", p, 5));
  CHECK(out == json{{"player_key", "box-a"},
                    {"event", "presence"},
                    {"timestamp", 5},
                    {"session_id", 4294967295U},
                    {"rtt_ms", 60000}});
}
