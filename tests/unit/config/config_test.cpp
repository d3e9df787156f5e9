#include "jambox/config/config.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

using jambox::config::ConfigError;
using jambox::config::Document;
using jambox::config::Section;

namespace {

// Line numbers below are part of the assertions; keep the text as it is.
constexpr const char* kConfig =
    "# jambox test configuration\n"  // 1
    "[server]\n"                     // 2
    "port = \"abc\"\n"               // 3
    "member_timeout_ms = 50\n"       // 4
    "max_members = 16.5\n"           // 5
    "ratio = 3\n"                    // 6
    "gain = \"loud\"\n"              // 7
    "ipv6 = \"yes\"\n"               // 8
    "name = 42\n"                    // 9
    "hosts = [\n"                    // 10
    "  \"a\",\n"                     // 11
    "  7,\n"                         // 12
    "]\n"                            // 13
    "limits = 5\n"                   // 14
    "\n"                             // 15
    "[logging]\n"                    // 16
    "level = \"verbose\"\n"          // 17
    "\n"                             // 18
    "[[room]]\n"                     // 19
    "name = \"alpha\"\n"             // 20
    "secret = \"s1\"\n"              // 21
    "\n"                             // 22
    "[[room]]\n"                     // 23
    "name = \"beta\"\n"              // 24
    "secert = \"s2\"\n"              // 25
    "\n"                             // 26
    "[[room]]\n"                     // 27
    "name = \"gamma\"\n"             // 28
    "secret = \"s3\"\n"              // 29
    "[room.limits]\n"                // 30
    "members = 4\n";                 // 31

Document doc() {
  return Document::parse(kConfig, "test.conf");
}

// Runs `f`, which must throw ConfigError, and returns the error for inspection.
template <typename F>
ConfigError error_of(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e;
  }
  FAIL("no ConfigError thrown");
  return ConfigError("", 0, "", "");
}

}  // namespace

TEST_CASE("ConfigError formats file:line: key: problem", "[config]") {
  const ConfigError e("a.conf", 7, "server.port", "bad");
  CHECK(std::string(e.what()) == "a.conf:7: server.port: bad");
  CHECK(e.file() == "a.conf");
  CHECK(e.line() == 7);
  CHECK(e.key() == "server.port");
  CHECK(std::string(ConfigError("x", 0, "k", "p").what()) == "x: k: p");
  CHECK(std::string(ConfigError("x", 3, "", "p").what()) == "x:3: p");
}

TEST_CASE("get_int: range and type errors name line and full key", "[config]") {
  const Document d = doc();
  const Section server = d.section("server");
  auto e = error_of([&] { (void)server.get_int("member_timeout_ms", 1000, 100, 60000); });
  CHECK(std::string(e.what()) ==
        "test.conf:4: server.member_timeout_ms: 50 is out of range; allowed 100..60000 "
        "(default 1000)");
  CHECK(e.file() == "test.conf");
  CHECK(e.line() == 4);
  CHECK(e.key() == "server.member_timeout_ms");

  e = error_of([&] { (void)server.get_int("port", 7930, 1, 65535); });
  CHECK(std::string(e.what()) ==
        "test.conf:3: server.port: expected an integer, got string \"abc\"");

  // A float is never silently truncated to an integer.
  e = error_of([&] { (void)server.get_int("max_members", 16, 1, 64); });
  CHECK(std::string(e.what()) ==
        "test.conf:5: server.max_members: expected an integer, got float 16.5");

  CHECK(server.get_int("missing", 1234, 1, 2) == 1234);  // fallback is not range-checked
  CHECK(d.section("room_defaults").get_int("x", 5, 0, 10) == 5);
}

TEST_CASE("get_int: accepted values and bounds are inclusive", "[config]") {
  const Document d = Document::parse("a = 100\nb = 60000\nc = -5\n", "t");
  const Section root = d.root();
  CHECK(root.get_int("a", 0, 100, 60000) == 100);
  CHECK(root.get_int("b", 0, 100, 60000) == 60000);
  CHECK(root.get_int("c", 0, -10, 10) == -5);
  const auto e = error_of([&] { (void)root.get_int("b", 0, 100, 59999); });
  CHECK(e.line() == 2);
  CHECK(e.key() == "b");
}

