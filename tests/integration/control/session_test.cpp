// control::Session against a real mosquitto (the shipped configuration and ACL, a PKI from
// packaging/make-pki.sh), driven on the test's own io_context: every way the session can be lost
// is noticed and repaired, and messages too large for the broker never leave the box.
// Waits only bound a failing test; nothing here asserts timings.
#include <jambox/control/session.hpp>
#include <jambox/test/mosquitto.hpp>
#include <jambox/test/temp_dir.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

using jambox::control::LinkState;
using jambox::control::PublishOptions;
using jambox::control::Session;
using jambox::control::SessionConfig;
using jambox::control::SessionEvents;
using jambox::test::MosquittoBroker;
using jambox::test::TempDir;
using namespace std::chrono_literals;

namespace {

const std::string kStatus = "jambox/player/box-1/status";

// A session and everything it reported.
struct Peer {
  std::vector<std::pair<LinkState, std::string>> states;
  std::vector<std::string> payloads;  // messages received
  int readies = 0;
  std::unique_ptr<Session> session;

  Peer(boost::asio::io_context& io, SessionConfig config) {
    SessionEvents events;
    events.state = [this](LinkState state, const std::string& why) {
      states.emplace_back(state, why);
    };
    events.ready = [this] { ++readies; };
    events.message = [this](const jambox::control::Message& m) { payloads.push_back(m.payload); };
    session = std::make_unique<Session>(io, std::move(config), std::move(events));
    session->start();
  }

  [[nodiscard]] bool received(const std::string& payload) const {
    return std::find(payloads.begin(), payloads.end(), payload) != payloads.end();
  }
  // A state change away from `connected` whose reason contains `text`.
  [[nodiscard]] bool left_connected_because(const std::string& text) const {
    return std::any_of(states.begin(), states.end(), [&](const auto& s) {
      return s.first != LinkState::connected && s.second.find(text) != std::string::npos;
    });
  }
};

SessionConfig config_for(const MosquittoBroker& broker, const std::string& identity) {
  SessionConfig c;
  c.uri = broker.uri();
  c.identity = identity;
  c.tls = {broker.ca(), broker.cert(identity), broker.key(identity)};
  c.backoff_first = 200ms;
  c.backoff_ceiling = 2s;
  c.connect_timeout = 3s;
  return c;
}

// The administrator's view: reads every box's status.
SessionConfig watcher_config(const MosquittoBroker& broker) {
  SessionConfig c = config_for(broker, "jamboxctl");
  c.subscriptions = {"jambox/player/+/status"};
  return c;
}

// Runs the loop until `done` (true) or `within` has passed (false).
bool run_until(boost::asio::io_context& io, const std::function<bool()>& done,
               std::chrono::milliseconds within = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    io.run_for(20ms);
  }
  return true;
}

// Publishes `payload` as box-1's status and waits until the watcher has it.
bool delivered(boost::asio::io_context& io, Peer& box, Peer& watcher, const std::string& payload) {
  if (!box.session->publish(kStatus, payload)) return false;
  return run_until(io, [&] { return watcher.received(payload); });
}

// Lets a SIGSTOPped broker run again whatever the test's outcome.
struct Resume {
  pid_t pid;
  ~Resume() { ::kill(pid, SIGCONT); }
};

}  // namespace

