// Musicians' accounts on the broker's web listener, end to end: `jamboxctl user` writes the
// password file and the ACL and reloads a real mosquitto running the shipped configuration; the
// stock mosquitto clients then log in through the listener's unix socket (as jambox-web's
// WebSocket tunnel does) while the boxes use their certificates on the TLS listener.
//
// Proving that a message is NOT delivered needs no quiet period (as in broker_test.cpp): every
// publisher uses QoS 1, so the broker has routed (or refused) a message before its publisher
// exits, and a subscriber receives messages in the order the broker routed them. Once a later,
// legitimate "genuine" message has arrived, anything refused before it would have arrived already.
//
// A change reaches the broker by SIGHUP, which mosquitto handles in its main loop: it logs
// "Reloading config." and re-reads the files before it serves anything else, so a test waits for
// that line before it relies on the change.
#include <jambox/test/binaries.hpp>
#include <jambox/test/mosquitto.hpp>
#include <jambox/test/process.hpp>
#include <jambox/test/temp_dir.hpp>

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace jt = jambox::test;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds kWait{5000};  // for something that must happen
// mosquitto_sub -W: seconds after which a subscriber gives up on its own, should a test that
// failed half-way leave it behind.
constexpr std::string_view kSubscriberLifetime = "30";
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

std::filesystem::path installed(std::string_view name) {
  const auto program = jt::find_installed_program(name);
  if (!program) FAIL(name << " is not installed (packaging/install-deps.sh test)");
  return *program;
}

// Output files of every client of a test sit side by side: number them.
std::string unique_name(std::string_view what) {
  static int next = 0;
  return std::string(what) + "-" + std::to_string(++next);
}

bool eventually(const std::function<bool()>& done, milliseconds timeout = kWait) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return true;
}

