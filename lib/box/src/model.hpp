#pragma once
// The box's state, with one owner: the room it is in (and how it got there), the room link, the
// audio engine and its JACK client, the mixer settings and the figures every report is made of.
// Everything that changes the box goes through here (the config file at start and on reload,
// commands from MQTT, the room server's tickets), and every change is announced to the
// listeners (the control link, the systemd status line). Loop thread only.

#include "pedalboard.hpp"
#include "tuner_reader.hpp"
#include <jambox/audio/engine.hpp>
#include <jambox/audio/meter_window.hpp>
#include <jambox/box/config.hpp>
#include <jambox/box/jam_link.hpp>
#include <jambox/jack/supervisor.hpp>

#include <boost/asio/io_context.hpp>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace jambox::box {

enum class Change : std::uint8_t {
  room,   // joined, left or moved (room() tells where)
  audio,  // the JACK client connected or went away
  link,   // something else a status reader cares about
};

struct RemoteFigures {
  std::uint32_t session_id = 0;
  float gain_db = 0.0F;
  float pan = 0.0F;
  bool muted = false;
  audio::JitterStats jitter;
};

// The mixer settings last handed to the engine, by the configuration or a command: the box's
// own values, which a controller (the web mixer) shows and returns to when a change is refused.
struct MixSettings {
  float master_gain_db = 0.0F;
  bool monitor = true;
  float monitor_gain_db = 0.0F;
  bool metronome = false;
  float metronome_bpm = 120.0F;
  float metronome_gain_db = -12.0F;
  std::array<bool, 2> muted_to_room{};
  std::array<bool, 2> tuner{};  // per input: the tuner is on
  float jitter_floor_ms = 1.0F;
  float jitter_ceiling_ms = 40.0F;
  bool jitter_adaptive = true;
  // Records what `command` sets (remote and room commands set nothing here).
  void record(const audio::Command& command);
};

// One consistent reading of everything a status report shows; sizes bounded by the engine.
struct Figures {
  MixSettings mix;
  bool in_room = false;
  std::string room;
  std::string server;
  LinkStats link;
  jack::SupervisorStatus jack;
  std::vector<RemoteFigures> remotes;  // active remotes, at most audio::kMaxRemotes
  std::uint32_t engine_us_p999 = 0;
  nlohmann::json board;  // Pedalboard::status
  [[nodiscard]] std::size_t members() const noexcept {
    return link.state == LinkState::joined ? 1 + remotes.size() : 0;
  }
};

class BoxModel {
 public:
  using Listener = std::function<void(Change)>;

  // Builds the engine, the room link and the JACK supervisor; starts nothing.
  BoxModel(boost::asio::io_context& io, BoxConfig config);
  ~BoxModel();
  BoxModel(const BoxModel&) = delete;
  BoxModel& operator=(const BoxModel&) = delete;

  void start();  // joins the configured room (if any) and starts the JACK client
  void stop();   // leaves the room and closes the JACK client

  // --- the room ---------------------------------------------------------------------------
  // Moves to `room` (leaving the current one). Throws std::invalid_argument naming the problem
  // when the room cannot be joined as given (a malformed server address): nothing changes then.
  void join(const RoomConfig& room);
  // Leaves the room; false when the box is in none.
  bool leave();
  [[nodiscard]] bool in_room() const noexcept { return !config_.room.server.empty(); }
  [[nodiscard]] const RoomConfig& room() const noexcept { return config_.room; }
  // In a room by a ticket that ran out while the box was not admitted: it needs a new one.
  [[nodiscard]] bool needs_ticket() const;

  // --- settings ---------------------------------------------------------------------------
  // Mixer and engine settings; false when the engine's command ring is full.
  [[nodiscard]] bool post(const audio::Command& command);
  // Switches the tuner of input 0 or 1 (the engine's copy of it and its reader); false when the
  // engine's command ring is full.
  [[nodiscard]] bool set_tuner(std::uint32_t input, bool on);
  [[nodiscard]] bool has_remote(std::uint32_t session_id) const;
  [[nodiscard]] Pedalboard& pedalboard() noexcept { return pedalboard_; }
  [[nodiscard]] float metronome_gain_db() const noexcept { return config_.mix.metronome_gain_db; }
  void restart_audio();
  // A reloaded configuration: mix, jitter, room and encryption as the file says (JACK client
  // settings, packet size and priorities keep their running values and are reported). Throws
  // std::invalid_argument before changing anything when the new room cannot be joined.
  void apply(BoxConfig next);
  [[nodiscard]] const BoxConfig& config() const noexcept { return config_; }

  // --- figures ----------------------------------------------------------------------------
  [[nodiscard]] Figures gather() const;
  // Levels since the previous call (one reader: the meters publisher).
  [[nodiscard]] audio::MeterWindow take_meters() noexcept;
  // The tuners that are on, read now (the meters publisher's thread); empty when none is.
  [[nodiscard]] std::vector<TunerReading> read_tuners();
  [[nodiscard]] std::string local_endpoint() const { return link_.local_endpoint(); }
  [[nodiscard]] jack::State jack_state() const noexcept;

  // --- change events ----------------------------------------------------------------------
  void on_change(Listener listener);
  // For the JACK client's connect log line and readiness.
  void on_audio(std::function<void(const jack::ConnectionInfo*)> listener);

 private:
  class Processor;
  void notify(Change change);
  void apply_mix(const BoxConfig& next, const BoxConfig* previous);

  boost::asio::io_context& io_;
  BoxConfig config_;
  audio::Engine engine_;
  JamLink link_;
  std::unique_ptr<Processor> processor_;
  std::unique_ptr<jack::Supervisor> supervisor_;
  std::vector<Listener> listeners_;
  std::vector<std::function<void(const jack::ConnectionInfo*)>> audio_listeners_;
  MixSettings mix_;
  TunerReader tuners_;
  Pedalboard pedalboard_;  // after engine_: its chains hold plugins the engine may still run
};

// The room link's settings for a box configuration.
[[nodiscard]] JamLinkConfig link_config(const BoxConfig& config);

}  // namespace jambox::box
