#pragma once
// One small logging facility for every jambox program.
//
// Under systemd (JOURNAL_STREAM names our stderr) records go to the journal natively with a
// priority and SYSLOG_IDENTIFIER; on a terminal they are readable "time level message" lines.
// Never call these from a real-time audio thread: they format, allocate and write.

#include <fmt/format.h>

#include <string_view>
#include <utility>

namespace jambox::log {

// syslog(3) priorities, so journal filtering (journalctl -p) works as admins expect.
enum class Level : int { error = 3, warning = 4, notice = 5, info = 6, debug = 7 };

// Sets the program name used as SYSLOG_IDENTIFIER and detects journal vs terminal output.
// Applies JAMBOX_LOG_LEVEL when set (an invalid value is warned about and ignored). Without
// init() records go to stderr as terminal lines at level info.
void init(std::string_view program);

// While a valid JAMBOX_LOG_LEVEL is in effect it wins over set_level(), so an admin can change
// verbosity for one run (or a unit drop-in) without editing the configuration file.
void set_level(Level level);
[[nodiscard]] Level level();
[[nodiscard]] bool enabled(Level level);

// Parses "error|warning|notice|info|debug"; returns false for anything else.
[[nodiscard]] bool parse_level(std::string_view text, Level& out);
// The name parse_level() accepts for `level` ("info").
[[nodiscard]] std::string_view level_name(Level level);

// True when stderr is connected to the journal: JOURNAL_STREAM ("<dev>:<inode>", set by systemd)
// names the file behind fd 2. Comparing with fstat() rather than trusting the variable alone
// avoids journal output when a service's child has its stderr redirected elsewhere.
[[nodiscard]] bool stderr_is_journal();

// Writes one record. Thread-safe; a record is never interleaved with another.
void write(Level level, std::string_view message);

template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::error, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warning(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::warning, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void notice(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::notice, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::info)) write(Level::info, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::debug)) write(Level::debug, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace jambox::log
