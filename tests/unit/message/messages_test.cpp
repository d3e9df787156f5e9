// Each peer message kind: read into its typed struct within its topic's limits, unknown fields
// dropped, everything else refused with a reason.
#include <jambox/message/messages.hpp>
#include <jambox/message/text.hpp>

#include <catch2/catch.hpp>

#include <string>

using namespace jambox::message;
using nlohmann::json;

namespace {

std::string deep(std::size_t levels) {
  return std::string(levels, '[') + std::string(levels, ']');
}

CommandRefusal refusal(const std::variant<Command, CommandRefusal>& v) {
  REQUIRE(std::holds_alternative<CommandRefusal>(v));
  return std::get<CommandRefusal>(v);
}

json transport(json extra = json::object()) {
  json t{{"event", "update"},      {"host", "box-a"},  {"tempo_bpm", 100},
         {"metronome", true},      {"playing", false}, {"queue", {"one", "two"}},
         {"timestamp", 1700000000}};
  t.update(extra);
  return t;
}

}  // namespace

TEST_CASE("command: the envelope is read, the payload kept as a bounded object", "[message]") {
  const auto v = parse_command(
      R"({"command_id":"c1","command_type":"set_master","payload":{"gain_db":-6},"extra":[1]})");
  REQUIRE(std::holds_alternative<Command>(v));
  const Command& c = std::get<Command>(v);
  CHECK(c.id == "c1");
  CHECK(c.type == "set_master");
  CHECK(c.payload == json{{"gain_db", -6}});
  const auto no_payload = parse_command(R"({"command_id":"c2","command_type":"ping"})");
  REQUIRE(std::holds_alternative<Command>(no_payload));
  CHECK(std::get<Command>(no_payload).payload == json::object());
}

TEST_CASE("command: hostile envelopes are refused with an ack's error code", "[message]") {
  CHECK(refusal(parse_command(std::string(kMaxCommandBytes + 1, ' '))).error_code ==
        "payload_too_large");
  CHECK(refusal(parse_command("{not json")).error_code == "invalid_json");
  CHECK(refusal(parse_command("\"\xFF\"")).error_code == "invalid_json");
  // 60,000 nested arrays in the payload (120 KB, under the size limit): refused, not built.
  const CommandRefusal d = refusal(parse_command(R"({"command_id":"c","command_type":"set_master",)"
                                                 R"("payload":)" +
                                                 deep(60000) + "}"));
  CHECK(d.reason == Refusal::too_deep);
  CHECK(d.error_code == "invalid_request");
  CHECK(refusal(parse_command(R"({"command_type":"ping"})")).error_code == "invalid_request");
  const std::string long_id(129, 'i');
  CHECK(refusal(parse_command(R"({"command_id":")" + long_id + R"(","command_type":"ping"})"))
            .error_code == "invalid_request");
  const CommandRefusal no_type = refusal(parse_command(R"({"command_id":"c9","command_type":7})"));
  CHECK(no_type.id == "c9");  // answered with its id
  CHECK(refusal(parse_command(R"({"command_id":"c","command_type":"ping","payload":[1]})"))
            .error_code == "invalid_request");
}

TEST_CASE("presence: only join, presence and leave", "[message]") {
  ParseError e;
  const auto p = parse_presence(R"({"player_key":"x","event":"leave","timestamp":1,"z":2})", e);
  REQUIRE(p);
  CHECK(p->event == PresenceEvent::leave);
  CHECK_FALSE(parse_presence(R"({"event":"dance"})", e));
  CHECK(e.reason == Refusal::invalid_field);
  CHECK_FALSE(parse_presence(R"({"event":"join","x":[1]})", e));
  CHECK(e.reason == Refusal::too_deep);
  CHECK_FALSE(parse_presence("{\"event\":\"join\",\"pad\":\"" + std::string(2000, 'p') + "\"}", e));
  CHECK(e.reason == Refusal::too_large);
  const json round = json::parse(presence_text("box-a", PresenceEvent::join, 5));
  CHECK(round["event"] == "join");
  CHECK(round["player_key"] == "box-a");
}

