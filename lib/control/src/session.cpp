#include <jambox/control/backoff.hpp>
#include <jambox/control/session.hpp>
#include <jambox/log/log.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <mqtt/async_client.h>
#include <openssl/rand.h>

#include <MQTTAsync.h>
#include <MQTTReasonCodes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <random>
#include <stdexcept>

namespace jambox::control {

std::string_view link_state_name(LinkState state) noexcept {
  switch (state) {
    case LinkState::disconnected:
      return "disconnected";
    case LinkState::connecting:
      return "connecting";
    case LinkState::connected:
      return "connected";
    case LinkState::reconnecting:
      return "reconnecting";
  }
  return "disconnected";
}

namespace {

// The configured client id, or the identity with 64 random bits: unguessable, and still telling
// in the broker's log whose connection it is.
SessionConfig with_client_id(SessionConfig c) {
  if (!c.client_id.empty()) return c;
  std::array<unsigned char, 8> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    throw std::runtime_error("no randomness for the MQTT client id");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  c.client_id = c.identity + "-";
  for (const unsigned char b : bytes) {
    c.client_id += kHex[b >> 4];
    c.client_id += kHex[b & 0x0f];
  }
  return c;
}

bool uses_tls(const std::string& uri) {
  return uri.rfind("ssl://", 0) == 0 || uri.rfind("wss://", 0) == 0 ||
         uri.rfind("mqtts://", 0) == 0;
}

std::string describe(const mqtt::token& token) {
  const int rc = token.get_return_code();
  std::string text;
  if (rc != 0) {
    const char* what = MQTTAsync_strerror(rc);
    text = what != nullptr ? what : "error " + std::to_string(rc);
  }
  if (const auto reason = static_cast<MQTTReasonCodes>(token.get_reason_code()); reason != 0) {
    if (!text.empty()) text += ", ";
    const char* what = MQTTReasonCode_toString(reason);
    text += std::string("broker says: ") +
            (what != nullptr ? what : "reason " + std::to_string(static_cast<int>(reason)));
  }
  return text.empty() ? "no reason given" : text;
}

// A Paho user context carrying the connection generation an operation belongs to, so that a
// late answer about an earlier connection is recognised as such.
void* context_of(std::uintptr_t generation) {
  return reinterpret_cast<void*>(generation);  // NOLINT(performance-no-int-to-ptr)
}

std::uintptr_t generation_of(const mqtt::token& token) {
  return reinterpret_cast<std::uintptr_t>(token.get_user_context());
}

std::string reason_name(int code) {
  const char* what = MQTTReasonCode_toString(static_cast<MQTTReasonCodes>(code));
  return what != nullptr ? what : "reason " + std::to_string(code);
}

// Text from the broker or the library as one bounded, printable line: it ends up in the journal
// and in the box's status.
std::string printable(std::string_view text) {
  constexpr std::size_t kMax = 200;
  std::string out;
  for (const char c : text.substr(0, kMax)) {
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  if (text.size() > kMax) out += "...";
  return out;
}

std::size_t varint_size(std::size_t n) {
  if (n < 128) return 1;
  if (n < 16'384) return 2;
  if (n < 2'097'152) return 3;
  return 4;
}

// The exact size of the MQTT 5 PUBLISH packet for this message: the broker's Maximum Packet Size
// is on the whole packet (fixed header, topic, packet id, properties, payload).
std::size_t publish_packet_size(std::size_t topic, std::size_t payload,
                                const PublishOptions& options) {
  std::size_t properties = 0;
  if (!options.response_topic.empty()) properties += 1 + 2 + options.response_topic.size();
  if (!options.correlation.empty()) properties += 1 + 2 + options.correlation.size();
  const std::size_t remaining =
      2 + topic + (options.qos > 0 ? 2 : 0) + varint_size(properties) + properties + payload;
  return 1 + varint_size(remaining) + remaining;
}

// Logs at most one warning per interval for a kind of event that a peer or a bug can repeat at
// any rate, with how many were not logged in between.
class RateLimitedWarning {
 public:
  template <typename Write>
  void operator()(Write&& write) {
    const auto now = std::chrono::steady_clock::now();
    if (logged_ && now - last_ < std::chrono::seconds(10)) {
      ++suppressed_;
      return;
    }
    write(suppressed_);
    logged_ = true;
    last_ = now;
    suppressed_ = 0;
  }

 private:
  bool logged_ = false;
  std::chrono::steady_clock::time_point last_{};
  std::uint64_t suppressed_ = 0;
};

std::string suppressed_note(std::uint64_t suppressed) {
  return suppressed == 0 ? std::string()
                         : " (" + std::to_string(suppressed) + " more since the last warning)";
}

// The broker's TCP port from the URI (ssl://host:8883, wss://host/path -> 443, ...).
int broker_port(const std::string& uri) {
  const auto scheme_end = uri.find("://");
  const std::string scheme = scheme_end == std::string::npos ? "" : uri.substr(0, scheme_end);
  std::string rest = scheme_end == std::string::npos ? uri : uri.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find('/'));
  const auto bracket = rest.rfind(']');
  const auto colon = rest.rfind(':');
  if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
    int port = 0;
    const char* first = rest.data() + colon + 1;
    if (std::from_chars(first, rest.data() + rest.size(), port).ec == std::errc()) return port;
  }
  if (scheme == "wss") return 443;
  if (scheme == "ws") return 80;
  return scheme == "tcp" || scheme == "mqtt" ? 1883 : 8883;
}

// Paho C 1.3.12 leaves Nagle's algorithm on and has no option for it (eclipse-paho/paho.mqtt.c
// #530, added in a later release): every command whose write follows a PUBACK then waits for the
// broker's delayed ACK, 40 ms per hop. So after connecting we find our TCP connections to the
// broker's port among our own descriptors and set TCP_NODELAY on them ourselves.
void disable_nagle_towards(int port) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    int fd = -1;
    const std::string name = entry.path().filename().string();
    if (std::from_chars(name.data(), name.data() + name.size(), fd).ec != std::errc()) continue;
    int type = 0;
    socklen_t length = sizeof type;
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) != 0 || type != SOCK_STREAM) {
      continue;
    }
    sockaddr_storage peer{};
    length = sizeof peer;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &length) != 0) continue;
    int peer_port = 0;
    if (peer.ss_family == AF_INET) {
      peer_port = ntohs(reinterpret_cast<const sockaddr_in*>(&peer)->sin_port);
    } else if (peer.ss_family == AF_INET6) {
      peer_port = ntohs(reinterpret_cast<const sockaddr_in6*>(&peer)->sin6_port);
    }
    if (peer_port != port) continue;
    const int on = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  }
}

