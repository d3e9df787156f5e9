#pragma once
// Rooms by code (docs/broadcast-server.md, "Rooms by code"): the rooms jambox-broadcast makes
// when a box asks with create_room. Each is named by a random code (message::kRoomCodeAlphabet,
// message::kRoomCodeLength), gets a secret made with RAND_bytes that never leaves the server,
// and is removed once nobody was in it for idle_expiry_s (also when nobody ever came). A code
// never names a declared room. Limits: rooms.max_on_demand at a time, and server.max_rooms in
// all. The control thread owns this; the clock is passed in.

#include <jambox/broadcast/config.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace jambox::broadcast {

// A fresh code: every character drawn uniformly from the alphabet with RAND_bytes.
[[nodiscard]] std::string make_room_code();
// A fresh room secret: 32 random bytes as 64 hex digits.
[[nodiscard]] std::string make_room_secret();

struct OnDemandRoom {
  std::string code;
  std::string secret;   // never logged, never sent
  std::string creator;  // the player key that asked for it
  std::uint32_t max_members = 0;
  std::chrono::steady_clock::time_point idle_since{};  // made, last seen occupied, or asked for
};

struct Creation {
  const OnDemandRoom* room = nullptr;  // null when refused
  bool repeated = false;   // the creator asked again for the code it was given (a lost answer)
  std::string error_code;  // code_taken, server_full
  std::string error;
};

class OnDemandRooms {
 public:
  using Clock = std::chrono::steady_clock;
  using CodeSource = std::function<std::string()>;
  using IsDeclared = std::function<bool(std::string_view name)>;
  // Tries this many codes before giving up (the space holds 31^6, about 887 million).
  static constexpr int kCodeAttempts = 32;
  static constexpr std::size_t kMaxPerCreator = 2;  // rooms one box may have made at a time

  explicit OnDemandRooms(RoomsConfig config, CodeSource codes = make_room_code);

  // A reload: new limits for rooms made from now on; the rooms there are stay as they are.
  void configure(const RoomsConfig& config);
  [[nodiscard]] const RoomsConfig& config() const noexcept { return config_; }

  // A create_room from `creator`, for the code `wanted` ("": any). `rooms_total`: the rooms the
  // server has now (declared and made on demand); `max_rooms`: server.max_rooms. Does not look
  // at rooms.on_demand (the caller refuses while it is off).
  Creation create(std::string_view creator, std::string_view wanted, const IsDeclared& declared,
                  std::size_t rooms_total, std::uint32_t max_rooms, Clock::time_point now);

  [[nodiscard]] const OnDemandRoom* find(std::string_view code) const;
  // A box asked for the room (a ticket is on its way): it counts as in use from now.
  void touch(std::string_view code, Clock::time_point now);
  // Forgets the room; false when there is none of that code.
  bool remove(std::string_view code);
  // `occupied(code)`: whether the room has a member or a pending session now. Forgets the rooms
  // that nobody was in for idle_expiry_s and returns their codes.
  std::vector<std::string> expire(const std::function<bool(std::string_view)>& occupied,
                                  Clock::time_point now);

  [[nodiscard]] std::size_t size() const noexcept { return rooms_.size(); }
  [[nodiscard]] std::vector<std::string> codes() const;

 private:
  RoomsConfig config_;
  CodeSource codes_;
  std::map<std::string, OnDemandRoom, std::less<>> rooms_;
};

}  // namespace jambox::broadcast
