#include <jambox/audio/concealer.hpp>
#include <jambox/audio/jitter_buffer.hpp>
#include <jambox/audio/resampler.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace jambox::audio {
namespace {

constexpr std::size_t kRingFrames = 8192;  // 170 ms, power of two, a multiple of every frame count
constexpr std::size_t kRingMask = kRingFrames - 1;
constexpr std::size_t kMinPacket = 32;
constexpr std::size_t kMaxSlots = kRingFrames / kMinPacket;
constexpr std::int64_t kNoTag = std::numeric_limits<std::int64_t>::min();
constexpr std::size_t kCrossfade = 48;  // 1 ms from concealment back into real audio
constexpr double kRate = static_cast<double>(kSampleRate);

// Jitter histogram: 16-frame (1/3 ms) bins up to 170 ms.
constexpr std::size_t kBinFrames = 16;
constexpr std::size_t kBins = kRingFrames / kBinFrames;
constexpr std::uint32_t kTargetEvery = 8;  // recompute the quantile every 8 packets

// Baseline: minimum delay over 8 blocks of a quarter second (a sliding 2 s window that costs
// 8 comparisons per packet and no per-packet storage).
constexpr std::size_t kBaseBlocks = 8;
constexpr std::int64_t kBaseBlockFrames = 12000;

// PI controller on the depth error in frames. Natural frequency ~0.35 rad/s, damping ~1: drift
// is absorbed within seconds without overshooting into underruns.
constexpr double kKp = 1.25e-5;          // per frame of error
constexpr double kKi = 2.0e-6;           // per frame of error per second
constexpr double kMaxDriftPpm = 1000.0;  // sound cards are within +-100 ppm; keep wide margin
// Drift alone leaves an error of drift / kKp = 8 frames at 100 ppm: integrate within twice that.
constexpr double kIntegrateBand = 16.0;

// A packet later than this many consecutive times means the sender restarted its sequence.
constexpr std::uint32_t kResyncAfterLate = 64;

// Lost time. When our audio thread is not run for a while (an xrun: a driver that wakes late and
// skips the cycles it missed, a stopped JACK server), our clock loses that time while the sender's
// packets keep coming: the buffer is that much deeper at once, and steering alone would take
// 1 s per 3 ms to play the excess off. Lost time is told from a late period by comparing the
// periods' monotonic times with the frames played: a late period on a sound card is followed by
// an early one, which pays the debt back, while a skipped cycle never is. It counts once it
// exceeds three periods (more than a period buffer of two or three can absorb without an xrun),
// and drift (below kMaxDriftPpm) is forgiven as it accrues.
constexpr std::size_t kLostPeriods = 3;
constexpr double kLostAllowance = kMaxDriftPpm * 1e-6;

bool valid_frames(std::size_t f) {
  return f == 32 || f == 64 || f == 128 || f == 256;
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

double ms_to_frames(float ms) {
  return static_cast<double>(ms) * kRate / 1000.0;
}

}  // namespace

struct JitterBuffer::State {
  JitterConfig cfg;

  // Audio, indexed by stream position modulo the ring; tags say which packet a slot holds.
  std::array<float, kRingFrames> ring_l{};
  std::array<float, kRingFrames> ring_r{};
  std::array<std::int64_t, kMaxSlots> tags{};

  Concealer concealer;
  Resampler resampler;
  std::array<float, Resampler::kMaxInput> in_l{};
  std::array<float, Resampler::kMaxInput> in_r{};
  std::array<float, kCrossfade> fade_l{};
  std::array<float, kCrossfade> fade_r{};

  enum class Mode : std::uint8_t { idle, prefill, playing };
  Mode mode = Mode::idle;
  std::int64_t frames = 0;    // F of the current stream
  std::int64_t slots = 0;     // kRingFrames / F
  std::uint32_t seq_ref = 0;  // unwrapping reference: a recent sequence and its extended value
  std::int64_t ext_ref = 0;
  std::int64_t read_pos = 0;  // stream position of the next frame to play
  std::int64_t max_ext = 0;   // newest packet stored
  std::uint64_t clock = 0;    // frames played
  std::uint64_t first_clock = 0;
  std::uint64_t last_push_clock = 0;

  // Lost time: the last period time seen with a push, our clock then, and the frames our clock
  // fell behind the monotonic clock since (not yet acted on).
  std::uint64_t last_now_us = 0;
  std::uint64_t last_now_clock = 0;
  double lost = 0.0;

