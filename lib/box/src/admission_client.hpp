#pragma once
// Admission by request: join_room without a secret asks the room servers (through the broker)
// for a ticket; the answer arrives on the box's response topic. Unanswered after
// kRequestTimeout, refused because the room is full, or a ticket that ran out while outside the
// room: asked again after kRetry. create_room asks a room server to make a room named by a code
// and is answered the same way: the box joins it like any admitted room.

#include "outbox.hpp"
#include <jambox/box/config.hpp>
#include <jambox/control/topics.hpp>
#include <jambox/message/rejections.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>

namespace jambox::box {

class AdmissionClient {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kRequestTimeout{30};
  static constexpr std::chrono::seconds kRetry{30};

  // `admitted` is called with the room to join when a ticket arrives.
  AdmissionClient(Outbox& out, const control::Topics& topics,
                  std::function<void(const RoomConfig&)> admitted, std::function<void()> changed);

  using Created = std::function<void(const RoomConfig&)>;

  // Asks for `room`; returns the request id.
  const std::string& request(const std::string& room, Clock::time_point now);
  // Asks a room server to make a room named `code` ("": the server picks the code); once made,
  // the box joins it (the `admitted` callback) and then `created` runs with it. Returns the
  // request id.
  const std::string& create(const std::string& code, Clock::time_point now, Created created);
  // The box was told otherwise (a room with a secret, leave_room): nothing is pending.
  void forget();
  [[nodiscard]] bool asking() const noexcept { return !state_.request_id.empty(); }
  [[nodiscard]] const std::string& request_id() const noexcept { return state_.request_id; }

  // A message on the box's response topic for request `id`.
  void on_response(std::string_view id, std::string_view payload, Clock::time_point now,
                   message::Rejections& rejections);
  // Timeouts and retries; `needs_ticket`: the box's ticket ran out while outside the room.
  void tick(Clock::time_point now, bool needs_ticket);

  // For status: {"room", "request_type", "state", "request_id", "error_code", "error"}; null
  // when idle. While a room is being made without a wanted code, "room" is "" until it is.
  [[nodiscard]] nlohmann::json figures() const;

 private:
  void failed(std::string code, std::string error, bool retry, Clock::time_point now);
  void send(Clock::time_point now);

  struct State {
    std::string room;        // wanted ("" when the box was told otherwise, or any code is welcome)
    bool create = false;     // create_room: the room is to be made first
    Created created;         // create_room: runs once the box is in the room it made
    bool made = false;       // the latest answer made the room (status says create_room)
    std::string request_id;  // in flight, "" when none
    std::string last_request_id;  // the latest request, answered or not (status names it)
    Clock::time_point sent{};
    Clock::time_point retry_at{};
    bool retry = false;
    std::string state;  // requested, admitted, refused, timed_out
    std::string error_code;
    std::string error;
  };

  Outbox& out_;
  const control::Topics& topics_;
  std::function<void(const RoomConfig&)> admitted_;
  std::function<void()> changed_;
  State state_;
};

}  // namespace jambox::box
