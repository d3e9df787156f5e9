#include "room_relay.hpp"
#include <jambox/broadcast/admission.hpp>
#include <jambox/broadcast/on_demand.hpp>
#include <jambox/broadcast/server.hpp>
#include <jambox/broadcast/service.hpp>
#include <jambox/config/config.hpp>
#include <jambox/log/log.hpp>
#include <jambox/net/host_port.hpp>
#include <jambox/system/notify.hpp>
#include <jambox/version.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>

namespace jambox::broadcast {
namespace {

// A worker whose timer has not run for this long is stuck (its tick is 50 ms).
constexpr auto kMaxHeartbeatAge = std::chrono::seconds(2);

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

std::string room_names(const ServerConfig& config) {
  std::vector<std::string> names;
  for (const auto& room : config.rooms) names.push_back(room.name);
  return join_names(names);
}

}  // namespace

std::string write_file_atomically(const std::filesystem::path& file, const std::string& text) {
  const std::string tmp = file.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return fmt::format("cannot create {}: {}", tmp, std::strerror(errno));
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return fmt::format("cannot write {}: {}", tmp, std::strerror(error));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0) {
    const int error = errno;
    ::unlink(tmp.c_str());
    return fmt::format("cannot write {}: {}", tmp, std::strerror(error));
  }
  if (std::rename(tmp.c_str(), file.c_str()) != 0) {
    const int error = errno;
    ::unlink(tmp.c_str());
    return fmt::format("cannot rename {} to {}: {}", tmp, file.string(), std::strerror(error));
  }
  return {};
}

struct Service::Impl {
  Impl(ServerConfig config, Reloader r)
      : signals(io),
        stats_timer(io),
        log_timer(io),
        watchdog_timer(io),
        on_demand(config.on_demand),
        server(std::move(config)),
        reloader(std::move(r)) {}

  boost::asio::io_context io{1};
  boost::asio::signal_set signals;
  boost::asio::steady_timer stats_timer;
  boost::asio::steady_timer log_timer;
  boost::asio::steady_timer watchdog_timer;
  system::Notifier notifier;
  OnDemandRooms on_demand;
  Server server;
  Reloader reloader;
  Snapshot previous_status;
  Snapshot previous_log;
  std::string last_stats_error;
  std::optional<std::chrono::microseconds> watchdog;
  std::unique_ptr<Admission> admission;  // [mqtt] enabled only
  std::unique_ptr<RelayService> relay;   // rides on the admission's session
  bool watchdog_withheld = false;

  const ServerConfig& config() const { return server.config(); }

  void write_stats(const Snapshot& snapshot) {
    const std::string& file = config().stats_file;
    if (file.empty()) return;
    const std::string error = write_file_atomically(
        file, relay ? with_relay_figures(to_json(snapshot), relay->relay().figures())
                    : to_json(snapshot));
    if (!error.empty() && error != last_stats_error) {
      log::error("stats file: {}", error);
    } else if (error.empty() && !last_stats_error.empty()) {
      log::notice("stats file {} written again", file);
    }
    last_stats_error = error;
  }

  void arm_signals() {
    signals.async_wait([this](const boost::system::error_code& ec, int signal) {
      if (ec) return;
      if (signal == SIGHUP) {
        reload();
        arm_signals();
        return;
      }
      log::notice("received {}, stopping", signal == SIGINT ? "SIGINT" : "SIGTERM");
      io.stop();
    });
  }