TEST_CASE("get_double accepts integers, rejects other types, NaN and out-of-range", "[config]") {
  const Document d = doc();
  const Section server = d.section("server");
  CHECK(server.get_double("ratio", 1.0, 0.0, 10.0) == 3.0);
  auto e = error_of([&] { (void)server.get_double("ratio", 1.5, 0.5, 2.0); });
  CHECK(std::string(e.what()) ==
        "test.conf:6: server.ratio: 3 is out of range; allowed 0.5..2.0 (default 1.5)");
  e = error_of([&] { (void)server.get_double("gain", 0.0, -1.0, 1.0); });
  CHECK(std::string(e.what()) ==
        "test.conf:7: server.gain: expected a number, got string \"loud\"");
  CHECK(server.get_double("max_members", 0.0, 0.0, 100.0) == 16.5);

  const Document n = Document::parse("x = nan\ny = 0.25\n", "n.conf");
  e = error_of([&] { (void)n.root().get_double("x", 1.0, 0.0, 2.0); });
  CHECK(e.line() == 1);
  CHECK(std::string(e.what()) ==
        "n.conf:1: x: nan is out of range; allowed 0.0..2.0 (default 1.0)");
  CHECK(n.root().get_double("y", 1.0, 0.0, 2.0) == 0.25);
  CHECK(n.root().get_double("z", 1.5, 0.0, 2.0) == 1.5);
}

TEST_CASE("get_bool, get_string, require_string and get_choice type errors", "[config]") {
  const Document d = doc();
  const Section server = d.section("server");
  auto e = error_of([&] { (void)server.get_bool("ipv6", false); });
  CHECK(std::string(e.what()) ==
        "test.conf:8: server.ipv6: expected a boolean (true or false), got string \"yes\"");
  CHECK(server.get_bool("absent", true));

  e = error_of([&] { (void)server.get_string("name", "x"); });
  CHECK(std::string(e.what()) == "test.conf:9: server.name: expected a string, got integer 42");
  e = error_of([&] { (void)server.require_string("name"); });
  CHECK(e.line() == 9);
  CHECK(server.get_string("absent", "fallback") == "fallback");

  const std::vector<std::string_view> levels{"error", "warning", "notice", "info", "debug"};
  e = error_of([&] { (void)d.section("logging").get_choice("level", "info", levels); });
  CHECK(std::string(e.what()) ==
        "test.conf:17: logging.level: \"verbose\" is not allowed; allowed: error, warning, "
        "notice, info, debug (default info)");
  e = error_of([&] { (void)server.get_choice("name", "info", levels); });
  CHECK(std::string(e.what()) ==
        "test.conf:9: server.name: expected a string, got integer 42; allowed: error, warning, "
        "notice, info, debug");
  CHECK(d.section("logging").get_choice("absent", "info", levels) == "info");
  const Document ok = Document::parse("[logging]\nlevel = \"debug\"\n", "ok.conf");
  CHECK(ok.section("logging").get_choice("level", "info", levels) == "debug");
}

TEST_CASE("missing required keys name the table's line", "[config]") {
  const Document d = doc();
  const auto rooms = d.root().tables("room");
  REQUIRE(rooms.size() == 3);
  CHECK(rooms[0].require_string("secret") == "s1");
  auto e = error_of([&] { (void)rooms[1].require_string("secret"); });
  CHECK(std::string(e.what()) == "test.conf:23: room[1].secret: required key is missing");
  CHECK(e.line() == 23);
  CHECK(e.key() == "room[1].secret");

  e = error_of([&] { (void)d.section("server").require_string("bind"); });
  CHECK(e.line() == 2);
  CHECK(e.key() == "server.bind");

  e = error_of([&] { (void)d.section("tls").require_string("cert"); });
  CHECK(std::string(e.what()) ==
        "test.conf: tls.cert: required key is missing (there is no [tls] table)");
  CHECK(e.line() == 0);

  e = error_of([&] { (void)d.root().require_string("version"); });
  CHECK(e.key() == "version");
  CHECK(e.line() == 0);
}

