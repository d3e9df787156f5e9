#pragma once
// Every MQTT message a peer can send us, as a typed struct with bounded strings and arrays.
// Each parse_* takes the raw payload, applies its topic's limits (docs/security.md lists them),
// keeps only the fields it knows and returns the struct, or the refusal. No handler ever sees a
// peer's document: the only JSON that passes through is a command's payload object, itself
// bounded (depth, strings, arrays) so that the command's field helpers can read it.

#include <jambox/message/limited_json.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace jambox::message {

// --- admin -> box: {prefix}/player/{key}/command ---------------------------------------------
inline constexpr std::size_t kMaxCommandBytes = 128 * 1024;
inline constexpr std::size_t kMaxCommandIdLength = 128;
inline constexpr std::size_t kMaxCommandTypeLength = 64;

struct Command {
  std::string id;
  std::string type;
  nlohmann::json payload = nlohmann::json::object();  // an object within the command limits
};

struct CommandRefusal {
  std::string id;  // the command's id when it could be read, else empty
  Refusal reason = Refusal::invalid_json;
  std::string error_code;  // for the ack: payload_too_large, invalid_json, invalid_request
  std::string error;
};

[[nodiscard]] const JsonLimits& command_limits() noexcept;
[[nodiscard]] std::variant<Command, CommandRefusal> parse_command(std::string_view text);

// --- a member box -> room server: {prefix}/player/{key}/room/out/presence; the room server ->
// every other member: {prefix}/player/{member}/room/in/presence/{key} (docs/control-plane.md) ---
enum class PresenceEvent : std::uint8_t { join, presence, leave };
// A round trip longer than this is no figure worth showing: refused as out of range.
inline constexpr std::uint32_t kMaxPresenceRttMs = 60000;
struct Presence {
  PresenceEvent event = PresenceEvent::presence;
  // The sender's UDP session id in the room (what its remotes are called in a status), when
  // known: 1..2^32-1.
  std::optional<std::uint32_t> session_id;
  // Its round trip to the room server, 0..kMaxPresenceRttMs, when known.
  std::optional<std::uint32_t> rtt_ms;
  // The room the sender speaks of (a box says so to the room server, so a leave or heartbeat
  // meant for a room it has left ends nothing in the one it was admitted to since); empty when
  // absent. A valid room name when present.
  std::string room;
};
[[nodiscard]] std::optional<Presence> parse_presence(std::string_view text, ParseError& error);
[[nodiscard]] std::string presence_text(std::string_view player_key, PresenceEvent event,
                                        std::int64_t timestamp);
// The same with the optional members of `presence` (session_id, rtt_ms, room when not empty).
[[nodiscard]] std::string presence_text(std::string_view player_key, const Presence& presence,
                                        std::int64_t timestamp);

// --- the room's host -> room server: {prefix}/player/{key}/room/out/transport; the room server
// -> every other member: {prefix}/player/{member}/room/in/transport/{key} ----------------------
inline constexpr std::size_t kMaxQueueTitles = 64;
inline constexpr std::size_t kMaxTitleLength = 128;
inline constexpr double kMinTempo = 30.0;
inline constexpr double kMaxTempo = 300.0;

struct Transport {
  std::string host;  // the player key of the box that published it
  double tempo_bpm = 120.0;
  bool metronome = false;
  bool playing = false;
  std::vector<std::string> queue;  // at most kMaxQueueTitles titles of 1..kMaxTitleLength bytes
  std::int64_t timestamp = 0;
  bool operator==(const Transport&) const = default;
};
// `key` is the topic's last level: an update must name it as its host.
[[nodiscard]] std::optional<Transport> parse_transport(std::string_view text, std::string_view key,
                                                       ParseError& error);
[[nodiscard]] nlohmann::json to_json(const Transport& t);
// An update is at most this many bytes as JSON (a longer one is refused as too large); the host
// checks its own against it before publishing, so what a status carries stays within it too.
inline constexpr std::size_t kMaxTransportBytes = 16 * 1024;

// --- room server -> box: {prefix}/player/{key}/view/ack ------------------------------------
struct ViewAck {
  std::string event_id;
};
[[nodiscard]] std::optional<ViewAck> parse_view_ack(std::string_view text, ParseError& error);

// --- box -> room server: {prefix}/player/{key}/request/{id} ----------------------------------
inline constexpr std::size_t kMaxRequestBytes = 4096;

// Rooms by code: a room made on demand is named by a code of kRoomCodeLength characters from
// kRoomCodeAlphabet (no 0/O, 1/I/L: read aloud or typed from a screen without doubt).
inline constexpr std::string_view kRoomCodeAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";
inline constexpr std::size_t kRoomCodeLength = 6;
// Exactly a code: kRoomCodeLength characters of kRoomCodeAlphabet, upper case.
[[nodiscard]] bool is_room_code(std::string_view text) noexcept;
// A code as a musician may type it (any case), upper-cased; nullopt when it is none.
[[nodiscard]] std::optional<std::string> room_code_from_input(std::string_view text);

enum class RequestType : std::uint8_t { join_room, create_room };
struct JoinRequest {
  std::string request_id;    // 1..128 bytes
  std::string request_type;  // 1..64 bytes; "join_room" or "create_room"
  RequestType type = RequestType::join_room;
  std::string player_key;  // empty when absent
  // join_room: a valid room name (a code included); create_room: the wanted code (upper case),
  // empty when the server is to pick one.
  std::string room;
};
struct RequestRefusal {
  std::string request_id;    // when it could be read
  std::string request_type;  // when it could be read
  Refusal reason = Refusal::invalid_json;
  std::string error_code;  // payload_too_large, invalid_json, invalid_request, unsupported
  std::string error;
};
// join_room and create_room requests (both ask for a room; create_room makes it first).
[[nodiscard]] std::variant<JoinRequest, RequestRefusal> parse_join_request(std::string_view text);

// --- room server -> box: {prefix}/player/{key}/response/{id} ------------------------------------
inline constexpr std::size_t kMaxResponseBytes = 4096;
inline constexpr std::size_t kMaxErrorLength = 200;  // a peer's error text we show, clipped
[[nodiscard]] const JsonLimits& response_limits() noexcept;

// --- box -> admin: status, meters, view, state, command/ack (read by jamboxctl) -------------
// What a box publishes is bounded by construction (docs/security.md); a document beyond these
// limits comes from a broken or hostile box and is dropped by the admin's tool.
inline constexpr std::size_t kMaxBoxDocumentBytes = 256 * 1024;

}  // namespace jambox::message
