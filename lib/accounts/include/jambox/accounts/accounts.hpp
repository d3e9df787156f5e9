#pragma once
// Musicians' accounts for the web app (docs/web.md). The broker authenticates them on its web
// listener with its own password file (hashed by mosquitto_passwd, never by us) and authorises
// them with an ACL that this library writes from the account list:
//   <dir>/web-users.json  who exists, which boxes each is granted, who is an admin (no secrets)
//   <dir>/web.passwd      mosquitto_passwd's file: user name and PBKDF2-SHA512 hash
//   <dir>/web.acl         generated; never edited by hand
// Every change takes an exclusive lock, rewrites the files atomically and reloads the broker.

#include <filesystem>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace jambox::accounts {

struct Musician {
  std::string name;
  bool admin = false;           // sees and steers every box
  std::set<std::string> boxes;  // player keys granted
};

// Why a change was refused; `exit_code` is what the command-line tool exits with.
class AccountError : public std::runtime_error {
 public:
  AccountError(int exit_code, const std::string& what)
      : std::runtime_error(what), exit_code_(exit_code) {}
  [[nodiscard]] int exit_code() const noexcept { return exit_code_; }

 private:
  int exit_code_;
};

// Exit codes (sysexits.h): the request contradicts the accounts (user exists, unknown user).
inline constexpr int kExitConflict = 1;
inline constexpr int kExitUsage = 64;
inline constexpr int kExitUnavailable = 69;  // mosquitto_passwd missing, broker not reloaded
inline constexpr int kExitCantWrite = 73;
inline constexpr int kExitConfig = 78;  // the account list is unreadable or malformed

// 1..32 characters of a-z 0-9 _ -, starting with a letter, and not "admin" (the name room chat
// gives the admin tool): a user name is one MQTT topic level of the ACL (command/from/NAME), so
// it must be plain.
[[nodiscard]] bool valid_user_name(std::string_view name) noexcept;
// A player key as a topic level (what control::valid_topic_level allows, without wildcards).
[[nodiscard]] bool valid_box_key(std::string_view key) noexcept;
// 8..256 bytes, no control characters; "" when fine, else why not.
[[nodiscard]] std::string password_problem(std::string_view password);

struct Paths {
  std::filesystem::path dir = "/etc/jambox/mosquitto";
  std::string prefix = "jambox";  // topic prefix
  std::filesystem::path passwd_tool = "mosquitto_passwd";
  std::filesystem::path broker_pid_file = "/run/mosquitto/mosquitto.pid";

  [[nodiscard]] std::filesystem::path store() const { return dir / "web-users.json"; }
  [[nodiscard]] std::filesystem::path passwd() const { return dir / "web.passwd"; }
  [[nodiscard]] std::filesystem::path acl() const { return dir / "web.acl"; }
};

// The ACL text for these musicians (sorted, deterministic).
[[nodiscard]] std::string acl_text(const std::vector<Musician>& musicians, std::string_view prefix);

class Accounts {
 public:
  explicit Accounts(Paths paths);

  // All accounts, sorted by name. Throws AccountError(kExitConfig) on a malformed list.
  [[nodiscard]] std::vector<Musician> list() const;

  // Each change: validated, applied under the lock, files rewritten, broker reloaded.
  void add(const Musician& musician, const std::string& password);
  void grant(std::string_view name, std::string_view box);
  void revoke(std::string_view name, std::string_view box);
  void remove(std::string_view name);
  void set_password(std::string_view name, const std::string& password);

  // Whether the last change reached the broker (false: the files are written but the broker
  // was not reloaded; `reload_problem()` says why).
  [[nodiscard]] const std::string& reload_problem() const noexcept { return reload_problem_; }

 private:
  template <typename Change>
  void change(Change&& apply);

  Paths paths_;
  std::string reload_problem_;
};

}  // namespace jambox::accounts
