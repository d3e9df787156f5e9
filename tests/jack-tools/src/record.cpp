// jambox-jack-record: records JACK ports for a while, optionally saves the recording, and
// analyses it against the signal jambox-jack-play played. Prints one JSON line.
//
//   jambox-jack-record -s boxB -p jamboxd:out_1 -p jamboxd:out_2 -t 35 --signal noise
//   jambox-jack-record -s boxB -p jamboxd:out_1 -t 35 --signal impulse --output b.wav
//   jambox-jack-record --input b.wav --signal noise          (analyse a saved recording)
//
// Analysis per channel: rms/peak; for noise and multitone the lag (frames) and normalised
// correlation against the regenerated reference, the worst 1 s block, the signal followed period
// by period (glitch_periods: periods matching nowhere; lag_changes: the signal continuing at
// another lag, i.e. lost or repeated audio), dropouts (runs of exact zeros) and, for multitone,
// discontinuities; for impulses each arrival time on the monotonic clock grid, giving the latency
// in frames.
#include "tool_common.hpp"
#include <jambox/jack/client.hpp>
#include <jambox/jacktest/analysis.hpp>
#include <jambox/jacktest/audio_file.hpp>
#include <jambox/jacktest/signal.hpp>
#include <jambox/log/log.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <iostream>
#include <limits>
#include <optional>
#include <thread>

namespace po = boost::program_options;
namespace jt = jambox::jacktest;
namespace jack = jambox::jack;

namespace {

// Real-time side: copies the inputs into buffers allocated up front, and notes when each period
// started (for impulse arrival times). Outputs stay silent.
class Recorder final : public jack::AudioProcessor {
 public:
  Recorder(std::size_t channels, std::uint64_t frames)
      : channels_(channels, std::vector<float>(frames)),
        marks_(frames / jack::kMinPeriod + 2),
        total_(frames) {}

  void set_client(const jack::Client* client) noexcept { client_ = client; }
  void arm() noexcept { armed_.store(true, std::memory_order_release); }
  [[nodiscard]] bool finished() const noexcept { return finished_.load(std::memory_order_acquire); }
  [[nodiscard]] std::uint64_t recorded() const noexcept {
    return recorded_.load(std::memory_order_acquire);
  }

  void process(std::span<const float* const> in, std::span<float* const> out,
               std::uint32_t frames) noexcept override {
    for (float* o : out) std::fill_n(o, frames, 0.0f);
    if (!armed_.load(std::memory_order_acquire) || finished_.load(std::memory_order_relaxed)) {
      return;
    }
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(frames, total_ - frame_));
    if (mark_count_ < marks_.size()) marks_[mark_count_++] = {frame_, client_->cycle_time_us()};
    for (std::size_t c = 0; c < channels_.size(); ++c) {
      std::copy_n(in[c], n, channels_[c].begin() + static_cast<std::ptrdiff_t>(frame_));
    }
    frame_ += n;
    recorded_.store(frame_, std::memory_order_release);
    if (frame_ >= total_) finished_.store(true, std::memory_order_release);
  }

  // After the client is closed: the recording, trimmed to what was recorded.
  jt::AudioData take(std::uint32_t rate) {
    jt::AudioData audio;
    audio.rate = rate;
    for (auto& ch : channels_) ch.resize(frame_);
    audio.channels = std::move(channels_);
    return audio;
  }
  [[nodiscard]] std::vector<jt::PeriodMark> marks() const {
    return {marks_.begin(), marks_.begin() + static_cast<std::ptrdiff_t>(mark_count_)};
  }

 private:
  std::vector<std::vector<float>> channels_;
  std::vector<jt::PeriodMark> marks_;
  std::uint64_t total_;
  const jack::Client* client_ = nullptr;
  std::atomic<bool> armed_{false};
  std::atomic<bool> finished_{false};
  std::atomic<std::uint64_t> recorded_{0};
  std::uint64_t frame_ = 0;     // real-time thread only
  std::size_t mark_count_ = 0;  // real-time thread only
};

