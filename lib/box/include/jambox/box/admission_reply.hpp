#pragma once
// The room server's answer to a box's join_room or create_room request (docs/control-plane.md,
// "Room admission"), read strictly: it comes from the network, so anything malformed is an error
// and never a half-filled room.

#include <jambox/box/config.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

namespace jambox::box {

struct AdmissionRefusal {
  std::string error_code;  // the server's code, or "invalid_response" for a malformed answer
  std::string error;
  bool retry = false;  // worth asking again later (room_full, malformed answers)
};

// The room to join (server, name, the ticket's secret and the ticket) for a request about
// `room`, or why there is none. `now_s` is the wall clock (Unix seconds, 0 while it is not set):
// a ticket that expires within 5 s of it is refused, else a box would ask again at once, forever.
[[nodiscard]] std::variant<RoomConfig, AdmissionRefusal> read_admission_reply(
    std::string_view payload, const std::string& room, std::uint64_t now_s);

// The answer to a create_room request: the same, for the room the server made. Its name must be
// a code (message::is_room_code), and `wanted` when the box asked for one ("": any code).
[[nodiscard]] std::variant<RoomConfig, AdmissionRefusal> read_creation_reply(
    std::string_view payload, const std::string& wanted, std::uint64_t now_s);

}  // namespace jambox::box
