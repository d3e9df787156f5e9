#include <jambox/test/binaries.hpp>
#include <jambox/test/process.hpp>
#include <jambox/test/temp_dir.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <system_error>
#include <thread>

extern char** environ;

namespace jambox::test {
namespace {

// posix_spawn file actions and attributes, released whatever happens.
struct SpawnSetup {
  posix_spawn_file_actions_t actions{};
  posix_spawnattr_t attributes{};
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attributes);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
};

std::string env_name(const std::string& entry) {
  return entry.substr(0, entry.find('='));
}

std::vector<std::string> child_environment(const ProcessOptions& options) {
  std::vector<std::string> result;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string text = *entry;
    const std::string name = env_name(text);
    const bool replaced = std::any_of(options.env.begin(), options.env.end(),
                                      [&](const auto& kv) { return kv.first == name; });
    const bool removed = std::find(options.unset_env.begin(), options.unset_env.end(), name) !=
                         options.unset_env.end();
    if (!replaced && !removed) result.push_back(text);
  }
  for (const auto& [name, value] : options.env) result.push_back(name + "=" + value);
  return result;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> result;
  result.reserve(strings.size() + 1);
  for (auto& s : strings) result.push_back(s.data());
  result.push_back(nullptr);
  return result;
}

bool is_project_program(const std::filesystem::path& program) {
  const char* build = std::getenv("JAMBOX_BUILD_DIR");
  if (build == nullptr || *build == '\0') return false;
  const std::string prefix = std::filesystem::path(build).lexically_normal().string() + "/";
  return program.lexically_normal().string().starts_with(prefix);
}

}  // namespace

std::string ExitStatus::describe() const {
  if (exited()) return "exit code " + std::to_string(code);
  return "killed by signal " + std::to_string(signal) + " (" + ::strsignal(signal) + ")";
}

Process::Process(ProcessOptions options) {
  const std::string name =
      options.name.empty() ? options.program.filename().string() : options.name;
  const std::filesystem::path dir =
      options.output_dir.empty() ? std::filesystem::temp_directory_path() : options.output_dir;
  stdout_path_ = dir / (name + ".stdout");
  stderr_path_ = dir / (name + ".stderr");

  SpawnSetup setup;
  posix_spawn_file_actions_addopen(&setup.actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&setup.actions, STDOUT_FILENO, stdout_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&setup.actions, STDERR_FILENO, stderr_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  // The child starts with default signal dispositions and an empty mask whatever the test
  // runner set up (Catch2 installs handlers; a blocked SIGTERM would make stop tests hang).
  sigset_t all;
  sigset_t none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&setup.attributes, &all);
  posix_spawnattr_setsigmask(&setup.attributes, &none);
  posix_spawnattr_setflags(&setup.attributes,
                           static_cast<short>(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK));

  // In a cross build the project's programs are started through the emulator ctest uses
  // (qemu-aarch64-static); system programs are the build machine's own.
  std::filesystem::path program = options.program;
  std::vector<std::string> argv_strings;
  const char* emulator = std::getenv("JAMBOX_TEST_EMULATOR");
  if (emulator != nullptr && *emulator != '\0' && is_project_program(program)) {
    argv_strings.emplace_back(emulator);
    program = emulator;
  }
  argv_strings.push_back(options.program.string());
  argv_strings.insert(argv_strings.end(), options.args.begin(), options.args.end());
  std::vector<std::string> env_strings = child_environment(options);
  std::vector<char*> argv = pointers(argv_strings);
  std::vector<char*> envp = pointers(env_strings);

  const int rc = ::posix_spawn(&pid_, program.c_str(), &setup.actions, &setup.attributes,
                               argv.data(), envp.data());
  if (rc != 0) {
    pid_ = -1;
    throw std::system_error(rc, std::generic_category(),
                            "cannot start " + options.program.string());
  }
}

Process::~Process() {
  if (pid_ > 0 && !status_) kill();
}

bool Process::try_reap() {
  if (status_) return true;
  int raw = 0;
  pid_t rc = 0;
  do {
    rc = ::waitpid(pid_, &raw, WNOHANG);
  } while (rc < 0 && errno == EINTR);
  if (rc == 0) return false;
  ExitStatus status;
  if (rc < 0) {
    status.code = -1;  // not our child any more: nothing to report
  } else if (WIFEXITED(raw)) {
    status.code = WEXITSTATUS(raw);
  } else if (WIFSIGNALED(raw)) {
    status.signal = WTERMSIG(raw);
  }
  status_ = status;
  return true;
}

bool Process::running() {
  return pid_ > 0 && !try_reap();
}

bool Process::signal(int sig) {
  if (!running()) return false;
  return ::kill(pid_, sig) == 0;
}

std::optional<ExitStatus> Process::wait_for(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!try_reap()) {
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return status_;
}

ExitStatus Process::kill() {
  if (!status_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int raw = 0;
    pid_t rc = 0;
    do {
      rc = ::waitpid(pid_, &raw, 0);
    } while (rc < 0 && errno == EINTR);
    ExitStatus status;
    if (rc > 0 && WIFEXITED(raw)) status.code = WEXITSTATUS(raw);
    if (rc > 0 && WIFSIGNALED(raw)) status.signal = WTERMSIG(raw);
    status_ = status;
  }
  return status_.value_or(ExitStatus{});
}

std::string Process::stdout_text() const {
  return read_text_file(stdout_path_);
}
std::string Process::stderr_text() const {
  return read_text_file(stderr_path_);
}

std::unique_ptr<Process> spawn_built(const std::filesystem::path& output_dir,
                                     std::string_view program, std::vector<std::string> args,
                                     const std::string& name) {
  ProcessOptions options;
  options.program = find_binary(program);
  options.args = std::move(args);
  options.output_dir = output_dir;
  options.name = name;
  options.unset_env = {"NOTIFY_SOCKET", "JACK_DEFAULT_SERVER"};
  return std::make_unique<Process>(options);
}

std::string unique_output_name(std::string_view what) {
  static std::atomic<int> next{0};
  return std::string(what) + "-" + std::to_string(++next);
}

}  // namespace jambox::test