// Every subscription asks for Retain As Published: readers can then tell a retained message
// (which stays on the broker for every later subscriber) from a passing one, e.g. the room
// server clearing retained garbage from room topics.
mqtt::subscribe_options subscribe_options() {
  return mqtt::subscribe_options(false, true);
}

// An action listener that forwards to a function (Paho wants an object).
class Listener final : public mqtt::iaction_listener {
 public:
  using Callback = std::function<void(const mqtt::token&, bool)>;
  explicit Listener(Callback callback) : callback_(std::move(callback)) {}
  void on_success(const mqtt::token& token) override { callback_(token, true); }
  void on_failure(const mqtt::token& token) override { callback_(token, false); }

 private:
  Callback callback_;
};

}  // namespace

struct Session::Impl : std::enable_shared_from_this<Impl> {
  // How an established connection ended.
  enum class Loss : std::uint8_t { lost, server_disconnect, publish_failed };

  Impl(boost::asio::io_context& context, SessionConfig c, SessionEvents e)
      : io(context),
        config(with_client_id(std::move(c))),
        events(std::move(e)),
        connect_listener([this](const mqtt::token& t, bool ok) { on_connect_result(t, ok); }),
        subscribe_listener([this](const mqtt::token& t, bool ok) { on_subscribe_result(t, ok); }),
        publish_listener([this](const mqtt::token& t, bool ok) { on_publish_result(t, ok); }),
        client(config.uri, config.client_id, mqtt::create_options(MQTTVERSION_5)),
        retry(io),
        backoff(BackoffSchedule{.quick = config.backoff_quick,
                                .first = config.backoff_first,
                                .ceiling = config.backoff_ceiling},
                std::random_device{}()) {}

