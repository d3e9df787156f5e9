#pragma once
// Configuration files for jambox programs.
//
// Format: TOML, read with toml++ (Debian libtomlplusplus-dev). Chosen over INI through
// Boost.PropertyTree because toml++ keeps the source line of every key and value, so every error
// can name file, line and key, and because TOML has real types (integers, booleans, arrays of
// tables for [[room]] lists) that INI would leave to ad-hoc string parsing.
//
// Reading is declarative: a Section hands out typed values with defaults and limits, and throws
// ConfigError (file, line, key, bad value, what is allowed). Keys that were never asked for are
// reported by Document::unknown_keys() with the nearest known key, so typos are visible.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace jambox::config {

// The process exit code for configuration errors (sysexits.h EX_CONFIG).
inline constexpr int kExitConfig = 78;

class ConfigError : public std::runtime_error {
 public:
  // what() is the complete message: "<file>:<line>: <key>: <problem>".
  ConfigError(std::string file, std::int64_t line, std::string key, const std::string& problem);

  [[nodiscard]] const std::string& file() const { return file_; }
  [[nodiscard]] std::int64_t line() const { return line_; }  // 0 when unknown (missing key)
  [[nodiscard]] const std::string& key() const { return key_; }

 private:
  std::string file_;
  std::int64_t line_;
  std::string key_;
};

struct UnknownKey {
  std::string file;
  std::int64_t line;
  std::string key;         // full dotted key, e.g. "server.prot"
  std::string suggestion;  // nearest known key ("server.port"), empty when none is close
  [[nodiscard]] std::string message()
      const;  // "<file>:<line>: unknown key 'x' (did you mean 'y'?)"
};

class Document;

// A view of one TOML table. Cheap to copy; valid while its Document lives.
class Section {
 public:
  [[nodiscard]] std::string path() const;  // "server", "room[2]", "" for the root
  [[nodiscard]] bool has(std::string_view key) const;
  [[nodiscard]] std::int64_t line_of(std::string_view key) const;  // line of key, or of the table

  [[nodiscard]] std::string get_string(std::string_view key, std::string_view fallback) const;
  [[nodiscard]] std::string require_string(std::string_view key) const;
  [[nodiscard]] std::int64_t get_int(std::string_view key, std::int64_t fallback, std::int64_t min,
                                     std::int64_t max) const;
  [[nodiscard]] double get_double(std::string_view key, double fallback, double min,
                                  double max) const;
  [[nodiscard]] bool get_bool(std::string_view key, bool fallback) const;
  // A string that must be one of `allowed`; the error lists them.
  [[nodiscard]] std::string get_choice(std::string_view key, std::string_view fallback,
                                       const std::vector<std::string_view>& allowed) const;
  [[nodiscard]] std::vector<std::string> get_string_list(std::string_view key) const;

  // Sub-table (missing -> an empty section that still reports its path).
  [[nodiscard]] Section table(std::string_view key) const;
  // Array of tables, e.g. [[room]].
  [[nodiscard]] std::vector<Section> tables(std::string_view key) const;

  // Throws ConfigError pointing at `key` of this section (for checks across several keys).
  [[noreturn]] void fail(std::string_view key, const std::string& problem) const;

 private:
  friend class Document;
  Section(const Document* doc, const void* table, std::string path);
  const Document* doc_;
  const void* table_;  // toml::table*, kept opaque so toml++ stays out of this header
  std::string path_;
};

class Document {
 public:
  // Reads and parses a file. Throws ConfigError on unreadable files and syntax errors
  // (with the parser's line and column).
  static Document load(const std::filesystem::path& file);
  // Parses text; `source_name` stands in for the file name in messages.
  static Document parse(std::string_view text, std::string source_name);

  Document(Document&&) noexcept;
  Document& operator=(Document&&) noexcept;
  ~Document();

  // Applies a command-line override "section.key=value" (value read as a TOML value, or as a
  // string when it is not one). Throws ConfigError naming the override.
  void set_override(std::string_view assignment);

  [[nodiscard]] Section root() const;
  [[nodiscard]] Section section(std::string_view name) const { return root().table(name); }
  [[nodiscard]] const std::string& source_name() const;

  // Keys present in the file that no Section getter asked for, with the nearest asked-for key.
  // Call after the whole configuration was read.
  [[nodiscard]] std::vector<UnknownKey> unknown_keys() const;

 private:
  struct Impl;
  explicit Document(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  friend class Section;
};

// Levenshtein distance; used for "did you mean" suggestions.
[[nodiscard]] std::size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace jambox::config
