// Musicians' accounts on the broker's web listener, end to end: `jamboxctl user` writes the
// password file and the ACL and reloads a real mosquitto running the shipped configuration; the
// stock mosquitto clients then log in through the listener's unix socket (as jambox-web's
// WebSocket tunnel does) while the boxes use their certificates on the TLS listener.
//
// Proving that a message is NOT delivered needs no quiet period (mosquitto_clients.hpp says
// why), nor does a change of the accounts (musician_accounts.hpp).
#include <jambox/test/eventually.hpp>
#include <jambox/test/mosquitto.hpp>
#include <jambox/test/mosquitto_clients.hpp>
#include <jambox/test/musician_accounts.hpp>
#include <jambox/test/temp_dir.hpp>
#include <jambox/test/text.hpp>

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace jt = jambox::test;
using jt::anonymous_web_login;
using jt::Finished;
using jt::Login;
using jt::Message;
using jt::not_authorized;
using jt::publish;
using jt::require_subscribed;
using jt::Subscriber;
using jt::web_login;

namespace {

constexpr std::chrono::milliseconds kWait{5000};  // for something that must happen
constexpr std::string_view kSpoofed = "spoofed";
constexpr std::string_view kGenuine = "genuine";

// Player keys as boxes have them (UUIDs).
const std::string kBoxA = "7c1f3a52-8d4e-4b6a-9f21-3e5d6c7b8a90";
const std::string kBoxB = "d2e4f6a8-1b3c-4d5e-8f70-9a1b2c3d4e5f";

// With spaces: the password travels whole, and a search for it in the files is meaningful.
const std::string kAlicePassword = "alice plays tuba 42";
const std::string kBobPassword = "bob-drums-hard-7";

std::string player_topic(const std::string& player, std::string_view leaf) {
  return "jambox/player/" + player + "/" + std::string(leaf);
}

std::string command_from(const std::string& player, std::string_view user) {
  return player_topic(player, "command/from/" + std::string(user));
}

// A publication the broker accepted from a logged-in client, then dropped for the ACL.
bool refused_by_acl(const Finished& publisher) {
  return !publisher.failed() && not_authorized(publisher);
}

unsigned mode_of(const std::filesystem::path& file) {
  struct stat info {};
  REQUIRE(::stat(file.c_str(), &info) == 0);
  return info.st_mode & 07777U;
}

}  // namespace

TEST_CASE("the web listener lets in only the musicians jamboxctl added, by their password",
          "[integration][broker][accounts]") {
  jt::TempDir dir("web-accounts");
  jt::MosquittoBroker broker(dir, {kBoxA});
  const jt::MusicianAccounts web(dir, broker);
  const std::string topic = command_from(kBoxA, "alice");

  const Finished anonymous = publish(dir, anonymous_web_login(broker), topic, kSpoofed);
  const Finished unknown =
      publish(dir, web_login(broker, "alice", kAlicePassword), topic, kSpoofed);
  web.add("alice", kAlicePassword, {"--box", kBoxA});
  const Finished wrong_password =
      publish(dir, web_login(broker, "alice", "alice plays tuba 43"), topic, kSpoofed);
  const Finished empty_password = publish(dir, web_login(broker, "alice", ""), topic, kSpoofed);
  const Finished other_name =
      publish(dir, web_login(broker, "bob", kAlicePassword), topic, kSpoofed);
  const Finished alice = publish(dir, web_login(broker, "alice", kAlicePassword), topic, kGenuine);

  const std::string log = broker.log();
  INFO("anonymous:\n"
       << anonymous.output << "\nbefore being added:\n"
       << unknown.output << "\nwrong password:\n"
       << wrong_password.output << "\nempty password:\n"
       << empty_password.output << "\nanother name:\n"
       << other_name.output << "\nalice:\n"
       << alice.output << "\nbroker log:\n"
       << log);
  CHECK(anonymous.failed());
  CHECK(unknown.failed());
  CHECK(wrong_password.failed());
  CHECK(empty_password.failed());
  CHECK(other_name.failed());
  for (const Finished* refused : {&anonymous, &unknown, &wrong_password, &other_name}) {
    CHECK(not_authorized(*refused));
  }
  CHECK_FALSE(alice.failed());
  CHECK_FALSE(not_authorized(alice));
  // Every musician's session came through the socket, and only alice's was accepted.
  CHECK(jt::occurrences(log, "u'alice'") == 1);
  CHECK(log.find(broker.web_socket().string()) != std::string::npos);
}