  void arm_stats() {
    stats_timer.expires_after(std::chrono::milliseconds(config().stats_interval_ms));
    stats_timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      const Snapshot now = server.snapshot();
      write_stats(now);
      notifier.status(status_line(now, previous_status));
      previous_status = now;
      expire_rooms(now);
      arm_stats();
    });
  }

  // --- rooms by code ---------------------------------------------------------------------

  static const RoomStats* room_in(const Snapshot& snapshot, std::string_view name) {
    for (const RoomStats& r : snapshot.rooms) {
      if (r.name == name) return &r;
    }
    return nullptr;
  }

  // What a join_room request finds: a declared room, or one made on demand.
  RoomAvailability lookup(std::string_view name) {
    RoomAvailability room;
    room.codes = config().on_demand.on_demand;
    for (const RoomConfig& r : config().rooms) {
      if (r.name != name) continue;
      room.exists = true;
      room.secret = r.secret;
      room.max_members = r.max_members;
    }
    if (const OnDemandRoom* made = on_demand.find(name); !room.exists && made != nullptr) {
      room.exists = true;
      room.secret = made->secret;
      room.max_members = made->max_members;
      // A box is on its way in: the room is in use from now.
      on_demand.touch(name, std::chrono::steady_clock::now());
    }
    // Room sizes from the latest stats tick: advisory, the JOIN itself is checked again.
    if (const RoomStats* r = room_in(previous_status, name)) room.members = r->member_count;
    return room;
  }

  RoomCreation create(std::string_view player_key, std::string_view wanted) {
    RoomCreation out;
    const ServerConfig& cfg = config();
    if (!cfg.on_demand.on_demand) {
      out.error_code = "on_demand_disabled";
      out.error = "this server makes no rooms on demand (rooms.on_demand is off)";
      return out;
    }
    const auto declared = [&cfg](std::string_view name) {
      return std::any_of(cfg.rooms.begin(), cfg.rooms.end(),
                         [name](const RoomConfig& r) { return r.name == name; });
    };
    const Creation made = on_demand.create(player_key, wanted, declared, server.room_count(),
                                           cfg.max_rooms, std::chrono::steady_clock::now());
    if (made.room == nullptr) {
      out.error_code = made.error_code;
      out.error = made.error;
      return out;
    }
    if (!made.repeated) {
      RoomConfig room;
      room.name = made.room->code;
      room.secret = made.room->secret;
      room.max_members = made.room->max_members;
      room.origin = "made on demand for " + std::string(player_key);
      if (!server.add_room(room)) {
        // Only a declared room of the same name gets here, and create() looked for those.
        log::error("room {} could not be made on demand: the name is taken", room.name);
        static_cast<void>(on_demand.remove(room.name));
        out.error_code = "server_full";
        out.error = "the room could not be made; ask again";
        return out;
      }
      log::notice("room {} made on demand for {} ({} of {} made on demand, {} rooms in all)",
                  room.name, player_key, on_demand.size(), cfg.on_demand.max_on_demand,
                  server.room_count());
    }
    out.room = made.room->code;
    out.available.exists = true;
    out.available.codes = true;
    out.available.secret = made.room->secret;
    out.available.max_members = made.room->max_members;
    if (const RoomStats* r = room_in(previous_status, out.room)) {
      out.available.members = r->member_count;
    }
    return out;
  }

  // Rooms made on demand that nobody was in for rooms.idle_expiry_s are removed.
  void expire_rooms(const Snapshot& now) {
    if (on_demand.size() == 0) return;
    const auto gone = on_demand.expire(
        [&now](std::string_view code) {
          const RoomStats* r = room_in(now, code);
          return r != nullptr && r->member_count + r->pending > 0;
        },
        std::chrono::steady_clock::now());
    for (const std::string& code : gone) {
      static_cast<void>(server.remove_room(code));
      log::notice("room {} made on demand removed: nobody was in it for {} s ({} left)", code,
                  config().on_demand.idle_expiry_s, on_demand.size());
    }
    // The relay forgets the rooms' members and chat now, not at its next tick: a room made again
    // with the same code starts empty.
    if (!gone.empty() && relay) relay->rooms_removed();
  }

  void arm_log() {
    const std::uint32_t seconds = config().log_interval_s;
    // Off: look again later, a reload may turn it on.
    log_timer.expires_after(std::chrono::seconds(seconds == 0 ? 5 : seconds));
    log_timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      if (config().log_interval_s != 0) {
        const Snapshot now = server.snapshot();
        const Counters& t = now.totals;
        log::info(
            "{}; {} made on demand; totals: forwarded {}, echoes {}, joins {}, admitted {}, "
            "leaves {}, expired {}, rejected {}, send_dropped {}",
            status_line(now, previous_log), now.rooms_on_demand, t.forwarded, t.echoes, t.joins,
            t.admitted, t.leaves, t.expired, t.rejected_total(), t.send_dropped);
        previous_log = now;
      }
      arm_log();
    });
  }

  void arm_watchdog() {
    if (!watchdog) return;
    watchdog_timer.expires_after(*watchdog / 3);
    watchdog_timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      if (server.workers_alive(kMaxHeartbeatAge)) {
        notifier.watchdog();
        if (watchdog_withheld) log::notice("all workers responsive again");
        watchdog_withheld = false;
      } else if (!watchdog_withheld) {
        watchdog_withheld = true;
        log::error("a worker thread is stuck (no heartbeat for {} s); withholding WATCHDOG=1",
                   kMaxHeartbeatAge.count());
      }
      arm_watchdog();
    });
  }

  void reload() {
    log::notice("SIGHUP: reloading {}", config().source);
    notifier.reloading();
    try {
      ServerConfig next = reloader();
      const log::Level level = next.log_level;
      const RoomsConfig rooms = next.on_demand;
      const ReloadSummary summary = server.reload(next);
      // New limits for rooms made from now on; those made already stay as they are.
      on_demand.configure(rooms);
      log::set_level(level);
      for (const auto& key : summary.restart_needed) {
        log::warning("{} changed: takes effect after a restart", key);
      }
      log::notice(
          "reloaded: {} rooms; added [{}], removed [{}], re-keyed [{}], kept [{}]; {} made on "
          "demand kept{}",
          summary.added.size() + summary.kept.size() + summary.rekeyed.size(),
          join_names(summary.added), join_names(summary.removed), join_names(summary.rekeyed),
          join_names(summary.kept), on_demand.size(),
          rooms.on_demand ? "" : " (rooms.on_demand is off: no more are made)");
    } catch (const config::ConfigError& e) {
      log::error("reload failed, keeping the running configuration: {}", e.what());
    } catch (const std::exception& e) {
      log::error("reload failed, keeping the running configuration: {}", e.what());
    }
    notifier.ready();
  }

  int run() {
    // Signals first, so a stop requested during start-up is still a graceful one.
    signals.add(SIGHUP);
    signals.add(SIGTERM);
    signals.add(SIGINT);

    server.start();
    const ServerConfig& cfg = config();
    log::notice("{} {} listening on {} (port {}), {} worker{}, {} room{}{}{}", kProgram, kVersion,
                cfg.listen_text, server.local_endpoint().port(), server.workers(),
                server.workers() == 1 ? "" : "s", cfg.rooms.size(),
                cfg.rooms.size() == 1 ? "" : "s", cfg.rooms.empty() ? "" : ": ", room_names(cfg));
    if (cfg.on_demand.on_demand) {
      log::notice(
          "rooms by code: up to {} made on demand, {} members each, removed after {} s without "
          "members",
          cfg.on_demand.max_on_demand, cfg.on_demand.max_members, cfg.on_demand.idle_expiry_s);
    }
    const std::size_t wanted = std::size_t{cfg.socket_buffer_kb} * 1024;
    // Linux reports twice what it grants; less than the request means net.core.rmem_max capped it.
    if (server.receive_buffer_bytes() / 2 < wanted) {
      log::warning(
          "socket receive buffer is {} KiB, less than server.socket_buffer_kb = {}; "
          "raise sysctl net.core.rmem_max to get more",
          server.receive_buffer_bytes() / 2048, cfg.socket_buffer_kb);
    }

    const Snapshot first = server.snapshot();
    previous_status = first;
    previous_log = first;
    write_stats(first);  // the bound port is visible before READY=1
    notifier.ready();
    notifier.status(fmt::format("rooms {}, members 0, listening on port {}", cfg.rooms.size(),
                                server.local_endpoint().port()));

    if (cfg.mqtt.enabled) {
      AdmissionConfig admission_config = cfg.mqtt;
      // Checked by the configuration; a port only when it gave none.
      net::HostPort endpoint;
      std::string problem;
      if (net::parse_host_port(admission_config.public_endpoint, endpoint, problem,
                               net::PortRule::optional) &&
          endpoint.port == 0) {
        endpoint.port = server.local_endpoint().port();
        admission_config.public_endpoint = net::to_string(endpoint);
      }
      admission = std::make_unique<Admission>(
          io, std::move(admission_config), [this](std::string_view name) { return lookup(name); },
          [this](std::string_view player_key, std::string_view code) {
            return create(player_key, code);
          });
      // Members' presence, transport and chat: relayed between the boxes this server admitted.
      relay = std::make_unique<RelayService>(
          io, *admission, cfg.mqtt.prefix, [this](std::string_view name) {
            return on_demand.find(name) != nullptr ||
                   std::any_of(config().rooms.begin(), config().rooms.end(),
                               [name](const RoomConfig& r) { return r.name == name; });
          });
      admission->start();
    }

    watchdog = notifier.watchdog_interval();
    if (watchdog) notifier.watchdog();
    arm_signals();
    arm_stats();
    arm_log();
    arm_watchdog();
    io.run();

    notifier.stopping();
    if (relay) relay->stop();
    if (admission) admission->stop();
    server.stop();
    const Snapshot last = server.snapshot();
    write_stats(last);
    const Counters& t = last.totals;
    log::notice("stopped after {:.1f} s: forwarded {}, echoes {}, joins {}, rejected {}",
                last.uptime_s, t.forwarded, t.echoes, t.joins, t.rejected_total());
    return 0;
  }
};

Service::Service(ServerConfig config, Reloader reloader)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(reloader))) {}

Service::~Service() = default;

int Service::run() {
  return impl_->run();
}

}  // namespace jambox::broadcast
