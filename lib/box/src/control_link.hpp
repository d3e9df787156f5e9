#pragma once
// jamboxd's managed mode: the MQTT session (lib/control) plus what the box does with it —
// commands executed through hooks into the Box, acks, status every status_interval and on
// change, meters at the requested interval, capabilities and state (retained), Last Will.

#include <jambox/audio/commands.hpp>
#include <jambox/box/config.hpp>
#include <jambox/control/session.hpp>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>

namespace jambox::box {

// What commands reach in the box. Every hook runs on the loop thread.
struct ControlHooks {
  std::function<bool(const audio::Command&)> post;  // to the engine; false: ring full
  std::function<nlohmann::json()> status;           // the box part of the status document
  std::function<nlohmann::json()> meters;           // levels for the meters topic
  std::function<bool(std::uint32_t session_id)> has_remote;
  std::function<void(const RoomConfig& room)> join_room;
  std::function<bool()> leave_room;  // false: not in a room
  std::function<bool()>
      needs_ticket;  // in a room by ticket, out of it, the ticket (nearly) expired
  std::function<void()> restart_audio;
  std::function<float()> metronome_gain_db;                     // the configured click level
  std::function<void(const std::string& state)> state_changed;  // for STATUS= and the journal
};

class ControlLink {
 public:
  ControlLink(boost::asio::io_context& io, const ControlConfig& config, ControlHooks hooks);
  ~ControlLink();
  ControlLink(const ControlLink&) = delete;
  ControlLink& operator=(const ControlLink&) = delete;

  void start();
  // Publishes an explicit offline status (a clean disconnect does not fire the Will), then
  // disconnects. Loop thread, at shutdown.
  void stop();
  // Something in the status changed (room joined or left, JACK up or down): publish it now.
  void status_changed();
  // The box is now in `room` ("" = none), however it got there (command, config file, reload):
  // queues the view events (leave, join) and moves the presence subscription and heartbeat.
  void room_changed(const std::string& room);

  [[nodiscard]] control::LinkState state() const noexcept;
  [[nodiscard]] std::string summary() const;  // "connected" / "reconnecting (retry in 4 s)"

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace jambox::box
