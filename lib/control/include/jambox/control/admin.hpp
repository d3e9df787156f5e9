#pragma once
// The admin's side of the control plane (jamboxctl, the control benchmark): a synchronous
// client that sends commands to boxes and waits for their acks, and follows their status and
// meters. It drives its own Asio loop from the calling thread.

#include <jambox/control/identity.hpp>
#include <jambox/control/session.hpp>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace jambox::control {

struct AdminConfig {
  std::string broker = "ssl://localhost:8883";
  TlsFiles tls{"/etc/jambox/pki/ca.crt", "/etc/jambox/pki/jamboxctl.crt",
               "/etc/jambox/pki/jamboxctl.key"};
  std::string identity = "jamboxctl";  // the certificate's CN, which the broker's ACL knows
  std::string prefix = "jambox";
};

// A new random (version 4) UUID, the form of command and request ids.
[[nodiscard]] std::string make_uuid();

class AdminClient {
 public:
  explicit AdminClient(AdminConfig config);
  ~AdminClient();
  AdminClient(const AdminClient&) = delete;
  AdminClient& operator=(const AdminClient&) = delete;

  // Connects and subscribes; false with `why` when not ready within `timeout`.
  bool connect(std::chrono::milliseconds timeout, std::string& why);
  // Sends command `type` with `payload` to box `player` and waits for its ack; nullopt when
  // none came within `timeout` (box offline, or not allowed to answer).
  std::optional<nlohmann::json> command(const std::string& player, const std::string& type,
                                        const nlohmann::json& payload,
                                        std::chrono::milliseconds timeout);
  // Sends `text` as is to `player`'s command topic (tests: malformed or repeated commands).
  bool send_raw(const std::string& player, const std::string& text);
  // Publishes `payload` on `topic` (QoS 1, not retained) and waits until the broker has it;
  // false when not connected, not taken, or not acknowledged within `timeout`.
  bool publish(const std::string& topic, std::string_view payload,
               std::chrono::milliseconds timeout);
  // Waits for the next ack with `command_id` (a JSON null id: an ack without one).
  std::optional<nlohmann::json> wait_ack(const nlohmann::json& command_id,
                                         std::chrono::milliseconds timeout);
  // Every box's retained state ({"player_key", "online", "room", "timestamp"}) by player key,
  // as the broker holds it, collected for `settle` after subscribing.
  std::map<std::string, nlohmann::json> states(std::chrono::milliseconds settle);
  // Acknowledges the view event `event_id` of `player` (as the server does).
  bool ack_view(const std::string& player, const std::string& event_id);
  // Calls `on` with ("status"|"meters"|"view", document) for every message of `player` until
  // `until` returns true or the loop is stopped; `tick` runs about once a second.
  void watch(const std::string& player,
             const std::function<void(const std::string& kind, const nlohmann::json&)>& on,
             const std::function<bool()>& until, const std::function<void()>& tick);
  void disconnect();

  [[nodiscard]] LinkState state() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace jambox::control
