#include <jambox/broadcast/server.hpp>
#include <jambox/broadcast/shard.hpp>
#include <jambox/log/log.hpp>
#include <jambox/net/udp_socket.hpp>
#include <jambox/system/process.hpp>
#include <jambox/system/thread.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace jambox::broadcast {
namespace {

constexpr std::size_t kReceiveBatch = 64;
// Flushed when full: small enough that the first forwards of a batch do not wait long.
constexpr std::size_t kSendBatch = 64;
// Receive rounds per wake-up before the worker lets its timers run (fairness under floods).
constexpr int kRoundsPerWakeup = 16;
constexpr auto kTick = std::chrono::milliseconds(50);
// Offset of the session id in the jam packet: the steering program's input.
constexpr std::uint32_t kSessionIdOffset = 12;

using Clock = std::chrono::steady_clock;

std::uint64_t now_us() noexcept {
  return system::monotonic_us();
}

class Worker;

// A Sink over the worker's SendBatch that flushes to the socket whenever the batch is full.
class WorkerSink final : public Sink {
 public:
  explicit WorkerSink(Worker& worker) : worker_(worker) {}
  std::span<std::uint8_t> prepare() override;
  void commit(std::size_t size, const net::Endpoint& to) override;

 private:
  Worker& worker_;
};

class Worker {
 public:
  Worker(std::uint32_t index, std::uint32_t count, JoinRouter* router)
      : index_(index),
        io_(1),
        socket_(io_),
        shard_(index, count, router),
        rx_(kReceiveBatch, wire::kMaxDatagram + 1),
        tx_(kSendBatch, wire::kMaxDatagram),
        sink_(*this),
        tick_(io_),
        guard_(boost::asio::make_work_guard(io_)) {}

  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  ~Worker() { join(); }

  net::UdpSocket& socket() noexcept { return socket_; }
  RoomShard& shard() noexcept { return shard_; }
  boost::asio::io_context& io() noexcept { return io_; }

  // Before the thread starts (or on it).
  void apply(const RoomPlan& plan, std::uint32_t stats_interval_ms) {
    publish_interval_us_ = std::uint64_t{stats_interval_ms} * 1000;
    const std::uint64_t now = now_us();
    shard_.apply(plan, now, sink_);
    flush();
    publish(now);
  }

  // `realtime_priority` 0 keeps normal scheduling.
  void start(std::uint32_t realtime_priority) {
    heartbeat_us_.store(now_us(), std::memory_order_relaxed);
    arm_receive();
    arm_tick();
    thread_ = std::thread([this, realtime_priority] { run(realtime_priority); });
  }

  // Thread-safe: applies the plan on the worker's thread; `done` is set once it is in place.
  void post_plan(std::shared_ptr<const RoomPlan> plan, std::uint32_t stats_interval_ms,
                 std::shared_ptr<std::promise<void>> done) {
    boost::asio::post(io_, [this, plan = std::move(plan), stats_interval_ms, done] {
      try {
        apply(*plan, stats_interval_ms);
      } catch (const std::exception& e) {
        log::error("worker {}: applying the room plan failed: {}", index_, e.what());
      }
      done->set_value();
    });
  }

  // Thread-safe: an authenticated JOIN for a room this worker owns.
  void post_join(const JoinRequest& request) {
    boost::asio::post(io_, [this, request] {
      guarded([&] { shard_.handle_join(request, now_us(), sink_); });
      flush();
    });
  }

  // Thread-safe: notices to every session, final snapshot, then the thread ends.
  void post_stop() {
    boost::asio::post(io_, [this] {
      const std::uint64_t now = now_us();
      // cancel() cannot recall a tick or readiness handler that is already queued; the flag
      // keeps such a handler from re-arming.
      stopping_ = true;
      guarded([&] { shard_.stop(now, sink_); });
      flush();
      publish(now);
      tick_.cancel();
      socket_.close();
      guard_.reset();
    });
  }

