#include "room_relay.hpp"

#include <jambox/broadcast/admission.hpp>
#include <jambox/control/session.hpp>
#include <jambox/control/topics.hpp>
#include <jambox/log/log.hpp>
#include <jambox/message/text.hpp>
#include <jambox/wire/session.hpp>

#include <algorithm>

namespace jambox::broadcast {
namespace {

// A musician's user name as the broker's accounts have it: 1..32 of [a-z0-9_-], a letter first.
bool valid_user(std::string_view name) {
  if (name.empty() || name.size() > 32 || name[0] < 'a' || name[0] > 'z') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

RelayDrop drop_for(message::Refusal reason) {
  switch (reason) {
    case message::Refusal::too_large:
      return RelayDrop::too_large;
    case message::Refusal::too_deep:
      return RelayDrop::too_deep;
    case message::Refusal::too_long:
      return RelayDrop::too_long;
    case message::Refusal::invalid_json:
      return RelayDrop::invalid_json;
    case message::Refusal::not_object:
      return RelayDrop::not_object;
    case message::Refusal::not_owner:
      return RelayDrop::not_owner;
    case message::Refusal::rate_limited:
      return RelayDrop::rate_limited;
    case message::Refusal::retained:
      return RelayDrop::retained;
    case message::Refusal::invalid_field:
    case message::Refusal::kCount:
      break;
  }
  return RelayDrop::invalid_field;
}

constexpr auto kLogEvery = std::chrono::seconds(10);

}  // namespace

std::string_view relay_drop_name(RelayDrop drop) noexcept {
  switch (drop) {
    case RelayDrop::not_member:
      return "not_member";
    case RelayDrop::stale_room:
      return "stale_room";
    case RelayDrop::rate_limited:
      return "rate_limited";
    case RelayDrop::retained:
      return "retained";
    case RelayDrop::too_large:
      return "too_large";
    case RelayDrop::too_deep:
      return "too_deep";
    case RelayDrop::too_long:
      return "too_long";
    case RelayDrop::invalid_json:
      return "invalid_json";
    case RelayDrop::not_object:
      return "not_object";
    case RelayDrop::invalid_field:
      return "invalid_field";
    case RelayDrop::not_owner:
      return "not_owner";
    case RelayDrop::bad_topic:
      return "bad_topic";
    case RelayDrop::publish_failed:
      return "publish_failed";
    case RelayDrop::kCount:
      break;
  }
  return "unknown";
}

RoomRelay::RoomRelay(std::string prefix, Hooks hooks)
    : prefix_(std::move(prefix)),
      hooks_(std::move(hooks)),
      chat_(prefix_, RoomChat::Hooks{[this](const std::string& topic, std::string_view payload) {
                                       return hooks_.publish(topic, payload, false);
                                     },
                                     [this] { return wall_ms(); }}) {}

std::int64_t RoomRelay::wall_ms() const {
  if (hooks_.wall_ms) return hooks_.wall_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<std::string> RoomRelay::swept() const {
  return {control::room_out_filter(prefix_)};
}

std::vector<std::string> RoomRelay::subscriptions() const {
  return {control::room_out_filter(prefix_), control::chat_from_filter(prefix_),
          control::admin_chat_filter(prefix_)};
}

bool RoomRelay::on_message(const control::Message& m, Clock::time_point now) {
  const std::string_view topic = m.topic;
  const std::string player_head = prefix_ + "/player/";
  const std::string room_head = prefix_ + "/room/";
  if (topic.starts_with(player_head)) {
    const std::string_view rest = topic.substr(player_head.size());
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos) return false;
    const std::string_view key = rest.substr(0, slash);
    const std::string_view tail = rest.substr(slash + 1);
    if (tail.starts_with("room/out/")) {
      on_room_out(key, tail.substr(9), m, now);
      return true;
    }
    if (tail.starts_with("chat/from/")) {
      on_chat_from(key, tail.substr(10), m, now);
      return true;
    }
    return false;
  }
  if (topic.starts_with(room_head)) {
    const std::string_view rest = topic.substr(room_head.size());
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos || rest.substr(slash + 1) != "chat") return false;
    on_admin_chat(rest.substr(0, slash), m, now);
    return true;
  }
  return false;
}

void RoomRelay::on_room_out(std::string_view key, std::string_view kind, const control::Message& m,
                            Clock::time_point now) {
  const bool presence = kind == "presence";
  if (!control::valid_topic_level(key) || (!presence && kind != "transport")) {
    drop(RelayDrop::bad_topic);
    return;
  }
  if (m.retained) {
    // Empty: our own clearing coming back. Anything else waited on the broker: it goes.
    if (!m.payload.empty()) {
      drop(RelayDrop::retained);
      clear_later(m.topic);
    }
    return;
  }
  const auto member = members_.find(key);
  if (member == members_.end()) {
    drop(RelayDrop::not_member);
    return;
  }
  const std::string room = member->second.room;
  if (!(presence ? presence_rate_ : transport_rate_).admit(key, now)) {
    drop(RelayDrop::rate_limited);
    return;
  }
  message::ParseError error;
  if (!presence) {
    const auto update = message::parse_transport(m.payload, key, error);
    if (!update) {
      drop(drop_for(error.reason));
      return;
    }
    // As the members read it: the server's serialisation must fit their limit as well.
    const std::string text = message::dump(message::to_json(*update));
    if (text.size() > message::kMaxTransportBytes) {
      drop(RelayDrop::too_large);
      return;
    }
    relay(key, room, "transport", text);
    ++counters_.transport_relayed;
    return;
  }
  auto said = message::parse_presence(m.payload, error);
  if (!said) {
    drop(drop_for(error.reason));
    return;
  }
  if (!said->room.empty() && said->room != room) {
    // Meant for a room it has left (admitted to this one since): it ends nothing here.
    drop(RelayDrop::stale_room);
    return;
  }
  member->second.seen = now;
  said->room.clear();  // the members know which room they are in
  relay(key, room, "presence", message::presence_text(key, *said, wall_ms() / 1000));
  ++counters_.presence_relayed;
  if (said->event == message::PresenceEvent::leave)
    end(std::string(key), EndReason::said_leave, now);
}

void RoomRelay::relay(std::string_view key, std::string_view room, std::string_view kind,
                      const std::string& text) {
  const auto in = rooms_.find(room);
  if (in == rooms_.end()) return;
  const std::string tail = "/room/in/" + std::string(kind) + "/" + std::string(key);
  for (const std::string& other : in->second) {
    if (other == key) continue;  // never back to the sender
    if (hooks_.publish(prefix_ + "/player/" + other + tail, text, false)) {
      ++counters_.deliveries;
    } else {
      drop(RelayDrop::publish_failed);
    }
  }
}

void RoomRelay::on_chat_from(std::string_view key, std::string_view user, const control::Message& m,
                             Clock::time_point now) {
  // The broker's ACL lets a musician write only under its own name: the topic names the sender.
  if (!control::valid_topic_level(key) || !valid_user(user) || m.retained) {
    chat_.count_dropped();
    return;
  }
  const std::string room = room_of(key);
  chat_.from_musician(key, user, m.payload, room, members(room), now);
}

void RoomRelay::on_admin_chat(std::string_view room, const control::Message& m,
                              Clock::time_point now) {
  if (!wire::valid_room_name(room) || m.retained) {
    chat_.count_dropped();
    return;
  }
  chat_.from_admin(room, m.payload, members(room), now);
}

void RoomRelay::admitted(std::string_view key, std::string_view room, Clock::time_point now) {
  if (!control::valid_topic_level(key) || !wire::valid_room_name(room)) return;
  if (const auto it = members_.find(key); it != members_.end()) {
    if (it->second.room == room) {
      // Asked again (a new ticket): still a member; its musicians may have missed the history.
      it->second.seen = now;
      chat_.send_history(room, key);
      return;
    }
    end(std::string(key), EndReason::moved, now);
  }
  if (members_.size() >= kMaxMembers) {
    log::warning("relay: {} members already; {} is not relayed in room {}", kMaxMembers,
                 message::clip(key, 128), room);
    return;
  }
  // No room has more than the protocol's members; each relayed message costs one publication
  // per member, so that bounds what one member's message can make us send.
  if (const auto room_members = rooms_.find(room);
      room_members != rooms_.end() && room_members->second.size() >= kMaxRoomMembers) {
    log::warning("relay: room {} has {} members already; {} is not relayed", room, kMaxRoomMembers,
                 message::clip(key, 128));
    return;
  }
  members_.emplace(std::string(key), Member{std::string(room), now});
  rooms_[std::string(room)].insert(std::string(key));
  ++counters_.memberships_started;
  chat_.joined(room, key, members(room));
  log::info("relay: {} is a member of room {} ({} members)", message::clip(key, 128), room,
            rooms_[std::string(room)].size());
}

void RoomRelay::end(const std::string& key, EndReason why, Clock::time_point /*now*/) {
  const auto it = members_.find(key);
  if (it == members_.end()) return;
  const std::string room = it->second.room;
  members_.erase(it);
  if (const auto r = rooms_.find(room); r != rooms_.end()) {
    r->second.erase(key);
    if (r->second.empty()) rooms_.erase(r);
  }
  ++counters_.memberships_ended;
  if (why == EndReason::room_gone) return;  // nobody left to tell
  if (why != EndReason::said_leave) {
    // The box did not say so itself (or said it for a room it had left): the server does, in
    // its own words, so the others need not wait for its silence.
    message::Presence leave;
    leave.event = message::PresenceEvent::leave;
    const auto members_left = rooms_.find(room);
    if (members_left != rooms_.end()) {
      const std::string text = message::presence_text(key, leave, wall_ms() / 1000);
      for (const std::string& other : members_left->second) {
        if (hooks_.publish(prefix_ + "/player/" + other + "/room/in/presence/" + key, text,
                           false)) {
          ++counters_.deliveries;
        }
      }
    }
  }
  chat_.left(room, key, members(room));
  const char* reason = why == EndReason::said_leave ? "said leave"
                       : why == EndReason::moved    ? "admitted to another room"
                                                    : "silent for 90 s";
  log::info("relay: {} is no longer a member of room {} ({})", message::clip(key, 128), room,
            reason);
}

void RoomRelay::tick(Clock::time_point now) {
  std::vector<std::string> silent;
  for (const auto& [key, member] : members_) {
    if (now - member.seen > kSilence) silent.push_back(key);
  }
  for (const std::string& key : silent) end(key, EndReason::silent, now);
  if (hooks_.room_exists) {
    std::vector<std::string> gone;
    for (const auto& [room, keys] : rooms_) {
      if (!hooks_.room_exists(room)) gone.push_back(room);
    }
    for (const std::string& room : gone) {
      const std::vector<std::string> keys = members(room);
      for (const std::string& key : keys) end(key, EndReason::room_gone, now);
      log::info("relay: room {} is gone; its {} members are no longer relayed", room, keys.size());
    }
    chat_.forget_gone(hooks_.room_exists);
  }
  clearer_.clear_some([this](const std::string& topic) { return hooks_.publish(topic, "", true); },
                      now);
  counters_.retained_cleared = clearer_.cleared();
  presence_rate_.forget_idle(now);
  transport_rate_.forget_idle(now);
  chat_.forget_idle(now);
}

void RoomRelay::clear_later(const std::string& topic) {
  clearer_.add(topic);
}

void RoomRelay::drop(RelayDrop why) {
  ++counters_.dropped[static_cast<std::size_t>(why)];
  const auto now = Clock::now();
  if (why == RelayDrop::not_member || now - last_drop_log_ < kLogEvery) return;
  last_drop_log_ = now;
  std::uint64_t total = 0;
  for (const std::uint64_t n : counters_.dropped) total += n;
  log::info("relay: a member's message was not relayed ({}); {} dropped so far",
            relay_drop_name(why), total);
}

std::string RoomRelay::room_of(std::string_view key) const {
  const auto it = members_.find(key);
  return it == members_.end() ? std::string() : it->second.room;
}

std::vector<std::string> RoomRelay::members(std::string_view room) const {
  const auto it = rooms_.find(room);
  if (it == rooms_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

nlohmann::json RoomRelay::figures() const {
  nlohmann::json dropped = nlohmann::json::object();
  for (std::size_t i = 0; i < counters_.dropped.size(); ++i) {
    dropped[std::string(relay_drop_name(static_cast<RelayDrop>(i)))] = counters_.dropped[i];
  }
  return {{"members", members_.size()},
          {"rooms", rooms_.size()},
          {"relayed",
           {{"presence", counters_.presence_relayed}, {"transport", counters_.transport_relayed}}},
          {"deliveries", counters_.deliveries},
          {"dropped", std::move(dropped)},
          {"memberships",
           {{"started", counters_.memberships_started}, {"ended", counters_.memberships_ended}}},
          {"retained_cleared", counters_.retained_cleared},
          {"chat", chat_.figures()}};
}

// --- on the service's loop ------------------------------------------------------------------

RelayService::RelayService(boost::asio::io_context& io, Admission& admission, std::string prefix,
                           std::function<bool(std::string_view room)> room_exists)
    : timer_(io) {
  RoomRelay::Hooks hooks;
  hooks.publish = [&admission](const std::string& topic, std::string_view payload, bool retained) {
    return admission.publish(topic, payload, retained);
  };
  hooks.room_exists = std::move(room_exists);
  relay_ = std::make_unique<RoomRelay>(std::move(prefix), std::move(hooks));
  RoomRelay* relay = relay_.get();
  admission.attach(
      relay->subscriptions(),
      [relay](const control::Message& m) { return relay->on_message(m, RoomRelay::Clock::now()); },
      [relay](const std::string& key, const std::string& room) {
        relay->admitted(key, room, RoomRelay::Clock::now());
      },
      relay->swept());
  arm();
}

RelayService::~RelayService() = default;

void RelayService::stop() {
  timer_.cancel();
}

void RelayService::arm() {
  timer_.expires_after(std::chrono::seconds(1));
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    // Nothing the relay holds may end the room server: a failure is logged and it carries on.
    try {
      relay_->tick(RoomRelay::Clock::now());
    } catch (const std::exception& e) {
      log::error("relay: housekeeping failed ({}); carrying on", message::clip(e.what(), 200));
    }
    arm();
  });
}

std::string with_relay_figures(const std::string& stats, const nlohmann::json& figures) {
  auto doc = nlohmann::ordered_json::parse(stats, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return stats;
  doc["relay"] = figures;
  return doc.dump();
}

}  // namespace jambox::broadcast
