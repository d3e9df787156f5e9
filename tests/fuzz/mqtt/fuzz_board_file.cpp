// libFuzzer target: a pedalboard file (board.json or a preset), as jamboxd reads it at start and
// on load_board: the limited reader, then every pedal entry. Nothing may throw but the refusal
// the box catches, and what is accepted stays within the documented bounds.

#include "harness.hpp"
#include "pedalboard.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace {

void check(const nlohmann::json& list) {
  try {
    const auto pedals = jambox::box::pedals_from_json(list);
    jambox::fuzz::require(pedals.size() <= 8, "more than 8 pedals accepted");
    for (const auto& p : pedals) {
      jambox::fuzz::require(!p.uri.empty() && p.uri.size() <= 512, "a uri out of bounds");
      jambox::fuzz::require(p.params.size() <= 256, "more than 256 settings accepted");
    }
    // What is accepted can be written back.
    static_cast<void>(jambox::box::pedals_to_json(pedals).dump());
  } catch (const std::runtime_error&) {
    // refused: the box leaves the entry or the file out and says so
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string problem;
  const auto doc = jambox::box::parse_board_file(
      std::string_view(reinterpret_cast<const char*>(data), size), problem);
  if (!doc) {
    jambox::fuzz::require(!problem.empty(), "a refusal without a reason");
    return 0;
  }
  if (doc->contains("pedals")) check((*doc)["pedals"]);
  if (doc->contains("channels") && (*doc)["channels"].is_array()) {
    for (const auto& channel : (*doc)["channels"]) {
      if (channel.is_object() && channel.contains("pedals")) check(channel["pedals"]);
    }
  }
  return 0;
}