  void join() {
    if (thread_.joinable()) thread_.join();
  }

  [[nodiscard]] ShardStats published() const {
    const std::lock_guard lock(mutex_);
    return published_;
  }

  [[nodiscard]] std::uint64_t heartbeat_us() const noexcept {
    return heartbeat_us_.load(std::memory_order_relaxed);
  }

  // Called by WorkerSink.
  std::span<std::uint8_t> prepare_output() {
    if (tx_.full()) flush();
    return tx_.prepare();
  }
  void commit_output(std::size_t size, const net::Endpoint& to) { (void)tx_.commit(size, to); }

 private:
  void run(std::uint32_t realtime_priority) {
    const std::string name = "jb-worker-" + std::to_string(index_);
    ::pthread_setname_np(::pthread_self(), name.c_str());
    if (realtime_priority > 0) {
      const std::error_code ec = system::make_thread_realtime(static_cast<int>(realtime_priority));
      // Every worker meets the same limit: one line says it for all of them.
      if (ec && index_ == 0) {
        log::warning(
            "workers run with normal scheduling: SCHED_FIFO priority {} refused ({}); start "
            "the server with CPUSchedulingPolicy=fifo or LimitRTPRIO={}, or set "
            "server.realtime_priority = 0",
            realtime_priority, ec.message(), realtime_priority);
      }
    }
    try {
      io_.run();
    } catch (const std::exception& e) {
      // Nothing on the worker's paths is meant to throw this far; a dead worker stops its
      // heartbeat, which stops the watchdog, which makes systemd restart the service.
      log::error("worker {} stopped: {}", index_, e.what());
    }
  }

  template <typename F>
  void guarded(F&& f) noexcept {
    try {
      f();
    } catch (const std::exception& e) {
      // Only an OpenSSL internal failure or memory exhaustion gets here (join path).
      const std::uint64_t now = now_us();
      if (now - last_error_log_us_ > 1'000'000) {
        last_error_log_us_ = now;
        log::error("worker {}: {}", index_, e.what());
      }
    }
  }

  void flush() {
    if (tx_.empty()) return;
    const net::SendResult r = socket_.send(tx_);
    shard_.note_sent(r.sent, r.bytes, r.dropped);
  }

  void publish(std::uint64_t now) {
    ShardStats stats = shard_.snapshot(now);
    const std::lock_guard lock(mutex_);
    published_ = std::move(stats);
    next_publish_us_ = now + publish_interval_us_;
  }

  void arm_receive() {
    socket_.async_wait_readable([this](const boost::system::error_code& ec) {
      if (ec || stopping_) return;  // closed at stop
      on_readable();
      arm_receive();
    });
  }

  void on_readable() {
    for (int round = 0; round < kRoundsPerWakeup; ++round) {
      std::error_code ec;
      const std::size_t n = socket_.receive(rx_, ec);
      if (n == 0) break;
      const std::uint64_t now = now_us();
      for (std::size_t i = 0; i < n; ++i) {
        guarded([&] { shard_.handle(rx_.data(i), rx_.source(i), now, sink_); });
      }
      flush();
      if (n < rx_.capacity()) break;
    }
  }

  void arm_tick() {
    tick_.expires_after(kTick);
    tick_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || stopping_) return;
      const std::uint64_t now = now_us();
      heartbeat_us_.store(now, std::memory_order_relaxed);
      shard_.expire(now);
      if (now >= next_publish_us_) publish(now);
      flush();
      arm_tick();
    });
  }

  std::uint32_t index_;
  boost::asio::io_context io_;
  net::UdpSocket socket_;
  RoomShard shard_;
  net::ReceiveBatch rx_;
  net::SendBatch tx_;
  WorkerSink sink_;
  boost::asio::steady_timer tick_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::thread thread_;
  std::atomic<std::uint64_t> heartbeat_us_{0};
  std::uint64_t publish_interval_us_ = 1'000'000;
  std::uint64_t next_publish_us_ = 0;
  std::uint64_t last_error_log_us_ = 0;
  bool stopping_ = false;  // only touched on the worker's thread
  mutable std::mutex mutex_;
  ShardStats published_;
};

