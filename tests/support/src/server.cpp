#include <jambox/crypto/crypto.hpp>
#include <jambox/net/endpoint.hpp>
#include <jambox/test/binaries.hpp>
#include <jambox/test/server.hpp>
#include <jambox/test/stats.hpp>
#include <jambox/test/temp_dir.hpp>

#include <boost/asio/ip/address.hpp>

#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace jambox::test {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kStartTimeout{15000};

// The address a client uses to reach a server listening on `listen` (wildcards -> loopback),
// read with the server's own parser.
Endpoint client_endpoint(const std::string& listen, std::uint16_t port) {
  net::Endpoint target = net::parse_endpoint(listen);
  if (target.address().is_unspecified()) {
    target.address(target.address().is_v6()
                       ? boost::asio::ip::address(boost::asio::ip::address_v6::loopback())
                       : boost::asio::ip::address(boost::asio::ip::address_v4::loopback()));
  }
  target.port(port);
  Endpoint endpoint;
  std::memcpy(&endpoint.storage, target.data(), target.size());
  endpoint.length = static_cast<socklen_t>(target.size());
  return endpoint;
}

std::string listen_of(const std::string& config_text) {
  // Only what render_config writes and what tests write by hand: listen = "HOST:PORT".
  std::istringstream lines(config_text);
  std::string line;
  while (std::getline(lines, line)) {
    const auto key = line.find("listen");
    const auto open = line.find('"');
    const auto close = line.rfind('"');
    if (key != std::string::npos && key < open && open != std::string::npos && close > open) {
      return line.substr(open + 1, close - open - 1);
    }
  }
  return "127.0.0.1:0";
}

}  // namespace

std::string random_secret(std::size_t length) {
  static constexpr std::string_view kAlphabet =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string secret(length, 'x');
  std::vector<std::uint8_t> bytes(length);
  crypto::random_bytes(bytes);
  for (std::size_t i = 0; i < length; ++i) secret[i] = kAlphabet[bytes[i] % kAlphabet.size()];
  return secret;
}

std::string render_config(const ServerSpec& spec, const std::filesystem::path& stats_file) {
  std::ostringstream out;
  out << "# written by a jambox integration test\n"
      << "[server]\n"
      << "listen = \"" << spec.listen << "\"\n"
      << "workers = " << spec.workers << "\n"
      << "member_timeout_ms = " << spec.member_timeout_ms << "\n";
  if (spec.max_members > 0) out << "max_members = " << spec.max_members << "\n";
  out << "\n[stats]\n"
      << "file = \"" << stats_file.string() << "\"\n"
      << "interval_ms = " << spec.stats_interval_ms << "\n"
      << "log_interval_s = 0\n"
      << "\n[logging]\n"
      << "level = \"" << spec.log_level << "\"\n";
  for (const RoomSpec& room : spec.rooms) {
    out << "\n[[room]]\n"
        << "name = \"" << room.name << "\"\n"
        << "secret = \"" << room.secret << "\"\n";
    if (room.max_members > 0) out << "max_members = " << room.max_members << "\n";
  }
  if (!spec.extra.empty()) out << "\n" << spec.extra << "\n";
  return out.str();
}

std::filesystem::path BroadcastServer::stats_path(const TempDir& dir) {
  return dir.path() / "stats.json";
}

BroadcastServer::BroadcastServer(const TempDir& dir, const ServerSpec& spec) {
  start(dir, render_config(spec, stats_path(dir)), {});
}

BroadcastServer::BroadcastServer(const TempDir& dir, const std::string& config_text,
                                 std::vector<std::string> extra_args) {
  start(dir, config_text, std::move(extra_args));
}

BroadcastServer::~BroadcastServer() {
  if (process_ && process_->running()) {
    process_->signal(SIGTERM);
    if (!process_->wait_for(milliseconds(5000))) process_->kill();
  }
}

void BroadcastServer::start(const TempDir& dir, const std::string& config_text,
                            std::vector<std::string> extra_args) {
  config_file_ = dir.write_file("jambox-broadcast.conf", config_text);
  // It holds room secrets: readable by its owner only, as the server asks of real configs.
  std::filesystem::permissions(
      config_file_, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  stats_file_ = stats_path(dir);
  notify_ = std::make_unique<NotifySocket>(dir.path());

  ProcessOptions options;
  options.program = find_binary("jambox-broadcast");
  options.args = {"--config", config_file_.string()};
  options.args.insert(options.args.end(), extra_args.begin(), extra_args.end());
  options.env.push_back(notify_->env());
  // Whatever supervises the test runner must not leak into the server under test.
  options.unset_env = {"WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM", "LISTEN_FDS",
                       "LISTEN_PID"};
  options.output_dir = dir.path();
  process_ = std::make_unique<Process>(std::move(options));

  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  bool ready = false;
  while (!ready && std::chrono::steady_clock::now() < deadline) {
    ready = notify_->wait_for("READY=1", milliseconds(100)).has_value();
    if (!ready && !process_->running()) {
      throw std::runtime_error("jambox-broadcast exited during start-up (" +
                               process_->status()->describe() + "):\n" + log());
    }
  }
  if (!ready) throw std::runtime_error("jambox-broadcast never sent READY=1:\n" + log());

  const auto left =
      std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
  const auto stats = wait_for_stats(
      [](const nlohmann::json& s) {
        const auto port = s.find("port");
        return port != s.end() && port->is_number_unsigned() && port->get<std::uint64_t>() > 0;
      },
      std::max(left, milliseconds(1000)));
  if (!stats) {
    throw std::runtime_error("jambox-broadcast wrote no stats file with its port at " +
                             stats_file_.string() + ":\n" + log());
  }
  endpoint_ = client_endpoint(listen_of(config_text),
                              static_cast<std::uint16_t>((*stats)["port"].get<unsigned>()));
}

std::optional<nlohmann::json> BroadcastServer::stats() const {
  return read_stats(stats_file_);
}

std::optional<nlohmann::json> BroadcastServer::wait_for_stats(
    const std::function<bool(const nlohmann::json&)>& predicate, milliseconds timeout) const {
  return test::wait_for_stats(stats_file_, predicate, timeout);
}

bool BroadcastServer::reload(const std::string& config_text, milliseconds timeout) {
  // Same replace-by-rename as TempDir::write_file, so the server never reads half a file.
  const std::filesystem::path partial = config_file_.string() + ".partial";
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    out << config_text;
  }
  std::filesystem::permissions(
      partial, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  std::filesystem::rename(partial, config_file_);
  if (!process_->signal(SIGHUP)) return false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (!notify_->wait_for("RELOADING=1", timeout)) return false;
  const auto left =
      std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
  return notify_->wait_for("READY=1", std::max(left, milliseconds(0))).has_value();
}

std::optional<ExitStatus> BroadcastServer::stop(milliseconds timeout) {
  process_->signal(SIGTERM);
  auto status = process_->wait_for(timeout);
  if (!status) process_->kill();
  return status;
}

std::string BroadcastServer::log() const {
  return process_ ? process_->stderr_text() : "";
}

}  // namespace jambox::test
