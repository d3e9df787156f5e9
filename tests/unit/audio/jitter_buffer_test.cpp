// The jitter buffer under synthetic jitter, loss, reordering, duplicates and clock drift.
#include "sim.hpp"
#include "track.hpp"
#include <jambox/audio/jitter_buffer.hpp>

#include <catch2/catch.hpp>

using namespace jambox::audio;
using namespace jambox::audio::test;

TEST_CASE("reordered packets are played in order", "[audio][jitter]") {
  JitterBuffer jb(JitterConfig{});
  NetworkModel net;
  net.jitter_ms = 8.0;  // up to six packets out of order
  Simulation sim(jb, net);
  sim.keep_output = true;
  const SimResult r = sim.run(30.0);
  const JitterStats st = jb.stats();
  REQUIRE(r.reordered > 1000);
  CHECK(st.concealed <= 10);  // a few late ones while the target learns the jitter
  // Any packet played out of order would show as a jump in the waveform.
  std::size_t jumps = 0;
  for (std::size_t k = 48000; k < r.out_l.size(); ++k) {
    if (std::fabs(static_cast<double>(r.out_l[k] - r.out_l[k - 1])) > 1.5 * tone_max_step())
      ++jumps;
  }
  CHECK(jumps == 0);
}

TEST_CASE("a burst of late packets is waited for, then the depth returns to the target",
          "[audio][jitter]") {
  JitterBuffer jb(JitterConfig{});
  NetworkModel net;
  Simulation sim(jb, net);
  sim.keep_output = true;
  // Packets 4000..4015 are held up and all delivered together with packet 4015: a 20 ms stall.
  sim.extra_delay_ms = [](std::uint64_t i) {
    return (i >= 4000 && i < 4015) ? static_cast<double>(4015 - i) * 64.0 / 48.0 : 0.0;
  };
  Track t;
  const SimResult r = sim.run(40.0, tracker(t, 30));
  const JitterStats st = jb.stats();
  CHECK(st.underruns == 1);
  CHECK(st.concealed == 0);  // nothing was lost, so nothing was skipped
  CHECK(st.late == 0);
  // Back at the target within seconds, not stuck 20 ms deeper.
  CHECK(t.at_settle.depth_ms - t.at_settle.target_ms < 0.5F);
  // The waveform stayed continuous through the stall (concealed, then cross-faded).
  CHECK(max_step(r.out_l, 48000) <= 1.5 * tone_max_step());
}

TEST_CASE("duplicates are dropped and change nothing", "[audio][jitter]") {
  NetworkModel net;
  JitterBuffer plain(JitterConfig{});
  Simulation a(plain, net);
  a.keep_output = true;
  const SimResult ra = a.run(5.0);

  net.duplicate = 1.0;  // every packet twice
  JitterBuffer doubled(JitterConfig{});
  Simulation b(doubled, net);
  b.keep_output = true;
  const SimResult rb = b.run(5.0);
  REQUIRE(rb.duplicated > 3000);
  // The duplicates still in flight at the end are not counted.
  CHECK(doubled.stats().duplicates + 20 >= rb.duplicated);
  CHECK(doubled.stats().duplicates <= rb.duplicated + 20);
  CHECK(doubled.stats().concealed == 0);
  CHECK(ra.out_l == rb.out_l);
  CHECK(ra.out_r == rb.out_r);
}

TEST_CASE("sequence numbers wrap around without a glitch", "[audio][jitter]") {
  JitterBuffer jb(JitterConfig{});
  NetworkModel net;
  net.first_sequence = 0xFFFFFF00U;  // wraps after 256 packets
  net.jitter_ms = 2.0;
  Simulation sim(jb, net);
  (void)sim.run(5.0);
  const JitterStats st = jb.stats();
  CHECK(st.resyncs == 0);
  CHECK(st.concealed == 0);
  CHECK(st.late <= 3);
  CHECK(st.received > 3700);
}

TEST_CASE("other packet sizes and periods", "[audio][jitter]") {
  struct Case {
    std::size_t frames;
    std::size_t period;
  };
  for (const Case c :
       {Case{32, 64}, Case{64, 32}, Case{128, 64}, Case{64, 256}, Case{256, 128}, Case{32, 32}}) {
    INFO("packets of " << c.frames << ", periods of " << c.period);
    JitterBuffer jb(JitterConfig{});
    NetworkModel net;
    net.ppm = 50.0;
    net.jitter_ms = 1.0;
    Simulation sim(jb, net, c.frames, c.period);
    sim.keep_output = true;
    Track t;
    const SimResult r = sim.run(20.0, tracker(t, 12));
    const JitterStats st = jb.stats();
    CHECK(st.concealed == 0);
    CHECK(st.underruns == 0);
    CHECK(t.worst_over < 0.75F);
    CHECK(t.worst_under < 0.75F);
    CHECK(max_step(r.out_l, 48000) <= 1.5 * tone_max_step());
  }
}

