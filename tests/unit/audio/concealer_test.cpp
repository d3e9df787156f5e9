// Concealment output continuity: a gap filled by the concealer joins the real audio on both sides
// without the jumps a zero-fill (or a plain repeat) produces.
#include "sim.hpp"
#include <jambox/audio/concealer.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <numbers>
#include <vector>

using namespace jambox::audio;
using namespace jambox::audio::test;

namespace {

// Feeds `n` samples of tone() to the concealer, returns them.
std::vector<float> feed(Concealer& c, std::size_t start, std::size_t n) {
  std::vector<float> l(n), r(n);
  for (std::size_t i = 0; i < n; ++i) {
    l[i] = static_cast<float>(tone(static_cast<double>(start + i)));
    r[i] = -l[i];
  }
  c.record(l.data(), r.data(), n);
  return l;
}

}  // namespace

TEST_CASE("concealer continues a periodic signal smoothly and in phase", "[audio][concealment]") {
  // Gap starts at several phases of the waveform, including near a crest where a zero-fill jumps
  // by almost the full amplitude.
  for (std::size_t start : {2000U, 2055U, 2100U, 2163U, 2218U}) {
    INFO("gap after sample " << start);
    Concealer c;
    const std::vector<float> played = feed(c, start - 2000, 2000);
    c.begin();
    CHECK(c.period() > 0);
    CHECK(c.correlation() > 0.9F);
    std::vector<float> gl(64), gr(64);
    c.synthesize(gl.data(), gr.data(), gl.size());

    const auto last = static_cast<double>(played.back());
    const double entry_jump = std::fabs(static_cast<double>(gl[0]) - last);
    const double zero_fill_jump = std::fabs(last);
    // Continuity at the boundary: no larger than a normal step of the signal (+ small slack).
    CHECK(entry_jump <= 1.5 * tone_max_step());
    // Inside the gap: steps stay within the signal's own maximum step.
    std::vector<float> joined(played.end() - 8, played.end());
    joined.insert(joined.end(), gl.begin(), gl.end());
    CHECK(max_step(joined) <= 1.5 * tone_max_step());
    // Waveform match: the concealment tracks the true continuation closely (a 220 Hz tone is
    // exactly periodic, so a good pitch estimate predicts it).
    double err = 0.0;
    double sig = 0.0;
    for (std::size_t i = 0; i < gl.size(); ++i) {
      const double truth = tone(static_cast<double>(start + i));
      const double e = static_cast<double>(gl[i]) - truth;
      err += e * e;
      sig += truth * truth;
      CHECK(gr[i] == Approx(-gl[i]).margin(1e-6));
    }
    CHECK(10.0 * std::log10(sig / err) > 20.0);
    if (zero_fill_jump > 0.2) CHECK(entry_jump < 0.1 * zero_fill_jump);
  }
}

TEST_CASE("concealment fades to silence on long gaps and stays silent on silence",
          "[audio][concealment]") {
  Concealer c;
  (void)feed(c, 0, 2048);
  c.begin();
  std::vector<float> l(48000), r(48000);
  c.synthesize(l.data(), r.data(), l.size());
  // Full level over the first 10 ms ...
  double early = 0.0;
  for (std::size_t i = 0; i < 480; ++i)
    early = std::max(early, std::fabs(static_cast<double>(l[i])));
  CHECK(early > 0.3);
  // ... silent after 60 ms, with no step on the way down.
  for (std::size_t i = 60 * 48; i < l.size(); ++i) REQUIRE(l[i] == 0.0F);
  CHECK(max_step(l) <= 1.5 * tone_max_step());
  CHECK(c.silent());

  Concealer quiet;
  std::vector<float> zeros(4096, 0.0F);
  quiet.record(zeros.data(), zeros.data(), zeros.size());
  quiet.begin();
  std::vector<float> out(256, 1.0F), out_r(256, 1.0F);
  quiet.synthesize(out.data(), out_r.data(), out.size());
  for (const float v : out) CHECK(v == 0.0F);

  Concealer fresh;  // no history at all: silence, not garbage
  fresh.begin();
  fresh.synthesize(out.data(), out_r.data(), out.size());
  for (const float v : out) CHECK(v == 0.0F);
}

TEST_CASE("a lost packet in the jitter buffer is concealed without clicks",
          "[audio][concealment]") {
  // Whole stream through the jitter buffer, 2 % loss: the largest step in the output stays near
  // the signal's own, where a zero-filled gap would jump by up to the amplitude (0.4).
  JitterBuffer jb(JitterConfig{});
  NetworkModel net;
  net.loss = 0.02;
  net.jitter_ms = 1.0;
  Simulation sim(jb, net);
  sim.keep_output = true;
  const SimResult r = sim.run(20.0);
  const JitterStats st = jb.stats();
  REQUIRE(r.lost > 100);
  CHECK(st.concealed >= r.lost);
  const double step = max_step(r.out_l, 48000);
  CHECK(step <= 2.0 * tone_max_step());
  CHECK(step < 0.25 * 0.4);
}