TEST_CASE("string lists: values and element errors", "[config]") {
  const Document d = doc();
  auto e = error_of([&] { (void)d.section("server").get_string_list("hosts"); });
  CHECK(std::string(e.what()) == "test.conf:12: server.hosts[1]: expected a string, got integer 7");
  e = error_of([&] { (void)d.section("server").get_string_list("name"); });
  CHECK(std::string(e.what()) ==
        "test.conf:9: server.name: expected an array of strings, got integer 42");
  CHECK(d.section("server").get_string_list("absent").empty());

  const Document ok = Document::parse("list = [\"a\", \"b c\"]\nempty = []\n", "ok.conf");
  CHECK(ok.root().get_string_list("list") == std::vector<std::string>{"a", "b c"});
  CHECK(ok.root().get_string_list("empty").empty());
}

TEST_CASE("nested tables and arrays of tables", "[config]") {
  const Document d = doc();
  const auto rooms = d.root().tables("room");
  REQUIRE(rooms.size() == 3);
  CHECK(rooms[0].path() == "room[0]");
  CHECK(rooms[2].path() == "room[2]");
  CHECK(rooms[0].get_string("name", "") == "alpha");
  CHECK(rooms[1].get_string("name", "") == "beta");
  CHECK(rooms[2].get_string("name", "") == "gamma");
  CHECK(rooms[1].line_of("name") == 24);
  CHECK(rooms[1].line_of("absent") == 23);  // the table's header line

  const Section limits = rooms[2].table("limits");
  CHECK(limits.path() == "room[2].limits");
  CHECK(limits.get_int("members", 16, 1, 16) == 4);
  auto e = error_of([&] { (void)limits.get_int("members", 16, 8, 16); });
  CHECK(e.key() == "room[2].limits.members");
  CHECK(e.line() == 31);

  const Section missing = rooms[0].table("limits");
  CHECK(missing.path() == "room[0].limits");
  CHECK_FALSE(missing.has("members"));
  CHECK(missing.get_int("members", 16, 1, 16) == 16);
  CHECK(missing.line_of("members") == 0);

  CHECK(d.root().path().empty());
  CHECK(d.section("server").path() == "server");
  CHECK(d.section("server").has("port"));
  CHECK_FALSE(d.section("server").has("nope"));
  CHECK(d.root().tables("absent").empty());

  // Wrong shapes are errors, never silently empty.
  e = error_of([&] { (void)d.section("server").table("limits"); });
  CHECK(std::string(e.what()) == "test.conf:14: server.limits: expected a table, got integer 5");
  e = error_of([&] { (void)d.root().table("room"); });
  CHECK(std::string(e.what()) ==
        "test.conf:19: room: expected a table [room], got an array of tables [[room]]");
  e = error_of([&] { (void)d.root().tables("server"); });
  CHECK(std::string(e.what()) ==
        "test.conf:2: server: expected an array of tables [[server]], got a table [server]");
  e = error_of([&] { (void)d.section("server").tables("port"); });
  CHECK(e.key() == "server.port");
  const Document mixed = Document::parse("room = [{ name = \"a\" }, 3]\n", "m.conf");
  e = error_of([&] { (void)mixed.root().tables("room"); });
  CHECK(std::string(e.what()) == "m.conf:1: room[1]: expected a table, got integer 3");
}

TEST_CASE("Section::fail points at the key, or the table when the key is absent", "[config]") {
  const Document d = doc();
  const auto rooms = d.root().tables("room");
  auto e = error_of([&] { rooms[2].fail("name", "duplicate room name"); });
  CHECK(std::string(e.what()) == "test.conf:28: room[2].name: duplicate room name");
  e = error_of([&] { rooms[2].fail("capacity", "needs members"); });
  CHECK(e.line() == 27);
}

