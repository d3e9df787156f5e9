#include "jambox/jacktest/server_registry.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iterator>

namespace jambox::jacktest {
namespace {

constexpr std::uint32_t kMagic = 0x4a41434b;  // 'JACK'
constexpr std::size_t kHeaderSize = 24;
constexpr std::size_t kEntrySize = 264;
constexpr std::size_t kPrefixSize = 257;
constexpr std::size_t kHeaderLengthOffset = 16;

std::uint32_t read_u32(std::span<const std::uint8_t> bytes, std::size_t offset) {
  std::uint32_t value = 0;
  std::memcpy(&value, bytes.data() + offset, sizeof value);
  return value;
}

std::optional<int> first_number(const std::string& name) {
  std::size_t start = 0;
  while (start <= name.size()) {
    const std::size_t end = std::min(name.find('-', start), name.size());
    const std::string_view part(name.data() + start, end - start);
    int value = 0;
    const auto [ptr, error] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (!part.empty() && error == std::errc() && ptr == part.data() + part.size() && value > 0) {
      return value;
    }
    start = end + 1;
  }
  return std::nullopt;
}

bool process_exists(int pid) {
  return ::kill(pid, 0) == 0 || errno == EPERM;
}

}  // namespace

std::optional<std::vector<RegisteredServer>> parse_server_registry(
    std::span<const std::uint8_t> bytes) {
  const std::size_t table_end = kHeaderSize + kMaxJackServers * kEntrySize;
  if (bytes.size() < table_end || read_u32(bytes, 0) != kMagic ||
      read_u32(bytes, kHeaderLengthOffset) != table_end) {
    return std::nullopt;
  }
  std::vector<RegisteredServer> servers;
  for (std::size_t i = 0; i < kMaxJackServers; ++i) {
    const std::size_t offset = kHeaderSize + i * kEntrySize;
    const auto pid = static_cast<int>(read_u32(bytes, offset));
    if (pid == 0) continue;
    const char* prefix =
        reinterpret_cast<const char*>(bytes.data() + offset + sizeof(std::uint32_t));
    const std::string text(prefix, strnlen(prefix, kPrefixSize));
    // "jack-<uid>:<name>:"
    const std::size_t colon = text.find(':');
    if (text.rfind("jack-", 0) != 0 || colon == std::string::npos || text.back() != ':' ||
        colon + 1 >= text.size()) {
      return std::nullopt;
    }
    RegisteredServer server;
    server.pid = pid;
    const std::string uid = text.substr(5, colon - 5);
    std::from_chars(uid.data(), uid.data() + uid.size(), server.uid);
    server.name = text.substr(colon + 1, text.size() - colon - 2);
    server.owner_pid = first_number(server.name);
    servers.push_back(std::move(server));
  }
  return servers;
}

std::optional<std::vector<RegisteredServer>> read_server_registry(
    const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return std::vector<RegisteredServer>{};
  const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(file)),
                                        std::istreambuf_iterator<char>());
  return parse_server_registry(bytes);
}

bool is_stale(const RegisteredServer& server) {
  if (process_exists(server.pid)) return false;
  return !server.owner_pid || !process_exists(*server.owner_pid);
}

}  // namespace jambox::jacktest
