#pragma once
// Counts of refused peer messages, per kind of message and reason, for status and the journal.
// Both dimensions are our own enums, so what we report has a fixed, small size whatever peers
// send; the journal hears about refusals at most once per kind every kLogEvery.

#include <jambox/message/limited_json.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <string_view>

namespace jambox::message {

enum class Kind : std::uint8_t {
  command,
  presence,
  transport,
  response,
  view_ack,
  request,
  kCount
};
inline constexpr std::size_t kKinds = static_cast<std::size_t>(Kind::kCount);
[[nodiscard]] std::string_view kind_name(Kind k) noexcept;

class Rejections {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kLogEvery{10};

  // Counts one; true when the caller should write a journal line now (rate-limited per kind).
  bool count(Kind kind, Refusal reason, Clock::time_point now);
  [[nodiscard]] std::uint64_t total(Kind kind) const noexcept;
  [[nodiscard]] std::uint64_t total() const noexcept;
  // {"transport": {"too_deep": 3, ...}, ...}: only kinds and reasons that happened.
  [[nodiscard]] nlohmann::json to_json() const;

 private:
  std::array<std::array<std::uint64_t, kRefusalKinds>, kKinds> counts_{};
  std::array<Clock::time_point, kKinds> last_log_{};
};

}  // namespace jambox::message
