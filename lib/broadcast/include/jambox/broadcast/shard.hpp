#pragma once
// The socket-free core of jambox-broadcast: one shard's rooms, sessions and forwarding.
//
// A RoomShard is driven by exactly one thread. It takes datagrams with their source and arrival
// time and puts what it answers into a Sink, so it can be tested (and its allocations counted)
// without sockets. In the server each worker thread owns one shard and one UDP socket of the
// SO_REUSEPORT group; the kernel steers a session's packets to the shard that owns its room
// (session_id % shards == shard index), so nothing on the packet path is shared or locked.
//
// Steady-state forwarding of an audio packet performs no heap allocation: the session table is a
// hash map reserved for the room limits and only searched, and every output buffer is the Sink's.

#include <jambox/broadcast/stats.hpp>
#include <jambox/net/endpoint.hpp>
#include <jambox/wire/session.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace jambox::broadcast {

// Where a shard puts outgoing datagrams.
class Sink {
 public:
  virtual ~Sink() = default;
  // Room for the next datagram: at least wire::kMaxDatagram bytes, or empty when nothing can be
  // queued right now (the datagram is then dropped and counted as send_dropped).
  virtual std::span<std::uint8_t> prepare() = 0;
  // Queues the first `size` bytes of the span prepare() returned, for `to`.
  virtual void commit(std::size_t size, const net::Endpoint& to) = 0;
};

// An authenticated JOIN on its way from the shard that received it to the shard owning the room.
struct JoinRequest {
  wire::JoinBody body;
  net::Endpoint from;
  std::uint64_t box_time_us = 0;  // the JOIN's time_us, echoed in the WELCOME
  std::uint64_t arrival_us = 0;
  std::uint64_t generation = 0;  // of the room instance the JOIN was authenticated for
  // A ticket's JOIN: the ticket's secret it was authenticated with (derived once, at receipt).
  std::array<char, wire::kTicketSecretLength> ticket_secret{};
};

// Hands a JOIN to another shard (the server posts it to that shard's thread).
class JoinRouter {
 public:
  virtual ~JoinRouter() = default;
  virtual void route(std::uint32_t shard, const JoinRequest& request) = 0;
};

// The rooms of the whole server, as every shard must know them (any shard may receive a JOIN).
// A room instance is identified by its generation: a room whose secret changed gets a new one.
struct PlannedRoom {
  std::string name;
  std::string secret;
  std::uint32_t max_members = 16;
  std::uint32_t shard = 0;  // owner
  std::uint64_t generation = 0;
};

struct RoomPlan {
  std::vector<PlannedRoom> rooms;
  std::uint32_t member_timeout_ms = 1000;
};

class RoomShard {
 public:
  // `router` may be null when shard_count is 1.
  RoomShard(std::uint32_t index, std::uint32_t shard_count, JoinRouter* router = nullptr);
  ~RoomShard();
  RoomShard(const RoomShard&) = delete;
  RoomShard& operator=(const RoomShard&) = delete;

  [[nodiscard]] std::uint32_t index() const noexcept;

  // Installs a room plan (start-up and reload). Rooms of this shard that are gone, or whose
  // generation changed, are closed: their sessions get NOTICE room_closed. Kept rooms keep
  // every session and take the new member limit. Allocates; not for the packet path.
  void apply(const RoomPlan& plan, std::uint64_t now_us, Sink& out);

  // One datagram from `from`, received at `now_us` (monotonic). Anything malformed,
  // unauthenticated or unexpected is dropped and counted by reason.
  void handle(std::span<const std::uint8_t> datagram, const net::Endpoint& from,
              std::uint64_t now_us, Sink& out);

  // An authenticated JOIN for a room this shard owns (possibly received by another shard).
  void handle_join(const JoinRequest& request, std::uint64_t now_us, Sink& out);

  // Removes members and pending sessions silent for member_timeout_ms.
  void expire(std::uint64_t now_us);

  // NOTICE server_stopping to every session, then forgets them all.
  void stop(std::uint64_t now_us, Sink& out);

  // What the socket layer did with the queued datagrams.
  void note_sent(std::size_t datagrams, std::size_t bytes, std::size_t dropped) noexcept;

  [[nodiscard]] const Counters& counters() const noexcept;

  [[nodiscard]] std::size_t room_count() const noexcept;     // rooms owned
  [[nodiscard]] std::size_t member_count() const noexcept;   // members of owned rooms
  [[nodiscard]] std::size_t pending_count() const noexcept;  // pending sessions of owned rooms

  // Counters plus per-room and per-member figures. Allocates: call at the stats interval.
  [[nodiscard]] ShardStats snapshot(std::uint64_t now_us) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace jambox::broadcast