std::span<std::uint8_t> WorkerSink::prepare() {
  return worker_.prepare_output();
}

void WorkerSink::commit(std::size_t size, const net::Endpoint& to) {
  worker_.commit_output(size, to);
}

struct RoomState {
  std::string secret;
  std::uint32_t max_members = 0;
  std::uint32_t shard = 0;
  std::uint64_t generation = 0;
};

}  // namespace

std::uint32_t resolve_workers(std::uint32_t configured) {
  if (configured != 0) return std::min(configured, kMaxWorkers);
  cpu_set_t set;
  CPU_ZERO(&set);
  long cpus = 0;
  if (::sched_getaffinity(0, sizeof set, &set) == 0) cpus = CPU_COUNT(&set);
  if (cpus <= 0) cpus = static_cast<long>(std::thread::hardware_concurrency());
  return static_cast<std::uint32_t>(std::clamp<long>(cpus, 1, kMaxWorkers));
}

struct Server::Impl final : JoinRouter {
  explicit Impl(ServerConfig c) : config(std::move(c)) {}

  ServerConfig config;
  std::vector<std::unique_ptr<Worker>> workers;
  std::map<std::string, RoomState> rooms;
  std::map<std::string, RoomConfig> on_demand;  // rooms made on demand, by name
  std::uint64_t next_generation = 1;
  net::Endpoint local;
  std::size_t receive_buffer = 0;
  Clock::time_point started_at;
  bool running = false;
  bool stopped = false;

  void route(std::uint32_t shard, const JoinRequest& request) override {
    // workers never changes while threads run, so reading it from any worker is safe.
    if (shard < workers.size()) workers[shard]->post_join(request);
  }

  net::SocketOptions socket_options(bool reuse_port) const {
    net::SocketOptions options;
    options.receive_buffer_bytes = std::size_t{config.socket_buffer_kb} * 1024;
    options.send_buffer_bytes = std::size_t{config.socket_buffer_kb} * 1024;
    options.reuse_port = reuse_port;
    return options;
  }

  void make_workers(std::uint32_t count) {
    workers.clear();
    for (std::uint32_t i = 0; i < count; ++i) {
      workers.push_back(std::make_unique<Worker>(i, count, count > 1 ? this : nullptr));
    }
  }

  void bind_single() {
    make_workers(1);
    workers[0]->socket().bind(config.listen, socket_options(false));
  }

  // Binds W sockets of one SO_REUSEPORT group, in worker order. Returns false (sockets closed)
  // when the steering program cannot be attached.
  bool bind_group(std::uint32_t count) {
    // An exclusive probe first: a group would silently share the port with any other process
    // of the same user that also uses SO_REUSEPORT, and splitting traffic with a stranger is
    // worse than failing. The probe also resolves port 0 to the port the group will share.
    net::Endpoint endpoint = config.listen;
    {
      boost::asio::io_context probe_io;
      net::UdpSocket probe(probe_io);
      probe.bind(endpoint, socket_options(false));
      endpoint = probe.local_endpoint();
    }
    make_workers(count);
    for (auto& worker : workers) worker->socket().bind(endpoint, socket_options(true));
    const std::error_code ec =
        workers[0]->socket().attach_reuseport_modulo(kSessionIdOffset, count);
    if (!ec) return true;
    log::warning(
        "cannot attach the SO_REUSEPORT steering program ({}); running with 1 worker "
        "instead of {}",
        ec.message(), count);
    workers.clear();
    return false;
  }

  // The rooms to serve: the declared ones and those made on demand.
  std::vector<RoomConfig> all_rooms(const ServerConfig& next) const {
    std::vector<RoomConfig> all = next.rooms;
    for (const auto& [name, room] : on_demand) all.push_back(room);
    return all;
  }

