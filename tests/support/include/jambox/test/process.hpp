#pragma once
// A child process for tests: spawned with posix_spawn, its stdout and stderr captured in files,
// killed (SIGKILL) and reaped when the object dies so a failing test never leaves a server behind.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace jambox::test {

struct ExitStatus {
  int code = -1;   // exit code when the process exited normally, else -1
  int signal = 0;  // terminating signal, else 0
  [[nodiscard]] bool exited() const noexcept { return signal == 0; }
  [[nodiscard]] std::string describe() const;  // "exit code 3" / "killed by signal 9 (Killed)"
};

struct ProcessOptions {
  std::filesystem::path program;
  std::vector<std::string> args;  // argv[1...]
  // Added to (or replacing in) the parent's environment.
  std::vector<std::pair<std::string, std::string>> env;
  // Removed from the inherited environment (e.g. a NOTIFY_SOCKET of the test runner itself).
  std::vector<std::string> unset_env;
  // stdout and stderr go to <output_dir>/<name>.stdout / .stderr; stdin is /dev/null.
  std::filesystem::path output_dir;
  std::string name;  // defaults to the program's file name
};

class Process {
 public:
  // Throws std::system_error when the program cannot be started.
  explicit Process(ProcessOptions options);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }
  // False once the process has been reaped. Reaps it when it has exited.
  [[nodiscard]] bool running();
  // Sends `sig`; false when the process is already gone.
  bool signal(int sig);
  // Waits up to `timeout` for the process to exit; nullopt on timeout (the process keeps running).
  std::optional<ExitStatus> wait_for(std::chrono::milliseconds timeout);
  // SIGKILL and reap; returns the final status.
  ExitStatus kill();
  [[nodiscard]] std::optional<ExitStatus> status() const noexcept { return status_; }

  [[nodiscard]] const std::filesystem::path& stdout_path() const noexcept { return stdout_path_; }
  [[nodiscard]] const std::filesystem::path& stderr_path() const noexcept { return stderr_path_; }
  [[nodiscard]] std::string stdout_text() const;
  [[nodiscard]] std::string stderr_text() const;

 private:
  bool try_reap();

  pid_t pid_ = -1;
  std::optional<ExitStatus> status_;
  std::filesystem::path stdout_path_;
  std::filesystem::path stderr_path_;
};

// Starts the project's program `program` (found in the build tree) with its output in
// <output_dir>/<name>.stdout/.stderr, without the NOTIFY_SOCKET and JACK_DEFAULT_SERVER of the
// environment the tests themselves run in.
[[nodiscard]] std::unique_ptr<Process> spawn_built(const std::filesystem::path& output_dir,
                                                   std::string_view program,
                                                   std::vector<std::string> args,
                                                   const std::string& name);

// `what` and a number no other call in this process got ("sub-alice-3"): the output files of
// every client a test starts sit side by side in its directory.
[[nodiscard]] std::string unique_output_name(std::string_view what);

}  // namespace jambox::test
