#pragma once
// Statistics of jambox-broadcast: counters kept by each shard on its own thread (plain integers,
// never shared while counting), snapshots published at the stats interval, and their rendering
// as the stats file JSON and the STATUS= line (docs/broadcast-server.md).

#include <jambox/wire/packet.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace jambox::broadcast {

struct Counters {
  std::uint64_t packets_in = 0;  // every datagram received, junk included
  std::uint64_t bytes_in = 0;
  std::uint64_t packets_out = 0;  // every datagram the kernel accepted
  std::uint64_t bytes_out = 0;
  std::uint64_t forwarded = 0;     // audio datagrams queued for other members
  std::uint64_t echoes = 0;        // echo datagrams queued
  std::uint64_t notices = 0;       // notice datagrams queued
  std::uint64_t send_dropped = 0;  // datagrams the kernel did not take (or no buffer was free)
  std::uint64_t joins = 0;         // authenticated JOINs
  std::uint64_t welcomes = 0;      // WELCOMEs sent (a retransmitted JOIN gets its WELCOME again)
  std::uint64_t admitted = 0;      // pending sessions that became members
  std::uint64_t leaves = 0;
  std::uint64_t expired = 0;  // members and pending sessions removed after member_timeout_ms
  std::uint64_t evicted = 0;  // pending sessions pushed out by newer JOINs (pending limit)
  std::uint64_t rebinds = 0;  // authenticated packets from a new source address (NAT rebinding)
  std::uint64_t closed = 0;   // sessions ended by a room being closed (reload)
  std::array<std::uint64_t, wire::kRejectCount> rejected{};  // indexed by wire::Reject

  [[nodiscard]] std::uint64_t rejected_total() const noexcept;
  Counters& operator+=(const Counters& other) noexcept;
};

struct MemberStats {
  std::uint32_t session_id = 0;
  std::string address;
  std::uint64_t packets_in = 0;
  std::uint64_t packets_out = 0;
  std::uint64_t lost = 0;        // sequence numbers never received (late arrivals fill gaps)
  std::uint64_t reordered = 0;   // arrived after a higher sequence number
  std::uint64_t duplicates = 0;  // authentic copies of packets already received
  double jitter_us = 0.0;        // RFC 3550 inter-arrival jitter
  std::uint32_t rtt_us = 0;      // latest round trip server -> box -> server, 0 before any
  std::uint64_t idle_ms = 0;
  double age_s = 0.0;  // since admission
};

struct RoomStats {
  std::string name;
  bool on_demand = false;  // made by a create_room request (named by its code)
  std::uint32_t shard = 0;
  std::uint32_t member_count = 0;
  std::uint32_t max_members = 0;
  std::uint32_t pending = 0;
  std::uint64_t packets_in = 0;  // authenticated packets from members
  std::uint64_t forwarded = 0;
  std::uint64_t echoes = 0;
  std::uint64_t joins = 0;  // authenticated JOINs for this room
  std::uint64_t admitted = 0;
  std::uint64_t refused_full = 0;
  std::vector<MemberStats> members;
};

struct ShardStats {
  std::uint32_t index = 0;
  std::uint64_t taken_us = 0;  // monotonic time of the snapshot
  Counters counters;
  std::uint32_t members = 0;
  std::uint32_t pending = 0;
  std::vector<RoomStats> rooms;
};

struct Snapshot {
  std::string listen;      // as configured
  std::uint16_t port = 0;  // as bound
  std::uint32_t workers = 0;
  std::int64_t pid = 0;
  double uptime_s = 0.0;
  std::uint32_t rooms_configured = 0;  // every room served, those made on demand included
  std::uint32_t rooms_on_demand = 0;
  std::uint32_t members = 0;
  std::uint32_t pending = 0;
  Counters totals;
  std::vector<RoomStats> rooms;  // sorted by name
  struct Shard {
    std::uint32_t index = 0;
    std::uint32_t rooms = 0;
    std::uint32_t members = 0;
    std::uint64_t packets_in = 0;
    std::uint64_t packets_out = 0;
    std::uint64_t heartbeat_age_ms = 0;
  };
  std::vector<Shard> shards;
};

// Merges shard snapshots into one (rooms sorted by name).
[[nodiscard]] Snapshot aggregate(const std::vector<ShardStats>& shards);

// The stats file: one JSON object, keys as documented in docs/broadcast-server.md.
[[nodiscard]] std::string to_json(const Snapshot& snapshot);

// "rooms 3, members 7, in 5250 pkt/s, out 31500 pkt/s, rejected 0/s, rtt p50 0.2 ms"; rates are
// over the time between `previous` and `current` (uptime_s), zero when there is none.
[[nodiscard]] std::string status_line(const Snapshot& current, const Snapshot& previous);

// Median of the members' latest round trips in microseconds, 0 when no member measured one.
[[nodiscard]] std::uint32_t rtt_p50_us(const Snapshot& snapshot);

}  // namespace jambox::broadcast