TEST_CASE("transport: typed, bounded, owned by its topic's key", "[message]") {
  ParseError e;
  const auto t = parse_transport(transport({{"x", "dropped"}}).dump(), "box-a", e);
  REQUIRE(t);
  CHECK(t->tempo_bpm == 100.0);
  CHECK(t->metronome);
  CHECK(t->queue == std::vector<std::string>{"one", "two"});
  const json back = to_json(*t);
  CHECK_FALSE(back.contains("x"));  // unknown fields never travel on
  CHECK(back["host"] == "box-a");

  CHECK_FALSE(parse_transport(transport().dump(), "box-b", e));
  CHECK(e.reason == Refusal::not_owner);
  CHECK_FALSE(parse_transport(transport({{"tempo_bpm", 301}}).dump(), "box-a", e));
  CHECK(e.reason == Refusal::invalid_field);
  CHECK_FALSE(parse_transport(transport({{"metronome", "yes"}}).dump(), "box-a", e));
  CHECK(e.reason == Refusal::invalid_field);
  CHECK_FALSE(parse_transport(transport({{"queue", std::vector<std::string>(65, "t")}}).dump(),
                              "box-a", e));
  CHECK(e.reason == Refusal::too_long);
  CHECK_FALSE(parse_transport(transport({{"queue", {std::string(129, 't')}}}).dump(), "box-a", e));
  CHECK(e.reason == Refusal::too_long);
  CHECK_FALSE(parse_transport(transport({{"queue", {""}}}).dump(), "box-a", e));
  CHECK(e.reason == Refusal::invalid_field);
  // The attack that took rooms down: a deep extra field, and a 260 KB one.
  std::string nested = transport().dump();
  nested.insert(nested.size() - 1, ",\"x\":" + deep(60000));
  CHECK_FALSE(parse_transport(nested, "box-a", e));
  CHECK(e.reason == Refusal::too_large);
  std::string shallow_deep = transport().dump();
  shallow_deep.insert(shallow_deep.size() - 1, ",\"x\":" + deep(100));
  CHECK_FALSE(parse_transport(shallow_deep, "box-a", e));
  CHECK(e.reason == Refusal::too_deep);
  CHECK_FALSE(parse_transport(transport({{"x", std::string(260000, 'x')}}).dump(), "box-a", e));
  CHECK(e.reason == Refusal::too_large);
  // The largest valid update stays within what a status carries.
  const auto largest = parse_transport(
      transport({{"queue", std::vector<std::string>(64, std::string(128, 'q'))}}).dump(), "box-a",
      e);
  REQUIRE(largest);
  CHECK(dump(to_json(*largest)).size() <= kMaxTransportBytes);
}

TEST_CASE("view ack and join request", "[message]") {
  ParseError e;
  const auto ack = parse_view_ack(R"({"event_id":"e1","status":"ok"})", e);
  REQUIRE(ack);
  CHECK(ack->event_id == "e1");
  CHECK_FALSE(parse_view_ack(R"({"event_id":7})", e));

  const auto ok = parse_join_request(
      R"({"request_id":"r1","request_type":"join_room","player_key":"k","room":"band"})");
  REQUIRE(std::holds_alternative<JoinRequest>(ok));
  CHECK(std::get<JoinRequest>(ok).room == "band");
  const auto code = [](const std::string& text) {
    const auto v = parse_join_request(text);
    REQUIRE(std::holds_alternative<RequestRefusal>(v));
    return std::get<RequestRefusal>(v).error_code;
  };
  CHECK(code(deep(60000)) == "payload_too_large");
  CHECK(code("{\"request_id\":\"r\",\"x\":" + deep(10) + "}") == "invalid_request");
  CHECK(code(R"({"request_id":"r","request_type":")" + std::string(10000, 't') + "\"}") ==
        "payload_too_large");
  CHECK(code(R"({"request_id":"r","request_type":")" + std::string(100, 't') + "\"}") ==
        "unsupported");
  CHECK(code(R"({"request_id":"r","request_type":"post"})") == "unsupported");
  CHECK(code(R"({"request_id":"r","request_type":"join_room","room":"a b"})") == "invalid_request");
  CHECK(code("{\"request_id\":\"\xC3\x28\"}") == "invalid_json");

  // create_room: the wanted code is optional, read case-insensitively, and only ever a code.
  const auto any = parse_join_request(R"({"request_id":"r2","request_type":"create_room"})");
  REQUIRE(std::holds_alternative<JoinRequest>(any));
  CHECK(std::get<JoinRequest>(any).type == RequestType::create_room);
  CHECK(std::get<JoinRequest>(any).room.empty());
  const auto wanted =
      parse_join_request(R"({"request_id":"r3","request_type":"create_room","room":"k7m2qx"})");
  REQUIRE(std::holds_alternative<JoinRequest>(wanted));
  CHECK(std::get<JoinRequest>(wanted).room == "K7M2QX");
  CHECK(std::get<JoinRequest>(ok).type == RequestType::join_room);
  CHECK(code(R"({"request_id":"r","request_type":"create_room","room":"band"})") ==
        "invalid_request");
  CHECK(code(R"({"request_id":"r","request_type":"create_room","room":"K7M2Q0"})") ==
        "invalid_request");
  CHECK(code(R"({"request_id":"r","request_type":"create_room","room":["K7M2QX"]})") ==
        "invalid_request");
  CHECK(code(R"({"request_id":"r","request_type":"create_room","room":{"a":1}})") ==
        "invalid_request");
}
