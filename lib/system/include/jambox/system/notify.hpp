#pragma once
// systemd service manager protocol (sd_notify), thin wrapper over libsystemd.
//
// Every call is a no-op when NOTIFY_SOCKET is unset, so programs behave the same on a terminal.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <optional>
#include <string_view>

namespace jambox::system {

class Notifier {
 public:
  Notifier();

  [[nodiscard]] bool active() const { return active_; }  // NOTIFY_SOCKET is set

  void ready();                        // READY=1 — only after sockets are bound
  void status(std::string_view text);  // STATUS=<text>
  void reloading();                    // RELOADING=1 (+ MONOTONIC_USEC)
  void stopping();                     // STOPPING=1
  void watchdog();                     // WATCHDOG=1
  // WATCHDOG_USEC from the environment (only when it is meant for this process).
  [[nodiscard]] std::optional<std::chrono::microseconds> watchdog_interval() const;

 private:
  bool active_ = false;
};

// Pets the watchdog from a timer on `loop` at half the configured interval, so a loop that is
// stuck stops petting and systemd restarts the service. Does nothing without a watchdog.
// Like any Asio timer owner it must outlive the handlers it queued (destroy it after the loop
// stopped running).
class WatchdogPetter {
 public:
  WatchdogPetter(boost::asio::io_context& loop, Notifier& notifier);
  void start();
  void stop();

 private:
  void arm();
  boost::asio::steady_timer timer_;
  Notifier& notifier_;
  std::chrono::microseconds period_{0};
  bool running_ = false;
  // Bumped by stop(): a wait that had already completed when stop() ran must not keep petting
  // after a later start().
  unsigned generation_ = 0;
};

// True when stderr is connected to the journal (JOURNAL_STREAM matches fd 2).
[[nodiscard]] bool stderr_is_journal();

}  // namespace jambox::system