TEST_CASE("a musician's command reaches her box under her own name and nowhere else",
          "[integration][broker][accounts]") {
  jt::TempDir dir("web-accounts");
  jt::MosquittoBroker broker(dir, {kBoxA, kBoxB});
  const jt::MusicianAccounts web(dir, broker);
  web.add("alice", kAlicePassword, {"--box", kBoxA});
  web.add("bob", kBobPassword, {"--box", kBoxB});
  const Login alice = web_login(broker, "alice", kAlicePassword);
  const Login bob = web_login(broker, "bob", kBobPassword);

  // The boxes subscribe as jamboxd does: the admin's topic and the musicians'.
  Subscriber box_a(dir, "box-a", broker.client_args(kBoxA),
                   {player_topic(kBoxA, "command"), player_topic(kBoxA, "command/from/+")});
  Subscriber box_b(dir, "box-b", broker.client_args(kBoxB),
                   {player_topic(kBoxB, "command"), player_topic(kBoxB, "command/from/+")});
  require_subscribed(box_a, broker);
  require_subscribed(box_b, broker);

  const std::string command = R"({"command_id":"w1","command_type":"set_gain","payload":{}})";
  CHECK_FALSE(publish(dir, alice, command_from(kBoxA, "alice"), command).failed());
  const bool commanded = box_a.wait_for(command_from(kBoxA, "alice"), command);
  INFO("box A:\n" << box_a.output() << "\nbroker log:\n" << broker.log());
  REQUIRE(commanded);

  // Bob on a box he was not granted, alice under bob's name, alice on the admin's topic and on
  // a box she was not granted.
  const std::vector<std::pair<const Login*, std::string>> spoofs = {
      {&bob, command_from(kBoxA, "bob")},       {&alice, command_from(kBoxA, "bob")},
      {&alice, player_topic(kBoxA, "command")}, {&alice, command_from(kBoxB, "alice")},
      {&alice, command_from(kBoxB, "bob")},     {&bob, player_topic(kBoxB, "command")},
  };
  for (const auto& [login, topic] : spoofs) {
    const Finished spoof = publish(dir, *login, topic, kSpoofed);
    INFO((login == &alice ? "alice" : "bob") << " publishing on " << topic << ":\n"
                                             << spoof.output);
    CHECK(refused_by_acl(spoof));
  }
  // Then each musician's own, allowed command.
  const Finished alice_genuine = publish(dir, alice, command_from(kBoxA, "alice"), kGenuine);
  const Finished bob_genuine = publish(dir, bob, command_from(kBoxB, "bob"), kGenuine);
  const bool a_done = box_a.wait_for(command_from(kBoxA, "alice"), kGenuine);
  const bool b_done = box_b.wait_for(command_from(kBoxB, "bob"), kGenuine);

  INFO("box A:\n"
       << box_a.output() << "\nbox B:\n"
       << box_b.output() << "\nalice:\n"
       << alice_genuine.output << "\nbob:\n"
       << bob_genuine.output << "\nbroker log:\n"
       << broker.log());
  REQUIRE(a_done);
  REQUIRE(b_done);
  CHECK(box_a.count(kSpoofed) == 0);
  CHECK(box_b.count(kSpoofed) == 0);
  CHECK(box_a.messages().size() == 2);
  CHECK(box_b.messages().size() == 1);
}

