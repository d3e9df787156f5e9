#pragma once
// The box's (or a service's) MQTT 5 session over mutual TLS: the one place that uses Eclipse
// Paho. Everything it reports happens on the caller's Asio loop: Paho's callbacks run on the
// library's threads and only post to the loop, so nothing ever blocks inside them.
//
// Connect: clean start, keep-alive, user name = our identity, client id = the identity plus a
// random suffix (see client_id()), Last Will. On every
// connect it subscribes again (clean start forgets subscriptions) and counts as ready only once
// the broker acknowledged them. A lost working connection is retried after a random
// 0..backoff_quick (a broker restart), refused or failing attempts with exponential backoff and
// jitter from backoff_first, reset after a connection that became ready (see backoff.hpp).
//
// Losing the session: Paho reports a connection it saw break (an I/O error, or no PINGRESP within
// one and a half keep-alive intervals) as lost, but a broker's MQTT 5 DISCONNECT (e.g. 0x95
// "Packet too large") only through its own handler, and a QoS 1 publish that failed on our side
// only through that publish. Each of these ends the connection the same way: counted, state
// reconnecting with the reason (also kept in last_loss_reason()), and one reconnect after the
// usual backoff, however many of them report the same loss. A PUBACK refusing one message
// (reason >= 0x80, e.g. 0x87 not authorized by the ACL) is counted and logged but leaves the
// connection up: reconnecting would not make the broker accept it.
//
// Outbound limits: publish() refuses a payload over max_payload_bytes, and a packet larger than
// the Maximum Packet Size the broker announced in its CONNACK, rather than sending something the
// broker answers by disconnecting us.

#include <jambox/control/identity.hpp>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace jambox::control {

enum class LinkState : std::uint8_t { disconnected, connecting, connected, reconnecting };
[[nodiscard]] std::string_view link_state_name(LinkState state) noexcept;

struct SessionConfig {
  std::string uri;       // ssl://host:8883, wss://host/mqtt, or tcp://host:1883 (lab only)
  std::string identity;  // user name: the certificate's CN
  // "" (the default): identity + "-" + 16 random hex digits, new for each Session. The broker
  // lets a client with a connected client's id close that client's connection, and ids are not
  // tied to identities (nor to listeners: a musician's page could use any id), so an id nobody
  // can guess is what keeps other clients from knocking a box or a service off the broker.
  std::string client_id;
  TlsFiles tls;            // not used for tcp://
  std::string will_topic;  // empty: no Last Will
  std::string will_payload;
  std::vector<std::string> subscriptions;  // topic filters, QoS 1
  std::chrono::seconds keep_alive{60};
  // The first retry after losing a ready connection: random in [0, backoff_quick], at most one
  // such per minute; then backoff_first, doubling up to backoff_ceiling, each + 0..25 %.
  std::chrono::milliseconds backoff_quick{250};
  std::chrono::milliseconds backoff_first{1000};
  std::chrono::milliseconds backoff_ceiling{300'000};
  std::chrono::seconds connect_timeout{10};
  std::size_t max_in_flight = 256;  // publishes not yet acknowledged; more are refused
  // The largest payload publish() sends; larger ones are refused (and counted) without a word to
  // the broker.
  std::size_t max_payload_bytes = 256 * 1024;
};

struct Message {
  std::string topic;
  std::string payload;
  std::string response_topic;  // MQTT 5 Response Topic, when present
  std::string correlation;     // MQTT 5 Correlation Data, when present
  // Published as retained (subscriptions ask for Retain As Published, so this is true both for
  // a stored message delivered on subscribing and for a retained publication seen live).
  bool retained = false;
};

struct PublishOptions {
  int qos = 1;
  bool retained = false;
  std::string response_topic;
  std::string correlation;
};

struct SessionEvents {
  std::function<void(LinkState state, const std::string& why)> state;
  std::function<void()> ready;  // connected and every subscription acknowledged
  std::function<void(const Message&)> message;
};

struct SessionCounters {
  std::uint64_t connects = 0;
  std::uint64_t connect_failures = 0;
  std::uint64_t connection_losses = 0;   // established connections that ended, for any reason
  std::uint64_t server_disconnects = 0;  // ... of them: the broker sent DISCONNECT
  std::uint64_t messages_in = 0;
  std::uint64_t published = 0;
  std::uint64_t publish_refused = 0;    // not connected, or too many in flight
  std::uint64_t publish_too_large = 0;  // over max_payload_bytes or the broker's packet limit
  std::uint64_t publish_failed = 0;     // queued but not delivered (includes publish_rejected)
  std::uint64_t publish_rejected = 0;   // ... of them: the broker's PUBACK said no (>= 0x80)
};

class Session {
 public:
  Session(boost::asio::io_context& io, SessionConfig config, SessionEvents events);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start();
  // Publishes `final_topic`/`final_payload` first when given (e.g. an explicit offline status: a
  // clean disconnect does not fire the Last Will), then disconnects. Waits at most `grace`;
  // call from the loop's thread at shutdown only.
  void stop(std::chrono::milliseconds grace, const std::string& final_topic = {},
            const std::string& final_payload = {});

  // Queues a message; false (and counted) when not connected, too many are in flight, or the
  // payload or the packet is too large (see SessionConfig::max_payload_bytes).
  bool publish(const std::string& topic, std::string_view payload,
               const PublishOptions& options = {});

  // Adds (removes) a topic filter, QoS 1, now if connected and on every later connect.
  void subscribe(const std::string& filter);
  void unsubscribe(const std::string& filter);
  // Subscribes to one of our filters again, so the broker sends what it retains there anew.
  // A broker drops messages to a subscriber that falls behind (mosquitto: "Outgoing messages are
  // being dropped"); whoever must see every retained message re-reads them this way. False when
  // not ready or `filter` is not ours.
  bool resend_retained(const std::string& filter);

  [[nodiscard]] LinkState state() const noexcept;
  [[nodiscard]] bool ready() const noexcept;
  // The MQTT client id this session connects with (SessionConfig::client_id).
  [[nodiscard]] const std::string& client_id() const noexcept;
  [[nodiscard]] const SessionCounters& counters() const noexcept;
  // The delay before the next attempt while reconnecting, else zero.
  [[nodiscard]] std::chrono::milliseconds retry_in() const noexcept;
  // Why the last established connection ended ("the broker closed the connection: Packet too
  // large"); empty until one did.
  [[nodiscard]] std::string last_loss_reason() const;
  // The Maximum Packet Size from the broker's last CONNACK; 0 when it announced none.
  [[nodiscard]] std::size_t broker_packet_limit() const noexcept;
  // Publications queued and not yet acknowledged (or failed): 0 once the broker has them all.
  [[nodiscard]] std::size_t in_flight() const noexcept;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace jambox::control