TEST_CASE("a fixed target pins the depth to the floor", "[audio][jitter]") {
  JitterConfig cfg;
  cfg.adaptive = false;
  cfg.floor_ms = 8.0F;
  JitterBuffer jb(cfg);
  NetworkModel net;
  net.jitter_ms = 2.0;
  Simulation sim(jb, net);
  Track t;
  (void)sim.run(20.0, tracker(t, 10));
  CHECK(jb.stats().target_ms == Approx(8.0F));
  CHECK(t.worst_over < 0.5F);
  CHECK(t.worst_under < 0.5F);
  CHECK(jb.stats().concealed == 0);
}

TEST_CASE("malformed packets, frame size changes and sequence jumps", "[audio][jitter]") {
  JitterBuffer jb(JitterConfig{});
  std::vector<float> a(64, 0.1F), b(48, 0.1F), c(128, 0.1F), out(64);
  CHECK(jb.push(1, b, b) == PushResult::rejected);
  CHECK(jb.push(1, a, c) == PushResult::rejected);
  CHECK(jb.stats().rejected == 2);
  CHECK(jb.push(10, a, a) == PushResult::stored);
  CHECK(jb.push(10, a, a) == PushResult::duplicate);
  CHECK(jb.push(11, a, a) == PushResult::stored);
  for (int i = 0; i < 4; ++i) jb.pull(out, out);
  CHECK(jb.push(12, c, c) == PushResult::resync);      // sender switched to 128 frames
  CHECK(jb.push(100000, c, c) == PushResult::resync);  // far ahead: sender jumped
  CHECK(jb.stats().resyncs == 2);
  CHECK(jb.stats().duplicates == 1);
}

TEST_CASE("a sender that goes silent fades out, and a new stream fades in", "[audio][jitter]") {
  JitterBuffer jb(JitterConfig{});
  NetworkModel net;
  Simulation sim(jb, net);
  sim.keep_output = true;
  // Packets 1000..1374 (half a second) never arrive.
  sim.drop = [](std::uint64_t i) { return i >= 1000 && i < 1375; };
  const SimResult r = sim.run(3.0);
  // Silent within 60 ms of the gap, for the rest of it.
  const std::size_t gap_start = 1000 * 64 + 5 * 48 + 2 * 48;  // + network delay + depth
  for (std::size_t k = gap_start + 80 * 48; k < gap_start + 400 * 48; ++k)
    REQUIRE(r.out_l[k] == 0.0F);
  // Playing again afterwards, without a step.
  double late_peak = 0.0;
  for (std::size_t k = r.out_l.size() - 4800; k < r.out_l.size(); ++k) {
    late_peak = std::max(late_peak, std::fabs(static_cast<double>(r.out_l[k])));
  }
  CHECK(late_peak > 0.3);
  CHECK(max_step(r.out_l) <= 1.5 * tone_max_step());
  CHECK(jb.stats().playing);
}

TEST_CASE("a sender that pauses for longer than the ceiling comes back at the target depth",
          "[audio][jitter]") {
  // The sender's JACK server restarts: nothing for 700 ms, then its stream goes on with the next
  // sequence number. That is an outage, not jitter: the buffer must not learn 700 ms of delay
  // (target at the ceiling, seconds of steering back down) nor keep it as depth.
  JitterBuffer jb(JitterConfig{});
  NetworkModel net;
  Simulation sim(jb, net);
  sim.keep_output = true;
  sim.extra_delay_ms = [](std::uint64_t i) { return i >= 3000 ? 700.0 : 0.0; };
  Track t;
  const SimResult r = sim.run(8.0, tracker(t, 5));  // the pause is at 4 s, back at 4.7 s
  CHECK(jb.stats().playing);
  // Right after the pause: back at the floor's depth, not tens of milliseconds deeper.
  CHECK(t.at_settle.target_ms < 3.0F);
  CHECK(t.at_settle.depth_ms < 3.0F);
  CHECK(t.max_target < 3.0F);
  CHECK(t.worst_over < 0.5F);
  CHECK(max_step(r.out_l, 48000) <= 1.5 * tone_max_step());
}

