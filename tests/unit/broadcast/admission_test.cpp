// The admission policy of jambox-broadcast's MQTT side: what a box's join_room request gets.
#include <jambox/broadcast/admission.hpp>
#include <jambox/crypto/crypto.hpp>
#include <jambox/wire/session.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

using jambox::broadcast::AdmissionConfig;
using jambox::broadcast::answer_request;
using jambox::broadcast::RoomAvailability;
using nlohmann::json;
namespace wire = jambox::wire;

namespace {

constexpr const char* kSecret = "band-room-secret-0123456789";
constexpr std::uint64_t kNow = 1'800'000'000;

AdmissionConfig config() {
  AdmissionConfig c;
  c.public_endpoint = "jam.example.org:7930";
  c.ticket_lifetime_s = 60;
  return c;
}

RoomAvailability lookup(std::string_view room) {
  RoomAvailability r;
  if (room == "band") {
    r.exists = true;
    r.secret = kSecret;
    r.members = 1;
    r.max_members = 4;
  } else if (room == "packed") {
    r.exists = true;
    r.secret = kSecret;
    r.members = 4;
    r.max_members = 4;
  }
  return r;
}

json ask(const json& request, const std::string& key = "box-1") {
  return answer_request(key, request.dump(), lookup, config(), kNow);
}

json join(const std::string& room) {
  return {{"request_id", "req-1"},
          {"request_type", "join_room"},
          {"player_key", "box-1"},
          {"room", room}};
}

wire::Ticket ticket_of(const json& response) {
  wire::Ticket t;
  const std::string nonce = response["ticket"]["nonce"];
  REQUIRE(nonce.size() == 32);
  for (std::size_t i = 0; i < t.nonce.size(); ++i) {
    t.nonce[i] = static_cast<std::uint8_t>(std::stoul(nonce.substr(2 * i, 2), nullptr, 16));
  }
  t.expires_s = response["ticket"]["expires"];
  return t;
}

}  // namespace

TEST_CASE("admission: a join_room request gets a ticket for the room", "[broadcast][admission]") {
  const json r = ask(join("band"));
  REQUIRE(r["success"] == true);
  CHECK(r["request_id"] == "req-1");
  CHECK(r["request_type"] == "join_room");
  CHECK(r["room"] == "band");
  CHECK(r["server"] == "jam.example.org:7930");
  CHECK(r["members"] == 1);
  CHECK(r["max_members"] == 4);
  CHECK(r["ticket"]["expires"] == kNow + 60);
  // The secret is the ticket's, derived from the room's: the server can check it at the JOIN
  // without remembering it, and the room's own secret is not in the answer.
  const wire::Ticket t = ticket_of(r);
  CHECK(r["ticket_secret"] == wire::derive_ticket_secret("band", kSecret, t));
  CHECK(r.dump().find(kSecret) == std::string::npos);
  // The room's audio key, the same for every box of the room, derived from its secret.
  CHECK(r["audio_key"] == jambox::crypto::to_hex(wire::derive_room_audio_key("band", kSecret)));
  CHECK(ask(join("band"))["audio_key"] == r["audio_key"]);
  // Every ticket is new.
  CHECK(ask(join("band"))["ticket"]["nonce"] != r["ticket"]["nonce"]);
}

TEST_CASE("admission: unknown and full rooms are refused with error codes",
          "[broadcast][admission]") {
  const json unknown = ask(join("nowhere"));
  CHECK(unknown["success"] == false);
  CHECK(unknown["request_id"] == "req-1");
  CHECK(unknown["error_code"] == "unknown_room");
  CHECK_FALSE(unknown.contains("ticket_secret"));
  const json full = ask(join("packed"));
  CHECK(full["success"] == false);
  CHECK(full["error_code"] == "room_full");
  CHECK_FALSE(full.contains("ticket_secret"));
  CHECK_FALSE(full.contains("audio_key"));
}

TEST_CASE("admission: malformed requests are answered, never admitted", "[broadcast][admission]") {
  const auto code = [](const json& r) {
    CHECK(r["success"] == false);
    CHECK_FALSE(r.contains("ticket_secret"));
    return r["error_code"].get<std::string>();
  };
  CHECK(code(answer_request("box-1", "{not json", lookup, config(), kNow)) == "invalid_json");
  CHECK(code(answer_request("box-1", "[1,2]", lookup, config(), kNow)) == "invalid_json");
  CHECK(code(answer_request("box-1", std::string(20000, ' '), lookup, config(), kNow)) ==
        "payload_too_large");
  json no_id = join("band");
  no_id.erase("request_id");
  CHECK(code(ask(no_id)) == "invalid_request");
  json other = join("band");
  other["request_type"] = "query_posts";
  CHECK(code(ask(other)) == "unsupported");
  json bad_room = join("band room");
  CHECK(code(ask(bad_room)) == "invalid_request");
  json number_room = join("band");
  number_room["room"] = 7;
  CHECK(code(ask(number_room)) == "invalid_request");
  // A box cannot ask in another box's name.
  CHECK(code(ask(join("band"), "box-2")) == "invalid_request");
}