  boost::asio::io_context& io;
  SessionConfig config;
  SessionEvents events;
  // Declared before the client, so they outlive it: destroying the client may still fail its
  // outstanding operations through them.
  Listener connect_listener;
  Listener subscribe_listener;
  Listener publish_listener;
  mqtt::async_client client;
  boost::asio::steady_timer retry;
  Backoff backoff;
  std::atomic<std::size_t> in_flight{0};
  // Every connect attempt gets the next generation; operations carry theirs, and Paho's
  // connection-wide callbacks take the one current when they fire (Paho reports a connection's
  // end before it can start the next one), so reports about an earlier connection are ignored.
  std::uintptr_t generation = 0;
  std::atomic<std::uintptr_t> paho_generation{0};
  // From a successful CONNACK until the loss of that connection was handled: a loss reported
  // several ways (a DISCONNECT, then the failed in-flight publishes) is handled once.
  bool session_up = false;
  LinkState link = LinkState::disconnected;
  bool is_ready = false;
  std::size_t pending_subscriptions = 0;  // SUBACKs still awaited on this connection
  std::string subscription_problem;       // the first refusal among them
  bool stopping = false;
  bool ever_connected = false;
  std::chrono::milliseconds retry_delay{0};
  std::size_t broker_max_packet = 0;  // 0: the broker announced no limit
  std::string last_loss;
  SessionCounters counters;
  RateLimitedWarning too_large_warning;
  RateLimitedWarning rejected_warning;

  // Runs `f` on the loop if this session still exists then (Paho threads call this).
  template <typename F>
  void on_loop(F&& f) {
    boost::asio::post(io, [weak = weak_from_this(), f = std::forward<F>(f)]() mutable {
      if (const auto self = weak.lock(); self && !self->stopping) f(*self);
    });
  }

  void set_state(LinkState next, const std::string& why) {
    if (next == link && why.empty()) return;
    link = next;
    if (events.state) events.state(next, why);
  }

  mqtt::connect_options options() const {
    auto builder = mqtt::connect_options_builder()
                       .mqtt_version(MQTTVERSION_5)
                       .clean_start(true)
                       .keep_alive_interval(config.keep_alive)
                       .connect_timeout(config.connect_timeout)
                       .user_name(config.identity);
    if (!config.will_topic.empty()) {
      builder.will(mqtt::message(config.will_topic, config.will_payload, 1, false));
    }
    if (uses_tls(config.uri)) {
      // No error handler: Paho 1.2's SSL error callback can crash (eclipse/paho.mqtt.cpp#325).
      builder.ssl(mqtt::ssl_options_builder()
                      .trust_store(config.tls.ca.string())
                      .key_store(config.tls.cert.string())
                      .private_key(config.tls.key.string())
                      .enable_server_cert_auth(true)
                      .verify(true)
                      .finalize());
    }
    return builder.finalize();
  }

