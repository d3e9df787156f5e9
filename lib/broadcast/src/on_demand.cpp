#include <jambox/broadcast/on_demand.hpp>
#include <jambox/crypto/crypto.hpp>
#include <jambox/message/messages.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <utility>

namespace jambox::broadcast {

std::string make_room_code() {
  constexpr std::size_t kAlphabet = message::kRoomCodeAlphabet.size();
  // The largest multiple of the alphabet's size that fits a byte: bytes at or above it are
  // drawn again, so every character is equally likely (no modulo bias).
  constexpr std::size_t kLimit = 256 / kAlphabet * kAlphabet;
  std::string code;
  code.reserve(message::kRoomCodeLength);
  std::array<std::uint8_t, 16> bytes{};
  while (code.size() < message::kRoomCodeLength) {
    crypto::random_bytes(bytes);
    for (const std::uint8_t b : bytes) {
      if (b >= kLimit) continue;
      code.push_back(message::kRoomCodeAlphabet[b % kAlphabet]);
      if (code.size() == message::kRoomCodeLength) break;
    }
  }
  return code;
}

std::string make_room_secret() {
  std::array<std::uint8_t, 32> bytes{};
  crypto::random_bytes(bytes);
  return crypto::to_hex(bytes);
}

OnDemandRooms::OnDemandRooms(RoomsConfig config, CodeSource codes)
    : config_(config), codes_(std::move(codes)) {}

void OnDemandRooms::configure(const RoomsConfig& config) {
  config_ = config;
}

Creation OnDemandRooms::create(std::string_view creator, std::string_view wanted,
                               const IsDeclared& declared, std::size_t rooms_total,
                               std::uint32_t max_rooms, Clock::time_point now) {
  Creation out;
  if (!wanted.empty()) {
    if (const auto it = rooms_.find(wanted); it != rooms_.end()) {
      // A box whose answer was lost asks again for the code it was given: the same room.
      if (it->second.creator == creator) {
        it->second.idle_since = now;
        out.room = &it->second;
        out.repeated = true;
        return out;
      }
      out.error_code = "code_taken";
      out.error = fmt::format("room {} exists already; ask for another code or none", wanted);
      return out;
    }
    if (declared && declared(wanted)) {
      out.error_code = "code_taken";
      out.error = fmt::format("{} is the name of a room of this server", wanted);
      return out;
    }
  }
  if (rooms_.size() >= config_.max_on_demand) {
    out.error_code = "server_full";
    out.error = fmt::format("this server has made {} rooms on demand, its limit", rooms_.size());
    return out;
  }
  if (rooms_total >= max_rooms) {
    out.error_code = "server_full";
    out.error = fmt::format("this server has {} rooms, its limit", rooms_total);
    return out;
  }
  // One box cannot take every on-demand room for itself (nor pile up rooms by repeating a
  // request whose answer it lost): its rooms expire when idle, then it may make more.
  const auto own = std::count_if(rooms_.begin(), rooms_.end(), [&](const auto& entry) {
    return entry.second.creator == creator;
  });
  if (static_cast<std::size_t>(own) >= kMaxPerCreator) {
    out.error_code = "server_full";
    out.error = fmt::format(
        "this box made {} rooms that still exist, the most one box may; use one of them, or "
        "wait until an empty one expires",
        own);
    return out;
  }
  std::string code(wanted);
  for (int attempt = 0; code.empty() && attempt < kCodeAttempts; ++attempt) {
    std::string candidate = codes_();
    if (!message::is_room_code(candidate) || rooms_.contains(candidate) ||
        (declared && declared(candidate))) {
      continue;  // taken (or shadowing a declared room): draw again
    }
    code = std::move(candidate);
  }
  if (code.empty()) {
    out.error_code = "server_full";
    out.error = "no free room code was found; ask again";
    return out;
  }
  OnDemandRoom room;
  room.code = code;
  room.secret = make_room_secret();
  room.creator = std::string(creator);
  room.max_members = config_.max_members;
  room.idle_since = now;
  out.room = &rooms_.emplace(code, std::move(room)).first->second;
  return out;
}

const OnDemandRoom* OnDemandRooms::find(std::string_view code) const {
  const auto it = rooms_.find(code);
  return it == rooms_.end() ? nullptr : &it->second;
}

void OnDemandRooms::touch(std::string_view code, Clock::time_point now) {
  if (const auto it = rooms_.find(code); it != rooms_.end()) it->second.idle_since = now;
}

bool OnDemandRooms::remove(std::string_view code) {
  const auto it = rooms_.find(code);
  if (it == rooms_.end()) return false;
  rooms_.erase(it);
  return true;
}

std::vector<std::string> OnDemandRooms::expire(
    const std::function<bool(std::string_view)>& occupied, Clock::time_point now) {
  std::vector<std::string> gone;
  const auto limit = std::chrono::seconds(config_.idle_expiry_s);
  for (auto it = rooms_.begin(); it != rooms_.end();) {
    if (occupied(it->first)) {
      it->second.idle_since = now;
    } else if (now - it->second.idle_since >= limit) {
      gone.push_back(it->first);
      it = rooms_.erase(it);
      continue;
    }
    ++it;
  }
  return gone;
}

std::vector<std::string> OnDemandRooms::codes() const {
  std::vector<std::string> out;
  out.reserve(rooms_.size());
  for (const auto& [code, room] : rooms_) out.push_back(code);
  return out;
}

}  // namespace jambox::broadcast