  bool concealing = false;
  std::int64_t counted_lost = kNoTag;  // last packet counted as concealed
  std::int64_t stalled = 0;            // frames concealed while waiting, not advancing
  std::size_t crossfade_left = 0;
  std::size_t recorded = 0;  // frames of the current source block already in the history
  std::uint32_t late_run = 0;

  // Arrival statistics.
  std::array<double, kBaseBlocks> base_min{};
  std::array<std::int64_t, kBaseBlocks> base_block{};
  double base = 0.0;
  bool have_base = false;
  std::array<double, kBins> hist{};
  double hist_weight = 1.0;
  double hist_total = 0.0;
  double hist_growth = 1.0;  // 1 / forgetting factor per packet
  std::uint32_t since_target = 0;
  double quantile_frames = 0.0;
  double target = 0.0;         // frames
  bool precise_times = false;  // push() got microsecond timestamps
  std::size_t period = 0;      // frames of the last pull
  double depth = 0.0;          // frames, at the last pull

  // Controller.
  double integral = 0.0;
  double ratio = 1.0;

  // RFC 3550 jitter.
  bool have_transit = false;
  double last_transit = 0.0;
  double rtp_jitter_us = 0.0;

  JitterStats stats;

  explicit State(const JitterConfig& c) : cfg(c) { tags.fill(kNoTag); }

  [[nodiscard]] bool present(std::int64_t ext) const {
    return tags[static_cast<std::size_t>(ext) & static_cast<std::size_t>(slots - 1)] == ext;
  }
  [[nodiscard]] std::int64_t cursor() const { return floor_div(read_pos, frames); }

  [[nodiscard]] double floor_frames() const { return ms_to_frames(cfg.floor_ms); }
  [[nodiscard]] double ceiling_frames() const { return ms_to_frames(cfg.ceiling_ms); }

  void update_target() {
    double t = floor_frames();
    if (cfg.adaptive) {
      // With microsecond arrival times the histogram holds the network's jitter alone; on top
      // of it a packet can wait up to a period for the audio thread, and as the two clocks
      // slide past each other it eventually will: count that from the start instead of
      // learning it through an underrun.
      const double wait = precise_times ? static_cast<double>(period) : 0.0;
      t = std::clamp(quantile_frames + wait + ms_to_frames(cfg.margin_ms), t, ceiling_frames());
    }
    target = t;
  }

  void start_stream(std::uint32_t seq, std::int64_t f) {
    frames = f;
    slots = static_cast<std::int64_t>(kRingFrames) / f;
    tags.fill(kNoTag);
    seq_ref = seq;
    ext_ref = 0;
    read_pos = 0;
    max_ext = 0;
    first_clock = clock;
    mode = Mode::prefill;
    counted_lost = kNoTag;
    stalled = 0;
    late_run = 0;
    have_base = false;
    integral = 0.0;
    ratio = 1.0;
    have_transit = false;
    crossfade_left = 0;
    lost = 0.0;  // the start position is chosen from the depth
    // Fade in from whatever is playing (concealment of a previous stream, or silence).
    if (!concealing) {
      concealer.begin();
      concealing = true;
    }
  }

  // delay: our clock when the packet reached this thread, minus its stream position; this is
  // what decides whether it is in time. precise: the same at the moment the packet arrived,
  // when the caller supplied timestamps. The baseline is taken from the precise
  // delays: the audio thread only sees packets at period boundaries, and with drift that
  // quantisation would move the baseline in whole-period steps instead of smoothly.
  void observe_delay(std::int64_t ext, double precise) {
    const double delay = static_cast<double>(clock) - static_cast<double>(ext * frames);
    precise = std::min(precise, delay);
    const std::int64_t block = static_cast<std::int64_t>(clock) / kBaseBlockFrames;
    const auto slot = static_cast<std::size_t>(block) % kBaseBlocks;
    if (!have_base) {
      base_block.fill(std::numeric_limits<std::int64_t>::min());
      have_base = true;
    }
    if (base_block[slot] != block) {
      base_block[slot] = block;
      base_min[slot] = precise;
    } else {
      base_min[slot] = std::min(base_min[slot], precise);
    }
    double b = std::numeric_limits<double>::max();
    for (std::size_t i = 0; i < kBaseBlocks; ++i) {
      if (base_block[i] > block - static_cast<std::int64_t>(kBaseBlocks))
        b = std::min(b, base_min[i]);
    }
    base = b;

    // Histogram of delay above the baseline, with exponential forgetting done lazily: new
    // entries weigh more and more, and everything is rescaled before the weights overflow.
    const double jitter = (precise_times ? precise : delay) - base;
    const auto bin =
        std::min(static_cast<std::size_t>(std::max(0.0, jitter)) / kBinFrames, kBins - 1);
    hist_weight *= hist_growth;
    hist[bin] += hist_weight;
    hist_total += hist_weight;
    if (hist_weight > 1e100) {
      for (double& h : hist) h /= hist_weight;
      hist_total /= hist_weight;
      hist_weight = 1.0;
    }
    if (++since_target >= kTargetEvery) {
      since_target = 0;
      const double need = hist_total * static_cast<double>(cfg.quantile);
      double sum = 0.0;
      std::size_t b2 = 0;
      for (; b2 < kBins - 1; ++b2) {
        sum += hist[b2];
        if (sum >= need) break;
      }
      quantile_frames = static_cast<double>((b2 + 1) * kBinFrames);  // bin's upper edge
      update_target();
    }
  }

