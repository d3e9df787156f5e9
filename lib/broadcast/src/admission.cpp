#include "retained_clearer.hpp"
#include <jambox/broadcast/admission.hpp>
#include <jambox/control/session.hpp>
#include <jambox/control/topics.hpp>
#include <jambox/crypto/crypto.hpp>
#include <jambox/log/log.hpp>
#include <jambox/message/messages.hpp>
#include <jambox/message/rate.hpp>
#include <jambox/message/text.hpp>
#include <jambox/wire/session.hpp>

#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>

namespace jambox::broadcast {
namespace {

using nlohmann::json;

json failure(const json& request_id, std::string_view type, std::string_view code,
             std::string message) {
  return {{"request_id", request_id},
          {"request_type", type},
          {"success", false},
          {"error", std::move(message)},
          {"error_code", code}};
}

// The player key and request id of "{prefix}/player/{key}/request/{id}", or empty strings.
std::pair<std::string, std::string> parse_request_topic(std::string_view topic,
                                                        std::string_view prefix) {
  const std::string head = std::string(prefix) + "/player/";
  if (!topic.starts_with(head)) return {};
  topic.remove_prefix(head.size());
  const auto slash = topic.find('/');
  if (slash == std::string_view::npos) return {};
  const std::string_view key = topic.substr(0, slash);
  std::string_view rest = topic.substr(slash);
  if (!rest.starts_with("/request/")) return {};
  rest.remove_prefix(9);
  if (!control::valid_topic_level(key) || !control::valid_topic_level(rest)) return {};
  return {std::string(key), std::string(rest)};
}

using Clock = std::chrono::steady_clock;

// Requests per box: a burst of 10, then one a second, for at most 4096 boxes at a time.
constexpr double kRequestBurst = 10.0;
constexpr double kRequestsPerSecond = 1.0;
constexpr std::size_t kRateKeys = 4096;

}  // namespace

json answer_request(std::string_view player_key, std::string_view payload, const RoomLookup& lookup,
                    const RoomCreator& create, const AdmissionConfig& config, std::uint64_t now_s) {
  auto parsed = message::parse_join_request(payload);
  if (const auto* refusal = std::get_if<message::RequestRefusal>(&parsed)) {
    return failure(refusal->request_id.empty() ? json(nullptr) : json(refusal->request_id),
                   refusal->request_type, refusal->error_code, refusal->error);
  }
  const message::JoinRequest& request = std::get<message::JoinRequest>(parsed);
  const json id = request.request_id;
  const std::string& type = request.request_type;
  if (!request.player_key.empty() && request.player_key != player_key) {
    return failure(id, type, "invalid_request",
                   "player_key: must be the key of the topic the request came on");
  }
  std::string room = request.room;
  RoomAvailability available;
  const bool creating = request.type == message::RequestType::create_room;
  if (creating) {
    if (!create) {
      return failure(id, type, "on_demand_disabled",
                     "this server makes no rooms on demand (rooms.on_demand is off)");
    }
    RoomCreation made = create(player_key, request.room);
    if (!made.error_code.empty()) {
      return failure(id, type, made.error_code, std::move(made.error));
    }
    room = std::move(made.room);
    available = std::move(made.available);
  } else {
    available = lookup(room);
    if (!available.exists) {
      // With rooms by code, a code that names no room was mistyped or has expired.
      if (available.codes && message::is_room_code(room)) {
        return failure(id, type, "unknown_code", "no room has the code " + room);
      }
      return failure(id, type, "unknown_room", "room '" + room + "' is not served here");
    }
  }
  if (available.members >= available.max_members) {
    return failure(
        id, type, "room_full",
        "room '" + room + "' is full (" + std::to_string(available.max_members) + " members)");
  }
  wire::Ticket ticket;
  crypto::random_bytes(ticket.nonce);
  ticket.expires_s = now_s + config.ticket_lifetime_s;
  json answer = {
      {"request_id", id},
      {"request_type", type},
      {"success", true},
      {"room", room},
      {"server", config.public_endpoint},
      {"ticket", {{"nonce", crypto::to_hex(ticket.nonce)}, {"expires", ticket.expires_s}}},
      {"ticket_secret", wire::derive_ticket_secret(room, available.secret, ticket)},
      {"audio_key", crypto::to_hex(wire::derive_room_audio_key(room, available.secret))},
      {"members", available.members},
      {"max_members", available.max_members}};
  if (creating) answer["created"] = true;
  return answer;
}

json answer_request(std::string_view player_key, std::string_view payload, const RoomLookup& lookup,
                    const AdmissionConfig& config, std::uint64_t now_s) {
  return answer_request(player_key, payload, lookup, RoomCreator{}, config, now_s);
}

struct Admission::Impl {
  Impl(boost::asio::io_context& loop, AdmissionConfig c, RoomLookup l, RoomCreator m)
      : io(loop), config(std::move(c)), lookup(std::move(l)), create(std::move(m)) {}

