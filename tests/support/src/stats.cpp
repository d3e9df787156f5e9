#include <jambox/test/stats.hpp>
#include <jambox/test/temp_dir.hpp>

#include <thread>

namespace jambox::test {

std::optional<nlohmann::json> read_stats(const std::filesystem::path& file) {
  const std::string text = read_text_file(file);
  if (text.empty()) return std::nullopt;
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) return std::nullopt;
  return parsed;
}

std::optional<nlohmann::json> wait_for_stats(
    const std::filesystem::path& file, const std::function<bool(const nlohmann::json&)>& predicate,
    std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto stats = read_stats(file); stats && predicate(*stats)) return stats;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

const nlohmann::json* find_room(const nlohmann::json& stats, std::string_view name) {
  const auto rooms = stats.find("rooms");
  if (rooms == stats.end() || !rooms->is_array()) return nullptr;
  for (const auto& room : *rooms) {
    const auto room_name = room.find("name");
    if (room_name != room.end() && room_name->is_string() &&
        room_name->get_ref<const std::string&>() == name) {
      return &room;
    }
  }
  return nullptr;
}

const nlohmann::json* find_member(const nlohmann::json& room, std::uint32_t session_id) {
  const auto members = room.find("members");
  if (members == room.end() || !members->is_array()) return nullptr;
  for (const auto& member : *members) {
    const auto id = member.find("session_id");
    if (id != member.end() && id->is_number_unsigned() && id->get<std::uint64_t>() == session_id) {
      return &member;
    }
  }
  return nullptr;
}

namespace {

std::uint64_t counter(const nlohmann::json& stats, std::string_view group, std::string_view key) {
  const auto section = stats.find(group);
  if (section == stats.end() || !section->is_object()) return 0;
  const auto value = section->find(key);
  if (value == section->end() || !value->is_number_unsigned()) return 0;
  return value->get<std::uint64_t>();
}

}  // namespace

std::uint64_t rejected_count(const nlohmann::json& stats, std::string_view reason) {
  return counter(stats, "rejected", reason);
}

std::uint64_t total(const nlohmann::json& stats, std::string_view key) {
  return counter(stats, "totals", key);
}

std::uint64_t relay_dropped(const nlohmann::json& stats, const std::vector<std::string>& reasons) {
  const auto relay = stats.find("relay");
  if (relay == stats.end() || !relay->is_object()) return 0;
  std::uint64_t n = 0;
  for (const std::string& reason : reasons) n += counter(*relay, "dropped", reason);
  return n;
}

std::int64_t member_count(const nlohmann::json& stats, std::string_view room) {
  const nlohmann::json* found = find_room(stats, room);
  if (found == nullptr) return -1;
  const auto count = found->find("member_count");
  if (count == found->end() || !count->is_number_integer()) return -1;
  return count->get<std::int64_t>();
}

}  // namespace jambox::test
