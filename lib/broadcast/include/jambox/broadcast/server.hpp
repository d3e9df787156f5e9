#pragma once
// jambox-broadcast's engine: W worker threads, each with its own io_context, UDP socket (one
// SO_REUSEPORT group on the listen port, steered by session id with classic BPF) and RoomShard.
//
// Server's own methods belong to one controlling thread (the daemon's main loop); the workers
// never share state with it except through posted room plans, posted JOINs between shards, and
// stats snapshots published under a mutex at the stats interval (never per packet).

#include <jambox/broadcast/config.hpp>
#include <jambox/broadcast/stats.hpp>
#include <jambox/net/endpoint.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace jambox::broadcast {

struct ReloadSummary {
  std::vector<std::string> added;
  std::vector<std::string> removed;
  std::vector<std::string> rekeyed;  // secret changed: closed and reopened, members must rejoin
  std::vector<std::string> kept;
  std::vector<std::string> restart_needed;  // settings that only a restart applies
};

class Server {
 public:
  explicit Server(ServerConfig config);
  ~Server();  // stops when still running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds every worker's socket (all of them before returning), installs the rooms and starts
  // the threads. Throws std::system_error when a socket cannot be bound. When the steering
  // program cannot be attached the server falls back to one worker (and logs why).
  void start();

  // Applies a new configuration: rooms added, removed or re-keyed, member limits, timeouts,
  // stats settings. Untouched rooms keep their members. Waits until every worker has the new
  // rooms. Listen address, worker count and socket buffers need a restart (reported). Throws
  // std::invalid_argument, changing nothing, when a declared room would take the name of a room
  // made on demand.
  ReloadSummary reload(const ServerConfig& config);

  // Rooms made on demand (docs/broadcast-server.md, "Rooms by code"): added and removed while
  // the server runs, and kept as they are by reload(). Waits until every worker has the change.
  // add_room returns false when `room.name` is a room already; remove_room when it is no room
  // made on demand (its members get NOTICE room_closed).
  bool add_room(const RoomConfig& room);
  bool remove_room(const std::string& name);
  // Rooms now: declared and made on demand.
  [[nodiscard]] std::size_t room_count() const noexcept;

  // NOTICE server_stopping to every session, final snapshots, threads joined. Idempotent.
  void stop();

  [[nodiscard]] bool running() const noexcept;
  [[nodiscard]] const ServerConfig& config() const noexcept;
  [[nodiscard]] net::Endpoint local_endpoint() const;
  [[nodiscard]] std::uint32_t workers() const noexcept;
  // Receive buffer the kernel granted (per socket), for the start-up log.
  [[nodiscard]] std::size_t receive_buffer_bytes() const noexcept;

  // The workers' latest published snapshots, merged. After stop(): the final figures.
  [[nodiscard]] Snapshot snapshot() const;

  // True when every worker ran its timer within `max_age` (a stuck worker stops the watchdog).
  [[nodiscard]] bool workers_alive(std::chrono::microseconds max_age) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Worker threads for `configured` (0: one per CPU this process may run on), at most kMaxWorkers.
[[nodiscard]] std::uint32_t resolve_workers(std::uint32_t configured);

}  // namespace jambox::broadcast