TEST_CASE("a broker DISCONNECT ends the session: noticed, said why, reconnected",
          "[integration][control][session]") {
  TempDir dir("session-disconnect");
  // A broker that does not keep retained messages answers a retained PUBLISH with DISCONNECT
  // 0x9A, one of the reasons mosquitto 2.0 closes a connection with a DISCONNECT (0x95 "Packet
  // too large" is another, but the session never sends a packet over the broker's announced
  // limit: see the next test).
  MosquittoBroker broker(dir, {"box-1"}, {{"retain_available", "false"}});
  INFO("broker log:\n" << broker.log());
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  Peer watcher(io, watcher_config(broker));
  Peer box(io, config_for(broker, "box-1"));
  REQUIRE(run_until(io, [&] { return watcher.session->ready() && box.session->ready(); }));
  CHECK(box.session->last_loss_reason().empty());

  PublishOptions retained;
  retained.retained = true;
  REQUIRE(box.session->publish(kStatus, "retained", retained));
  REQUIRE(run_until(io, [&] { return box.session->counters().server_disconnects == 1; }));
  const std::string why = box.session->last_loss_reason();
  CHECK(why == "the broker closed the connection: Retain not supported");
  CHECK(box.left_connected_because(why));

  // Back with the usual backoff, on one new connection: the DISCONNECT, Paho closing the socket
  // and the failed in-flight publish are one loss.
  REQUIRE(run_until(io, [&] { return box.readies == 2; }));
  CHECK(box.session->state() == LinkState::connected);
  CHECK(delivered(io, box, watcher, "after the reconnect"));
  const auto& counters = box.session->counters();
  CHECK(counters.connects == 2);
  CHECK(counters.connection_losses == 1);
  CHECK(counters.server_disconnects == 1);
  CHECK(counters.publish_rejected == 0);
  CHECK_FALSE(watcher.received("retained"));
}

TEST_CASE("too large messages stay on the box; refused ones leave the connection up",
          "[integration][control][session]") {
  TempDir dir("session-limits");
  MosquittoBroker broker(dir, {"box-1", "box-2"});
  INFO("broker log:\n" << broker.log());
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  Peer watcher(io, watcher_config(broker));
  SessionConfig small = config_for(broker, "box-1");
  small.max_payload_bytes = 1000;
  Peer box(io, small);
  // Allowed more than the broker takes: the broker's CONNACK limit must stop it.
  SessionConfig large = config_for(broker, "box-2");
  large.max_payload_bytes = 1024 * 1024;
  Peer box2(io, large);
  REQUIRE(run_until(io, [&] {
    return watcher.session->ready() && box.session->ready() && box2.session->ready();
  }));

  // Our own limit: refused locally, counted; the limit itself still goes through.
  CHECK_FALSE(box.session->publish(kStatus, std::string(1001, 'x')));
  CHECK(box.session->counters().publish_too_large == 1);
  CHECK(box.session->state() == LinkState::connected);
  CHECK(delivered(io, box, watcher, std::string(1000, 'y')));

  // The broker's limit (the shipped max_packet_size, announced in its CONNACK) is on the whole
  // packet: fixed header (1 + 3 bytes of length), topic (2 + 26), packet id (2), no properties
  // (1), payload.
  const std::string topic = "jambox/player/box-2/status";
  REQUIRE(box2.session->broker_packet_limit() == 266240);
  const std::size_t fits = 266240 - (1 + 3 + 2 + topic.size() + 2 + 1);
  CHECK_FALSE(box2.session->publish(topic, std::string(fits + 1, 'z')));
  CHECK(box2.session->counters().publish_too_large == 1);
  REQUIRE(box2.session->publish(topic, std::string(fits, 'z')));
  REQUIRE(run_until(io, [&] { return watcher.received(std::string(fits, 'z')); }));
  CHECK(box2.session->counters().connection_losses == 0);

  // A message the ACL refuses (box-1 may not write box-2's status): PUBACK 0x87, counted, and no
  // reconnect, which could only repeat the refusal.
  REQUIRE(box.session->publish(topic, "not mine"));
  REQUIRE(run_until(io, [&] { return box.session->counters().publish_rejected == 1; }));
  CHECK(delivered(io, box, watcher, "still connected"));
  CHECK(box.session->counters().connection_losses == 0);
  CHECK(box.session->counters().connects == 1);
  CHECK_FALSE(watcher.received("not mine"));
}

