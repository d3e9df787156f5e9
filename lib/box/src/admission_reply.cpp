#include <jambox/box/admission_reply.hpp>
#include <jambox/crypto/crypto.hpp>
#include <jambox/message/messages.hpp>
#include <jambox/message/text.hpp>
#include <jambox/net/host_port.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>

namespace jambox::box {
namespace {

using nlohmann::json;

bool hex_of_length(const json& value, std::size_t length) {
  if (!value.is_string()) return false;
  const auto& text = value.get_ref<const std::string&>();
  return text.size() == length && text.find_first_not_of("0123456789abcdef") == std::string::npos;
}

AdmissionRefusal malformed(std::string why) {
  return {"invalid_response", std::move(why), true};
}

// `accept(room)`: whether the answer's room is the one asked for.
std::variant<RoomConfig, AdmissionRefusal> read_reply(
    std::string_view payload, const std::function<bool(const std::string&)>& accept,
    std::uint64_t now_s) {
  message::ParseError refused;
  const auto parsed = message::parse_object(payload, message::response_limits(), refused);
  if (!parsed) return malformed("the room server's answer is refused: " + refused.detail);
  const json& r = *parsed;
  if (!r.contains("success") || !r["success"].is_boolean()) {
    return malformed("the room server's answer is not a response");
  }
  if (r["success"] != true) {
    const json code = r.value("error_code", json());
    const json error = r.value("error", json());
    // The server's words, clipped: they are shown in status and journal.
    AdmissionRefusal refusal{
        code.is_string() ? message::clip(code.get<std::string>(), 64) : "unknown",
        error.is_string() ? message::clip(error.get<std::string>(), message::kMaxErrorLength) : "",
        false};
    refusal.retry = refusal.error_code == "room_full";
    return refusal;
  }
  const json server = r.value("server", json());
  const json ticket = r.value("ticket", json());
  const json room_name = r.value("room", json());
  if (!server.is_string() || !room_name.is_string() ||
      !accept(room_name.get_ref<const std::string&>()) ||
      !hex_of_length(r.value("ticket_secret", json()), wire::kTicketSecretLength) ||
      !hex_of_length(r.value("audio_key", json()), 2 * crypto::kKeySize) || !ticket.is_object() ||
      !hex_of_length(ticket.value("nonce", json()), 32) ||
      !ticket.value("expires", json()).is_number_unsigned() ||
      ticket["expires"].get<std::uint64_t>() == 0) {
    return malformed("the room server's ticket is malformed");
  }
  if (ticket["expires"].get<std::uint64_t>() <= now_s + 5) {
    return malformed("the room server's ticket has expired (check both clocks)");
  }
  // Checked here, before the box leaves its room for it: the link would refuse it only later.
  net::HostPort address;
  std::string problem;
  if (!net::parse_host_port(server.get_ref<const std::string&>(), address, problem)) {
    return malformed("the room server's answer names no usable server: server " + problem);
  }
  RoomConfig target;
  target.server = server.get<std::string>();
  target.name = room_name.get<std::string>();
  target.secret = r["ticket_secret"].get<std::string>();
  static_cast<void>(
      crypto::from_hex(ticket["nonce"].get_ref<const std::string&>(), target.ticket.nonce));
  crypto::Key audio_key{};
  static_cast<void>(crypto::from_hex(r["audio_key"].get_ref<const std::string&>(), audio_key));
  target.audio_key = audio_key;
  target.ticket.expires_s = ticket["expires"].get<std::uint64_t>();
  return target;
}

}  // namespace

std::variant<RoomConfig, AdmissionRefusal> read_admission_reply(std::string_view payload,
                                                                const std::string& room,
                                                                std::uint64_t now_s) {
  return read_reply(
      payload, [&room](const std::string& answered) { return answered == room; }, now_s);
}

std::variant<RoomConfig, AdmissionRefusal> read_creation_reply(std::string_view payload,
                                                               const std::string& wanted,
                                                               std::uint64_t now_s) {
  return read_reply(
      payload,
      [&wanted](const std::string& answered) {
        return message::is_room_code(answered) && (wanted.empty() || answered == wanted);
      },
      now_s);
}

}  // namespace jambox::box