  void on_message(const control::Message& m) {
    if (take && take(m)) return;
    if (m.topic.starts_with(room_prefix)) {
      on_room_message(m);
      return;
    }
    ++counters.requests;
    const auto [key, request_id] = parse_request_topic(m.topic, config.prefix);
    if (key.empty()) {
      ++counters.ignored;
      return;
    }
    if (!rates.admit(key, Clock::now())) {
      // A box asking faster than any real one does: dropped unanswered (boxes time out and ask
      // again), so a flood costs the server no answers and the journal no lines.
      ++counters.rate_limited;
      return;
    }
    json response = answer_request(key, m.payload, lookup, create, config, wire::unix_seconds());
    if (response["request_id"].is_null()) response["request_id"] = request_id;
    if (response["success"] == true) {
      ++counters.admitted;
      // The relay counts the box a member of the room from now on (its presence comes later).
      if (admitted) admitted(key, response["room"].get<std::string>());
      log::info("admission: ticket for room {} to {} (request {})",
                response["room"].get<std::string>(), key, request_id);
    } else {
      ++counters.refused;
      const auto now = Clock::now();
      if (now - last_refusal_log >= std::chrono::seconds(1)) {
        last_refusal_log = now;
        log::info("admission: refused request {} from {}: {} ({})", request_id, key,
                  response["error_code"].get<std::string>(),
                  message::clip(response["error"].get<std::string>(), 200));
      }
    }
    // Always the asking box's own response topic: a request cannot send the answer elsewhere.
    control::PublishOptions options;
    options.correlation =
        m.correlation.empty() || m.correlation.size() > 128 ? request_id : m.correlation;
    const control::Topics topics(config.prefix, key);
    session->publish(topics.response_prefix() + request_id, message::dump(response), options);
  }

  // Boxes never retain room presence or transport (boxes ignore retained room messages, but a
  // box of an older version would not): cleared, at most RetainedClearer::kPerTick a second.
  void on_room_message(const control::Message& m) {
    if (!m.retained || m.payload.empty()) return;
    clearer.add(m.topic);
    if (!clearing) clear_some();
  }

