#pragma once
// JACK's machine-wide server registry (/dev/shm/jack-shm-registry): at most 8 servers. jackd
// frees its slot when it exits cleanly; a jackd that was killed keeps the slot until a server
// of the same name starts again, so killed test servers can lock every later jackd out
// ("Too many servers already active"). This reads the registry so those slots can be found and
// given back (reclaim_stale_servers() in jack_server.hpp).

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace jambox::jacktest {

struct RegisteredServer {
  int pid = 0;                   // the jackd that registered
  unsigned uid = 0;              // whose server it is
  std::string name;              // the server name given to `jackd -n`
  std::optional<int> owner_pid;  // the first all-digit part of the name ("jbx-<pid>-...")
};

inline constexpr std::size_t kMaxJackServers = 8;

// Parses the registry bytes (jackd2's layout: a 24-byte header, then 8 entries of a 4-byte pid
// and a 257-byte "jack-<uid>:<name>:" prefix, padded to 264 bytes). Returns the occupied
// entries; nullopt when the bytes do not have that layout (another JACK version).
[[nodiscard]] std::optional<std::vector<RegisteredServer>> parse_server_registry(
    std::span<const std::uint8_t> bytes);

// Reads /dev/shm/jack-shm-registry (or `path`); an absent file is an empty registry.
[[nodiscard]] std::optional<std::vector<RegisteredServer>> read_server_registry(
    const std::filesystem::path& path = "/dev/shm/jack-shm-registry");

// True when the server's jackd is gone and so is the process named in the server's name (a
// test or script that might still restart a server it killed on purpose).
[[nodiscard]] bool is_stale(const RegisteredServer& server);

}  // namespace jambox::jacktest
