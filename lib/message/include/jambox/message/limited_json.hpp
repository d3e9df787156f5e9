#pragma once
// The one JSON reader for peer input. The text is first walked with a SAX pass that builds
// nothing and stops at the first limit it crosses (size, nesting depth, string, array, object
// and value counts) or at invalid JSON, invalid UTF-8 included; only a document within the limits
// is then built. A document nested tens of thousands of levels deep is refused before it exists,
// so nothing that copies, prints or destroys a document later can recurse out of its stack.

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace jambox::message {

struct JsonLimits {
  std::size_t max_bytes = 16 * 1024;
  std::size_t max_depth = 4;      // nested arrays and objects; 1 = a flat object
  std::size_t max_string = 256;   // bytes of one string or object key
  std::size_t max_array = 64;     // elements of one array
  std::size_t max_members = 32;   // members of one object
  std::size_t max_values = 1024;  // every value in the document
};

// Why a message was refused. The names (refusal_name) are what status and acks report.
enum class Refusal : std::uint8_t {
  too_large,      // more bytes than the topic allows
  too_deep,       // nested deeper than the topic allows
  too_long,       // a string, array or object longer than allowed, or too many values
  invalid_json,   // not JSON, or not UTF-8
  not_object,     // JSON, but not an object
  invalid_field,  // a field missing, of the wrong type or out of range
  not_owner,      // speaks for another member than its topic names
  rate_limited,   // a member sending faster than the topic allows
  retained,       // retained on a topic where nothing is ever retained (planted, or stale)
  kCount
};
inline constexpr std::size_t kRefusalKinds = static_cast<std::size_t>(Refusal::kCount);
[[nodiscard]] std::string_view refusal_name(Refusal r) noexcept;

struct ParseError {
  Refusal reason = Refusal::invalid_json;
  std::string detail;  // one sentence, our own words (never the peer's bytes)
};

// What a box publishes (status, meters, acks with a status as result): read by the admin tool.
[[nodiscard]] const JsonLimits& box_document_limits() noexcept;

// The document when `text` is a JSON object within `limits`; otherwise nullopt and `error`.
[[nodiscard]] std::optional<nlohmann::json> parse_object(std::string_view text,
                                                         const JsonLimits& limits,
                                                         ParseError& error);

}  // namespace jambox::message
