#pragma once
// What the MQTT adapters of the box (room channel, view queue, admission) need of the session:
// a narrow seam, so each of them can be tested without a broker.

#include <jambox/control/session.hpp>

#include <string>
#include <string_view>

namespace jambox::box {

class Outbox {
 public:
  virtual ~Outbox() = default;
  [[nodiscard]] virtual bool ready() const = 0;
  // False when not sent (not connected, too many in flight, over the size limit).
  virtual bool publish(const std::string& topic, std::string_view payload,
                       const control::PublishOptions& options) = 0;
  bool publish(const std::string& topic, std::string_view payload) {
    return publish(topic, payload, control::PublishOptions{});
  }
  virtual void subscribe(const std::string& filter) = 0;
  virtual void unsubscribe(const std::string& filter) = 0;
};

// Wall-clock seconds for timestamps, 0 while the clock is not set (a box without an RTC).
[[nodiscard]] std::int64_t wall_seconds();

}  // namespace jambox::box
