#pragma once
// The room relay (docs/control-plane.md, "Room presence", "Room transport", "Room chat"): boxes
// read and write only their own topics, and the room server, which admitted them, carries what
// a member says to the other members of its room.
//
// Membership: a player key is a member of room R from the moment this server admitted it to R
// (a ticket for a join_room or create_room) until it says presence `leave` for R, is admitted to
// another room, sends no presence for kSilence, or R is removed from the server.
//
// A member X publishes on {p}/player/X/room/out/presence|transport. Each message is read with
// lib/message (typed, limited), held to a burst of kBurst and then kPerSecond per member and
// kind, and published again as the server's own serialisation of the struct (never the peer's
// bytes) to every OTHER member M on {p}/player/M/room/in/presence|transport/X, QoS 1, not
// retained. Everything else (non-members, retained, malformed, too fast, a presence for a room
// the member has left) is dropped and counted per reason. Retained messages on room/out are
// cleared from the broker (retained_clearer.hpp).
//
// Chat (room_chat.hpp) uses the same membership: a musician's message for box K goes to K's
// room, and join/leave of member boxes become chat events.

#include "retained_clearer.hpp"
#include "room_chat.hpp"
#include <jambox/message/messages.hpp>
#include <jambox/message/rate.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace jambox::control {
struct Message;
}

namespace jambox::broadcast {

class Admission;

// Why a member's message was not relayed.
enum class RelayDrop : std::uint8_t {
  not_member,    // the sender is a member of no room of this server
  stale_room,    // a presence for a room the sender is no longer a member of
  rate_limited,  // faster than the burst and rate allow
  retained,      // retained (planted, or stale): cleared from the broker
  too_large,     // the message's own limits (lib/message refusals) ...
  too_deep,
  too_long,
  invalid_json,
  not_object,
  invalid_field,
  not_owner,       // a transport update naming another host than its sender
  bad_topic,       // a topic level that cannot be a key, or an unknown kind
  publish_failed,  // a relayed copy the session did not take (not connected, too many in flight)
  kCount
};
[[nodiscard]] std::string_view relay_drop_name(RelayDrop drop) noexcept;

struct RelayCounters {
  std::uint64_t presence_relayed = 0;   // messages relayed (each to every other member)
  std::uint64_t transport_relayed = 0;  // ...
  std::uint64_t deliveries = 0;         // copies published to members
  std::uint64_t memberships_started = 0;
  std::uint64_t memberships_ended = 0;
  std::uint64_t retained_cleared = 0;
  std::array<std::uint64_t, static_cast<std::size_t>(RelayDrop::kCount)> dropped{};
};

class RoomRelay {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kSilence{90};
  static constexpr double kBurst = 10.0;
  static constexpr double kPerSecond = 2.0;
  static constexpr std::size_t kMaxMembers = 4096;
  static constexpr std::size_t kMaxRoomMembers = 64;  // the most any room admits (wire limit)

  struct Hooks {
    // QoS 1; `retained` only to clear (an empty payload). False when not sent.
    std::function<bool(const std::string& topic, std::string_view payload, bool retained)> publish;
    // Whether the server still has this room (declared, or made on demand and not expired).
    std::function<bool(std::string_view room)> room_exists;
    std::function<std::int64_t()> wall_ms;  // Unix milliseconds; empty: the system clock
  };

  RoomRelay(std::string prefix, Hooks hooks);

  // The filters to subscribe (normal subscriptions: every server hears its own members).
  [[nodiscard]] std::vector<std::string> subscriptions() const;
  // Those of them whose retained messages must be read again now and then (to be cleared).
  [[nodiscard]] std::vector<std::string> swept() const;
  // A message on any topic: true when it was the relay's (room/out, chat/from, room/+/chat).
  bool on_message(const control::Message& m, Clock::time_point now);
  // This server has just admitted `key` to `room`.
  void admitted(std::string_view key, std::string_view room, Clock::time_point now);
  // Once a second: silent members, removed rooms, retained messages to clear, idle rate tables.
  void tick(Clock::time_point now);

  // The room `key` is a member of, "" when none.
  [[nodiscard]] std::string room_of(std::string_view key) const;
  [[nodiscard]] std::vector<std::string> members(std::string_view room) const;
  [[nodiscard]] const RelayCounters& counters() const noexcept { return counters_; }
  [[nodiscard]] const RoomChat& chat() const noexcept { return chat_; }
  // {"members", "rooms", "relayed": {...}, "deliveries", "dropped": {...}, "memberships": {...},
  //  "retained_cleared", "chat": {...}}: bounded, built from counters only.
  [[nodiscard]] nlohmann::json figures() const;

 private:
  struct Member {
    std::string room;
    Clock::time_point seen{};  // admitted, or its latest presence
  };
  enum class EndReason : std::uint8_t { said_leave, moved, silent, room_gone };

  void on_room_out(std::string_view key, std::string_view kind, const control::Message& m,
                   Clock::time_point now);
  void on_chat_from(std::string_view key, std::string_view user, const control::Message& m,
                    Clock::time_point now);
  void on_admin_chat(std::string_view room, const control::Message& m, Clock::time_point now);
  void relay(std::string_view key, std::string_view room, std::string_view kind,
             const std::string& text);
  void end(const std::string& key, EndReason why, Clock::time_point now);
  void drop(RelayDrop why);
  void clear_later(const std::string& topic);
  [[nodiscard]] std::int64_t wall_ms() const;

  std::string prefix_;
  Hooks hooks_;
  std::map<std::string, Member, std::less<>> members_;
  std::map<std::string, std::set<std::string, std::less<>>, std::less<>> rooms_;
  message::KeyedRate presence_rate_{kBurst, kPerSecond, kMaxMembers};
  message::KeyedRate transport_rate_{kBurst, kPerSecond, kMaxMembers};
  RetainedClearer clearer_{"relay"};
  RelayCounters counters_;
  RoomChat chat_;
  Clock::time_point last_drop_log_{};
};

// The relay riding on `admission`'s session: subscribes its filters there, hears of every
// admission, ticks on `io` once a second. `room_exists` as in RoomRelay::Hooks.
class RelayService {
 public:
  RelayService(boost::asio::io_context& io, Admission& admission, std::string prefix,
               std::function<bool(std::string_view room)> room_exists);
  ~RelayService();
  RelayService(const RelayService&) = delete;
  RelayService& operator=(const RelayService&) = delete;

  void stop();
  [[nodiscard]] const RoomRelay& relay() const noexcept { return *relay_; }
  // Rooms were removed: their members and chat are forgotten now, not at the next tick.
  void rooms_removed() { relay_->tick(RoomRelay::Clock::now()); }

 private:
  void arm();
  std::unique_ptr<RoomRelay> relay_;
  boost::asio::steady_timer timer_;
};

// The stats file's text with the relay's figures added as "relay" (the stats writer knows
// nothing of MQTT): `stats` as written by to_json(Snapshot).
[[nodiscard]] std::string with_relay_figures(const std::string& stats,
                                             const nlohmann::json& figures);

}  // namespace jambox::broadcast
