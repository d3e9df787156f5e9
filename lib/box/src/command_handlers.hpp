#pragma once
// The box's commands (docs/control-plane.md), as free functions over the box's model and its
// MQTT adapters. The processor (lib/control) has already parsed and limited the envelope; each
// handler reads its payload with the field helpers, whose errors name the field, and changes the
// box only after every field was accepted.

#include "admission_client.hpp"
#include "model.hpp"
#include "room_channel.hpp"
#include <jambox/control/commands.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>

namespace jambox::box {

// The sender name of the admin tool's commands (the `command` topic); musicians' commands carry
// their user names (`command/from/{user}`).
inline constexpr const char* kAdminSender = "jamboxctl";

struct CommandContext {
  BoxModel& model;
  RoomChannel& room;
  AdmissionClient& admission;
  // Starts (or renews) the meters at `interval`; returns the result of set_meter_interval.
  std::function<nlohmann::json(std::chrono::milliseconds interval)> meters;
  std::function<nlohmann::json()> status;  // the whole status document (get_status)
  // Who sent the command being handled: "jamboxctl" (the admin) or a musician's user name.
  std::function<const std::string&()> sender;
};

void register_commands(control::CommandProcessor& commands, CommandContext& context);

}  // namespace jambox::box
