// The control-plane broker as deployed (the shipped mosquitto.conf and ACL, certificates from
// packaging/make-pki.sh) against the stock mosquitto clients: who may connect at all, and which
// identity may read and write which topics.
//
// Proving that a message is NOT delivered needs no quiet period (mosquitto_clients.hpp says why).
#include <jambox/test/binaries.hpp>
#include <jambox/test/mosquitto.hpp>
#include <jambox/test/mosquitto_clients.hpp>
#include <jambox/test/temp_dir.hpp>
#include <jambox/test/text.hpp>

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace jt = jambox::test;
using jt::Finished;
using jt::Message;
using jt::not_authorized;
using jt::publish;
using jt::require_subscribed;
using jt::Subscriber;

namespace {

constexpr std::string_view kSpoofed = "spoofed";
constexpr std::string_view kGenuine = "genuine";

// Player keys as boxes have them (UUIDs).
const std::string kAlice = "7c1f3a52-8d4e-4b6a-9f21-3e5d6c7b8a90";
const std::string kBob = "d2e4f6a8-1b3c-4d5e-8f70-9a1b2c3d4e5f";

std::string player_topic(const std::string& player, std::string_view leaf) {
  return "jambox/player/" + player + "/" + std::string(leaf);
}

// An identity's MQTT session as the broker logs it ("... (p5, c1, k60, u'jamboxctl')").
std::string session_of(std::string_view identity) {
  return "u'" + std::string(identity) + "'";
}

unsigned mode_of(const std::filesystem::path& file) {
  struct stat info {};
  REQUIRE(::stat(file.c_str(), &info) == 0);
  return info.st_mode & 07777U;
}

std::string make_pki_script() {
  return (jt::source_dir() / "packaging" / "make-pki.sh").string();
}

}  // namespace

TEST_CASE("a box's status reaches jamboxctl", "[integration][broker]") {
  jt::TempDir dir("broker");
  jt::MosquittoBroker broker(dir, {kAlice});

  Subscriber ctl(broker, dir, "jamboxctl", {"jambox/player/+/status"});
  require_subscribed(ctl, broker);
  const std::string status = R"({"state":"jamming","room":"band"})";
  const Finished sent = publish(broker, dir, kAlice, player_topic(kAlice, "status"), status);
  const bool received = ctl.wait_for(player_topic(kAlice, "status"), status);

  INFO("box:\n"
       << sent.output << "\njamboxctl's subscriber:\n"
       << ctl.output() << "\nbroker log:\n"
       << broker.log());
  CHECK_FALSE(sent.failed());
  CHECK(received);
}

TEST_CASE("a command from jamboxctl reaches its box and the acknowledgement comes back",
          "[integration][broker]") {
  jt::TempDir dir("broker");
  jt::MosquittoBroker broker(dir, {kAlice});

  Subscriber box(broker, dir, kAlice, {player_topic(kAlice, "command")});
  Subscriber ctl(broker, dir, "jamboxctl", {"jambox/player/+/command/ack"});
  require_subscribed(box, broker);
  require_subscribed(ctl, broker);

  const std::string command = R"({"id":"c1","op":"mute","input":1})";
  CHECK_FALSE(publish(broker, dir, "jamboxctl", player_topic(kAlice, "command"), command).failed());
  const bool commanded = box.wait_for(player_topic(kAlice, "command"), command);
  const std::string ack = R"({"id":"c1","ok":true})";
  CHECK_FALSE(publish(broker, dir, kAlice, player_topic(kAlice, "command/ack"), ack).failed());
  const bool acknowledged = ctl.wait_for(player_topic(kAlice, "command/ack"), ack);

  INFO("box's subscriber:\n"
       << box.output() << "\njamboxctl's subscriber:\n"
       << ctl.output() << "\nbroker log:\n"
       << broker.log());
  CHECK(commanded);
  CHECK(acknowledged);
}

