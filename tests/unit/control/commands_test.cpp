// The command policy: every message gets exactly one ack; duplicates are executed once; bad
// input is answered with the error code and the field at fault; the rate limit holds, for each
// sender on its own.
#include <jambox/control/commands.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <string_view>

using jambox::control::CommandFailed;
using jambox::control::CommandLimits;
using jambox::control::CommandProcessor;
using jambox::control::number_field;
using nlohmann::json;

namespace {

using Clock = CommandProcessor::Clock;

std::string command(const std::string& id, const std::string& type, json payload = json::object()) {
  return json{{"command_id", id},
              {"command_type", type},
              {"payload", std::move(payload)},
              {"timestamp", "2026-11-22T12:00:00Z"}}
      .dump();
}

struct Fixture {
  CommandProcessor processor;
  int gain_calls = 0;
  double last_gain = 0.0;
  Clock::time_point now = Clock::now();

  explicit Fixture(CommandLimits limits = {}) : processor(limits) {
    processor.on("set_master", [this](const json& payload) {
      last_gain = number_field(payload, "gain_db", -60.0, 12.0);
      ++gain_calls;
      return json();
    });
    processor.on("ping", [](const json&) { return json{{"pong", true}}; });
    processor.on("leave_room",
                 [](const json&) -> json { throw CommandFailed("not_in_room", "not in a room"); });
  }
  json send(const std::string& text) { return json::parse(processor.handle(text, now)); }
};

}  // namespace

TEST_CASE("a valid command runs and is acknowledged ok, with its result", "[control]") {
  Fixture f;
  const json ack = f.send(command("c1", "set_master", {{"gain_db", -6.5}}));
  CHECK(ack["command_id"] == "c1");
  CHECK(ack["status"] == "ok");
  CHECK(ack["error"].is_null());
  CHECK(ack["error_code"].is_null());
  CHECK(f.gain_calls == 1);
  CHECK(f.last_gain == Approx(-6.5));
  const json pong = f.send(command("c2", "ping"));
  CHECK(pong["result"]["pong"] == true);
  CHECK(f.processor.counters().executed == 2);
}

TEST_CASE("a redelivered command is acknowledged again but executed once", "[control]") {
  Fixture f;
  const std::string text = command("same", "set_master", {{"gain_db", 3}});
  const std::string first = f.processor.handle(text, f.now);
  const std::string again = f.processor.handle(text, f.now);
  CHECK(first == again);
  CHECK(f.gain_calls == 1);
  CHECK(f.processor.counters().duplicates == 1);
}

TEST_CASE("bad input is answered with an error code and never executed", "[control]") {
  Fixture f;
  SECTION("malformed JSON") {
    const json ack = f.send("{\"command_id\": \"x\", ");
    CHECK(ack["status"] == "error");
    CHECK(ack["error_code"] == "invalid_json");
    CHECK(ack["command_id"].is_null());
  }
  SECTION("not an object") {
    CHECK(f.send("[1,2,3]")["error_code"] == "invalid_json");
  }
  SECTION("no command id") {
    const json ack = f.send(json{{"command_type", "ping"}}.dump());
    CHECK(ack["error_code"] == "invalid_request");
  }
  SECTION("unknown command type") {
    const json ack = f.send(command("u1", "format_disk"));
    CHECK(ack["status"] == "unsupported");
    CHECK(ack["error_code"] == "unsupported_command");
    CHECK(ack["command_id"] == "u1");
  }
  SECTION("payload field out of range names the field and the range") {
    const json ack = f.send(command("r1", "set_master", {{"gain_db", 40}}));
    CHECK(ack["status"] == "error");
    CHECK(ack["error_code"] == "invalid_request");
    CHECK(ack["field"] == "gain_db");
    CHECK(ack["error"].get<std::string>().find("-60..12") != std::string::npos);
  }
  SECTION("payload field missing or of the wrong type") {
    CHECK(f.send(command("m1", "set_master"))["field"] == "gain_db");
    CHECK(f.send(command("m2", "set_master", {{"gain_db", "loud"}}))["field"] == "gain_db");
  }
  SECTION("a handler that cannot do it now says why") {
    const json ack = f.send(command("l1", "leave_room"));
    CHECK(ack["status"] == "error");
    CHECK(ack["error_code"] == "not_in_room");
  }
  SECTION("oversized message") {
    const std::string big = command("b1", "set_master", {{"pad", std::string(130 * 1024, 'x')}});
    const json ack = f.send(big);
    CHECK(ack["error_code"] == "payload_too_large");
  }
  CHECK(f.gain_calls == 0);
}

TEST_CASE("more than the rate limit per minute is refused until the minute has passed",
          "[control]") {
  CommandLimits limits;
  limits.per_minute = 5;
  Fixture f(limits);
  for (int i = 0; i < 5; ++i) {
    CHECK(f.send(command("ok" + std::to_string(i), "ping"))["status"] == "ok");
  }
  const json refused = f.send(command("late", "ping"));
  CHECK(refused["error_code"] == "rate_limited");
  CHECK(f.processor.counters().rate_limited == 1);
  // Not remembered as done: the same command goes through once the window has moved on.
  f.now += std::chrono::seconds(61);
  CHECK(f.send(command("late", "ping"))["status"] == "ok");
}

