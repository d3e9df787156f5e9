#pragma once
// A real mosquitto broker for tests, secured like production: the certificates come from
// packaging/make-pki.sh, the configuration is the shipped config/mosquitto/jambox-mosquitto.conf
// with only what a test must change replaced (listener on 127.0.0.1 and a free port, files in the
// test's directory, no persistence), and the shipped ACL is used as it is. So a test that passes
// here says something about the deployed broker.
//
// The broker can be killed and started again on the same port to test reconnecting clients. It
// is stopped when the object dies.

#include <jambox/test/process.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace jambox::test {

class TempDir;

class MosquittoBroker {
 public:
  // The musicians' web listener (a unix socket, as jambox-web reaches it) and its password file
  // and ACL, in the test's directory.
  static constexpr const char* kWebSocketName = "web.sock";
  static constexpr const char* kWebPasswdName = "web.passwd";
  static constexpr const char* kWebAclName = "web.acl";

  // Makes the PKI in <dir>/pki (a certificate per player key, plus make-pki.sh's test extras:
  // "expired" (CN expired-player), "rogue" (CN rogue-player, signed by "rogue-ca") and "loose"
  // (CN loose-player, key readable by all)), writes <dir>/mosquitto.conf and starts the broker.
  // Throws std::runtime_error when mosquitto is not installed, when the PKI cannot be made, or when
  // the broker does not start (with its log).
  MosquittoBroker(const TempDir& dir, const std::vector<std::string>& player_keys);
  // The same with shipped settings changed: each entry replaces the shipped line of that name
  // (e.g. {"retain_available", "false"}); a name the shipped file does not have throws.
  MosquittoBroker(const TempDir& dir, const std::vector<std::string>& player_keys,
                  std::map<std::string, std::string> settings);
  ~MosquittoBroker();
  MosquittoBroker(const MosquittoBroker&) = delete;
  MosquittoBroker& operator=(const MosquittoBroker&) = delete;

  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  // "ssl://127.0.0.1:PORT", as a client library takes it.
  [[nodiscard]] std::string uri() const;
  [[nodiscard]] const std::filesystem::path& pki_dir() const noexcept { return pki_dir_; }
  // <pki>/<name>.crt and <pki>/<name>.key: name is a player key, "jambox-broadcast",
  // "jamboxctl", "broker", or one of the test extras.
  [[nodiscard]] std::filesystem::path cert(std::string_view name) const;
  [[nodiscard]] std::filesystem::path key(std::string_view name) const;
  [[nodiscard]] std::filesystem::path ca() const;
  [[nodiscard]] const std::filesystem::path& config_file() const noexcept { return config_file_; }
  // The directory of the web listener's socket, password file and ACL (jamboxctl --web-dir).
  [[nodiscard]] const std::filesystem::path& web_dir() const noexcept { return work_dir_; }
  [[nodiscard]] std::filesystem::path web_socket() const { return work_dir_ / kWebSocketName; }
  // Everything the broker logged since the fixture was made (every start), then what the
  // current process wrote to stderr before its log was open, if anything.
  [[nodiscard]] std::string log() const;

  // The options that make mosquitto_pub / mosquitto_sub connect to this broker as `identity`
  // (a name as for cert()) over TLS with MQTT 5.
  [[nodiscard]] std::vector<std::string> client_args(std::string_view identity) const;

  [[nodiscard]] bool running();
  // The broker's process id, -1 when it was never started: SIGSTOP makes it stop answering
  // while its connections stay open.
  [[nodiscard]] pid_t pid() const noexcept { return process_ ? process_->pid() : -1; }
  // SIGKILL and reap: the broker vanishes without a word to its clients.
  void kill();
  // Starts the broker again on the same port (after kill() or stop()); throws
  // std::logic_error when it is running, std::runtime_error when it does not come up.
  void start();
  // SIGTERM and wait (SIGKILL after `timeout`).
  void stop(std::chrono::milliseconds timeout = std::chrono::seconds(5));

 private:
  void make_pki(const std::vector<std::string>& player_keys) const;
  void write_config();
  // Spawns mosquitto and waits until it accepts connections. False when it exited because the
  // port was taken meanwhile; throws on any other failure.
  bool launch();
  bool wait_until_accepting(std::size_t log_offset);

  std::filesystem::path program_;
  std::filesystem::path work_dir_;
  std::filesystem::path pki_dir_;
  std::filesystem::path config_file_;
  std::filesystem::path log_file_;
  std::uint16_t port_ = 0;
  std::map<std::string, std::string> settings_;
  std::unique_ptr<Process> process_;
};

}  // namespace jambox::test
