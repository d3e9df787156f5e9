#include <jambox/control/backoff.hpp>
#include <jambox/control/session.hpp>
#include <jambox/log/log.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <mqtt/async_client.h>

#include <MQTTAsync.h>
#include <MQTTReasonCodes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <filesystem>
#include <random>

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
  Impl(boost::asio::io_context& context, SessionConfig c, SessionEvents e)
      : io(context),
        config(std::move(c)),
        events(std::move(e)),
        client(config.uri, config.identity, mqtt::create_options(MQTTVERSION_5)),
        retry(io),
        backoff(config.backoff_first, config.backoff_ceiling, 0.25, std::random_device{}()),
        connect_listener([this](const mqtt::token& t, bool ok) { on_connect_result(t, ok); }),
        subscribe_listener([this](const mqtt::token& t, bool ok) { on_subscribe_result(t, ok); }),
        publish_listener([this](const mqtt::token& /*t*/, bool ok) {
          in_flight.fetch_sub(1, std::memory_order_relaxed);
          if (!ok) failed_publishes.fetch_add(1, std::memory_order_relaxed);
        }) {}

  boost::asio::io_context& io;
  SessionConfig config;
  SessionEvents events;
  mqtt::async_client client;
  boost::asio::steady_timer retry;
  Backoff backoff;
  Listener connect_listener;
  Listener subscribe_listener;
  Listener publish_listener;
  std::atomic<std::size_t> in_flight{0};
  std::atomic<std::uint64_t> failed_publishes{0};
  LinkState link = LinkState::disconnected;
  bool is_ready = false;
  bool stopping = false;
  bool ever_connected = false;
  std::chrono::milliseconds retry_delay{0};
  SessionCounters counters;

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
    client.set_connection_lost_handler([this](const std::string& cause) {
      on_loop([cause](Impl& self) { self.on_lost(cause); });
    });
    client.set_message_callback([this](mqtt::const_message_ptr m) {
      Message copy;
      copy.topic = m->get_topic();
      copy.payload = m->get_payload_str();
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
    retry_delay = std::chrono::milliseconds(0);
    set_state(ever_connected ? LinkState::reconnecting : LinkState::connecting, {});
    try {
      client.connect(options(), nullptr, connect_listener);
    } catch (const mqtt::exception& e) {
      ++counters.connect_failures;
      schedule_retry(std::string("cannot start connecting: ") + e.what());
    }
  }

  void schedule_retry(const std::string& why) {
    if (stopping) return;
    is_ready = false;
    retry_delay = backoff.next();
    set_state(ever_connected ? LinkState::reconnecting : LinkState::connecting,
              why + "; next attempt in " + std::to_string(retry_delay.count()) + " ms");
    retry.expires_after(retry_delay);
    retry.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      if (ec) return;
      if (const auto self = weak.lock(); self && !self->stopping) self->connect();
    });
  }

  // Paho threads -----------------------------------------------------------------------------

  void on_connect_result(const mqtt::token& token, bool ok) {
    const std::string why = ok ? std::string() : describe(token);
    on_loop([ok, why](Impl& self) {
      if (!ok) {
        ++self.counters.connect_failures;
        self.schedule_retry("connecting to " + self.config.uri + " failed (" + why + ")");
        return;
      }
      ++self.counters.connects;
      self.ever_connected = true;
      disable_nagle_towards(broker_port(self.config.uri));
      self.subscribe();
    });
  }

  void on_subscribe_result(const mqtt::token& token, bool ok) {
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
    on_loop([why](Impl& self) { self.on_subscribed(why); });
  }

  // Loop thread -------------------------------------------------------------------------------

  void subscribe() {
    if (config.subscriptions.empty()) {
      on_subscribed({});
      return;
    }
    auto filters = mqtt::string_collection::create(config.subscriptions);
    const mqtt::iasync_client::qos_collection qos(config.subscriptions.size(), 1);
    try {
      client.subscribe(filters, qos, nullptr, subscribe_listener);
    } catch (const mqtt::exception& e) {
      on_subscribed(std::string("cannot subscribe: ") + e.what());
    }
  }

  void on_subscribed(const std::string& why) {
    if (!why.empty()) {
      // Connected but deaf: worse than a clean failure, so drop the connection and retry.
      log::error("{}", why);
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

  void on_lost(const std::string& cause) {
    ++counters.connection_losses;
    schedule_retry("connection to " + config.uri + " lost" +
                   (cause.empty() ? std::string() : " (" + cause + ")"));
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
  impl_->client.set_connection_lost_handler(nullptr);
  impl_->client.set_message_callback(nullptr);
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
  s.counters.publish_failed = s.failed_publishes.load(std::memory_order_relaxed);
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
    s.client.publish(message, nullptr, s.publish_listener);
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
  if (!s.is_ready) return;  // the next connect subscribes to the whole list
  try {
    s.client.subscribe(filter, 1);
  } catch (const mqtt::exception& e) {
    log::warning("MQTT subscribe {}: {}", filter, e.what());
  }
}

void Session::unsubscribe(const std::string& filter) {
  Impl& s = *impl_;
  auto& list = s.config.subscriptions;
  const auto it = std::find(list.begin(), list.end(), filter);
  if (it == list.end()) return;
  list.erase(it);
  if (!s.is_ready) return;
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
  impl_->counters.publish_failed = impl_->failed_publishes.load(std::memory_order_relaxed);
  return impl_->counters;
}

std::chrono::milliseconds Session::retry_in() const noexcept {
  return impl_->link == LinkState::connected ? std::chrono::milliseconds(0) : impl_->retry_delay;
}

}  // namespace jambox::control
