#include <jambox/control/topics.hpp>

#include <stdexcept>

namespace jambox::control {

bool valid_topic_level(std::string_view level) noexcept {
  if (level.empty() || level.size() > 128) return false;
  for (const char c : level) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '/' || c == '+' || c == '#' || u < 0x20 || u == 0x7f) return false;
  }
  return true;
}

Topics::Topics(std::string prefix, std::string player_key)
    : prefix_(std::move(prefix)), key_(std::move(player_key)) {
  if (!valid_topic_level(prefix_)) {
    throw std::invalid_argument("topic prefix '" + prefix_ + "' is not one topic level");
  }
  if (!valid_topic_level(key_)) {
    throw std::invalid_argument("player key '" + key_ + "' is not one topic level");
  }
  base_ = prefix_ + "/player/" + key_;
}

std::string Topics::request(std::string_view id) const {
  return base_ + "/request/" + std::string(id);
}

std::string room_out_filter(std::string_view prefix) {
  return std::string(prefix) + "/player/+/room/out/+";
}

std::string chat_from_filter(std::string_view prefix) {
  return std::string(prefix) + "/player/+/chat/from/+";
}

std::string admin_chat_filter(std::string_view prefix) {
  return std::string(prefix) + "/room/+/chat";
}

std::string admin_chat(std::string_view prefix, std::string_view room) {
  return std::string(prefix) + "/room/" + std::string(room) + "/chat";
}

}  // namespace jambox::control
