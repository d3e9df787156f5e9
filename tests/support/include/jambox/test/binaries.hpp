#pragma once
// Where the programs under test are: under JAMBOX_BUILD_DIR, which CTest sets for every test.
// Where the shipped files (configs, scripts) are: under JAMBOX_SOURCE_DIR, set the same way.

#include <filesystem>
#include <optional>
#include <string_view>

namespace jambox::test {

// JAMBOX_BUILD_DIR; throws std::runtime_error when it is unset.
[[nodiscard]] std::filesystem::path build_dir();
// JAMBOX_SOURCE_DIR; throws std::runtime_error when it is unset.
[[nodiscard]] std::filesystem::path source_dir();
// The executable `name` inside the build directory (its usual places first, then a search).
// Throws std::runtime_error naming the directory when it is not there.
[[nodiscard]] std::filesystem::path find_binary(std::string_view name);
// The installed program `name` (e.g. mosquitto): on PATH, else in /usr/sbin or /usr/local/sbin,
// which a non-root PATH often lacks. nullopt when it is not installed.
[[nodiscard]] std::optional<std::filesystem::path> find_installed_program(std::string_view name);
// The same for a program a test cannot do without (mosquitto_pub, stdbuf...): throws
// std::runtime_error naming the package script that installs it when it is missing.
[[nodiscard]] std::filesystem::path installed_program(std::string_view name);

}  // namespace jambox::test
