#pragma once
// Retained messages that must not stay on the broker (boxes never retain room topics: a retained
// one is stale or planted, and would wait there for every box that subscribes later). The room
// server, which may write those topics, clears each with an empty retained message. Topics wait
// in a bounded queue, each once, and are cleared at most kPerTick at a time: a flood of planted
// messages is cleared in full, later, and never makes the server publish faster than that.
// The one owner of this rule for the room server: admission (room/...) and the relay
// (player/+/room/out/...) each keep one.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <set>
#include <string>

namespace jambox::broadcast {

class RetainedClearer {
 public:
  using Clock = std::chrono::steady_clock;
  // Publishes an empty retained message on the topic; false when not sent.
  using Publish = std::function<bool(const std::string& topic)>;
  static constexpr std::size_t kMaxQueued = 4096;
  static constexpr std::size_t kPerTick = 20;

  // `who` starts its journal lines ("relay", "admission").
  explicit RetainedClearer(std::string who) : who_(std::move(who)) {}

  // A retained message was seen on `topic`: queued unless it already is (or the queue is full;
  // the room topics are read again now and then, so it is seen again later).
  void add(const std::string& topic);
  // Clears up to kPerTick queued topics. A refused publish (the session is down, or has its most
  // messages in flight during a flood) keeps the topic first for the next call: a dropped
  // clearing would leave the poison on the broker for good.
  void clear_some(const Publish& publish, Clock::time_point now);

  [[nodiscard]] bool empty() const noexcept { return queue_.empty(); }
  [[nodiscard]] std::uint64_t cleared() const noexcept { return cleared_; }

 private:
  std::string who_;
  std::deque<std::string> queue_;
  std::set<std::string, std::less<>> queued_;
  std::uint64_t cleared_ = 0;
  Clock::time_point last_log_{};
};

}  // namespace jambox::broadcast