TEST_CASE("time our audio thread loses (an xrun) is dropped at once, not played late",
          "[audio][jitter]") {
  // Our driver skips 140 ms of periods (a dummy driver whose timer woke late, a stalled JACK
  // server) while the sender's packets keep coming: the buffer is suddenly 140 ms deeper. That
  // audio is stale; steering would take 45 s to play it off (and a few more such xruns would
  // fill the ring and restart the stream).
  JitterBuffer jb(JitterConfig{});
  NetworkModel net;
  Simulation sim(jb, net);
  sim.keep_output = true;
  sim.skip_period = [](std::uint64_t p) { return p >= 3000 && p < 3105; };  // 4.00 .. 4.14 s
  Track t;
  const SimResult r = sim.run(8.0, tracker(t, 5));
  const JitterStats st = jb.stats();
  CHECK(st.catch_ups == 1);
  CHECK(st.caught_up_frames >= 105 * 64 - 2 * 64);  // the lost time, less what steering took
  CHECK(st.caught_up_frames <= 105 * 64);
  CHECK(st.underruns == 0);  // never below the target: nothing in time was dropped
  CHECK(st.concealed == 0);
  CHECK(st.resyncs == 0);
  // A second later the depth is the target's, not 140 ms more.
  CHECK(t.at_settle.depth_ms - t.at_settle.target_ms < 0.5F);
  CHECK(t.worst_over < 0.5F);
  CHECK(t.max_target < 3.0F);  // the lost time was not learned as jitter
  // The jump is cross-faded from the old audio's continuation into the new.
  CHECK(max_step(r.out_l, 48000) <= 2.0 * tone_max_step());
}

TEST_CASE("a storm of short xruns keeps the depth at the target", "[audio][jitter]") {
  // Each xrun skips two periods, less than the lost-time threshold; a hundred of them in 4 s add
  // up to 350 ms of lost time, far more than steering (3 ms a second) or the ring could absorb.
  JitterBuffer jb(JitterConfig{});
  NetworkModel net;
  Simulation sim(jb, net);
  sim.skip_period = [](std::uint64_t p) {
    return p >= 3000 && p < 6000 && p % 30 < 2;  // 2 of every 30 periods from 4 s to 8 s
  };
  Track t;
  (void)sim.run(10.0, tracker(t, 3));
  const JitterStats st = jb.stats();
  CHECK(st.catch_ups >= 40);
  CHECK(st.resyncs == 0);
  CHECK(st.underruns == 0);
  CHECK(st.concealed == 0);
  // Never more than the threshold's few periods of stale audio beyond the target.
  CHECK(t.worst_over < 6.0F);
  CHECK(t.max_target < 3.0F);
}

TEST_CASE("a sender that loses time is waited for, and nothing it sends is dropped",
          "[audio][jitter]") {
  // The other side's xruns: every 400 ms its stream pauses for 40 ms and goes on where it was,
  // so each packet from then on arrives 40 ms later than the one before the pause. Our clock lost
  // nothing: the depth reads high while the baseline remembers the earlier schedule, but hardly
  // anything is held, and no audio may be thrown away for it.
  JitterBuffer jb(JitterConfig{});
  NetworkModel net;
  Simulation sim(jb, net);
  sim.extra_delay_ms = [](std::uint64_t i) {
    return i < 3000 ? 0.0
                    : 40.0 * static_cast<double>(std::min<std::uint64_t>((i - 3000) / 300, 8));
  };
  (void)sim.run(10.0);
  const JitterStats st = jb.stats();
  CHECK(st.catch_ups == 0);
  CHECK(st.concealed == 0);
  CHECK(st.late == 0);
}

TEST_CASE("a late period that the sound card absorbs drops nothing", "[audio][jitter]") {
  // Two periods late, then on time again: no frame was lost, so nothing may be skipped.
  JitterBuffer jb(JitterConfig{});
  NetworkModel net;
  Simulation sim(jb, net);
  sim.period_late_ms = [](std::uint64_t p) {
    return p >= 3000 && p < 6000 && p % 50 == 0 ? 2.0 * 64.0 / 48.0 : 0.0;
  };
  (void)sim.run(10.0);
  const JitterStats st = jb.stats();
  CHECK(st.catch_ups == 0);
  CHECK(st.caught_up_frames == 0);
  CHECK(st.underruns == 0);
  CHECK(st.concealed == 0);
}

TEST_CASE("without microsecond timestamps the buffer still adapts and conceals",
          "[audio][jitter]") {
  JitterBuffer jb(JitterConfig{});
  NetworkModel net;
  net.ppm = -60.0;
  net.jitter_ms = 3.0;
  net.loss = 0.01;
  Simulation sim(jb, net);
  sim.timestamps = false;
  Track t;
  const SimResult r = sim.run(60.0, tracker(t, 10));
  const JitterStats st = jb.stats();
  CHECK(st.concealed >= r.lost);
  CHECK(st.concealed + st.underruns <= r.lost + r.lost / 5 + 5);
  CHECK(t.worst_over < 1.5F);
  CHECK(t.worst_under < 1.5F);
  CHECK(t.max_depth < 8.0F);
}
