#include "tool_common.hpp"

#include <csignal>
#include <stdexcept>
#include <thread>

namespace po = boost::program_options;

namespace jambox::jacktest::tool {

std::atomic<bool> g_interrupted{false};

namespace {
void on_signal(int /*sig*/) {
  g_interrupted.store(true);
}
}  // namespace

void install_signal_handlers() {
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

void add_common_options(po::options_description& options, const std::string& default_name) {
  // clang-format off
  options.add_options()
    ("help,h", "show this help")
    ("server,s", po::value<std::string>()->default_value(""),
     "JACK server name (default: $JACK_DEFAULT_SERVER, else \"default\")")
    ("name,n", po::value<std::string>()->default_value(default_name), "JACK client name")
    ("port,p", po::value<std::vector<std::string>>()->composing(),
     "port to connect, once per channel (1 or 2 times), e.g. -p system:capture_1")
    ("seconds,t", po::value<double>()->default_value(10.0), "duration in seconds")
    ("wait,w", po::value<double>()->default_value(10.0),
     "seconds to keep trying to connect the ports (they may appear, or become active, later)");
  // clang-format on
}

void add_signal_options(po::options_description& options, const std::string& default_signal) {
  // clang-format off
  options.add_options()
    ("signal", po::value<std::string>()->default_value(default_signal),
     "noise | multitone | impulse (| none: record only)")
    ("seed", po::value<std::uint64_t>()->default_value(1), "noise and tone phases seed")
    ("amplitude", po::value<float>()->default_value(0.5f), "peak amplitude (0..1]")
    ("interval-ms", po::value<std::uint32_t>()->default_value(250),
     "impulse spacing; latencies up to 7/8 of it are measured");
  // clang-format on
}

std::optional<SignalSpec> signal_from(const po::variables_map& vm) {
  if (vm["signal"].as<std::string>() == "none") return std::nullopt;
  SignalSpec spec;
  const auto kind = parse_signal_kind(vm["signal"].as<std::string>());
  if (!kind) {
    throw std::invalid_argument("--signal must be noise, multitone or impulse, not '" +
                                vm["signal"].as<std::string>() + "'");
  }
  spec.kind = *kind;
  spec.seed = vm["seed"].as<std::uint64_t>();
  spec.amplitude = vm["amplitude"].as<float>();
  if (!(spec.amplitude > 0.0f && spec.amplitude <= 1.0f)) {
    throw std::invalid_argument("--amplitude must be in (0, 1]");
  }
  spec.interval_ms = vm["interval-ms"].as<std::uint32_t>();
  if (spec.interval_ms < 10 || spec.interval_ms > 10000) {
    throw std::invalid_argument("--interval-ms must be within 10..10000");
  }
  return spec;
}

std::vector<std::string> ports_from(const po::variables_map& vm) {
  std::vector<std::string> ports;
  if (vm.count("port") != 0) ports = vm["port"].as<std::vector<std::string>>();
  if (ports.size() > jack::kChannels) {
    throw std::invalid_argument("at most " + std::to_string(jack::kChannels) +
                                " --port options (one per channel)");
  }
  return ports;
}

std::string start_and_connect(jack::Client& client, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  jack::ConnectReport report = client.start(false);
  while (!report.missing.empty() && std::chrono::steady_clock::now() < deadline &&
         !g_interrupted.load() && !client.server_gone()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    report = client.connect_ports(false);
  }
  if (report.missing.empty()) return {};
  report = client.connect_ports(true);  // once more, saying why
  return report.missing.empty() ? std::string() : report.missing.front();
}

}  // namespace jambox::jacktest::tool
