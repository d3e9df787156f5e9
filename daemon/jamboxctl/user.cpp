#include "user.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <fstream>
#include <iostream>

namespace jambox::ctl {
namespace {

using accounts::AccountError;

constexpr const char* kUsage =
    "usage: jamboxctl user add NAME [--box KEY]... [--admin] [--password-file F]\n"
    "       jamboxctl user grant NAME KEY | revoke NAME KEY | remove NAME\n"
    "       jamboxctl user password NAME [--password-file F]\n"
    "       jamboxctl user list [--json]\n";

// One line from the terminal with echo off; "" when there is no terminal.
std::string ask(const char* prompt) {
  const int tty = ::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (tty < 0) return {};
  termios saved{};
  const bool is_tty = ::tcgetattr(tty, &saved) == 0;
  std::string line;
  if (is_tty) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(tty, TCSAFLUSH, &quiet);
  }
  // A prompt that cannot be shown still reads the answer: nothing to do about a failed write.
  if (::write(tty, prompt, std::char_traits<char>::length(prompt)) < 0) line.clear();
  char c = 0;
  while (::read(tty, &c, 1) == 1 && c != '\n' && line.size() < 1024) line.push_back(c);
  if (is_tty) ::tcsetattr(tty, TCSAFLUSH, &saved);
  if (::write(tty, "\n", 1) < 0) line.reserve(line.size());  // the echo's newline; best effort
  ::close(tty);
  return line;
}

std::string password_of(const UserOptions& options) {
  if (!options.password_file.empty()) {
    std::ifstream in(options.password_file);
    std::string line;
    if (!in || !std::getline(in, line)) {
      throw AccountError(accounts::kExitUsage,
                         "cannot read a password from " + options.password_file);
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
  }
  const std::string first = ask("Password: ");
  if (first.empty()) {
    throw AccountError(accounts::kExitUsage,
                       "no password given: type it at the prompt or use --password-file FILE");
  }
  if (ask("Again: ") != first) throw AccountError(accounts::kExitUsage, "the passwords differ");
  return first;
}

void print_list(const std::vector<accounts::Musician>& musicians, bool as_json) {
  if (as_json) {
    nlohmann::json users = nlohmann::json::array();
    for (const auto& m : musicians) {
      users.push_back({{"name", m.name}, {"admin", m.admin}, {"boxes", m.boxes}});
    }
    std::cout << nlohmann::json{{"users", users}}.dump() << "\n";
    return;
  }
  if (musicians.empty()) std::cout << "no musicians\n";
  for (const auto& m : musicians) {
    std::cout << m.name << (m.admin ? "  admin (every box)" : "");
    for (const auto& box : m.boxes) std::cout << "  " << box;
    std::cout << "\n";
  }
}

int run(const std::vector<std::string>& words, const UserOptions& options) {
  if (words.size() < 2) throw AccountError(accounts::kExitUsage, "which user command?");
  const std::string& verb = words[1];
  accounts::Accounts store(options.paths);
  const auto need = [&](std::size_t count) {
    if (words.size() != count) throw AccountError(accounts::kExitUsage, "wrong number of words");
  };
  if (verb == "list") {
    need(2);
    print_list(store.list(), options.as_json);
    return 0;
  }
  if (words.size() < 3) throw AccountError(accounts::kExitUsage, "which user?");
  const std::string& name = words[2];
  if (verb == "add") {
    accounts::Musician m;
    m.name = name;
    for (std::size_t i = 3; i < words.size(); ++i) {
      if (words[i] == "--admin") {
        m.admin = true;
      } else if (words[i] == "--box" && i + 1 < words.size()) {
        m.boxes.insert(words[++i]);
      } else {
        throw AccountError(accounts::kExitUsage, "unexpected '" + words[i] + "'");
      }
    }
    // Checked before the password is asked for: a typo should not cost typing it twice.
    if (!accounts::valid_user_name(name)) {
      throw AccountError(
          accounts::kExitUsage,
          "invalid user name '" + name +
              "': 1..32 characters of a-z 0-9 _ -, starting with a letter, not admin");
    }
    store.add(m, password_of(options));
  } else if (verb == "grant") {
    need(4);
    store.grant(name, words[3]);
  } else if (verb == "revoke") {
    need(4);
    store.revoke(name, words[3]);
  } else if (verb == "remove") {
    need(3);
    store.remove(name);
  } else if (verb == "password") {
    need(3);
    store.set_password(name, password_of(options));
  } else {
    throw AccountError(accounts::kExitUsage, "unknown user command '" + verb + "'");
  }
  if (!store.reload_problem().empty()) {
    std::cerr << "jamboxctl: saved, but the broker did not get it: " << store.reload_problem()
              << "\n";
    return accounts::kExitUnavailable;
  }
  return 0;
}

}  // namespace

int run_user(const std::vector<std::string>& words, const UserOptions& options) {
  try {
    return run(words, options);
  } catch (const AccountError& e) {
    std::cerr << "jamboxctl: " << e.what() << "\n";
    if (e.exit_code() == accounts::kExitUsage) std::cerr << kUsage;
    return e.exit_code();
  }
}

}  // namespace jambox::ctl
