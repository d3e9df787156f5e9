#pragma once
// Start-up settings and hard limits of the audio engine. Everything the engine will ever touch is
// sized from these at construction, which is what lets process() run without allocating.

#include <jambox/wire/packet.hpp>

#include <cstddef>
#include <cstdint>

namespace jambox::audio {

inline constexpr std::size_t kMaxRemotes = 15;  // a room holds 16 jammers: this box and 15 others
inline constexpr std::size_t kInputs = 2;       // in_1, in_2: also the two channels of a packet
inline constexpr std::size_t kOutputs = 2;      // stereo headphone/monitor mix
inline constexpr std::uint32_t kMaxPeriodFrames = 256;  // largest JACK period process() accepts
inline constexpr std::uint32_t kSampleRate = wire::kSampleRate;

// The jitter buffer's knobs. The defaults favour latency: the buffer starts at the floor and only
// grows when the measured arrival jitter asks for it.
struct JitterConfig {
  float floor_ms = 1.0F;     // lowest target delay, even on a perfect network
  float ceiling_ms = 40.0F;  // highest target delay: beyond it a jam is no longer playable
  bool adaptive = true;      // false: the target is pinned to the floor
  // Fraction of packets that must arrive in time; the rest are concealed. 99.8 % keeps audible
  // events well under one per second at 750 packets/s while not chasing rare outliers.
  float quantile = 0.998F;
  float margin_ms = 0.25F;  // safety added to the measured quantile
  float memory_s = 4.0F;    // time constant of the arrival-delay histogram
  // Largest resampling correction. 3000 ppm is 5 cents: inaudible as pitch, yet it removes 1 ms of
  // excess delay in a third of a second.
  float max_correction_ppm = 3000.0F;
  // A stall longer than this means the sender went away: the stream restarts from scratch when
  // packets come back instead of playing stale audio late.
  float stall_reset_ms = 150.0F;

  // Throws std::invalid_argument naming the bad field and the allowed range.
  void validate() const;
};

struct EngineConfig {
  std::uint16_t packet_frames = 64;  // frames per outgoing packet: 32, 64, 128 or 256
  wire::SampleFormat format = wire::SampleFormat::s16;
  JitterConfig jitter;
  std::uint32_t remote_timeout_ms = 1000;  // a remote silent this long is released
  // Meters and statistics are published every this many frames (rounded up to whole periods).
  std::uint32_t publish_frames = 1024;
  // An input's effect chain may take this share of a period's time; one that keeps taking more
  // (about one period in five over budget, for insert_overrun_periods) is bypassed whole rather
  // than making the sound card miss its deadline again and again.
  float insert_budget = 0.5F;
  std::uint32_t insert_overrun_periods = 32;

  // Throws std::invalid_argument naming the bad field and the allowed range.
  void validate() const;
};

}  // namespace jambox::audio
