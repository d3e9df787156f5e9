// jamboxd's configuration: defaults, every key, and the errors an administrator will meet.
#include <jambox/box/config.hpp>
#include <jambox/config/config.hpp>
#include <jambox/test/temp_dir.hpp>

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdlib>
#include <string>

namespace box = jambox::box;
using jambox::config::ConfigError;

namespace {

const std::string kRoom =
    "[room]\nserver = \"192.0.2.1:7930\"\nname = \"main\"\nsecret = \"0123456789abcdef\"\n";

}  // namespace

TEST_CASE("a minimal file gives the documented defaults", "[box][config]") {
  const box::BoxConfig c = box::parse_config(kRoom, "mini.conf");
  CHECK(c.jack.client_name == "jamboxd");
  CHECK(c.jack.server_name.empty());
  CHECK(c.jack.capture[0] == "system:capture_1");
  CHECK(c.jack.playback[1] == "system:playback_2");
  CHECK(c.engine.packet_frames == 64);
  CHECK(c.engine.jitter.floor_ms == Approx(1.0));
  CHECK(c.engine.jitter.ceiling_ms == Approx(40.0));
  CHECK(c.mix.monitor);
  CHECK_FALSE(c.mix.metronome);
  CHECK(c.room.server == "192.0.2.1:7930");
  CHECK(c.room.name == "main");
  CHECK(c.room.secret == "0123456789abcdef");
  CHECK(c.encrypt_audio);
  CHECK_FALSE(c.room.audio_key);  // derived from the secret by the session
  CHECK(c.log_level == jambox::log::Level::info);
  CHECK(c.status_interval == std::chrono::seconds(60));
  CHECK(c.warnings.empty());
}

TEST_CASE("audio.network_priority is still checked, and reported as unused", "[box][config]") {
  // Older files set it: they stay valid, and the admin learns the key does nothing any more.
  const box::BoxConfig c = box::parse_config(
      "[audio]\nnetwork_priority = 4\n[room]\nserver = \"192.0.2.1:7930\"\nname = \"main\"\n"
      "secret = \"0123456789abcdef\"\n",
      "old.conf");
  REQUIRE(c.warnings.size() == 1);
  CHECK_THAT(c.warnings[0], Catch::Contains("audio.network_priority is no longer used"));
}

TEST_CASE("every key is read", "[box][config]") {
  const std::string text = R"(
[audio]
client_name = "box7"
server_name = "pi"
capture = ["system:capture_3", ""]
playback = ["a:b", "c:d"]
packet_frames = 128
jitter_floor_ms = 2.5
jitter_ceiling_ms = 20
jitter_adaptive = false
monitor = false
monitor_gain_db = -6
master_gain_db = -3
metronome = true
metronome_bpm = 90
metronome_gain_db = -20
[room]
server = "jam.example.org:7930"
name = "band.2"
secret = "a secret of enough length"
encrypt_audio = false
[logging]
level = "debug"
[status]
interval_s = 5
)";
  const box::BoxConfig c = box::parse_config(text, "full.conf");
  CHECK(c.jack.client_name == "box7");
  CHECK(c.jack.server_name == "pi");
  CHECK(c.jack.capture[1].empty());
  CHECK(c.jack.playback[0] == "a:b");
  CHECK(c.engine.packet_frames == 128);
  CHECK(c.engine.jitter.floor_ms == Approx(2.5));
  CHECK(c.engine.jitter.ceiling_ms == Approx(20.0));
  CHECK_FALSE(c.engine.jitter.adaptive);
  CHECK_FALSE(c.mix.monitor);
  CHECK(c.mix.monitor_gain_db == Approx(-6.0));
  CHECK(c.mix.master_gain_db == Approx(-3.0));
  CHECK(c.mix.metronome);
  CHECK(c.mix.metronome_bpm == Approx(90.0));
  CHECK(c.mix.metronome_gain_db == Approx(-20.0));
  CHECK(c.room.server == "jam.example.org:7930");
  CHECK(c.room.name == "band.2");
  CHECK_FALSE(c.encrypt_audio);
  CHECK(c.log_level == jambox::log::Level::debug);
  CHECK(c.status_interval == std::chrono::seconds(5));
  CHECK(c.warnings.empty());
}

