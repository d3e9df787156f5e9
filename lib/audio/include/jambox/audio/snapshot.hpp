#pragma once
// What non-real-time readers (status line, control plane, tests) see of the engine: meters and
// statistics, published as one consistent, trivially copyable snapshot.

#include <jambox/audio/config.hpp>

#include <array>
#include <cstdint>

namespace jambox::audio {

inline constexpr float kSilenceDbfs = -120.0F;  // what meters show for digital silence

// Levels over the last publishing interval, dB relative to full scale (1.0).
struct Level {
  float peak_dbfs = kSilenceDbfs;
  float rms_dbfs = kSilenceDbfs;
};

// One remote jammer's jitter buffer.
struct JitterStats {
  bool playing = false;          // past the initial fill, audio flowing
  float depth_ms = 0.0F;         // how far playout runs behind the earliest arrival schedule
  float target_ms = 0.0F;        // what the buffer steers depth to (floor..ceiling)
  float queued_ms = 0.0F;        // audio received and not yet played
  float drift_ppm = 0.0F;        // sender clock minus ours (positive: the sender runs fast)
  float jitter_ms = 0.0F;        // RFC 3550 interarrival jitter of the packets' arrival times
  std::uint64_t received = 0;    // packets stored
  std::uint64_t underruns = 0;   // playout ran dry and waited for a late packet
  std::uint64_t concealed = 0;   // packets replaced by concealment (lost or too late)
  std::uint64_t late = 0;        // arrived after their play time, dropped
  std::uint64_t duplicates = 0;  // arrived twice, dropped
  std::uint64_t resyncs = 0;     // stream restarted (sequence jump, frame size change, long stall)
  std::uint64_t catch_ups = 0;   // stale audio dropped after our audio clock lost time (xruns)
  std::uint64_t caught_up_frames = 0;  // ... and how much of it
  std::uint64_t rejected = 0;          // malformed (bad frame count), dropped
};

struct RemoteStats {
  bool active = false;
  std::uint32_t session_id = 0;
  float gain_db = 0.0F;
  float pan = 0.0F;
  bool muted = false;
  Level level;  // of the received audio, before gain, pan and mute
  JitterStats jitter;
};

// An input's effect chain (audio::Insert).
struct InsertStats {
  bool present = false;        // a chain is in
  bool overloaded = false;     // bypassed whole: it kept overrunning its budget (EngineConfig)
  float load = 0.0F;           // its time per period over the last publication, share of a period
  float peak_load = 0.0F;      // ... in the slowest period of the last publication
  std::uint64_t overruns = 0;  // periods over budget since this chain came in
  std::uint64_t chains = 0;    // chains taken on this input since start
};

struct EngineStats {
  std::uint64_t frames = 0;  // frames processed since start
  std::uint64_t periods = 0;
  std::uint64_t bad_periods = 0;       // process() called with an unusable frame count
  std::uint64_t packets_sent = 0;      // outbound packets queued
  std::uint64_t outbound_dropped = 0;  // outbound ring full
  std::uint64_t inbound_rejected = 0;  // malformed inbound slot
  std::uint64_t inbound_no_slot = 0;   // a 16th jammer: no free remote slot
  std::uint64_t remotes_joined = 0;
  std::uint64_t remotes_released = 0;
  std::uint64_t commands = 0;
};

struct Snapshot {
  std::uint64_t sequence = 0;  // increments with every publication
  std::array<Level, kInputs> inputs;
  std::array<Level, kOutputs> master;
  std::array<RemoteStats, kMaxRemotes> remotes;
  std::array<InsertStats, kInputs> inserts;
  EngineStats engine;
  bool metronome_on_room_clock = false;
};

}  // namespace jambox::audio
