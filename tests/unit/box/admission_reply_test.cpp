// A box reads the room server's answer to its join_room request strictly.
#include <jambox/box/admission_reply.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <string>
#include <variant>

using jambox::box::AdmissionRefusal;
using jambox::box::read_admission_reply;
using jambox::box::RoomConfig;
using nlohmann::json;

namespace {

constexpr std::uint64_t kNow = 1700000000;  // the box's wall clock in these tests

json good() {
  return {{"request_id", "r"},
          {"success", true},
          {"room", "band"},
          {"server", "127.0.0.1:7930"},
          {"ticket", {{"nonce", std::string(30, '0') + "ff"}, {"expires", 1800000000}}},
          {"ticket_secret", std::string(64, 'a')},
          {"audio_key", "01" + std::string(60, '0') + "fe"}};
}

AdmissionRefusal refused(const json& reply, const std::string& room = "band") {
  auto r = read_admission_reply(reply.dump(), room, kNow);
  REQUIRE(std::holds_alternative<AdmissionRefusal>(r));
  return std::get<AdmissionRefusal>(r);
}

}  // namespace

TEST_CASE("admission reply: a ticket becomes the room to join", "[box][admission]") {
  auto r = read_admission_reply(good().dump(), "band", kNow);
  REQUIRE(std::holds_alternative<RoomConfig>(r));
  const RoomConfig& room = std::get<RoomConfig>(r);
  CHECK(room.name == "band");
  CHECK(room.server == "127.0.0.1:7930");
  CHECK(room.secret == std::string(64, 'a'));
  CHECK(room.ticket.expires_s == 1800000000);
  CHECK(room.ticket.nonce[15] == 0xff);
  CHECK(room.ticket.nonce[0] == 0);
  REQUIRE(room.audio_key);
  CHECK((*room.audio_key)[0] == 0x01);
  CHECK((*room.audio_key)[31] == 0xfe);
}

TEST_CASE("admission reply: refusals keep the server's code; only room_full is retried",
          "[box][admission]") {
  const AdmissionRefusal full =
      refused({{"success", false}, {"error_code", "room_full"}, {"error", "full"}});
  CHECK(full.error_code == "room_full");
  CHECK(full.error == "full");
  CHECK(full.retry);
  const AdmissionRefusal unknown = refused({{"success", false}, {"error_code", "unknown_room"}});
  CHECK(unknown.error_code == "unknown_room");
  CHECK_FALSE(unknown.retry);
  CHECK(refused({{"success", false}, {"error_code", 7}}).error_code == "unknown");
}

TEST_CASE("admission reply: malformed answers never make a room", "[box][admission]") {
  CHECK(std::get<AdmissionRefusal>(read_admission_reply("{not json", "band", kNow)).error_code ==
        "invalid_response");
  CHECK(refused(json::array()).error_code == "invalid_response");
  CHECK(refused({{"success", "yes"}}).error_code == "invalid_response");
  CHECK(refused(good(), "other").error_code == "invalid_response");  // not the room asked for
  const auto broken = [](const char* key, const json& value) {
    json r = good();
    r[key] = value;
    return refused(r);
  };
  for (const json& server : {json(""), json(7), json(std::string(300, 'h'))}) {
    CHECK(broken("server", server).error_code == "invalid_response");
  }
  // The address must be HOST:PORT, read by the same parser as [room] server.
  for (const char* server : {"nonsense", "host:", ":7930", "256.1.1.1:99999", "a b:1", "h:0"}) {
    CAPTURE(server);
    const AdmissionRefusal r = broken("server", server);
    CHECK(r.error_code == "invalid_response");
    CHECK_THAT(r.error, Catch::Contains(std::string("server '") + server + "'"));
  }
  for (const char* server : {"jam.example.org:7930", "[2001:db8::1]:7930"}) {
    json r = good();
    r["server"] = server;
    const auto reply = read_admission_reply(r.dump(), "band", kNow);
    REQUIRE(std::holds_alternative<RoomConfig>(reply));
    CHECK(std::get<RoomConfig>(reply).server == server);
  }
  CHECK(broken("ticket_secret", std::string(63, 'a')).retry);
  CHECK(broken("ticket_secret", std::string(64, 'G')).error_code == "invalid_response");
  CHECK(broken("ticket", json{{"nonce", "zz"}, {"expires", 1}}).error_code == "invalid_response");
  CHECK(broken("ticket", json{{"nonce", std::string(32, '0')}, {"expires", 0}}).error_code ==
        "invalid_response");
  CHECK(broken("ticket", json{{"nonce", std::string(32, '0')}, {"expires", -5}}).error_code ==
        "invalid_response");
  CHECK(broken("ticket", "x").error_code == "invalid_response");
  // Without the room's audio key the box could neither encrypt nor hear the room.
  CHECK(broken("audio_key", std::string(62, 'a')).error_code == "invalid_response");
  CHECK(broken("audio_key", nullptr).error_code == "invalid_response");
  json no_key = good();
  no_key.erase("audio_key");
  CHECK(refused(no_key).error_code == "invalid_response");
}

TEST_CASE("admission reply: an expired ticket is refused, a clock not yet set is not judged",
          "[box][admission]") {
  json expired = good();
  expired["ticket"]["expires"] = kNow + 5;
  CHECK(refused(expired).error_code == "invalid_response");
  CHECK(refused(expired).retry);
  CHECK(std::holds_alternative<RoomConfig>(read_admission_reply(good().dump(), "band", 0)));
}

TEST_CASE("admission reply: a created room must be named by a code, the one asked for",
          "[box][admission]") {
  using jambox::box::read_creation_reply;
  json made = good();
  made["room"] = "K7M2QX";
  made["created"] = true;
  const auto any = read_creation_reply(made.dump(), "", kNow);
  REQUIRE(std::holds_alternative<RoomConfig>(any));
  CHECK(std::get<RoomConfig>(any).name == "K7M2QX");
  CHECK(std::holds_alternative<RoomConfig>(read_creation_reply(made.dump(), "K7M2QX", kNow)));
  // Another code than the one asked for, or a name that is no code: refused.
  CHECK(std::get<AdmissionRefusal>(read_creation_reply(made.dump(), "ZZZ999", kNow)).error_code ==
        "invalid_response");
  made["room"] = "band";
  CHECK(std::get<AdmissionRefusal>(read_creation_reply(made.dump(), "", kNow)).error_code ==
        "invalid_response");
  made["room"] = 7;
  CHECK(std::holds_alternative<AdmissionRefusal>(read_creation_reply(made.dump(), "", kNow)));
  // The server's refusals keep their codes, and none of them is retried.
  for (const char* code : {"code_taken", "server_full", "on_demand_disabled"}) {
    const json no = {{"success", false}, {"error_code", code}, {"error", "no"}};
    const auto r = read_creation_reply(no.dump(), "", kNow);
    REQUIRE(std::holds_alternative<AdmissionRefusal>(r));
    CHECK(std::get<AdmissionRefusal>(r).error_code == code);
    CHECK_FALSE(std::get<AdmissionRefusal>(r).retry);
  }
}
