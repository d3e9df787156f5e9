#include <jambox/audio/dsp.hpp>
#include <jambox/audio/engine.hpp>
#include <jambox/audio/jitter_buffer.hpp>
#include <jambox/audio/meter.hpp>
#include <jambox/audio/meter_window.hpp>
#include <jambox/audio/metronome.hpp>
#include <jambox/audio/seqlock.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <ctime>
#if defined(__SSE__)
#include <xmmintrin.h>
#endif

namespace jambox::audio {
namespace {

constexpr std::size_t kCommandCapacity = 256;
// Bounded work per period whatever the other threads do.
constexpr std::size_t kMaxCommandsPerPeriod = 64;
constexpr std::size_t kMaxInboundPerPeriod = kInboundCapacity;

using CommandQueue =
    boost::lockfree::spsc_queue<Command, boost::lockfree::capacity<kCommandCapacity>>;
// Every chain posted comes back here exactly once (the one it replaced, maybe null), and the
// control thread never has more posted than this ring holds, so the audio thread never finds it
// full.
constexpr std::size_t kRetiredCapacity = 64;
using RetiredQueue =
    boost::lockfree::spsc_queue<Insert*, boost::lockfree::capacity<kRetiredCapacity>>;
using Buffer = std::array<float, kMaxPeriodFrames>;

bool valid_frames(std::uint16_t f) {
  return f == 32 || f == 64 || f == 128 || f == 256;
}

struct Remote {
  bool active = false;
  bool leaving = false;  // fading out this period, released at its end
  std::uint32_t session_id = 0;
  float gain_db = 0.0F;
  float pan = 0.0F;
  bool muted = false;
  GainRamp left;
  GainRamp right;
  Meter meter;
  std::unique_ptr<JitterBuffer> buffer;

  void apply_gains() {
    const PanGains p = pan_gains(pan);
    const float g = (muted || leaving) ? 0.0F : db_to_gain(gain_db);
    left.set(g * p.left);
    right.set(g * p.right);
  }
};

std::uint64_t now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);  // a vDSO read, not a system call
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000U +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

// Plugins' filters and feedback loops decay into denormal numbers, which cost a hundred times a
// normal multiply on many CPUs: flush them to zero on the audio thread.
void flush_denormals() noexcept {
#if defined(__SSE__)
  _mm_setcsr(_mm_getcsr() | 0x8040U);  // FTZ | DAZ
#elif defined(__aarch64__)
  std::uint64_t fpcr = 0;
  asm volatile("mrs %0, fpcr" : "=r"(fpcr));
  asm volatile("msr fpcr, %0" : : "r"(fpcr | (1ULL << 24U)));  // FZ
#endif
}

// One input's effect chain as the audio thread sees it.
struct InsertSlot {
  Insert* chain = nullptr;
  bool overloaded = false;
  std::uint32_t overrun_score = 0;  // +4 a period over budget, -1 one within
  std::uint64_t busy_ns = 0;        // since the last publication
  std::uint64_t period_ns = 0;      // the periods' own length, same span
  float peak_load = 0.0F;
  std::uint64_t overruns = 0;
  std::uint64_t chains = 0;
};

}  // namespace

struct Engine::Impl {
  EngineConfig cfg;
  JitterConfig jitter;  // audio thread's copy, changed by commands
  InboundQueue inbound;
  OutboundQueue outbound;
  CommandQueue commands;
  Seqlock<Snapshot> published;
  MeterHistory meter_history;

  std::array<Remote, kMaxRemotes> remotes;
  Metronome metronome;

  // Mixing scratch.
  Buffer mix_l{}, mix_r{}, rem_l{}, rem_r{}, mono{}, send_l{}, send_r{}, zeros{}, fx_l{}, fx_r{};
  std::array<float, 256> dec_l{}, dec_r{};