  void install_callbacks() {
    // Paho C calls this when it closes a connection it saw fail: a read or write error, or no
    // PINGRESP within 1.5 keep-alive intervals. Not after a broker's DISCONNECT (see below).
    client.set_connection_lost_handler([this](const std::string& cause) {
      const std::uintptr_t gen = paho_generation.load();
      on_loop([cause, gen](Impl& self) {
        // Paho marks the client disconnected before it calls this; connected again means a
        // newer connection is up and this report is about an older one.
        if (self.client.is_connected()) return;
        self.on_loss(gen, Loss::lost,
                     "the connection to " + self.config.uri + " was lost" +
                         (cause.empty() ? std::string() : " (" + printable(cause) + ")"));
      });
    });
    // MQTT 5: the broker says why it ends the connection. Paho C 1.3 closes the connection
    // afterwards without calling the connection-lost handler, so this is the only notice.
    client.set_disconnected_handler([this](const mqtt::properties& props, mqtt::ReasonCode code) {
      std::string why = "the broker closed the connection: " + reason_name(static_cast<int>(code));
      try {
        if (props.contains(mqtt::property::REASON_STRING)) {
          why +=
              " (" + printable(mqtt::get<std::string>(props, mqtt::property::REASON_STRING)) + ")";
        }
      } catch (const std::exception&) {
        // A malformed reason string: the reason code says enough.
      }
      const std::uintptr_t gen = paho_generation.load();
      on_loop([why = std::move(why), gen](Impl& self) {
        self.on_loss(gen, Loss::server_disconnect, why);
      });
    });
    client.set_message_callback([this](mqtt::const_message_ptr m) {
      Message copy;
      copy.topic = m->get_topic();
      copy.payload = m->get_payload_str();
      copy.retained = m->is_retained();
      const mqtt::properties& props = m->get_properties();
      if (props.contains(mqtt::property::RESPONSE_TOPIC)) {
        copy.response_topic = mqtt::get<std::string>(props, mqtt::property::RESPONSE_TOPIC);
      }
      if (props.contains(mqtt::property::CORRELATION_DATA)) {
        copy.correlation = mqtt::get<std::string>(props, mqtt::property::CORRELATION_DATA);
      }
      on_loop([copy = std::move(copy)](Impl& self) {
        ++self.counters.messages_in;
        if (self.events.message) self.events.message(copy);
      });
    });
  }

  void connect() {
    is_ready = false;
    session_up = false;
    retry_delay = std::chrono::milliseconds(0);
    ++generation;
    paho_generation.store(generation);
    set_state(ever_connected ? LinkState::reconnecting : LinkState::connecting, {});
    try {
      client.connect(options(), context_of(generation), connect_listener);
    } catch (const mqtt::exception& e) {
      ++counters.connect_failures;
      schedule_retry(std::string("cannot start connecting: ") + e.what());
    }
  }

