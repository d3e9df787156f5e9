#pragma once
// The box's TLS identity, checked at start-up before any connection is tried: a box with a
// wrong or unusable certificate must say exactly what is wrong (and exit 78), not fail later
// with an opaque TLS alert.

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace jambox::control {

struct TlsFiles {
  std::filesystem::path ca;    // the CA that signed the broker's certificate (and ours)
  std::filesystem::path cert;  // our certificate, CN = player key
  std::filesystem::path key;   // its private key: mode 0600 or 0400
};

// What is wrong with the identity; the message names the file and the problem.
class IdentityError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Identity {
  std::string common_name;
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;
  // False when the system clock reads earlier than this program was built: a Pi without a
  // real-time clock before NTP has synchronised. Expiry cannot be judged then.
  bool clock_plausible = true;

  // Whole days until not_after (negative once expired), judged at `now`.
  [[nodiscard]] long days_left(std::chrono::system_clock::time_point now) const;
};

// Reads and checks the three files: readable, the key not readable by group or others, the key
// belongs to the certificate, the certificate was issued by the CA, its CN equals
// `expected_cn`, and (when the clock is plausible) it is valid at `now`. Throws IdentityError.
[[nodiscard]] Identity check_identity(const TlsFiles& files, const std::string& expected_cn,
                                      std::chrono::system_clock::time_point now);

// The configuration key (ca_file, cert_file or key_file) naming the file an IdentityError is about.
[[nodiscard]] const char* identity_file_key(const IdentityError& error) noexcept;

// A broker URI as Paho takes it: ssl:// and mqtts:// without a port get 8883 (mqtts:// becomes
// ssl://), wss:// and tcp:// are kept. Returns an empty string and sets `problem` when the URI is
// none of ssl://HOST[:PORT], mqtts://, wss://HOST[:PORT]/PATH or tcp://HOST:PORT.
[[nodiscard]] std::string normalize_broker_uri(std::string uri, std::string& problem);

// The earliest time this build accepts as a real clock reading.
[[nodiscard]] std::chrono::system_clock::time_point earliest_plausible_time();

}  // namespace jambox::control
