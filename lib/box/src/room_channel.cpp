#include "room_channel.hpp"

#include <jambox/log/log.hpp>
#include <jambox/message/text.hpp>

#include <algorithm>

namespace jambox::box {

RoomChannel::RoomChannel(Outbox& out, const control::Topics& topics, Events events)
    : out_(out),
      topics_(topics),
      events_(std::move(events)),
      in_prefix_(topics_.room_in_prefix()) {}

void RoomChannel::enter(const std::string& room, Clock::time_point now) {
  if (room == room_) return;
  if (!room_.empty()) {
    // Says which room it leaves: the room server may have admitted this box elsewhere already.
    publish_presence(message::PresenceEvent::leave, now);
    roster_.clear();
    presence_rate_.clear();
    transport_rate_.clear();
    transport_.reset();
    is_host_ = false;
    answer_due_ = false;
  }
  // One filter whatever the room: the room server relays only the current room's members.
  if (room_.empty() && !room.empty()) out_.subscribe(topics_.room_in_all());
  if (!room_.empty() && room.empty()) out_.unsubscribe(topics_.room_in_all());
  room_ = room;
  if (!room_.empty()) publish_presence(message::PresenceEvent::join, now);
  changed();
}

std::vector<std::string> RoomChannel::peers() const {
  std::vector<std::string> keys;
  keys.reserve(roster_.size());
  for (const auto& [key, member] : roster_) keys.push_back(key);
  return keys;
}

void RoomChannel::on_ready(Clock::time_point now) {
  if (!room_.empty()) publish_presence(message::PresenceEvent::join, now);
}

bool RoomChannel::on_message(std::string_view topic, std::string_view payload, bool retained,
                             Clock::time_point now, message::Rejections& rejections) {
  if (!topic.starts_with(in_prefix_)) return false;
  const std::string_view rest = topic.substr(in_prefix_.size());
  const bool presence = rest.starts_with("presence/");
  if (!presence && !rest.starts_with("transport/")) return false;
  // Relayed after this box left its room (the server has not heard of it yet): nothing to do.
  if (room_.empty()) return true;
  if (retained) {
    // Empty: the room server clearing one. Anything else waited on the broker for us.
    if (!payload.empty()) {
      const auto kind = presence ? message::Kind::presence : message::Kind::transport;
      if (rejections.count(kind, message::Refusal::retained, now)) {
        log::warning("room {}: a retained {} message was ignored (boxes never retain them)", room_,
                     message::kind_name(kind));
      }
    }
    return true;
  }
  if (presence) {
    on_presence(rest.substr(9), payload, now, rejections);
  } else {
    on_transport(rest.substr(10), payload, now, rejections);
  }
  return true;
}

void RoomChannel::on_presence(std::string_view key, std::string_view payload, Clock::time_point now,
                              message::Rejections& rejections) {
  if (key == topics_.player_key() || !control::valid_topic_level(key)) return;
  if (payload.empty()) return;  // a retained message cleared by the room server
  if (!presence_rate_.admit(key, now)) {
    ++rate_limited_;
    if (rejections.count(message::Kind::presence, message::Refusal::rate_limited, now)) {
      log::warning("room {}: member {} sends presence faster than allowed; dropping", room_,
                   message::clip(key, 64));
    }
    return;
  }
  message::ParseError error;
  const auto presence = message::parse_presence(payload, error);
  if (!presence) {
    if (rejections.count(message::Kind::presence, error.reason, now)) {
      log::warning("room {}: presence from {} refused: {}", room_, message::clip(key, 64),
                   error.detail);
    }
    return;
  }
  const auto it = roster_.find(key);
  const bool known = it != roster_.end();
  if (presence->event == message::PresenceEvent::leave) {
    if (known) roster_.erase(it);
  } else {
    if (!known && roster_.size() >= kMaxMembers) return;
    Member& member = known ? it->second : roster_[std::string(key)];
    member.seen = now;
    if (presence->session_id) member.session_id = presence->session_id;
    if (presence->rtt_ms) member.rtt_ms = presence->rtt_ms;
    // A newcomer learns who is here, and the room's transport, soon: at the next tick, once for
    // however many newcomers arrived meanwhile. A member repeating its join is answered again
    // only after a heartbeat interval (it may have restarted without saying leave).
    const bool answered_lately =
        member.answered != Clock::time_point{} && now - member.answered < kPresenceInterval;
    if (presence->event == message::PresenceEvent::join && !answered_lately) {
      member.answered = now;
      answer_due_ = true;
    }
  }
  if (known != roster_.contains(key)) changed();
}

void RoomChannel::on_transport(std::string_view key, std::string_view payload,
                               Clock::time_point now, message::Rejections& rejections) {
  if (!control::valid_topic_level(key)) return;
  if (key != topics_.player_key() && !transport_rate_.admit(key, now)) {
    ++rate_limited_;
    if (rejections.count(message::Kind::transport, message::Refusal::rate_limited, now)) {
      log::warning("room {}: member {} sends transport updates faster than allowed; dropping",
                   room_, message::clip(key, 64));
    }
    return;
  }
  if (payload.empty()) return;  // a retained update cleared
  message::ParseError error;
  auto update = message::parse_transport(payload, key, error);
  if (!update) {
    if (rejections.count(message::Kind::transport, error.reason, now)) {
      log::warning("room {}: transport update from {} refused: {}", room_, message::clip(key, 64),
                   error.detail);
    }
    return;
  }
  if (key != topics_.player_key()) is_host_ = false;  // another box took over
  const bool same = transport_ && *transport_ == *update;
  transport_ = std::move(*update);
  if (events_.metronome) {
    events_.metronome(transport_->metronome, static_cast<float>(transport_->tempo_bpm));
  }
  if (!same) changed();
}

void RoomChannel::tick(Clock::time_point now) {
  if (room_.empty()) return;
  if (now - last_presence_ >= kPresenceInterval) {
    publish_presence(message::PresenceEvent::presence, now);
  }
  if (answer_due_ && now - last_answer_ >= kAnswerGap) {
    answer_due_ = false;
    last_answer_ = now;
    publish_presence(message::PresenceEvent::presence, now);
    if (is_host_) publish_transport();
  }
  bool gone = false;
  for (auto it = roster_.begin(); it != roster_.end();) {
    if (now - it->second.seen > kPresenceExpiry) {
      it = roster_.erase(it);
      gone = true;
    } else {
      ++it;
    }
  }
  presence_rate_.forget_idle(now);
  transport_rate_.forget_idle(now);
  if (gone) changed();
}

void RoomChannel::say_leave() {
  publish_presence(message::PresenceEvent::leave, Clock::now());
}

void RoomChannel::host(message::Transport next) {
  next.host = topics_.player_key();
  next.timestamp = wall_seconds();
  transport_ = std::move(next);
  is_host_ = true;
  publish_transport();
  // The room server relays it to the other members only: the host applies its own.
  if (events_.metronome) {
    events_.metronome(transport_->metronome, static_cast<float>(transport_->tempo_bpm));
  }
  changed();
}

void RoomChannel::publish_presence(message::PresenceEvent event, Clock::time_point now) {
  if (room_.empty() || !out_.ready()) return;
  last_presence_ = now;
  message::Presence presence;
  presence.event = event;
  presence.room = room_;
  if (events_.link) {
    const LinkFacts facts = events_.link();
    presence.session_id = facts.session_id;
    if (facts.rtt_ms) presence.rtt_ms = std::min(*facts.rtt_ms, message::kMaxPresenceRttMs);
  }
  out_.publish(topics_.room_out_presence(),
               message::presence_text(topics_.player_key(), presence, wall_seconds()));
}

void RoomChannel::publish_transport() {
  if (room_.empty() || !transport_ || !out_.ready()) return;
  out_.publish(topics_.room_out_transport(), message::dump(message::to_json(*transport_)));
}

nlohmann::json RoomChannel::figures() const {
  nlohmann::json members = nlohmann::json::array();
  for (const auto& [key, member] : roster_) {
    members.push_back(
        {{"key", key},
         {"session_id", member.session_id ? nlohmann::json(*member.session_id) : nlohmann::json()},
         {"rtt_ms", member.rtt_ms ? nlohmann::json(*member.rtt_ms) : nlohmann::json()}});
  }
  return {{"peers", peers()},
          {"roster", std::move(members)},
          {"transport", transport_ ? message::to_json(*transport_) : nlohmann::json()},
          {"rate_limited", rate_limited_}};
}

}  // namespace jambox::box