std::size_t occurrences(const std::string& text, std::string_view what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// How a client reaches the broker: a box's certificate on the TLS listener, or a musician's
// name and password (none: anonymous) on the web listener's socket.
using Login = std::vector<std::string>;

Login box_login(const jt::MosquittoBroker& broker, std::string_view identity) {
  return broker.client_args(identity);
}

Login web_login(const jt::MosquittoBroker& broker, const std::string& user,
                const std::string& password) {
  return {"--unix", broker.web_socket().string(), "-V", "mqttv5", "-u", user, "-P", password};
}

Login anonymous_web_login(const jt::MosquittoBroker& broker) {
  return {"--unix", broker.web_socket().string(), "-V", "mqttv5"};
}

struct Message {
  std::string topic;
  std::string payload;
};

// mosquitto_sub, line-buffered (stdbuf) so the test sees the SUBACK and each message as they
// happen. Every message is printed as "MSG <topic> <payload length> <payload>".
class Subscriber {
 public:
  Subscriber(const jt::TempDir& dir, std::string_view name, const Login& login,
             const std::vector<std::string>& filters, const std::string& client_id = {}) {
    jt::ProcessOptions options;
    options.program = installed("stdbuf");
    options.args = {"-oL", installed("mosquitto_sub").string(), "-d", "-F", "MSG %t %l %p",
                    "-W",  std::string(kSubscriberLifetime)};
    options.args.insert(options.args.end(), login.begin(), login.end());
    if (!client_id.empty()) options.args.insert(options.args.end(), {"-i", client_id});
    for (const std::string& filter : filters) {
      options.args.insert(options.args.end(), {"-t", filter});
    }
    options.output_dir = dir.path();
    options.name = unique_name("sub-" + std::string(name));
    process_ = std::make_unique<jt::Process>(std::move(options));
  }

  // mosquitto 2.0 grants every subscription and applies the ACL to each message it delivers, so
  // "subscribed" says nothing about access; it only means the filters are in place.
  [[nodiscard]] bool wait_subscribed() const {
    return eventually([&] { return output().find("Subscribed (mid:") != std::string::npos; });
  }

  [[nodiscard]] std::vector<Message> messages() const {
    std::vector<Message> result;
    std::istringstream lines(process_->stdout_text());
    std::string line;
    while (std::getline(lines, line)) {
      if (line.rfind("MSG ", 0) != 0) continue;
      std::istringstream fields(line.substr(4));
      Message message;
      std::size_t length = 0;
      fields >> message.topic >> length;
      fields.get();  // the space before the payload
      std::getline(fields, message.payload);
      result.push_back(std::move(message));
    }
    return result;
  }

  [[nodiscard]] std::size_t count(std::string_view payload) const {
    const auto all = messages();
    return static_cast<std::size_t>(std::count_if(
        all.begin(), all.end(), [&](const Message& m) { return m.payload == payload; }));
  }

  [[nodiscard]] bool received(const std::string& topic, std::string_view payload) const {
    const auto all = messages();
    return std::any_of(all.begin(), all.end(),
                       [&](const Message& m) { return m.topic == topic && m.payload == payload; });
  }

  [[nodiscard]] bool wait_for(const std::string& topic, std::string_view payload) const {
    return eventually([&] { return received(topic, payload); });
  }

  [[nodiscard]] std::string output() const {
    return process_->stdout_text() + process_->stderr_text();
  }

 private:
  std::unique_ptr<jt::Process> process_;
};

void require_subscribed(const Subscriber& subscriber, const jt::MosquittoBroker& broker) {
  const bool subscribed = subscriber.wait_subscribed();
  INFO("subscriber:\n" << subscriber.output() << "\nbroker log:\n" << broker.log());
  REQUIRE(subscribed);
}

struct Finished {
  jt::ExitStatus status;
  std::string output;
  [[nodiscard]] bool failed() const { return !status.exited() || status.code != 0; }
};

Finished finish(jt::Process& process, std::string_view name) {
  const auto status = process.wait_for(kWait);
  INFO(name << " output:\n" << process.stdout_text() << process.stderr_text());
  REQUIRE(status);
  return {*status, process.stdout_text() + process.stderr_text()};
}

// Publishes with QoS 1: once it returns, the broker has routed or refused the message.
// mosquitto_pub exits 0 when the broker refuses a message for the ACL (it warns "Not
// authorized"); it fails when it cannot connect (a refused login included).
Finished publish(const jt::TempDir& dir, const Login& login, const std::string& topic,
                 std::string_view payload) {
  jt::ProcessOptions options;
  options.program = installed("mosquitto_pub");
  options.args = login;
  options.args.insert(options.args.end(), {"-q", "1", "-t", topic, "-m", std::string(payload)});
  options.output_dir = dir.path();
  options.name = unique_name("pub");
  jt::Process publisher(std::move(options));
  return finish(publisher, "mosquitto_pub");
}

bool not_authorized(const Finished& publisher) {
  return publisher.output.find("Not authorized") != std::string::npos;
}

// A publication the broker accepted from a logged-in client, then dropped for the ACL.
bool refused_by_acl(const Finished& publisher) {
  return !publisher.failed() && not_authorized(publisher);
}

// `jamboxctl --web-dir DIR --broker-pid-file F user ARGS...`.
class Jamboxctl {
 public:
  Jamboxctl(const jt::TempDir& dir, std::filesystem::path web_dir,
            std::filesystem::path broker_pid_file)
      : dir_(dir), web_dir_(std::move(web_dir)), pid_file_(std::move(broker_pid_file)) {}

  Finished user(std::vector<std::string> args) const {
    std::vector<std::string> all = {"--web-dir", web_dir_.string(), "--broker-pid-file",
                                    pid_file_.string(), "user"};
    all.insert(all.end(), args.begin(), args.end());
    const auto process = jt::spawn_built(dir_.path(), "jamboxctl", all, unique_name("jamboxctl"));
    return finish(*process, "jamboxctl");
  }

  // A password as an admin keeps it: a file of its own.
  [[nodiscard]] std::string password_file(const std::string& password) const {
    return dir_.write_file(unique_name("password"), password + "\n").string();
  }

 private:
  const jt::TempDir& dir_;
  std::filesystem::path web_dir_;
  std::filesystem::path pid_file_;
};

// The broker of a test with its pid written where `jamboxctl user` looks for it.
struct WebBroker {
  jt::TempDir& dir;
  jt::MosquittoBroker broker;
  Jamboxctl ctl;

  WebBroker(jt::TempDir& test_dir, const std::vector<std::string>& boxes)
      : dir(test_dir), broker(test_dir, boxes), ctl(test_dir, broker.web_dir(), pid_file()) {
    dir.write_file("mosquitto.pid", std::to_string(broker.pid()) + "\n");
  }

  [[nodiscard]] std::filesystem::path pid_file() const { return dir.path() / "mosquitto.pid"; }

  [[nodiscard]] std::size_t reloads() const {
    return occurrences(broker.log(), "Reloading config.");
  }

  // Runs `jamboxctl user ARGS...`, which must succeed, and waits until the broker has the change.
  void change(const std::vector<std::string>& args) const {
    const std::size_t before = reloads();
    const Finished done = ctl.user(args);
    INFO("jamboxctl user " << args.at(0) << ":\n" << done.output);
    REQUIRE_FALSE(done.failed());
    const bool reloaded = eventually([&] { return reloads() > before; });
    INFO("broker log:\n" << broker.log());
    REQUIRE(reloaded);
  }

  void add(const std::string& user, const std::string& password,
           const std::vector<std::string>& options) const {
    std::vector<std::string> args = {"add", user};
    args.insert(args.end(), options.begin(), options.end());
    args.insert(args.end(), {"--password-file", ctl.password_file(password)});
    change(args);
  }
};

unsigned mode_of(const std::filesystem::path& file) {
  struct stat info {};
  REQUIRE(::stat(file.c_str(), &info) == 0);
  return info.st_mode & 07777U;
}

}  // namespace

