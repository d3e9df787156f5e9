#include "jambox/log/log.hpp"

#include <systemd/sd-journal.h>

#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <string>
#include <system_error>

namespace jambox::log {
namespace {

// Process-wide logger state. The level is atomic so the enabled() check in the header templates
// stays lock-free; the mutex only serialises terminal writes and the init-time strings.
struct State {
  std::atomic<int> level{static_cast<int>(Level::info)};
  std::atomic<bool> env_pinned{false};  // JAMBOX_LOG_LEVEL is in effect
  std::atomic<bool> journal{false};     // stderr is a journal stream
  std::atomic<bool> native{false};      // ... and the native journal socket is there
  std::mutex mutex;
  std::string identifier;
};

State& state() {
  static State s;  // constructed on first use, so logging from static initialisers works
  return s;
}

// Writes all of `data` to fd 2, retrying after signals and short writes. One write() call per
// record in the common case keeps records whole even when several processes share the terminal.
void write_all_stderr(std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(STDERR_FILENO, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to report a broken stderr
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

void append_padded(std::string& out, long value, int width) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  if (ec != std::errc{}) return;
  for (auto len = end - buf; len < width; ++len) out.push_back('0');
  out.append(buf, end);
}

// "YYYY-mm-dd HH:MM:SS.mmm <level> <message>\n" in local time.
std::string terminal_line(Level lvl, std::string_view message) {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  std::tm tm{};
  ::localtime_r(&now.tv_sec, &tm);
  std::string line;
  line.reserve(32 + message.size());
  append_padded(line, tm.tm_year + 1900L, 4);
  line.push_back('-');
  append_padded(line, tm.tm_mon + 1L, 2);
  line.push_back('-');
  append_padded(line, tm.tm_mday, 2);
  line.push_back(' ');
  append_padded(line, tm.tm_hour, 2);
  line.push_back(':');
  append_padded(line, tm.tm_min, 2);
  line.push_back(':');
  append_padded(line, tm.tm_sec, 2);
  line.push_back('.');
  append_padded(line, now.tv_nsec / 1'000'000, 3);
  line.push_back(' ');
  line.append(level_name(lvl));
  line.push_back(' ');
  line.append(message);
  line.push_back('\n');
  return line;
}

bool send_to_journal(Level lvl, std::string_view message, const std::string& identifier) {
  std::string msg = "MESSAGE=";
  msg.append(message);
  std::string prio = "PRIORITY=";
  prio.push_back(static_cast<char>('0' + static_cast<int>(lvl)));
  std::string ident = "SYSLOG_IDENTIFIER=" + identifier;
  iovec iov[3] = {
      {msg.data(), msg.size()}, {prio.data(), prio.size()}, {ident.data(), ident.size()}};
  const int count = identifier.empty() ? 2 : 3;
  // Parenthesised name: call the function, not the macro that would add CODE_FILE/CODE_LINE of
  // this file to every record.
  return (sd_journal_sendv)(iov, count) >= 0;
}

}  // namespace

std::string_view level_name(Level level) {
  switch (level) {
    case Level::error:
      return "error";
    case Level::warning:
      return "warning";
    case Level::notice:
      return "notice";
    case Level::info:
      return "info";
    case Level::debug:
      return "debug";
  }
  return "unknown";
}

bool parse_level(std::string_view text, Level& out) {
  for (Level l : {Level::error, Level::warning, Level::notice, Level::info, Level::debug}) {
    if (text == level_name(l)) {
      out = l;
      return true;
    }
  }
  return false;
}

bool stderr_is_journal() {
  const char* env = std::getenv("JOURNAL_STREAM");
  if (env == nullptr) return false;
  const std::string_view text{env};
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return false;
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  const char* first = text.data();
  const char* mid = first + colon;
  const char* last = first + text.size();
  auto r1 = std::from_chars(first, mid, dev);
  if (r1.ec != std::errc{} || r1.ptr != mid) return false;
  auto r2 = std::from_chars(mid + 1, last, ino);
  if (r2.ec != std::errc{} || r2.ptr != last) return false;
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) != 0) return false;
  return static_cast<std::uint64_t>(st.st_dev) == dev &&
         static_cast<std::uint64_t>(st.st_ino) == ino;
}

void init(std::string_view program) {
  State& s = state();
  {
    std::lock_guard lock(s.mutex);
    s.identifier.assign(program);
  }
  const bool journal = stderr_is_journal();
  s.journal.store(journal, std::memory_order_relaxed);
  // sd_journal_sendv() reports success when journald's socket is missing (records vanish), so
  // check for it here and otherwise fall back to "<N>" lines on the stderr stream.
  s.native.store(journal && ::access("/run/systemd/journal/socket", W_OK) == 0,
                 std::memory_order_relaxed);
  s.env_pinned.store(false, std::memory_order_relaxed);
  if (const char* env = std::getenv("JAMBOX_LOG_LEVEL"); env != nullptr && *env != '\0') {
    Level from_env{};
    if (parse_level(env, from_env)) {
      s.level.store(static_cast<int>(from_env), std::memory_order_relaxed);
      s.env_pinned.store(true, std::memory_order_relaxed);
    } else {
      warning(
          "JAMBOX_LOG_LEVEL: \"{}\" is not a level; allowed: error, warning, notice, info, "
          "debug; keeping {}",
          env, level_name(level()));
    }
  }
}

void set_level(Level level) {
  State& s = state();
  if (s.env_pinned.load(std::memory_order_relaxed)) return;
  s.level.store(static_cast<int>(level), std::memory_order_relaxed);
}

Level level() {
  return static_cast<Level>(state().level.load(std::memory_order_relaxed));
}

bool enabled(Level level) {
  return static_cast<int>(level) <= state().level.load(std::memory_order_relaxed);
}

void write(Level level, std::string_view message) {
  if (!enabled(level)) return;
  State& s = state();
  if (s.native.load(std::memory_order_relaxed)) {
    std::string identifier;
    {
      std::lock_guard lock(s.mutex);
      identifier = s.identifier;
    }
    // One datagram per record: the journal keeps records whole without our lock.
    if (send_to_journal(level, message, identifier)) return;
  }
  std::string line;
  if (s.journal.load(std::memory_order_relaxed)) {
    // A journal stream without the native socket (or a failed send): keep the priority with
    // the "<N>" prefix that systemd's stream reader understands; it adds its own timestamp.
    line.reserve(message.size() + 4);
    line.push_back('<');
    line.push_back(static_cast<char>('0' + static_cast<int>(level)));
    line.push_back('>');
    line.append(message);
    line.push_back('\n');
  } else {
    line = terminal_line(level, message);
  }
  std::lock_guard lock(s.mutex);
  write_all_stderr(line);
}

}  // namespace jambox::log
