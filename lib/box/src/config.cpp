#include <jambox/box/config.hpp>
#include <jambox/config/config.hpp>
#include <jambox/control/topics.hpp>
#include <jambox/net/host_port.hpp>
#include <jambox/wire/session.hpp>

#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace jambox::box {

namespace {

std::array<std::string, jack::kChannels> two_ports(const config::Section& s, std::string_view key,
                                                   std::array<std::string, jack::kChannels> dflt) {
  if (!s.has(key)) return dflt;
  const std::vector<std::string> list = s.get_string_list(key);
  if (list.size() != jack::kChannels) {
    s.fail(key, "expected two port names (an empty string leaves that port unconnected)");
  }
  return {list[0], list[1]};
}

std::string read_secret_file(const config::Section& room, const std::string& path,
                             std::vector<std::string>& warnings) {
  std::ifstream in(path, std::ios::binary);
  if (!in) room.fail("secret_file", "cannot read '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  std::string secret = text.str();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r' ||
                             secret.back() == ' ' || secret.back() == '\t')) {
    secret.pop_back();
  }
  struct stat st {};
  // 0640 root:jambox is how the package installs it (jamboxd reads it through its group);
  // readable by everyone, or writable by the group, is not.
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & (S_IRWXO | S_IWGRP)) != 0) {
    warnings.push_back("secret file '" + path +
                       "' is readable by every user or writable by its group: chmod 640 it "
                       "(owner root, group jambox) or 600");
  }
  return secret;
}

void read_room(const config::Section& room, BoxConfig& c) {
  c.room.server = room.require_string("server");
  // Checked here, not when the link resolves it: --check-config refuses what start-up and a
  // reload would refuse, and a reload with a bad address never leaves the current room. An empty
  // server is refused too: a box that is given a [room] must be able to reach it.
  net::HostPort server;
  std::string problem;
  if (!net::parse_host_port(c.room.server, server, problem)) room.fail("server", problem);
  c.room.name = room.require_string("name");
  if (!wire::valid_room_name(c.room.name)) {
    room.fail("name", "1 to 32 characters of A-Z a-z 0-9 . _ -");
  }
  const bool inline_secret = room.has("secret");
  const bool file_secret = room.has("secret_file");
  if (inline_secret == file_secret) {
    room.fail(inline_secret ? "secret_file" : "secret",
              "give exactly one of 'secret' and 'secret_file'");
  }
  c.room.secret = inline_secret
                      ? room.require_string("secret")
                      : read_secret_file(room, room.require_string("secret_file"), c.warnings);
  if (c.room.secret.size() < wire::kMinSecretLength || c.room.secret.size() > 255) {
    room.fail(inline_secret ? "secret" : "secret_file",
              "a room secret has " + std::to_string(wire::kMinSecretLength) + " to 255 characters");
  }
}

// ssl:// and mqtts:// without a port get 8883; tcp:// works but is logged loudly at start.
std::string broker_uri(const config::Section& mqtt) {
  std::string problem;
  std::string uri = control::normalize_broker_uri(mqtt.require_string("broker"), problem);
  if (uri.empty()) mqtt.fail("broker", problem);
  return uri;
}

