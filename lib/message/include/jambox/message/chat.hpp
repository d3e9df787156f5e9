#pragma once
// Room chat (docs/control-plane.md, "Room chat"): what a musician's page, or the admin's tool,
// sends to the room server, and what the room server publishes to the members' boxes. The
// server reads every chat message with parse_chat into a typed struct and publishes only what
// it builds itself from those structs: a peer's bytes are never passed on.
//
//   musician -> server  {prefix}/player/{box}/chat/from/{user}   {"text"} or {"history": true}
//   admin -> server     {prefix}/room/{room}/chat                {"text"}
//   server -> member    {prefix}/player/{member}/room/chat           chat_event_text
//                       {prefix}/player/{member}/room/chat/history   chat_history_text
//                       {prefix}/player/{member}/room/chat/refused   chat_refusal_text

#include <jambox/message/limited_json.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <variant>

namespace jambox::message {

// A message's text is 1..kMaxChatCharacters Unicode characters once trimmed.
inline constexpr std::size_t kMaxChatCharacters = 500;
// Bytes of a chat message as published: room for the longest text however it is escaped.
inline constexpr std::size_t kMaxChatBytes = 4096;
// A page's own id for a message it sent, echoed in a refusal so it can mark that message.
inline constexpr std::size_t kMaxChatClientIdLength = 64;

struct ChatText {
  std::string text;       // trimmed, valid UTF-8, no control characters
  std::string client_id;  // empty when absent
};
struct ChatHistoryRequest {
  std::string client_id;
};
struct ChatRefusal {
  Refusal reason = Refusal::invalid_json;
  std::string error_code;  // too_long or invalid_request
  std::string error;       // one sentence naming the field, our own words
  std::string client_id;   // when it could be read
};
using Chat = std::variant<ChatText, ChatHistoryRequest, ChatRefusal>;

// {"text": "..."} or {"history": true}, each with an optional "client_id" (1..64 characters of
// [A-Za-z0-9_.-]). Unknown members are dropped. Text longer than kMaxChatCharacters (or a
// payload over kMaxChatBytes) is `too_long`; anything else that is not one of the two shapes,
// empty text, control characters (line breaks included) and invalid UTF-8 are
// `invalid_request`.
[[nodiscard]] Chat parse_chat(std::string_view payload);
[[nodiscard]] const JsonLimits& chat_limits() noexcept;
// Unicode characters in valid UTF-8 `text`.
[[nodiscard]] std::size_t character_count(std::string_view text) noexcept;

// What the room server publishes: its own records, built from typed values only.
enum class ChatEventType : std::uint8_t { message, join, leave };
struct ChatEvent {
  ChatEventType type = ChatEventType::message;
  std::string room;
  std::uint64_t seq = 0;     // per room, increasing
  std::int64_t time_ms = 0;  // Unix milliseconds
  std::string from;          // message: the musician's user name, or "admin"
  std::string box;           // the box: the sender's (message from a musician), the one that
                             // joined or left; empty for the admin's messages
  std::string text;          // message only
};
[[nodiscard]] nlohmann::json to_json(const ChatEvent& event);
// {"event": "message"|"join"|"leave", "room", "seq", "time", "from"?, "box"?, "text"?}
[[nodiscard]] std::string chat_event_text(const ChatEvent& event);
// {"room", "events": [...]} (oldest first).
[[nodiscard]] std::string chat_history_text(std::string_view room,
                                            const std::deque<ChatEvent>& events);
// {"user", "error_code", "error", "client_id"?}
[[nodiscard]] std::string chat_refusal_text(std::string_view user, std::string_view error_code,
                                            std::string_view error, std::string_view client_id);

}  // namespace jambox::message
