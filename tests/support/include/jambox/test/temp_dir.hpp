#pragma once
// A private temporary directory that is removed with everything in it when the object dies, so a
// test leaves nothing behind even when it fails. Set JAMBOX_KEEP_TEMP=1 to keep it for a post
// mortem (its path is then printed to stderr).

#include <filesystem>
#include <string_view>

namespace jambox::test {

class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "jambox-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  // Writes (replaces) `name` inside the directory; returns its full path.
  std::filesystem::path write_file(std::string_view name, std::string_view content) const;

 private:
  std::filesystem::path path_;
};

// Whole file as a string; empty when it cannot be read.
[[nodiscard]] std::string read_text_file(const std::filesystem::path& file);

}  // namespace jambox::test
