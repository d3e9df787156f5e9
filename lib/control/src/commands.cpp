#include <jambox/control/commands.hpp>
#include <jambox/message/messages.hpp>
#include <jambox/message/text.hpp>

#include <cmath>
#include <utility>

namespace jambox::control {
namespace {

std::string show(double value) {
  if (std::floor(value) == value && std::fabs(value) < 1e15) {
    return std::to_string(static_cast<long long>(value));
  }
  nlohmann::json j = value;
  return j.dump();
}

nlohmann::json ack_of(const nlohmann::json& id, std::string_view status) {
  nlohmann::json ack;
  ack["command_id"] = id;
  ack["status"] = status;
  ack["error"] = nullptr;
  ack["error_code"] = nullptr;
  return ack;
}

nlohmann::json error_ack(const nlohmann::json& id, std::string_view status, std::string_view code,
                         const std::string& message) {
  nlohmann::json ack = ack_of(id, status);
  ack["error"] = message;
  ack["error_code"] = code;
  return ack;
}

const nlohmann::json& member(const nlohmann::json& payload, const char* name) {
  if (!payload.is_object() || !payload.contains(name)) {
    throw InvalidField(name, "is required");
  }
  return payload.at(name);
}

}  // namespace

InvalidField::InvalidField(std::string field, const std::string& problem)
    : std::runtime_error(field + ": " + problem), field_(std::move(field)) {}

CommandFailed::CommandFailed(std::string code, const std::string& message)
    : std::runtime_error(message), code_(std::move(code)) {}

double number_field(const nlohmann::json& payload, const char* name, double lowest,
                    double highest) {
  const nlohmann::json& v = member(payload, name);
  if (!v.is_number()) throw InvalidField(name, "must be a number");
  const double x = v.get<double>();
  if (!std::isfinite(x) || x < lowest || x > highest) {
    throw InvalidField(
        name, "must be within " + show(lowest) + ".." + show(highest) + ", got " + v.dump());
  }
  return x;
}

double number_field(const nlohmann::json& payload, const char* name, double lowest, double highest,
                    double fallback) {
  if (!payload.is_object() || !payload.contains(name)) return fallback;
  return number_field(payload, name, lowest, highest);
}

bool bool_field(const nlohmann::json& payload, const char* name) {
  const nlohmann::json& v = member(payload, name);
  if (!v.is_boolean()) throw InvalidField(name, "must be true or false");
  return v.get<bool>();
}

std::string string_field(const nlohmann::json& payload, const char* name, std::size_t max_length) {
  const nlohmann::json& v = member(payload, name);
  if (!v.is_string()) throw InvalidField(name, "must be a string");
  std::string s = v.get<std::string>();
  if (s.empty() || s.size() > max_length) {
    throw InvalidField(name, "must have 1.." + std::to_string(max_length) + " characters");
  }
  return s;
}

std::int64_t int_field(const nlohmann::json& payload, const char* name, std::int64_t lowest,
                       std::int64_t highest) {
  const nlohmann::json& v = member(payload, name);
  if (!v.is_number_integer()) throw InvalidField(name, "must be a whole number");
  const auto x = v.get<std::int64_t>();
  if (x < lowest || x > highest) {
    throw InvalidField(name, "must be within " + std::to_string(lowest) + ".." +
                                 std::to_string(highest) + ", got " + v.dump());
  }
  return x;
}

CommandProcessor::CommandProcessor(CommandLimits limits) : limits_(limits) {}

void CommandProcessor::on(std::string command_type, Handler handler) {
  handlers_[std::move(command_type)] = std::move(handler);
}

bool CommandProcessor::supports(std::string_view command_type) const {
  return handlers_.find(command_type) != handlers_.end();
}

std::vector<std::string> CommandProcessor::command_types() const {
  std::vector<std::string> types;
  types.reserve(handlers_.size());
  for (const auto& [type, handler] : handlers_) types.push_back(type);
  return types;
}

bool CommandProcessor::over_rate(std::string_view sender, Clock::time_point now) {
  const auto prune = [now](std::deque<Clock::time_point>& times) {
    while (!times.empty() && now - times.front() >= std::chrono::minutes(1)) times.pop_front();
  };
  auto found = recent_.find(sender);
  if (found == recent_.end()) {
    if (recent_.size() >= limits_.senders) {
      // Forget senders that were quiet for a minute; if every remembered one is still active,
      // a newcomer waits (senders are broker accounts, so this takes many busy accounts).
      for (auto it = recent_.begin(); it != recent_.end();) {
        prune(it->second);
        it = it->second.empty() ? recent_.erase(it) : std::next(it);
      }
      if (recent_.size() >= limits_.senders) return true;
    }
    found = recent_.emplace(std::string(sender), std::deque<Clock::time_point>{}).first;
  }
  std::deque<Clock::time_point>& times = found->second;
  prune(times);
  if (times.size() >= limits_.per_minute) return true;
  times.push_back(now);
  return false;
}

std::string CommandProcessor::finish(const std::string& id, nlohmann::json ack, bool remember) {
  std::string text = message::dump(ack);
  if (text.size() > limits_.max_ack_bytes) {
    // A result too big to send: say so instead of sending a truncated or oversized ack.
    ack["result"] = nullptr;
    ack["status"] = "error";
    ack["error"] = "the result exceeds " + std::to_string(limits_.max_ack_bytes) + " bytes";
    ack["error_code"] = "result_too_large";
    text = message::dump(ack);
  }
  if (remember && !id.empty()) {
    if (remembered_order_.size() >= limits_.remembered) {
      remembered_.erase(remembered_order_.front());
      remembered_order_.pop_front();
    }
    remembered_[id] = Remembered{text};
    remembered_order_.push_back(id);
  }
  return text;
}

std::string CommandProcessor::handle(std::string_view message, Clock::time_point now,
                                     std::string_view sender) {
  ++counters_.received;
  last_executed_.clear();
  sender_.assign(sender);
  auto parsed = message::parse_command(message);
  if (auto* refusal = std::get_if<message::CommandRefusal>(&parsed)) {
    last_refusal_ = refusal->reason;
    if (refusal->reason == message::Refusal::too_large) {
      ++counters_.too_large;
    } else if (refusal->error_code == "invalid_json") {
      ++counters_.invalid_json;
    } else {
      ++counters_.invalid_request;
    }
    if (refusal->id.empty()) {
      return finish({}, error_ack(nullptr, "error", refusal->error_code, refusal->error), false);
    }
    if (const auto seen = remembered_.find(refusal->id); seen != remembered_.end()) {
      ++counters_.duplicates;
      return seen->second.ack;
    }
    return finish(refusal->id, error_ack(refusal->id, "error", refusal->error_code, refusal->error),
                  true);
  }
  message::Command& command = std::get<message::Command>(parsed);
  const std::string& id = command.id;
  if (const auto seen = remembered_.find(id); seen != remembered_.end()) {
    ++counters_.duplicates;
    return seen->second.ack;  // a redelivery: the same answer, nothing executed again
  }
  if (over_rate(sender, now)) {
    ++counters_.rate_limited;
    // Not remembered: the same command may be sent again once the rate allows it.
    return finish(id,
                  error_ack(id, "error", "rate_limited",
                            "more than " + std::to_string(limits_.per_minute) +
                                " commands from one sender in the last minute"),
                  false);
  }
  const auto handler = handlers_.find(command.type);
  if (handler == handlers_.end()) {
    ++counters_.unsupported;
    // Clipped at a character boundary: the answer must stay valid UTF-8 and small.
    return finish(id,
                  error_ack(id, "unsupported", "unsupported_command",
                            "unknown command_type '" + message::clip(command.type, 64) + "'"),
                  true);
  }
  try {
    nlohmann::json result = handler->second(command.payload);
    ++counters_.executed;
    last_executed_ = command.type;
    nlohmann::json ack = ack_of(id, "ok");
    if (!result.is_null()) ack["result"] = std::move(result);
    return finish(id, std::move(ack), true);
  } catch (const InvalidField& e) {
    ++counters_.invalid_request;
    nlohmann::json ack = error_ack(id, "error", "invalid_request", e.what());
    ack["field"] = e.field();
    return finish(id, std::move(ack), true);
  } catch (const CommandFailed& e) {
    ++counters_.failed;
    return finish(id, error_ack(id, "error", e.code(), e.what()), true);
  } catch (const std::exception& e) {
    // A handler's own bug: answered, counted and logged by the caller; never the library's
    // message (it may quote the peer's bytes).
    ++counters_.failed;
    return finish(id, error_ack(id, "error", "internal_error", "the command failed on the box"),
                  true);
  }
}

}  // namespace jambox::control
