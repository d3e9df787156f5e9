#include <jambox/test/binaries.hpp>
#include <jambox/test/mosquitto.hpp>
#include <jambox/test/temp_dir.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>

namespace jambox::test {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kStartTimeout{10000};
constexpr milliseconds kPkiTimeout{60000};
constexpr milliseconds kPollInterval{10};
// Another process can take the free port between our probe and mosquitto's bind.
constexpr int kPortAttempts = 5;

// --- shipped files -----------------------------------------------------------------------------

std::filesystem::path shipped_config() {
  return source_dir() / "config" / "mosquitto" / "jambox-mosquitto.conf";
}

std::filesystem::path shipped_acl() {
  return source_dir() / "config" / "mosquitto" / "jambox.acl";
}

std::filesystem::path pki_script() {
  return source_dir() / "packaging" / "make-pki.sh";
}

std::filesystem::path installed_program(std::string_view name, std::string_view package) {
  const auto program = find_installed_program(name);
  if (!program) {
    throw std::runtime_error(std::string(name) + " is not installed (Debian: apt-get install " +
                             std::string(package) + "); the broker tests need it");
  }
  return *program;
}

// --- the loopback port -------------------------------------------------------------------------

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

// A socket closed whatever happens.
struct TcpSocket {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  TcpSocket() {
    if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
  }
  ~TcpSocket() { ::close(fd); }
  TcpSocket(const TcpSocket&) = delete;
  TcpSocket& operator=(const TcpSocket&) = delete;
};

// A TCP port on 127.0.0.1 that was free a moment ago.
std::uint16_t free_tcp_port() {
  TcpSocket probe;
  sockaddr_in address = loopback(0);
  if (::bind(probe.fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    throw std::system_error(errno, std::generic_category(), "bind 127.0.0.1:0");
  }
  socklen_t length = sizeof(address);
  if (::getsockname(probe.fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    throw std::system_error(errno, std::generic_category(), "getsockname");
  }
  return ntohs(address.sin_port);
}

bool accepts_connections(std::uint16_t port) {
  TcpSocket client;
  const sockaddr_in address = loopback(port);
  return ::connect(client.fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
}

// --- the test configuration --------------------------------------------------------------------

struct TestSettings {
  std::uint16_t port = 0;
  std::filesystem::path work_dir;  // the web listener's socket, password file and ACL
  std::filesystem::path pki_dir;
  std::filesystem::path acl_file;
  std::filesystem::path log_file;
  const std::map<std::string, std::string>* settings = nullptr;  // a test's own values
};

// Shipped lines a test broker must replace and how often each appears (the TLS listener and
// the web app's socket listener), so a change to the shipped file that this fixture would
// silently miss fails loudly instead.
struct Expected {
  std::string_view name;
  int count;
};
constexpr Expected kReplaced[] = {{"listener", 2},     {"cafile", 1},   {"certfile", 1},
                                  {"keyfile", 1},      {"acl_file", 2}, {"log_dest", 1},
                                  {"password_file", 1}};

// What the test broker writes instead of a shipped line `name value`: nullopt keeps the line,
// an empty string drops it.
std::optional<std::string> test_line(const std::string& name, const std::string& value,
                                     const TestSettings& settings) {
  if (settings.settings != nullptr) {
    if (const auto it = settings.settings->find(name); it != settings.settings->end()) {
      return name + " " + it->second;
    }
  }
  if (name == "listener" && value == "0") {
    return "listener 0 " + (settings.work_dir / MosquittoBroker::kWebSocketName).string();
  }
  if (name == "listener") return "listener " + std::to_string(settings.port) + " 127.0.0.1";
  if (name == "password_file") {
    return "password_file " + (settings.work_dir / MosquittoBroker::kWebPasswdName).string();
  }
  if (name == "acl_file" && std::filesystem::path(value).filename() == "web.acl") {
    return "acl_file " + (settings.work_dir / MosquittoBroker::kWebAclName).string();
  }
  if (name == "cafile" || name == "certfile" || name == "keyfile") {
    return name + " " + (settings.pki_dir / std::filesystem::path(value).filename()).string();
  }
  if (name == "acl_file") return "acl_file " + settings.acl_file.string();
  if (name == "log_dest") return "log_dest file " + settings.log_file.string();
  if (name == "log_timestamp") return "log_timestamp true";
  if (name == "persistence") return "persistence false";
  if (name == "persistence_location" || name == "persistence_file" || name == "autosave_interval" ||
      name == "pid_file" || name == "user") {
    return "";
  }
  return std::nullopt;
}

// `shipped` with test_line() applied; `replaced` counts the lines replaced (or dropped) by name.
std::string rewrite(const std::string& shipped, const TestSettings& settings,
                    std::map<std::string, int>& replaced) {
  std::ostringstream out;
  std::istringstream lines(shipped);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string name;
    std::string value;
    words >> name >> value;
    const auto replacement =
        name.empty() || name[0] == '#' ? std::nullopt : test_line(name, value, settings);
    if (!replacement) {
      out << line << "\n";
      continue;
    }
    ++replaced[name];
    if (!replacement->empty()) out << *replacement << "\n";
  }
  return out.str();
}

void require_replaced(std::map<std::string, int>& replaced) {
  for (const Expected& expected : kReplaced) {
    const int count = replaced[std::string(expected.name)];
    if (count != expected.count) {
      throw std::runtime_error(shipped_config().string() + " has " + std::to_string(count) + " '" +
                               std::string(expected.name) + "' lines; MosquittoBroker expects " +
                               std::to_string(expected.count));
    }
  }
}

std::string test_overrides() {
  std::string text = "\n# --- test overrides\nlog_timestamp_format %H:%M:%S\n";
  if (::geteuid() == 0) {
    // The test's files belong to root and are private: stay root rather than switching to the
    // user "mosquitto" (the broker warns about that in its log).
    text += "user root\n";
  }
  return text;
}

std::string test_config(const std::string& shipped, const TestSettings& settings) {
  std::map<std::string, int> replaced;
  const std::string text = "# written by jambox::test::MosquittoBroker from " +
                           shipped_config().string() + "\n" + rewrite(shipped, settings, replaced);
  require_replaced(replaced);
  if (settings.settings != nullptr) {
    for (const auto& [name, value] : *settings.settings) {
      if (replaced[name] != 1) {
        throw std::runtime_error(shipped_config().string() + " has " +
                                 std::to_string(replaced[name]) + " '" + name +
                                 "' lines; a test can only change a setting shipped once");
      }
    }
  }
  return text + test_overrides();
}

std::string text_from(const std::filesystem::path& file, std::size_t offset) {
  const std::string text = read_text_file(file);
  return offset < text.size() ? text.substr(offset) : std::string();
}

}  // namespace

MosquittoBroker::MosquittoBroker(const TempDir& dir, const std::vector<std::string>& player_keys)
    : MosquittoBroker(dir, player_keys, {}) {}

MosquittoBroker::MosquittoBroker(const TempDir& dir, const std::vector<std::string>& player_keys,
                                 std::map<std::string, std::string> settings)
    : program_(installed_program("mosquitto", "mosquitto")),
      work_dir_(dir.path()),
      pki_dir_(dir.path() / "pki"),
      config_file_(dir.path() / "mosquitto.conf"),
      log_file_(dir.path() / "mosquitto.log"),
      settings_(std::move(settings)) {
  make_pki(player_keys);
  for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
    port_ = free_tcp_port();
    write_config();
    if (launch()) return;
  }
  throw std::runtime_error("mosquitto found every port it tried taken:\n" + log());
}

MosquittoBroker::~MosquittoBroker() {
  if (process_) stop();
}

std::string MosquittoBroker::uri() const {
  return "ssl://127.0.0.1:" + std::to_string(port_);
}

std::filesystem::path MosquittoBroker::cert(std::string_view name) const {
  return pki_dir_ / (std::string(name) + ".crt");
}

std::filesystem::path MosquittoBroker::key(std::string_view name) const {
  return pki_dir_ / (std::string(name) + ".key");
}

std::filesystem::path MosquittoBroker::ca() const {
  return cert("ca");
}

std::string MosquittoBroker::log() const {
  std::string text = read_text_file(log_file_);
  const std::string errors = process_ ? process_->stderr_text() : std::string();
  if (!errors.empty()) text += "--- mosquitto stderr:\n" + errors;
  return text;
}

std::vector<std::string> MosquittoBroker::client_args(std::string_view identity) const {
  return {"-h",       "127.0.0.1",
          "-p",       std::to_string(port_),
          "-V",       "mqttv5",
          "--cafile", ca().string(),
          "--cert",   cert(identity).string(),
          "--key",    key(identity).string()};
}

bool MosquittoBroker::running() {
  return process_ && process_->running();
}

void MosquittoBroker::kill() {
  if (process_) process_->kill();
}

void MosquittoBroker::start() {
  if (running()) throw std::logic_error("mosquitto is already running");
  if (!launch()) {
    throw std::runtime_error("port " + std::to_string(port_) +
                             " was taken while mosquitto was down:\n" + log());
  }
}

void MosquittoBroker::stop(milliseconds timeout) {
  if (!running()) return;
  process_->signal(SIGTERM);
  if (!process_->wait_for(timeout)) process_->kill();
}

void MosquittoBroker::make_pki(const std::vector<std::string>& player_keys) const {
  ProcessOptions options;
  options.program = installed_program("bash", "bash");
  options.args = {pki_script().string(), pki_dir_.string(), "--test-extras"};
  for (const std::string& player : player_keys) {
    options.args.insert(options.args.end(), {"--player", player});
  }
  options.output_dir = work_dir_;
  options.name = "make-pki";
  Process script(std::move(options));
  const auto status = script.wait_for(kPkiTimeout);
  if (!status || !status->exited() || status->code != 0) {
    throw std::runtime_error("make-pki.sh failed (" +
                             (status ? status->describe() : std::string("timed out")) + "):\n" +
                             script.stderr_text());
  }
}

void MosquittoBroker::write_config() {
  const TestSettings settings{port_, work_dir_, pki_dir_, shipped_acl(), log_file_, &settings_};
  // The web listener's files exist from the start, empty (no musician), as the package ships
  // them; tests add accounts with jamboxctl user.
  for (const char* name : {kWebPasswdName, kWebAclName}) {
    const std::filesystem::path file = work_dir_ / name;
    if (!std::filesystem::exists(file)) std::ofstream(file).flush();
  }
  const std::string shipped = read_text_file(shipped_config());
  if (shipped.empty()) throw std::runtime_error("cannot read " + shipped_config().string());
  std::ofstream out(config_file_, std::ios::binary | std::ios::trunc);
  out << test_config(shipped, settings);
  if (!out.flush()) throw std::runtime_error("cannot write " + config_file_.string());
}

bool MosquittoBroker::launch() {
  // The log file grows across restarts: only what this process writes counts.
  const std::size_t log_offset = read_text_file(log_file_).size();
  ProcessOptions options;
  options.program = program_;
  options.args = {"-c", config_file_.string()};
  // What supervises the test runner must not reach the broker (it would report to systemd).
  options.unset_env = {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS",
                       "LISTEN_PID"};
  options.output_dir = work_dir_;
  options.name = "mosquitto";
  process_ = std::make_unique<Process>(std::move(options));
  return wait_until_accepting(log_offset);
}

bool MosquittoBroker::wait_until_accepting(std::size_t log_offset) {
  // mosquitto logs "running" once its listeners and TLS contexts are set up; the connection
  // proves the port is really its own. (It logs the probe as a TLS "unexpected eof".)
  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string logged = text_from(log_file_, log_offset);
    if (!process_->running()) {
      const std::string why = logged + process_->stderr_text();
      if (why.find("Address already in use") != std::string::npos) return false;
      throw std::runtime_error("mosquitto exited during start-up (" +
                               process_->status()->describe() + "):\n" + log());
    }
    if (logged.find(" running") != std::string::npos && accepts_connections(port_)) return true;
    std::this_thread::sleep_for(kPollInterval);
  }
  process_->kill();
  throw std::runtime_error("mosquitto did not accept connections on port " + std::to_string(port_) +
                           " within " + std::to_string(kStartTimeout.count()) + " ms:\n" + log());
}

}  // namespace jambox::test