TEST_CASE("a musician reads the status of her boxes only, an admin of every box",
          "[integration][broker][accounts]") {
  jt::TempDir dir("web-accounts");
  jt::MosquittoBroker broker(dir, {kBoxA, kBoxB});
  const jt::MusicianAccounts web(dir, broker);
  web.add("alice", kAlicePassword, {"--box", kBoxA});
  web.add("carol", "carol-runs-the-room", {"--admin"});

  const std::vector<std::string> every_status = {"jambox/player/+/status"};
  // Alice tries everything a box publishes and everything musicians publish.
  Subscriber alice(dir, "alice", web_login(broker, "alice", kAlicePassword),
                   {"jambox/player/+/status", "jambox/player/+/command/from/+", "jambox/#", "#"});
  Subscriber carol(dir, "carol", web_login(broker, "carol", "carol-runs-the-room"), every_status);
  require_subscribed(alice, broker);
  require_subscribed(carol, broker);

  // Box B's status first, then box A's: once A's is in, B's would have been before it.
  const std::string b_status = R"({"state":"jamming","box":"B"})";
  const std::string a_status = R"({"state":"idle","box":"A"})";
  CHECK_FALSE(
      publish(dir, broker.client_args(kBoxB), player_topic(kBoxB, "status"), b_status).failed());
  CHECK_FALSE(
      publish(dir, broker.client_args(kBoxA), player_topic(kBoxA, "status"), a_status).failed());
  const bool alice_got_a = alice.wait_for(player_topic(kBoxA, "status"), a_status);
  const bool carol_got_a = carol.wait_for(player_topic(kBoxA, "status"), a_status);
  const bool carol_got_b = carol.wait_for(player_topic(kBoxB, "status"), b_status);

  INFO("alice:\n"
       << alice.output() << "\ncarol:\n"
       << carol.output() << "\nbroker log:\n"
       << broker.log());
  REQUIRE(alice_got_a);
  CHECK(carol_got_a);
  CHECK(carol_got_b);
  // Whatever her filters (they overlap: a message may come once per matching filter), only
  // box A's status.
  const auto seen = alice.messages();
  REQUIRE_FALSE(seen.empty());
  for (const Message& message : seen) {
    CHECK(message.topic == player_topic(kBoxA, "status"));
    CHECK(message.payload == a_status);
  }
}

TEST_CASE("revoking a box ends a musician's commands and view at once; removing her, her login",
          "[integration][broker][accounts]") {
  jt::TempDir dir("web-accounts");
  jt::MosquittoBroker broker(dir, {kBoxA, kBoxB});
  const jt::MusicianAccounts web(dir, broker);
  web.add("alice", kAlicePassword, {"--box", kBoxA});
  // Dave shares box A: his commands are the genuine ones that come after alice's refused ones.
  web.add("dave", "dave-sings-bass", {"--box", kBoxA});
  const Login alice = web_login(broker, "alice", kAlicePassword);
  const Login dave = web_login(broker, "dave", "dave-sings-bass");
  const Login box_a_login = broker.client_args(kBoxA);
  const Login box_b_login = broker.client_args(kBoxB);

  Subscriber box_a(dir, "box-a", box_a_login, {player_topic(kBoxA, "command/from/+")});
  // Alice's page stays connected throughout, as a browser would.
  Subscriber page(dir, "alice", alice, {"jambox/player/+/status"}, {.client_id = "alice-page"});
  require_subscribed(box_a, broker);
  require_subscribed(page, broker);

  CHECK_FALSE(publish(dir, alice, command_from(kBoxA, "alice"), "before").failed());
  CHECK_FALSE(publish(dir, box_a_login, player_topic(kBoxA, "status"), "before").failed());
  const bool commanded = box_a.wait_for(command_from(kBoxA, "alice"), "before");
  const bool viewed = page.wait_for(player_topic(kBoxA, "status"), "before");
  INFO("box A:\n" << box_a.output() << "\nalice's page:\n" << page.output());
  REQUIRE(commanded);
  REQUIRE(viewed);

  // Box B is granted so that her live page has something it may still receive.
  web.change({"revoke", "alice", kBoxA});
  web.change({"grant", "alice", kBoxB});

  const Finished late_command = publish(dir, alice, command_from(kBoxA, "alice"), kSpoofed);
  CHECK_FALSE(publish(dir, box_a_login, player_topic(kBoxA, "status"), kSpoofed).failed());
  CHECK_FALSE(publish(dir, dave, command_from(kBoxA, "dave"), kGenuine).failed());
  CHECK_FALSE(publish(dir, box_b_login, player_topic(kBoxB, "status"), kGenuine).failed());
  const bool dave_commanded = box_a.wait_for(command_from(kBoxA, "dave"), kGenuine);
  const bool b_viewed = page.wait_for(player_topic(kBoxB, "status"), kGenuine);

  INFO("alice after the revocation:\n"
       << late_command.output << "\nbox A:\n"
       << box_a.output() << "\nalice's page:\n"
       << page.output() << "\nbroker log:\n"
       << broker.log());
  CHECK(refused_by_acl(late_command));
  REQUIRE(dave_commanded);
  REQUIRE(b_viewed);
  CHECK(box_a.count(kSpoofed) == 0);
  CHECK(page.count(kSpoofed) == 0);

  web.change({"remove", "alice"});
  const Finished removed = publish(dir, alice, command_from(kBoxB, "alice"), kSpoofed);
  // Her open session is closed by the reload too, not only new logins refused.
  const bool page_closed = jt::eventually(
      [&] { return broker.log().find("Client alice-page disconnected") != std::string::npos; },
      kWait);
  const std::string passwd = jt::read_text_file(broker.web_dir() / "web.passwd");

  INFO("alice after the removal:\n"
       << removed.output << "\nweb.passwd:\n"
       << passwd << "\nbroker log:\n"
       << broker.log());
  CHECK(removed.failed());
  CHECK(not_authorized(removed));
  CHECK(page_closed);
  CHECK(passwd.find("alice:") == std::string::npos);
  CHECK(passwd.find("dave:") != std::string::npos);
}