  bool monitor_on = false;
  float monitor_db = 0.0F;
  float monitor_pan = 0.0F;
  GainRamp monitor_l, monitor_r;
  std::array<GainRamp, kOutputs> master{GainRamp{1.0F}, GainRamp{1.0F}};
  std::array<bool, kInputs> mute_to_room{};
  std::array<GainRamp, kInputs> to_room{GainRamp{1.0F}, GainRamp{1.0F}};

  // Outbound packet assembly: periods and packets need not have the same size.
  std::array<float, 256> stage_l{}, stage_r{};
  std::uint32_t staged = 0;
  std::uint64_t stage_time_us = 0;
  std::uint32_t out_sequence = 0;
  OutboundPacket out_packet;

  std::array<Meter, kInputs> input_meters;
  std::array<InsertSlot, kInputs> inserts{};
  RetiredQueue retired;
  std::size_t inserts_outstanding = 0;  // control thread: posted and not yet reclaimed
  std::array<bool, kInputs> tuning{};
  std::array<tuner::InputTap, kInputs> taps{tuner::InputTap(kTunerTapFrames),
                                            tuner::InputTap(kTunerTapFrames)};
  std::array<Meter, kOutputs> master_meters;
  std::uint64_t frame = 0;
  std::uint32_t since_publish = 0;
  std::uint64_t timeout_frames = 0;
  Snapshot snap;
  MeterPublication meter_publication;
  // Meter sums of remotes released since the last publication, by the slot they had, so the
  // meter history still gets their last few milliseconds.
  std::array<RemoteSum, kMaxRemotes> departed{};

  explicit Impl(const EngineConfig& c)
      : cfg(c), jitter(c.jitter), meter_history(MeterHistory::capacity_for(c.publish_frames)) {
    for (Remote& r : remotes) r.buffer = std::make_unique<JitterBuffer>(jitter);
    timeout_frames = static_cast<std::uint64_t>(cfg.remote_timeout_ms) * kSampleRate / 1000;
    out_packet.frames = cfg.packet_frames;
    out_packet.format = cfg.format;
    out_packet.payload_len = static_cast<std::uint16_t>(
        wire::audio_payload_size(cfg.packet_frames, wire::kAudioChannels, cfg.format));
    published.store(snap);
  }

  Remote* find(std::uint32_t session) {
    for (Remote& r : remotes) {
      if (r.active && r.session_id == session) return &r;
    }
    return nullptr;
  }

  // A free slot, preferring one whose departed remote's sums are not published yet.
  Remote* free_slot() {
    Remote* fallback = nullptr;
    for (std::size_t i = 0; i < kMaxRemotes; ++i) {
      if (remotes[i].active) continue;
      if (!departed[i].present) return &remotes[i];
      if (fallback == nullptr) fallback = &remotes[i];
    }
    if (fallback != nullptr) departed[slot_of(*fallback)] = RemoteSum{};
    return fallback;
  }

  std::size_t slot_of(const Remote& r) const {
    return static_cast<std::size_t>(&r - remotes.data());
  }

  Remote* find_or_join(std::uint32_t session) {
    if (Remote* r = find(session)) return r;
    if (Remote* slot = free_slot()) {
      Remote& r = *slot;
      r.active = true;
      r.leaving = false;
      r.session_id = session;
      r.gain_db = 0.0F;
      r.pan = 0.0F;
      r.muted = false;
      r.buffer->reset();
      r.buffer->configure(jitter);
      (void)r.meter.take();
      r.apply_gains();
      // Start at full gain: the jitter buffer fades the stream in itself.
      r.left.jump(r.left.target());
      r.right.jump(r.right.target());
      ++snap.engine.remotes_joined;
      return &r;
    }
    ++snap.engine.inbound_no_slot;
    return nullptr;
  }

  void release(Remote& r) {
    r.active = false;
    r.leaving = false;
    r.buffer->reset();
    departed[slot_of(r)] = RemoteSum{true, r.session_id, r.meter.take_sum()};
    ++snap.engine.remotes_released;
  }

