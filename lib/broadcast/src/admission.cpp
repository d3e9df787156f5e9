#include <jambox/broadcast/admission.hpp>
#include <jambox/control/session.hpp>
#include <jambox/control/topics.hpp>
#include <jambox/crypto/crypto.hpp>
#include <jambox/log/log.hpp>
#include <jambox/wire/session.hpp>

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

}  // namespace

json answer_request(std::string_view player_key, std::string_view payload, const RoomLookup& lookup,
                    const AdmissionConfig& config, std::uint64_t now_s) {
  if (payload.size() > kMaxRequestBytes) {
    return failure(nullptr, "", "payload_too_large",
                   "request larger than " + std::to_string(kMaxRequestBytes) + " bytes");
  }
  const json request = json::parse(payload, nullptr, false);
  if (request.is_discarded() || !request.is_object()) {
    return failure(nullptr, "", "invalid_json", "the request is not a JSON object");
  }
  const json id = request.contains("request_id") ? request["request_id"] : json(nullptr);
  if (!id.is_string() || id.get_ref<const std::string&>().empty()) {
    return failure(nullptr, "", "invalid_request", "request_id: a non-empty string is required");
  }
  const auto type = request.value("request_type", json()).is_string()
                        ? request["request_type"].get<std::string>()
                        : std::string();
  if (type != "join_room") {
    return failure(id, type, "unsupported",
                   type.empty() ? "request_type: a string is required"
                                : "request_type '" + type + "' is not served here");
  }
  if (request.contains("player_key") &&
      (!request["player_key"].is_string() || request["player_key"] != player_key)) {
    return failure(id, type, "invalid_request",
                   "player_key: must be the key of the topic the request came on");
  }
  if (!request.contains("room") || !request["room"].is_string() ||
      !wire::valid_room_name(request["room"].get_ref<const std::string&>())) {
    return failure(id, type, "invalid_request",
                   "room: a room name of 1-32 characters [A-Za-z0-9._-] is required");
  }
  const std::string room = request["room"];
  const RoomAvailability available = lookup(room);
  if (!available.exists) {
    return failure(id, type, "unknown_room", "room '" + room + "' is not served here");
  }
  if (available.members >= available.max_members) {
    return failure(
        id, type, "room_full",
        "room '" + room + "' is full (" + std::to_string(available.max_members) + " members)");
  }
  wire::Ticket ticket;
  crypto::random_bytes(ticket.nonce);
  ticket.expires_s = now_s + config.ticket_lifetime_s;
  return {{"request_id", id},
          {"request_type", type},
          {"success", true},
          {"room", room},
          {"server", config.public_endpoint},
          {"ticket", {{"nonce", crypto::to_hex(ticket.nonce)}, {"expires", ticket.expires_s}}},
          {"ticket_secret", wire::derive_ticket_secret(room, available.secret, ticket)},
          {"audio_key", crypto::to_hex(wire::derive_room_audio_key(room, available.secret))},
          {"members", available.members},
          {"max_members", available.max_members}};
}

struct Admission::Impl {
  Impl(boost::asio::io_context& loop, AdmissionConfig c, RoomLookup l)
      : io(loop), config(std::move(c)), lookup(std::move(l)) {}

  void on_message(const control::Message& message) {
    ++counters.requests;
    const auto [key, request_id] = parse_request_topic(message.topic, config.prefix);
    if (key.empty()) {
      ++counters.ignored;
      return;
    }
    json response = answer_request(key, message.payload, lookup, config, wire::unix_seconds());
    if (response["request_id"].is_null()) response["request_id"] = request_id;
    if (response["success"] == true) {
      ++counters.admitted;
      log::info("admission: ticket for room {} to {} (request {})",
                response["room"].get<std::string>(), key, request_id);
    } else {
      ++counters.refused;
      log::info("admission: refused request {} from {}: {} ({})", request_id, key,
                response["error_code"].get<std::string>(), response["error"].get<std::string>());
    }
    // Always the asking box's own response topic: a request cannot send the answer elsewhere.
    control::PublishOptions options;
    options.correlation = message.correlation.empty() ? request_id : message.correlation;
    const control::Topics topics(config.prefix, key);
    session->publish(topics.response_prefix() + request_id, response.dump(), options);
  }

  boost::asio::io_context& io;
  AdmissionConfig config;
  RoomLookup lookup;
  AdmissionCounters counters;
  std::unique_ptr<control::Session> session;
};

Admission::Admission(boost::asio::io_context& io, AdmissionConfig config, RoomLookup lookup)
    : impl_(std::make_unique<Impl>(io, std::move(config), std::move(lookup))) {
  control::SessionConfig sc;
  sc.uri = impl_->config.broker;
  sc.identity = impl_->config.identity;
  sc.tls = impl_->config.tls;
  sc.subscriptions = {"$share/jambox-broadcast/" + impl_->config.prefix + "/player/+/request/+"};
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
    log::notice("admission: answering join_room requests from {} (tickets valid {} s)",
                impl->config.broker, impl->config.ticket_lifetime_s);
  };
  events.message = [impl](const control::Message& m) { impl->on_message(m); };
  impl_->session = std::make_unique<control::Session>(io, std::move(sc), std::move(events));
}

Admission::~Admission() = default;

void Admission::start() {
  impl_->session->start();
}

void Admission::stop() {
  impl_->session->stop(std::chrono::milliseconds(1000));
}

const AdmissionCounters& Admission::counters() const noexcept {
  return impl_->counters;
}

std::string Admission::state() const {
  return std::string(control::link_state_name(impl_->session->state()));
}

}  // namespace jambox::broadcast