TEST_CASE("a new password replaces the old one at once", "[integration][broker][accounts]") {
  jt::TempDir dir("web-accounts");
  jt::MosquittoBroker broker(dir, {kBoxA});
  const jt::MusicianAccounts web(dir, broker);
  const std::string topic = command_from(kBoxA, "alice");
  const std::string new_password = "alice plays trombone now";
  web.add("alice", kAlicePassword, {"--box", kBoxA});
  const std::string hash_before = jt::read_text_file(broker.web_dir() / "web.passwd");

  web.change({"password", "alice", "--password-file", web.ctl().password_file(new_password)});
  const Finished old_login = publish(dir, web_login(broker, "alice", kAlicePassword), topic, "old");
  const Finished new_login = publish(dir, web_login(broker, "alice", new_password), topic, "new");

  INFO("old password:\n"
       << old_login.output << "\nnew password:\n"
       << new_login.output << "\nbroker log:\n"
       << broker.log());
  CHECK(old_login.failed());
  CHECK(not_authorized(old_login));
  CHECK_FALSE(new_login.failed());
  CHECK(jt::read_text_file(broker.web_dir() / "web.passwd") != hash_before);
}

TEST_CASE("the password is stored only as mosquitto's hash and the files are private",
          "[integration][broker][accounts]") {
  jt::TempDir dir("web-accounts");
  jt::MosquittoBroker broker(dir, {kBoxA});
  const jt::MusicianAccounts web(dir, broker);
  web.add("alice", kAlicePassword, {"--box", kBoxA});
  web.add("carol", "carol-runs-the-room", {"--admin"});

  const std::filesystem::path web_dir = broker.web_dir();
  for (const char* name : {"web.passwd", "web.acl", "web-users.json"}) {
    const std::filesystem::path file = web_dir / name;
    const std::string text = jt::read_text_file(file);
    INFO(file << ":\n" << text);
    REQUIRE_FALSE(text.empty());
    CHECK(text.find(kAlicePassword) == std::string::npos);
    CHECK(text.find("alice plays") == std::string::npos);
    CHECK(text.find("carol-runs-the-room") == std::string::npos);
    CHECK((mode_of(file) & 0007U) == 0U);  // not readable by every local user
  }
  const std::string passwd = jt::read_text_file(web_dir / "web.passwd");
  // mosquitto_passwd's PBKDF2-SHA512 ($7$), one line per musician.
  CHECK(passwd.find("alice:$7$") != std::string::npos);
  CHECK(passwd.find("carol:$7$") != std::string::npos);
  CHECK(jt::occurrences(passwd, "\n") == 2);
}

