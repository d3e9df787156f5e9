#include "broker_tools.hpp"

#include <jambox/accounts/accounts.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

extern char** environ;

namespace jambox::accounts::detail {
namespace {

std::string read_all(int fd) {
  std::string text;
  char buffer[512];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      if (text.size() < 4096) text.append(buffer, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return text;
  }
}

}  // namespace

void run_passwd_tool(const std::filesystem::path& tool, const std::filesystem::path& passwd_file,
                     std::string_view user, const std::string& password) {
  int input[2];
  int output[2];
  if (::pipe2(input, O_CLOEXEC) != 0) throw AccountError(kExitUnavailable, "pipe failed");
  if (::pipe2(output, O_CLOEXEC) != 0) {
    ::close(input[0]);
    ::close(input[1]);
    throw AccountError(kExitUnavailable, "pipe failed");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, input[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, output[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, output[1], STDERR_FILENO);

  std::vector<std::string> args{tool.string()};
  if (password.empty()) args.emplace_back("-D");
  args.push_back(passwd_file.string());
  args.emplace_back(user);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_t pid = -1;
  // The tool inherits the umask: while it works, mosquitto_passwd keeps a copy of every hash
  // next to the file (<file>.tmp, left there when it fails), which only root may read.
  const mode_t umask_before = ::umask(0077);
  const int spawned = ::posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  ::umask(umask_before);
  posix_spawn_file_actions_destroy(&actions);
  ::close(input[0]);
  ::close(output[1]);
  if (spawned != 0) {
    ::close(input[1]);
    ::close(output[0]);
    throw AccountError(kExitUnavailable, "cannot run " + tool.string() + ": " +
                                             std::strerror(spawned) +
                                             " (Debian: apt-get install mosquitto)");
  }
  if (!password.empty()) {
    // A tool that exits before it reads (an unreadable password file) must not end us with
    // SIGPIPE: the write fails with EPIPE instead, and its exit status says what went wrong.
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    struct sigaction before {};
    ::sigaction(SIGPIPE, &ignore, &before);
    // mosquitto_passwd asks twice (password, then again to confirm).
    const std::string lines = password + "\n" + password + "\n";
    std::size_t written = 0;
    while (written < lines.size()) {
      const ssize_t n = ::write(input[1], lines.data() + written, lines.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      written += static_cast<std::size_t>(n);
    }
    ::sigaction(SIGPIPE, &before, nullptr);
  }
  ::close(input[1]);
  const std::string said = read_all(output[0]);
  ::close(output[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw AccountError(kExitCantWrite,
                       tool.string() + " failed on " + passwd_file.string() + ": " + said);
  }
}

std::string reload_broker(const std::filesystem::path& pid_file) {
  std::ifstream in(pid_file);
  long pid = 0;
  if (!(in >> pid) || pid <= 1) {
    return "no broker pid in " + pid_file.string() +
           " (is mosquitto running with the jambox configuration?); reload it: systemctl reload "
           "mosquitto";
  }
  // Only a mosquitto gets the signal: a stale pid file must not make us signal a stranger.
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(comm, name);
  if (name != "mosquitto") {
    return "process " + std::to_string(pid) + " from " + pid_file.string() +
           " is not mosquitto; reload the broker: systemctl reload mosquitto";
  }
  if (::kill(static_cast<pid_t>(pid), SIGHUP) != 0) {
    return "cannot signal mosquitto (pid " + std::to_string(pid) + "): " + std::strerror(errno);
  }
  return {};
}

}  // namespace jambox::accounts::detail