TEST_CASE("a box does not receive another box's commands whatever it subscribes to",
          "[integration][broker]") {
  jt::TempDir dir("broker");
  jt::MosquittoBroker broker(dir, {kAlice, kBob});

  Subscriber alice(broker, dir, kAlice,
                   {player_topic(kAlice, "command"), player_topic(kBob, "command"),
                    "jambox/player/+/command", "jambox/#", "#"});
  Subscriber bob(broker, dir, kBob, {player_topic(kBob, "command")});
  require_subscribed(alice, broker);
  require_subscribed(bob, broker);

  // Bob's command first, then Alice's own: once hers is in, Bob's would have been before it.
  CHECK_FALSE(publish(broker, dir, "jamboxctl", player_topic(kBob, "command"), "for bob").failed());
  CHECK_FALSE(
      publish(broker, dir, "jamboxctl", player_topic(kAlice, "command"), "for alice").failed());

  const bool bob_commanded = bob.wait_for(player_topic(kBob, "command"), "for bob");
  const bool alice_commanded = alice.wait_for(player_topic(kAlice, "command"), "for alice");

  INFO("Alice's subscriber:\n"
       << alice.output() << "\nBob's subscriber:\n"
       << bob.output() << "\nbroker log:\n"
       << broker.log());
  REQUIRE(bob_commanded);
  REQUIRE(alice_commanded);
  for (const Message& message : alice.messages()) {
    CHECK(message.topic == player_topic(kAlice, "command"));
    CHECK(message.payload == "for alice");
  }
}

TEST_CASE("a box cannot publish on another box's topics", "[integration][broker]") {
  jt::TempDir dir("broker");
  jt::MosquittoBroker broker(dir, {kAlice, kBob});

  // Everyone who would act on a message about Bob.
  Subscriber bob(broker, dir, kBob,
                 {player_topic(kBob, "command"), player_topic(kBob, "response/+"),
                  player_topic(kBob, "view/ack"), player_topic(kBob, "room/in/+/+"),
                  player_topic(kBob, "room/chat")});
  Subscriber ctl(broker, dir, "jamboxctl",
                 {"jambox/player/+/status", "jambox/player/+/command/ack", "jambox/player/+/view",
                  "jambox/player/+/meters"});
  Subscriber room_server(broker, dir, "jambox-broadcast",
                         {"$share/jambox-broadcast/jambox/player/+/request/+", "jambox/room/#",
                          "jambox/player/+/room/out/+"});
  require_subscribed(bob, broker);
  require_subscribed(ctl, broker);
  require_subscribed(room_server, broker);

  // Alice pretends to be jamboxctl, the room server (relaying her own presence to Bob, or a chat)
  // and Bob himself.
  const std::vector<std::string> bobs_topics = {player_topic(kBob, "command"),
                                                player_topic(kBob, "response/join"),
                                                player_topic(kBob, "view/ack"),
                                                player_topic(kBob, "status"),
                                                player_topic(kBob, "command/ack"),
                                                player_topic(kBob, "view"),
                                                player_topic(kBob, "meters"),
                                                player_topic(kBob, "request/join"),
                                                player_topic(kBob, "room/out/presence"),
                                                player_topic(kBob, "room/in/presence/" + kAlice),
                                                player_topic(kBob, "room/chat"),
                                                "jambox/room/band/presence/" + kBob,
                                                "jambox/room/band/chat"};
  for (const std::string& topic : bobs_topics) {
    const Finished spoof = publish(broker, dir, kAlice, topic, kSpoofed);
    INFO("Alice publishing on " << topic << ":\n" << spoof.output);
    CHECK(not_authorized(spoof));
  }

  // The same topics from those allowed to publish on them.
  const std::vector<std::pair<std::string, std::string>> genuine = {
      {"jamboxctl", player_topic(kBob, "command")},
      {"jambox-broadcast", player_topic(kBob, "response/join")},
      {"jamboxctl", player_topic(kBob, "view/ack")},
      {kBob, player_topic(kBob, "status")},
      {kBob, player_topic(kBob, "command/ack")},
      {kBob, player_topic(kBob, "view")},
      {kBob, player_topic(kBob, "meters")},
      {kBob, player_topic(kBob, "request/join")},
      {kBob, player_topic(kBob, "room/out/presence")},
      {"jambox-broadcast", player_topic(kBob, "room/in/presence/" + kAlice)},
      {"jambox-broadcast", player_topic(kBob, "room/chat")}};
  for (const auto& [identity, topic] : genuine) {
    const Finished sent = publish(broker, dir, identity, topic, kGenuine);
    INFO(identity << " publishing on " << topic << ":\n" << sent.output);
    CHECK_FALSE(sent.failed());
    CHECK_FALSE(not_authorized(sent));
  }

  const bool bob_done = bob.wait_for_count(kGenuine, 5);
  const bool ctl_done = ctl.wait_for_count(kGenuine, 4);
  const bool room_server_done = room_server.wait_for_count(kGenuine, 2);

  INFO("Bob's subscriber:\n"
       << bob.output() << "\njamboxctl's subscriber:\n"
       << ctl.output() << "\nroom server's subscriber:\n"
       << room_server.output() << "\nbroker log:\n"
       << broker.log());
  REQUIRE(bob_done);
  REQUIRE(ctl_done);
  REQUIRE(room_server_done);
  CHECK(bob.count(kSpoofed) == 0);
  CHECK(ctl.count(kSpoofed) == 0);
  CHECK(room_server.count(kSpoofed) == 0);
}

