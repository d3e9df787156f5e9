#pragma once
// Meters over a reader's own interval. The Snapshot's levels cover one publication (a few
// milliseconds), so a reader that looks every few hundred milliseconds would miss most clicks.
// Instead, at every publication the audio thread records the raw meter sums it just took in a
// history ring, and one non-real-time reader folds everything recorded since its previous read
// into a MeterWindow: the largest peak and the exact RMS over the whole interval.
//
// The ring overwrites its oldest entry when the reader falls behind instead of refusing the
// newest: the audio thread never waits, and a meter should show what just happened rather than
// what happened seconds ago. Every entry carries its publication number, so the reader knows
// exactly which entries it lost (counted in MeterWindow::dropped) and never folds a torn or
// reused one. Each slot is a Seqlock: the writer is wait-free, the reader retries a slot only
// when it raced with the writer overwriting that very slot.

#include <jambox/audio/config.hpp>
#include <jambox/audio/meter.hpp>
#include <jambox/audio/seqlock.hpp>
#include <jambox/audio/snapshot.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace jambox::audio {

// One remote jammer over a meter window.
struct RemoteLevel {
  bool active = false;  // this entry holds a remote heard during the window
  std::uint32_t session_id = 0;
  Level level;  // of the received audio, before gain, pan and mute
};

// Levels since the reader's previous take. Remotes are keyed by session id, in no particular
// order: every remote that had a slot during some part of the window is listed with the audio
// it had then, including one that joined or left in between (at most kMaxRemotes; when more
// came and went, the ones heard least recently give way).
struct MeterWindow {
  std::array<Level, kInputs> inputs;
  std::array<Level, kOutputs> master;
  std::array<RemoteLevel, kMaxRemotes> remotes;
  std::uint32_t publications = 0;  // engine publications folded in; 0: nothing new (silence)
  std::uint64_t dropped = 0;       // publications lost because the reader fell too far behind
};

// At least this much of the latest publications is kept: more than the longest meter interval
// (2 s), with room for a reader that runs late.
inline constexpr std::uint32_t kMeterHistoryFrames = kSampleRate * 5 / 2;  // 2.5 s

// One remote slot at one publication.
struct RemoteSum {
  bool present = false;  // the slot held session_id during this publication
  std::uint32_t session_id = 0;
  MeterSum sum;
};

// What the audio thread records at each publication: the raw sums of that interval.
struct MeterPublication {
  std::uint64_t number = 0;  // set by MeterHistory::push
  std::array<MeterSum, kInputs> inputs{};
  std::array<MeterSum, kOutputs> master{};
  std::array<RemoteSum, kMaxRemotes> remotes{};
};

class MeterHistory {
 public:
  // Allocates `capacity` (at least 1) entries.
  explicit MeterHistory(std::size_t capacity);
  MeterHistory(const MeterHistory&) = delete;
  MeterHistory& operator=(const MeterHistory&) = delete;

  // Entries needed to keep kMeterHistoryFrames of publications made every publish_frames frames
  // or more (the engine publishes on the first period boundary at or past publish_frames),
  // rounded up to a power of two.
  [[nodiscard]] static std::size_t capacity_for(std::uint32_t publish_frames) noexcept;
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

  // Writer: the audio thread only. Wait-free; never allocates.
  void push(const MeterPublication& publication) noexcept;

  // Reader: one non-real-time thread only. Folds every entry pushed since the previous take.
  // Never allocates; retries only while the writer overwrites the slot being read.
  [[nodiscard]] MeterWindow take() noexcept;

 private:
  std::size_t capacity_;
  std::unique_ptr<Seqlock<MeterPublication>[]> slots_;
  std::atomic<std::uint64_t> pushed_{0};  // entries ever pushed; written by the writer only
  std::uint64_t taken_ = 0;               // entries the reader has accounted for (reader only)
};

}  // namespace jambox::audio