  void schedule_retry(const std::string& why) {
    if (stopping) return;
    is_ready = false;
    retry_delay = backoff.next(Backoff::Clock::now());
    set_state(ever_connected ? LinkState::reconnecting : LinkState::connecting,
              why + "; next attempt in " + std::to_string(retry_delay.count()) + " ms");
    // Re-arming cancels a pending wait: there is only ever one attempt scheduled.
    retry.expires_after(retry_delay);
    retry.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      if (const auto self = weak.lock(); self && !self->stopping && !self->session_up) {
        self->connect();
      }
    });
  }

  // Paho threads -----------------------------------------------------------------------------

  void on_connect_result(const mqtt::token& token, bool ok) {
    const std::uintptr_t gen = generation_of(token);
    const std::string why = ok ? std::string() : describe(token);
    std::size_t max_packet = 0;
    if (ok) {
      try {
        const mqtt::connect_response response = token.get_connect_response();
        const mqtt::properties& props = response.get_properties();
        if (props.contains(mqtt::property::MAXIMUM_PACKET_SIZE)) {
          max_packet = mqtt::get<std::uint32_t>(props, mqtt::property::MAXIMUM_PACKET_SIZE);
        }
      } catch (const std::exception&) {
        // No CONNACK properties: no announced limit; our own still applies.
      }
    }
    on_loop([ok, why, gen, max_packet](Impl& self) {
      if (gen != self.generation || self.session_up) return;  // about an abandoned attempt
      if (!ok) {
        ++self.counters.connect_failures;
        self.schedule_retry("connecting to " + self.config.uri + " failed (" + why + ")");
        return;
      }
      ++self.counters.connects;
      self.ever_connected = true;
      self.session_up = true;
      self.broker_max_packet = max_packet;
      disable_nagle_towards(broker_port(self.config.uri));
      self.subscribe();
    });
  }

  void on_subscribe_result(const mqtt::token& token, bool ok) {
    const std::uintptr_t gen = generation_of(token);
    std::string why;
    if (!ok) {
      why = describe(token);
    } else {
      // MQTT 5: a SUBACK may refuse single filters (0x87 not authorized) and still "succeed".
      const mqtt::subscribe_response response = token.get_subscribe_response();
      for (const auto code : response.get_reason_codes()) {
        if (static_cast<int>(code) >= 0x80) {
          why = "the broker refused a subscription (reason " +
                std::to_string(static_cast<int>(code)) + "): check the broker's ACL";
          break;
        }
      }
    }
    on_loop([why, gen](Impl& self) {
      if (gen == self.generation && self.session_up) self.subscription_answered(why);
    });
  }

  void on_publish_result(const mqtt::token& token, bool ok) {
    in_flight.fetch_sub(1, std::memory_order_relaxed);
    if (ok) return;
    const std::uintptr_t gen = generation_of(token);
    // Paho C 1.3.12 fails a QoS 1 publish two ways: the broker's PUBACK with a reason >= 0x80
    // (return code 0, the reason code set), or on our side (a negative return code: the write
    // failed, or the connection closed with the message in flight).
    const int rc = token.get_return_code();
    const int reason = static_cast<int>(token.get_reason_code());
    std::string topic;
    if (const auto* delivery = dynamic_cast<const mqtt::delivery_token*>(&token)) {
      if (const auto message = delivery->get_message()) topic = message->get_topic();
    }
    on_loop([gen, rc, reason, topic = std::move(topic)](Impl& self) {
      self.on_publish_failed(gen, rc, reason, topic);
    });
  }

  // Loop thread -------------------------------------------------------------------------------

  // One SUBSCRIBE per filter, each with our subscribe options: Paho C++ 1.2 crashes when a
  // many-filter subscribe carries options (eclipse-paho/paho.mqtt.cpp#524, fixed after 1.2).
  // The session is ready once every filter was acknowledged.
  void subscribe() {
    if (config.subscriptions.empty()) {
      on_subscribed({});
      return;
    }
    pending_subscriptions = config.subscriptions.size();
    subscription_problem.clear();
    for (const auto& filter : config.subscriptions) {
      try {
        client.subscribe(filter, 1, context_of(generation), subscribe_listener,
                         subscribe_options());
      } catch (const mqtt::exception& e) {
        pending_subscriptions = 0;
        on_subscribed(std::string("cannot subscribe: ") + e.what());
        return;
      }
    }
  }

  void subscription_answered(const std::string& why) {
    if (pending_subscriptions == 0) return;
    if (!why.empty() && subscription_problem.empty()) subscription_problem = why;
    if (--pending_subscriptions == 0) on_subscribed(subscription_problem);
  }

  void on_subscribed(const std::string& why) {
    if (!why.empty()) {
      // Connected but deaf: worse than a clean failure, so drop the connection and retry.
      log::error("{}", why);
      session_up = false;
      try {
        client.disconnect();
      } catch (const mqtt::exception&) {
      }
      schedule_retry(why);
      return;
    }
    backoff.reset();
    is_ready = true;
    set_state(LinkState::connected, "subscriptions acknowledged");
    if (events.ready) events.ready();
  }

  void on_publish_failed(std::uintptr_t gen, int rc, int reason, const std::string& topic) {
    ++counters.publish_failed;
    if (rc == MQTTASYNC_SUCCESS && reason >= 0x80) {
      ++counters.publish_rejected;
      rejected_warning([&](std::uint64_t suppressed) {
        log::warning("the broker refused a message on {}: {}{}", printable(topic),
                     reason_name(reason), suppressed_note(suppressed));
      });
      return;
    }
    const char* what = MQTTAsync_strerror(rc);
    on_loss(gen, Loss::publish_failed,
            "a message could not be sent (" +
                std::string(what != nullptr ? what : "error " + std::to_string(rc)) + ")");
  }

  // The one way an established connection ends, however it was reported.
  void on_loss(std::uintptr_t gen, Loss how, const std::string& why) {
    if (gen != generation || !session_up || stopping) return;  // older, or already handled
    session_up = false;
    ++counters.connection_losses;
    if (how == Loss::server_disconnect) ++counters.server_disconnects;
    last_loss = why;
    log::warning("MQTT: {}", why);
    if (how == Loss::publish_failed && client.is_connected()) {
      // Paho still holds a connection that failed to carry a message: close it before the
      // next attempt rather than keep writing into it.
      try {
        client.disconnect();
      } catch (const mqtt::exception&) {
      }
    }
    schedule_retry(why);
  }
};