TEST_CASE("a broker that stops answering is noticed by the keep-alive and reconnected",
          "[integration][control][session]") {
  TempDir dir("session-keepalive");
  MosquittoBroker broker(dir, {"box-1"});
  INFO("broker log:\n" << broker.log());
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  SessionConfig c = config_for(broker, "box-1");
  c.keep_alive = 2s;
  Peer box(io, c);
  REQUIRE(run_until(io, [&] { return box.session->ready(); }));

  // Stopped, the broker keeps its TCP connections open but answers nothing, PINGREQ included.
  const pid_t pid = broker.pid();
  REQUIRE(pid > 0);
  REQUIRE(::kill(pid, SIGSTOP) == 0);
  {
    Resume resume{pid};
    REQUIRE(run_until(io, [&] { return box.session->state() != LinkState::connected; }));
    CHECK(box.session->counters().connection_losses == 1);
    CHECK(box.session->counters().server_disconnects == 0);
    CHECK(box.session->last_loss_reason().find("was lost") != std::string::npos);
    CHECK_FALSE(box.session->ready());
  }
  REQUIRE(run_until(
      io, [&] { return box.readies == 2; }, 60s));
  CHECK(box.session->state() == LinkState::connected);
  CHECK(box.session->counters().connection_losses == 1);
}

TEST_CASE("another client taking over the session's client id: reconnected, the process survives",
          "[integration][control][session]") {
  TempDir dir("session-takeover");
  MosquittoBroker broker(dir, {"box-1"});
  INFO("broker log:\n" << broker.log());
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  Peer watcher(io, watcher_config(broker));
  Peer box(io, config_for(broker, "box-1"));
  REQUIRE(run_until(io, [&] { return watcher.session->ready() && box.session->ready(); }));

  // Client ids are not tied to identities, and a client with a connected client's id closes that
  // connection: so the session's id carries a random part nobody can guess. A client using the
  // box's identity as its id disturbs nothing.
  CHECK(box.session->client_id().rfind("box-1-", 0) == 0);
  CHECK(box.session->client_id().size() == std::string("box-1-").size() + 16);
  {
    SessionConfig guess = config_for(broker, "box-1");
    guess.client_id = "box-1";
    Peer guesser(io, guess);
    REQUIRE(run_until(io, [&] { return guesser.session->ready(); }));
    CHECK(delivered(io, box, watcher, "with a guesser connected"));
    CHECK(box.session->counters().connection_losses == 0);
  }
  // One that knows the id (here the test, with the box's own certificate) makes the broker close
  // the box's connection (mosquitto 2.0 closes it without a DISCONNECT): the box reconnects.
  {
    SessionConfig intruder_config = config_for(broker, "box-1");
    intruder_config.client_id = box.session->client_id();
    Peer intruder(io, intruder_config);
    REQUIRE(run_until(io, [&] { return box.session->counters().connection_losses >= 1; }));
    CHECK(box.session->last_loss_reason().find("was lost") != std::string::npos);
    CHECK(box.left_connected_because("was lost"));
    // The intruder goes away in whatever state the two connections' tug of war left it
    // (connected, or connecting again): destroying a session never throws.
  }
  REQUIRE(run_until(
      io, [&] { return box.session->state() == LinkState::connected && box.session->ready(); }));
  CHECK(box.readies >= 2);
  CHECK(delivered(io, box, watcher, "after the takeover"));
}

TEST_CASE("a session destroyed while it is still connecting ends quietly",
          "[integration][control][session]") {
  TempDir dir("session-destroy-connecting");
  MosquittoBroker broker(dir, {"box-1"});
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  // A "broker" that accepts the TCP connection and never answers the TLS handshake: the session
  // stays in the middle of connecting for as long as the test wants.
  boost::asio::ip::tcp::acceptor mute(
      io, boost::asio::ip::tcp::endpoint(boost::asio::ip::address_v4::loopback(), 0));
  boost::asio::ip::tcp::socket held(io);
  bool accepted = false;
  mute.async_accept(held, [&](const boost::system::error_code& ec) { accepted = !ec; });
  SessionConfig c = config_for(broker, "box-1");
  c.uri = "ssl://127.0.0.1:" + std::to_string(mute.local_endpoint().port());
  c.connect_timeout = 60s;
  auto box = std::make_unique<Peer>(io, c);
  REQUIRE(run_until(io, [&] { return accepted; }));
  CHECK(box->session->state() == LinkState::connecting);
  CHECK(box->readies == 0);
  // Paho refuses to change its callbacks mid-connect; the session must not let that escape its
  // destructor (it would end the process).
  box.reset();
  // Still here: a fresh session to the real broker gets ready as ever.
  Peer again(io, config_for(broker, "box-1"));
  CHECK(run_until(io, [&] { return again.session->ready(); }));
}