void read_control(const config::Section& mqtt, ControlConfig& c,
                  std::vector<std::string>& warnings) {
  c.enabled = mqtt.get_bool("enabled", false);
  if (!c.enabled) return;
  c.broker = broker_uri(mqtt);
  c.player_key = mqtt.require_string("player_key");
  if (!control::valid_topic_level(c.player_key)) {
    mqtt.fail("player_key", "must be one MQTT topic level (no / + # or control characters)");
  }
  c.prefix = mqtt.get_string("prefix", c.prefix);
  if (!control::valid_topic_level(c.prefix)) {
    mqtt.fail("prefix", "must be one MQTT topic level (no / + # or control characters)");
  }
  c.tls.ca = mqtt.get_string("ca_file", c.tls.ca.string());
  c.tls.cert = mqtt.get_string("cert_file", c.tls.cert.string());
  c.tls.key = mqtt.get_string("key_file", c.tls.key.string());
  c.status_interval = std::chrono::seconds(mqtt.get_int("status_interval_s", 30, 5, 3600));
  c.commands_per_minute =
      static_cast<std::uint32_t>(mqtt.get_int("commands_per_minute", 300, 1, 100000));
  if (c.broker.rfind("tcp://", 0) == 0) {
    warnings.push_back("mqtt.broker " + c.broker +
                       " is plain TCP: commands and status travel unencrypted and "
                       "unauthenticated; use it in a lab only");
    return;
  }
  const auto now = std::chrono::system_clock::now();
  try {
    c.identity = control::check_identity(c.tls, c.player_key, now);
  } catch (const control::IdentityError& e) {
    mqtt.fail(control::identity_file_key(e), e.what());
  }
  if (!c.identity.clock_plausible) {
    warnings.push_back(
        "the system clock is not set yet (no real-time clock, NTP not synchronised): the "
        "certificate's validity cannot be checked, and the broker may refuse TLS until the clock "
        "is right; jamboxd keeps retrying");
  } else if (const long days = c.identity.days_left(now); days < 30) {
    warnings.push_back("certificate " + c.tls.cert.string() + " expires in " +
                       std::to_string(days) + " days: renew it");
  }
}

bool allowed_entry(const std::string& entry) {
  if (entry == "*") return true;
  const std::string_view stem =
      std::string_view(entry).substr(0, entry.size() - (entry.back() == '*' ? 1 : 0));
  if (stem.empty() || stem.find('*') != std::string_view::npos) return false;
  return stem.front() == '/' || stem.find(':') != std::string_view::npos;
}

void read_effects(const config::Section& fx, BoxConfig& c) {
  if (fx.has("allow")) {
    c.effects.allow = fx.get_string_list("allow");
    for (const std::string& entry : c.effects.allow) {
      if (entry.empty() || entry.size() > 1024 || !allowed_entry(entry)) {
        fx.fail("allow",
                "entries are plugin URIs (\"http://lv2plug.in/plugins/eg-amp\"), URI prefixes "
                "ending in '*' (\"urn:zamaudio:*\"), bundle folders (\"/usr/lib/lv2/mda.lv2\", "
                "also ending in '*') or \"*\" for every installed plugin; bad entry '" +
                    entry + "'");
      }
    }
  }
  c.effects.boards_dir = fx.get_string("boards_dir", c.effects.boards_dir.string());
  if (!c.effects.boards_dir.is_absolute()) fx.fail("boards_dir", "must be an absolute path");
  c.effects.lv2_path = fx.get_string("lv2_path", "");
  c.engine.insert_budget = static_cast<float>(fx.get_double("load_budget", 0.5, 0.05, 1.0));
  c.engine.insert_overrun_periods =
      static_cast<std::uint32_t>(fx.get_int("overrun_periods", 32, 1, 10000));
}

