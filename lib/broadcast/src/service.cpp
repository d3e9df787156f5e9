#include <jambox/broadcast/admission.hpp>
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
        server(std::move(config)),
        reloader(std::move(r)) {}

  boost::asio::io_context io{1};
  boost::asio::signal_set signals;
  boost::asio::steady_timer stats_timer;
  boost::asio::steady_timer log_timer;
  boost::asio::steady_timer watchdog_timer;
  system::Notifier notifier;
  Server server;
  Reloader reloader;
  Snapshot previous_status;
  Snapshot previous_log;
  std::string last_stats_error;
  std::optional<std::chrono::microseconds> watchdog;
  std::unique_ptr<Admission> admission;  // [mqtt] enabled only
  bool watchdog_withheld = false;

  const ServerConfig& config() const { return server.config(); }

  void write_stats(const Snapshot& snapshot) {
    const std::string& file = config().stats_file;
    if (file.empty()) return;
    const std::string error = write_file_atomically(file, to_json(snapshot));
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
      arm_stats();
    });
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
            "{}; totals: forwarded {}, echoes {}, joins {}, admitted {}, leaves {}, "
            "expired {}, rejected {}, send_dropped {}",
            status_line(now, previous_log), t.forwarded, t.echoes, t.joins, t.admitted, t.leaves,
            t.expired, t.rejected_total(), t.send_dropped);
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
      const ReloadSummary summary = server.reload(next);
      log::set_level(level);
      for (const auto& key : summary.restart_needed) {
        log::warning("{} changed: takes effect after a restart", key);
      }
      log::notice("reloaded: {} rooms; added [{}], removed [{}], re-keyed [{}], kept [{}]",
                  summary.added.size() + summary.kept.size() + summary.rekeyed.size(),
                  join_names(summary.added), join_names(summary.removed),
                  join_names(summary.rekeyed), join_names(summary.kept));
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
      // Room sizes from the latest stats tick: advisory, the JOIN itself is checked again.
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
      admission = std::make_unique<Admission>(io, std::move(admission_config),
                                              [this](std::string_view name) {
                                                RoomAvailability room;
                                                for (const RoomConfig& r : config().rooms) {
                                                  if (r.name != name) continue;
                                                  room.exists = true;
                                                  room.secret = r.secret;
                                                  room.max_members = r.max_members;
                                                }
                                                for (const RoomStats& r : previous_status.rooms) {
                                                  if (r.name == name) room.members = r.member_count;
                                                }
                                                return room;
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