Session::Session(boost::asio::io_context& io, SessionConfig config, SessionEvents events)
    : impl_(std::make_shared<Impl>(io, std::move(config), std::move(events))) {
  impl_->install_callbacks();
}

Session::~Session() {
  impl_->stopping = true;
  impl_->retry.cancel();
  try {
    if (impl_->client.is_connected()) impl_->client.disconnect()->wait_for(std::chrono::seconds(1));
  } catch (const mqtt::exception&) {
  }
  // Paho C refuses to change callbacks while a connect (or disconnect) is under way, e.g. a
  // reconnect after another client took over our client id, and Paho C++ then throws, after it
  // has already emptied its own handler: the handlers are off either way, and an exception
  // leaving a destructor would end the process.
  const auto quietly = [](auto&& reset) {
    try {
      reset();
    } catch (const mqtt::exception&) {
    }
  };
  quietly([this] { impl_->client.set_connection_lost_handler(nullptr); });
  quietly([this] { impl_->client.set_disconnected_handler(nullptr); });
  quietly([this] { impl_->client.set_message_callback(nullptr); });
}

void Session::start() {
  impl_->connect();
}

void Session::stop(std::chrono::milliseconds grace, const std::string& final_topic,
                   const std::string& final_payload) {
  Impl& s = *impl_;
  if (s.stopping) return;
  s.stopping = true;
  s.retry.cancel();
  try {
    if (s.client.is_connected()) {
      if (!final_topic.empty()) {
        s.client.publish(final_topic, final_payload.data(), final_payload.size(), 1, false)
            ->wait_for(grace);
      }
      s.client.disconnect()->wait_for(grace);
    }
  } catch (const mqtt::exception& e) {
    log::warning("MQTT disconnect: {}", e.what());
  }
  s.is_ready = false;
  s.set_state(LinkState::disconnected, "stopped");
}

