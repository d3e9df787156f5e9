// Rooms by code: codes, the rooms jambox-broadcast makes on demand, their limits and expiry, and
// what a box's create_room request (and a join_room by code) is answered.
#include <jambox/broadcast/admission.hpp>
#include <jambox/broadcast/on_demand.hpp>
#include <jambox/crypto/crypto.hpp>
#include <jambox/message/messages.hpp>
#include <jambox/wire/session.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace broadcast = jambox::broadcast;
namespace message = jambox::message;
using broadcast::OnDemandRooms;
using broadcast::RoomsConfig;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

using Clock = OnDemandRooms::Clock;
const Clock::time_point kStart{};  // the epoch of the steady clock: any fixed point will do

RoomsConfig rooms_config(std::uint32_t max_on_demand = 4, std::uint32_t max_members = 3) {
  RoomsConfig c;
  c.on_demand = true;
  c.max_on_demand = max_on_demand;
  c.max_members = max_members;
  c.idle_expiry_s = 60;
  return c;
}

bool declared_band(std::string_view name) {
  return name == "band" || name == "ABC234";
}

// Codes from a list, in order (then fresh random ones).
OnDemandRooms::CodeSource scripted(std::vector<std::string> codes) {
  auto next = std::make_shared<std::size_t>(0);
  return [codes = std::move(codes), next] {
    return *next < codes.size() ? codes[(*next)++] : broadcast::make_room_code();
  };
}

}  // namespace

TEST_CASE("rooms by code: codes are drawn from the alphabet, uniformly enough",
          "[broadcast][rooms]") {
  std::set<std::string> seen;
  std::set<char> letters;
  for (int i = 0; i < 2000; ++i) {
    const std::string code = broadcast::make_room_code();
    REQUIRE(code.size() == message::kRoomCodeLength);
    REQUIRE(message::is_room_code(code));
    seen.insert(code);
    letters.insert(code.begin(), code.end());
  }
  // 2000 draws from 31^6 codes: a repeat would mean a broken generator.
  CHECK(seen.size() == 2000);
  // 12000 characters: every one of the 31 shows up.
  CHECK(letters.size() == message::kRoomCodeAlphabet.size());
  for (const char c : {'0', 'O', '1', 'I', 'L'}) CHECK(letters.count(c) == 0);

  const std::string secret = broadcast::make_room_secret();
  CHECK(secret.size() == 64);
  CHECK(secret.size() >= jambox::wire::kMinSecretLength);
  CHECK(secret != broadcast::make_room_secret());
}

TEST_CASE("rooms by code: what is a code, and what a musician may type",
          "[broadcast][rooms][message]") {
  CHECK(message::is_room_code("K7M2QX"));
  CHECK(message::is_room_code("234567"));
  CHECK_FALSE(message::is_room_code("k7m2qx"));   // exact: upper case only
  CHECK_FALSE(message::is_room_code("K7M2Q"));    // 5
  CHECK_FALSE(message::is_room_code("K7M2QXX"));  // 7
  CHECK_FALSE(message::is_room_code("K7M2Q0"));   // 0 is not in the alphabet
  CHECK_FALSE(message::is_room_code("KOM2QX"));   // nor O
  CHECK_FALSE(message::is_room_code("K1M2QX"));   // nor 1, I, L
  CHECK_FALSE(message::is_room_code("KIM2QX"));
  CHECK_FALSE(message::is_room_code("KLM2QX"));
  CHECK_FALSE(message::is_room_code(""));
  CHECK(message::room_code_from_input("k7m2qx") == std::optional<std::string>("K7M2QX"));
  CHECK(message::room_code_from_input("K7m2Qx") == std::optional<std::string>("K7M2QX"));
  CHECK_FALSE(message::room_code_from_input("k7m2q0"));
  CHECK_FALSE(message::room_code_from_input("k7m2q"));
  CHECK_FALSE(message::room_code_from_input("band"));
  CHECK_FALSE(message::room_code_from_input("K7M2Q\xC3\xA9"));
}

