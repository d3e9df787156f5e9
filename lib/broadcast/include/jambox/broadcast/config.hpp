#pragma once
// jambox-broadcast configuration (docs/broadcast-server.md): reading, validation, defaults.

#include <jambox/config/config.hpp>
#include <jambox/control/identity.hpp>
#include <jambox/log/log.hpp>
#include <jambox/net/endpoint.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace jambox::broadcast {

inline constexpr std::string_view kProgram = "jambox-broadcast";
inline constexpr std::string_view kDefaultConfigFile = "/etc/jambox/jambox-broadcast.conf";
inline constexpr std::uint32_t kMaxWorkers = 16;
inline constexpr std::size_t kMaxSecretLength = 256;
// Secrets starting with this are the shipped example: accepted, but warned about.
inline constexpr std::string_view kPlaceholderSecretPrefix = "REPLACE-ME";

struct RoomConfig {
  std::string name;
  std::string secret;             // never logged or printed
  std::uint32_t max_members = 0;  // resolved: the room's own value or server.max_members
  std::string origin;             // "file:line" of the room's table, for log messages
};

// [mqtt]: managed rooms. jambox-broadcast keeps an mTLS MQTT 5 session under its own service
// identity and answers boxes' join_room requests with a ticket for the room
// (docs/control-plane.md, "Room admission").
struct AdmissionConfig {
  bool enabled = false;
  std::string broker;                         // normalised: ssl://host:8883, wss://..., tcp://...
  std::string identity = "jambox-broadcast";  // client id, user name, certificate CN
  std::string prefix = "jambox";
  control::TlsFiles tls{"/etc/jambox/pki/ca.crt", "/etc/jambox/pki/jambox-broadcast.crt",
                        "/etc/jambox/pki/jambox-broadcast.key"};
  std::string
      public_endpoint;  // "host[:port]" the boxes send their audio to (no port: the bound one)
  std::uint32_t ticket_lifetime_s = 60;
};

// [rooms]: rooms by code (docs/broadcast-server.md, "Rooms by code"). With on_demand, a box's
// create_room request makes a room named by a random code, with a secret the server makes and
// never sends anywhere; the room lives until nobody was in it for idle_expiry_s.
struct RoomsConfig {
  bool on_demand = false;
  std::uint32_t max_on_demand = 16;   // rooms made on demand at a time (and within max_rooms)
  std::uint32_t max_members = 8;      // members of each room made on demand
  std::uint32_t idle_expiry_s = 300;  // an empty room made on demand is removed after this
};

struct ServerConfig {
  std::string source;  // the configuration file (or the name given to config::Document::parse)

  // [server]
  std::string listen_text = "[::]:7930";
  net::Endpoint listen;
  std::uint32_t workers = 0;  // 0: one per CPU core (at most kMaxWorkers), resolved at start
  std::uint32_t member_timeout_ms = 1000;
  std::uint32_t max_rooms = 16;
  std::uint32_t max_members = 16;
  std::uint32_t socket_buffer_kb = 4096;
  // SCHED_FIFO priority of the worker threads; 0 = normal scheduling. Real-time workers forward
  // a packet as soon as it arrives even when other processes keep every core busy.
  std::uint32_t realtime_priority = 10;

  // [stats]
  std::string stats_file = "/run/jambox-broadcast/stats.json";  // empty: no stats file
  std::uint32_t stats_interval_ms = 1000;
  std::uint32_t log_interval_s = 60;  // 0: no periodic journal line

  // [logging]
  log::Level log_level = log::Level::info;

  AdmissionConfig mqtt;
  RoomsConfig on_demand;

  // [[room]], in file order
  std::vector<RoomConfig> rooms;
};

// Reads and validates every key of `document`. Throws config::ConfigError naming file, line,
// key and what is allowed. Advisory findings (placeholder secret, secret readable by every user)
// are appended to `warnings` when given; unknown keys are the caller's (Document::unknown_keys).
[[nodiscard]] ServerConfig load_config(const config::Document& document,
                                       std::vector<std::string>* warnings = nullptr);

struct LoadedConfig {
  ServerConfig config;
  std::vector<std::string> warnings;  // unknown keys with suggestions, then load_config's
};

// Document::load(file), each `overrides` entry through set_override ("section.key=value"),
// load_config, and the unknown-key warnings. Throws config::ConfigError.
[[nodiscard]] LoadedConfig load_config_file(const std::filesystem::path& file,
                                            const std::vector<std::string>& overrides);

}  // namespace jambox::broadcast