TEST_CASE("the services publish only on the topics they serve", "[integration][broker]") {
  jt::TempDir dir("broker");
  jt::MosquittoBroker broker(dir, {kAlice});

  // The box also asks for every room's topics: it is granted none (the room server relays).
  Subscriber box(
      broker, dir, kAlice,
      {player_topic(kAlice, "command"), player_topic(kAlice, "response/+"),
       player_topic(kAlice, "view/ack"), player_topic(kAlice, "room/in/+/+"), "jambox/room/#"});
  Subscriber ctl(broker, dir, "jamboxctl", {"jambox/player/+/status"});
  Subscriber room_server(
      broker, dir, "jambox-broadcast",
      {"$share/jambox-broadcast/jambox/player/+/request/+", "jambox/room/+/chat"});
  require_subscribed(box, broker);
  require_subscribed(ctl, broker);
  require_subscribed(room_server, broker);

  // jamboxctl posing as the room server or the box; the room server posing as jamboxctl or the
  // box.
  const std::vector<std::pair<std::string, std::string>> spoofs = {
      {"jamboxctl", player_topic(kAlice, "response/join")},
      {"jamboxctl", player_topic(kAlice, "request/join")},
      {"jamboxctl", player_topic(kAlice, "status")},
      {"jamboxctl", "jambox/room/band/state"},
      {"jamboxctl", player_topic(kAlice, "room/in/presence/x")},
      {"jambox-broadcast", player_topic(kAlice, "command")},
      {"jambox-broadcast", player_topic(kAlice, "view/ack")},
      {"jambox-broadcast", player_topic(kAlice, "status")}};
  for (const auto& [identity, topic] : spoofs) {
    const Finished spoof = publish(broker, dir, identity, topic, kSpoofed);
    INFO(identity << " publishing on " << topic << ":\n" << spoof.output);
    CHECK(not_authorized(spoof));
  }
  // The room server's publication under jambox/room/ comes before the box's last genuine
  // message: had the box been given it, it would be in before that one.
  const std::vector<std::pair<std::string, std::string>> genuine = {
      {"jambox-broadcast", player_topic(kAlice, "response/join")},
      {kAlice, player_topic(kAlice, "request/join")},
      {kAlice, player_topic(kAlice, "status")},
      {"jambox-broadcast", "jambox/room/band/state"},
      {"jamboxctl", "jambox/room/band/chat"},
      {"jambox-broadcast", player_topic(kAlice, "room/in/presence/x")},
      {"jamboxctl", player_topic(kAlice, "command")},
      {"jamboxctl", player_topic(kAlice, "view/ack")}};
  for (const auto& [identity, topic] : genuine) {
    const Finished sent = publish(broker, dir, identity, topic, kGenuine);
    INFO(identity << " publishing on " << topic << ":\n" << sent.output);
    CHECK_FALSE(sent.failed());
    CHECK_FALSE(not_authorized(sent));
  }

  const bool box_done = box.wait_for_count(kGenuine, 4);
  const bool ctl_done = ctl.wait_for_count(kGenuine, 1);
  const bool room_server_done = room_server.wait_for_count(kGenuine, 2);

  INFO("box's subscriber:\n"
       << box.output() << "\njamboxctl's subscriber:\n"
       << ctl.output() << "\nroom server's subscriber:\n"
       << room_server.output() << "\nbroker log:\n"
       << broker.log());
  REQUIRE(box_done);
  REQUIRE(ctl_done);
  REQUIRE(room_server_done);
  CHECK(box.count(kSpoofed) == 0);
  CHECK(ctl.count(kSpoofed) == 0);
  CHECK(room_server.count(kSpoofed) == 0);
  for (const Message& message : box.messages()) {
    CHECK(message.topic.rfind("jambox/room/", 0) == std::string::npos);
  }
}