TEST_CASE("unknown keys are reported with the nearest asked-for key", "[config]") {
  const char* text =
      "top = 1\n"         // 1
      "[server]\n"        // 2
      "port = 1\n"        // 3
      "prot = 2\n"        // 4
      "zzzzzz = 3\n"      // 5
      "[srever]\n"        // 6
      "port = 4\n"        // 7
      "[[room]]\n"        // 8
      "secret = \"a\"\n"  // 9
      "[[room]]\n"        // 10
      "secert = \"b\"\n"  // 11
      "[room.limits]\n"   // 12
      "membres = 3\n";    // 13
  const Document d = Document::parse(text, "u.conf");
  (void)d.root().get_int("tip", 0, 0, 10);
  (void)d.section("server").get_int("port", 0, 0, 10);
  for (const auto& room : d.root().tables("room")) {
    (void)room.get_string("secret", "");
    (void)room.table("limits").get_int("members", 1, 1, 16);
  }
  const auto unknown = d.unknown_keys();
  REQUIRE(unknown.size() == 6);
  CHECK(unknown[0].key == "top");
  CHECK(unknown[0].line == 1);
  CHECK(unknown[0].suggestion == "tip");
  CHECK(unknown[1].key == "server.prot");
  CHECK(unknown[1].line == 4);
  CHECK(unknown[1].suggestion == "server.port");
  CHECK(unknown[1].message() ==
        "u.conf:4: unknown key 'server.prot' (did you mean 'server.port'?)");
  CHECK(unknown[2].key == "server.zzzzzz");
  CHECK(unknown[2].suggestion.empty());
  CHECK(unknown[2].message() == "u.conf:5: unknown key 'server.zzzzzz'");
  CHECK(unknown[3].key == "srever");
  CHECK(unknown[3].line == 6);
  CHECK(unknown[3].suggestion == "server");
  CHECK(unknown[4].key == "room[1].secert");
  CHECK(unknown[4].line == 11);
  CHECK(unknown[4].suggestion == "room[1].secret");
  CHECK(unknown[5].key == "room[1].limits.membres");
  CHECK(unknown[5].line == 13);
  CHECK(unknown[5].suggestion == "room[1].limits.members");
  for (const auto& u : unknown) CHECK(u.file == "u.conf");
}

TEST_CASE("a fully read document has no unknown keys", "[config]") {
  const Document d = Document::parse("[a]\nx = 1\n[[b]]\ny = 2\n", "k.conf");
  (void)d.section("a").get_int("x", 0, 0, 5);
  for (const auto& b : d.root().tables("b")) (void)b.get_int("y", 0, 0, 5);
  CHECK(d.unknown_keys().empty());
}

TEST_CASE("overrides replace, add and fix values", "[config]") {
  Document d = doc();
  d.set_override("server.port=7931");
  CHECK(d.section("server").get_int("port", 7930, 1, 65535) == 7931);  // fixes "abc" from the file
  d.set_override("server.member_timeout_ms = 2000");
  CHECK(d.section("server").get_int("member_timeout_ms", 1000, 100, 60000) == 2000);
  d.set_override("server.ipv6=true");
  CHECK(d.section("server").get_bool("ipv6", false));
  d.set_override("server.name=\"quoted\"");
  CHECK(d.section("server").get_string("name", "") == "quoted");
  d.set_override("server.bind=0.0.0.0");  // not TOML: taken as a plain string
  CHECK(d.section("server").get_string("bind", "") == "0.0.0.0");
  d.set_override("server.hosts=[\"x\", \"y\"]");
  CHECK(d.section("server").get_string_list("hosts") == std::vector<std::string>{"x", "y"});
  d.set_override("logging.level=debug");
  CHECK(d.section("logging").get_choice("level", "info", {"info", "debug"}) == "debug");
  d.set_override("stats.socket.path=/run/jambox/stats");  // creates [stats] and [stats.socket]
  CHECK(d.section("stats").table("socket").get_string("path", "") == "/run/jambox/stats");
  d.set_override("ratio=0.75");
  CHECK(d.root().get_double("ratio", 1.0, 0.0, 1.0) == 0.75);
}

TEST_CASE("errors in overridden values name the command line", "[config]") {
  Document d = doc();
  d.set_override("server.port=abc");
  auto e = error_of([&] { (void)d.section("server").get_int("port", 7930, 1, 65535); });
  CHECK(e.file() == "command line (--set server.port)");
  CHECK(e.line() == 0);
  CHECK(e.key() == "server.port");
  CHECK(std::string(e.what()) ==
        "command line (--set server.port): server.port: expected an integer, got string \"abc\"");

  d.set_override("server.member_timeout_ms=70000");
  e = error_of([&] { (void)d.section("server").get_int("member_timeout_ms", 1000, 100, 60000); });
  CHECK(std::string(e.what()) ==
        "command line (--set server.member_timeout_ms): server.member_timeout_ms: 70000 is out "
        "of range; allowed 100..60000 (default 1000)");

  // Keys next to an override still point into the file.
  e = error_of([&] { (void)d.section("server").get_bool("ipv6", false); });
  CHECK(e.file() == "test.conf");
  CHECK(e.line() == 8);

  // An override that nobody reads is an unknown key from the command line.
  d.set_override("server.prot=1");
  (void)d.section("server").get_string("bind", "");
  bool found = false;
  for (const auto& u : d.unknown_keys()) {
    if (u.key != "server.prot") continue;
    found = true;
    CHECK(u.file == "command line (--set server.prot)");
    CHECK(u.line == 0);
    CHECK(u.suggestion == "server.port");
  }
  CHECK(found);
}

