#include <jambox/test/binaries.hpp>

#include <unistd.h>

#include <array>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace jambox::test {
namespace {

bool is_executable_file(const std::filesystem::path& file) {
  std::error_code error;
  return std::filesystem::is_regular_file(file, error) && ::access(file.c_str(), X_OK) == 0;
}

std::vector<std::filesystem::path> program_directories() {
  std::vector<std::filesystem::path> directories;
  const char* path = std::getenv("PATH");
  std::istringstream entries(path != nullptr ? path : "");
  std::string entry;
  while (std::getline(entries, entry, ':')) {
    if (!entry.empty()) directories.emplace_back(entry);
  }
  directories.emplace_back("/usr/sbin");
  directories.emplace_back("/usr/local/sbin");
  return directories;
}

}  // namespace

std::filesystem::path build_dir() {
  const char* dir = std::getenv("JAMBOX_BUILD_DIR");
  if (dir == nullptr || *dir == '\0') {
    throw std::runtime_error(
        "JAMBOX_BUILD_DIR is not set: run the test through ctest, or export the build directory");
  }
  return dir;
}

std::filesystem::path source_dir() {
  const char* dir = std::getenv("JAMBOX_SOURCE_DIR");
  if (dir == nullptr || *dir == '\0') {
    throw std::runtime_error(
        "JAMBOX_SOURCE_DIR is not set: run the test through ctest, or export the source directory");
  }
  return dir;
}

std::filesystem::path find_binary(std::string_view name) {
  const std::filesystem::path root = build_dir();
  // Where the project's CMakeLists put programs; the search below covers any later move.
  const std::array<std::filesystem::path, 5> usual = {
      root / name, root / "bin" / name, root / "daemon" / "broadcast" / name,
      root / "daemon" / name, root / "tests" / "bench" / "loadgen" / name};
  for (const auto& candidate : usual) {
    if (is_executable_file(candidate)) return candidate;
  }
  std::error_code error;
  for (auto it = std::filesystem::recursive_directory_iterator(
           root, std::filesystem::directory_options::skip_permission_denied, error);
       !error && it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
    if (it->is_directory() && it->path().filename() == "CMakeFiles") {
      it.disable_recursion_pending();
      continue;
    }
    if (it->path().filename() == name && is_executable_file(it->path())) return it->path();
  }
  throw std::runtime_error("cannot find the program '" + std::string(name) + "' under " +
                           root.string() + " (build it first)");
}

std::optional<std::filesystem::path> find_installed_program(std::string_view name) {
  for (const auto& directory : program_directories()) {
    const std::filesystem::path candidate = directory / name;
    if (is_executable_file(candidate)) return candidate;
  }
  return std::nullopt;
}

std::filesystem::path installed_program(std::string_view name) {
  auto program = find_installed_program(name);
  if (!program) {
    throw std::runtime_error(std::string(name) +
                             " is not installed (packaging/install-deps.sh test)");
  }
  return std::move(*program);
}

}  // namespace jambox::test
