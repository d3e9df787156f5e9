#pragma once
// Hostile traffic for the load generator: what a server on the internet receives besides its
// members' audio. Every kind must be refused by the server without touching any member.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace jambox::loadgen {

enum class JunkKind : std::uint8_t {
  random_bytes,     // noise of random length
  truncated,        // a real packet cut short
  bad_magic,        // a real packet with another magic
  bad_version,      // a real packet claiming another protocol version
  unknown_session,  // a well-formed header for a session that does not exist
  spoofed,          // a real member's session id and a fresh sequence, wrong tag, other port
  replayed,         // an exact copy of a member's recent packet, from another port
  bad_join,         // a JOIN for a hosted room, authenticated with a wrong secret
  count_
};
inline constexpr std::size_t kJunkKinds = static_cast<std::size_t>(JunkKind::count_);
[[nodiscard]] std::string_view junk_name(JunkKind kind) noexcept;

class JunkGenerator {
 public:
  // `members`: session ids of the admitted jammers (spoofing targets, never used as "unknown");
  // `bad_joins`: JOIN datagrams sealed with wrong secrets (built once at setup).
  JunkGenerator(std::uint64_t seed, std::vector<std::uint32_t> members,
                std::vector<std::vector<std::uint8_t>> bad_joins);

  // Builds one datagram of `kind` into `out` (at least kMaxDatagram bytes) and returns its size.
  // `captured` is a recent legitimate packet (may be empty before one was captured: the kinds
  // that need one then forge a well-formed header for a real member instead). No allocation.
  std::size_t make(JunkKind kind, std::span<const std::uint8_t> captured,
                   std::span<std::uint8_t> out) noexcept;

 private:
  std::uint64_t next() noexcept;
  void fill_random(std::span<std::uint8_t> out) noexcept;
  std::size_t forge(std::uint32_t session_id, std::span<std::uint8_t> out) noexcept;
  [[nodiscard]] bool is_member(std::uint32_t session_id) const noexcept;

  std::uint64_t state_;
  std::vector<std::uint32_t> members_;  // sorted
  std::vector<std::vector<std::uint8_t>> bad_joins_;
};

}  // namespace jambox::loadgen
