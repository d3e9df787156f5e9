#pragma once
// Room chat on the room server (docs/control-plane.md, "Room chat"). A musician writes on
// {p}/player/{box}/chat/from/{user} (the broker lets a user write only under its own name and
// only for the boxes it was granted); the admin's tool writes on {p}/room/{room}/chat. The
// message belongs to the room the box is a member of (the relay knows: room_relay.hpp). Every
// message is read with message::parse_chat; what goes out is the server's own record of it, a
// message::ChatEvent, published to every member box's room/chat topic and kept, the last
// kHistory per room, for room/chat/history. Refusals go to the sender's box's room/chat/refused.
//
// Every sender is hostile: each (user, box) may send kWindowMessages per kWindow (more are
// refused as rate_limited), refusals themselves are answered at most kRefusalBurst and then
// one every 2 s per sender, and the tables of senders are bounded.

#include <jambox/message/chat.hpp>
#include <jambox/message/rate.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace jambox::broadcast {

enum class ChatRefusalCode : std::uint8_t {
  not_in_room,
  rate_limited,
  too_long,
  invalid_request,
  kCount
};
[[nodiscard]] std::string_view chat_refusal_name(ChatRefusalCode code) noexcept;

struct ChatCounters {
  std::uint64_t accepted = 0;        // musicians' messages published to their room
  std::uint64_t admin_accepted = 0;  // the admin's
  std::uint64_t history_served = 0;  // answers to {"history": true} and on admission
  std::array<std::uint64_t, static_cast<std::size_t>(ChatRefusalCode::kCount)> refused{};
  std::uint64_t refusals_unsent = 0;  // refusals not answered (the sender's answers ran out)
  std::uint64_t dropped = 0;  // unanswerable: retained, a malformed topic, admin chat to no one
  std::uint64_t events = 0;   // join and leave events published
};

class RoomChat {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kHistory = 50;
  static constexpr std::size_t kWindowMessages = 10;
  static constexpr std::chrono::seconds kWindow{10};
  static constexpr double kRefusalBurst = 5.0;
  static constexpr double kRefusalsPerSecond = 0.5;
  static constexpr std::size_t kMaxSenders = 4096;

  struct Hooks {
    // QoS 1, not retained; false when not sent.
    std::function<bool(const std::string& topic, std::string_view payload)> publish;
    std::function<std::int64_t()> wall_ms;  // Unix milliseconds
  };

  RoomChat(std::string prefix, Hooks hooks);

  // A musician `user` writing for box `box`, which is a member of `room` ("" when of none), whose
  // members are `members` (box included). Already checked: `box` and `user` are topic levels.
  void from_musician(std::string_view box, std::string_view user, std::string_view payload,
                     std::string_view room, const std::vector<std::string>& members,
                     Clock::time_point now);
  // The admin's tool writing to `room`, whose member boxes are `members`.
  void from_admin(std::string_view room, std::string_view payload,
                  const std::vector<std::string>& members, Clock::time_point now);
  // Box `box` became a member of `room` (`members`, box included): a join event to all of them,
  // then the room's history to the box.
  void joined(std::string_view room, std::string_view box, const std::vector<std::string>& members);
  // The history again, to `box` alone (admitted again to the room it is in).
  void send_history(std::string_view room, std::string_view box);
  // Box `box` is no longer a member of `room`: a leave event to those still in it.
  void left(std::string_view room, std::string_view box, const std::vector<std::string>& members);
  // The room ended (removed from the server): its history and sequence go with it.
  void forget(std::string_view room);
  // forget() every room for which `exists` says false.
  void forget_gone(const std::function<bool(std::string_view room)>& exists);
  void forget_idle(Clock::time_point now);
  // A refusal that could not be answered with its code for want of a readable topic.
  void count_dropped() { ++counters_.dropped; }

  [[nodiscard]] const ChatCounters& counters() const noexcept { return counters_; }
  [[nodiscard]] std::size_t rooms() const noexcept { return rooms_.size(); }
  [[nodiscard]] const std::deque<message::ChatEvent>* history(std::string_view room) const;
  [[nodiscard]] nlohmann::json figures() const;

 private:
  struct Room {
    std::uint64_t seq = 0;
    std::deque<message::ChatEvent> history;
  };
  message::ChatEvent next_event(std::string_view room, message::ChatEventType type);
  void record(const message::ChatEvent& event);
  void publish_to(const std::vector<std::string>& members, const message::ChatEvent& event);
  bool admit(const std::string& sender, Clock::time_point now);
  void refuse(std::string_view box, std::string_view user, ChatRefusalCode code,
              std::string_view error, std::string_view client_id, Clock::time_point now);
  [[nodiscard]] std::string player_topic(std::string_view box, std::string_view leaf) const;

  std::string prefix_;
  Hooks hooks_;
  std::map<std::string, Room, std::less<>> rooms_;
  // The times of each sender's latest messages (at most kWindowMessages each).
  std::map<std::string, std::deque<Clock::time_point>, std::less<>> windows_;
  message::KeyedRate refusals_{kRefusalBurst, kRefusalsPerSecond, kMaxSenders};
  ChatCounters counters_;
};

}  // namespace jambox::broadcast
