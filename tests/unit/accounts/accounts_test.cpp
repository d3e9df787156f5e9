// What lib/accounts accepts (user names, player keys, passwords), the ACL it writes for the
// broker's web listener (exactly the rights of docs/web.md, nothing more), and how the account
// list refuses contradictions with the exit codes jamboxctl passes on.
#include <jambox/accounts/accounts.hpp>
#include <jambox/test/temp_dir.hpp>

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace ja = jambox::accounts;
namespace jt = jambox::test;

namespace {

const std::string kBoxA = "7c1f3a52-8d4e-4b6a-9f21-3e5d6c7b8a90";
const std::string kBoxB = "d2e4f6a8-1b3c-4d5e-8f70-9a1b2c3d4e5f";

// The rules of each user in an ACL text, in file order (comments and blank lines dropped).
// A rule before any "user" line is filed under "" (the rules of every client).
std::map<std::string, std::vector<std::string>> rules_by_user(const std::string& acl) {
  std::map<std::string, std::vector<std::string>> rules;
  std::istringstream lines(acl);
  std::string line;
  std::string user;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind("user ", 0) == 0) {
      user = line.substr(5);
      rules[user];  // a user with no rules is still listed
      continue;
    }
    rules[user].push_back(line);
  }
  return rules;
}

std::vector<std::string> box_rules(const std::string& prefix, const std::string& box,
                                   const std::string& user) {
  const std::string base = prefix + "/player/" + box + "/";
  return {"topic read " + base + "status",
          "topic read " + base + "meters",
          "topic read " + base + "state",
          "topic read " + base + "capabilities",
          "topic read " + base + "command/ack",
          "topic read " + base + "room/#",
          "topic write " + base + "command/from/" + user,
          "topic write " + base + "chat/from/" + user};
}

ja::Musician musician(std::string name, std::set<std::string> boxes, bool admin = false) {
  ja::Musician m;
  m.name = std::move(name);
  m.boxes = std::move(boxes);
  m.admin = admin;
  return m;
}

unsigned mode_of(const std::filesystem::path& file) {
  struct stat info {};
  REQUIRE(::stat(file.c_str(), &info) == 0);
  return info.st_mode & 07777U;
}

// An account store in a temporary directory. `true` stands in for mosquitto_passwd (it accepts
// any arguments and writes nothing), and there is no broker to reload.
struct Store {
  jt::TempDir dir{"accounts"};
  ja::Paths paths;
  Store() {
    paths.dir = dir.path() / "web";
    paths.passwd_tool = "true";
    paths.broker_pid_file = dir.path() / "no-broker.pid";
  }
  [[nodiscard]] ja::Accounts accounts() const { return ja::Accounts(paths); }
};

template <typename Action>
int exit_code_of(Action&& action) {
  try {
    action();
  } catch (const ja::AccountError& e) {
    return e.exit_code();
  }
  return 0;
}

}  // namespace

TEST_CASE("user names are one plain topic level starting with a letter", "[accounts]") {
  for (const std::string& name :
       std::vector<std::string>{"a", "alice", "bob-2", "dj_x", "z9", std::string(32, 'q')}) {
    INFO(name);
    CHECK(ja::valid_user_name(name));
  }
  for (const std::string& name :
       std::vector<std::string>{"", "admin", "jamboxctl", "jambox-broadcast", std::string(33, 'q'),
                                "Alice", "9lives", "_alice", "-alice", "al ice", "al/ice", "al+ice",
                                "al#ice", "al.ice", "al\nice", std::string("al\0ice", 6),
                                "al\xc3\xaf"
                                "ce"}) {
    INFO(name);
    CHECK_FALSE(ja::valid_user_name(name));
  }
}