TEST_CASE("the web listener lets in only the musicians jamboxctl added, by their password",
          "[integration][broker][accounts]") {
  jt::TempDir dir("web-accounts");
  WebBroker web(dir, {kBoxA});
  const jt::MosquittoBroker& broker = web.broker;
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
  CHECK(occurrences(log, "u'alice'") == 1);
  CHECK(log.find(broker.web_socket().string()) != std::string::npos);
}

TEST_CASE("a musician's command reaches her box under her own name and nowhere else",
          "[integration][broker][accounts]") {
  jt::TempDir dir("web-accounts");
  WebBroker web(dir, {kBoxA, kBoxB});
  const jt::MosquittoBroker& broker = web.broker;
  web.add("alice", kAlicePassword, {"--box", kBoxA});
  web.add("bob", kBobPassword, {"--box", kBoxB});
  const Login alice = web_login(broker, "alice", kAlicePassword);
  const Login bob = web_login(broker, "bob", kBobPassword);

  // The boxes subscribe as jamboxd does: the admin's topic and the musicians'.
  Subscriber box_a(dir, "box-a", box_login(broker, kBoxA),
                   {player_topic(kBoxA, "command"), player_topic(kBoxA, "command/from/+")});
  Subscriber box_b(dir, "box-b", box_login(broker, kBoxB),
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
  WebBroker web(dir, {kBoxA, kBoxB});
  const jt::MosquittoBroker& broker = web.broker;
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
      publish(dir, box_login(broker, kBoxB), player_topic(kBoxB, "status"), b_status).failed());
  CHECK_FALSE(
      publish(dir, box_login(broker, kBoxA), player_topic(kBoxA, "status"), a_status).failed());
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
  WebBroker web(dir, {kBoxA, kBoxB});
  const jt::MosquittoBroker& broker = web.broker;
  web.add("alice", kAlicePassword, {"--box", kBoxA});
  // Dave shares box A: his commands are the genuine ones that come after alice's refused ones.
  web.add("dave", "dave-sings-bass", {"--box", kBoxA});
  const Login alice = web_login(broker, "alice", kAlicePassword);
  const Login dave = web_login(broker, "dave", "dave-sings-bass");
  const Login box_a_login = box_login(broker, kBoxA);
  const Login box_b_login = box_login(broker, kBoxB);

  Subscriber box_a(dir, "box-a", box_a_login, {player_topic(kBoxA, "command/from/+")});
  // Alice's page stays connected throughout, as a browser would.
  Subscriber page(dir, "alice", alice, {"jambox/player/+/status"}, "alice-page");
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
  const bool page_closed = eventually(
      [&] { return broker.log().find("Client alice-page disconnected") != std::string::npos; });
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
  WebBroker web(dir, {kBoxA});
  const jt::MosquittoBroker& broker = web.broker;
  const std::string topic = command_from(kBoxA, "alice");
  const std::string new_password = "alice plays trombone now";
  web.add("alice", kAlicePassword, {"--box", kBoxA});
  const std::string hash_before = jt::read_text_file(broker.web_dir() / "web.passwd");

  web.change({"password", "alice", "--password-file", web.ctl.password_file(new_password)});
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
  WebBroker web(dir, {kBoxA});
  web.add("alice", kAlicePassword, {"--box", kBoxA});
  web.add("carol", "carol-runs-the-room", {"--admin"});

  const std::filesystem::path web_dir = web.broker.web_dir();
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
  CHECK(occurrences(passwd, "\n") == 2);
}

TEST_CASE("jamboxctl user refuses contradictions and bad input with its exit codes",
          "[integration][broker][accounts]") {
  jt::TempDir dir("web-accounts");
  WebBroker web(dir, {kBoxA});
  const Jamboxctl& ctl = web.ctl;
  const std::string password = ctl.password_file(kAlicePassword);
  const std::filesystem::path store = web.broker.web_dir() / "web-users.json";

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
    const Jamboxctl orphan(dir, web.broker.web_dir(), dir.path() / "absent.pid");
    const Finished add = orphan.user(
        {"add", "bob", "--box", kBoxA, "--password-file", ctl.password_file(kBobPassword)});
    INFO(add.output);
    CHECK(add.status.code == 69);
    CHECK(add.output.find("absent.pid") != std::string::npos);
    // Saved all the same: the next reload of the broker picks it up.
    CHECK(jt::read_text_file(store).find("\"bob\"") != std::string::npos);
    CHECK(jt::read_text_file(web.broker.web_dir() / "web.passwd").find("bob:$7$") !=
          std::string::npos);
    CHECK(jt::read_text_file(web.broker.web_dir() / "web.acl").find("user bob") !=
          std::string::npos);
  }
  SECTION("a pid file naming a process that is not mosquitto") {
    // This test's own process: had jamboxctl sent it SIGHUP, the test would not be here to check.
    dir.write_file("stranger.pid", std::to_string(::getpid()) + "\n");
    const Jamboxctl misled(dir, web.broker.web_dir(), dir.path() / "stranger.pid");
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