nlohmann::json summary_json(const std::optional<jt::Summary>& s) {
  if (!s) return nullptr;
  return {{"count", s->count},
          {"min", s->min},
          {"median", s->median},
          {"mean", s->mean},
          {"max", s->max}};
}

struct Analysis {
  nlohmann::json channels = nlohmann::json::array();
  std::vector<double> latencies_frames;
  double correlation_min = std::numeric_limits<double>::infinity();
  bool correlated = false;
  std::optional<std::int64_t> lag;
  std::uint64_t dropouts = 0;
  std::uint64_t discontinuities = 0;
  std::uint64_t glitch_periods = 0;
  std::uint64_t lag_changes = 0;
  std::uint64_t lag_jumps = 0;
  std::uint64_t impulses = 0;
};

Analysis analyse(const jt::AudioData& audio, const std::vector<jt::PeriodMark>& marks,
                 const std::optional<jt::SignalSpec>& spec, const po::variables_map& vm) {
  Analysis result;
  const auto min_run = vm["min-dropout"].as<std::size_t>();
  jt::CorrelationOptions copt;
  copt.search_frames = static_cast<std::size_t>(vm["search-ms"].as<double>() * audio.rate / 1000.0);
  for (std::size_t c = 0; c < audio.channels.size(); ++c) {
    const std::vector<float>& x = audio.channels[c];
    nlohmann::json ch;
    ch["rms_dbfs"] = jt::to_dbfs(jt::rms(x));
    ch["peak_dbfs"] = jt::to_dbfs(static_cast<double>(jt::peak(x)));
    if (!spec) {
      const auto d = jt::find_dropouts(x, min_run, 0.0f);
      ch["dropouts"] = d.dropouts;
      result.dropouts += d.dropouts;
      result.channels.push_back(ch);
      continue;
    }
    if (spec->kind == jt::SignalKind::impulse) {
      const auto interval_frames =
          static_cast<std::size_t>(std::uint64_t{spec->interval_ms} * audio.rate / 1000);
      const auto arrivals = jt::find_impulses(x, 0.25f * spec->amplitude, interval_frames / 2);
      std::vector<double> latencies;
      for (std::size_t at : arrivals) {
        const auto t = jt::frame_time_us(marks, at, audio.rate);
        if (!t) continue;
        const double us = jt::grid_latency_us(*t, std::uint64_t{spec->interval_ms} * 1000);
        latencies.push_back(us * audio.rate / 1e6);
      }
      ch["impulses"] = arrivals.size();
      ch["latency_frames"] = summary_json(jt::summarise(latencies));
      result.impulses += arrivals.size();
      result.latencies_frames.insert(result.latencies_frames.end(), latencies.begin(),
                                     latencies.end());
      result.channels.push_back(ch);
      continue;
    }
    // Noise / multitone: the reference is as long as the recording's active span.
    const jt::DropoutReport span = jt::find_dropouts(x, min_run, 0.0f);
    std::vector<float> reference(span.active_end - span.active_begin);
    jt::generate(*spec, c, 0, reference);
    const float jump = spec->kind == jt::SignalKind::multitone
                           ? 1.5f * jt::max_step(reference) + 1e-4f
                           : 0.0f;  // white noise may jump anywhere
    const jt::DropoutReport d = jt::find_dropouts(x, min_run, jump);
    // Multitone is smooth enough to look for a lost signal far away in coarse steps (cheap);
    // white noise, for bit-exact paths, is only followed nearby.
    if (spec->kind == jt::SignalKind::multitone) {
      const double relock_ms = vm["relock-ms"].as<double>();
      if (!(relock_ms >= 0.0 && relock_ms <= 1000.0)) {
        throw std::invalid_argument("--relock-ms must be within 0..1000");
      }
      copt.relock_frames = static_cast<std::size_t>(relock_ms * audio.rate / 1000.0);
      copt.relock_step = 4;
    }
    const jt::CorrelationReport r = jt::correlate(x, reference, copt);
    ch["found"] = r.found;
    ch["lag_frames"] = r.found ? nlohmann::json(r.lag) : nlohmann::json(nullptr);
    ch["correlation"] = r.correlation;
    ch["probe_correlation"] = r.probe_correlation;
    ch["block_min"] = r.block_min;
    ch["lag_min"] = r.lag_min;
    ch["lag_max"] = r.lag_max;
    ch["compared_frames"] = r.compared_frames;
    ch["glitch_periods"] = r.glitch_periods;
    ch["lag_changes"] = r.lag_changes;
    ch["lag_jumps"] = r.lag_jumps;
    ch["dropouts"] = d.dropouts;
    ch["dropout_frames"] = d.dropout_frames;
    ch["longest_dropout"] = d.longest_dropout;
    ch["discontinuities"] = d.discontinuities;
    ch["active_frames"] = d.active_end - d.active_begin;
    result.correlation_min = std::min(result.correlation_min, r.found ? r.correlation : 0.0);
    result.correlated = true;
    if (!result.lag && r.found) result.lag = r.lag;
    result.dropouts += d.dropouts;
    result.discontinuities += d.discontinuities;
    result.glitch_periods += r.glitch_periods;
    result.lag_changes += r.lag_changes;
    result.lag_jumps += r.lag_jumps;
    result.channels.push_back(ch);
  }
  return result;
}