  // Accrues the time our clock fell behind the monotonic clock between two periods that pushed.
  void observe_period(std::uint64_t now_us) {
    if (now_us == 0) return;
    if (last_now_us != 0 && now_us > last_now_us && clock >= last_now_clock) {
      const double wall = static_cast<double>(now_us - last_now_us) * kRate / 1e6;
      const auto played = static_cast<double>(clock - last_now_clock);
      // A gap of many seconds is a sender that went quiet on a stopped audio thread: the stream
      // restarts from scratch anyway, and the sum must stay bounded.
      lost = std::clamp(lost + wall - played * (1.0 + kLostAllowance), 0.0,
                        static_cast<double>(kRingFrames));
    }
    if (now_us != last_now_us || clock != last_now_clock) {
      last_now_us = now_us;
      last_now_clock = clock;
    }
  }

  // After lost time, drops the audio that became stale: as much as was lost, never below the
  // target. The excess is what both the depth and the audio actually held say is beyond the
  // target: after the sender lost time instead, the depth reads high (the baseline remembers the
  // earlier schedule for 2 s) while little is held, and nothing may be dropped. Without period
  // times (or if lost time came in slices too small to tell from late periods), holding more
  // than a ceiling beyond the target can only be stale audio too: steering never leaves that much
  // (a late packet's wait keeps at most the ceiling).
  void catch_up(std::size_t pos) {
    const double held = static_cast<double>((max_ext + 1) * frames - read_pos);
    const double excess = std::floor(std::min(depth, held) - target);
    double drop = 0.0;
    if (lost >= static_cast<double>(kLostPeriods * period)) {
      drop = std::min(lost, excess);
      lost = 0.0;
    } else if (excess > ceiling_frames()) {
      drop = excess;
    }
    // Less than a period of excess: the lost time was absorbed already (or was a late period).
    if (drop < static_cast<double>(period) || !present(cursor())) return;
    begin_conceal(pos);  // cross-fades from the old audio's continuation into the new
    const std::int64_t before = read_pos;
    skip_present(static_cast<std::int64_t>(drop));
    if (read_pos == before) return;
    depth -= static_cast<double>(read_pos - before);
    ++stats.catch_ups;
    stats.caught_up_frames += static_cast<std::uint64_t>(read_pos - before);
  }

  void observe_arrival(std::int64_t ext, std::uint64_t arrival_us) {
    if (arrival_us == 0) return;
    const double sent_us = static_cast<double>(ext * frames) * 1e6 / kRate;
    const double transit = static_cast<double>(arrival_us) - sent_us;
    if (have_transit) {
      const double d = std::fabs(transit - last_transit);
      rtp_jitter_us += (d - rtp_jitter_us) / 16.0;
    }
    last_transit = transit;
    have_transit = true;
  }

  void control(std::size_t n) {
    depth = static_cast<double>(clock) - static_cast<double>(read_pos) - base;
    if (mode != Mode::playing || stalled > 0) return;  // no steering while waiting
    const double error = depth - target;
    const double max_u = static_cast<double>(cfg.max_correction_ppm) * 1e-6;
    const double p = kKp * error;
    // Integrate only while the output is not saturated (anti-windup) and the error is small:
    // the integral is the drift estimate, and must not soak up target steps or the aftermath
    // of a stall, which the proportional term removes by itself within seconds.
    if (std::fabs(p + integral) < max_u && std::fabs(error) < kIntegrateBand) {
      integral += kKi * error * static_cast<double>(n) / kRate;
      integral = std::clamp(integral, -kMaxDriftPpm * 1e-6, kMaxDriftPpm * 1e-6);
    }
    ratio = 1.0 + std::clamp(p + integral, -max_u, max_u);
  }

