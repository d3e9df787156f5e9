#pragma once
// Commands from the admin to the box (docs/control-plane.md): JSON
//   {"command_id": "...", "command_type": "set_gain", "payload": {...}, "timestamp": "..."}
// each answered on command/ack with
//   {"command_id", "status": "ok"|"error"|"unsupported", "error", "error_code", "result"?}.
//
// The processor is the whole policy, without MQTT: size limit, JSON and envelope checks, rate
// limit, de-duplication (a QoS 1 redelivery is acknowledged again, never executed twice), and
// dispatch to one handler per command type. Handlers validate their payload with the field
// helpers below, whose errors name the field.

#include <jambox/message/limited_json.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

namespace jambox::control {

// A payload the handler refuses: becomes status "error", error_code "invalid_request".
class InvalidField : public std::runtime_error {
 public:
  InvalidField(std::string field, const std::string& problem);
  [[nodiscard]] const std::string& field() const noexcept { return field_; }

 private:
  std::string field_;
};

// A valid request the box cannot carry out now (e.g. "not_in_room"): status "error".
class CommandFailed : public std::runtime_error {
 public:
  CommandFailed(std::string code, const std::string& message);
  [[nodiscard]] const std::string& code() const noexcept { return code_; }

 private:
  std::string code_;
};

// Field helpers: the value, or InvalidField naming `name` and what is allowed.
[[nodiscard]] double number_field(const nlohmann::json& payload, const char* name, double lowest,
                                  double highest);
[[nodiscard]] double number_field(const nlohmann::json& payload, const char* name, double lowest,
                                  double highest, double fallback);
[[nodiscard]] bool bool_field(const nlohmann::json& payload, const char* name);
[[nodiscard]] std::string string_field(const nlohmann::json& payload, const char* name,
                                       std::size_t max_length);
[[nodiscard]] std::int64_t int_field(const nlohmann::json& payload, const char* name,
                                     std::int64_t lowest, std::int64_t highest);

struct CommandLimits {
  // Inbound limits (bytes, depth, strings) are message::command_limits().
  std::size_t max_ack_bytes = 256 * 1024;
  std::uint32_t per_minute = 300;  // per sender (jamboxctl, or each musician by name)
  std::size_t remembered = 1024;   // command ids kept for de-duplication
  std::size_t senders = 64;        // senders whose last minute is remembered
};

struct CommandCounters {
  std::uint64_t received = 0;
  std::uint64_t executed = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t invalid_json = 0;
  std::uint64_t invalid_request = 0;
  std::uint64_t too_large = 0;
  std::uint64_t rate_limited = 0;
  std::uint64_t unsupported = 0;
  std::uint64_t failed = 0;  // handler said no (CommandFailed) or threw
};

class CommandProcessor {
 public:
  using Clock = std::chrono::steady_clock;
  // Returns the "result" object of the ack (null for none); throws InvalidField/CommandFailed.
  using Handler = std::function<nlohmann::json(const nlohmann::json& payload)>;

  explicit CommandProcessor(CommandLimits limits = {});

  void on(std::string command_type, Handler handler);
  [[nodiscard]] bool supports(std::string_view command_type) const;
  // The command types, sorted (for the capabilities message).
  [[nodiscard]] std::vector<std::string> command_types() const;

  // One message from the command topic; returns the ack to publish (always exactly one).
  // `sender` is who the broker let publish it (the admin tool, or a musician's user name from
  // the topic): each sender has its own rate limit, so one flooding page cannot silence the
  // others.
  [[nodiscard]] std::string handle(std::string_view message, Clock::time_point now,
                                   std::string_view sender = "jamboxctl");

  // The type of the command the latest handle() executed successfully ("" when it executed
  // nothing): the caller's journal line names it and its sender.
  [[nodiscard]] const std::string& last_executed() const noexcept { return last_executed_; }
  // Who sent the command being handled (for handlers whose rules depend on it); the sender of
  // the latest one between calls.
  [[nodiscard]] const std::string& sender() const noexcept { return sender_; }

  [[nodiscard]] const CommandCounters& counters() const noexcept { return counters_; }
  // Why the latest refused message was refused (for the per-kind rejection counts).
  [[nodiscard]] message::Refusal last_refusal() const noexcept { return last_refusal_; }

 private:
  struct Remembered {
    std::string ack;
  };
  std::string finish(const std::string& id, nlohmann::json ack, bool remember);
  bool over_rate(std::string_view sender, Clock::time_point now);

  CommandLimits limits_;
  std::map<std::string, Handler, std::less<>> handlers_;
  std::unordered_map<std::string, Remembered> remembered_;
  std::deque<std::string> remembered_order_;
  std::map<std::string, std::deque<Clock::time_point>, std::less<>> recent_;  // per sender
  std::string last_executed_;
  std::string sender_;
  CommandCounters counters_;
  message::Refusal last_refusal_ = message::Refusal::invalid_json;
};

}  // namespace jambox::control