TEST_CASE("rooms by code: made with a fresh code and secret, never shadowing a declared room",
          "[broadcast][rooms]") {
  // The first codes drawn are a declared room's name, an invalid one, then a free one.
  OnDemandRooms rooms(rooms_config(), scripted({"ABC234", "bad", "XYZ789", "XYZ789", "QQQ222"}));
  const auto a = rooms.create("box-1", "", declared_band, 1, 16, kStart);
  REQUIRE(a.room != nullptr);
  CHECK(a.error_code.empty());
  CHECK(a.room->code == "XYZ789");
  CHECK(a.room->creator == "box-1");
  CHECK(a.room->max_members == 3);
  CHECK(a.room->secret.size() == 64);
  // A collision with a room made earlier: drawn again.
  const auto b = rooms.create("box-2", "", declared_band, 2, 16, kStart);
  REQUIRE(b.room != nullptr);
  CHECK(b.room->code == "QQQ222");
  CHECK(b.room->secret != rooms.find("XYZ789")->secret);
  CHECK(rooms.size() == 2);
  CHECK(rooms.codes() == std::vector<std::string>{"QQQ222", "XYZ789"});

  // A wanted code: made when free; code_taken when a room (made or declared) has it.
  const auto wanted = rooms.create("box-3", "HHH333", declared_band, 3, 16, kStart);
  REQUIRE(wanted.room != nullptr);
  CHECK(wanted.room->code == "HHH333");
  const auto taken = rooms.create("box-1", "HHH333", declared_band, 4, 16, kStart);
  CHECK(taken.room == nullptr);
  CHECK(taken.error_code == "code_taken");
  const auto shadow = rooms.create("box-1", "ABC234", declared_band, 4, 16, kStart);
  CHECK(shadow.room == nullptr);
  CHECK(shadow.error_code == "code_taken");
  // Its creator asking again (its answer was lost) gets the same room, not a second one.
  const auto again = rooms.create("box-3", "HHH333", declared_band, 4, 16, kStart);
  REQUIRE(again.room != nullptr);
  CHECK(again.repeated);
  CHECK(again.room->code == "HHH333");
  CHECK(rooms.size() == 3);
}

TEST_CASE("rooms by code: max_on_demand and server.max_rooms bound them; no free code is full",
          "[broadcast][rooms]") {
  OnDemandRooms rooms(rooms_config(2));
  CHECK(rooms.create("box-1", "", declared_band, 1, 16, kStart).room != nullptr);
  CHECK(rooms.create("box-2", "", declared_band, 2, 16, kStart).room != nullptr);
  const auto full = rooms.create("box-3", "", declared_band, 3, 16, kStart);
  CHECK(full.room == nullptr);
  CHECK(full.error_code == "server_full");
  CHECK_THAT(full.error, Catch::Contains("2"));

  OnDemandRooms few(rooms_config(8));
  // 15 rooms already (declared and made) and max_rooms 16: one more, then full.
  CHECK(few.create("box-1", "", declared_band, 15, 16, kStart).room != nullptr);
  const auto all = few.create("box-1", "", declared_band, 16, 16, kStart);
  CHECK(all.room == nullptr);
  CHECK(all.error_code == "server_full");

  // A generator that only finds taken codes gives up after a bounded number of draws.
  int draws = 0;
  OnDemandRooms stuck(rooms_config(), [&draws] {
    ++draws;
    return std::string("ABC234");
  });
  const auto none = stuck.create("box-1", "", declared_band, 1, 16, kStart);
  CHECK(none.room == nullptr);
  CHECK(none.error_code == "server_full");
  CHECK(draws == OnDemandRooms::kCodeAttempts);
}

TEST_CASE("rooms by code: one box may have made at most two rooms at a time",
          "[broadcast][rooms]") {
  OnDemandRooms rooms(rooms_config(8));
  const auto first = rooms.create("box-1", "", declared_band, 1, 16, kStart);
  REQUIRE(first.room != nullptr);
  const std::string first_code = first.room->code;
  REQUIRE(rooms.create("box-1", "", declared_band, 2, 16, kStart).room != nullptr);
  const auto third = rooms.create("box-1", "", declared_band, 3, 16, kStart);
  CHECK(third.room == nullptr);
  CHECK(third.error_code == "server_full");
  CHECK_THAT(third.error, Catch::Contains("this box made 2 rooms"));
  // Another box is not held back by it.
  CHECK(rooms.create("box-2", "", declared_band, 3, 16, kStart).room != nullptr);
  // Once one of its rooms is gone, the box may make another.
  CHECK(rooms.remove(first_code));
  CHECK(rooms.create("box-1", "", declared_band, 3, 16, kStart).room != nullptr);
}

