#pragma once
// Text that goes out of the daemon (acks, status, journal) is built only through these, so no
// peer's bytes can make a publish throw or grow past its limit.

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace jambox::message {

[[nodiscard]] bool valid_utf8(std::string_view text) noexcept;

// At most `max_bytes` of `text`, cut at a character boundary, invalid sequences replaced by
// U+FFFD (the result is always valid UTF-8 and never longer than max_bytes).
[[nodiscard]] std::string clip(std::string_view text, std::size_t max_bytes);

// Serialises without ever throwing: invalid UTF-8 inside (which our own builders never put
// there) is replaced, not reported with an exception.
[[nodiscard]] std::string dump(const nlohmann::json& doc);

}  // namespace jambox::message
