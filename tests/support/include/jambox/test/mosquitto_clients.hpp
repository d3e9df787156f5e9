#pragma once
// The stock mosquitto clients against a test broker (mosquitto.hpp): mosquitto_sub as a
// Subscriber a test reads as it goes, mosquitto_pub run to its end. Boxes and services log in
// with their certificates on the TLS listener, musicians with a name and password on the web
// listener's unix socket, as jambox-web's WebSocket tunnel does.
//
// Proving that a message is NOT delivered needs no quiet period: publish() uses QoS 1, so the
// broker has routed (or refused) a message before mosquitto_pub exits, and a subscriber receives
// messages in the order the broker routed them. Once a later, genuine message has arrived,
// anything refused before it would have arrived already.
//
// Failures go through Catch2 (REQUIRE), so only Catch2 tests link this.

#include <jambox/test/mosquitto.hpp>
#include <jambox/test/process.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace jambox::test {

class TempDir;

// How long a client's wait lasts unless a test says otherwise. It only bounds a failing test.
inline constexpr std::chrono::milliseconds kClientWait{5000};

// How a stock mosquitto client reaches the broker: its connection options. A certificate on the
// TLS listener is MosquittoBroker::client_args(identity).
using Login = std::vector<std::string>;

// Musician `user` with `password` on the web listener's socket.
[[nodiscard]] Login web_login(const MosquittoBroker& broker, const std::string& user,
                              const std::string& password);
// No user name at all on the web listener's socket.
[[nodiscard]] Login anonymous_web_login(const MosquittoBroker& broker);

struct Message {
  std::string topic;
  std::size_t length = 0;  // the payload's bytes, as the broker delivered them
  std::string payload;     // empty when the subscriber prints no payloads
};

// Every member has a default, so a test names only what it changes ({.wait = ...}).
struct SubscriberOptions {
  std::string client_id{};  // -i; empty: mosquitto_sub makes one up
  // -W: the subscriber gives up on its own after this, should a failed test leave it behind.
  std::chrono::seconds lifetime{30};
  // False: only topics and lengths are printed, for documents too large to read back.
  bool payloads = true;
  // The bound of this subscriber's waits.
  std::chrono::milliseconds wait = kClientWait;
};

// mosquitto_sub, line-buffered (stdbuf) so the test sees the SUBACK and each message as they
// happen. Every message is printed as "MSG <topic> <payload length> <payload>".
class Subscriber {
 public:
  // As `login`; its output files are named after `name`.
  Subscriber(const TempDir& dir, std::string_view name, const Login& login,
             const std::vector<std::string>& filters, const SubscriberOptions& options = {});
  // As `identity` with its certificate on the TLS listener.
  Subscriber(const MosquittoBroker& broker, const TempDir& dir, std::string_view identity,
             const std::vector<std::string>& filters, const SubscriberOptions& options = {});

  // mosquitto 2.0 grants every subscription and applies the ACL to each message it delivers, so
  // "subscribed" says nothing about access; it only means the filters are in place.
  [[nodiscard]] bool wait_subscribed() const;

  [[nodiscard]] std::vector<Message> messages() const;
  // Messages with this payload.
  [[nodiscard]] std::size_t count(std::string_view payload) const;
  // Messages on this topic.
  [[nodiscard]] std::size_t count_on(const std::string& topic) const;
  // Messages on `topic` whose payload contains `part`.
  [[nodiscard]] std::size_t count_with(const std::string& topic, std::string_view part) const;
  [[nodiscard]] bool received(const std::string& topic, std::string_view payload) const;
  [[nodiscard]] bool wait_for(const std::string& topic, std::string_view payload) const;
  [[nodiscard]] bool wait_for_count(std::string_view payload, std::size_t n) const;

  // The JSON documents received on `topic` (payloads that are not JSON are skipped).
  [[nodiscard]] std::vector<nlohmann::json> documents(const std::string& topic) const;
  // Waits for a document on `topic` that `accept`s; null when none came.
  [[nodiscard]] nlohmann::json wait_for_document(
      const std::string& topic, const std::function<bool(const nlohmann::json&)>& accept) const;

  // Everything it printed (debug lines included), for failure messages.
  [[nodiscard]] std::string output() const;

 private:
  std::unique_ptr<Process> process_;
  std::chrono::milliseconds wait_;
};

// REQUIREs that `subscriber` subscribed, with its output and the broker's log when it did not.
void require_subscribed(const Subscriber& subscriber, const MosquittoBroker& broker);

// A client that ran to its end.
struct Finished {
  ExitStatus status;
  std::string output;  // stdout then stderr
  [[nodiscard]] bool failed() const { return !status.exited() || status.code != 0; }
};

// Waits for `process` to end; REQUIREs that it does within `timeout` (its output in the message).
Finished finish_within(Process& process, std::chrono::milliseconds timeout);

// Runs the installed program `program` to its end (output files named after it).
Finished run_installed(const TempDir& dir, std::string_view program, std::vector<std::string> args,
                       std::chrono::milliseconds timeout = kClientWait);

// mosquitto_pub as `login` with QoS 1: once it returns, the broker has routed or refused the
// message. mosquitto_pub exits 0 when the broker refuses a message for the ACL (it warns "Not
// authorized"); it fails when it cannot connect (a refused login included).
Finished publish(const TempDir& dir, const Login& login, const std::string& topic,
                 std::string_view payload, std::chrono::milliseconds timeout = kClientWait);
// The same as `identity` with its certificate on the TLS listener.
Finished publish(const MosquittoBroker& broker, const TempDir& dir, std::string_view identity,
                 const std::string& topic, std::string_view payload,
                 std::chrono::milliseconds timeout = kClientWait);
// mosquitto_pub -l as `login`: one message per line of `lines` over one connection, QoS 1, so
// the broker has them all when it returns.
Finished publish_lines(const TempDir& dir, const Login& login, const std::string& topic,
                       const std::vector<std::string>& lines,
                       std::chrono::milliseconds timeout = kClientWait);

// Whether mosquitto_pub was told "Not authorized" (a refused login or publication).
[[nodiscard]] bool not_authorized(const Finished& publisher);

}  // namespace jambox::test
