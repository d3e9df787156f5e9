#pragma once
// The MQTT topic tree of one box (docs/control-plane.md):
//   {prefix}/player/{key}/command            admin -> box (QoS 1)
//   {prefix}/player/{key}/command/from/{user} a musician's web page -> box (the broker's ACL
//                                            lets a user publish only under its own name)
//   {prefix}/player/{key}/command/ack        box -> admin
//   {prefix}/player/{key}/request/{id}       box -> server; answered on .../response/{id}
//   {prefix}/player/{key}/status | view | meters | capabilities | state
//   {prefix}/player/{key}/view/ack           server -> box
//   {prefix}/player/{key}/room/out/{kind}    box -> room server: its presence, its transport
//                                            (tempo, metronome, playing, queue) when it hosts
//   {prefix}/player/{key}/room/in/{kind}/{member}  room server -> box: another member's
//   {prefix}/player/{key}/chat/from/{user}   a musician's chat -> room server
//   {prefix}/player/{key}/room/chat[/history|/refused]  room server -> the box's musicians
//   {prefix}/room/{room}/chat                the admin's chat -> room server
// A box reads and writes only its own topics: the room server relays between members.

#include <string>
#include <string_view>

namespace jambox::control {

// True when `level` can be one topic level: non-empty, at most 128 bytes, none of / + # and no
// control characters. Player keys, prefixes and room names must be.
[[nodiscard]] bool valid_topic_level(std::string_view level) noexcept;

// The room server's filters over every box (the relay): what members say, musicians' chat, and
// the admin's chat to a room.
[[nodiscard]] std::string room_out_filter(std::string_view prefix);    // {p}/player/+/room/out/+
[[nodiscard]] std::string chat_from_filter(std::string_view prefix);   // {p}/player/+/chat/from/+
[[nodiscard]] std::string admin_chat_filter(std::string_view prefix);  // {p}/room/+/chat
// {p}/room/{room}/chat: where the admin's tool publishes a chat message to `room`.
[[nodiscard]] std::string admin_chat(std::string_view prefix, std::string_view room);

class Topics {
 public:
  // Both must be valid_topic_level (throws std::invalid_argument otherwise).
  Topics(std::string prefix, std::string player_key);

  [[nodiscard]] const std::string& player_key() const noexcept { return key_; }
  [[nodiscard]] std::string command() const { return base_ + "/command"; }
  [[nodiscard]] std::string command_ack() const { return base_ + "/command/ack"; }
  // Musicians' commands: the filter, and the prefix before the sender's user name.
  [[nodiscard]] std::string commands_from() const { return base_ + "/command/from/+"; }
  [[nodiscard]] std::string command_from_prefix() const { return base_ + "/command/from/"; }
  [[nodiscard]] std::string request(std::string_view id) const;
  [[nodiscard]] std::string responses() const { return base_ + "/response/+"; }
  [[nodiscard]] std::string response_prefix() const { return base_ + "/response/"; }
  [[nodiscard]] std::string status() const { return base_ + "/status"; }
  [[nodiscard]] std::string view() const { return base_ + "/view"; }
  [[nodiscard]] std::string view_ack() const { return base_ + "/view/ack"; }
  [[nodiscard]] std::string meters() const { return base_ + "/meters"; }
  [[nodiscard]] std::string capabilities() const { return base_ + "/capabilities"; }
  [[nodiscard]] std::string state() const { return base_ + "/state"; }
  // What the box says to its room (through the room server): presence, and the transport
  // (tempo, metronome, playing, queue) while it hosts it.
  [[nodiscard]] std::string room_out_presence() const { return base_ + "/room/out/presence"; }
  [[nodiscard]] std::string room_out_transport() const { return base_ + "/room/out/transport"; }
  // What the other members said, relayed: the filter, and the prefix before "{kind}/{member}".
  [[nodiscard]] std::string room_in_all() const { return base_ + "/room/in/+/+"; }
  [[nodiscard]] std::string room_in_prefix() const { return base_ + "/room/in/"; }
  // The room's chat as the room server publishes it to this box's musicians.
  [[nodiscard]] std::string room_chat() const { return base_ + "/room/chat"; }
  [[nodiscard]] std::string room_chat_history() const { return base_ + "/room/chat/history"; }
  [[nodiscard]] std::string room_chat_refused() const { return base_ + "/room/chat/refused"; }
  // A musician's chat: the prefix before the user name.
  [[nodiscard]] std::string chat_from_prefix() const { return base_ + "/chat/from/"; }

 private:
  std::string prefix_;
  std::string key_;
  std::string base_;
};

}  // namespace jambox::control
