#include <jambox/test/notify_socket.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace jambox::test {

NotifySocket::NotifySocket(const std::filesystem::path& directory)
    : path_(directory / "notify.sock") {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string text = path_.string();
  if (text.size() >= sizeof(address.sun_path)) {
    throw std::runtime_error("notify socket path too long: " + text);
  }
  std::memcpy(address.sun_path, text.c_str(), text.size() + 1);
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "notify socket");
  if (::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    const int error = errno;
    ::close(fd_);
    throw std::system_error(error, std::generic_category(), "bind " + text);
  }
  reader_ = std::thread([this] { read_loop(); });
}

NotifySocket::~NotifySocket() {
  stop_ = true;
  reader_.join();
  ::close(fd_);
}

std::pair<std::string, std::string> NotifySocket::env() const {
  return {"NOTIFY_SOCKET", path_.string()};
}

void NotifySocket::read_loop() {
  std::array<char, 4096> buffer{};
  while (!stop_) {
    pollfd waiting{fd_, POLLIN, 0};
    if (::poll(&waiting, 1, 20) <= 0) continue;
    const ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n <= 0) continue;
    // One datagram carries newline-separated assignments.
    std::string_view text(buffer.data(), static_cast<std::size_t>(n));
    std::lock_guard lock(mutex_);
    while (!text.empty()) {
      const auto end = text.find('\n');
      const std::string_view line = text.substr(0, end);
      if (!line.empty()) lines_.emplace_back(line);
      if (end == std::string_view::npos) break;
      text.remove_prefix(end + 1);
    }
    arrived_.notify_all();
  }
}

std::vector<std::string> NotifySocket::lines() const {
  std::lock_guard lock(mutex_);
  return lines_;
}

std::optional<std::string> NotifySocket::wait_for(std::string_view prefix,
                                                  std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mutex_);
  for (;;) {
    while (consumed_ < lines_.size()) {
      const std::string& line = lines_[consumed_++];
      if (line.rfind(prefix, 0) == 0) return line;
    }
    if (arrived_.wait_until(lock, deadline) == std::cv_status::timeout &&
        consumed_ == lines_.size()) {
      return std::nullopt;
    }
  }
}

}  // namespace jambox::test
