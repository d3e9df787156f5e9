#include "room_chat.hpp"

#include <jambox/log/log.hpp>
#include <jambox/message/text.hpp>

#include <algorithm>

namespace jambox::broadcast {

std::string_view chat_refusal_name(ChatRefusalCode code) noexcept {
  switch (code) {
    case ChatRefusalCode::not_in_room:
      return "not_in_room";
    case ChatRefusalCode::rate_limited:
      return "rate_limited";
    case ChatRefusalCode::too_long:
      return "too_long";
    case ChatRefusalCode::invalid_request:
      return "invalid_request";
    case ChatRefusalCode::kCount:
      break;
  }
  return "invalid_request";
}

RoomChat::RoomChat(std::string prefix, Hooks hooks)
    : prefix_(std::move(prefix)), hooks_(std::move(hooks)) {}

std::string RoomChat::player_topic(std::string_view box, std::string_view leaf) const {
  return prefix_ + "/player/" + std::string(box) + "/" + std::string(leaf);
}

message::ChatEvent RoomChat::next_event(std::string_view room, message::ChatEventType type) {
  auto it = rooms_.find(room);
  if (it == rooms_.end()) it = rooms_.emplace(std::string(room), Room{}).first;
  message::ChatEvent event;
  event.type = type;
  event.room = std::string(room);
  event.seq = ++it->second.seq;
  event.time_ms = hooks_.wall_ms ? hooks_.wall_ms() : 0;
  return event;
}

void RoomChat::record(const message::ChatEvent& event) {
  auto& history = rooms_[event.room].history;
  history.push_back(event);
  while (history.size() > kHistory) history.pop_front();
}

void RoomChat::publish_to(const std::vector<std::string>& members,
                          const message::ChatEvent& event) {
  const std::string text = message::chat_event_text(event);
  for (const std::string& member : members) {
    static_cast<void>(hooks_.publish(player_topic(member, "room/chat"), text));
  }
}

bool RoomChat::admit(const std::string& sender, Clock::time_point now) {
  auto it = windows_.find(sender);
  if (it == windows_.end()) {
    if (windows_.size() >= kMaxSenders) forget_idle(now);
    // Still full of senders who all wrote within the window: a newcomer waits its turn.
    if (windows_.size() >= kMaxSenders) return false;
    it = windows_.emplace(sender, std::deque<Clock::time_point>{}).first;
  }
  auto& times = it->second;
  while (!times.empty() && now - times.front() >= kWindow) times.pop_front();
  if (times.size() >= kWindowMessages) return false;
  times.push_back(now);
  return true;
}

void RoomChat::forget_idle(Clock::time_point now) {
  std::erase_if(windows_, [&](const auto& entry) {
    return entry.second.empty() || now - entry.second.back() >= kWindow;
  });
  refusals_.forget_idle(now);
}

void RoomChat::refuse(std::string_view box, std::string_view user, ChatRefusalCode code,
                      std::string_view error, std::string_view client_id, Clock::time_point now) {
  ++counters_.refused[static_cast<std::size_t>(code)];
  const std::string sender = std::string(user) + "@" + std::string(box);
  // A flood of refused messages must not become a flood of answers.
  if (!refusals_.admit(sender, now)) {
    ++counters_.refusals_unsent;
    return;
  }
  static_cast<void>(
      hooks_.publish(player_topic(box, "room/chat/refused"),
                     message::chat_refusal_text(user, chat_refusal_name(code), error, client_id)));
}

void RoomChat::from_musician(std::string_view box, std::string_view user, std::string_view payload,
                             std::string_view room, const std::vector<std::string>& members,
                             Clock::time_point now) {
  if (!admit(std::string(user) + "@" + std::string(box), now)) {
    refuse(box, user, ChatRefusalCode::rate_limited,
           "at most " + std::to_string(kWindowMessages) + " messages in " +
               std::to_string(kWindow.count()) + " s",
           {}, now);
    return;
  }
  message::Chat chat = message::parse_chat(payload);
  if (const auto* refused = std::get_if<message::ChatRefusal>(&chat)) {
    refuse(box, user,
           refused->error_code == "too_long" ? ChatRefusalCode::too_long
                                             : ChatRefusalCode::invalid_request,
           refused->error, refused->client_id, now);
    return;
  }
  const std::string& client_id = std::holds_alternative<message::ChatText>(chat)
                                     ? std::get<message::ChatText>(chat).client_id
                                     : std::get<message::ChatHistoryRequest>(chat).client_id;
  // The admin's messages say "from": "admin"; no musician may look like one.
  if (user == "admin") {
    refuse(box, user, ChatRefusalCode::invalid_request,
           "user: the name admin is kept for the admin's messages", client_id, now);
    return;
  }
  if (room.empty()) {
    refuse(box, user, ChatRefusalCode::not_in_room,
           "box " + message::clip(box, 128) + " is in no room of this server", client_id, now);
    return;
  }
  if (std::holds_alternative<message::ChatHistoryRequest>(chat)) {
    send_history(room, box);
    return;
  }
  message::ChatEvent event = next_event(room, message::ChatEventType::message);
  event.from = std::string(user);
  event.box = std::string(box);
  event.text = std::move(std::get<message::ChatText>(chat).text);
  record(event);
  publish_to(members, event);
  ++counters_.accepted;
}

void RoomChat::from_admin(std::string_view room, std::string_view payload,
                          const std::vector<std::string>& members, Clock::time_point now) {
  if (!admit("admin@" + std::string(room), now)) {
    ++counters_.refused[static_cast<std::size_t>(ChatRefusalCode::rate_limited)];
    return;
  }
  message::Chat chat = message::parse_chat(payload);
  auto* text = std::get_if<message::ChatText>(&chat);
  if (text == nullptr || members.empty()) {
    // Nobody to answer (the admin's tool does not wait for one): counted and logged.
    ++counters_.dropped;
    log::info("chat: a message of the admin to room {} was dropped ({})", message::clip(room, 64),
              text == nullptr ? "not a chat message" : "nobody is in the room");
    return;
  }
  message::ChatEvent event = next_event(room, message::ChatEventType::message);
  event.from = "admin";
  event.text = std::move(text->text);
  record(event);
  publish_to(members, event);
  ++counters_.admin_accepted;
}

void RoomChat::joined(std::string_view room, std::string_view box,
                      const std::vector<std::string>& members) {
  message::ChatEvent event = next_event(room, message::ChatEventType::join);
  event.box = std::string(box);
  record(event);
  publish_to(members, event);
  ++counters_.events;
  send_history(room, box);
}

void RoomChat::send_history(std::string_view room, std::string_view box) {
  static const std::deque<message::ChatEvent> kNone;
  const auto* events = history(room);
  static_cast<void>(hooks_.publish(player_topic(box, "room/chat/history"),
                                   message::chat_history_text(room, events ? *events : kNone)));
  ++counters_.history_served;
}

void RoomChat::left(std::string_view room, std::string_view box,
                    const std::vector<std::string>& members) {
  message::ChatEvent event = next_event(room, message::ChatEventType::leave);
  event.box = std::string(box);
  record(event);
  publish_to(members, event);
  ++counters_.events;
}

void RoomChat::forget(std::string_view room) {
  if (const auto it = rooms_.find(room); it != rooms_.end()) rooms_.erase(it);
}

void RoomChat::forget_gone(const std::function<bool(std::string_view room)>& exists) {
  std::erase_if(rooms_, [&](const auto& entry) { return !exists(entry.first); });
}

const std::deque<message::ChatEvent>* RoomChat::history(std::string_view room) const {
  const auto it = rooms_.find(room);
  return it == rooms_.end() ? nullptr : &it->second.history;
}

nlohmann::json RoomChat::figures() const {
  nlohmann::json refused = nlohmann::json::object();
  for (std::size_t i = 0; i < counters_.refused.size(); ++i) {
    refused[std::string(chat_refusal_name(static_cast<ChatRefusalCode>(i)))] = counters_.refused[i];
  }
  return {{"accepted", counters_.accepted},      {"admin", counters_.admin_accepted},
          {"history", counters_.history_served}, {"events", counters_.events},
          {"refused", std::move(refused)},       {"refusals_unsent", counters_.refusals_unsent},
          {"dropped", counters_.dropped},        {"rooms", rooms_.size()}};
}

}  // namespace jambox::broadcast
