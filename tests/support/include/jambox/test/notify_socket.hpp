#pragma once
// The receiving end of the systemd notify protocol, for tests: an AF_UNIX datagram socket bound in
// a temporary directory whose path is handed to a child as NOTIFY_SOCKET, so a test sees exactly
// what systemd would (READY=1, RELOADING=1, STATUS=..., STOPPING=1).
//
// A thread reads the socket all the time, as systemd does: sd_notify() blocks once the socket's
// small queue (net.unix.max_dgram_qlen) is full, so a test that looked away for a second would
// otherwise freeze the server's main loop.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace jambox::test {

class NotifySocket {
 public:
  explicit NotifySocket(const std::filesystem::path& directory);
  ~NotifySocket();
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  // The environment entry to give a child.
  [[nodiscard]] std::pair<std::string, std::string> env() const;

  // Waits for the next assignment line (e.g. "READY=1") that starts with `prefix`, scanning lines
  // not consumed yet in arrival order; lines before the match are consumed too. Returns the line.
  std::optional<std::string> wait_for(std::string_view prefix, std::chrono::milliseconds timeout);
  // Every assignment line received so far, in order.
  [[nodiscard]] std::vector<std::string> lines() const;

 private:
  void read_loop();

  int fd_ = -1;
  std::filesystem::path path_;
  mutable std::mutex mutex_;
  std::condition_variable arrived_;
  std::vector<std::string> lines_;
  std::size_t consumed_ = 0;
  std::atomic<bool> stop_{false};
  std::thread reader_;
};

}  // namespace jambox::test
