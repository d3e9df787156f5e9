#include "jambox/config/config.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <limits>
#include <set>
#include <sstream>
#include <system_error>
#include <utility>

namespace jambox::config {
namespace {

std::string format_error(const std::string& file, std::int64_t line, const std::string& key,
                         const std::string& problem) {
  std::string text = file;
  // Line 0 means "no line" (command-line overrides, unreadable files): leave it out.
  if (line > 0) text += fmt::format(":{}", line);
  text += ": ";
  if (!key.empty()) text += key + ": ";
  text += problem;
  return text;
}

bool is_bare_key(std::string_view key) {
  return !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
  });
}

// A string as TOML would write it, shortened so one absurd value cannot flood the log.
std::string quote_value(std::string_view text) {
  constexpr std::size_t kMaxShown = 80;
  bool cut = false;
  if (text.size() > kMaxShown) {
    std::size_t end = kMaxShown;
    // Do not split a UTF-8 sequence: back up to the start of a character.
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0U) == 0x80U) --end;
    text = text.substr(0, end);
    cut = true;
  }
  std::string out = "\"";
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20U || u == 0x7FU) {
      out += fmt::format("\\u{:04X}", static_cast<unsigned>(u));
    } else {
      out.push_back(c);
    }
  }
  out += cut ? "\"..." : "\"";
  return out;
}

// Dotted path component: bare keys as they are, anything else quoted (server."odd key").
std::string key_part(std::string_view key) {
  return is_bare_key(key) ? std::string(key) : quote_value(key);
}

std::string join(const std::string& path, std::string_view key) {
  return path.empty() ? key_part(key) : path + "." + key_part(key);
}

std::string indexed(const std::string& path, std::size_t index) {
  return fmt::format("{}[{}]", path, index);
}

// Doubles print like TOML floats ("1.0", not "1") so they read as what the user can write.
std::string format_double(double value) {
  std::string text = fmt::format("{}", value);
  if (text.find_first_not_of("-0123456789") == std::string::npos) text += ".0";
  return text;
}

bool is_array_of_tables(const toml::node& node) {
  const auto* array = node.as_array();
  return array != nullptr && !array->empty() && array->is_array_of_tables();
}