  void apply(const Command& c) {
    ++snap.engine.commands;
    switch (c.type) {
      case CommandType::remote_join:
        (void)find_or_join(c.session_id);
        break;
      case CommandType::remote_leave:
        if (Remote* r = find(c.session_id)) {
          r->leaving = true;
          r->apply_gains();
        }
        break;
      case CommandType::remote_gain:
        if (Remote* r = find(c.session_id); r != nullptr && std::isfinite(c.value)) {
          r->gain_db = std::min(c.value, 24.0F);
          r->apply_gains();
        }
        break;
      case CommandType::remote_pan:
        if (Remote* r = find(c.session_id); r != nullptr && std::isfinite(c.value)) {
          r->pan = std::clamp(c.value, -1.0F, 1.0F);
          r->apply_gains();
        }
        break;
      case CommandType::remote_mute:
        if (Remote* r = find(c.session_id)) {
          r->muted = c.flag;
          r->apply_gains();
        }
        break;
      case CommandType::master_gain:
        if (std::isfinite(c.value)) {
          for (GainRamp& g : master) g.set(db_to_gain(std::min(c.value, 24.0F)));
        }
        break;
      case CommandType::monitor:
        monitor_on = c.flag;
        if (std::isfinite(c.value)) monitor_db = std::min(c.value, 24.0F);
        if (std::isfinite(c.value2)) monitor_pan = std::clamp(c.value2, -1.0F, 1.0F);
        update_monitor();
        break;
      case CommandType::input_mute_to_room:
        if (c.index < kInputs) {
          mute_to_room[c.index] = c.flag;
          to_room[c.index].set(c.flag ? 0.0F : 1.0F);
        }
        break;
      case CommandType::jitter: {
        // Clamped rather than validated: throwing is not an option on this thread.
        const float lo =
            std::isfinite(c.value) ? std::clamp(c.value, 0.0F, 80.0F) : jitter.floor_ms;
        const float hi = std::isfinite(c.value2) ? std::clamp(c.value2, lo, 100.0F)
                                                 : std::max(lo, jitter.ceiling_ms);
        jitter.floor_ms = lo;
        jitter.ceiling_ms = hi;
        jitter.adaptive = c.flag;
        for (Remote& r : remotes) r.buffer->configure(jitter);
        break;
      }
      case CommandType::metronome: {
        MetronomeSettings m;
        m.enabled = c.flag;
        m.bpm = c.value;
        m.gain_db = c.value2;
        m.beats_per_bar = c.index;
        metronome.configure(m);
        break;
      }
      case CommandType::tuner:
        if (c.index < kInputs) tuning[c.index] = c.flag;
        break;
      case CommandType::insert:
        take_insert(c);
        break;
      case CommandType::insert_param:
        if (c.index < kInputs && inserts[c.index].chain != nullptr && std::isfinite(c.value)) {
          inserts[c.index].chain->set_param(c.position, c.port, c.value);
        }
        break;
      case CommandType::insert_bypass:
        if (c.index < kInputs && inserts[c.index].chain != nullptr) {
          inserts[c.index].chain->set_bypass(c.position, c.flag);
        }
        break;
    }
  }

  void take_insert(const Command& c) {
    InsertSlot& slot = inserts[c.index < kInputs ? c.index : 0];
    // The ring has room: post_insert never has more chains out than it holds.
    (void)retired.push(slot.chain);
    slot.chain = c.insert;
    slot.overloaded = false;
    slot.overrun_score = 0;
    slot.overruns = 0;
    ++slot.chains;
  }