TEST_CASE("malformed overrides are rejected", "[config]") {
  Document d = doc();
  auto e = error_of([&] { d.set_override("server.port"); });
  CHECK(e.file() == "command line (--set server.port)");
  CHECK(std::string(e.what()) ==
        "command line (--set server.port): server.port: expected section.key=value");
  e = error_of([&] { d.set_override("=5"); });
  CHECK(e.line() == 0);
  e = error_of([&] { d.set_override("server..port=5"); });
  CHECK(e.key() == "server..port");
  e = error_of([&] { d.set_override("server.port.x=1"); });
  CHECK(std::string(e.what()) ==
        "command line (--set server.port.x): server.port.x: cannot set: server.port is string "
        "\"abc\" (test.conf:3), not a table");
  e = error_of([&] { d.set_override("room.secret=x"); });
  CHECK(e.key() == "room.secret");
  // A rejected override leaves the document as it was.
  CHECK(d.section("server").get_string("port", "") == "abc");
}

TEST_CASE("syntax errors carry the parser's line and column", "[config]") {
  auto e = error_of([] { (void)Document::parse("a = 1\n[server]\nport = \n", "s.conf"); });
  CHECK(e.file() == "s.conf");
  CHECK(e.line() == 3);
  CHECK(e.key().empty());
  const std::string what = e.what();
  CHECK(what.rfind("s.conf:3: syntax error at column ", 0) == 0);
  CHECK(what.find("expected") != std::string::npos);

  e = error_of([] { (void)Document::parse("[a]\nx = 1\n[a]\n", "dup.conf"); });
  CHECK(e.line() == 3);
}

TEST_CASE("load reads files and reports unreadable ones with errno text", "[config]") {
  const auto dir =
      std::filesystem::temp_directory_path() / ("jambox-config-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "jambox-broadcast.conf";
  {
    std::ofstream out(file);
    out << "[server]\n\nmember_timeout_ms = 50\n";
  }
  const Document d = Document::load(file);
  CHECK(d.source_name() == file.string());
  auto e =
      error_of([&] { (void)d.section("server").get_int("member_timeout_ms", 1000, 100, 60000); });
  CHECK(std::string(e.what()) == file.string() +
                                     ":3: server.member_timeout_ms: 50 is out of range; allowed "
                                     "100..60000 (default 1000)");

  const auto missing = dir / "missing.conf";
  e = error_of([&] { (void)Document::load(missing); });
  CHECK(e.file() == missing.string());
  CHECK(e.line() == 0);
  CHECK(std::string(e.what()) == missing.string() + ": cannot read: No such file or directory");

  e = error_of([&] { (void)Document::load(dir); });
  CHECK(std::string(e.what()) == dir.string() + ": cannot read: Is a directory");

  std::filesystem::remove_all(dir);
}

TEST_CASE("documents can be moved", "[config]") {
  Document a = doc();
  Document b = std::move(a);
  CHECK(b.source_name() == "test.conf");
  CHECK(b.section("server").get_int("member_timeout_ms", 0, 0, 100) == 50);
}

TEST_CASE("edit_distance is the Levenshtein distance", "[config]") {
  using jambox::config::edit_distance;
  CHECK(edit_distance("", "") == 0);
  CHECK(edit_distance("port", "port") == 0);
  CHECK(edit_distance("port", "prt") == 1);
  CHECK(edit_distance("port", "prot") == 2);
  CHECK(edit_distance("kitten", "sitting") == 3);
  CHECK(edit_distance("", "abc") == 3);
  CHECK(edit_distance("abc", "") == 3);
}
