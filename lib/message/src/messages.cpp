#include <jambox/message/messages.hpp>
#include <jambox/message/text.hpp>
#include <jambox/wire/session.hpp>

#include <cmath>

namespace jambox::message {
namespace {

using json = nlohmann::json;

JsonLimits limits(std::size_t bytes, std::size_t depth, std::size_t string, std::size_t array,
                  std::size_t members, std::size_t values) {
  JsonLimits l;
  l.max_bytes = bytes;
  l.max_depth = depth;
  l.max_string = string;
  l.max_array = array;
  l.max_members = members;
  l.max_values = values;
  return l;
}

// Envelope (1) > payload (2) > a list in the payload (3), one level to spare.
const JsonLimits kCommand = limits(kMaxCommandBytes, 4, 256, kMaxQueueTitles, 32, 1024);
const JsonLimits kPresence = limits(1024, 1, 128, 16, 16, 32);
const JsonLimits kTransport =
    limits(kMaxTransportBytes, 2, kMaxTitleLength, kMaxQueueTitles, 16, kMaxQueueTitles + 32);
const JsonLimits kViewAck = limits(1024, 1, 128, 16, 16, 32);
const JsonLimits kRequest = limits(kMaxRequestBytes, 1, 128, 16, 16, 32);
const JsonLimits kResponse = limits(kMaxResponseBytes, 2, 256, 16, 32, 64);

ParseError field_error(const char* name, const std::string& problem) {
  return {Refusal::invalid_field, std::string(name) + ": " + problem};
}

// A string member of 1..max bytes, or nullptr (the caller names the problem).
const std::string* string_member(const json& doc, const char* name, std::size_t max) {
  const auto it = doc.find(name);
  if (it == doc.end() || !it->is_string()) return nullptr;
  const auto& s = it->get_ref<const std::string&>();
  return s.empty() || s.size() > max ? nullptr : &s;
}

std::optional<bool> bool_member(const json& doc, const char* name) {
  const auto it = doc.find(name);
  if (it == doc.end() || !it->is_boolean()) return std::nullopt;
  return it->get<bool>();
}

}  // namespace

const JsonLimits& box_document_limits() noexcept {
  static const JsonLimits l = limits(kMaxBoxDocumentBytes, 8, 1024, 256, 64, 16384);
  return l;
}

const JsonLimits& command_limits() noexcept {
  return kCommand;
}

const JsonLimits& response_limits() noexcept {
  return kResponse;
}

std::variant<Command, CommandRefusal> parse_command(std::string_view text) {
  CommandRefusal refusal;
  if (text.size() > kCommand.max_bytes) {
    refusal.reason = Refusal::too_large;
    refusal.error_code = "payload_too_large";
    refusal.error = "commands are limited to " + std::to_string(kCommand.max_bytes) +
                    " bytes, got " + std::to_string(text.size());
    return refusal;
  }
  ParseError error;
  auto doc = parse_object(text, kCommand, error);
  if (!doc) {
    refusal.reason = error.reason;
    const bool malformed =
        error.reason == Refusal::invalid_json || error.reason == Refusal::not_object;
    refusal.error_code = malformed ? "invalid_json" : "invalid_request";
    refusal.error = malformed ? "the command is not a JSON object (UTF-8)"
                              : "the command is refused: " + error.detail;
    return refusal;
  }
  const std::string* id = string_member(*doc, "command_id", kMaxCommandIdLength);
  if (id == nullptr) {
    refusal.reason = Refusal::invalid_field;
    refusal.error_code = "invalid_request";
    refusal.error = "command_id: a string of 1..128 characters is required";
    return refusal;
  }
  refusal.id = *id;
  Command command;
  command.id = *id;
  const auto type = doc->find("command_type");
  if (type == doc->end() || !type->is_string() || type->get_ref<const std::string&>().empty()) {
    refusal.reason = Refusal::invalid_field;
    refusal.error_code = "invalid_request";
    refusal.error = "command_type: a string is required";
    return refusal;
  }
  command.type = type->get<std::string>();
  const auto payload = doc->find("payload");
  if (payload != doc->end() && !payload->is_null()) {
    if (!payload->is_object()) {
      refusal.reason = Refusal::invalid_field;
      refusal.error_code = "invalid_request";
      refusal.error = "payload: an object is required";
      return refusal;
    }
    command.payload = std::move(*payload);
  }
  return command;
}

std::optional<Presence> parse_presence(std::string_view text, ParseError& error) {
  const auto doc = parse_object(text, kPresence, error);
  if (!doc) return std::nullopt;
  const std::string* event = string_member(*doc, "event", 16);
  Presence p;
  if (event != nullptr && *event == "join") {
    p.event = PresenceEvent::join;
  } else if (event != nullptr && *event == "presence") {
    p.event = PresenceEvent::presence;
  } else if (event != nullptr && *event == "leave") {
    p.event = PresenceEvent::leave;
  } else {
    error = field_error("event", "one of join, presence, leave");
    return std::nullopt;
  }
  // Optional, but when present typed and bounded: a wrong one is refused naming it.
  if (const auto id = doc->find("session_id"); id != doc->end()) {
    if (!id->is_number_unsigned() || id->get<std::uint64_t>() == 0 ||
        id->get<std::uint64_t>() > 0xFFFFFFFFU) {
      error = field_error("session_id", "an integer 1..4294967295");
      return std::nullopt;
    }
    p.session_id = static_cast<std::uint32_t>(id->get<std::uint64_t>());
  }
  if (const auto rtt = doc->find("rtt_ms"); rtt != doc->end()) {
    if (!rtt->is_number_unsigned() || rtt->get<std::uint64_t>() > kMaxPresenceRttMs) {
      error = field_error("rtt_ms", "an integer 0..60000");
      return std::nullopt;
    }
    p.rtt_ms = static_cast<std::uint32_t>(rtt->get<std::uint64_t>());
  }
  if (const auto room = doc->find("room"); room != doc->end()) {
    if (!room->is_string() || !wire::valid_room_name(room->get_ref<const std::string&>())) {
      error = field_error("room", "a room name of 1-32 characters [A-Za-z0-9._-]");
      return std::nullopt;
    }
    p.room = room->get<std::string>();
  }
  return p;
}

std::string presence_text(std::string_view player_key, PresenceEvent event,
                          std::int64_t timestamp) {
  Presence p;
  p.event = event;
  return presence_text(player_key, p, timestamp);
}

std::string presence_text(std::string_view player_key, const Presence& presence,
                          std::int64_t timestamp) {
  const char* name = presence.event == PresenceEvent::join    ? "join"
                     : presence.event == PresenceEvent::leave ? "leave"
                                                              : "presence";
  json doc{{"player_key", player_key}, {"event", name}, {"timestamp", timestamp}};
  if (presence.session_id) doc["session_id"] = *presence.session_id;
  if (presence.rtt_ms) doc["rtt_ms"] = *presence.rtt_ms;
  if (!presence.room.empty()) doc["room"] = presence.room;
  return dump(doc);
}

std::optional<Transport> parse_transport(std::string_view text, std::string_view key,
                                         ParseError& error) {
  const auto doc = parse_object(text, kTransport, error);
  if (!doc) return std::nullopt;
  const std::string* event = string_member(*doc, "event", 16);
  if (event == nullptr || *event != "update") {
    error = field_error("event", "must be \"update\"");
    return std::nullopt;
  }
  const std::string* host = string_member(*doc, "host", 128);
  if (host == nullptr || *host != key) {
    error = {Refusal::not_owner, "host: must be the key of the topic it came on"};
    return std::nullopt;
  }
  Transport t;
  t.host = *host;
  const auto tempo = doc->find("tempo_bpm");
  if (tempo == doc->end() || !tempo->is_number()) {
    error = field_error("tempo_bpm", "a number is required");
    return std::nullopt;
  }
  t.tempo_bpm = tempo->get<double>();
  if (!std::isfinite(t.tempo_bpm) || t.tempo_bpm < kMinTempo || t.tempo_bpm > kMaxTempo) {
    error = field_error("tempo_bpm", "must be within 30..300");
    return std::nullopt;
  }
  const auto metronome = bool_member(*doc, "metronome");
  if (!metronome) {
    error = field_error("metronome", "true or false is required");
    return std::nullopt;
  }
  t.metronome = *metronome;
  if (doc->contains("playing")) {
    const auto playing = bool_member(*doc, "playing");
    if (!playing) {
      error = field_error("playing", "must be true or false");
      return std::nullopt;
    }
    t.playing = *playing;
  }
  if (const auto queue = doc->find("queue"); queue != doc->end()) {
    if (!queue->is_array()) {
      error = field_error("queue", "a list of titles is required");
      return std::nullopt;
    }
    for (const json& title : *queue) {
      if (!title.is_string() || title.get_ref<const std::string&>().empty()) {
        error = field_error("queue", "titles are strings of 1..128 bytes");
        return std::nullopt;
      }
      t.queue.push_back(title.get<std::string>());
    }
  }
  if (const auto ts = doc->find("timestamp"); ts != doc->end() && ts->is_number_integer()) {
    t.timestamp = ts->get<std::int64_t>();
  }
  return t;
}

json to_json(const Transport& t) {
  return json{{"event", "update"},        {"host", t.host},       {"tempo_bpm", t.tempo_bpm},
              {"metronome", t.metronome}, {"playing", t.playing}, {"queue", t.queue},
              {"timestamp", t.timestamp}};
}

std::optional<ViewAck> parse_view_ack(std::string_view text, ParseError& error) {
  const auto doc = parse_object(text, kViewAck, error);
  if (!doc) return std::nullopt;
  const std::string* id = string_member(*doc, "event_id", 128);
  if (id == nullptr) {
    error = field_error("event_id", "a string of 1..128 bytes is required");
    return std::nullopt;
  }
  return ViewAck{*id};
}

bool is_room_code(std::string_view text) noexcept {
  return text.size() == kRoomCodeLength &&
         text.find_first_not_of(kRoomCodeAlphabet) == std::string_view::npos;
}

std::optional<std::string> room_code_from_input(std::string_view text) {
  if (text.size() != kRoomCodeLength) return std::nullopt;
  std::string code(text);
  for (char& c : code) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  if (!is_room_code(code)) return std::nullopt;
  return code;
}

std::variant<JoinRequest, RequestRefusal> parse_join_request(std::string_view text) {
  RequestRefusal refusal;
  ParseError error;
  const auto doc = parse_object(text, kRequest, error);
  if (!doc) {
    refusal.reason = error.reason;
    refusal.error_code = error.reason == Refusal::too_large ? "payload_too_large"
                         : error.reason == Refusal::too_deep || error.reason == Refusal::too_long
                             ? "invalid_request"
                             : "invalid_json";
    refusal.error = "the request is refused: " + error.detail;
    return refusal;
  }
  refusal.reason = Refusal::invalid_field;
  refusal.error_code = "invalid_request";
  const std::string* id = string_member(*doc, "request_id", 128);
  if (id == nullptr) {
    refusal.error = "request_id: a string of 1..128 bytes is required";
    return refusal;
  }
  refusal.request_id = *id;
  const std::string* type = string_member(*doc, "request_type", 64);
  if (type == nullptr) {
    refusal.error_code = "unsupported";
    refusal.error = "request_type: a string of 1..64 bytes is required";
    return refusal;
  }
  refusal.request_type = *type;
  JoinRequest request;
  if (*type == "join_room") {
    request.type = RequestType::join_room;
  } else if (*type == "create_room") {
    request.type = RequestType::create_room;
  } else {
    refusal.error_code = "unsupported";
    refusal.error = "request_type '" + *type + "' is not served here";
    return refusal;
  }
  request.request_id = *id;
  request.request_type = *type;
  if (const auto key = doc->find("player_key"); key != doc->end()) {
    if (!key->is_string()) {
      refusal.error = "player_key: must be the key of the topic the request came on";
      return refusal;
    }
    request.player_key = key->get<std::string>();
  }
  if (request.type == RequestType::create_room) {
    // The wanted code is optional (the server picks one); when given it must be a code, so a
    // create_room can never name, and so shadow, a declared room.
    const auto wanted = doc->find("room");
    if (wanted == doc->end() || wanted->is_null()) return request;
    const auto code = wanted->is_string()
                          ? room_code_from_input(wanted->get_ref<const std::string&>())
                          : std::nullopt;
    if (!code) {
      refusal.error = "room: a code of " + std::to_string(kRoomCodeLength) + " characters of " +
                      std::string(kRoomCodeAlphabet) + " (or no room)";
      return refusal;
    }
    request.room = *code;
    return request;
  }
  const std::string* room = string_member(*doc, "room", 32);
  if (room == nullptr || !wire::valid_room_name(*room)) {
    refusal.error = "room: a room name of 1-32 characters [A-Za-z0-9._-] is required";
    return refusal;
  }
  request.room = *room;
  return request;
}

}  // namespace jambox::message
