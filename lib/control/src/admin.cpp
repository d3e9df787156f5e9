#include <jambox/control/admin.hpp>
#include <jambox/control/topics.hpp>
#include <jambox/message/limited_json.hpp>

#include <boost/asio/steady_timer.hpp>
#include <openssl/rand.h>

#include <array>
#include <cstdio>
#include <deque>
#include <stdexcept>

namespace jambox::control {

std::string make_uuid() {
  std::array<unsigned char, 16> b{};
  if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1) {
    throw std::runtime_error("no randomness for a UUID");
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);  // RFC 4122 variant
  char text[37];
  std::snprintf(text, sizeof text,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return text;
}

namespace {

// "<prefix>/player/<key>/<rest>" -> key and rest; false for anything else.
bool split_player_topic(const std::string& topic, const std::string& prefix, std::string& key,
                        std::string& rest) {
  const std::string head = prefix + "/player/";
  if (topic.rfind(head, 0) != 0) return false;
  const auto slash = topic.find('/', head.size());
  if (slash == std::string::npos) return false;
  key = topic.substr(head.size(), slash - head.size());
  rest = topic.substr(slash + 1);
  return true;
}

}  // namespace

// Acknowledgements held for commands not collected yet (a box's flood cannot grow them).
constexpr std::size_t kMaxHeldAcks = 256;

struct AdminClient::Impl {
  explicit Impl(AdminConfig c) : config(std::move(c)) {}

  AdminConfig config;
  boost::asio::io_context io;
  std::unique_ptr<Session> session;
  bool ready = false;
  std::string last_problem;
  std::map<std::string, nlohmann::json> acks;    // command_id -> ack
  std::deque<nlohmann::json> anonymous_acks;     // acks of commands without a usable id
  std::map<std::string, nlohmann::json> states;  // retained box states, by key
  std::function<void(const std::string&, const std::string&, const nlohmann::json&)> on_player;

  void on_message(const Message& m) {
    std::string key;
    std::string rest;
    if (!split_player_topic(m.topic, config.prefix, key, rest)) return;
    // A box's documents are peer input here too: limited, and a box cannot make the admin's
    // tool hold more than kMaxHeldAcks answers.
    message::ParseError error;
    auto parsed = message::parse_object(m.payload, message::box_document_limits(), error);
    if (!parsed) return;
    nlohmann::json doc = std::move(*parsed);
    if (rest == "command/ack") {
      if (doc.contains("command_id") && doc["command_id"].is_string()) {
        const std::string id = doc["command_id"].get<std::string>();
        if (acks.size() >= kMaxHeldAcks && !acks.contains(id)) acks.erase(acks.begin());
        acks[id] = std::move(doc);
      } else {
        if (anonymous_acks.size() >= kMaxHeldAcks) anonymous_acks.pop_front();
        anonymous_acks.push_back(std::move(doc));
      }
      return;
    }
    if (rest == "state") {
      states[key] = doc;
      return;
    }
    if (on_player && (rest == "status" || rest == "meters" || rest == "view")) {
      on_player(key, rest, doc);
    }
  }

  // Runs what is ready to run on the loop, without waiting.
  void catch_up() {
    io.restart();
    io.poll();
  }

  // Runs the loop until `done` or `timeout`.
  template <typename Done>
  bool run_until(Done&& done, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return false;
      io.restart();
      io.run_one_for(std::min<std::chrono::steady_clock::duration>(deadline - now,
                                                                   std::chrono::milliseconds(50)));
    }
    return true;
  }
};

