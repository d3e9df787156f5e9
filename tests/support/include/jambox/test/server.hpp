#pragma once
// A real jambox-broadcast process for integration tests: its config and stats file live in a
// temporary directory, it reports readiness through a private notify socket, and it is stopped
// (or killed) when the object dies.

#include <jambox/test/notify_socket.hpp>
#include <jambox/test/process.hpp>
#include <jambox/test/udp.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace jambox::test {

class TempDir;

struct RoomSpec {
  std::string name;
  std::string secret;
  int max_members = 0;  // 0: the server default
};

struct ServerSpec {
  std::string listen = "127.0.0.1:0";
  // Long, so members of tests that are not about expiry survive the quiet moments while a test
  // looks at other jammers; expiry tests set it short.
  int member_timeout_ms = 10000;
  int workers = 0;              // 0: one per core
  int max_members = 0;          // 0: not written (server default)
  int stats_interval_ms = 100;  // the fastest the server allows, so tests wait little
  std::string log_level = "debug";
  std::vector<RoomSpec> rooms;
  std::string extra;  // appended to the configuration as it is (e.g. an [mqtt] table)
};

// TOML text for `spec`, with stats.file = `stats_file`.
[[nodiscard]] std::string render_config(const ServerSpec& spec,
                                        const std::filesystem::path& stats_file);
// A random printable secret of `length` characters.
[[nodiscard]] std::string random_secret(std::size_t length = 24);

class BroadcastServer {
 public:
  // Writes `spec` to <dir>/jambox-broadcast.conf and starts the server on it.
  BroadcastServer(const TempDir& dir, const ServerSpec& spec);
  // Starts the server on config text written by the caller; the text must set stats.file to
  // stats_path(dir) (render_config does). Waits for READY=1 and the bound port in the stats
  // file; throws std::runtime_error carrying the server's stderr when it does not get there.
  BroadcastServer(const TempDir& dir, const std::string& config_text,
                  std::vector<std::string> extra_args = {});
  ~BroadcastServer();
  BroadcastServer(const BroadcastServer&) = delete;
  BroadcastServer& operator=(const BroadcastServer&) = delete;

  [[nodiscard]] static std::filesystem::path stats_path(const TempDir& dir);

  [[nodiscard]] const Endpoint& endpoint() const noexcept { return endpoint_; }
  [[nodiscard]] const std::filesystem::path& config_file() const noexcept { return config_file_; }
  [[nodiscard]] const std::filesystem::path& stats_file() const noexcept { return stats_file_; }
  [[nodiscard]] Process& process() noexcept { return *process_; }
  [[nodiscard]] NotifySocket& notify() noexcept { return *notify_; }

  [[nodiscard]] std::optional<nlohmann::json> stats() const;
  [[nodiscard]] std::optional<nlohmann::json> wait_for_stats(
      const std::function<bool(const nlohmann::json&)>& predicate,
      std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;

  // Replaces the config file and sends SIGHUP; true once the server reported RELOADING=1 then
  // READY=1 again.
  bool reload(const std::string& config_text,
              std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // SIGTERM and wait; nullopt when it did not exit in time (it is killed then).
  std::optional<ExitStatus> stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // The server's stderr so far (for failure messages).
  [[nodiscard]] std::string log() const;

 private:
  void start(const TempDir& dir, const std::string& config_text,
             std::vector<std::string> extra_args);

  std::filesystem::path config_file_;
  std::filesystem::path stats_file_;
  std::unique_ptr<NotifySocket> notify_;
  std::unique_ptr<Process> process_;
  Endpoint endpoint_;
};

}  // namespace jambox::test
