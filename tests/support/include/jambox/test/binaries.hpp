#pragma once
// Where the programs under test are: under JAMBOX_BUILD_DIR, which CTest sets for every test.

#include <filesystem>
#include <string_view>

namespace jambox::test {

// JAMBOX_BUILD_DIR; throws std::runtime_error when it is unset.
[[nodiscard]] std::filesystem::path build_dir();
// The executable `name` inside the build directory (its usual places first, then a search).
// Throws std::runtime_error naming the directory when it is not there.
[[nodiscard]] std::filesystem::path find_binary(std::string_view name);

}  // namespace jambox::test
