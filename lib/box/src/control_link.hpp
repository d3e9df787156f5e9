#pragma once
// jamboxd's managed mode: the MQTT session (lib/control) and the adapters that connect it to the
// box's model — commands and their acks, status every status_interval and on change, meters at
// the requested interval, capabilities and state (retained), the room's presence, transport and
// view events, admission by ticket, Last Will. Every inbound message is parsed with its topic's
// limits (lib/message) before any adapter sees it; a refused or failing message is counted per
// kind and reason, logged at most every few seconds, and never ends the daemon.

#include "model.hpp"
#include <jambox/box/config.hpp>
#include <jambox/control/session.hpp>

#include <boost/asio/io_context.hpp>

#include <memory>
#include <string>

namespace jambox::box {

class ControlLink {
 public:
  ControlLink(boost::asio::io_context& io, const ControlConfig& config, BoxModel& model);
  ~ControlLink();
  ControlLink(const ControlLink&) = delete;
  ControlLink& operator=(const ControlLink&) = delete;

  void start();
  // Publishes an explicit offline status (a clean disconnect does not fire the Will), then
  // disconnects. Loop thread, at shutdown.
  void stop();

  [[nodiscard]] control::LinkState state() const noexcept;
  [[nodiscard]] std::string summary() const;  // "connected" / "reconnecting (retry in 4 s)"

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace jambox::box
