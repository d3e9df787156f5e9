#pragma once
// View events (the box joined or left a room) for the room server's records: sent until
// acknowledged, one publication every kRetry at most; kMaxQueued wait across disconnections
// (the oldest give way, counted).

#include "outbox.hpp"
#include <jambox/message/rejections.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace jambox::box {

class ViewQueue {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kRetry{5};
  static constexpr std::size_t kMaxQueued = 64;

  ViewQueue(Outbox& out, std::string topic, std::string player_key);

  void queue(const std::string& event, const std::string& room,
             const std::vector<std::string>& peers, std::int64_t duration_s = -1);
  // Publishes the head if it is due (call on ready and every housekeeping tick).
  void send(Clock::time_point now);
  // An acknowledgement from the room server; a refused payload is reported, nothing changes.
  std::optional<message::Refusal> on_ack(std::string_view payload);

  [[nodiscard]] nlohmann::json figures() const;

 private:
  struct Event {
    std::string id;
    std::string text;
  };
  Outbox& out_;
  std::string topic_;
  std::string player_key_;
  std::deque<Event> events_;
  Clock::time_point last_sent_{};
  std::uint64_t dropped_ = 0;
  std::uint64_t acked_ = 0;
};

}  // namespace jambox::box