  // Runs input `i`'s chain on `x` in place, timing it against its budget.
  void run_insert(std::size_t i, float* x, std::uint32_t n) {
    InsertSlot& slot = inserts[i];
    if (slot.chain == nullptr || slot.overloaded) return;
    const std::uint64_t start = now_ns();
    slot.chain->run(x, n);
    const std::uint64_t took = now_ns() - start;
    const std::uint64_t period = static_cast<std::uint64_t>(n) * 1000000000U / kSampleRate;
    slot.busy_ns += took;
    slot.period_ns += period;
    const float load = static_cast<float>(took) / static_cast<float>(period);
    slot.peak_load = std::max(slot.peak_load, load);
    if (load > cfg.insert_budget) {
      ++slot.overruns;
      slot.overrun_score += 4;
      if (slot.overrun_score >= 4 * cfg.insert_overrun_periods) slot.overloaded = true;
    } else if (slot.overrun_score > 0) {
      --slot.overrun_score;
    }
  }

  void update_monitor() {
    const PanGains p = pan_gains(monitor_pan);
    const float g = monitor_on ? db_to_gain(monitor_db) : 0.0F;
    monitor_l.set(g * p.left);
    monitor_r.set(g * p.right);
  }

  void receive(const InboundPacket& p, std::uint64_t now_us) {
    if (p.has_room_clock) metronome.observe_room_clock(p.room_clock, frame);
    if (p.frames == 0) return;  // clock-only reading
    const std::size_t expected = wire::audio_payload_size(p.frames, wire::kAudioChannels, p.format);
    if (!valid_frames(p.frames) || expected == 0 || p.payload_len != expected) {
      ++snap.engine.inbound_rejected;
      return;
    }
    Remote* r = find_or_join(p.session_id);
    if (r == nullptr || r->leaving) return;
    const std::span<float> l{dec_l.data(), p.frames};
    const std::span<float> rr{dec_r.data(), p.frames};
    wire::decode_audio({p.payload.data(), expected}, p.format, l, rr);
    (void)r->buffer->push(p.sequence, l, rr, p.arrival_us, now_us);
  }

  std::uint32_t send(const float* in_l, const float* in_r, std::uint32_t n,
                     std::uint64_t period_time_us) {
    std::uint32_t queued = 0;
    const std::uint32_t frames = cfg.packet_frames;
    std::uint32_t done = 0;
    while (done < n) {
      if (staged == 0) {
        stage_time_us =
            period_time_us == 0
                ? 0
                : period_time_us + (static_cast<std::uint64_t>(done) * 1000000U) / kSampleRate;
      }
      const std::uint32_t k = std::min(n - done, frames - staged);
      std::copy_n(in_l + done, k, stage_l.data() + staged);
      std::copy_n(in_r + done, k, stage_r.data() + staged);
      staged += k;
      done += k;
      if (staged < frames) break;
      staged = 0;
      out_packet.sequence = out_sequence++;
      out_packet.capture_us = stage_time_us;
      wire::encode_audio({stage_l.data(), frames}, {stage_r.data(), frames}, cfg.format,
                         {out_packet.payload.data(), out_packet.payload_len});
      if (outbound.push(out_packet)) {
        ++queued;
        ++snap.engine.packets_sent;
      } else {
        ++snap.engine.outbound_dropped;
      }
    }
    return queued;
  }