int run(const po::variables_map& vm) {
  const std::optional<jt::SignalSpec> spec = jt::tool::signal_from(vm);
  const double seconds = vm["seconds"].as<double>();
  // The recording is held in memory (384 kB per channel and second).
  if (!(seconds > 0.0 && seconds <= 600.0)) {
    throw std::invalid_argument("--seconds must be within (0, 600]");
  }

  nlohmann::json out;
  out["tool"] = "jambox-jack-record";
  jt::AudioData audio;
  std::vector<jt::PeriodMark> marks;
  if (vm.count("input") != 0) {
    const auto file = vm["input"].as<std::string>();
    audio = jt::read_audio(file, vm["channels"].as<std::size_t>());
    out["input"] = file;
  } else {
    const std::vector<std::string> sources = jt::tool::ports_from(vm);
    if (sources.empty()) throw std::invalid_argument("give at least one --port to record");
    const auto frames = static_cast<std::uint64_t>(std::llround(seconds * jack::kSampleRate));
    jack::ClientConfig config;
    config.client_name = vm["name"].as<std::string>();
    config.server_name = vm["server"].as<std::string>();
    config.capture = {"", ""};
    config.playback = {"", ""};
    for (std::size_t i = 0; i < sources.size(); ++i) config.capture[i] = sources[i];

    Recorder recorder(sources.size(), frames);
    bool gone = false;
    {
      jack::Client client(config, recorder);
      recorder.set_client(&client);
      const auto wait = std::chrono::milliseconds(std::llround(vm["wait"].as<double>() * 1000.0));
      if (const std::string missing = jt::tool::start_and_connect(client, wait); !missing.empty()) {
        std::cerr << "jambox-jack-record: could not connect to port '" << missing
                  << "' on JACK server '" << client.server() << "'\n";
        return jt::tool::kExitFailure;
      }
      recorder.arm();
      // Say when recording runs, so a script can start the player afterwards.
      std::cerr << "jambox-jack-record: recording " << sources.size() << " port(s) for " << seconds
                << " s" << std::endl;
      const auto deadline = std::chrono::steady_clock::now() +
                            std::chrono::milliseconds(std::llround(seconds * 1000.0)) +
                            std::chrono::seconds(30);
      while (!recorder.finished() && !jt::tool::g_interrupted.load()) {
        if (client.server_gone()) {
          gone = true;
          break;
        }
        if (std::chrono::steady_clock::now() > deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      out["server"] = client.server();
      out["client"] = client.name();
      out["period"] = client.period();
      out["realtime"] = client.realtime();
      out["xruns"] = client.xruns();
      out["ports"] = sources;
    }  // closed: the real-time thread no longer touches the recorder
    audio = recorder.take(jack::kSampleRate);
    marks = recorder.marks();
    out["complete"] = recorder.recorded() >= frames;
    if (gone) out["error"] = "JACK server went away";
    if (vm.count("output") != 0) {
      jt::write_audio(vm["output"].as<std::string>(), audio);
      out["output"] = vm["output"].as<std::string>();
    }
  }

  out["rate"] = audio.rate;
  out["frames"] = audio.channels.empty() ? 0 : audio.channels.front().size();
  out["signal"] = spec ? std::string(jt::signal_kind_name(spec->kind)) : "none";
  const Analysis a = analyse(audio, marks, spec, vm);
  out["channels"] = a.channels;
  out["dropouts"] = a.dropouts;
  if (spec && spec->kind != jt::SignalKind::impulse) {
    out["correlation_min"] = a.correlated ? a.correlation_min : 0.0;
    out["lag_frames"] = a.lag ? nlohmann::json(*a.lag) : nlohmann::json(nullptr);
    out["discontinuities"] = a.discontinuities;
    out["glitch_periods"] = a.glitch_periods;
    out["lag_changes"] = a.lag_changes;
    out["lag_jumps"] = a.lag_jumps;
  }
  if (spec && spec->kind == jt::SignalKind::impulse) {
    out["impulses"] = a.impulses;
    const auto s = jt::summarise(a.latencies_frames);
    out["latency_frames"] = summary_json(s);
    out["latency_frames_median"] = s ? nlohmann::json(s->median) : nlohmann::json(nullptr);
    out["latency_ms_median"] =
        s ? nlohmann::json(s->median * 1000.0 / audio.rate) : nlohmann::json(nullptr);
  }
  std::cout << out.dump() << std::endl;
  return out.contains("error") ? jt::tool::kExitFailure : 0;
}

}  // namespace

int main(int argc, char** argv) {
  jambox::log::init("jambox-jack-record");
  jt::tool::install_signal_handlers();
  po::options_description options(
      "jambox-jack-record: record JACK ports and analyse against a known test signal\n\n"
      "Prints one JSON line. Options");
  jt::tool::add_common_options(options, "jambox-jack-record");
  jt::tool::add_signal_options(options, "none");
  // clang-format off
  options.add_options()
    ("output,o", po::value<std::string>(),
     "save the recording: *.wav = 32-bit float WAV, else raw interleaved float32")
    ("input,i", po::value<std::string>(), "analyse this saved recording instead of recording")
    ("channels", po::value<std::size_t>()->default_value(2), "channels of a raw --input file")
    ("min-dropout", po::value<std::size_t>()->default_value(8),
     "shortest run of exact zeros counted as a dropout (frames)")
    ("search-ms", po::value<double>()->default_value(100.0),
     "lag search window around the signal onset (ms)")
    ("relock-ms", po::value<double>()->default_value(250.0),
     "multitone: how far from its last lag a lost signal is looked for (ms)");
  // clang-format on
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, options), vm);
    po::notify(vm);
    if (vm.count("help") != 0) {
      std::cout << options
                << "\n--signal none (the default here) records and reports levels and dropouts "
                   "only.\nImpulse latencies need a live recording (arrival times come from "
                   "JACK's cycle times).\n";
      return 0;
    }
    return run(vm);
  } catch (const po::error& e) {
    std::cerr << "jambox-jack-record: " << e.what() << " (see --help)\n";
    return jt::tool::kExitUsage;
  } catch (const std::invalid_argument& e) {
    std::cerr << "jambox-jack-record: " << e.what() << " (see --help)\n";
    return jt::tool::kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "jambox-jack-record: " << e.what() << "\n";
    return jt::tool::kExitFailure;
  }
}