TEST_CASE("jamboxctl user refuses contradictions and bad input with its exit codes",
          "[integration][broker][accounts]") {
  jt::TempDir dir("web-accounts");
  jt::MosquittoBroker broker(dir, {kBoxA});
  const jt::MusicianAccounts web(dir, broker);
  const jt::AccountsCtl& ctl = web.ctl();
  const std::string password = ctl.password_file(kAlicePassword);
  const std::filesystem::path store = broker.web_dir() / "web-users.json";

  const Finished added = ctl.user({"add", "alice", "--box", kBoxA, "--password-file", password});
  INFO(added.output);
  REQUIRE(added.status.code == 0);
  bool list_broken = false;

  SECTION("an existing user") {
    const std::string before = jt::read_text_file(store);
    const Finished again = ctl.user({"add", "alice", "--password-file", password});
    INFO(again.output);
    CHECK(again.status.code == 1);
    CHECK(again.output.find("alice") != std::string::npos);
    CHECK(jt::read_text_file(store) == before);
  }
  SECTION("a bad user name") {
    for (const std::string& name :
         std::vector<std::string>{"Alice", "9lives", "al/ice", std::string(33, 'a')}) {
      const Finished bad = ctl.user({"add", name, "--password-file", password});
      INFO(name << ":\n" << bad.output);
      CHECK(bad.status.code == 64);
      CHECK(bad.output.find("invalid user name") != std::string::npos);
    }
  }
  SECTION("a short password") {
    const Finished bad = ctl.user({"add", "bob", "--password-file", ctl.password_file("short")});
    INFO(bad.output);
    CHECK(bad.status.code == 64);
    CHECK(bad.output.find("at least 8") != std::string::npos);
  }
  SECTION("an unknown user") {
    const Finished grant = ctl.user({"grant", "nobody", kBoxA});
    const Finished remove = ctl.user({"remove", "nobody"});
    INFO(grant.output << remove.output);
    CHECK(grant.status.code == 1);
    CHECK(grant.output.find("no user 'nobody'") != std::string::npos);
    CHECK(remove.status.code == 1);
  }
  SECTION("a grant that does not exist") {
    const Finished revoke = ctl.user({"revoke", "alice", kBoxA + "0"});
    INFO(revoke.output);
    CHECK(revoke.status.code == 1);
  }
  SECTION("a malformed account list") {
    const std::string broken = "{\"users\": [{\"name\": \"alice\", \"boxes\": ";
    dir.write_file("web-users.json", broken);
    REQUIRE(jt::read_text_file(store) == broken);  // the broker's web dir is the test's dir
    const Finished list = ctl.user({"list"});
    const Finished add = ctl.user({"add", "bob", "--password-file", password});
    INFO(list.output << add.output);
    CHECK(list.status.code == 78);
    CHECK(list.output.find(store.string()) != std::string::npos);
    CHECK(add.status.code == 78);
    CHECK(add.output.find(store.string()) != std::string::npos);
    CHECK(jt::read_text_file(store) == broken);  // left for the admin to repair
    list_broken = true;
  }
  SECTION("no broker to reload") {
    const jt::AccountsCtl orphan(dir, broker.web_dir(), dir.path() / "absent.pid");
    const Finished add = orphan.user(
        {"add", "bob", "--box", kBoxA, "--password-file", ctl.password_file(kBobPassword)});
    INFO(add.output);
    CHECK(add.status.code == 69);
    CHECK(add.output.find("absent.pid") != std::string::npos);
    // Saved all the same: the next reload of the broker picks it up.
    CHECK(jt::read_text_file(store).find("\"bob\"") != std::string::npos);
    CHECK(jt::read_text_file(broker.web_dir() / "web.passwd").find("bob:$7$") != std::string::npos);
    CHECK(jt::read_text_file(broker.web_dir() / "web.acl").find("user bob") != std::string::npos);
  }
  SECTION("a pid file naming a process that is not mosquitto") {
    // This test's own process: had jamboxctl sent it SIGHUP, the test would not be here to check.
    dir.write_file("stranger.pid", std::to_string(::getpid()) + "\n");
    const jt::AccountsCtl misled(dir, broker.web_dir(), dir.path() / "stranger.pid");
    const Finished grant = misled.user({"grant", "alice", kBoxA});  // a grant she has
    INFO(grant.output);
    CHECK(grant.status.code == 69);
    CHECK(grant.output.find("not mosquitto") != std::string::npos);
  }

  // Whatever was refused above left alice's account as it was added.
  if (!list_broken) {
    const Finished list = ctl.user({"list", "--json"});
    INFO(list.output);
    CHECK(list.status.code == 0);
    CHECK(list.output.find(R"({"admin":false,"boxes":[")" + kBoxA + R"("],"name":"alice"})") !=
          std::string::npos);
  }
}
