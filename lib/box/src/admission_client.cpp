#include "admission_client.hpp"

#include <jambox/box/admission_reply.hpp>
#include <jambox/control/admin.hpp>
#include <jambox/log/log.hpp>
#include <jambox/message/messages.hpp>
#include <jambox/message/text.hpp>

namespace jambox::box {

AdmissionClient::AdmissionClient(Outbox& out, const control::Topics& topics,
                                 std::function<void(const RoomConfig&)> admitted,
                                 std::function<void()> changed)
    : out_(out), topics_(topics), admitted_(std::move(admitted)), changed_(std::move(changed)) {}

const std::string& AdmissionClient::request(const std::string& room, Clock::time_point now) {
  state_ = State{};
  state_.room = room;
  send(now);
  return state_.request_id;
}

const std::string& AdmissionClient::create(const std::string& code, Clock::time_point now,
                                           Created created) {
  state_ = State{};
  state_.room = code;
  state_.create = true;
  state_.created = std::move(created);
  send(now);
  return state_.request_id;
}

void AdmissionClient::send(Clock::time_point now) {
  state_.request_id = control::make_uuid();
  state_.last_request_id = state_.request_id;
  state_.sent = now;
  state_.state = "requested";
  state_.error_code.clear();
  state_.error.clear();
  state_.retry = false;
  nlohmann::json request{{"request_id", state_.request_id},
                         {"request_type", state_.create ? "create_room" : "join_room"},
                         {"player_key", topics_.player_key()},
                         {"timestamp", wall_seconds()}};
  // create_room without a wanted code: the server picks one.
  if (!state_.room.empty()) request["room"] = state_.room;
  control::PublishOptions options;
  options.response_topic = topics_.response_prefix() + state_.request_id;
  options.correlation = state_.request_id;
  const std::string what = state_.create
                               ? (state_.room.empty() ? std::string("a new room")
                                                      : "a new room with code " + state_.room)
                               : "room " + state_.room;
  if (!out_.publish(topics_.request(state_.request_id), message::dump(request), options)) {
    log::warning("admission: request for {} not sent (MQTT not connected); retrying", what);
  } else {
    log::notice("admission: asking the room server for {} (request {})", what, state_.request_id);
  }
  if (changed_) changed_();
}

void AdmissionClient::forget() {
  state_ = State{};
}

void AdmissionClient::failed(std::string code, std::string error, bool retry,
                             Clock::time_point now) {
  state_.request_id.clear();
  state_.state = code == "timeout" ? "timed_out" : "refused";
  state_.error_code = std::move(code);
  state_.error = std::move(error);
  state_.retry = retry;
  state_.retry_at = now + kRetry;
  log::warning("{} failed: {} ({}){}",
               state_.create ? "making room " + (state_.room.empty() ? "by code" : state_.room)
                             : "admission to room " + state_.room,
               state_.error_code, state_.error, retry ? "; asking again in 30 s" : "");
  if (changed_) changed_();
}

void AdmissionClient::on_response(std::string_view id, std::string_view payload,
                                  Clock::time_point now, message::Rejections& rejections) {
  if (id.empty() || id != state_.request_id) {
    log::debug("MQTT response matches no request in flight; ignored");
    return;
  }
  const std::int64_t wall = wall_seconds();
  auto reply = state_.create
                   ? read_creation_reply(payload, state_.room, static_cast<std::uint64_t>(wall))
                   : read_admission_reply(payload, state_.room, static_cast<std::uint64_t>(wall));
  if (auto* refusal = std::get_if<AdmissionRefusal>(&reply)) {
    if (refusal->error_code == "invalid_response") {
      static_cast<void>(
          rejections.count(message::Kind::response, message::Refusal::invalid_field, now));
    }
    // read_admission_reply already clipped the server's words (they come from the network).
    failed(std::move(refusal->error_code), std::move(refusal->error), refusal->retry, now);
    return;
  }
  const RoomConfig target = std::get<RoomConfig>(std::move(reply));
  state_.request_id.clear();
  state_.state = "admitted";
  // From now on the room is one like any other: a ticket that runs out is asked for by
  // join_room, with its code.
  state_.room = target.name;
  const bool made = state_.create;
  state_.create = false;
  const Created created = std::move(state_.created);
  state_.created = nullptr;
  log::notice("admission: ticket for {} room {} on {} (valid until {})", made ? "new" : "the",
              target.name, target.server, target.ticket.expires_s);
  if (admitted_) admitted_(target);
  state_.made = made;
  if (made && created) created(target);
}

void AdmissionClient::tick(Clock::time_point now, bool needs_ticket) {
  if (state_.room.empty() && !state_.create) return;
  if (!state_.request_id.empty()) {
    if (now - state_.sent >= kRequestTimeout) {
      failed("timeout", "no answer from a room server in 30 s", true, now);
    }
    return;
  }
  if (state_.retry && now >= state_.retry_at) {
    // A create_room asked again with the same wanted code is answered with the same room when
    // only the answer was lost (the server knows who made it).
    send(now);
  } else if (state_.state == "admitted" && needs_ticket) {
    log::notice("admission: the ticket for room {} ran out while outside the room; asking again",
                state_.room);
    request(state_.room, now);
  }
}

nlohmann::json AdmissionClient::figures() const {
  if (state_.room.empty() && !state_.create) return nullptr;
  return {{"room", state_.room},
          {"request_type", state_.create || state_.made ? "create_room" : "join_room"},
          {"state", state_.state},
          {"request_id", state_.last_request_id},
          {"error_code", state_.error_code},
          {"error", state_.error}};
}

}  // namespace jambox::box
