// jambox-jack-play: plays a known test signal into JACK ports, for jambox-jack-record (on the
// same or another JACK server) to recognise. Prints one JSON line when done.
//
//   jambox-jack-play -s boxA -p jamboxd:in_1 -p jamboxd:in_2 --signal noise -t 30
//   jambox-jack-play -s boxA -p jamboxd:in_1 --signal impulse --interval-ms 250 -t 30
#include "tool_common.hpp"
#include <jambox/jack/client.hpp>
#include <jambox/jacktest/signal.hpp>
#include <jambox/log/log.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <iostream>
#include <thread>

namespace po = boost::program_options;
namespace jt = jambox::jacktest;
namespace jack = jambox::jack;

namespace {

// Real-time side: generates the signal period by period, from frame 0 once armed (after the
// ports are connected, so the recorder sees the signal's very first frame).
class Player final : public jack::AudioProcessor {
 public:
  Player(jt::SignalSpec spec, std::uint64_t total_frames, std::uint64_t delay_frames)
      : spec_(spec), total_(total_frames), delay_(delay_frames) {}

  void set_client(const jack::Client* client) noexcept { client_ = client; }
  void arm() noexcept { armed_.store(true, std::memory_order_release); }
  [[nodiscard]] bool finished() const noexcept { return finished_.load(std::memory_order_acquire); }
  [[nodiscard]] std::uint64_t played() const noexcept { return played_.load(); }
  [[nodiscard]] std::uint64_t impulses() const noexcept { return impulses_.load(); }

  void process(std::span<const float* const> /*in*/, std::span<float* const> out,
               std::uint32_t frames) noexcept override {
    for (float* o : out) std::fill_n(o, frames, 0.0f);
    if (!armed_.load(std::memory_order_acquire) || finished_.load(std::memory_order_relaxed)) {
      return;
    }
    if (waited_ < delay_) {  // whole periods of silence first
      waited_ += frames;
      return;
    }
    const std::uint64_t remaining = total_ == 0 ? frames : total_ - frame_;
    const auto n = static_cast<std::uint32_t>(std::min<std::uint64_t>(frames, remaining));
    if (spec_.kind == jt::SignalKind::impulse) {
      const double frame_us = 1e6 / static_cast<double>(spec_.rate);
      const auto offset =
          jt::next_impulse_offset(client_->cycle_time_us(), frame_us, frames,
                                  std::uint64_t{spec_.interval_ms} * 1000, next_grid_);
      if (offset && *offset < n) {
        for (float* o : out) o[*offset] = spec_.amplitude;
        impulses_.fetch_add(1, std::memory_order_relaxed);
      }
    } else {
      for (std::size_t c = 0; c < out.size(); ++c) {
        jt::generate(spec_, c, frame_, std::span<float>(out[c], n));
      }
    }
    frame_ += n;
    played_.store(frame_, std::memory_order_relaxed);
    if (total_ != 0 && frame_ >= total_) finished_.store(true, std::memory_order_release);
  }

