#pragma once
// The MQTT topic tree of one box (docs/control-plane.md):
//   {prefix}/player/{key}/command            admin -> box (QoS 1)
//   {prefix}/player/{key}/command/ack        box -> admin
//   {prefix}/player/{key}/request/{id}       box -> server; answered on .../response/{id}
//   {prefix}/player/{key}/status | view | meters | capabilities | state
//   {prefix}/player/{key}/view/ack           server -> box
//   {prefix}/room/{room}/presence/{key}      every member of a room
//   {prefix}/room/{room}/transport/{key}     the room's host: tempo, metronome, playing, queue

#include <string>
#include <string_view>

namespace jambox::control {

// True when `level` can be one topic level: non-empty, at most 128 bytes, none of / + # and no
// control characters. Player keys, prefixes and room names must be.
[[nodiscard]] bool valid_topic_level(std::string_view level) noexcept;

class Topics {
 public:
  // Both must be valid_topic_level (throws std::invalid_argument otherwise).
  Topics(std::string prefix, std::string player_key);

  [[nodiscard]] const std::string& player_key() const noexcept { return key_; }
  [[nodiscard]] std::string command() const { return base_ + "/command"; }
  [[nodiscard]] std::string command_ack() const { return base_ + "/command/ack"; }
  [[nodiscard]] std::string request(std::string_view id) const;
  [[nodiscard]] std::string responses() const { return base_ + "/response/+"; }
  [[nodiscard]] std::string response_prefix() const { return base_ + "/response/"; }
  [[nodiscard]] std::string status() const { return base_ + "/status"; }
  [[nodiscard]] std::string view() const { return base_ + "/view"; }
  [[nodiscard]] std::string view_ack() const { return base_ + "/view/ack"; }
  [[nodiscard]] std::string meters() const { return base_ + "/meters"; }
  [[nodiscard]] std::string capabilities() const { return base_ + "/capabilities"; }
  [[nodiscard]] std::string state() const { return base_ + "/state"; }
  [[nodiscard]] std::string room_presence(std::string_view room) const;
  [[nodiscard]] std::string room_presence_all(std::string_view room) const;
  // The room's transport (tempo, metronome, playing, queue), published by its host.
  [[nodiscard]] std::string room_transport(std::string_view room) const;
  [[nodiscard]] std::string room_transport_all(std::string_view room) const;

 private:
  std::string prefix_;
  std::string key_;
  std::string base_;
};

}  // namespace jambox::control