TEST_CASE("player keys are one topic level without wildcards", "[accounts]") {
  for (const std::string& key : std::vector<std::string>{kBoxA, "box-1", std::string(128, 'k')}) {
    INFO(key);
    CHECK(ja::valid_box_key(key));
  }
  for (const std::string& key :
       std::vector<std::string>{"", std::string(129, 'k'), "a/b", "+", "#", "box+", "a b", "a\tb",
                                "a\x7f", std::string("a\0b", 3)}) {
    INFO(key);
    CHECK_FALSE(ja::valid_box_key(key));
  }
}

TEST_CASE("passwords are 8 to 256 bytes without control characters", "[accounts]") {
  CHECK(ja::password_problem("12345678").empty());
  CHECK(ja::password_problem("correct horse battery staple").empty());
  CHECK(ja::password_problem(std::string(256, 'p')).empty());
  CHECK(ja::password_problem("f\xc3\xbc"
                             "nf Tuben!")
            .empty());  // UTF-8 is fine

  CHECK(ja::password_problem("").find("at least 8") != std::string::npos);
  CHECK(ja::password_problem("1234567").find("at least 8") != std::string::npos);
  CHECK(ja::password_problem(std::string(257, 'p')).find("at most 256") != std::string::npos);
  for (const std::string& password : std::vector<std::string>{"new\nline12", "tab\there12",
                                                              "del\x7f"
                                                              "12345",
                                                              std::string("nul\0"
                                                                          "12345",
                                                                          9)}) {
    INFO(password);
    CHECK(ja::password_problem(password).find("control characters") != std::string::npos);
  }
}

TEST_CASE("a granted musician gets exactly the reads and writes of its boxes", "[accounts]") {
  const std::string acl = ja::acl_text({musician("alice", {kBoxA})}, "jambox");
  const auto rules = rules_by_user(acl);
  REQUIRE(rules.size() == 1);
  REQUIRE(rules.count("alice") == 1);
  CHECK(rules.at("alice") == box_rules("jambox", kBoxA, "alice"));
}

TEST_CASE("each user's rules name its own boxes and its own name only", "[accounts]") {
  const std::string acl =
      ja::acl_text({musician("alice", {kBoxA, kBoxB}), musician("bob", {kBoxB})}, "studio");
  const auto rules = rules_by_user(acl);
  REQUIRE(rules.size() == 2);
  std::vector<std::string> alice = box_rules("studio", kBoxA, "alice");
  const std::vector<std::string> alice_b = box_rules("studio", kBoxB, "alice");
  alice.insert(alice.end(), alice_b.begin(), alice_b.end());
  CHECK(rules.at("alice") == alice);
  CHECK(rules.at("bob") == box_rules("studio", kBoxB, "bob"));
  CHECK(acl.find("jambox/") == std::string::npos);  // the prefix given, not the default
}

TEST_CASE("an admin musician gets the same rights on every box", "[accounts]") {
  const auto rules = rules_by_user(ja::acl_text({musician("root-dj", {kBoxA}, true)}, "jambox"));
  REQUIRE(rules.size() == 1);
  CHECK(rules.at("root-dj") == box_rules("jambox", "+", "root-dj"));
}

TEST_CASE("a musician without boxes gets no rights at all", "[accounts]") {
  const std::string acl =
      ja::acl_text({musician("carol", {}), musician("dave", {kBoxA})}, "jambox");
  const auto rules = rules_by_user(acl);
  REQUIRE(rules.count("carol") == 1);
  CHECK(rules.at("carol").empty());
  CHECK(rules.at("dave") == box_rules("jambox", kBoxA, "dave"));
  CHECK(rules.count("") == 0);  // and nothing granted to every client

  const auto nobody = rules_by_user(ja::acl_text({}, "jambox"));
  CHECK(nobody.empty());
}

TEST_CASE("the ACL text does not depend on the order of the account list", "[accounts]") {
  const auto alice = musician("alice", {kBoxB, kBoxA});
  const auto bob = musician("bob", {kBoxA});
  CHECK(ja::acl_text({alice, bob}, "jambox") == ja::acl_text({alice, bob}, "jambox"));
  CHECK(rules_by_user(ja::acl_text({bob, alice}, "jambox")) ==
        rules_by_user(ja::acl_text({alice, bob}, "jambox")));
}