  void clear_some() {
    clearing = !clearer.empty();
    if (!clearing) return;
    control::PublishOptions retained;
    retained.retained = true;
    clearer.clear_some(
        [this, &retained](const std::string& topic) {
          return session->publish(topic, "", retained);
        },
        Clock::now());
    counters.retained_cleared = clearer.cleared();
    clear_timer.expires_after(std::chrono::seconds(1));
    clear_timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) clear_some();
    });
  }

  // The broker drops messages to a subscriber that falls behind (a flood), a planted retained
  // one among them; every 10 s the room topics' retained messages are asked for again, so each is
  // seen and cleared however busy the server was when it was planted.
  void sweep() {
    for (const std::string& filter : swept) session->resend_retained(filter);
    sweep_timer.expires_after(kSweepEvery);
    sweep_timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) sweep();
    });
  }

  static constexpr std::chrono::seconds kSweepEvery{10};

  boost::asio::io_context& io;
  AdmissionConfig config;
  RoomLookup lookup;
  RoomCreator create;
  std::function<bool(const control::Message&)> take;
  std::function<void(const std::string&, const std::string&)> admitted;
  std::string room_prefix = config.prefix + "/room/";
  RetainedClearer clearer{"admission"};
  bool clearing = false;
  boost::asio::steady_timer clear_timer{io};
  std::vector<std::string> swept{config.prefix + "/room/+/presence/+",
                                 config.prefix + "/room/+/transport/+"};
  boost::asio::steady_timer sweep_timer{io};
  AdmissionCounters counters;
  message::KeyedRate rates{kRequestBurst, kRequestsPerSecond, kRateKeys};
  Clock::time_point last_refusal_log{};
  std::unique_ptr<control::Session> session;
};

Admission::Admission(boost::asio::io_context& io, AdmissionConfig config, RoomLookup lookup,
                     RoomCreator create)
    : impl_(std::make_unique<Impl>(io, std::move(config), std::move(lookup), std::move(create))) {
  control::SessionConfig sc;
  sc.uri = impl_->config.broker;
  sc.identity = impl_->config.identity;
  sc.tls = impl_->config.tls;
  sc.subscriptions = {"$share/jambox-broadcast/" + impl_->config.prefix + "/player/+/request/+"};
  sc.subscriptions.insert(sc.subscriptions.end(), impl_->swept.begin(), impl_->swept.end());
  control::SessionEvents events;
  Impl* impl = impl_.get();
  events.state = [](control::LinkState state, const std::string& why) {
    if (why.empty()) {
      log::notice("admission: MQTT {}", control::link_state_name(state));
    } else {
      log::notice("admission: MQTT {}: {}", control::link_state_name(state), why);
    }
  };
  events.ready = [impl] {
    log::notice("admission: answering join_room{} requests from {} (tickets valid {} s)",
                impl->create ? " and create_room" : "", impl->config.broker,
                impl->config.ticket_lifetime_s);
  };
  events.message = [impl](const control::Message& m) {
    // No message may end the room server: a failure is counted and logged, and it carries on.
    try {
      impl->on_message(m);
    } catch (const std::exception& e) {
      ++impl->counters.failed;
      log::error("admission: a message on {} could not be handled ({}); carrying on",
                 message::clip(m.topic, 200), message::clip(e.what(), 200));
    }
  };
  impl_->session = std::make_unique<control::Session>(io, std::move(sc), std::move(events));
}

Admission::~Admission() = default;

void Admission::start() {
  impl_->session->start();
  impl_->sweep_timer.expires_after(Impl::kSweepEvery);
  impl_->sweep_timer.async_wait([impl = impl_.get()](const boost::system::error_code& ec) {
    if (!ec) impl->sweep();
  });
}

void Admission::stop() {
  impl_->clear_timer.cancel();
  impl_->sweep_timer.cancel();
  impl_->session->stop(std::chrono::milliseconds(1000));
}

const AdmissionCounters& Admission::counters() const noexcept {
  return impl_->counters;
}

void Admission::attach(
    std::vector<std::string> filters, std::function<bool(const control::Message&)> take,
    std::function<void(const std::string& player_key, const std::string& room)> admitted,
    std::vector<std::string> swept) {
  impl_->take = std::move(take);
  impl_->admitted = std::move(admitted);
  impl_->swept.insert(impl_->swept.end(), swept.begin(), swept.end());
  for (const std::string& filter : filters) impl_->session->subscribe(filter);
}

bool Admission::publish(const std::string& topic, std::string_view payload, bool retained) {
  control::PublishOptions options;
  options.retained = retained;
  return impl_->session->publish(topic, payload, options);
}

std::string Admission::state() const {
  return std::string(control::link_state_name(impl_->session->state()));
}

}  // namespace jambox::broadcast