TEST_CASE("[room] server must be HOST:PORT, checked when the file is read", "[box][config]") {
  // What --check-config, start-up and a reload all refuse, before anything connects.
  const std::string lab =
      "[mqtt]\nenabled = true\nbroker = \"tcp://127.0.0.1:1883\"\nplayer_key = \"lab\"\n";
  for (const char* bad : {"nonsense", "host:", ":7930", "256.1.1.1:99999", ""}) {
    // Standalone, and managed with a [room] given: an empty server is no room either way.
    for (const bool managed : {false, true}) {
      CAPTURE(bad, managed);
      const std::string text = (managed ? lab : std::string()) + "[room]\nserver = \"" + bad +
                               "\"\nname = \"main\"\nsecret = \"0123456789abcdef\"\n";
      try {
        static_cast<void>(box::parse_config(text, "s.conf"));
        FAIL("no error");
      } catch (const ConfigError& e) {
        const std::string what = e.what();
        CAPTURE(what);
        CHECK(e.key() == "room.server");
        CHECK(e.file() == "s.conf");
        CHECK(e.line() == (managed ? 6 : 2));
        CHECK(what.find(managed ? "s.conf:6: room.server: '" : "s.conf:2: room.server: '") == 0);
        CHECK(what.find(std::string("'") + bad + "'") != std::string::npos);
        CHECK(what.find("expected HOST:PORT, e.g. jam.example.org:7930") != std::string::npos);
      }
    }
  }
  // Each names its own problem.
  const auto problem = [](const std::string& server) -> std::string {
    try {
      static_cast<void>(box::parse_config(
          "[room]\nserver = \"" + server + "\"\nname = \"x\"\nsecret = \"0123456789abcdef\"\n",
          "p.conf"));
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "(accepted)";
  };
  CHECK_THAT(problem("nonsense"), Catch::Contains("the port is missing"));
  CHECK_THAT(problem("host:"), Catch::Contains("the port is missing"));
  CHECK_THAT(problem(":7930"), Catch::Contains("the host is missing"));
  CHECK_THAT(problem("256.1.1.1:99999"), Catch::Contains("not a valid IPv4 address"));
  CHECK_THAT(problem(""), Catch::Contains("the address is empty"));
  // The accepted forms.
  for (const char* good : {"jam.example.org:7930", "192.0.2.1:1", "[2001:db8::10]:65535"}) {
    CHECK(problem(good) == "(accepted)");
  }
}

TEST_CASE("configuration errors name the file, line and key", "[box][config]") {
  SECTION("missing room server") {
    try {
      static_cast<void>(
          box::parse_config("[room]\nname = \"x\"\nsecret = \"0123456789abcdef\"\n", "a.conf"));
      FAIL("no error");
    } catch (const ConfigError& e) {
      CHECK(e.key() == "room.server");
      CHECK(std::string(e.what()).find("a.conf") == 0);
    }
  }
  SECTION("packet_frames not a supported size") {
    try {
      static_cast<void>(box::parse_config("[audio]\npacket_frames = 100\n" + kRoom, "b.conf"));
      FAIL("no error");
    } catch (const ConfigError& e) {
      CHECK(e.key() == "audio.packet_frames");
      CHECK(e.line() == 2);
    }
  }
  SECTION("ceiling below floor") {
    CHECK_THROWS_AS(
        box::parse_config("[audio]\njitter_floor_ms = 10\njitter_ceiling_ms = 5\n" + kRoom, "c"),
        ConfigError);
  }
  SECTION("short secret") {
    CHECK_THROWS_AS(box::parse_config(
                        "[room]\nserver = \"1.2.3.4:5\"\nname = \"x\"\nsecret = \"short\"\n", "d"),
                    ConfigError);
  }
  SECTION("bad room name") {
    CHECK_THROWS_AS(box::parse_config("[room]\nserver = \"1.2.3.4:5\"\nname = \"a room\"\n"
                                      "secret = \"0123456789abcdef\"\n",
                                      "e"),
                    ConfigError);
  }
  SECTION("both secret and secret_file") {
    CHECK_THROWS_AS(box::parse_config(kRoom + "secret_file = \"/nonexistent\"\n", "f"),
                    ConfigError);
  }
  SECTION("unreadable secret file") {
    CHECK_THROWS_AS(box::parse_config("[room]\nserver = \"1.2.3.4:5\"\nname = \"x\"\n"
                                      "secret_file = \"/nonexistent/secret\"\n",
                                      "g"),
                    ConfigError);
  }
  SECTION("encrypt_audio not a boolean") {
    try {
      static_cast<void>(box::parse_config(kRoom + "encrypt_audio = \"yes\"\n", "i.conf"));
      FAIL("no error");
    } catch (const ConfigError& e) {
      CHECK(e.key() == "room.encrypt_audio");
      CHECK(e.line() == 5);
      CHECK(std::string(e.what()).find("true or false") != std::string::npos);
    }
  }
  SECTION("capture needs two names") {
    CHECK_THROWS_AS(box::parse_config("[audio]\ncapture = [\"a:b\"]\n" + kRoom, "h"), ConfigError);
  }
  SECTION("unknown log level") {
    CHECK_THROWS_AS(box::parse_config("[logging]\nlevel = \"loud\"\n" + kRoom, "i"), ConfigError);
  }
}

TEST_CASE("unknown keys are warnings with a suggestion", "[box][config]") {
  const box::BoxConfig c = box::parse_config("[audio]\nmonitr = true\n" + kRoom, "u.conf");
  REQUIRE(c.warnings.size() == 1);
  CHECK(c.warnings[0].find("audio.monitr") != std::string::npos);
  CHECK(c.warnings[0].find("audio.monitor") != std::string::npos);
}

TEST_CASE("secret_file is read, trimmed, and loose permissions are warned about", "[box][config]") {
  jambox::test::TempDir dir("box-config");
  const auto secret = dir.write_file("room.secret", "0123456789abcdefXYZ\n");
  const std::string text =
      "[room]\nserver = \"1.2.3.4:5\"\nname = \"x\"\nsecret_file = \"" + secret.string() + "\"\n";
  ::chmod(secret.c_str(), 0640);  // as the package installs it
  box::BoxConfig c = box::parse_config(text, "s.conf");
  CHECK(c.room.secret == "0123456789abcdefXYZ");
  CHECK(c.warnings.empty());
  ::chmod(secret.c_str(), 0644);
  c = box::parse_config(text, "s.conf");
  REQUIRE(c.warnings.size() == 1);
  CHECK(c.warnings[0].find("chmod 640") != std::string::npos);
}

TEST_CASE("overrides win over the file", "[box][config]") {
  const box::BoxConfig c =
      box::parse_config(kRoom, "o.conf", {"room.name=other", "audio.packet_frames=32"});
  CHECK(c.room.name == "other");
  CHECK(c.engine.packet_frames == 32);
}

TEST_CASE("the shipped jamboxd.conf is valid and documents every key", "[box][config]") {
  const char* source = std::getenv("JAMBOX_SOURCE_DIR");
  REQUIRE(source != nullptr);
  const std::filesystem::path shipped = std::filesystem::path(source) / "config" / "jamboxd.conf";
  jambox::test::TempDir dir("box-config");
  const auto secret = dir.write_file("room.secret", "0123456789abcdef0123");
  ::chmod(secret.c_str(), 0600);
  const box::BoxConfig c =
      box::load_config_file(shipped, {"room.secret_file=\"" + secret.string() + "\""});
  CHECK(c.warnings.empty());
  CHECK(c.engine.packet_frames == 64);
  const std::string text = jambox::test::read_text_file(shipped);
  for (const char* key : {"client_name",
                          "server_name",
                          "capture",
                          "playback",
                          "packet_frames",
                          "jitter_floor_ms",
                          "jitter_ceiling_ms",
                          "jitter_adaptive",
                          "monitor",
                          "monitor_gain_db",
                          "master_gain_db",
                          "metronome",
                          "metronome_bpm",
                          "metronome_gain_db",
                          "server",
                          "name",
                          "secret",
                          "secret_file",
                          "level",
                          "interval_s"}) {
    INFO(key);
    CHECK(text.find(std::string(key) + " =") != std::string::npos);
  }
}

namespace {

// A PKI made by the project's script, for the [mqtt] section's identity checks.
struct MqttFixture {
  jambox::test::TempDir dir{"box-mqtt"};
  std::filesystem::path pki = dir.path() / "pki";
  MqttFixture() {
    const char* source = std::getenv("JAMBOX_SOURCE_DIR");
    REQUIRE(source != nullptr);
    const std::string command = std::string(source) + "/packaging/make-pki.sh " + pki.string() +
                                " --player box-7 --test-extras >/dev/null 2>&1";
    REQUIRE(std::system(command.c_str()) == 0);
  }
  [[nodiscard]] std::string section(const std::string& broker, const std::string& cert,
                                    const std::string& key) const {
    return "[mqtt]\nenabled = true\nbroker = \"" + broker + "\"\nplayer_key = \"box-7\"\n" +
           "ca_file = \"" + (pki / "ca.crt").string() + "\"\ncert_file = \"" +
           (pki / (cert + ".crt")).string() + "\"\nkey_file = \"" +
           (pki / (key + ".key")).string() + "\"\n";
  }
};

}  // namespace

TEST_CASE("[mqtt]: managed mode with a good identity; the room may be left out", "[box][config]") {
  MqttFixture f;
  const box::BoxConfig c =
      box::parse_config(f.section("ssl://broker.example.org", "box-7", "box-7"), "m.conf");
  CHECK(c.control.enabled);
  CHECK(c.control.broker == "ssl://broker.example.org:8883");  // the MQTT-over-TLS port
  CHECK(c.control.player_key == "box-7");
  CHECK(c.control.prefix == "jambox");
  CHECK(c.control.status_interval == std::chrono::seconds(30));
  CHECK(c.control.identity.common_name == "box-7");
  CHECK(c.room.server.empty());  // no room until join_room
  CHECK(c.warnings.empty());
}

TEST_CASE("[mqtt]: a managed box's [room] name alone is asked for by ticket", "[box][config]") {
  MqttFixture f;
  const std::string managed = f.section("ssl://broker.example.org", "box-7", "box-7");
  const box::BoxConfig c = box::parse_config(managed + "[room]\nname = \"band.2\"\n", "m.conf");
  CHECK(c.ticket_room == "band.2");
  CHECK(c.room.server.empty());  // not in a room until a room server admits it
  CHECK(c.warnings.empty());
  const box::BoxConfig none = box::parse_config(managed, "m.conf");
  CHECK(none.ticket_room.empty());

  // The same rule for the name as everywhere; and standalone, a name alone is no room.
  const auto key_of = [](const std::string& text) {
    try {
      static_cast<void>(box::parse_config(text, "m.conf"));
    } catch (const ConfigError& e) {
      return e.key();
    }
    return std::string("no error");
  };
  CHECK(key_of(managed + "[room]\nname = \"no spaces\"\n") == "room.name");
  CHECK(key_of("[room]\nname = \"band\"\n") == "room.server");
  // A server or a secret makes it a room by address, which needs all three.
  CHECK(key_of(managed + "[room]\nname = \"band\"\nserver = \"10.0.0.1:7930\"\n") == "room.secret");
}

TEST_CASE("[mqtt]: errors name the file, line and key", "[box][config]") {
  MqttFixture f;
  const auto error_of = [](const std::string& text) -> std::pair<std::string, std::string> {
    try {
      static_cast<void>(box::parse_config(text, "m.conf"));
    } catch (const ConfigError& e) {
      return {e.key(), e.what()};
    }
    return {};
  };
  SECTION("certificate issued to another box") {
    const auto [key, what] = error_of(f.section("ssl://b:8883", "expired", "expired"));
    CHECK(key == "mqtt.cert_file");
    CHECK(what.find("m.conf:") == 0);
  }
  SECTION("private key readable by others") {
    const auto [key, what] = error_of(f.section("ssl://b:8883", "loose", "loose"));
    CHECK(key == "mqtt.key_file");
    CHECK(what.find("chmod 600") != std::string::npos);
  }
  SECTION("unknown scheme") {
    const auto [key, what] = error_of(f.section("http://b:80", "box-7", "box-7"));
    CHECK(key == "mqtt.broker");
    CHECK(what.find("ssl://") != std::string::npos);
  }
  SECTION("player key with a topic separator") {
    const auto [key, what] = error_of(
        "[mqtt]\nenabled = true\nbroker = \"ssl://b\"\n"
        "player_key = \"a/b\"\n");
    CHECK(key == "mqtt.player_key");
  }
}

TEST_CASE("[mqtt]: plain TCP works for a lab, with a loud warning", "[box][config]") {
  const box::BoxConfig c = box::parse_config(
      "[mqtt]\nenabled = true\nbroker = \"tcp://127.0.0.1:1883\"\nplayer_key = \"lab\"\n" + kRoom,
      "lab.conf");
  REQUIRE(c.warnings.size() == 1);
  CHECK(c.warnings[0].find("unencrypted") != std::string::npos);
  CHECK(c.room.name == "main");
}

TEST_CASE("out-of-range values of the newer keys name the key and the range", "[box][config]") {
  struct Case {
    std::string text;
    std::string key;
    std::string range;
  };
  const std::vector<Case> cases = {
      {"[audio]\nnetwork_priority = 99\n" + kRoom, "audio.network_priority", "0..98"},
      {"[mqtt]\nenabled = true\nbroker = \"tcp://127.0.0.1:1883\"\nplayer_key = \"lab\"\n"
       "commands_per_minute = 0\n" +
           kRoom,
       "mqtt.commands_per_minute", "1..100000"},
      {"[mqtt]\nenabled = true\nbroker = \"tcp://127.0.0.1:1883\"\nplayer_key = \"lab\"\n"
       "status_interval_s = 4\n" +
           kRoom,
       "mqtt.status_interval_s", "5..3600"},
  };
  for (const auto& c : cases) {
    INFO(c.key);
    try {
      static_cast<void>(box::parse_config(c.text, "n.conf"));
      FAIL("no error");
    } catch (const ConfigError& e) {
      CHECK(e.key() == c.key);
      CHECK(std::string(e.what()).find("n.conf:") == 0);
      CHECK(std::string(e.what()).find(c.range) != std::string::npos);
    }
  }
}

TEST_CASE("[effects]: the allow-list, the boards folder and the load budget", "[box][config]") {
  const box::BoxConfig d = box::parse_config(kRoom, "fx.conf");
  CHECK(d.effects.boards_dir == "/var/lib/jambox/boards");
  CHECK(d.effects.allows("http://guitarix.sourceforge.net/plugins/gxbooster#booster", "/x/"));
  CHECK(d.effects.allows("http://drobilla.net/plugins/mda/Ambience", "/x/"));
  CHECK_FALSE(d.effects.allows("http://lv2plug.in/plugins/eg-amp", "/usr/lib/lv2/eg-amp.lv2/"));
  CHECK(d.engine.insert_budget == Approx(0.5));
  CHECK(d.engine.insert_overrun_periods == 32);

  const box::BoxConfig c = box::parse_config(
      kRoom +
          "[effects]\nallow = [\"http://lv2plug.in/plugins/eg-amp\", \"urn:zamaudio:*\", "
          "\"/usr/lib/lv2/nodelay.lv2\", \"/opt/lv2/gx*\"]\nboards_dir = \"/srv/boards\"\n"
          "load_budget = 0.25\noverrun_periods = 100\n",
      "fx.conf");
  const box::EffectsConfig& fx = c.effects;
  CHECK(fx.allows("http://lv2plug.in/plugins/eg-amp", "/usr/lib/lv2/eg-amp.lv2/"));
  CHECK_FALSE(fx.allows("http://lv2plug.in/plugins/eg-amp2", "/usr/lib/lv2/eg-amp.lv2/"));
  CHECK(fx.allows("urn:zamaudio:ZamComp", "/usr/lib/lv2/ZamComp.lv2/"));
  CHECK(fx.allows("http://gareus.org/oss/lv2/nodelay", "/usr/lib/lv2/nodelay.lv2/"));
  CHECK_FALSE(fx.allows("http://gareus.org/oss/lv2/nodelay", "/usr/lib/lv2/nodelay.lv2x/"));
  CHECK(fx.allows("http://example.org/a", "/opt/lv2/gxamp.lv2/"));
  CHECK(c.effects.boards_dir == "/srv/boards");
  CHECK(c.engine.insert_budget == Approx(0.25));
  CHECK(c.engine.insert_overrun_periods == 100);
  const box::BoxConfig all = box::parse_config(kRoom + "[effects]\nallow = [\"*\"]\n", "fx.conf");
  CHECK(all.effects.allows("anything:at-all", "/anywhere/"));
  const box::BoxConfig none = box::parse_config(kRoom + "[effects]\nallow = []\n", "fx.conf");
  CHECK_FALSE(none.effects.allows("http://drobilla.net/plugins/mda/Ambience", "/x/"));

  const auto refused = [](const std::string& effects) -> std::string {
    try {
      static_cast<void>(box::parse_config(kRoom + "[effects]\n" + effects + "\n", "fx.conf"));
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "(accepted)";
  };
  CHECK_THAT(refused("allow = [\"gx*\"]"),
             Catch::StartsWith("fx.conf:6: effects.allow: ") && Catch::Contains("bad entry 'gx*'"));
  CHECK_THAT(refused("allow = [\"http://a/*/b\"]"), Catch::Contains("effects.allow"));
  CHECK_THAT(refused("allow = [\"\"]"), Catch::Contains("effects.allow"));
  CHECK_THAT(refused("allow = \"*\""), Catch::Contains("effects.allow"));
  CHECK_THAT(refused("boards_dir = \"boards\""),
             Catch::Contains("effects.boards_dir: must be an absolute path"));
  CHECK_THAT(refused("load_budget = 0"), Catch::Contains("effects.load_budget"));
  CHECK_THAT(refused("overrun_periods = 0"), Catch::Contains("effects.overrun_periods"));
}
