#pragma once
// The daemon around Server: the main thread's event loop with signals (SIGHUP reload,
// SIGTERM/SIGINT stop), the stats file, the periodic journal line, and the systemd protocol
// (READY=1 after every socket is bound, RELOADING=1/READY=1 around reloads, STATUS= figures,
// WATCHDOG=1 only while every worker shows a recent heartbeat).

#include <jambox/broadcast/config.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

namespace jambox::broadcast {

class Service {
 public:
  // Re-reads the configuration for SIGHUP; throws config::ConfigError (or another exception)
  // when it is not usable, and the service keeps the running configuration.
  using Reloader = std::function<ServerConfig()>;

  Service(ServerConfig config, Reloader reloader);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Binds, starts the workers, notifies READY=1 and runs until SIGTERM or SIGINT; then sends
  // every member NOTICE server_stopping, writes the final stats file and returns 0. Throws
  // std::system_error when the sockets cannot be bound.
  int run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Writes `text` to `file`.tmp and renames it over `file`, so readers never see half a file.
// Returns an empty string on success, else what went wrong.
[[nodiscard]] std::string write_file_atomically(const std::filesystem::path& file,
                                                const std::string& text);

}  // namespace jambox::broadcast
