#include <jambox/broadcast/config.hpp>
#include <jambox/config/config.hpp>

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace fs = std::filesystem;
using jambox::broadcast::load_config;
using jambox::broadcast::ServerConfig;
using jambox::config::ConfigError;
using jambox::config::Document;

namespace {

constexpr const char* kSecret = "0123456789abcdef-secret";

ServerConfig parse(const std::string& text, std::vector<std::string>* warnings = nullptr) {
  const Document doc = Document::parse(text, "test.conf");
  return load_config(doc, warnings);
}

// The ConfigError message of loading `text`, "" when it loads.
std::string error_of(const std::string& text) {
  try {
    (void)parse(text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

std::string room(const std::string& name, const std::string& extra = "") {
  return "[[room]]\nname = \"" + name + "\"\nsecret = \"" + kSecret + "\"\n" + extra;
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "jambox-broadcast-test-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const fs::path& path() const { return path_; }
  fs::path write(const std::string& name, const std::string& text, mode_t mode = 0600) const {
    const fs::path file = path_ / name;
    std::ofstream(file) << text;
    ::chmod(file.c_str(), mode);
    return file;
  }

 private:
  fs::path path_;
};

}  // namespace

TEST_CASE("config: an empty file gives the documented defaults", "[broadcast][config]") {
  const ServerConfig c = parse("");
  CHECK(c.listen_text == "[::]:7930");
  CHECK(c.listen.port() == 7930);
  CHECK(c.listen.address().is_v6());
  CHECK(c.workers == 0);
  CHECK(c.member_timeout_ms == 1000);
  CHECK(c.max_rooms == 16);
  CHECK(c.max_members == 16);
  CHECK(c.socket_buffer_kb == 4096);
  CHECK(c.realtime_priority == 10);
  CHECK(c.stats_file == "/run/jambox-broadcast/stats.json");
  CHECK(c.stats_interval_ms == 1000);
  CHECK(c.log_interval_s == 60);
  CHECK(c.log_level == jambox::log::Level::info);
  CHECK(c.rooms.empty());
}

TEST_CASE("config: every key is read", "[broadcast][config]") {
  const ServerConfig c = parse(R"(
[server]
listen = "127.0.0.1:0"
workers = 3
member_timeout_ms = 250
max_rooms = 4
max_members = 5
socket_buffer_kb = 64
realtime_priority = 0

[stats]
file = ""
interval_ms = 100
log_interval_s = 0

[logging]
level = "debug"
)" + room("main", "max_members = 8\n") +
                               room("side.room_2"));
  CHECK(c.listen_text == "127.0.0.1:0");
  CHECK(c.listen.address().is_v4());
  CHECK(c.workers == 3);
  CHECK(c.member_timeout_ms == 250);
  CHECK(c.max_rooms == 4);
  CHECK(c.max_members == 5);
  CHECK(c.socket_buffer_kb == 64);
  CHECK(c.realtime_priority == 0);
  CHECK(c.stats_file.empty());
  CHECK(c.stats_interval_ms == 100);
  CHECK(c.log_interval_s == 0);
  CHECK(c.log_level == jambox::log::Level::debug);
  REQUIRE(c.rooms.size() == 2);
  CHECK(c.rooms[0].name == "main");
  CHECK(c.rooms[0].secret == kSecret);
  CHECK(c.rooms[0].max_members == 8);
  CHECK(c.rooms[1].name == "side.room_2");
  CHECK(c.rooms[1].max_members == 5);  // the server default
  CHECK(c.rooms[1].origin == "test.conf:23");
}

TEST_CASE("config: each bad value names file, line, key and what is allowed",
          "[broadcast][config]") {
  struct Case {
    std::string text;
    std::string where;  // "test.conf:<line>: <key>"
    std::string says;
  };
  const std::vector<Case> cases = {
      {"[server]\nlisten = \"localhost:7930\"\n", "test.conf:2: server.listen", "host names"},
      {"[server]\nlisten = \"[::]:70000\"\n", "test.conf:2: server.listen", "0 to 65535"},
      {"[server]\nworkers = 17\n", "test.conf:2: server.workers", "0..16"},
      {"[server]\nmember_timeout_ms = 99\n", "test.conf:2: server.member_timeout_ms", "100..60000"},
      {"[server]\nmax_rooms = 0\n", "test.conf:2: server.max_rooms", "1..1024"},
      {"[server]\nmax_members = 65\n", "test.conf:2: server.max_members", "2..64"},
      {"[server]\nsocket_buffer_kb = 63\n", "test.conf:2: server.socket_buffer_kb", "64..65536"},
      {"[server]\nrealtime_priority = 99\n", "test.conf:2: server.realtime_priority", "0..98"},
      {"[stats]\ninterval_ms = 60001\n", "test.conf:2: stats.interval_ms", "100..60000"},
      {"[stats]\nlog_interval_s = -1\n", "test.conf:2: stats.log_interval_s", "0..86400"},
      {"[stats]\nfile = 3\n", "test.conf:2: stats.file", "expected a string"},
      {"[logging]\nlevel = \"loud\"\n", "test.conf:2: logging.level", "debug"},
      {"[[room]]\nname = \"bad name\"\nsecret = \"0123456789abcdef\"\n",
       "test.conf:2: room[0].name", "A-Z a-z 0-9 . _ -"},
      {"[[room]]\nname = \"" + std::string(33, 'a') + "\"\nsecret = \"0123456789abcdef\"\n",
       "test.conf:2: room[0].name", "1..32"},
      {"[[room]]\nname = \"a\"\nsecret = \"0123456789abcdef\"\nmax_members = 1\n",
       "test.conf:4: room[0].max_members", "2..64"},
      {"[[room]]\nsecret = \"0123456789abcdef\"\n", "test.conf:1: room[0].name", "missing"},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    const std::string error = error_of(c.text);
    CHECK_THAT(error, Catch::StartsWith(c.where));
    CHECK_THAT(error, Catch::Contains(c.says));
  }
}

TEST_CASE("config: a duplicate room name points at the second one", "[broadcast][config]") {
  const std::string error = error_of(room("main") + room("other") + room("main"));
  CHECK_THAT(error, Catch::StartsWith("test.conf:8: room[2].name"));
  CHECK_THAT(error, Catch::Contains("duplicate room name 'main'"));
  CHECK_THAT(error, Catch::Contains("test.conf:2"));  // where the first one is
}

TEST_CASE("config: more rooms than max_rooms says so", "[broadcast][config]") {
  const std::string error =
      error_of("[server]\nmax_rooms = 2\n" + room("a") + room("b") + room("c"));
  CHECK_THAT(error, Catch::StartsWith("test.conf:10: room[2].name"));
  CHECK_THAT(error, Catch::Contains("more rooms than server.max_rooms (2)"));
}

TEST_CASE("config: secrets", "[broadcast][config]") {
  SECTION("a short secret needs at least 16 characters, and the value is not echoed") {
    const std::string error = error_of("[[room]]\nname = \"a\"\nsecret = \"tooshort-1234\"\n");
    CHECK_THAT(error, Catch::StartsWith("test.conf:3: room[0].secret"));
    CHECK_THAT(error, Catch::Contains("at least 16 characters"));
    CHECK_THAT(error, Catch::Contains("openssl rand -base64 24"));
    CHECK_THAT(error, !Catch::Contains("tooshort-1234"));
  }
  SECTION("neither secret nor secret_file") {
    const std::string error = error_of("[[room]]\nname = \"a\"\n");
    CHECK_THAT(error, Catch::StartsWith("test.conf:1: room[0].secret"));
    CHECK_THAT(error, Catch::Contains("secret_file"));
  }
  SECTION("both secret and secret_file") {
    const std::string error =
        error_of("[[room]]\nname = \"a\"\nsecret = \"0123456789abcdef\"\nsecret_file = \"/x\"\n");
    CHECK_THAT(error, Catch::StartsWith("test.conf:4: room[0].secret_file"));
    CHECK_THAT(error, Catch::Contains("not both"));
  }
  SECTION("too long") {
    const std::string error =
        error_of("[[room]]\nname = \"a\"\nsecret = \"" + std::string(257, 'x') + "\"\n");
    CHECK_THAT(error, Catch::Contains("at most 256"));
  }
  SECTION("the placeholder is accepted with a warning") {
    std::vector<std::string> warnings;
    const ServerConfig c =
        parse("[[room]]\nname = \"a\"\nsecret = \"REPLACE-ME-example-secret\"\n", &warnings);
    CHECK(c.rooms.size() == 1);
    REQUIRE(warnings.size() == 1);
    CHECK_THAT(warnings[0], Catch::Contains("placeholder"));
  }
}

TEST_CASE("config: secret_file is read, trimmed, resolved next to the config file",
          "[broadcast][config]") {
  const TempDir dir;
  dir.write("main.secret", "from-a-file-0123456789\n");
  const fs::path conf = dir.write("b.conf",
                                  "[[room]]\nname = \"main\"\nsecret_file = "
                                  "\"main.secret\"\n[[room]]\nname = \"abs\"\n"
                                  "secret_file = \"" +
                                      (dir.path() / "main.secret").string() + "\"\n");
  const auto loaded = jambox::broadcast::load_config_file(conf, {});
  REQUIRE(loaded.config.rooms.size() == 2);
  CHECK(loaded.config.rooms[0].secret == "from-a-file-0123456789");
  CHECK(loaded.config.rooms[1].secret == "from-a-file-0123456789");
  CHECK(loaded.warnings.empty());  // 0600 files: nothing to warn about

  SECTION("a world-readable secret file is warned about") {
    ::chmod((dir.path() / "main.secret").c_str(), 0644);
    const auto again = jambox::broadcast::load_config_file(conf, {});
    REQUIRE_FALSE(again.warnings.empty());
    CHECK_THAT(again.warnings[0], Catch::Contains("readable by every user"));
  }
}

TEST_CASE("config: secret_file errors", "[broadcast][config]") {
  const TempDir dir;
  SECTION("missing file") {
    const fs::path conf =
        dir.write("c.conf", "[[room]]\nname = \"main\"\nsecret_file = \"nope.secret\"\n");
    try {
      (void)jambox::broadcast::load_config_file(conf, {});
      FAIL("loaded");
    } catch (const ConfigError& e) {
      CHECK(e.line() == 3);
      CHECK(e.key() == "room[0].secret_file");
      CHECK_THAT(e.what(), Catch::Contains("cannot read"));
      CHECK_THAT(e.what(), Catch::Contains("nope.secret"));
    }
  }
  SECTION("short secret in the file") {
    dir.write("short.secret", "short\n");
    const fs::path conf =
        dir.write("d.conf", "[[room]]\nname = \"main\"\nsecret_file = \"short.secret\"\n");
    try {
      (void)jambox::broadcast::load_config_file(conf, {});
      FAIL("loaded");
    } catch (const ConfigError& e) {
      CHECK(e.key() == "room[0].secret_file");
      CHECK_THAT(e.what(), Catch::Contains("at least 16 characters"));
      CHECK_THAT(e.what(), !Catch::Contains("short\n"));
    }
  }
}

TEST_CASE("config: overrides and unknown keys through load_config_file", "[broadcast][config]") {
  const TempDir dir;
  const fs::path conf =
      dir.write("e.conf", "[server]\nlisten = \"127.0.0.1:7930\"\nmax_member = 4\n" + room("main"));
  const auto loaded =
      jambox::broadcast::load_config_file(conf, {"server.listen=127.0.0.1:0", "stats.file=/tmp/x"});
  CHECK(loaded.config.listen.port() == 0);
  CHECK(loaded.config.stats_file == "/tmp/x");
  REQUIRE_FALSE(loaded.warnings.empty());
  CHECK_THAT(loaded.warnings[0], Catch::Contains("e.conf:3"));
  CHECK_THAT(loaded.warnings[0], Catch::Contains("server.max_member"));
  CHECK_THAT(loaded.warnings[0], Catch::Contains("did you mean 'server.max_members'"));

  try {
    (void)jambox::broadcast::load_config_file(conf, {"server.workers=99"});
    FAIL("loaded");
  } catch (const ConfigError& e) {
    CHECK_THAT(e.what(), Catch::Contains("--set server.workers"));
    CHECK_THAT(e.what(), Catch::Contains("0..16"));
  }
}

TEST_CASE("config: [mqtt] room admission is checked like every other key",
          "[broadcast][config][admission]") {
  CHECK_FALSE(parse(room("band")).mqtt.enabled);
  const std::string lab = "[mqtt]\nenabled = true\nbroker = \"tcp://127.0.0.1:1883\"\n";
  std::vector<std::string> warnings;
  const ServerConfig cfg =
      parse(room("band") + lab + "public_endpoint = \"jam.example.org\"\n", &warnings);
  CHECK(cfg.mqtt.enabled);
  CHECK(cfg.mqtt.public_endpoint == "jam.example.org");
  CHECK(cfg.mqtt.identity == "jambox-broadcast");
  CHECK(cfg.mqtt.ticket_lifetime_s == 60);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("plain TCP") != std::string::npos);
  for (const char* good : {"192.0.2.10:7930", "[2001:db8::10]:7930", "[2001:db8::10]", "a.b",
                           "192.0.2.10", "jam.example.org:65535", "localhost"}) {
    CAPTURE(good);
    CHECK(error_of(room("band") + lab + "public_endpoint = \"" + good + "\"\n").empty());
  }

  const auto fails = [&](const std::string& mqtt, const std::string& key) {
    const std::string error = error_of(room("band") + "[mqtt]\nenabled = true\n" + mqtt);
    CAPTURE(mqtt, error);
    CHECK(error.find("test.conf:") != std::string::npos);
    CHECK(error.find("mqtt." + key) != std::string::npos);
  };
  fails("public_endpoint = \"a.b\"\n", "broker");
  fails("broker = \"http://x\"\npublic_endpoint = \"a.b\"\n", "broker");
  fails("broker = \"tcp://127.0.0.1:1883\"\n", "public_endpoint");
  for (const char* bad :
       {"", "2001:db8::10", "host:", "host:99999", "[::1]x", ":7930", "256.1.1.1", "256.1.1.1:7930",
        "1.2.3", "host:0", "[::1]:", "a b", "example.123", "-a.org", "[jam.example.org]"}) {
    fails("broker = \"tcp://127.0.0.1:1883\"\npublic_endpoint = \"" + std::string(bad) + "\"\n",
          "public_endpoint");
  }
  // The message names the problem and the forms the boxes accept (the same parser as theirs).
  const std::string invalid_v4 =
      error_of(room("band") + lab + "public_endpoint = \"256.1.1.1:7930\"\n");
  CHECK_THAT(invalid_v4, Catch::Contains("mqtt.public_endpoint: '256.1.1.1:7930': '256.1.1.1' is "
                                         "not a valid IPv4 address"));
  CHECK_THAT(invalid_v4, Catch::Contains("expected HOST or HOST:PORT, e.g. jam.example.org"));
  CHECK_THAT(error_of(room("band") + lab + "public_endpoint = \"host:\"\n"),
             Catch::Contains("the port is missing"));
  fails("broker = \"tcp://h:1\"\npublic_endpoint = \"a.b\"\nticket_lifetime_s = 5\n",
        "ticket_lifetime_s");
  fails("broker = \"tcp://h:1\"\npublic_endpoint = \"a.b\"\nprefix = \"a/b\"\n", "prefix");
  // With TLS the service's identity is checked at once: here the CA does not exist.
  fails("broker = \"ssl://h\"\npublic_endpoint = \"a.b\"\ncert_file = \"/nonexistent.crt\"\n",
        "ca_file");
}

TEST_CASE("config: [rooms] rooms by code, defaults, ranges and warnings",
          "[broadcast][config][rooms]") {
  const ServerConfig defaults = parse(room("band"));
  CHECK_FALSE(defaults.on_demand.on_demand);
  CHECK(defaults.on_demand.max_on_demand == 16);
  CHECK(defaults.on_demand.max_members == 8);
  CHECK(defaults.on_demand.idle_expiry_s == 300);

  const ServerConfig set =
      parse("[rooms]\non_demand = true\nmax_on_demand = 4\nmax_members = 3\nidle_expiry_s = 60\n");
  CHECK(set.on_demand.on_demand);
  CHECK(set.on_demand.max_on_demand == 4);
  CHECK(set.on_demand.max_members == 3);
  CHECK(set.on_demand.idle_expiry_s == 60);
  CHECK(set.rooms.empty());  // rooms made on demand need no declared room

  struct Case {
    std::string text;
    std::string where;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"[rooms]\non_demand = \"yes\"\n", "test.conf:2: rooms.on_demand", "true or false"},
      {"[rooms]\nmax_on_demand = 0\n", "test.conf:2: rooms.max_on_demand", "1..1024"},
      {"[rooms]\nmax_on_demand = 1025\n", "test.conf:2: rooms.max_on_demand", "1..1024"},
      {"[rooms]\nmax_members = 1\n", "test.conf:2: rooms.max_members", "2..64"},
      {"[rooms]\nmax_members = 65\n", "test.conf:2: rooms.max_members", "2..64"},
      {"[rooms]\nidle_expiry_s = 9\n", "test.conf:2: rooms.idle_expiry_s", "10..86400"},
      {"[rooms]\n\nidle_expiry_s = 86401\n", "test.conf:3: rooms.idle_expiry_s", "10..86400"},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    const std::string error = error_of(c.text);
    CHECK_THAT(error, Catch::StartsWith(c.where));
    CHECK_THAT(error, Catch::Contains(c.says));
  }

  // On demand without MQTT admission, or more than max_rooms allows: said, not refused.
  std::vector<std::string> warnings;
  (void)parse("[server]\nmax_rooms = 4\n[rooms]\non_demand = true\nmax_on_demand = 8\n", &warnings);
  REQUIRE(warnings.size() == 2);
  CHECK_THAT(warnings[0], Catch::Contains("test.conf:4: rooms.on_demand"));
  CHECK_THAT(warnings[0], Catch::Contains("mqtt.enabled"));
  CHECK_THAT(warnings[1], Catch::Contains("test.conf:5: rooms.max_on_demand (8)"));
  CHECK_THAT(warnings[1], Catch::Contains("server.max_rooms (4)"));
  // Without declared rooms the "every JOIN will be refused" warning is only for servers that
  // make no rooms either.
  warnings.clear();
  (void)parse("[rooms]\non_demand = false\n", &warnings);
  REQUIRE(warnings.size() == 1);
  CHECK_THAT(warnings[0], Catch::Contains("no [[room]]"));
}
