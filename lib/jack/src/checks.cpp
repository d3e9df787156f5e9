#include "jambox/jack/checks.hpp"

#include <fmt/format.h>
#include <jack/types.h>

#include <string>
#include <vector>

namespace jambox::jack {

std::string effective_server_name(std::string_view configured, const char* env) {
  if (!configured.empty()) return std::string(configured);
  if (env != nullptr && *env != '\0') return env;
  return "default";
}

std::optional<std::string> check_sample_rate(std::uint32_t rate, std::string_view server,
                                             std::string_view client) {
  if (rate == kSampleRate) return std::nullopt;
  return fmt::format(
      "JACK server '{}' runs at {} Hz, but {} needs {} Hz (the jam packet's rate): restart jackd "
      "with '-r {}' after the driver, e.g. 'jackd -d alsa -r {} -p {}'",
      server, rate, client, kSampleRate, kSampleRate, kSampleRate, kDefaultPeriod);
}

std::optional<std::string> check_period(std::uint32_t period, std::string_view server,
                                        std::string_view client) {
  if (period >= kMinPeriod && period <= kMaxPeriod) return std::nullopt;
  return fmt::format(
      "JACK server '{}' uses periods of {} frames, but {} works with {}..{} frames ({} "
      "recommended): change it with 'jack_bufsize {}' or restart jackd with '-p {}'",
      server, period, client, kMinPeriod, kMaxPeriod, kDefaultPeriod, kDefaultPeriod,
      kDefaultPeriod);
}

double period_ms(std::uint32_t period, std::uint32_t rate) noexcept {
  if (rate == 0) return 0.0;
  return 1000.0 * static_cast<double>(period) / static_cast<double>(rate);
}

OpenFailure describe_open_failure(unsigned status, std::string_view server,
                                  std::string_view client) {
  const auto has = [status](JackStatus bit) { return (status & static_cast<unsigned>(bit)) != 0; };
  if (has(JackNameNotUnique)) {
    return {ErrorKind::name_taken,
            fmt::format("a JACK client named '{}' already exists on server '{}' (is another {} "
                        "running?)",
                        client, server, client)};
  }
  if (has(JackVersionError)) {
    return {ErrorKind::setup_failed,
            fmt::format("JACK server '{}' speaks another protocol version than this libjack: "
                        "install matching jackd2 and libjack-jackd2 packages",
                        server)};
  }
  if (has(JackShmFailure)) {
    return {ErrorKind::setup_failed,
            fmt::format("cannot use the shared memory of JACK server '{}' (does jackd run as "
                        "another user?)",
                        server)};
  }
  if (has(JackServerFailed)) {
    return {ErrorKind::server_unavailable,
            fmt::format("JACK server '{}' is not running (or not reachable by this user)", server)};
  }
  if (has(JackServerError)) {
    // jackd2 answers a duplicate exact name with a bare JackServerError (it does not set
    // JackNameNotUnique), so this is by far the likeliest cause.
    return {ErrorKind::name_taken,
            fmt::format("JACK server '{}' refused the client '{}': most likely a client of that "
                        "name already exists (is another {} running? see 'jack_lsp -s {}')",
                        server, client, client, server)};
  }
  std::vector<std::string> reasons;
  if (has(JackInvalidOption)) reasons.emplace_back("invalid option");
  if (has(JackInitFailure)) reasons.emplace_back("client initialisation failed");
  if (has(JackLoadFailure)) reasons.emplace_back("internal client load failed");
  if (has(JackNoSuchClient)) reasons.emplace_back("no such client");
  if (has(JackClientZombie)) reasons.emplace_back("client was removed by the server");
  if (has(JackBackendError)) reasons.emplace_back("backend error");
  if (reasons.empty()) reasons.emplace_back(fmt::format("status 0x{:x}", status));
  return {ErrorKind::setup_failed, fmt::format("cannot open JACK client '{}' on server '{}': {}",
                                               client, server, fmt::join(reasons, ", "))};
}

std::chrono::milliseconds Backoff::next() noexcept {
  const auto now = next_;
  next_ = (next_ > max_ / 2) ? max_ : next_ * 2;
  return now;
}

}  // namespace jambox::jack