// "string \"abc\"", "integer 7", "a table": the bad value as the user wrote it.
std::string describe(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "string " + quote_value(node.as_string()->get());
    case toml::node_type::integer:
      return fmt::format("integer {}", node.as_integer()->get());
    case toml::node_type::floating_point:
      return "float " + format_double(node.as_floating_point()->get());
    case toml::node_type::boolean:
      return node.as_boolean()->get() ? "boolean true" : "boolean false";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time: {
      std::ostringstream out;
      if (const auto* d = node.as_date()) out << "date " << *d;
      if (const auto* t = node.as_time()) out << "time " << *t;
      if (const auto* dt = node.as_date_time()) out << "date-time " << *dt;
      return out.str();
    }
    case toml::node_type::array:
      return is_array_of_tables(node) ? "an array of tables" : "an array";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string list(const std::vector<std::string_view>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Errors

ConfigError::ConfigError(std::string file, std::int64_t line, std::string key,
                         const std::string& problem)
    : std::runtime_error(format_error(file, line, key, problem)),
      file_(std::move(file)),
      line_(line),
      key_(std::move(key)) {}

std::string UnknownKey::message() const {
  std::string text = file;
  if (line > 0) text += fmt::format(":{}", line);
  text += ": unknown key '" + key + "'";
  if (!suggestion.empty()) text += " (did you mean '" + suggestion + "'?)";
  return text;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      const std::size_t substitute = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      row[j] = std::min({above + 1, row[j - 1] + 1, substitute});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// ---------------------------------------------------------------------------------------------
// Document internals: every lookup goes through here so asked-for keys are recorded and every
// error gets the same file/line attribution.

struct Document::Impl {
  std::string source;
  toml::table root;

  // Paths set (or tables created) by --set; errors under them name the override, not the file.
  struct Override {
    std::string path;
    std::string label;
  };
  std::vector<Override> overrides;

  // (table path, key) pairs some getter asked for; unknown_keys() reports the rest.
  std::set<std::pair<std::string, std::string>> asked;

  [[nodiscard]] const Override* override_for(const std::string& path) const {
    for (auto it = overrides.rbegin(); it != overrides.rend(); ++it) {
      const std::string& o = it->path;
      if (path == o) return &*it;
      if (path.size() > o.size() && path.compare(0, o.size(), o) == 0 &&
          (path[o.size()] == '.' || path[o.size()] == '[')) {
        return &*it;
      }
    }
    return nullptr;
  }

  const toml::node* lookup(const toml::table* table, const std::string& path,
                           std::string_view key) {
    asked.emplace(path, std::string(key));
    return table != nullptr ? table->get(key) : nullptr;
  }

  [[nodiscard]] std::int64_t table_line(const toml::table* table, const std::string& path) const {
    // The root has no header line; a missing table has none either.
    if (table == nullptr || path.empty()) return 0;
    return static_cast<std::int64_t>(table->source().begin.line);
  }

  [[noreturn]] void fail_node(const std::string& full_key, const toml::node& node,
                              const std::string& problem) const {
    if (const auto* o = override_for(full_key)) throw ConfigError(o->label, 0, full_key, problem);
    throw ConfigError(source, static_cast<std::int64_t>(node.source().begin.line), full_key,
                      problem);
  }

  [[noreturn]] void fail_missing(const toml::table* table, const std::string& path,
                                 const std::string& full_key) const {
    if (table == nullptr) {
      throw ConfigError(source, 0, full_key,
                        "required key is missing (there is no [" + path + "] table)");
    }
    if (const auto* o = override_for(path)) {
      throw ConfigError(o->label, 0, full_key, "required key is missing");
    }
    throw ConfigError(source, table_line(table, path), full_key, "required key is missing");
  }

  [[nodiscard]] std::int64_t key_line(const toml::table* table, const std::string& path,
                                      std::string_view key) const {
    if (table == nullptr) return 0;
    const auto it = table->find(key);
    if (it == table->end()) return table_line(table, path);
    if (override_for(join(path, key)) != nullptr) return 0;
    return static_cast<std::int64_t>(it->first.source().begin.line);
  }

  [[nodiscard]] std::string suggest(const std::string& path, const std::string& key) const {
    const std::string wanted = lower(key);
    std::size_t best = std::numeric_limits<std::size_t>::max();
    std::string best_key;
    for (auto it = asked.lower_bound({path, std::string{}}); it != asked.end() && it->first == path;
         ++it) {
      const std::size_t d = edit_distance(wanted, lower(it->second));
      const std::size_t longest = std::max(key.size(), it->second.size());
      // Close enough to be a typo, and not a replacement of most of the word.
      if (d <= 2 && d * 2 <= longest && d < best) {
        best = d;
        best_key = it->second;
      }
    }
    return best_key.empty() ? std::string{} : join(path, best_key);
  }

  void collect_unknown(const toml::table& table, const std::string& path,
                       std::vector<UnknownKey>& out) const {
    for (auto&& [key, node] : table) {
      const std::string name(key.str());
      const std::string full = join(path, name);
      if (asked.count({path, name}) == 0) {
        UnknownKey unknown;
        if (const auto* o = override_for(full)) {
          unknown.file = o->label;
          unknown.line = 0;
        } else {
          unknown.file = source;
          unknown.line = static_cast<std::int64_t>(key.source().begin.line);
        }
        unknown.key = full;
        unknown.suggestion = suggest(path, name);
        out.push_back(std::move(unknown));
        continue;  // a whole unknown table is one finding, not one per key inside it
      }
      if (const auto* sub = node.as_table()) {
        collect_unknown(*sub, full, out);
      } else if (const auto* array = node.as_array()) {
        for (std::size_t i = 0; i < array->size(); ++i) {
          if (const auto* element = (*array)[i].as_table()) {
            collect_unknown(*element, indexed(full, i), out);
          }
        }
      }
    }
  }
};

// ---------------------------------------------------------------------------------------------
// Section

namespace {
const toml::table* as_table(const void* table) {
  return static_cast<const toml::table*>(table);
}
}  // namespace

Section::Section(const Document* doc, const void* table, std::string path)
    : doc_(doc), table_(table), path_(std::move(path)) {}

std::string Section::path() const {
  return path_;
}

bool Section::has(std::string_view key) const {
  return table_ != nullptr && as_table(table_)->contains(key);
}

std::int64_t Section::line_of(std::string_view key) const {
  return doc_->impl_->key_line(as_table(table_), path_, key);
}

std::string Section::get_string(std::string_view key, std::string_view fallback) const {
  auto& impl = *doc_->impl_;
  const toml::node* node = impl.lookup(as_table(table_), path_, key);
  if (node == nullptr) return std::string(fallback);
  if (const auto* value = node->as_string()) return value->get();
  impl.fail_node(join(path_, key), *node, "expected a string, got " + describe(*node));
}

std::string Section::require_string(std::string_view key) const {
  auto& impl = *doc_->impl_;
  const toml::node* node = impl.lookup(as_table(table_), path_, key);
  if (node == nullptr) impl.fail_missing(as_table(table_), path_, join(path_, key));
  if (const auto* value = node->as_string()) return value->get();
  impl.fail_node(join(path_, key), *node, "expected a string, got " + describe(*node));
}

std::int64_t Section::get_int(std::string_view key, std::int64_t fallback, std::int64_t min,
                              std::int64_t max) const {
  auto& impl = *doc_->impl_;
  const toml::node* node = impl.lookup(as_table(table_), path_, key);
  if (node == nullptr) return fallback;
  const auto* value = node->as_integer();
  if (value == nullptr) {
    impl.fail_node(join(path_, key), *node, "expected an integer, got " + describe(*node));
  }
  const std::int64_t v = value->get();
  if (v < min || v > max) {
    impl.fail_node(
        join(path_, key), *node,
        fmt::format("{} is out of range; allowed {}..{} (default {})", v, min, max, fallback));
  }
  return v;
}

double Section::get_double(std::string_view key, double fallback, double min, double max) const {
  auto& impl = *doc_->impl_;
  const toml::node* node = impl.lookup(as_table(table_), path_, key);
  if (node == nullptr) return fallback;
  double v = 0.0;
  std::string shown;
  if (const auto* i = node->as_integer()) {
    v = static_cast<double>(i->get());
    shown = std::to_string(i->get());
  } else if (const auto* f = node->as_floating_point()) {
    v = f->get();
    shown = format_double(v);
  } else {
    impl.fail_node(join(path_, key), *node, "expected a number, got " + describe(*node));
  }
  // Written so that NaN fails too.
  if (!(v >= min && v <= max)) {
    impl.fail_node(join(path_, key), *node,
                   fmt::format("{} is out of range; allowed {}..{} (default {})", shown,
                               format_double(min), format_double(max), format_double(fallback)));
  }
  return v;
}

bool Section::get_bool(std::string_view key, bool fallback) const {
  auto& impl = *doc_->impl_;
  const toml::node* node = impl.lookup(as_table(table_), path_, key);
  if (node == nullptr) return fallback;
  if (const auto* value = node->as_boolean()) return value->get();
  impl.fail_node(join(path_, key), *node,
                 "expected a boolean (true or false), got " + describe(*node));
}

std::string Section::get_choice(std::string_view key, std::string_view fallback,
                                const std::vector<std::string_view>& allowed) const {
  auto& impl = *doc_->impl_;
  const toml::node* node = impl.lookup(as_table(table_), path_, key);
  if (node == nullptr) return std::string(fallback);
  const auto* value = node->as_string();
  if (value == nullptr) {
    impl.fail_node(join(path_, key), *node,
                   "expected a string, got " + describe(*node) + "; allowed: " + list(allowed));
  }
  const std::string& v = value->get();
  if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
    impl.fail_node(join(path_, key), *node,
                   fmt::format("{} is not allowed; allowed: {} (default {})", quote_value(v),
                               list(allowed), fallback));
  }
  return v;
}

std::vector<std::string> Section::get_string_list(std::string_view key) const {
  auto& impl = *doc_->impl_;
  const toml::node* node = impl.lookup(as_table(table_), path_, key);
  if (node == nullptr) return {};
  const std::string full = join(path_, key);
  const auto* array = node->as_array();
  if (array == nullptr) {
    impl.fail_node(full, *node, "expected an array of strings, got " + describe(*node));
  }
  std::vector<std::string> out;
  out.reserve(array->size());
  for (std::size_t i = 0; i < array->size(); ++i) {
    const toml::node& element = (*array)[i];
    const auto* value = element.as_string();
    if (value == nullptr) {
      impl.fail_node(indexed(full, i), element, "expected a string, got " + describe(element));
    }
    out.push_back(value->get());
  }
  return out;
}

Section Section::table(std::string_view key) const {
  auto& impl = *doc_->impl_;
  const toml::node* node = impl.lookup(as_table(table_), path_, key);
  std::string full = join(path_, key);
  if (node == nullptr) return Section(doc_, nullptr, std::move(full));
  if (is_array_of_tables(*node)) {
    impl.fail_node(full, *node,
                   "expected a table [" + full + "], got an array of tables [[" + full + "]]");
  }
  const auto* sub = node->as_table();
  if (sub == nullptr) impl.fail_node(full, *node, "expected a table, got " + describe(*node));
  return Section(doc_, sub, std::move(full));
}

std::vector<Section> Section::tables(std::string_view key) const {
  auto& impl = *doc_->impl_;
  const toml::node* node = impl.lookup(as_table(table_), path_, key);
  if (node == nullptr) return {};
  const std::string full = join(path_, key);
  if (node->is_table()) {
    impl.fail_node(full, *node,
                   "expected an array of tables [[" + full + "]], got a table [" + full + "]");
  }
  const auto* array = node->as_array();
  if (array == nullptr) {
    impl.fail_node(full, *node, "expected an array of tables, got " + describe(*node));
  }
  std::vector<Section> out;
  out.reserve(array->size());
  for (std::size_t i = 0; i < array->size(); ++i) {
    const toml::node& element = (*array)[i];
    const auto* sub = element.as_table();
    if (sub == nullptr) {
      impl.fail_node(indexed(full, i), element, "expected a table, got " + describe(element));
    }
    out.push_back(Section(doc_, sub, indexed(full, i)));
  }
  return out;
}

void Section::fail(std::string_view key, const std::string& problem) const {
  const auto& impl = *doc_->impl_;
  const std::string full = join(path_, key);
  if (const auto* o = impl.override_for(full)) throw ConfigError(o->label, 0, full, problem);
  throw ConfigError(impl.source, line_of(key), full, problem);
}

// ---------------------------------------------------------------------------------------------
// Document

Document::Document(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Document::Document(Document&&) noexcept = default;
Document& Document::operator=(Document&&) noexcept = default;
Document::~Document() = default;

Document Document::load(const std::filesystem::path& file) {
  const std::string name = file.string();
  const int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw ConfigError(name, 0, "", "cannot read: " + std::generic_category().message(errno));
  }
  std::string text;
  char buffer[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::close(fd);
      throw ConfigError(name, 0, "", "cannot read: " + std::generic_category().message(error));
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return parse(text, name);
}

Document Document::parse(std::string_view text, std::string source_name) {
  auto impl = std::make_unique<Impl>();
  try {
    impl->root = toml::parse(text, std::string_view{source_name});
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    throw ConfigError(std::move(source_name), static_cast<std::int64_t>(where.line), "",
                      fmt::format("syntax error at column {}: {}", where.column, e.description()));
  }
  impl->source = std::move(source_name);
  return Document(std::move(impl));
}

void Document::set_override(std::string_view assignment) {
  const auto equals = assignment.find('=');
  const std::string_view key_text = trim(assignment.substr(0, equals));
  const std::string raw_label = "command line (--set " + std::string(key_text) + ")";
  if (equals == std::string_view::npos) {
    throw ConfigError(raw_label, 0, std::string(key_text), "expected section.key=value");
  }
  if (key_text.empty()) {
    throw ConfigError("command line (--set " + std::string(assignment) + ")", 0, "",
                      "no key before '='; expected section.key=value");
  }

  // Let toml++ split the key so quoting and dotted keys follow TOML exactly: "<key> = 0" must
  // parse into a chain of single-key tables ending in that 0.
  std::vector<std::string> parts;
  const auto invalid_key = [&] {
    return ConfigError(raw_label, 0, std::string(key_text),
                       "not a valid key; expected section.key=value");
  };
  if (key_text.find_first_of("\r\n") != std::string_view::npos) throw invalid_key();
  try {
    const toml::table probe = toml::parse(std::string(key_text) + " = 0", std::string_view{});
    const toml::table* level = &probe;
    for (;;) {
      if (level->size() != 1) throw invalid_key();
      // Keep the iterator alive: toml++ iterators hand out references into themselves.
      const auto first = level->begin();
      const auto& [k, v] = *first;
      parts.emplace_back(k.str());
      if (const auto* next = v.as_table(); next != nullptr && !next->is_inline()) {
        level = next;
        continue;
      }
      if (!v.is_integer()) throw invalid_key();
      break;
    }
  } catch (const toml::parse_error&) {
    throw invalid_key();
  }

  std::string full;
  for (const auto& part : parts) full = join(full, part);
  const std::string label = "command line (--set " + full + ")";

  // The value is TOML when it parses as one ("7931", "true", "\"x\"", "[1, 2]"), else plain text.
  const std::string_view value_text = trim(assignment.substr(equals + 1));
  std::unique_ptr<toml::table> parsed;
  const toml::node* value = nullptr;
  if (value_text.find_first_of("\r\n") == std::string_view::npos) {
    try {
      parsed = std::make_unique<toml::table>(
          toml::parse("v = " + std::string(value_text), std::string_view{}));
      if (parsed->size() == 1) value = parsed->get("v");
    } catch (const toml::parse_error&) {
      value = nullptr;
    }
  }

  toml::table* table = &impl_->root;
  std::string path;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    path = join(path, parts[i]);
    toml::node* node = table->get(parts[i]);
    if (node == nullptr) {
      auto [it, inserted] = table->insert(parts[i], toml::table{});
      table = it->second.as_table();
      impl_->overrides.push_back({path, label});
      continue;
    }
    if (auto* sub = node->as_table()) {
      table = sub;
      continue;
    }
    std::string where;
    if (const auto* o = impl_->override_for(path)) {
      where = o->label;
    } else {
      where = fmt::format("{}:{}", impl_->source, node->source().begin.line);
    }
    throw ConfigError(
        label, 0, full,
        fmt::format("cannot set: {} is {} ({}), not a table", path, describe(*node), where));
  }
  if (value != nullptr) {
    table->insert_or_assign(parts.back(), *value);
  } else {
    table->insert_or_assign(parts.back(), std::string(value_text));
  }
  impl_->overrides.push_back({full, label});
}

Section Document::root() const {
  return Section(this, &impl_->root, "");
}

const std::string& Document::source_name() const {
  return impl_->source;
}

std::vector<UnknownKey> Document::unknown_keys() const {
  std::vector<UnknownKey> out;
  impl_->collect_unknown(impl_->root, "", out);
  // File order first (by line), then keys that only exist through overrides.
  std::stable_sort(out.begin(), out.end(), [](const UnknownKey& a, const UnknownKey& b) {
    const bool a_override = a.line == 0;
    const bool b_override = b.line == 0;
    if (a_override != b_override) return !a_override;
    return a.line < b.line;
  });
  return out;
}

}  // namespace jambox::config