 private:
  jt::SignalSpec spec_;
  std::uint64_t total_;
  std::uint64_t delay_;
  const jack::Client* client_ = nullptr;
  std::atomic<bool> armed_{false};
  std::atomic<bool> finished_{false};
  std::atomic<std::uint64_t> played_{0};
  std::atomic<std::uint64_t> impulses_{0};
  std::uint64_t frame_ = 0;      // real-time thread only
  std::uint64_t waited_ = 0;     // real-time thread only
  std::uint64_t next_grid_ = 0;  // real-time thread only
};

int run(const po::variables_map& vm) {
  const auto maybe_spec = jt::tool::signal_from(vm);
  if (!maybe_spec) throw std::invalid_argument("--signal none plays nothing");
  const jt::SignalSpec spec = *maybe_spec;
  const std::vector<std::string> targets = jt::tool::ports_from(vm);
  if (targets.empty()) throw std::invalid_argument("give at least one --port to play into");
  const double seconds = vm["seconds"].as<double>();
  if (!(seconds >= 0.0 && seconds <= 24 * 3600.0)) {
    throw std::invalid_argument("--seconds must be within 0..86400 (0: until interrupted)");
  }
  const auto total = static_cast<std::uint64_t>(std::llround(seconds * spec.rate));
  const double delay_ms = vm["delay-ms"].as<double>();
  if (!(delay_ms >= 0.0 && delay_ms <= 60000.0)) {
    throw std::invalid_argument("--delay-ms must be within 0..60000");
  }
  const auto delay = static_cast<std::uint64_t>(std::llround(delay_ms * spec.rate / 1000.0));

  jack::ClientConfig config;
  config.client_name = vm["name"].as<std::string>();
  config.server_name = vm["server"].as<std::string>();
  config.capture = {"", ""};
  config.playback = {"", ""};
  for (std::size_t i = 0; i < targets.size(); ++i) config.playback[i] = targets[i];

  Player player(spec, total, delay);
  jack::Client client(config, player);
  player.set_client(&client);
  const auto wait = std::chrono::milliseconds(std::llround(vm["wait"].as<double>() * 1000.0));
  if (const std::string missing = jt::tool::start_and_connect(client, wait); !missing.empty()) {
    std::cerr << "jambox-jack-play: could not connect to port '" << missing << "' on JACK server '"
              << client.server() << "'\n";
    return jt::tool::kExitFailure;
  }
  player.arm();

  // Generous: the dummy driver may run late under load, and the signal is counted in frames.
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(std::llround(seconds * 1000.0 + delay_ms)) +
                        std::chrono::seconds(30);
  bool gone = false;
  while (!player.finished() && !jt::tool::g_interrupted.load()) {
    if (client.server_gone()) {
      gone = true;
      break;
    }
    if (total != 0 && std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  nlohmann::json result;
  result["tool"] = "jambox-jack-play";
  result["server"] = client.server();
  result["client"] = client.name();
  result["signal"] = std::string(jt::signal_kind_name(spec.kind));
  result["seed"] = spec.seed;
  result["amplitude"] = spec.amplitude;
  result["rate"] = client.sample_rate();
  result["period"] = client.period();
  result["realtime"] = client.realtime();
  result["frames"] = player.played();
  result["complete"] = total != 0 && player.played() >= total;
  if (spec.kind == jt::SignalKind::impulse) {
    result["interval_ms"] = spec.interval_ms;
    result["impulses"] = player.impulses();
  }
  result["xruns"] = client.xruns();
  result["targets"] = targets;
  if (gone) result["error"] = "JACK server went away";
  std::cout << result.dump() << std::endl;
  return gone ? jt::tool::kExitFailure : 0;
}

}  // namespace

int main(int argc, char** argv) {
  jambox::log::init("jambox-jack-play");
  jt::tool::install_signal_handlers();
  po::options_description options(
      "jambox-jack-play: play a known test signal into JACK ports\n\n"
      "Prints one JSON line when done. Options");
  jt::tool::add_common_options(options, "jambox-jack-play");
  jt::tool::add_signal_options(options, "noise");
  options.add_options()("delay-ms", po::value<double>()->default_value(0.0),
                        "silence after connecting, before the signal starts (lets a receiver "
                        "start recording or settle its buffers)");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, options), vm);
    po::notify(vm);
    if (vm.count("help") != 0) {
      std::cout << options << "\n--seconds 0 plays until SIGINT/SIGTERM.\n";
      return 0;
    }
    return run(vm);
  } catch (const po::error& e) {
    std::cerr << "jambox-jack-play: " << e.what() << " (see --help)\n";
    return jt::tool::kExitUsage;
  } catch (const std::invalid_argument& e) {
    std::cerr << "jambox-jack-play: " << e.what() << " (see --help)\n";
    return jt::tool::kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "jambox-jack-play: " << e.what() << "\n";
    return jt::tool::kExitFailure;
  }
}
