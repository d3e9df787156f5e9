#pragma once
// jamboxd's configuration file (/etc/jambox/jamboxd.conf, TOML). Every key, its default and its
// range are documented in config/jamboxd.conf.

#include <jambox/audio/config.hpp>
#include <jambox/control/identity.hpp>
#include <jambox/jack/client.hpp>
#include <jambox/log/log.hpp>
#include <jambox/wire/session.hpp>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jambox::box {

inline constexpr std::string_view kProgram = "jamboxd";
inline constexpr std::string_view kDefaultConfigFile = "/etc/jambox/jamboxd.conf";

struct MixConfig {
  bool monitor = true;  // hear the own inputs directly (zero added latency)
  float monitor_gain_db = 0.0F;
  float master_gain_db = 0.0F;
  bool metronome = false;
  float metronome_bpm = 120.0F;
  float metronome_gain_db = -12.0F;
  friend bool operator==(const MixConfig&, const MixConfig&) = default;
};

struct RoomConfig {
  std::string server;  // "host:port"
  std::string name;
  std::string secret;   // from `secret` or the file named by `secret_file`; or a ticket's secret
  wire::Ticket ticket;  // admitted by ticket (managed mode) when expires_s != 0
  // The room's audio key, issued with a ticket; standalone rooms derive it from the secret.
  std::optional<crypto::Key> audio_key;
  friend bool operator==(const RoomConfig&, const RoomConfig&) = default;
};

// [mqtt]: the managed mode. Off, the box is standalone (its [room] from this file).
struct ControlConfig {
  bool enabled = false;
  std::string broker;      // ssl://host:8883 (port defaulted), wss://..., tcp://... (lab only)
  std::string player_key;  // client id, user name, certificate CN
  std::string prefix = "jambox";
  control::TlsFiles tls{"/etc/jambox/pki/ca.crt", "/etc/jambox/pki/player.crt",
                        "/etc/jambox/pki/player.key"};
  std::chrono::seconds status_interval{30};
  std::uint32_t commands_per_minute = 300;  // more are answered rate_limited
  // Checked while loading (exit 78 when unusable): what the certificate says.
  control::Identity identity;
  friend bool operator==(const ControlConfig& a, const ControlConfig& b) {
    return a.enabled == b.enabled && a.broker == b.broker && a.player_key == b.player_key &&
           a.prefix == b.prefix && a.tls.ca == b.tls.ca && a.tls.cert == b.tls.cert &&
           a.tls.key == b.tls.key && a.status_interval == b.status_interval &&
           a.commands_per_minute == b.commands_per_minute;
  }
};

// [effects]: the pedalboard (docs/pedalboard.md).
struct EffectsConfig {
  // What the network may load: exact plugin URIs, URI prefixes ending in '*', or bundle folders
  // (absolute paths, also with a trailing '*'); "*" alone allows every installed plugin. The
  // default is the plugins of the packages jamboxd recommends.
  std::vector<std::string> allow = default_allow();
  std::filesystem::path boards_dir = "/var/lib/jambox/boards";  // board.json and presets/
  std::string lv2_path;  // "" for $LV2_PATH or lilv's default search path
  [[nodiscard]] bool allows(std::string_view uri, std::string_view bundle) const;
  [[nodiscard]] static std::vector<std::string> default_allow();
  friend bool operator==(const EffectsConfig&, const EffectsConfig&) = default;
};

struct BoxConfig {
  jack::ClientConfig jack;
  audio::EngineConfig engine;
  MixConfig mix;
  RoomConfig room;  // empty server and name: no room at start (managed mode)
  // Managed mode, [room] with a name and neither server nor secret: the room asked for by ticket
  // at start (and again when a reload changes it); "" when the box waits for join_room.
  std::string ticket_room;
  ControlConfig control;
  EffectsConfig effects;  // engine.insert_budget and insert_overrun_periods come from here too
  // [room] encrypt_audio: the audio this box sends is encrypted with the room's audio key.
  bool encrypt_audio = true;
  log::Level log_level = log::Level::info;
  std::chrono::seconds status_interval{60};  // periodic journal line
  std::vector<std::string> warnings;         // unknown keys, loose secret file permissions
};

// Reads and validates `file` with "section.key=value" overrides applied first. Throws
// config::ConfigError ("<file>:<line>: <key>: <problem>").
[[nodiscard]] BoxConfig load_config_file(const std::filesystem::path& file,
                                         const std::vector<std::string>& overrides = {});
// Same from text; `source_name` names it in messages; a relative secret_file is taken as is.
[[nodiscard]] BoxConfig parse_config(std::string_view text, std::string source_name,
                                     const std::vector<std::string>& overrides = {});

}  // namespace jambox::box
