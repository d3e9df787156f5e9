#include "pedal_commands.hpp"

namespace jambox::box {
namespace {

using nlohmann::json;

int channel_of(const json& p) {
  return static_cast<int>(control::int_field(p, "channel", 1, 2));
}

std::size_t position_of(const json& p, const char* name = "position") {
  return static_cast<std::size_t>(control::int_field(p, name, 1, audio::kMaxInsertPositions));
}

}  // namespace

void register_pedal_commands(control::CommandProcessor& commands, Pedalboard& board) {
  commands.on("list_pedals", [&board](const json& p) {
    if (p.contains("uri")) return board.describe_pedal(control::string_field(p, "uri", 512));
    const auto offset =
        p.contains("offset") ? control::int_field(p, "offset", 0, 100000) : std::int64_t{0};
    const auto limit = p.contains("limit") ? control::int_field(p, "limit", 1, 100) : 100;
    return board.list(static_cast<std::size_t>(offset), static_cast<std::size_t>(limit));
  });
  commands.on("insert_pedal", [&board](const json& p) {
    const int channel = channel_of(p);
    const std::string uri = control::string_field(p, "uri", 512);
    // Without a position the pedal goes last (nearest the room).
    const std::size_t position = p.contains("position") ? position_of(p) : 0;
    const std::size_t at = board.insert(channel, position, uri);
    return json{{"channel", channel}, {"position", at}, {"uri", uri}};
  });
  commands.on("remove_pedal", [&board](const json& p) {
    board.remove(channel_of(p), position_of(p));
    return json();
  });
  commands.on("move_pedal", [&board](const json& p) {
    board.move(channel_of(p), position_of(p, "from"), position_of(p, "to"));
    return json();
  });
  commands.on("bypass_pedal", [&board](const json& p) {
    const int channel = channel_of(p);
    const std::size_t position = position_of(p);
    board.bypass(channel, position, control::bool_field(p, "bypassed"));
    return json();
  });
  commands.on("set_pedal_param", [&board](const json& p) {
    const int channel = channel_of(p);
    const std::size_t position = position_of(p);
    const std::string symbol = control::string_field(p, "symbol", 128);
    const auto value = static_cast<float>(control::number_field(p, "value", -1e9, 1e9));
    board.set_param(channel, position, symbol, value);
    return json();
  });
  commands.on("get_board", [&board](const json& p) { return board.board(channel_of(p)); });
  commands.on("clear_board", [&board](const json& p) {
    board.clear(channel_of(p));
    return json();
  });
  commands.on("save_board", [&board](const json& p) {
    const int channel = channel_of(p);
    const std::string name = control::string_field(p, "name", 64);
    board.save(channel, name);
    return json{{"channel", channel}, {"name", name}};
  });
  commands.on("load_board", [&board](const json& p) {
    const int channel = channel_of(p);
    const std::string name = control::string_field(p, "name", 64);
    const std::vector<std::string> missing = board.load(channel, name);
    return json{{"channel", channel}, {"name", name}, {"missing", missing}};
  });
  commands.on("list_boards", [&board](const json&) { return json{{"presets", board.presets()}}; });
}

}  // namespace jambox::box
