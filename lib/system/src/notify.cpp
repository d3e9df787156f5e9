#include "jambox/system/notify.hpp"

#include "jambox/log/log.hpp"
#include "jambox/system/process.hpp"

#include <systemd/sd-daemon.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace jambox::system {

Notifier::Notifier() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  active_ = socket != nullptr && *socket != '\0';
}

namespace {
void send(bool active, const std::string& state) {
  // Failures are ignored on purpose: the service manager going away must not stop the program,
  // and systemd reports missing READY/WATCHDOG messages itself.
  if (active) static_cast<void>(::sd_notify(0, state.c_str()));
}
}  // namespace

void Notifier::ready() {
  send(active_, "READY=1");
}

void Notifier::status(std::string_view text) {
  std::string state = "STATUS=";
  state.append(text);
  // A newline would start a new assignment in the notify protocol; keep STATUS= one line.
  for (std::size_t i = 7; i < state.size(); ++i) {
    if (state[i] == '\n' || state[i] == '\r') state[i] = ' ';
  }
  send(active_, state);
}

void Notifier::reloading() {
  // systemd >= 253 (Type=notify-reload) wants MONOTONIC_USEC with RELOADING=1; older ones ignore
  // it.
  send(active_, "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_us()));
}

void Notifier::stopping() {
  send(active_, "STOPPING=1");
}

void Notifier::watchdog() {
  send(active_, "WATCHDOG=1");
}

std::optional<std::chrono::microseconds> Notifier::watchdog_interval() const {
  std::uint64_t usec = 0;
  // Checks WATCHDOG_PID too, so a child that inherited the variables does not pet for its parent.
  if (::sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds{static_cast<std::chrono::microseconds::rep>(usec)};
}

WatchdogPetter::WatchdogPetter(boost::asio::io_context& loop, Notifier& notifier)
    : timer_(loop), notifier_(notifier) {}

void WatchdogPetter::start() {
  if (running_) return;
  const auto interval = notifier_.watchdog_interval();
  if (!interval || !notifier_.active()) return;
  period_ = std::max(*interval / 2, std::chrono::microseconds{1});
  running_ = true;
  notifier_.watchdog();
  arm();
}

void WatchdogPetter::stop() {
  running_ = false;
  ++generation_;
  timer_.cancel();
}

void WatchdogPetter::arm() {
  timer_.expires_after(period_);
  timer_.async_wait([this, generation = generation_](const boost::system::error_code& ec) {
    // Check ec before touching `this`: a cancelled wait may complete after the petter is gone.
    if (ec || !running_ || generation != generation_) return;
    notifier_.watchdog();
    arm();
  });
}

bool stderr_is_journal() {
  return log::stderr_is_journal();
}

}  // namespace jambox::system
