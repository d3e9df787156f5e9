#pragma once
// Musicians' accounts on a test broker's web listener, kept as an admin keeps them: `jamboxctl
// user` writes the password file and the ACL into the broker's web directory and reloads the
// broker (SIGHUP to the pid in its pid file). mosquitto re-reads the files in its main loop and
// logs "Reloading config." before it serves anything else, so a change counts once that line
// is in the broker's log.
//
// Failures go through Catch2 (REQUIRE), so only Catch2 tests link this.

#include <jambox/test/mosquitto_clients.hpp>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace jambox::test {

// `jamboxctl --web-dir DIR --broker-pid-file FILE user ARGS...`, run in `dir`.
class AccountsCtl {
 public:
  AccountsCtl(const TempDir& dir, std::filesystem::path web_dir,
              std::filesystem::path broker_pid_file, std::chrono::milliseconds wait = kClientWait);

  // Its result whatever it is; REQUIREs only that it ends within the wait.
  [[nodiscard]] Finished user(const std::vector<std::string>& args) const;
  // A file of its own holding `password`, as an admin keeps it (--password-file).
  [[nodiscard]] std::string password_file(const std::string& password) const;

 private:
  const TempDir& dir_;
  std::filesystem::path web_dir_;
  std::filesystem::path pid_file_;
  std::chrono::milliseconds wait_;
};

// The accounts of `broker`: its pid written to <dir>/mosquitto.pid, where ctl() tells jamboxctl
// to look for it.
class MusicianAccounts {
 public:
  MusicianAccounts(const TempDir& dir, const MosquittoBroker& broker,
                   std::chrono::milliseconds wait = kClientWait);

  [[nodiscard]] const AccountsCtl& ctl() const noexcept { return ctl_; }
  [[nodiscard]] std::filesystem::path pid_file() const;

  // `jamboxctl user ARGS...`, which must succeed; returns once the broker has the change.
  void change(const std::vector<std::string>& args) const;
  // `user add USER OPTIONS... --password-file F`, as change().
  void add(const std::string& user, const std::string& password,
           const std::vector<std::string>& options) const;

 private:
  [[nodiscard]] std::size_t reloads() const;

  const TempDir& dir_;
  const MosquittoBroker& broker_;
  std::chrono::milliseconds wait_;
  AccountsCtl ctl_;
};

}  // namespace jambox::test
