#include "view_queue.hpp"

#include <jambox/control/admin.hpp>
#include <jambox/control/identity.hpp>
#include <jambox/message/messages.hpp>
#include <jambox/message/text.hpp>

namespace jambox::box {

std::int64_t wall_seconds() {
  const auto now = std::chrono::system_clock::now();
  if (now < control::earliest_plausible_time()) return 0;  // 1970 sentinel: clock not set
  return std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
}

ViewQueue::ViewQueue(Outbox& out, std::string topic, std::string player_key)
    : out_(out), topic_(std::move(topic)), player_key_(std::move(player_key)) {}

void ViewQueue::queue(const std::string& event, const std::string& room,
                      const std::vector<std::string>& peers, std::int64_t duration_s) {
  nlohmann::json doc{{"event_id", control::make_uuid()},
                     {"player_key", player_key_},
                     {"event", event},
                     {"room", room},
                     {"peers", peers},
                     {"timestamp", wall_seconds()},
                     {"request_ack", true}};
  if (duration_s >= 0) doc["duration_s"] = duration_s;
  if (events_.size() >= kMaxQueued) {
    events_.pop_front();
    ++dropped_;
  }
  events_.push_back({doc["event_id"].get<std::string>(), message::dump(doc)});
  send(Clock::now());
}

// The head of the queue, again every kRetry until acknowledged; a new head waits for the same
// interval after the previous publication.
void ViewQueue::send(Clock::time_point now) {
  if (events_.empty() || !out_.ready()) return;
  if (last_sent_ != Clock::time_point{} && now - last_sent_ < kRetry) return;
  if (out_.publish(topic_, events_.front().text)) last_sent_ = now;
}

std::optional<message::Refusal> ViewQueue::on_ack(std::string_view payload) {
  message::ParseError error;
  const auto ack = message::parse_view_ack(payload, error);
  if (!ack) return error.reason;
  if (events_.empty() || ack->event_id != events_.front().id) return std::nullopt;  // stale
  events_.pop_front();
  ++acked_;
  return std::nullopt;
}

nlohmann::json ViewQueue::figures() const {
  return {{"queued", events_.size()}, {"acked", acked_}, {"dropped", dropped_}};
}

}  // namespace jambox::box