  std::shared_ptr<const RoomPlan> plan_rooms(const ServerConfig& next, ReloadSummary* summary) {
    const auto shard_count = static_cast<std::uint32_t>(workers.size());
    std::map<std::string, RoomState> planned;
    std::vector<std::uint32_t> load(shard_count, 0);
    const std::vector<RoomConfig> wanted = all_rooms(next);
    // The reload summary is about the configuration file; rooms made on demand stay untouched.
    const auto declared = [&](const std::string& name) { return on_demand.count(name) == 0; };
    ReloadSummary ignored;
    if (summary == nullptr) summary = &ignored;
    // Rooms that exist keep their shard (and, with the same secret, their members).
    for (const RoomConfig& room : wanted) {
      const auto it = rooms.find(room.name);
      if (it == rooms.end()) continue;
      RoomState state = it->second;
      state.max_members = room.max_members;
      if (state.secret != room.secret) {
        state.secret = room.secret;
        state.generation = next_generation++;
        if (declared(room.name)) summary->rekeyed.push_back(room.name);
      } else if (declared(room.name)) {
        summary->kept.push_back(room.name);
      }
      ++load[state.shard];
      planned.emplace(room.name, std::move(state));
    }
    // New rooms go to the shard with the fewest rooms.
    for (const RoomConfig& room : wanted) {
      if (planned.count(room.name) != 0) continue;
      const auto least =
          static_cast<std::uint32_t>(std::min_element(load.begin(), load.end()) - load.begin());
      ++load[least];
      planned.emplace(room.name,
                      RoomState{room.secret, room.max_members, least, next_generation++});
      if (declared(room.name)) summary->added.push_back(room.name);
    }
    for (const auto& [name, state] : rooms) {
      if (planned.count(name) == 0) summary->removed.push_back(name);
    }
    rooms = std::move(planned);

    auto plan = std::make_shared<RoomPlan>();
    plan->member_timeout_ms = next.member_timeout_ms;
    for (const auto& [name, state] : rooms) {
      plan->rooms.push_back({name, state.secret, state.max_members, state.shard, state.generation});
    }
    return plan;
  }

  // Hands `plan` to every worker and waits until each has it in place.
  void post_plan(const std::shared_ptr<const RoomPlan>& plan) {
    std::vector<std::future<void>> done;
    for (auto& worker : workers) {
      auto promise = std::make_shared<std::promise<void>>();
      done.push_back(promise->get_future());
      worker->post_plan(plan, config.stats_interval_ms, promise);
    }
    for (auto& f : done) {
      if (f.wait_for(std::chrono::seconds(2)) != std::future_status::ready) {
        log::warning("a worker took more than 2 s to apply the new rooms");
      }
    }
  }

  void apply_rooms() {
    const auto plan = plan_rooms(config, nullptr);
    if (running) post_plan(plan);
  }
};

Server::Server(ServerConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}

Server::~Server() {
  stop();
}

void Server::start() {
  Impl& s = *impl_;
  if (s.running || s.stopped) return;
  const std::uint32_t wanted = resolve_workers(s.config.workers);
  if (wanted <= 1 || !s.bind_group(wanted)) s.bind_single();
  s.local = s.workers[0]->socket().local_endpoint();
  s.receive_buffer = s.workers[0]->socket().receive_buffer_size();

  const auto plan = s.plan_rooms(s.config, nullptr);
  for (auto& worker : s.workers) worker->apply(*plan, s.config.stats_interval_ms);
  s.started_at = Clock::now();
  for (auto& worker : s.workers) worker->start(s.config.realtime_priority);
  s.running = true;
}

