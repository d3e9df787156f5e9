// libFuzzer target: the limited JSON reader and the text helpers. Whatever the input, a
// document it returns is within the limits it was given, and clip() always yields valid UTF-8
// no longer than asked.

#include "check.hpp"
#include <jambox/message/limited_json.hpp>
#include <jambox/message/text.hpp>

#include <cstdint>
#include <string_view>

namespace {

using json = nlohmann::json;

std::size_t depth(const json& j) {
  std::size_t deepest = 0;
  if (j.is_structured()) {
    for (const auto& child : j) deepest = std::max(deepest, depth(child));
    return deepest + 1;
  }
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace jambox;
  if (size < 2) return 0;
  message::JsonLimits limits;
  limits.max_depth = 1 + data[0] % 6U;
  limits.max_string = 1 + data[1] * 4U;
  limits.max_array = 1 + data[1] % 70U;
  const std::string_view text(reinterpret_cast<const char*>(data + 2), size - 2);
  message::ParseError error;
  const auto doc = message::parse_object(text, limits, error);
  if (doc) {
    fuzz::require(doc->is_object(), "a non-object was returned");
    fuzz::require(depth(*doc) <= limits.max_depth, "a document deeper than allowed");
    fuzz::require(message::valid_utf8(message::dump(*doc)), "a document is not valid UTF-8");
  } else {
    fuzz::require(!error.detail.empty(), "a refusal without a reason");
    fuzz::require(message::valid_utf8(error.detail), "a refusal's reason is not valid UTF-8");
  }
  const std::string clipped = message::clip(text, data[0]);
  fuzz::require(clipped.size() <= data[0], "clip() returned too much");
  fuzz::require(message::valid_utf8(clipped), "clip() returned invalid UTF-8");
  return 0;
}
