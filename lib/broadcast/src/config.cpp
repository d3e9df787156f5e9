#include <jambox/broadcast/config.hpp>
#include <jambox/control/identity.hpp>
#include <jambox/control/topics.hpp>
#include <jambox/net/host_port.hpp>
#include <jambox/wire/session.hpp>

#include <fmt/format.h>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <system_error>

namespace jambox::broadcast {
namespace {

constexpr std::string_view kSecretHint = "generate one with: openssl rand -base64 24";
constexpr std::size_t kMaxSecretFileBytes = 4096;

std::uint32_t get_u32(const config::Section& section, std::string_view key, std::int64_t fallback,
                      std::int64_t min, std::int64_t max) {
  return static_cast<std::uint32_t>(section.get_int(key, fallback, min, max));
}

bool readable_by_others(const std::filesystem::path& file) {
  struct stat st {};
  return ::stat(file.c_str(), &st) == 0 && (st.st_mode & S_IROTH) != 0;
}

std::filesystem::path resolve_secret_path(const config::Document& document,
                                          const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_absolute()) return p;
  // Relative secret files live next to the configuration file.
  const std::filesystem::path base = std::filesystem::path(document.source_name()).parent_path();
  return base.empty() ? p : base / p;
}

std::string read_secret_file(const config::Section& room, const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    const int error = errno;
    room.fail("secret_file", fmt::format("cannot read '{}': {}", file.string(),
                                         error != 0 ? std::strerror(error) : "open failed"));
  }
  std::string text;
  text.resize(kMaxSecretFileBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) {
    room.fail("secret_file", fmt::format("cannot read '{}': read error", file.string()));
  }
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxSecretFileBytes) {
    room.fail("secret_file", fmt::format("'{}' is larger than {} bytes; it should hold one line",
                                         file.string(), kMaxSecretFileBytes));
  }
  // One line as written by `openssl rand -base64 24 > file`: trailing whitespace is not secret.
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ' ||
                           text.back() == '\t')) {
    text.pop_back();
  }
  return text;
}

void check_secret(const config::Section& room, std::string_view key, const std::string& secret,
                  std::string_view where) {
  if (secret.size() < wire::kMinSecretLength) {
    room.fail(key, fmt::format("{}must be at least {} characters (got {}); {}", where,
                               wire::kMinSecretLength, secret.size(), kSecretHint));
  }
  if (secret.size() > kMaxSecretLength) {
    room.fail(key, fmt::format("{}must be at most {} characters (got {})", where, kMaxSecretLength,
                               secret.size()));
  }
}

RoomConfig load_room(const config::Document& document, const config::Section& room,
                     std::uint32_t default_max_members, std::vector<std::string>* warnings) {
  RoomConfig out;
  out.origin = fmt::format("{}:{}", document.source_name(), room.line_of("name"));
  out.name = room.require_string("name");
  if (!wire::valid_room_name(out.name)) {
    room.fail("name", fmt::format("'{}' is not a valid room name; allowed 1..{} characters of "
                                  "A-Z a-z 0-9 . _ -",
                                  out.name, wire::kMaxRoomName));
  }
  const bool inline_secret = room.has("secret");
  const bool file_secret = room.has("secret_file");
  if (inline_secret && file_secret) {
    room.fail("secret_file", "set either secret or secret_file, not both");
  }
  if (!inline_secret && !file_secret) {
    room.fail("secret",
              fmt::format("missing: set secret (at least {} characters) or secret_file; {}",
                          wire::kMinSecretLength, kSecretHint));
  }
  if (inline_secret) {
    out.secret = room.require_string("secret");
    check_secret(room, "secret", out.secret, "");
  } else {
    const std::string path = room.require_string("secret_file");
    if (path.empty()) room.fail("secret_file", "empty path");
    const std::filesystem::path file = resolve_secret_path(document, path);
    out.secret = read_secret_file(room, file);
    check_secret(room, "secret_file", out.secret,
                 fmt::format("the secret in '{}' ", file.string()));
    if (warnings != nullptr && readable_by_others(file)) {
      warnings->push_back(
          fmt::format("{}: room '{}': secret file '{}' is readable by every user; "
                      "chmod 0640 it",
                      out.origin, out.name, file.string()));
    }
  }
  if (warnings != nullptr && out.secret.starts_with(kPlaceholderSecretPrefix)) {
    warnings->push_back(
        fmt::format("{}: room '{}' uses the example placeholder secret; replace "
                    "it ({})",
                    out.origin, out.name, kSecretHint));
  }
  out.max_members = get_u32(room, "max_members", default_max_members, 2, 64);
  return out;
}