TEST_CASE("rooms by code: a room nobody is in for idle_expiry_s is removed", "[broadcast][rooms]") {
  OnDemandRooms rooms(rooms_config(), scripted({"AAA222", "BBB333", "CCC444"}));
  REQUIRE(rooms.create("box-1", "", declared_band, 1, 16, kStart).room != nullptr);
  REQUIRE(rooms.create("box-2", "", declared_band, 2, 16, kStart).room != nullptr);
  REQUIRE(rooms.create("box-3", "", declared_band, 3, 16, kStart).room != nullptr);
  std::set<std::string> occupied = {"BBB333"};
  const auto is_occupied = [&](std::string_view code) {
    return occupied.count(std::string(code)) != 0;
  };
  CHECK(rooms.expire(is_occupied, kStart + 59s).empty());
  // CCC444 was just asked for: a box is on its way in.
  rooms.touch("CCC444", kStart + 30s);
  // AAA222 was never joined: gone after idle_expiry_s from its making.
  CHECK(rooms.expire(is_occupied, kStart + 60s) == std::vector<std::string>{"AAA222"});
  CHECK(rooms.find("AAA222") == nullptr);
  CHECK(rooms.expire(is_occupied, kStart + 90s) == std::vector<std::string>{"CCC444"});
  // BBB333 had members until 100 s: it lasts until 160 s.
  CHECK(rooms.expire(is_occupied, kStart + 100s).empty());
  occupied.clear();
  CHECK(rooms.expire(is_occupied, kStart + 159s).empty());
  CHECK(rooms.expire(is_occupied, kStart + 160s) == std::vector<std::string>{"BBB333"});
  CHECK(rooms.size() == 0);

  // A reload changes the limits of rooms made later, and keeps the rooms there are.
  REQUIRE(rooms.create("box-1", "DDD555", declared_band, 1, 16, kStart).room != nullptr);
  RoomsConfig bigger = rooms_config(4, 10);
  rooms.configure(bigger);
  CHECK(rooms.find("DDD555")->max_members == 3);
  REQUIRE(rooms.create("box-1", "EEE666", declared_band, 2, 16, kStart).room != nullptr);
  CHECK(rooms.find("EEE666")->max_members == 10);
  CHECK(rooms.remove("DDD555"));
  CHECK_FALSE(rooms.remove("DDD555"));
}

namespace {

constexpr std::uint64_t kNow = 1'800'000'000;
constexpr const char* kRoomSecret = "a-secret-made-on-demand-0123456789";

broadcast::AdmissionConfig admission_config() {
  broadcast::AdmissionConfig c;
  c.public_endpoint = "jam.example.org:7930";
  return c;
}

broadcast::RoomAvailability lookup(std::string_view room) {
  broadcast::RoomAvailability r;
  r.codes = true;
  if (room == "K7M2QX") {
    r.exists = true;
    r.secret = kRoomSecret;
    r.members = 1;
    r.max_members = 2;
  } else if (room == "FULL22") {
    r.exists = true;
    r.secret = kRoomSecret;
    r.members = 2;
    r.max_members = 2;
  }
  return r;
}

broadcast::RoomCreation make(std::string_view player_key, std::string_view wanted) {
  broadcast::RoomCreation c;
  if (wanted == "TAKEN2") {
    c.error_code = "code_taken";
    c.error = "taken";
    return c;
  }
  if (player_key == "box-many") {
    c.error_code = "server_full";
    c.error = "full";
    return c;
  }
  c.room = wanted.empty() ? "NEW234" : std::string(wanted);
  c.available.exists = true;
  c.available.secret = kRoomSecret;
  c.available.max_members = 2;
  return c;
}

json ask(const json& request, const std::string& key = "box-1", bool on_demand = true) {
  return on_demand
             ? broadcast::answer_request(key, request.dump(), lookup, make, admission_config(),
                                         kNow)
             : broadcast::answer_request(key, request.dump(), lookup, admission_config(), kNow);
}

json create(const std::string& code = {}) {
  json r = {{"request_id", "req-1"}, {"request_type", "create_room"}, {"player_key", "box-1"}};
  if (!code.empty()) r["room"] = code;
  return r;
}

json join(const std::string& room) {
  return {{"request_id", "req-2"},
          {"request_type", "join_room"},
          {"player_key", "box-2"},
          {"room", room}};
}

}  // namespace