ReloadSummary Server::reload(const ServerConfig& next) {
  Impl& s = *impl_;
  ReloadSummary summary;
  const ServerConfig& current = s.config;
  if (next.listen != current.listen) summary.restart_needed.push_back("server.listen");
  if (resolve_workers(next.workers) != resolve_workers(current.workers)) {
    summary.restart_needed.push_back("server.workers");
  }
  if (next.socket_buffer_kb != current.socket_buffer_kb) {
    summary.restart_needed.push_back("server.socket_buffer_kb");
  }
  if (next.realtime_priority != current.realtime_priority) {
    summary.restart_needed.push_back("server.realtime_priority");
  }
  ServerConfig applied = next;
  applied.listen = current.listen;
  applied.listen_text = current.listen_text;
  applied.workers = current.workers;
  applied.socket_buffer_kb = current.socket_buffer_kb;
  applied.realtime_priority = current.realtime_priority;

  // A code never shadows a declared room, and a room made on demand outlives a reload: a
  // declared room may not take its name while it exists.
  for (const RoomConfig& room : next.rooms) {
    if (s.on_demand.count(room.name) != 0) {
      throw std::invalid_argument(
          room.origin + ": room '" + room.name +
          "' is the code of a room made on demand; choose another name or reload once that "
          "room has expired");
    }
  }

  const auto plan = s.plan_rooms(applied, &summary);
  s.config = std::move(applied);
  if (!s.running) return summary;
  s.post_plan(plan);
  return summary;
}

bool Server::add_room(const RoomConfig& room) {
  Impl& s = *impl_;
  if (s.rooms.count(room.name) != 0 || s.on_demand.count(room.name) != 0) return false;
  s.on_demand.emplace(room.name, room);
  s.apply_rooms();
  return true;
}

bool Server::remove_room(const std::string& name) {
  Impl& s = *impl_;
  if (s.on_demand.erase(name) == 0) return false;
  s.apply_rooms();
  return true;
}

std::size_t Server::room_count() const noexcept {
  return impl_->rooms.size();
}

void Server::stop() {
  Impl& s = *impl_;
  if (!s.running) return;
  for (auto& worker : s.workers) worker->post_stop();
  for (auto& worker : s.workers) worker->join();
  s.running = false;
  s.stopped = true;
}

bool Server::running() const noexcept {
  return impl_->running;
}

const ServerConfig& Server::config() const noexcept {
  return impl_->config;
}

net::Endpoint Server::local_endpoint() const {
  return impl_->local;
}

std::uint32_t Server::workers() const noexcept {
  return static_cast<std::uint32_t>(impl_->workers.size());
}

std::size_t Server::receive_buffer_bytes() const noexcept {
  return impl_->receive_buffer;
}

Snapshot Server::snapshot() const {
  const Impl& s = *impl_;
  std::vector<ShardStats> shards;
  shards.reserve(s.workers.size());
  for (const auto& worker : s.workers) shards.push_back(worker->published());
  Snapshot out = aggregate(shards);
  const std::uint64_t now = now_us();
  for (std::size_t i = 0; i < out.shards.size() && i < s.workers.size(); ++i) {
    const std::uint64_t beat = s.workers[i]->heartbeat_us();
    out.shards[i].heartbeat_age_ms = now > beat ? (now - beat) / 1000 : 0;
  }
  out.listen = s.config.listen_text;
  out.port = s.local.port();
  out.pid = static_cast<std::int64_t>(::getpid());
  out.uptime_s = s.running || s.stopped
                     ? std::chrono::duration<double>(Clock::now() - s.started_at).count()
                     : 0.0;
  out.rooms_configured = static_cast<std::uint32_t>(s.rooms.size());
  out.rooms_on_demand = static_cast<std::uint32_t>(s.on_demand.size());
  for (RoomStats& room : out.rooms) room.on_demand = s.on_demand.count(room.name) != 0;
  return out;
}

bool Server::workers_alive(std::chrono::microseconds max_age) const {
  const std::uint64_t now = now_us();
  const auto limit = static_cast<std::uint64_t>(max_age.count());
  return std::all_of(impl_->workers.begin(), impl_->workers.end(), [&](const auto& worker) {
    const std::uint64_t beat = worker->heartbeat_us();
    return now <= beat || now - beat <= limit;
  });
}

}  // namespace jambox::broadcast
