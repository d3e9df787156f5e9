#pragma once
// What jamboxd accepts from a JACK server, and the plain-words errors it gives when it cannot use
// one. Pure functions, so every message and limit is unit-tested without a server.

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace jambox::jack {

// The jam packet carries 48 kHz audio; resampling the whole stream would cost latency and CPU
// on the Pi, so another server rate is refused rather than converted.
inline constexpr std::uint32_t kSampleRate = 48000;
// Periods jamboxd works with. Below 32 frames the Pi cannot keep up; above 256 frames (5.3 ms)
// the period alone eats most of the latency budget, and the engine preallocates for 256.
inline constexpr std::uint32_t kMinPeriod = 32;
inline constexpr std::uint32_t kMaxPeriod = 256;
inline constexpr std::uint32_t kDefaultPeriod = 64;
// Two inputs (the player's instrument and voice) and two outputs (headphones left/right).
inline constexpr std::size_t kChannels = 2;

// Why a client could not be opened or kept; the supervisor decides between "wait for JACK" and
// "JACK runs with settings we refuse" from this.
enum class ErrorKind {
  server_unavailable,  // no server under that name, or it died while we were setting up
  name_taken,          // another client already uses our exact name
  unsupported_rate,    // server rate is not kSampleRate
  unsupported_period,  // server period outside kMinPeriod..kMaxPeriod
  setup_failed,        // anything else (shared memory, version mismatch, port registration)
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  [[nodiscard]] ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

// The name libjack will use: `configured` when not empty, else $JACK_DEFAULT_SERVER (`env`, may
// be null), else "default". Only used to name the server in messages.
[[nodiscard]] std::string effective_server_name(std::string_view configured, const char* env);

// nullopt when `rate` is usable, else the message: the server's rate, ours, and what to change.
[[nodiscard]] std::optional<std::string> check_sample_rate(std::uint32_t rate,
                                                           std::string_view server,
                                                           std::string_view client);
// nullopt when `period` is within kMinPeriod..kMaxPeriod, else the message.
[[nodiscard]] std::optional<std::string> check_period(std::uint32_t period, std::string_view server,
                                                      std::string_view client);
// Period length in milliseconds at kSampleRate, for log lines ("64 frames = 1.33 ms").
[[nodiscard]] double period_ms(std::uint32_t period, std::uint32_t rate = kSampleRate) noexcept;

struct OpenFailure {
  ErrorKind kind;
  std::string message;
};
// Turns the jack_status_t bits of a failed jack_client_open() into words an admin can act on.
// `status` is an unsigned copy of jack_status_t so that JACK's headers stay out of ours.
[[nodiscard]] OpenFailure describe_open_failure(unsigned status, std::string_view server,
                                                std::string_view client);

// Exponential backoff between reconnection attempts: initial, doubling, capped at `max`.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max) noexcept
      : initial_(initial), max_(max < initial ? initial : max), next_(initial) {}
  // The delay to wait now; the following call returns twice as much (up to max).
  std::chrono::milliseconds next() noexcept;
  // After a good connection the next failure is retried quickly again.
  void reset() noexcept { next_ = initial_; }
  [[nodiscard]] std::chrono::milliseconds peek() const noexcept { return next_; }

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  std::chrono::milliseconds next_;
};

}  // namespace jambox::jack