  void publish() {
    snap.sequence++;
    snap.engine.frames = frame;
    MeterPublication& mp = meter_publication;
    for (std::size_t i = 0; i < kInputs; ++i) {
      mp.inputs[i] = input_meters[i].take_sum();
      snap.inputs[i] = mp.inputs[i].level();
    }
    for (std::size_t i = 0; i < kOutputs; ++i) {
      mp.master[i] = master_meters[i].take_sum();
      snap.master[i] = mp.master[i].level();
    }
    for (std::size_t i = 0; i < kMaxRemotes; ++i) {
      Remote& r = remotes[i];
      RemoteStats& st = snap.remotes[i];
      st.active = r.active;
      if (!r.active) {
        st = RemoteStats{};
        mp.remotes[i] = departed[i];
        departed[i] = RemoteSum{};
        continue;
      }
      // No departed sums to publish here: free_slot() cleared them before reusing the slot.
      st.session_id = r.session_id;
      st.gain_db = r.gain_db;
      st.pan = r.pan;
      st.muted = r.muted;
      mp.remotes[i] = RemoteSum{true, r.session_id, r.meter.take_sum()};
      st.level = mp.remotes[i].sum.level();
      st.jitter = r.buffer->stats();
    }
    for (std::size_t i = 0; i < kInputs; ++i) {
      InsertSlot& slot = inserts[i];
      InsertStats& st = snap.inserts[i];
      st.present = slot.chain != nullptr;
      st.overloaded = slot.overloaded;
      st.load = slot.period_ns == 0 ? 0.0F
                                    : static_cast<float>(static_cast<double>(slot.busy_ns) /
                                                         static_cast<double>(slot.period_ns));
      st.peak_load = slot.peak_load;
      st.overruns = slot.overruns;
      st.chains = slot.chains;
      slot.busy_ns = 0;
      slot.period_ns = 0;
      slot.peak_load = 0.0F;
    }
    snap.metronome_on_room_clock = metronome.following_room_clock(frame);
    published.store(snap);
    meter_history.push(mp);
  }
};

Engine::Engine(const EngineConfig& config) {
  config.validate();
  impl_ = std::make_unique<Impl>(config);
}

Engine::~Engine() {
  // Chains still in the command ring, in the inputs and on the way back are ours to delete now.
  Impl& m = *impl_;
  m.commands.consume_all([](const Command& c) {
    if (c.type == CommandType::insert) delete c.insert;
  });
  for (InsertSlot& slot : m.inserts) delete slot.chain;
  m.retired.consume_all([](Insert* chain) { delete chain; });
}

InboundQueue& Engine::inbound() noexcept {
  return impl_->inbound;
}
OutboundQueue& Engine::outbound() noexcept {
  return impl_->outbound;
}
bool Engine::post(const Command& command) noexcept {
  if (command.type == CommandType::insert) return false;
  return impl_->commands.push(command);
}
bool Engine::post_insert(std::uint32_t input, std::unique_ptr<Insert>& chain) noexcept {
  Impl& m = *impl_;
  reclaim_inserts();
  if (input >= kInputs || m.inserts_outstanding >= kRetiredCapacity) return false;
  Command c;
  c.type = CommandType::insert;
  c.index = input;
  c.insert = chain.get();
  if (!m.commands.push(c)) return false;
  static_cast<void>(chain.release());
  ++m.inserts_outstanding;
  return true;
}
void Engine::reclaim_inserts() noexcept {
  Impl& m = *impl_;
  m.inserts_outstanding -= m.retired.consume_all([](Insert* chain) { delete chain; });
}
Snapshot Engine::snapshot() const noexcept {
  return impl_->published.load();
}
MeterWindow Engine::take_meter_window() noexcept {
  return impl_->meter_history.take();
}
const tuner::InputTap& Engine::tuner_tap(std::uint32_t input) const noexcept {
  return impl_->taps[input < kInputs ? input : 0];
}
const EngineConfig& Engine::config() const noexcept {
  return impl_->cfg;
}