BoxConfig read(config::Document& doc, const std::vector<std::string>& overrides) {
  for (const auto& o : overrides) doc.set_override(o);
  BoxConfig c;

  const config::Section audio = doc.section("audio");
  c.jack.client_name = audio.get_string("client_name", "jamboxd");
  if (c.jack.client_name.empty()) audio.fail("client_name", "must not be empty");
  c.jack.server_name = audio.get_string("server_name", "");
  c.jack.capture = two_ports(audio, "capture", c.jack.capture);
  c.jack.playback = two_ports(audio, "playback", c.jack.playback);
  const std::int64_t frames = audio.get_int("packet_frames", 64, 32, 256);
  if (frames != 32 && frames != 64 && frames != 128 && frames != 256) {
    audio.fail("packet_frames", "must be 32, 64, 128 or 256 (default 64)");
  }
  c.engine.packet_frames = static_cast<std::uint16_t>(frames);
  c.engine.jitter.floor_ms =
      static_cast<float>(audio.get_double("jitter_floor_ms", 1.0, 0.0, 100.0));
  c.engine.jitter.ceiling_ms =
      static_cast<float>(audio.get_double("jitter_ceiling_ms", 40.0, 1.0, 200.0));
  c.engine.jitter.adaptive = audio.get_bool("jitter_adaptive", true);
  if (c.engine.jitter.ceiling_ms < c.engine.jitter.floor_ms) {
    audio.fail("jitter_ceiling_ms", "must not be below jitter_floor_ms");
  }
  try {
    c.engine.validate();
  } catch (const std::invalid_argument& e) {
    audio.fail("jitter_floor_ms", e.what());
  }
  if (audio.has("network_priority")) {
    // Still checked, so a file that was valid stays valid; the room's packets travel on JACK's
    // audio thread now, and the loop left behind must not run real-time (it allocates).
    static_cast<void>(audio.get_int("network_priority", 0, 0, 98));
    c.warnings.push_back(
        "audio.network_priority is no longer used: the room's packets travel on JACK's audio "
        "thread (its priority is jackd's -P); remove the key");
  }
  c.mix.monitor = audio.get_bool("monitor", true);
  c.mix.monitor_gain_db = static_cast<float>(audio.get_double("monitor_gain_db", 0.0, -60.0, 12.0));
  c.mix.master_gain_db = static_cast<float>(audio.get_double("master_gain_db", 0.0, -60.0, 12.0));
  c.mix.metronome = audio.get_bool("metronome", false);
  c.mix.metronome_bpm = static_cast<float>(audio.get_double("metronome_bpm", 120.0, 30.0, 300.0));
  c.mix.metronome_gain_db =
      static_cast<float>(audio.get_double("metronome_gain_db", -12.0, -60.0, 12.0));

  read_control(doc.section("mqtt"), c.control, c.warnings);
  read_effects(doc.section("effects"), c);

  const config::Section room = doc.section("room");
  const bool by_address = room.has("server") || room.has("secret") || room.has("secret_file");
  if (c.control.enabled && !by_address) {
    // Managed: a [room] name alone is the room the box asks the room servers for (a ticket) at
    // start; without one it waits for the admin's join_room.
    if (room.has("name")) {
      c.ticket_room = room.require_string("name");
      if (!wire::valid_room_name(c.ticket_room)) {
        room.fail("name", "1 to 32 characters of A-Z a-z 0-9 . _ -");
      }
    }
  } else {
    read_room(room, c);
  }
  c.encrypt_audio = room.get_bool("encrypt_audio", true);

  const config::Section logging = doc.section("logging");
  const std::string level =
      logging.get_choice("level", "info", {"error", "warning", "notice", "info", "debug"});
  static_cast<void>(log::parse_level(level, c.log_level));

  const config::Section status = doc.section("status");
  c.status_interval = std::chrono::seconds(status.get_int("interval_s", 60, 1, 86400));

  for (const auto& unknown : doc.unknown_keys()) c.warnings.push_back(unknown.message());
  return c;
}

}  // namespace

std::vector<std::string> EffectsConfig::default_allow() {
  // The LV2 packages jamboxd recommends (debian/control), by the URIs their plugins carry. The
  // packages it only suggests (lsp-plugins-lv2, x42-plugins, zam-plugins) pull a graphics stack
  // into the image for their GUIs; an admin who installs them adds them here.
  return {
      "http://guitarix.sourceforge.net/plugins/*",  // guitarix-lv2
      "http://drobilla.net/plugins/mda/*",          // mda-lv2
  };
}

bool EffectsConfig::allows(std::string_view uri, std::string_view bundle) const {
  const auto matches = [](std::string_view entry, std::string_view value) {
    if (!entry.empty() && entry.back() == '*') {
      return value.substr(0, entry.size() - 1) == entry.substr(0, entry.size() - 1);
    }
    return value == entry;
  };
  for (const std::string& entry : allow) {
    if (entry == "*") return true;
    if (entry.front() == '/') {
      // A folder matches with or without its trailing slash.
      std::string folder = entry;
      if (folder.back() != '*' && folder.back() != '/') folder += '/';
      if (matches(folder, bundle)) return true;
    } else if (matches(entry, uri)) {
      return true;
    }
  }
  return false;
}

BoxConfig load_config_file(const std::filesystem::path& file,
                           const std::vector<std::string>& overrides) {
  config::Document doc = config::Document::load(file);
  return read(doc, overrides);
}

BoxConfig parse_config(std::string_view text, std::string source_name,
                       const std::vector<std::string>& overrides) {
  config::Document doc = config::Document::parse(text, std::move(source_name));
  return read(doc, overrides);
}

}  // namespace jambox::box
