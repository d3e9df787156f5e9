#pragma once
// The jamboxd appliance on one Asio loop: the JACK supervisor drives the audio engine, the room
// link carries its packets to jambox-broadcast, and systemd hears about it all.
//
// Readiness: READY=1 goes out once the socket is bound and JACK is connected. A box whose JACK
// server is not up within jack_ready_grace still declares itself ready (its STATUS says "waiting
// for JACK") so systemd does not kill a daemon whose whole point is to wait for JACK and keep the
// room session meanwhile.
// Signals: SIGHUP reloads the configuration (room and mix change without restarting audio; JACK
// client settings need a restart and say so), SIGTERM/SIGINT leave the room and exit 0.

#include <jambox/box/config.hpp>

#include <chrono>
#include <functional>
#include <memory>

namespace jambox::box {

struct BoxOptions {
  std::chrono::milliseconds jack_ready_grace{5000};
  std::chrono::milliseconds status_refresh{1000};  // STATUS= update period
};

class Box {
 public:
  // `reload` re-reads the configuration on SIGHUP (it throws config::ConfigError on problems,
  // which keeps the running configuration). Throws std::system_error when the socket or the
  // eventfd cannot be created.
  Box(BoxConfig config, std::function<BoxConfig()> reload, BoxOptions options = {});
  ~Box();
  Box(const Box&) = delete;
  Box& operator=(const Box&) = delete;

  // Runs until SIGTERM or SIGINT; returns the process exit code.
  int run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace jambox::box
