#pragma once
// The box's side of its room's MQTT topics: presence (who is in the room, a heartbeat every
// kPresenceInterval, gone after kPresenceExpiry of silence) and the transport (tempo,
// metronome, playing, queue) published by the room's host and followed by every member.
//
// The box speaks and listens only on its own topics: it publishes on room/out/{presence,
// transport}, and the room server, which admitted it, relays what the other members said to
// room/in/{presence,transport}/{member} (docs/control-plane.md). Nothing a member publishes
// reaches a box that is not in its room, and no box reads another's topics.
//
// Every member is hostile input: each message is parsed with its topic's limits into a typed
// struct (lib/message), counted when refused, and each member may send at most kBurst messages
// and then kPerSecond per second on each topic; beyond that its messages are dropped and
// counted. Nothing a member sends makes this box publish more: a member's join is answered at
// most once per kPresenceInterval, answers go out at most once per kAnswerGap however many
// joined, and the roster holds at most kMaxMembers keys.

#include "outbox.hpp"
#include <jambox/control/topics.hpp>
#include <jambox/message/messages.hpp>
#include <jambox/message/rate.hpp>
#include <jambox/message/rejections.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace jambox::box {

class RoomChannel {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kPresenceInterval{30};
  static constexpr std::chrono::seconds kPresenceExpiry{60};
  static constexpr std::chrono::seconds kAnswerGap{1};
  static constexpr std::size_t kMaxMembers = 64;
  static constexpr double kPerSecond = 2.0;
  static constexpr double kBurst = 10.0;

  // What the room link knows of this box's place in the room, for its presence.
  struct LinkFacts {
    std::optional<std::uint32_t> session_id;  // its UDP session id, once admitted
    std::optional<std::uint32_t> rtt_ms;      // its round trip to the room server
  };

  struct Events {
    std::function<void(bool on, float bpm)> metronome;  // the room's transport says so
    std::function<void()> changed;                      // roster or transport changed
    std::function<LinkFacts()> link;                    // may be empty: no link figures
  };

  RoomChannel(Outbox& out, const control::Topics& topics, Events events);

  // The box is now in `room` ("" = none): moves the subscriptions, says leave and join.
  void enter(const std::string& room, Clock::time_point now);
  [[nodiscard]] const std::string& room() const noexcept { return room_; }
  [[nodiscard]] std::vector<std::string> peers() const;

  // The session is (again) ready: announce ourselves.
  void on_ready(Clock::time_point now);
  // A message relayed from another member (room/in/...); false when the topic is not one. The
  // room server never retains them: a `retained` one (the session asks for Retain As Published)
  // is planted or stale, and is counted and ignored.
  bool on_message(std::string_view topic, std::string_view payload, bool retained,
                  Clock::time_point now, message::Rejections& rejections);
  // Heartbeat, expiry of silent members, answers to newcomers: once a second.
  void tick(Clock::time_point now);
  // Says leave (at shutdown).
  void say_leave();

  // This box becomes the room's host with `next` (tempo, metronome, playing, queue).
  void host(message::Transport next);
  [[nodiscard]] const std::optional<message::Transport>& transport() const noexcept {
    return transport_;
  }
  [[nodiscard]] nlohmann::json figures() const;

 private:
  void on_presence(std::string_view key, std::string_view payload, Clock::time_point now,
                   message::Rejections& rejections);
  void on_transport(std::string_view key, std::string_view payload, Clock::time_point now,
                    message::Rejections& rejections);
  void publish_presence(message::PresenceEvent event, Clock::time_point now);
  void publish_transport();
  void changed() const {
    if (events_.changed) events_.changed();
  }

  Outbox& out_;
  const control::Topics& topics_;
  Events events_;
  std::string room_;
  std::string in_prefix_;  // room/in/
  struct Member {
    Clock::time_point seen{};      // last heard
    Clock::time_point answered{};  // when its join was last answered
    // What its presence said of its audio: its session in the room (so a controller can name
    // the remote it hears) and its round trip to the room server.
    std::optional<std::uint32_t> session_id;
    std::optional<std::uint32_t> rtt_ms;
  };
  std::map<std::string, Member, std::less<>> roster_;  // the other members
  message::KeyedRate presence_rate_{kBurst, kPerSecond, kMaxMembers};
  message::KeyedRate transport_rate_{kBurst, kPerSecond, kMaxMembers};
  Clock::time_point last_presence_{};
  Clock::time_point last_answer_{};
  bool answer_due_ = false;
  std::optional<message::Transport> transport_;
  bool is_host_ = false;
  std::uint64_t rate_limited_ = 0;
};

}  // namespace jambox::box