TEST_CASE("admission: create_room is answered like a join of the room made, plus created",
          "[broadcast][admission][rooms]") {
  const json r = ask(create());
  REQUIRE(r["success"] == true);
  CHECK(r["request_type"] == "create_room");
  CHECK(r["created"] == true);
  CHECK(r["room"] == "NEW234");
  CHECK(r["server"] == "jam.example.org:7930");
  CHECK(r["members"] == 0);
  CHECK(r["max_members"] == 2);
  CHECK(r["ticket"]["expires"] == kNow + 60);
  CHECK(r["audio_key"] ==
        jambox::crypto::to_hex(jambox::wire::derive_room_audio_key("NEW234", kRoomSecret)));
  // The room's secret never leaves the server.
  CHECK(r.dump().find(kRoomSecret) == std::string::npos);

  // A wanted code, typed in lower case by the box's user: upper-cased by the parser.
  const json wanted = ask(create("hhh333"));
  REQUIRE(wanted["success"] == true);
  CHECK(wanted["room"] == "HHH333");

  const auto code = [](const json& answer) {
    CHECK(answer["success"] == false);
    CHECK_FALSE(answer.contains("ticket_secret"));
    CHECK_FALSE(answer.contains("audio_key"));
    CHECK(answer["request_type"] == "create_room");
    return answer["error_code"].get<std::string>();
  };
  CHECK(code(ask(create("TAKEN2"))) == "code_taken");
  json many = create();
  many["player_key"] = "box-many";
  CHECK(code(ask(many, "box-many")) == "server_full");
  CHECK(code(ask(create(), "box-1", false)) == "on_demand_disabled");
  // A wanted room that is no code (it could name a declared room) is refused as invalid.
  for (const json& bad : {json("band"), json("K7M2Q0"), json(7), json("K7M2QXX")}) {
    json request = create();
    request["room"] = bad;
    const json answer = ask(request);
    CHECK(code(answer) == "invalid_request");
    CHECK_THAT(answer["error"].get<std::string>(), Catch::Contains("room:"));
  }
  // Another box's name: refused like a join.
  CHECK(code(ask(create(), "box-2")) == "invalid_request");
}

TEST_CASE("admission: join_room by code; unknown_code only for codes, room_full when full",
          "[broadcast][admission][rooms]") {
  const json joined = ask(join("K7M2QX"), "box-2");
  REQUIRE(joined["success"] == true);
  CHECK(joined["room"] == "K7M2QX");
  CHECK_FALSE(joined.contains("created"));
  jambox::wire::Ticket ticket;
  REQUIRE(jambox::crypto::from_hex(joined["ticket"]["nonce"].get<std::string>(), ticket.nonce));
  ticket.expires_s = joined["ticket"]["expires"];
  CHECK(joined["ticket_secret"] ==
        jambox::wire::derive_ticket_secret("K7M2QX", kRoomSecret, ticket));
  CHECK(ask(join("ZZZ999"), "box-2")["error_code"] == "unknown_code");
  // Room names are exact: a lower-case code is a room name like any other.
  CHECK(ask(join("zzz999"), "box-2")["error_code"] == "unknown_room");
  CHECK(ask(join("nowhere"), "box-2")["error_code"] == "unknown_room");
  CHECK(ask(join("FULL22"), "box-2")["error_code"] == "room_full");
}
