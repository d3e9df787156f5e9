#pragma once
// Looking into what the processes of a test logged.

#include <cstddef>
#include <string>
#include <string_view>

namespace jambox::test {

// How often `what` occurs in `text` (overlapping occurrences count).
[[nodiscard]] std::size_t occurrences(std::string_view text, std::string_view what);

// The last `n` characters of `text` ("..." before them when it was longer): enough of a long log
// to see why something failed without burying the failure.
[[nodiscard]] std::string tail(const std::string& text, std::size_t n = 4000);

}  // namespace jambox::test