TEST_CASE("clients without a valid certificate from the jambox CA are refused",
          "[integration][broker]") {
  jt::TempDir dir("broker");
  jt::MosquittoBroker broker(dir, {kAlice});

  Subscriber ctl(broker, dir, "jamboxctl", {"jambox/player/+/status"});
  require_subscribed(ctl, broker);

  // Each publishes on its own status topic, which the ACL would let it write: a refusal can only
  // come from the TLS handshake.
  const Finished rogue =
      publish(broker, dir, "rogue", player_topic("rogue-player", "status"), kSpoofed);
  const Finished expired =
      publish(broker, dir, "expired", player_topic("expired-player", "status"), kSpoofed);
  std::vector<std::string> without_certificate = {"-h",       "127.0.0.1",
                                                  "-p",       std::to_string(broker.port()),
                                                  "-V",       "mqttv5",
                                                  "--cafile", broker.ca().string(),
                                                  "-q",       "1",
                                                  "-t",       player_topic(kAlice, "status"),
                                                  "-m",       std::string(kSpoofed)};
  const Finished anonymous =
      jt::run_installed(dir, "mosquitto_pub", std::move(without_certificate));
  CHECK_FALSE(publish(broker, dir, kAlice, player_topic(kAlice, "status"), kGenuine).failed());
  const bool genuine_received = ctl.wait_for(player_topic(kAlice, "status"), kGenuine);

  const std::string log = broker.log();
  INFO("rogue:\n"
       << rogue.output << "\nexpired:\n"
       << expired.output << "\nno certificate:\n"
       << anonymous.output << "\nbroker log:\n"
       << log << "\njamboxctl's subscriber:\n"
       << ctl.output());
  CHECK(rogue.failed());
  CHECK(expired.failed());
  CHECK(anonymous.failed());
  // Refused in the handshake: no MQTT session ever existed for them.
  CHECK(jt::occurrences(log, "certificate verify failed") >= 2);
  CHECK(log.find(session_of("rogue-player")) == std::string::npos);
  CHECK(log.find(session_of("expired-player")) == std::string::npos);

  REQUIRE(genuine_received);
  CHECK(ctl.count(kSpoofed) == 0);
}

TEST_CASE("the room server takes a box's request through its shared subscription and answers it",
          "[integration][broker]") {
  jt::TempDir dir("broker");
  jt::MosquittoBroker broker(dir, {kAlice});

  Subscriber room_server(broker, dir, "jambox-broadcast",
                         {"$share/jambox-broadcast/jambox/player/+/request/+"});
  Subscriber box(broker, dir, kAlice, {player_topic(kAlice, "response/+")});
  require_subscribed(room_server, broker);
  require_subscribed(box, broker);

  const std::string request = R"({"id":"r1","room":"band"})";
  CHECK_FALSE(publish(broker, dir, kAlice, player_topic(kAlice, "request/join"), request).failed());
  const bool requested = room_server.wait_for(player_topic(kAlice, "request/join"), request);
  const std::string response = R"({"id":"r1","ok":true})";
  const Finished answer =
      publish(broker, dir, "jambox-broadcast", player_topic(kAlice, "response/join"), response);
  const bool answered = box.wait_for(player_topic(kAlice, "response/join"), response);

  INFO("room server's subscriber:\n"
       << room_server.output() << "\nroom server answering:\n"
       << answer.output << "\nbox's subscriber:\n"
       << box.output() << "\nbroker log:\n"
       << broker.log());
  REQUIRE(requested);
  CHECK_FALSE(answer.failed());
  CHECK_FALSE(not_authorized(answer));
  CHECK(answered);
}

