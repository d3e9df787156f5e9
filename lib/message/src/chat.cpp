#include <jambox/message/chat.hpp>
#include <jambox/message/text.hpp>

namespace jambox::message {
namespace {

using json = nlohmann::json;

// One flat object of a few members. A string may hold the longest text in four-byte characters
// with some white space around it; a longer one is too long whatever it holds.
const JsonLimits kChat = [] {
  JsonLimits l;
  l.max_bytes = kMaxChatBytes;
  l.max_depth = 1;
  l.max_string = kMaxChatCharacters * 4 + 48;
  l.max_array = 16;
  l.max_members = 8;
  l.max_values = 16;
  return l;
}();

bool white(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && white(s.front())) s.remove_prefix(1);
  while (!s.empty() && white(s.back())) s.remove_suffix(1);
  return s;
}

// C0 controls, DEL and the C1 controls (U+0080..U+009F, encoded C2 80..C2 9F): nothing a chat
// line needs, and what a terminal or a log would act on.
bool has_control(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x20 || b == 0x7F) return true;
    if (b == 0xC2 && i + 1 < s.size()) {
      const auto next = static_cast<unsigned char>(s[i + 1]);
      if (next >= 0x80 && next <= 0x9F) return true;
    }
  }
  return false;
}

bool valid_client_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxChatClientIdLength) return false;
  for (const char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

ChatRefusal refusal(Refusal reason, const char* code, std::string error,
                    std::string client_id = {}) {
  return ChatRefusal{reason, code, std::move(error), std::move(client_id)};
}

const char* event_name(ChatEventType type) {
  switch (type) {
    case ChatEventType::join:
      return "join";
    case ChatEventType::leave:
      return "leave";
    case ChatEventType::message:
      break;
  }
  return "message";
}

}  // namespace

const JsonLimits& chat_limits() noexcept {
  return kChat;
}

std::size_t character_count(std::string_view text) noexcept {
  std::size_t n = 0;
  for (const char c : text) n += (static_cast<unsigned char>(c) & 0xC0U) != 0x80U ? 1U : 0U;
  return n;
}

Chat parse_chat(std::string_view payload) {
  const std::string limit = std::to_string(kMaxChatCharacters);
  if (payload.size() > kChat.max_bytes) {
    return refusal(Refusal::too_large, "too_long",
                   "text: at most " + limit + " characters (the message has " +
                       std::to_string(payload.size()) + " bytes)");
  }
  ParseError error;
  const auto doc = parse_object(payload, kChat, error);
  if (!doc) {
    if (error.reason == Refusal::too_long && error.detail.find("string") != std::string::npos) {
      return refusal(error.reason, "too_long", "text: at most " + limit + " characters");
    }
    return refusal(error.reason, "invalid_request",
                   "a chat message is {\"text\": \"...\"} or {\"history\": true}: " + error.detail);
  }
  std::string client_id;
  if (const auto id = doc->find("client_id"); id != doc->end()) {
    if (!id->is_string() || !valid_client_id(id->get_ref<const std::string&>())) {
      return refusal(Refusal::invalid_field, "invalid_request",
                     "client_id: 1..64 characters of A-Z a-z 0-9 _ . -");
    }
    client_id = id->get<std::string>();
  }
  const auto text = doc->find("text");
  if (text == doc->end()) {
    const auto history = doc->find("history");
    if (history != doc->end() && history->is_boolean() && history->get<bool>()) {
      return ChatHistoryRequest{std::move(client_id)};
    }
    return refusal(Refusal::invalid_field, "invalid_request",
                   "text: a string is required (or history: true)", std::move(client_id));
  }
  if (!text->is_string()) {
    return refusal(Refusal::invalid_field, "invalid_request", "text: must be a string",
                   std::move(client_id));
  }
  const std::string_view trimmed = trim(text->get_ref<const std::string&>());
  if (trimmed.empty()) {
    return refusal(Refusal::invalid_field, "invalid_request", "text: must not be empty",
                   std::move(client_id));
  }
  if (character_count(trimmed) > kMaxChatCharacters) {
    return refusal(Refusal::too_long, "too_long", "text: at most " + limit + " characters",
                   std::move(client_id));
  }
  // The reader has checked UTF-8 already; this keeps the promise whatever reader is used.
  if (!valid_utf8(trimmed) || has_control(trimmed)) {
    return refusal(Refusal::invalid_field, "invalid_request",
                   "text: control characters (line breaks included) are not allowed",
                   std::move(client_id));
  }
  return ChatText{std::string(trimmed), std::move(client_id)};
}

json to_json(const ChatEvent& event) {
  json doc{{"event", event_name(event.type)},
           {"room", event.room},
           {"seq", event.seq},
           {"time", event.time_ms}};
  if (event.type == ChatEventType::message) doc["from"] = event.from;
  if (!event.box.empty()) doc["box"] = event.box;
  if (event.type == ChatEventType::message) doc["text"] = event.text;
  return doc;
}

std::string chat_event_text(const ChatEvent& event) {
  return dump(to_json(event));
}

std::string chat_history_text(std::string_view room, const std::deque<ChatEvent>& events) {
  json list = json::array();
  for (const ChatEvent& e : events) list.push_back(to_json(e));
  return dump(json{{"room", room}, {"events", std::move(list)}});
}

std::string chat_refusal_text(std::string_view user, std::string_view error_code,
                              std::string_view error, std::string_view client_id) {
  json doc{{"user", user}, {"error_code", error_code}, {"error", error}};
  if (!client_id.empty()) doc["client_id"] = client_id;
  return dump(doc);
}

}  // namespace jambox::message