ProcessResult Engine::process(std::span<const float* const> inputs, std::span<float* const> outputs,
                              std::uint32_t nframes, std::uint64_t period_time_us) noexcept {
  Impl& m = *impl_;
  ProcessResult result;
  ++m.snap.engine.periods;
  if (nframes == 0 || nframes > kMaxPeriodFrames) {
    ++m.snap.engine.bad_periods;
    for (float* out : outputs) {
      if (out != nullptr) std::fill_n(out, nframes, 0.0F);
    }
    return result;
  }
  const std::size_t n = nframes;

  for (std::size_t i = 0; i < kMaxCommandsPerPeriod; ++i) {
    if (!m.commands.consume_one([&m](const Command& c) { m.apply(c); })) break;
  }
  for (std::size_t i = 0; i < kMaxInboundPerPeriod; ++i) {
    if (!m.inbound.consume_one([&](const InboundPacket& p) { m.receive(p, period_time_us); }))
      break;
  }

  const float* in_l = (!inputs.empty() && inputs[0] != nullptr) ? inputs[0] : m.zeros.data();
  const float* in_r = (inputs.size() > 1 && inputs[1] != nullptr) ? inputs[1] : m.zeros.data();

  // Inputs: meters (what the player plays, before any mute), the packet to the room (with the
  // per-input mute), and the direct monitor (zero added delay: same samples, same period).
  // The tuner and the meters see the instrument itself; the room and the monitor hear it through
  // its effect chain.
  m.input_meters[0].add(in_l, n);
  m.input_meters[1].add(in_r, n);
  if (m.tuning[0]) m.taps[0].write({in_l, n});
  if (m.tuning[1]) m.taps[1].write({in_r, n});
  if (m.inserts[0].chain != nullptr || m.inserts[1].chain != nullptr) {
    flush_denormals();
    std::copy_n(in_l, n, m.fx_l.data());
    std::copy_n(in_r, n, m.fx_r.data());
    m.run_insert(0, m.fx_l.data(), nframes);
    m.run_insert(1, m.fx_r.data(), nframes);
    in_l = m.fx_l.data();
    in_r = m.fx_r.data();
  }
  std::copy_n(in_l, n, m.send_l.data());
  std::copy_n(in_r, n, m.send_r.data());
  m.to_room[0].apply(m.send_l.data(), n);
  m.to_room[1].apply(m.send_r.data(), n);
  result.packets_queued = m.send(m.send_l.data(), m.send_r.data(), nframes, period_time_us);

  std::fill_n(m.mix_l.data(), n, 0.0F);
  std::fill_n(m.mix_r.data(), n, 0.0F);
  if (!(m.monitor_l.silent() && m.monitor_r.silent())) {
    for (std::size_t i = 0; i < n; ++i) m.mono[i] = in_l[i] + in_r[i];
    m.monitor_l.add(m.mono.data(), m.mix_l.data(), n);
    m.monitor_r.add(m.mono.data(), m.mix_r.data(), n);
  }

  // Remotes: each one's two channels are summed and placed with its pan.
  for (Remote& r : m.remotes) {
    if (!r.active) continue;
    r.buffer->pull({m.rem_l.data(), n}, {m.rem_r.data(), n});
    r.meter.add(m.rem_l.data(), n);
    r.meter.add(m.rem_r.data(), n);
    for (std::size_t i = 0; i < n; ++i) m.mono[i] = m.rem_l[i] + m.rem_r[i];
    r.left.add(m.mono.data(), m.mix_l.data(), n);
    r.right.add(m.mono.data(), m.mix_r.data(), n);
    if (r.leaving || r.buffer->frames_since_push() > m.timeout_frames) m.release(r);
  }

  m.metronome.render_add(m.mix_l.data(), m.mix_r.data(), nframes, m.frame);
  m.master[0].apply(m.mix_l.data(), n);
  m.master[1].apply(m.mix_r.data(), n);
  m.master_meters[0].add(m.mix_l.data(), n);
  m.master_meters[1].add(m.mix_r.data(), n);
  if (outputs.size() > 0 && outputs[0] != nullptr) std::copy_n(m.mix_l.data(), n, outputs[0]);
  if (outputs.size() > 1 && outputs[1] != nullptr) std::copy_n(m.mix_r.data(), n, outputs[1]);

  m.frame += n;
  m.snap.engine.frames = m.frame;
  m.since_publish += nframes;
  if (m.since_publish >= m.cfg.publish_frames) {
    m.since_publish = 0;
    m.publish();
  }
  return result;
}

}  // namespace jambox::audio