void read_admission(const config::Section& mqtt, AdmissionConfig& a,
                    std::vector<std::string>* warnings) {
  a.enabled = mqtt.get_bool("enabled", false);
  if (!a.enabled) return;
  std::string problem;
  a.broker = control::normalize_broker_uri(mqtt.require_string("broker"), problem);
  if (a.broker.empty()) mqtt.fail("broker", problem);
  a.identity = mqtt.get_string("identity", a.identity);
  a.prefix = mqtt.get_string("prefix", a.prefix);
  for (const auto& [key, value] : {std::pair{"identity", a.identity}, {"prefix", a.prefix}}) {
    if (!control::valid_topic_level(value)) {
      mqtt.fail(key, "must be one MQTT topic level (no / + # or control characters)");
    }
  }
  a.tls.ca = mqtt.get_string("ca_file", a.tls.ca.string());
  a.tls.cert = mqtt.get_string("cert_file", a.tls.cert.string());
  a.tls.key = mqtt.get_string("key_file", a.tls.key.string());
  a.public_endpoint = mqtt.require_string("public_endpoint");
  // The boxes read it with the same parser as their [room] server, so what passes here is what
  // they accept; without a port, the service appends the one it listens on.
  net::HostPort endpoint;
  if (!net::parse_host_port(a.public_endpoint, endpoint, problem, net::PortRule::optional)) {
    mqtt.fail("public_endpoint",
              problem +
                  " (the address the boxes reach this server at; without a port, the one it "
                  "listens on)");
  }
  a.ticket_lifetime_s = get_u32(mqtt, "ticket_lifetime_s", 60, 10,
                                static_cast<std::int64_t>(wire::kMaxTicketLifetimeS));
  if (a.broker.starts_with("tcp://")) {
    if (warnings != nullptr) {
      warnings->push_back("mqtt.broker " + a.broker +
                          " is plain TCP: tickets travel unencrypted; use it in a lab only");
    }
    return;
  }
  try {
    const control::Identity id =
        control::check_identity(a.tls, a.identity, std::chrono::system_clock::now());
    if (!id.clock_plausible && warnings != nullptr) {
      warnings->push_back(
          "the system clock is not set yet: certificate validity cannot be checked");
    }
  } catch (const control::IdentityError& e) {
    mqtt.fail(control::identity_file_key(e), e.what());
  }
}

void read_rooms(const config::Section& section, ServerConfig& cfg,
                std::vector<std::string>* warnings) {
  RoomsConfig& r = cfg.on_demand;
  r.on_demand = section.get_bool("on_demand", r.on_demand);
  r.max_on_demand = get_u32(section, "max_on_demand", r.max_on_demand, 1, 1024);
  r.max_members = get_u32(section, "max_members", r.max_members, 2, 64);
  r.idle_expiry_s = get_u32(section, "idle_expiry_s", r.idle_expiry_s, 10, 86400);
  if (!r.on_demand) return;
  // Boxes ask for rooms by code through the MQTT admission: without it nobody can.
  if (!cfg.mqtt.enabled && warnings != nullptr) {
    warnings->push_back(
        fmt::format("{}:{}: rooms.on_demand is set but mqtt.enabled is not; rooms are only made on "
                    "demand through MQTT admission",
                    cfg.source, section.line_of("on_demand")));
  }
  if (r.max_on_demand > cfg.max_rooms && warnings != nullptr) {
    warnings->push_back(
        fmt::format("{}:{}: rooms.max_on_demand ({}) is more than server.max_rooms ({}); at most "
                    "{} rooms in all will exist",
                    cfg.source, section.line_of("max_on_demand"), r.max_on_demand, cfg.max_rooms,
                    cfg.max_rooms));
  }
}

}  // namespace

