#pragma once
// The broker's own tools: mosquitto_passwd hashes and stores passwords; SIGHUP makes a running
// mosquitto re-read its password file and ACLs.

#include <filesystem>
#include <string>
#include <string_view>

namespace jambox::accounts::detail {

// Sets (or, with an empty password, deletes) `user` in `passwd_file` with mosquitto_passwd. The
// password goes through a pipe, never the command line. Throws AccountError.
void run_passwd_tool(const std::filesystem::path& tool, const std::filesystem::path& passwd_file,
                     std::string_view user, const std::string& password);

// SIGHUP to the mosquitto whose pid is in `pid_file`; "" when sent, else why not.
[[nodiscard]] std::string reload_broker(const std::filesystem::path& pid_file);

}  // namespace jambox::accounts::detail
