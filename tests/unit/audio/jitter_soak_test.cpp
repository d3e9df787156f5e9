// The jitter buffer over minutes of simulated audio: clock drift, jitter, loss, duplicates and
// reordering together. Kept apart from the quick cases because it runs for a while.
#include "sim.hpp"
#include "track.hpp"
#include <jambox/audio/jitter_buffer.hpp>

#include <catch2/catch.hpp>

#include <cmath>

using namespace jambox::audio;
using namespace jambox::audio::test;

TEST_CASE("clock drift of +-100 ppm is absorbed without concealment or creep", "[audio][jitter]") {
  for (const double ppm : {100.0, -100.0}) {
    INFO("sender drift " << ppm << " ppm");
    JitterBuffer jb(JitterConfig{});
    NetworkModel net;
    net.ppm = ppm;
    net.jitter_ms = 0.3;  // a quiet LAN
    Simulation sim(jb, net);
    Track t;
    (void)sim.run(150.0, tracker(t, 20));  // two and a half minutes
    const JitterStats st = jb.stats();
    CHECK(st.playing);
    CHECK(st.concealed == 0);
    CHECK(st.underruns == 0);
    CHECK(st.late == 0);
    // The depth neither creeps nor drifts away from the target.
    CHECK(t.worst_over < 0.5F);
    CHECK(t.worst_under < 0.5F);
    CHECK(t.max_target <= 2.5F);  // a period's wait for the audio thread, jitter and margin
    // The controller's integral is the drift estimate.
    CHECK(std::fabs(static_cast<double>(t.last_drift) - ppm) < 25.0);
    CHECK(st.received > 110000);
  }
}

TEST_CASE("jitter, loss, duplicates, reordering and drift over three minutes", "[audio][jitter]") {
  for (const double ppm : {100.0, -100.0}) {
    INFO("sender drift " << ppm << " ppm");
    JitterBuffer jb(JitterConfig{});
    NetworkModel net;
    net.ppm = ppm;
    net.jitter_ms = 4.0;  // uniform 0..4 ms: three packet intervals, so heavy reordering
    net.loss = 0.01;
    net.duplicate = 0.005;
    net.seed = ppm > 0 ? 7 : 11;
    Simulation sim(jb, net);
    Track t;
    const SimResult r = sim.run(180.0, tracker(t, 10));
    const JitterStats st = jb.stats();
    REQUIRE(r.lost > 1000);
    REQUIRE(r.reordered > 1000);
    // Every loss is concealed once; packets concealed for lateness are few.
    CHECK(st.concealed >= r.lost);
    CHECK(st.concealed <= r.lost + r.lost / 20 + 10);
    // Audible events stay close to the number of losses (the e2e budget is 1.5x).
    CHECK(st.concealed + st.underruns <= r.lost + r.lost / 10);
    CHECK(st.duplicates <= r.duplicated);
    CHECK(st.duplicates + 3 >= r.duplicated);
    // Depth bounded near a target that covers the jitter.
    CHECK(t.worst_over < 1.0F);
    CHECK(t.worst_under < 1.0F);
    CHECK(t.at_settle.target_ms >= 4.0F);
    CHECK(t.max_target <= 7.0F);
    CHECK(t.max_depth <= 8.0F);
    CHECK(std::fabs(static_cast<double>(t.last_drift) - ppm) < 60.0);
  }
}
