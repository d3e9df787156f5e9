#pragma once
// Test support: a sender with its own sound-card clock, a network that delays, loses, duplicates
// and reorders, and a receiver that plays a JitterBuffer period by period.

#include <jambox/audio/jitter_buffer.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numbers>
#include <queue>
#include <random>
#include <vector>

namespace jambox::audio::test {

// A test signal: two harmonics of 220 Hz (periodic, so concealment can match it) at -8 dBFS.
inline double tone(double t_samples) {
  const double w = 2.0 * std::numbers::pi * 220.0 / 48000.0;
  return 0.3 * std::sin(w * t_samples) + 0.1 * std::sin(2.0 * w * t_samples + 0.5);
}
// Largest sample-to-sample step of tone(): 0.3 w + 0.2 w.
inline double tone_max_step() {
  return 0.5 * 2.0 * std::numbers::pi * 220.0 / 48000.0;
}

struct NetworkModel {
  double ppm = 0.0;  // sender clock minus ours
  double base_delay_ms = 5.0;
  double jitter_ms = 0.0;  // uniform extra delay in [0, jitter_ms)
  double loss = 0.0;       // probability a packet never arrives
  double duplicate = 0.0;  // probability a packet arrives twice
  std::uint32_t first_sequence = 1000;
  std::uint64_t seed = 1;
};

struct SimResult {
  std::uint64_t sent = 0;
  std::uint64_t lost = 0;
  std::uint64_t duplicated = 0;
  std::uint64_t reordered = 0;
  std::vector<float> out_l;  // only when keep_output
  std::vector<float> out_r;
};

// Runs `seconds` of audio. Packets of `frames` carry tone() (left) and -tone() (right) of the
// sender's sample index. `each_second(second, stats)` is called once per simulated second.
class Simulation {
 public:
  Simulation(JitterBuffer& buffer, NetworkModel net, std::size_t frames = 64,
             std::size_t period = 64)
      : jb_(buffer), net_(net), frames_(frames), period_(period), rng_(net.seed) {}

  bool keep_output = false;
  bool timestamps = true;  // give the buffer microsecond arrival times (as the engine does)
  // Extra per-packet delay hook (ms), e.g. to make one packet very late.
  std::function<double(std::uint64_t index)> extra_delay_ms;
  // Packets whose index is in this list are dropped deterministically.
  std::function<bool(std::uint64_t index)> drop;
  // Our periods for which this returns true never run (an xrun: the driver woke late and skipped
  // them); their time passes, the sender's packets keep arriving and wait for the next period.
  std::function<bool(std::uint64_t period)> skip_period;
  // Our period runs this many ms after its time (a late wake-up that the sound card's buffer
  // absorbs: the period's frames are not lost, the next period comes that much sooner).
  std::function<double(std::uint64_t period)> period_late_ms;

  SimResult run(double seconds,
                const std::function<void(int, const JitterStats&)>& each_second = {}) {
    SimResult result;
    const double fs = 48000.0;
    const double sender_rate = fs * (1.0 + net_.ppm * 1e-6);  // sender samples per our second
    const auto periods = static_cast<std::uint64_t>(seconds * fs / static_cast<double>(period_));
    std::uniform_real_distribution<double> uni(0.0, 1.0);
    // Earliest arrival first.
    auto later = [](const Pending& a, const Pending& b) { return a.arrival > b.arrival; };
    std::priority_queue<Pending, std::vector<Pending>, decltype(later)> pending(later);
    std::uint64_t next_packet = 0;
    std::vector<float> l(frames_), r(frames_), ol(period_), orr(period_);
    double last_arrival = -1.0;
    int second = 0;
    for (std::uint64_t p = 0; p < periods; ++p) {
      if (skip_period && skip_period(p)) continue;
      double now = static_cast<double>(p * period_) / fs;  // our time, seconds
      if (period_late_ms) now += period_late_ms(p) / 1000.0;
      // Packets the sender has completed by now.
      for (;;) {
        const double created = static_cast<double>((next_packet + 1) * frames_) / sender_rate;
        if (created > now + 0.5) break;  // generate ahead, deliver by arrival time
        double delay = net_.base_delay_ms + net_.jitter_ms * uni(rng_);
        if (extra_delay_ms) delay += extra_delay_ms(next_packet);
        const bool lost = (drop && drop(next_packet)) || uni(rng_) < net_.loss;
        ++result.sent;
        if (lost) {
          // Count only losses the receiver reaches before the run ends.
          if (created + 0.02 < seconds) ++result.lost;
        } else {
          pending.push({created + delay / 1000.0, next_packet});
          if (uni(rng_) < net_.duplicate) {
            if (created + 0.02 < seconds) ++result.duplicated;
            pending.push({created + (delay + 3.0 * uni(rng_)) / 1000.0, next_packet});
          }
        }
        ++next_packet;
      }
      std::uint64_t highest = 0;
      bool any = false;
      while (!pending.empty() && pending.top().arrival <= now) {
        const Pending pk = pending.top();
        pending.pop();
        if (any && pk.index < highest) ++result.reordered;
        highest = std::max(highest, pk.index);
        any = true;
        for (std::size_t i = 0; i < frames_; ++i) {
          const double t = static_cast<double>(pk.index * frames_ + i);
          l[i] = static_cast<float>(tone(t));
          r[i] = -l[i];
        }
        const auto seq = static_cast<std::uint32_t>(net_.first_sequence + pk.index);
        (void)jb_.push(seq, l, r, static_cast<std::uint64_t>(pk.arrival * 1e6) + 1,
                       timestamps ? static_cast<std::uint64_t>(now * 1e6) + 1 : 0);
        last_arrival = pk.arrival;
      }
      jb_.pull(ol, orr);
      if (keep_output) {
        result.out_l.insert(result.out_l.end(), ol.begin(), ol.end());
        result.out_r.insert(result.out_r.end(), orr.begin(), orr.end());
      }
      const double after = static_cast<double>((p + 1) * period_) / fs;
      if (static_cast<int>(after) > second) {
        second = static_cast<int>(after);
        if (each_second) each_second(second, jb_.stats());
      }
    }
    (void)last_arrival;
    return result;
  }

 private:
  struct Pending {
    double arrival;
    std::uint64_t index;
  };
  JitterBuffer& jb_;
  NetworkModel net_;
  std::size_t frames_;
  std::size_t period_;
  std::mt19937_64 rng_;
};

// Largest |x[k] - x[k-1]| over [from, x.size()).
inline double max_step(const std::vector<float>& x, std::size_t from = 1) {
  double m = 0.0;
  for (std::size_t k = std::max<std::size_t>(from, 1); k < x.size(); ++k) {
    m = std::max(m, std::fabs(static_cast<double>(x[k]) - static_cast<double>(x[k - 1])));
  }
  return m;
}

}  // namespace jambox::audio::test
