#include "retained_clearer.hpp"

#include <jambox/log/log.hpp>
#include <jambox/message/text.hpp>

namespace jambox::broadcast {

void RetainedClearer::add(const std::string& topic) {
  if (queued_.contains(topic) || queue_.size() >= kMaxQueued) return;
  queued_.insert(topic);
  queue_.push_back(topic);
}

void RetainedClearer::clear_some(const Publish& publish, Clock::time_point now) {
  for (std::size_t i = 0; i < kPerTick && !queue_.empty(); ++i) {
    if (!publish(queue_.front())) break;
    ++cleared_;
    if (now - last_log_ >= std::chrono::seconds(1)) {
      last_log_ = now;
      log::notice(
          "{}: cleared a retained message from {} (boxes never retain room topics; {} cleared "
          "so far)",
          who_, message::clip(queue_.front(), 200), cleared_);
    }
    queued_.erase(queue_.front());
    queue_.pop_front();
  }
}

}  // namespace jambox::broadcast
