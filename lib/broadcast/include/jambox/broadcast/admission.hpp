#pragma once
// Room admission over MQTT (managed mode, docs/control-plane.md "Room admission").
//
// jambox-broadcast keeps an mTLS MQTT 5 session under its service identity and takes the boxes'
// requests through the shared subscription $share/jambox-broadcast/{prefix}/player/+/request/+,
// so several servers split them. A join_room request is answered on the asking box's own
// response topic (never on a topic the request names) with a ticket for the room (wire::Ticket:
// nonce, expiry, and the ticket's secret), the UDP endpoint to send audio to and the room's size;
// unknown or full rooms and malformed requests get error codes. The box never learns the room's
// secret, and nothing is stored per ticket. A create_room request makes a room named by a code
// first (on_demand.hpp) and is answered the same way.

#include <jambox/broadcast/config.hpp>
#include <jambox/message/messages.hpp>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace jambox::control {
struct Message;
}

namespace jambox::broadcast {

// What the server knows of a room at the moment a request arrives.
struct RoomAvailability {
  bool exists = false;
  std::string secret;
  std::uint32_t members = 0;
  std::uint32_t max_members = 0;
  // The server makes rooms on demand: a code-shaped name that is no room is `unknown_code`.
  bool codes = false;
};
using RoomLookup = std::function<RoomAvailability(std::string_view room)>;

// The outcome of a create_room: the room made (named by its code), or why not.
struct RoomCreation {
  std::string room;  // the code
  RoomAvailability available;
  std::string error_code;  // empty when made; else code_taken, server_full, on_demand_disabled
  std::string error;
};
// Makes a room for `player_key`, named `wanted` (a code, upper case) or by a fresh code when
// `wanted` is empty.
using RoomCreator =
    std::function<RoomCreation(std::string_view player_key, std::string_view wanted)>;

inline constexpr std::size_t kMaxRequestBytes = message::kMaxRequestBytes;

// The response to one request `payload` from the box `player_key` (the key in the request's
// topic, which the broker's ACL ties to the box's certificate). Pure: no broker, no clock.
// join_room asks `lookup`; create_room asks `create` (none: refused as on_demand_disabled) and
// is answered like a join of the room made, plus `created: true`.
[[nodiscard]] nlohmann::json answer_request(std::string_view player_key, std::string_view payload,
                                            const RoomLookup& lookup, const RoomCreator& create,
                                            const AdmissionConfig& config, std::uint64_t now_s);
// Without rooms made on demand.
[[nodiscard]] nlohmann::json answer_request(std::string_view player_key, std::string_view payload,
                                            const RoomLookup& lookup, const AdmissionConfig& config,
                                            std::uint64_t now_s);

struct AdmissionCounters {
  std::uint64_t requests = 0;
  std::uint64_t admitted = 0;          // tickets issued
  std::uint64_t refused = 0;           // answered with an error
  std::uint64_t rate_limited = 0;      // a box asking faster than allowed: dropped unanswered
  std::uint64_t retained_cleared = 0;  // retained room presence/transport removed
  std::uint64_t failed = 0;            // a handler failed (logged; the server carries on)
  std::uint64_t ignored = 0;           // not on a request topic of ours: nothing to answer to
};

class Admission {
 public:
  // `lookup` and `create` run on `io`'s thread; `create` may be empty (no rooms on demand).
  Admission(boost::asio::io_context& io, AdmissionConfig config, RoomLookup lookup,
            RoomCreator create = {});
  ~Admission();
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;

  void start();
  void stop();  // on the loop's thread, at shutdown
  [[nodiscard]] const AdmissionCounters& counters() const noexcept;

  // The room relay (room_relay.hpp) rides on this session: `filters` are subscribed too,
  // `take` sees every message first (true: it was the relay's), and `admitted` hears of every
  // ticket issued (player key, room) before the answer goes out. The retained messages on
  // `swept` (some of `filters`) are read again every 10 s, like those on the room topics the
  // admission clears itself. Call before start().
  void attach(std::vector<std::string> filters, std::function<bool(const control::Message&)> take,
              std::function<void(const std::string& player_key, const std::string& room)> admitted,
              std::vector<std::string> swept = {});
  // Publishes on this session (QoS 1); false when not sent (not connected, too many in flight).
  bool publish(const std::string& topic, std::string_view payload, bool retained = false);
  [[nodiscard]] std::string state() const;  // disconnected, connecting, connected, reconnecting

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace jambox::broadcast