TEST_CASE("a 256 KiB payload gets through and a larger packet does not", "[integration][broker]") {
  jt::TempDir dir("broker");
  jt::MosquittoBroker broker(dir, {kAlice});

  Subscriber ctl(broker, dir, "jamboxctl", {"jambox/player/+/status"});
  require_subscribed(ctl, broker);

  // The largest payload a box publishes.
  const std::string largest(256 * 1024, 'a');
  const auto largest_file = dir.write_file("largest.payload", largest);
  std::vector<std::string> args = broker.client_args(kAlice);
  args.insert(args.end(),
              {"-q", "1", "-t", player_topic(kAlice, "status"), "-f", largest_file.string()});
  const Finished sent = jt::run_installed(dir, "mosquitto_pub", args);

  // Too large by a margin. MQTT 3.1.1, so the client does not know the limit and sends it
  // anyway (an MQTT 5 client refuses to): the broker must refuse it itself.
  const auto oversized_file = dir.write_file("oversized.payload", std::string(300 * 1024, 'x'));
  args = broker.client_args(kAlice);
  std::replace(args.begin(), args.end(), std::string("mqttv5"), std::string("mqttv311"));
  args.insert(args.end(),
              {"-q", "1", "-t", player_topic(kAlice, "status"), "-f", oversized_file.string()});
  const Finished oversized = jt::run_installed(dir, "mosquitto_pub", args);
  CHECK_FALSE(publish(broker, dir, kAlice, player_topic(kAlice, "status"), kGenuine).failed());
  const bool genuine_received = ctl.wait_for(player_topic(kAlice, "status"), kGenuine);

  INFO("largest:\n"
       << sent.output << "\noversized:\n"
       << oversized.output << "\nbroker log:\n"
       << broker.log());
  CHECK_FALSE(sent.failed());
  CHECK(broker.log().find("disconnected due to oversize packet") != std::string::npos);
  REQUIRE(genuine_received);
  const auto messages = ctl.messages();
  REQUIRE(messages.size() == 2);
  CHECK(messages[0].payload.size() == largest.size());
  const bool intact = messages[0].payload == largest;  // (not compared in CHECK: 256 KiB to print)
  CHECK(intact);
  CHECK(messages[1].payload == kGenuine);
}

TEST_CASE("a killed broker starts again on the same port", "[integration][broker]") {
  jt::TempDir dir("broker");
  jt::MosquittoBroker broker(dir, {kAlice});
  const std::uint16_t port = broker.port();

  broker.kill();
  CHECK_FALSE(broker.running());
  CHECK(publish(broker, dir, kAlice, player_topic(kAlice, "status"), "down").failed());

  broker.start();
  CHECK(broker.running());
  CHECK(broker.port() == port);
  CHECK(broker.uri() == "ssl://127.0.0.1:" + std::to_string(port));
  Subscriber ctl(broker, dir, "jamboxctl", {"jambox/player/+/status"});
  const bool subscribed = ctl.wait_subscribed();
  const Finished sent = publish(broker, dir, kAlice, player_topic(kAlice, "status"), "up again");
  const bool received = ctl.wait_for(player_topic(kAlice, "status"), "up again");

  INFO("jamboxctl's subscriber:\n"
       << ctl.output() << "\nbox:\n"
       << sent.output << "\nbroker log:\n"
       << broker.log());
  REQUIRE(subscribed);
  CHECK_FALSE(sent.failed());
  CHECK(received);
}

TEST_CASE("make-pki.sh keeps keys private and reuses its CA when boxes are added",
          "[integration][broker]") {
  jt::TempDir dir("broker");
  jt::MosquittoBroker broker(dir, {kAlice});
  const std::filesystem::path pki = broker.pki_dir();

  CHECK(mode_of(pki) == 0700U);
  for (const std::string_view name :
       {"ca", "broker", "jambox-broadcast", "jamboxctl", "expired", "rogue-ca", "rogue"}) {
    INFO(name);
    CHECK(mode_of(broker.key(name)) == 0600U);
    CHECK(mode_of(broker.cert(name)) == 0644U);
  }
  CHECK(mode_of(broker.key(kAlice)) == 0600U);
  CHECK(mode_of(broker.key("loose")) == 0644U);

  const std::string ca_before = jt::read_text_file(broker.ca());
  const std::string alice_before = jt::read_text_file(broker.cert(kAlice));
  const Finished added = jt::run_installed(
      dir, "bash", {make_pki_script(), pki.string(), "--player", kAlice, "--player", kBob});
  INFO(added.output);
  REQUIRE_FALSE(added.failed());
  CHECK(jt::read_text_file(broker.ca()) == ca_before);
  CHECK(jt::read_text_file(broker.cert(kAlice)) == alice_before);
  CHECK(mode_of(broker.key(kBob)) == 0600U);
  const Finished verified = jt::run_installed(
      dir, "openssl", {"verify", "-CAfile", broker.ca().string(), broker.cert(kBob).string()});
  INFO(verified.output);
  CHECK_FALSE(verified.failed());

  const Finished misused =
      jt::run_installed(dir, "bash", {make_pki_script(), pki.string(), "--player", "not/a/key"});
  CHECK(misused.status.code == 2);
}
