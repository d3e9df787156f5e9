// jambox-control-bench: command -> ack round trips to one box over the broker, with the admin
// client jamboxctl uses. Two modes, each printing one JSON line:
//   --commands N          N ping commands one after another: acked, lost, RTT p50/p99 (ms)
//   --until-answered S    pings every 25 ms until the box answers (at most S seconds):
//                         how long that took (after a broker restart: the box's reconnect time)

#include <jambox/control/admin.hpp>

#include <boost/program_options.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <string>
#include <vector>

namespace po = boost::program_options;
namespace control = jambox::control;
using Clock = std::chrono::steady_clock;

namespace {

double percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(values.size())));
  return values[std::min(values.size() - 1, rank == 0 ? 0 : rank - 1)];
}

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  control::AdminConfig config;
  std::string ca;
  std::string cert;
  std::string key;
  std::string player;
  int commands = 0;
  double until_answered = 0.0;
  po::options_description options("jambox-control-bench options");
  options.add_options()("broker", po::value(&config.broker)->required())(
      "ca", po::value(&ca)->required())("cert", po::value(&cert)->required())(
      "key", po::value(&key)->required())("player", po::value(&player)->required())(
      "prefix", po::value(&config.prefix)->default_value("jambox"))(
      "commands", po::value(&commands)->default_value(0))(
      "until-answered", po::value(&until_answered)->default_value(0.0));
  po::variables_map args;
  try {
    po::store(po::parse_command_line(argc, argv, options), args);
    po::notify(args);
  } catch (const po::error& e) {
    std::cerr << "jambox-control-bench: " << e.what() << "\n" << options;
    return 64;
  }
  config.tls = {ca, cert, key};
  const Clock::time_point started = Clock::now();
  control::AdminClient client(config);
  std::string why;
  const auto connect_timeout = std::chrono::seconds(std::max(10, static_cast<int>(until_answered)));
  if (!client.connect(connect_timeout, why)) {
    std::cerr << "jambox-control-bench: " << why << "\n";
    return 69;
  }

  if (until_answered > 0.0) {
    const auto deadline = started + std::chrono::duration<double>(until_answered);
    std::uint64_t attempts = 0;
    bool answered = false;
    while (Clock::now() < deadline && !answered) {
      ++attempts;
      answered =
          client.command(player, "ping", nlohmann::json::object(), std::chrono::milliseconds(25))
              .has_value();
    }
    std::cout << nlohmann::json{{"answered", answered},
                                {"seconds", ms_since(started) / 1000.0},
                                {"attempts", attempts}}
                     .dump()
              << "\n";
    client.disconnect();
    return answered ? 0 : 1;
  }

  std::vector<double> rtts;
  rtts.reserve(static_cast<std::size_t>(std::max(0, commands)));
  std::uint64_t lost = 0;
  for (int i = 0; i < commands; ++i) {
    const Clock::time_point sent = Clock::now();
    const auto ack =
        client.command(player, "ping", nlohmann::json::object(), std::chrono::seconds(5));
    if (ack && ack->value("status", "") == "ok") {
      rtts.push_back(ms_since(sent));
    } else {
      ++lost;
    }
  }
  client.disconnect();
  std::cout << nlohmann::json{{"commands", commands},
                              {"acked", rtts.size()},
                              {"lost", lost},
                              {"cmd_rtt_ms_p50", percentile(rtts, 0.50)},
                              {"cmd_rtt_ms_p99", percentile(rtts, 0.99)},
                              {"cmd_rtt_ms_max", percentile(rtts, 1.0)}}
                   .dump()
            << "\n";
  return lost == 0 ? 0 : 1;
}