TEST_CASE("the rate limit is counted per sender", "[control]") {
  CommandLimits limits;
  limits.per_minute = 3;
  Fixture f(limits);
  const auto from = [&f](const std::string& text, std::string_view sender) {
    return json::parse(f.processor.handle(text, f.now, sender));
  };
  for (int i = 0; i < 3; ++i) {
    const std::string id = "a" + std::to_string(i);
    CHECK(from(command(id, "set_master", {{"gain_db", -1.0 * i}}), "alice")["status"] == "ok");
    CHECK(f.processor.last_executed() == "set_master");
  }
  REQUIRE(f.gain_calls == 3);

  // Alice is over her limit: refused, nothing executed, nothing named as executed.
  const json refused = from(command("a3", "set_master", {{"gain_db", -9}}), "alice");
  CHECK(refused["status"] == "error");
  CHECK(refused["error_code"] == "rate_limited");
  CHECK(f.processor.last_executed().empty());
  CHECK(f.gain_calls == 3);
  CHECK(f.last_gain == Approx(-2.0));

  // Bob, and the admin tool (the default sender), still get through in the same minute.
  const json bobs = from(command("b0", "set_master", {{"gain_db", -4}}), "bob");
  CHECK(bobs["status"] == "ok");
  CHECK(f.processor.last_executed() == "set_master");
  CHECK(f.gain_calls == 4);
  CHECK(f.last_gain == Approx(-4.0));
  CHECK(f.send(command("c0", "ping"))["status"] == "ok");
  CHECK(f.processor.last_executed() == "ping");

  // Alice is still refused while Bob's commands run; her ack is not remembered as done.
  CHECK(from(command("a4", "ping"), "alice")["error_code"] == "rate_limited");
  CHECK(f.processor.last_executed().empty());
  CHECK(f.processor.counters().rate_limited == 2);
  f.now += std::chrono::seconds(61);
  CHECK(from(command("a3", "set_master", {{"gain_db", -9}}), "alice")["status"] == "ok");
  CHECK(f.last_gain == Approx(-9.0));
}

TEST_CASE("the senders remembered for the rate limit are bounded", "[control]") {
  CommandLimits limits;
  limits.senders = 2;
  Fixture f(limits);
  const auto from = [&f](const std::string& id, std::string_view sender) {
    return json::parse(f.processor.handle(command(id, "ping"), f.now, sender));
  };
  CHECK(from("a1", "alice")["status"] == "ok");
  CHECK(from("b1", "bob")["status"] == "ok");
  // Both remembered senders were active this minute: a third waits rather than growing the map.
  CHECK(from("c1", "carol")["error_code"] == "rate_limited");
  CHECK(from("a2", "alice")["status"] == "ok");
  // Once the others were quiet for a minute they are forgotten and the newcomer gets in.
  f.now += std::chrono::seconds(61);
  CHECK(from("c1", "carol")["status"] == "ok");
  CHECK(from("b2", "bob")["status"] == "ok");
}

TEST_CASE("a refused command leaves no executed type behind", "[control]") {
  Fixture f;
  CHECK(f.send(command("p1", "ping"))["status"] == "ok");
  CHECK(f.processor.last_executed() == "ping");
  CHECK(f.send(command("x1", "set_master", {{"gain_db", 99}}))["error_code"] == "invalid_request");
  CHECK(f.processor.last_executed().empty());
  CHECK(f.send(command("p2", "ping"))["status"] == "ok");
  CHECK(f.send(command("l1", "leave_room"))["error_code"] == "not_in_room");
  CHECK(f.processor.last_executed().empty());
  CHECK(f.send(command("p3", "ping"))["status"] == "ok");
  CHECK(f.send(command("u1", "format_disk"))["status"] == "unsupported");
  CHECK(f.processor.last_executed().empty());
}

TEST_CASE("remembered command ids are bounded", "[control]") {
  CommandLimits limits;
  limits.remembered = 3;
  Fixture f(limits);
  for (int i = 0; i < 4; ++i) {
    static_cast<void>(f.send(command("id" + std::to_string(i), "set_master", {{"gain_db", 0}})));
  }
  // id0 was forgotten (oldest): executed again; id3 is still known.
  static_cast<void>(f.send(command("id0", "set_master", {{"gain_db", 0}})));
  static_cast<void>(f.send(command("id3", "set_master", {{"gain_db", 0}})));
  CHECK(f.gain_calls == 5);
}

TEST_CASE("the supported command types are listed for the capabilities message", "[control]") {
  Fixture f;
  CHECK(f.processor.command_types() ==
        std::vector<std::string>{"leave_room", "ping", "set_master"});
  CHECK(f.processor.supports("ping"));
  CHECK_FALSE(f.processor.supports("pong"));
}