  // The concealer's history must be complete up to the gap, including what this block has
  // produced so far.
  void record_upto(std::size_t pos) {
    if (pos > recorded) {
      concealer.record(in_l.data() + recorded, in_r.data() + recorded, pos - recorded);
      recorded = pos;
    }
  }

  void begin_conceal(std::size_t pos) {
    if (!concealing) {
      record_upto(pos);
      concealer.begin();
      concealing = true;
    }
    crossfade_left = 0;
  }

  // Fills in_[pos, pos + count) with concealment; never moves the read position.
  void conceal_into(std::size_t pos, std::size_t count) {
    concealer.synthesize(in_l.data() + pos, in_r.data() + pos, count);
  }

  // Drops up to `skip` frames of buffered audio that is present, to shed delay after a long wait.
  void skip_present(std::int64_t skip) {
    while (skip > 0) {
      const std::int64_t ext = cursor();
      if (!present(ext)) break;
      const std::int64_t step = std::min(skip, (ext + 1) * frames - read_pos);
      read_pos += step;
      skip -= step;
    }
  }

  // Produces m frames of the sender's stream (before resampling) into in_l/in_r.
  void source(std::size_t m) {
    std::size_t pos = 0;
    recorded = 0;
    if (mode == Mode::playing) {
      if (stalled == 0) catch_up(pos);
    } else {
      lost = 0.0;
    }
    while (pos < m) {
      if (mode != Mode::playing) {
        if (concealing) {
          conceal_into(pos, m - pos);
        } else {
          std::fill(in_l.begin() + static_cast<std::ptrdiff_t>(pos),
                    in_l.begin() + static_cast<std::ptrdiff_t>(m), 0.0F);
          std::fill(in_r.begin() + static_cast<std::ptrdiff_t>(pos),
                    in_r.begin() + static_cast<std::ptrdiff_t>(m), 0.0F);
        }
        pos = m;
        break;
      }
      const std::int64_t ext = cursor();
      const std::int64_t offset = read_pos - ext * frames;
      const auto left = static_cast<std::size_t>(frames - offset);
      if (present(ext)) {
        if (stalled > 0) {
          // The packet we waited for came: a late packet, not a loss. The wait made the buffer
          // deeper; keep at most one target's worth of that (at least a packet, never past the
          // ceiling) and drop the rest now rather than play stale audio for many seconds.
          ++stats.underruns;
          const double keep =
              std::clamp(target, static_cast<double>(frames),
                         std::max(static_cast<double>(frames), ceiling_frames() - target));
          const std::int64_t excess = stalled - static_cast<std::int64_t>(keep);
          stalled = 0;
          if (excess > 0) {
            skip_present(excess);
            continue;
          }
        }
        if (concealing) {
          concealing = false;
          crossfade_left = kCrossfade;
        }
        const std::size_t run = std::min(m - pos, left);
        const std::size_t at = static_cast<std::size_t>(read_pos) & kRingMask;
        std::copy_n(ring_l.data() + at, run, in_l.data() + pos);
        std::copy_n(ring_r.data() + at, run, in_r.data() + pos);
        if (crossfade_left > 0) {
          const std::size_t k = std::min(run, crossfade_left);
          concealer.synthesize(fade_l.data(), fade_r.data(), k);
          for (std::size_t i = 0; i < k; ++i) {
            const float w = static_cast<float>(kCrossfade - crossfade_left + i + 1) /
                            static_cast<float>(kCrossfade + 1);
            in_l[pos + i] = w * in_l[pos + i] + (1.0F - w) * fade_l[i];
            in_r[pos + i] = w * in_r[pos + i] + (1.0F - w) * fade_r[i];
          }
          crossfade_left -= k;
        }
        read_pos += static_cast<std::int64_t>(run);
        pos += run;
        continue;
      }
      if (max_ext > ext) {
        // Lost (or too late to wait for): later audio is here, so conceal in place.
        if (counted_lost != ext) {
          counted_lost = ext;
          ++stats.concealed;
        }
        if (stalled > 0) {
          // The wait already covered (part of) this packet's time.
          const std::int64_t credit =
              std::min<std::int64_t>(stalled, static_cast<std::int64_t>(left));
          read_pos += credit;
          stalled = 0;
          continue;
        }
        begin_conceal(pos);
        const std::size_t run = std::min(m - pos, left);
        conceal_into(pos, run);
        read_pos += static_cast<std::int64_t>(run);
        pos += run;
        continue;
      }
      // Nothing buffered: wait, concealing, without moving.
      begin_conceal(pos);
      conceal_into(pos, m - pos);
      stalled += static_cast<std::int64_t>(m - pos);
      pos = m;
      if (static_cast<double>(stalled) > ms_to_frames(cfg.stall_reset_ms)) {
        // The sender is gone (or was for long): start over when it comes back.
        mode = Mode::idle;
        stalled = 0;
      }
    }
    record_upto(m);
  }
};

JitterBuffer::JitterBuffer(const JitterConfig& config) : s_(std::make_unique<State>(config)) {
  config.validate();
  configure(config);
}

JitterBuffer::~JitterBuffer() = default;

void JitterBuffer::configure(const JitterConfig& config) noexcept {
  State& s = *s_;
  s.cfg = config;
  // Forgetting factor per packet of 64 frames; streams of other sizes forget a little faster or
  // slower, which does not matter at a memory of seconds.
  const double packets = static_cast<double>(config.memory_s) * kRate / 64.0;
  s.hist_growth = std::exp(1.0 / packets);
  s.update_target();
}

void JitterBuffer::reset() noexcept {
  State& s = *s_;
  const JitterConfig cfg = s.cfg;
  const double growth = s.hist_growth;
  s.mode = State::Mode::idle;
  s.tags.fill(kNoTag);
  s.concealer.reset();
  s.resampler.reset();
  s.concealing = false;
  s.crossfade_left = 0;
  s.stalled = 0;
  s.clock = 0;
  s.last_push_clock = 0;
  s.last_now_us = 0;
  s.last_now_clock = 0;
  s.lost = 0.0;
  s.have_base = false;
  s.hist.fill(0.0);
  s.hist_weight = 1.0;
  s.hist_total = 0.0;
  s.hist_growth = growth;
  s.since_target = 0;
  s.quantile_frames = 0.0;
  s.integral = 0.0;
  s.ratio = 1.0;
  s.depth = 0.0;
  s.precise_times = false;
  s.period = 0;
  s.have_transit = false;
  s.rtp_jitter_us = 0.0;
  s.stats = JitterStats{};
  s.cfg = cfg;
  s.update_target();
}

PushResult JitterBuffer::push(std::uint32_t sequence, std::span<const float> ch1,
                              std::span<const float> ch2, std::uint64_t arrival_us,
                              std::uint64_t now_us) noexcept {
  State& s = *s_;
  s.observe_period(now_us);
  // Where between the last period boundary and now the packet really arrived, in our frames.
  double age_frames = 0.0;
  if (arrival_us != 0 && now_us != 0) {
    s.precise_times = true;
    if (now_us > arrival_us) {
      age_frames = std::min(static_cast<double>(now_us - arrival_us), 1e6) * kRate / 1e6;
    }
  }
  const std::size_t f = ch1.size();
  if (!valid_frames(f) || ch2.size() != f) {
    ++s.stats.rejected;
    return PushResult::rejected;
  }
  const auto frames = static_cast<std::int64_t>(f);
  PushResult result = PushResult::stored;
  if (s.mode == State::Mode::idle) {
    s.start_stream(sequence, frames);
  } else if (frames != s.frames) {
    ++s.stats.resyncs;
    s.start_stream(sequence, frames);
    result = PushResult::resync;
  }
  std::int64_t ext = s.ext_ref + static_cast<std::int32_t>(sequence - s.seq_ref);
  std::int64_t cursor = s.cursor();

  if (s.mode == State::Mode::prefill && ext < cursor && cursor - ext < s.slots / 2 &&
      s.max_ext - ext < s.slots - 1) {
    // Reordered packets around the very first one: start the stream at the earliest.
    s.read_pos = ext * s.frames;
    cursor = ext;
  }
  if (ext < cursor) {
    if (cursor - ext <= s.slots && s.present(ext)) {
      ++s.stats.duplicates;  // a copy of a packet already played
      return PushResult::duplicate;
    }
    // A late packet is exactly the jitter the target must learn about.
    s.observe_delay(
        ext, static_cast<double>(s.clock) - static_cast<double>(ext * s.frames) - age_frames);
    ++s.stats.late;
    if (++s.late_run < kResyncAfterLate) return PushResult::late;
    ++s.stats.resyncs;
    s.start_stream(sequence, frames);
    ext = 0;
    cursor = 0;
    result = PushResult::resync;
  }
  if (ext - cursor >= s.slots - 1) {
    // Too far ahead to hold without overwriting what plays now: the sender jumped.
    ++s.stats.resyncs;
    s.start_stream(sequence, frames);
    ext = 0;
    result = PushResult::resync;
  }
  if (s.present(ext)) {
    ++s.stats.duplicates;
    return PushResult::duplicate;
  }
  s.late_run = 0;
  const std::size_t at = static_cast<std::size_t>(ext * s.frames) & kRingMask;
  std::copy_n(ch1.data(), f, s.ring_l.data() + at);
  std::copy_n(ch2.data(), f, s.ring_r.data() + at);
  s.tags[static_cast<std::size_t>(ext) & static_cast<std::size_t>(s.slots - 1)] = ext;
  s.max_ext = std::max(s.max_ext, ext);
  if (ext > s.ext_ref) {
    s.ext_ref = ext;
    s.seq_ref = sequence;
  }
  s.last_push_clock = s.clock;
  ++s.stats.received;
  s.observe_delay(ext,
                  static_cast<double>(s.clock) - static_cast<double>(ext * s.frames) - age_frames);
  s.observe_arrival(ext, arrival_us);
  return result;
}

void JitterBuffer::pull(std::span<float> out_l, std::span<float> out_r) noexcept {
  State& s = *s_;
  const std::size_t n =
      std::min({out_l.size(), out_r.size(), static_cast<std::size_t>(kMaxPeriodFrames)});
  if (s.mode == State::Mode::idle && !s.concealing) {
    std::fill_n(out_l.data(), n, 0.0F);
    std::fill_n(out_r.data(), n, 0.0F);
    s.clock += n;
    return;
  }
  if (s.mode == State::Mode::prefill) {
    // Start once the first few packets have shown how they arrive (or after a ceiling's worth
    // of waiting), at the stream position that gives exactly the target depth: nothing has been
    // played yet, so skipping the oldest packets costs nothing, and the buffer does not have to
    // shed a start-up excess slowly.
    const bool learned = s.stats.received >= kTargetEvery ||
                         static_cast<double>(s.clock - s.first_clock) >= s.ceiling_frames();
    const double wanted = std::floor(static_cast<double>(s.clock) - s.base - s.target);
    if (learned && s.max_ext >= s.cursor() && wanted >= static_cast<double>(s.read_pos)) {
      s.read_pos = std::min(static_cast<std::int64_t>(wanted), s.max_ext * s.frames);
      s.mode = State::Mode::playing;
    }
  }
  if (n != s.period) {
    s.period = n;
    s.update_target();
  }
  s.control(n);
  const std::size_t m = s.resampler.input_needed(n, s.ratio);
  s.source(m);
  s.resampler.process({s.in_l.data(), m}, {s.in_r.data(), m}, out_l.first(n), out_r.first(n),
                      s.ratio);
  s.clock += n;
  if (s.mode == State::Mode::idle && s.concealing && s.concealer.silent()) {
    s.concealing = false;  // faded out: back to plain silence
  }
}

JitterStats JitterBuffer::stats() const noexcept {
  const State& s = *s_;
  JitterStats st = s.stats;
  constexpr double kMsPerFrame = 1000.0 / kRate;
  st.playing = s.mode == State::Mode::playing;
  st.target_ms = static_cast<float>(s.target * kMsPerFrame);
  if (s.mode != State::Mode::idle) {
    st.depth_ms = static_cast<float>(s.depth * kMsPerFrame);
    const double queued = static_cast<double>((s.max_ext + 1) * s.frames - s.read_pos);
    st.queued_ms = static_cast<float>(std::max(0.0, queued) * kMsPerFrame);
  }
  st.drift_ppm = static_cast<float>(s.integral * 1e6);
  st.jitter_ms = static_cast<float>(s.rtp_jitter_us / 1000.0);
  return st;
}

std::uint64_t JitterBuffer::frames_since_push() const noexcept {
  return s_->clock - s_->last_push_clock;
}

double JitterBuffer::ratio() const noexcept {
  return s_->ratio;
}

}  // namespace jambox::audio
