#pragma once
// Reading jambox-broadcast's stats file (docs/broadcast-server.md) from tests and benchmarks.

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jambox::test {

// The parsed file, or nullopt when it is missing or not (yet) valid JSON.
[[nodiscard]] std::optional<nlohmann::json> read_stats(const std::filesystem::path& file);

// Polls the file every 20 ms until `predicate` holds for its content or `timeout` passes; returns
// the content that satisfied the predicate.
[[nodiscard]] std::optional<nlohmann::json> wait_for_stats(
    const std::filesystem::path& file, const std::function<bool(const nlohmann::json&)>& predicate,
    std::chrono::milliseconds timeout);

// Lookups that return nullptr when absent (so predicates can be written without exceptions).
[[nodiscard]] const nlohmann::json* find_room(const nlohmann::json& stats, std::string_view name);
[[nodiscard]] const nlohmann::json* find_member(const nlohmann::json& room,
                                                std::uint32_t session_id);
// stats["rejected"][reason], 0 when absent.
[[nodiscard]] std::uint64_t rejected_count(const nlohmann::json& stats, std::string_view reason);
// stats["totals"][key], 0 when absent.
[[nodiscard]] std::uint64_t total(const nlohmann::json& stats, std::string_view key);
// The sum of relay.dropped[reason] over `reasons` (what the room relay refused), 0 while absent.
[[nodiscard]] std::uint64_t relay_dropped(const nlohmann::json& stats,
                                          const std::vector<std::string>& reasons);
// rooms[name].member_count, -1 when the room is absent.
[[nodiscard]] std::int64_t member_count(const nlohmann::json& stats, std::string_view room);

}  // namespace jambox::test