TEST_CASE("the account list refuses contradictions with jamboxctl's exit codes", "[accounts]") {
  Store store;
  ja::Accounts accounts = store.accounts();
  accounts.add(musician("alice", {kBoxA}), "long enough");
  // No broker: the change is saved and the reason it did not reach the broker is kept.
  CHECK(accounts.reload_problem().find("no-broker.pid") != std::string::npos);

  const auto listed = accounts.list();
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].name == "alice");
  CHECK(listed[0].boxes == std::set<std::string>{kBoxA});
  CHECK_FALSE(listed[0].admin);
  CHECK(rules_by_user(jt::read_text_file(store.paths.acl())).at("alice") ==
        box_rules("jambox", kBoxA, "alice"));
  for (const auto& file : {store.paths.acl(), store.paths.passwd(), store.paths.store()}) {
    INFO(file);
    CHECK((mode_of(file) & 0007U) == 0U);
  }

  CHECK(exit_code_of([&] { accounts.add(musician("alice", {}), "long enough"); }) ==
        ja::kExitConflict);
  CHECK(exit_code_of([&] { accounts.add(musician("Alice", {}), "long enough"); }) ==
        ja::kExitUsage);
  CHECK(exit_code_of([&] { accounts.add(musician("erin", {"a/b"}), "long enough"); }) ==
        ja::kExitUsage);
  CHECK(exit_code_of([&] { accounts.add(musician("erin", {}), "short"); }) == ja::kExitUsage);
  CHECK(exit_code_of([&] { accounts.grant("nobody", kBoxA); }) == ja::kExitConflict);
  CHECK(exit_code_of([&] { accounts.revoke("alice", kBoxB); }) == ja::kExitConflict);
  CHECK(exit_code_of([&] { accounts.remove("nobody"); }) == ja::kExitConflict);
  CHECK(exit_code_of([&] { accounts.set_password("nobody", "long enough"); }) == ja::kExitConflict);
  CHECK(accounts.list().size() == 1);

  accounts.grant("alice", kBoxB);
  accounts.revoke("alice", kBoxA);
  CHECK(accounts.list().at(0).boxes == std::set<std::string>{kBoxB});
  accounts.remove("alice");
  CHECK(accounts.list().empty());
  CHECK(rules_by_user(jt::read_text_file(store.paths.acl())).empty());
}

TEST_CASE("a malformed account list is refused, named, and left as it is", "[accounts]") {
  Store store;
  std::filesystem::create_directories(store.paths.dir);
  const std::string broken =
      GENERATE(std::string("{\"users\": [ {\"name\": "), std::string("[]"),
               std::string("{\"users\": {}}"), std::string(R"({"users": [{"name": "Alice"}]})"),
               std::string(R"({"users": [{"name": "a", "boxes": ["x/y"]}]})"),
               std::string(R"({"users": [{"name": "a"}, {"name": "a"}]})"),
               std::string(R"({"users": [{"name": "a", "admin": 1}]})"));
  INFO(broken);
  { std::ofstream(store.paths.store()) << broken; }
  ja::Accounts accounts = store.accounts();
  try {
    static_cast<void>(accounts.list());
    FAIL("a malformed list was accepted");
  } catch (const ja::AccountError& e) {
    CHECK(e.exit_code() == ja::kExitConfig);
    CHECK(std::string(e.what()).find(store.paths.store().string()) != std::string::npos);
  }
  CHECK(exit_code_of([&] { accounts.add(musician("erin", {kBoxA}), "long enough"); }) ==
        ja::kExitConfig);
  CHECK(jt::read_text_file(store.paths.store()) == broken);
  CHECK_FALSE(std::filesystem::exists(store.paths.acl()));
}