ServerConfig load_config(const config::Document& document, std::vector<std::string>* warnings) {
  ServerConfig cfg;
  cfg.source = document.source_name();

  const config::Section server = document.section("server");
  cfg.listen_text = server.get_string("listen", cfg.listen_text);
  std::string error;
  if (!net::parse_endpoint(cfg.listen_text, cfg.listen, error)) server.fail("listen", error);
  cfg.workers = get_u32(server, "workers", 0, 0, kMaxWorkers);
  cfg.member_timeout_ms = get_u32(server, "member_timeout_ms", 1000, 100, 60000);
  cfg.max_rooms = get_u32(server, "max_rooms", 16, 1, 1024);
  cfg.max_members = get_u32(server, "max_members", 16, 2, 64);
  cfg.socket_buffer_kb = get_u32(server, "socket_buffer_kb", 4096, 64, 65536);
  cfg.realtime_priority = get_u32(server, "realtime_priority", 10, 0, 98);

  const config::Section stats = document.section("stats");
  cfg.stats_file = stats.get_string("file", cfg.stats_file);
  cfg.stats_interval_ms = get_u32(stats, "interval_ms", 1000, 100, 60000);
  cfg.log_interval_s = get_u32(stats, "log_interval_s", 60, 0, 86400);

  read_admission(document.section("mqtt"), cfg.mqtt, warnings);
  read_rooms(document.section("rooms"), cfg, warnings);

  const config::Section logging = document.section("logging");
  const std::string level =
      logging.get_choice("level", "info", {"error", "warning", "notice", "info", "debug"});
  if (!log::parse_level(level, cfg.log_level)) logging.fail("level", "unknown level");

  const std::vector<config::Section> rooms = document.root().tables("room");
  for (std::size_t i = 0; i < rooms.size(); ++i) {
    if (i >= cfg.max_rooms) {
      rooms[i].fail("name", fmt::format("more rooms than server.max_rooms ({}); remove rooms or "
                                        "raise server.max_rooms (allowed 1..1024)",
                                        cfg.max_rooms));
    }
    RoomConfig room = load_room(document, rooms[i], cfg.max_members, warnings);
    for (std::size_t j = 0; j < cfg.rooms.size(); ++j) {
      if (cfg.rooms[j].name == room.name) {
        rooms[i].fail("name", fmt::format("duplicate room name '{}' (first defined at {})",
                                          room.name, cfg.rooms[j].origin));
      }
    }
    cfg.rooms.push_back(std::move(room));
  }

  if (warnings != nullptr) {
    if (cfg.rooms.empty() && !cfg.on_demand.on_demand) {
      warnings->push_back(
          fmt::format("{}: no [[room]] is configured; every JOIN will be refused", cfg.source));
    }
    const bool inline_secrets =
        !rooms.empty() && std::any_of(rooms.begin(), rooms.end(), [](const config::Section& room) {
          return room.has("secret");
        });
    if (inline_secrets && readable_by_others(cfg.source)) {
      warnings->push_back(
          fmt::format("{}: holds room secrets and is readable by every user; "
                      "chmod 0640 it (or use secret_file)",
                      cfg.source));
    }
  }
  return cfg;
}

LoadedConfig load_config_file(const std::filesystem::path& file,
                              const std::vector<std::string>& overrides) {
  config::Document document = config::Document::load(file);
  for (const auto& assignment : overrides) document.set_override(assignment);
  LoadedConfig loaded;
  loaded.config = load_config(document, &loaded.warnings);
  std::vector<std::string> unknown;
  for (const auto& key : document.unknown_keys()) unknown.push_back(key.message());
  loaded.warnings.insert(loaded.warnings.begin(), std::make_move_iterator(unknown.begin()),
                         std::make_move_iterator(unknown.end()));
  return loaded;
}

}  // namespace jambox::broadcast
