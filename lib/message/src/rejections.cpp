#include <jambox/message/rejections.hpp>

namespace jambox::message {

std::string_view kind_name(Kind k) noexcept {
  switch (k) {
    case Kind::command:
      return "command";
    case Kind::presence:
      return "presence";
    case Kind::transport:
      return "transport";
    case Kind::response:
      return "response";
    case Kind::view_ack:
      return "view_ack";
    case Kind::request:
      return "request";
    case Kind::kCount:
      break;
  }
  return "unknown";
}

bool Rejections::count(Kind kind, Refusal reason, Clock::time_point now) {
  const auto k = static_cast<std::size_t>(kind);
  const auto r = static_cast<std::size_t>(reason);
  if (k >= kKinds || r >= kRefusalKinds) return false;
  ++counts_[k][r];
  if (last_log_[k] != Clock::time_point{} && now - last_log_[k] < kLogEvery) return false;
  last_log_[k] = now;
  return true;
}

std::uint64_t Rejections::total(Kind kind) const noexcept {
  const auto k = static_cast<std::size_t>(kind);
  if (k >= kKinds) return 0;
  std::uint64_t sum = 0;
  for (const std::uint64_t n : counts_[k]) sum += n;
  return sum;
}

std::uint64_t Rejections::total() const noexcept {
  std::uint64_t sum = 0;
  for (std::size_t k = 0; k < kKinds; ++k) sum += total(static_cast<Kind>(k));
  return sum;
}

nlohmann::json Rejections::to_json() const {
  nlohmann::json out = nlohmann::json::object();
  for (std::size_t k = 0; k < kKinds; ++k) {
    nlohmann::json reasons = nlohmann::json::object();
    for (std::size_t r = 0; r < kRefusalKinds; ++r) {
      if (counts_[k][r] != 0)
        reasons[std::string(refusal_name(static_cast<Refusal>(r)))] = counts_[k][r];
    }
    if (!reasons.empty()) out[std::string(kind_name(static_cast<Kind>(k)))] = std::move(reasons);
  }
  return out;
}

}  // namespace jambox::message