AdminClient::AdminClient(AdminConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {
  Impl& s = *impl_;
  SessionConfig sc;
  sc.uri = s.config.broker;
  sc.identity = s.config.identity;
  sc.tls = s.config.tls;
  sc.subscriptions = {s.config.prefix + "/player/+/command/ack",
                      s.config.prefix + "/player/+/status", s.config.prefix + "/player/+/meters",
                      s.config.prefix + "/player/+/view"};
  sc.backoff_first = std::chrono::milliseconds(500);
  sc.backoff_ceiling = std::chrono::milliseconds(5000);
  SessionEvents events;
  events.ready = [&s] { s.ready = true; };
  events.state = [&s](LinkState state, const std::string& why) {
    if (state != LinkState::connected) s.ready = false;
    if (!why.empty()) s.last_problem = why;
  };
  events.message = [&s](const Message& m) { s.on_message(m); };
  s.session = std::make_unique<Session>(s.io, std::move(sc), std::move(events));
}

AdminClient::~AdminClient() = default;

bool AdminClient::connect(std::chrono::milliseconds timeout, std::string& why) {
  Impl& s = *impl_;
  s.session->start();
  if (s.run_until([&s] { return s.ready; }, timeout)) return true;
  why = s.last_problem.empty() ? "no answer from " + s.config.broker : s.last_problem;
  return false;
}

std::optional<nlohmann::json> AdminClient::command(const std::string& player,
                                                   const std::string& type,
                                                   const nlohmann::json& payload,
                                                   std::chrono::milliseconds timeout) {
  Impl& s = *impl_;
  const Topics topics(s.config.prefix, player);
  const std::string id = make_uuid();
  const nlohmann::json message{
      {"command_id", id},
      {"command_type", type},
      {"payload", payload},
      {"timestamp", std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count()}};
  // Events that came in since the loop last ran (a lost connection) first; while the broker is
  // away, let the session reconnect (its timers run on this loop) rather than fail at once.
  s.catch_up();
  if (!s.ready && !s.run_until([&s] { return s.ready; }, timeout)) return std::nullopt;
  if (!s.session->publish(topics.command(), message.dump())) return std::nullopt;
  return wait_ack(id, timeout);
}

bool AdminClient::send_raw(const std::string& player, const std::string& text) {
  Impl& s = *impl_;
  s.catch_up();
  if (!s.ready && !s.run_until([&s] { return s.ready; }, std::chrono::seconds(10))) return false;
  return s.session->publish(Topics(s.config.prefix, player).command(), text);
}

bool AdminClient::publish(const std::string& topic, std::string_view payload,
                          std::chrono::milliseconds timeout) {
  Impl& s = *impl_;
  s.catch_up();
  if (!s.ready && !s.run_until([&s] { return s.ready; }, timeout)) return false;
  if (!s.session->publish(topic, payload)) return false;
  // The broker acknowledges QoS 1: once nothing is in flight it has routed the message.
  return s.run_until([&s] { return s.session->in_flight() == 0; }, timeout);
}

std::optional<nlohmann::json> AdminClient::wait_ack(const nlohmann::json& command_id,
                                                    std::chrono::milliseconds timeout) {
  Impl& s = *impl_;
  if (!command_id.is_string()) {
    if (!s.run_until([&s] { return !s.anonymous_acks.empty(); }, timeout)) return std::nullopt;
    nlohmann::json ack = std::move(s.anonymous_acks.front());
    s.anonymous_acks.pop_front();
    return ack;
  }
  const std::string id = command_id.get<std::string>();
  if (!s.run_until([&s, &id] { return s.acks.count(id) != 0; }, timeout)) return std::nullopt;
  nlohmann::json ack = std::move(s.acks[id]);
  s.acks.erase(id);
  return ack;
}

std::map<std::string, nlohmann::json> AdminClient::states(std::chrono::milliseconds settle) {
  Impl& s = *impl_;
  s.catch_up();
  s.session->subscribe(s.config.prefix + "/player/+/state");
  // Retained messages come right after the subscription; wait a little for all of them.
  s.run_until([] { return false; }, settle);
  return s.states;
}

bool AdminClient::ack_view(const std::string& player, const std::string& event_id) {
  Impl& s = *impl_;
  s.catch_up();
  return s.session->publish(Topics(s.config.prefix, player).view_ack(),
                            nlohmann::json{{"event_id", event_id}, {"status", "ok"}}.dump());
}

void AdminClient::watch(const std::string& player,
                        const std::function<void(const std::string&, const nlohmann::json&)>& on,
                        const std::function<bool()>& until, const std::function<void()>& tick) {
  Impl& s = *impl_;
  s.on_player = [&player, &on](const std::string& key, const std::string& kind,
                               const nlohmann::json& doc) {
    if (key == player) on(kind, doc);
  };
  while (!until()) {
    if (tick) tick();
    s.run_until(until, std::chrono::seconds(1));
  }
  s.on_player = nullptr;
}

void AdminClient::disconnect() {
  impl_->session->stop(std::chrono::milliseconds(1000));
}

LinkState AdminClient::state() const noexcept {
  return impl_->session->state();
}

}  // namespace jambox::control
