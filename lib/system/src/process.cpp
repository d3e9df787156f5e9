#include "jambox/system/process.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <ctime>
#include <string>
#include <string_view>

namespace jambox::system {

std::uint64_t monotonic_us() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000U +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1'000U;
}

namespace {

// Reads a small /proc file completely; nullopt when it cannot be opened or read (process gone).
std::optional<std::string> read_proc_file(pid_t pid, const char* name) {
  const std::string path = "/proc/" + std::to_string(pid) + "/" + name;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return text;
}

// Splits off the next space-separated field of `rest`.
std::string_view next_field(std::string_view& rest) {
  const auto start = rest.find_first_not_of(' ');
  if (start == std::string_view::npos) {
    rest = {};
    return {};
  }
  rest.remove_prefix(start);
  const auto end = rest.find_first_of(" \n");
  const std::string_view field = rest.substr(0, end);
  rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
  return field;
}

bool parse_u64(std::string_view text, std::uint64_t& out) {
  if (text.empty()) return false;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && ptr == text.data() + text.size();
}

std::chrono::microseconds ticks_to_us(std::uint64_t ticks, std::uint64_t hz) {
  // Split to avoid overflow of ticks * 1e6 for long-lived processes.
  const std::uint64_t us = (ticks / hz) * 1'000'000U + (ticks % hz) * 1'000'000U / hz;
  return std::chrono::microseconds{static_cast<std::chrono::microseconds::rep>(us)};
}

}  // namespace

std::optional<CpuTimes> process_cpu_times(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  const auto text = read_proc_file(pid, "stat");
  if (!text) return std::nullopt;
  // "pid (comm) state ppid ...": comm is chosen by the process and may contain spaces and ')',
  // so the fields start after the LAST ')'.
  const auto paren = text->rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  std::string_view rest = std::string_view{*text}.substr(paren + 1);
  // After comm: state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt
  // utime(14) stime(15), see proc(5).
  constexpr int kFieldsBeforeUtime = 11;
  for (int i = 0; i < kFieldsBeforeUtime; ++i) {
    if (next_field(rest).empty()) return std::nullopt;
  }
  std::uint64_t utime = 0;
  std::uint64_t stime = 0;
  if (!parse_u64(next_field(rest), utime) || !parse_u64(next_field(rest), stime)) {
    return std::nullopt;
  }
  const long hz = ::sysconf(_SC_CLK_TCK);
  if (hz <= 0) return std::nullopt;
  const auto uhz = static_cast<std::uint64_t>(hz);
  return CpuTimes{ticks_to_us(utime, uhz), ticks_to_us(stime, uhz)};
}

std::optional<std::uint64_t> process_rss_kib(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  const auto text = read_proc_file(pid, "status");
  if (!text) return std::nullopt;
  constexpr std::string_view kKey = "\nVmRSS:";
  const auto pos = text->find(kKey);
  if (pos == std::string::npos) return std::nullopt;  // kernel threads have no VmRSS
  std::string_view rest = std::string_view{*text}.substr(pos + kKey.size());
  const auto start = rest.find_first_not_of(" \t");
  if (start == std::string_view::npos) return std::nullopt;
  rest.remove_prefix(start);
  const auto end = rest.find_first_not_of("0123456789");
  std::uint64_t kib = 0;
  if (!parse_u64(rest.substr(0, end), kib)) return std::nullopt;
  if (end == std::string_view::npos || rest.substr(end).rfind(" kB", 0) != 0) return std::nullopt;
  return kib;
}

}  // namespace jambox::system
