#pragma once
// `jamboxctl user ...`: musicians' accounts on the broker's web listener (lib/accounts). Works on
// the broker's files and reloads it, so it runs on the broker's machine, as root.

#include <jambox/accounts/accounts.hpp>

#include <string>
#include <vector>

namespace jambox::ctl {

struct UserOptions {
  accounts::Paths paths;
  std::string password_file;  // "" = ask on the terminal
  bool as_json = false;
};

// words = {"user", VERB, ...}. Returns the exit status; prints errors itself.
int run_user(const std::vector<std::string>& words, const UserOptions& options);

}  // namespace jambox::ctl
