#include <jambox/message/limited_json.hpp>

#include <vector>

namespace jambox::message {

std::string_view refusal_name(Refusal r) noexcept {
  switch (r) {
    case Refusal::too_large:
      return "too_large";
    case Refusal::too_deep:
      return "too_deep";
    case Refusal::too_long:
      return "too_long";
    case Refusal::invalid_json:
      return "invalid_json";
    case Refusal::not_object:
      return "not_object";
    case Refusal::invalid_field:
      return "invalid_field";
    case Refusal::not_owner:
      return "not_owner";
    case Refusal::rate_limited:
      return "rate_limited";
    case Refusal::retained:
      return "retained";
    case Refusal::kCount:
      break;
  }
  return "unknown";
}

namespace {

using json = nlohmann::json;

// The SAX handler nlohmann calls: walks the text and builds nothing. Every callback returns
// false to stop at the first limit crossed; the stack of open containers never grows past
// max_depth entries.
class LimitChecker {
 public:
  explicit LimitChecker(const JsonLimits& limits) : limits_(limits) {
    open_.reserve(limits.max_depth);
  }

  bool null() { return value(); }
  bool boolean(bool /*v*/) { return value(); }
  bool number_integer(json::number_integer_t /*v*/) { return value(); }
  bool number_unsigned(json::number_unsigned_t /*v*/) { return value(); }
  bool number_float(json::number_float_t /*v*/, const json::string_t& /*s*/) { return value(); }
  bool string(json::string_t& s) {
    if (s.size() > limits_.max_string) return fail(Refusal::too_long, "a string is too long");
    return value();
  }
  bool binary(json::binary_t& /*b*/) { return fail(Refusal::invalid_json, "binary value"); }
  bool start_object(std::size_t /*n*/) { return open(false); }
  bool key(json::string_t& k) {
    if (k.size() > limits_.max_string) return fail(Refusal::too_long, "an object key is too long");
    if (++open_.back().length > limits_.max_members) {
      return fail(Refusal::too_long, "an object has too many members");
    }
    return true;
  }
  bool end_object() { return close(); }
  bool start_array(std::size_t /*n*/) { return open(true); }
  bool end_array() { return close(); }
  bool parse_error(std::size_t /*position*/, const std::string& /*token*/,
                   const nlohmann::detail::exception& /*e*/) {
    // The library's message quotes the peer's bytes; we say it in our own words.
    return fail(Refusal::invalid_json, "not valid JSON (or not valid UTF-8)");
  }

  [[nodiscard]] const ParseError& error() const noexcept { return error_; }
  [[nodiscard]] bool failed() const noexcept { return failed_; }

 private:
  struct Open {
    bool array = false;
    std::size_t length = 0;  // elements (array) or members (object) so far
  };

  // One more value: counts against the total, and against its array's length.
  bool value() {
    if (++values_ > limits_.max_values) return fail(Refusal::too_long, "too many values");
    if (!open_.empty() && open_.back().array && ++open_.back().length > limits_.max_array) {
      return fail(Refusal::too_long, "an array has too many elements");
    }
    return true;
  }

  bool open(bool array) {
    if (!value()) return false;  // the container is a value of its parent
    if (open_.size() >= limits_.max_depth) {
      return fail(Refusal::too_deep,
                  "nested deeper than " + std::to_string(limits_.max_depth) + " levels");
    }
    open_.push_back({array, 0});
    return true;
  }

  bool close() {
    if (!open_.empty()) open_.pop_back();
    return true;
  }

  bool fail(Refusal reason, std::string detail) {
    if (!failed_) {
      failed_ = true;
      error_.reason = reason;
      error_.detail = std::move(detail);
    }
    return false;
  }

  const JsonLimits& limits_;
  std::vector<Open> open_;
  std::size_t values_ = 0;
  bool failed_ = false;
  ParseError error_;
};

}  // namespace

std::optional<json> parse_object(std::string_view text, const JsonLimits& limits,
                                 ParseError& error) {
  if (text.size() > limits.max_bytes) {
    error = {Refusal::too_large, "larger than " + std::to_string(limits.max_bytes) + " bytes"};
    return std::nullopt;
  }
  LimitChecker checker(limits);
  const bool ok = json::sax_parse(text.data(), text.data() + text.size(), &checker);
  if (!ok || checker.failed()) {
    error =
        checker.failed() ? checker.error() : ParseError{Refusal::invalid_json, "not valid JSON"};
    return std::nullopt;
  }
  json doc = json::parse(text.data(), text.data() + text.size(), nullptr, false);
  if (doc.is_discarded()) {
    error = {Refusal::invalid_json, "not valid JSON"};
    return std::nullopt;
  }
  if (!doc.is_object()) {
    error = {Refusal::not_object, "not a JSON object"};
    return std::nullopt;
  }
  return doc;
}

}  // namespace jambox::message