bool Session::publish(const std::string& topic, std::string_view payload,
                      const PublishOptions& options) {
  Impl& s = *impl_;
  // Sizes first, so that an oversized message is always counted as such, connected or not. The
  // broker's limit is checked too: a broker answers an oversized packet by disconnecting us.
  const std::size_t packet = publish_packet_size(topic.size(), payload.size(), options);
  const bool over_ours = payload.size() > s.config.max_payload_bytes;
  if (over_ours || (s.broker_max_packet != 0 && packet > s.broker_max_packet)) {
    ++s.counters.publish_too_large;
    s.too_large_warning([&](std::uint64_t suppressed) {
      if (over_ours) {
        log::warning("not publishing {} bytes on {}: the limit is {} bytes{}", payload.size(),
                     printable(topic), s.config.max_payload_bytes, suppressed_note(suppressed));
      } else {
        log::warning(
            "not publishing {} bytes on {}: the {}-byte packet exceeds the broker's "
            "maximum packet size of {} bytes{}",
            payload.size(), printable(topic), packet, s.broker_max_packet,
            suppressed_note(suppressed));
      }
    });
    return false;
  }
  if (s.stopping || !s.client.is_connected() ||
      s.in_flight.load(std::memory_order_relaxed) >= s.config.max_in_flight) {
    ++s.counters.publish_refused;
    return false;
  }
  auto message =
      mqtt::make_message(topic, payload.data(), payload.size(), options.qos, options.retained);
  if (!options.response_topic.empty() || !options.correlation.empty()) {
    mqtt::properties props;
    if (!options.response_topic.empty()) {
      props.add({mqtt::property::RESPONSE_TOPIC, options.response_topic});
    }
    if (!options.correlation.empty()) {
      props.add({mqtt::property::CORRELATION_DATA, mqtt::binary_ref(options.correlation)});
    }
    message->set_properties(props);
  }
  try {
    s.in_flight.fetch_add(1, std::memory_order_relaxed);
    s.client.publish(message, context_of(s.generation), s.publish_listener);
  } catch (const mqtt::exception&) {
    s.in_flight.fetch_sub(1, std::memory_order_relaxed);
    ++s.counters.publish_refused;
    return false;
  }
  ++s.counters.published;
  return true;
}

void Session::subscribe(const std::string& filter) {
  Impl& s = *impl_;
  auto& list = s.config.subscriptions;
  if (std::find(list.begin(), list.end(), filter) != list.end()) return;
  list.push_back(filter);
  if (!s.session_up) return;  // the next connect subscribes to the whole list
  try {
    if (s.is_ready) {
      s.client.subscribe(filter, 1, subscribe_options());
    } else {
      // Connected, the first SUBACKs still outstanding (a command may already have arrived on
      // an acknowledged filter): one more to wait for before the session is ready.
      ++s.pending_subscriptions;
      s.client.subscribe(filter, 1, context_of(s.generation), s.subscribe_listener,
                         subscribe_options());
    }
  } catch (const mqtt::exception& e) {
    if (!s.is_ready && s.pending_subscriptions > 0) --s.pending_subscriptions;
    log::warning("MQTT subscribe {}: {}", filter, e.what());
  }
}

bool Session::resend_retained(const std::string& filter) {
  Impl& s = *impl_;
  const auto& list = s.config.subscriptions;
  if (!s.is_ready || std::find(list.begin(), list.end(), filter) == list.end()) return false;
  try {
    s.client.subscribe(filter, 1, subscribe_options());
  } catch (const mqtt::exception& e) {
    log::warning("MQTT subscribe {}: {}", filter, e.what());
    return false;
  }
  return true;
}

void Session::unsubscribe(const std::string& filter) {
  Impl& s = *impl_;
  auto& list = s.config.subscriptions;
  const auto it = std::find(list.begin(), list.end(), filter);
  if (it == list.end()) return;
  list.erase(it);
  if (!s.session_up) return;
  try {
    s.client.unsubscribe(filter);
  } catch (const mqtt::exception& e) {
    log::warning("MQTT unsubscribe {}: {}", filter, e.what());
  }
}

LinkState Session::state() const noexcept {
  return impl_->link;
}

bool Session::ready() const noexcept {
  return impl_->is_ready;
}

const SessionCounters& Session::counters() const noexcept {
  return impl_->counters;
}

std::chrono::milliseconds Session::retry_in() const noexcept {
  return impl_->link == LinkState::connected ? std::chrono::milliseconds(0) : impl_->retry_delay;
}

const std::string& Session::client_id() const noexcept {
  return impl_->config.client_id;
}

std::string Session::last_loss_reason() const {
  return impl_->last_loss;
}

std::size_t Session::broker_packet_limit() const noexcept {
  return impl_->broker_max_packet;
}

std::size_t Session::in_flight() const noexcept {
  return impl_->in_flight.load(std::memory_order_relaxed);
}

}  // namespace jambox::control
