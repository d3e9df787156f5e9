#pragma once
// The real-time audio engine of jamboxd, free of any sound server API so it runs in tests and
// benchmarks as it runs under JACK.
//
// Threads and how they meet the engine:
//  - the audio thread calls process() once per period: it never allocates, locks, logs, blocks
//    or makes a system call;
//  - one packet carrier pushes authenticated packets into inbound() and pops encoded local audio
//    from outbound() (lock-free SPSC rings). In jamboxd that is the audio thread itself, right
//    before and after process() (lib/box/src/data_plane.hpp), or the network loop while JACK is
//    not running; process() reports how many packets it queued;
//  - one control thread posts Commands (an SPSC ring too);
//  - any thread may read snapshot(): meters and statistics, republished every few milliseconds;
//  - one thread may take meter windows: the levels over everything published since its
//    previous take (at least the last 2.5 s of publications are kept);
//  - one tuner thread may read the copy of an input the audio thread keeps while its tuner is on
//    (Command::tuner), lock-free;
//  - the control thread hands each input an effect chain (post_insert) through the command ring,
//    so chain swaps and the settings of the new chain's pedals arrive in the order posted; the
//    audio thread takes it with a pointer exchange and returns the chain it replaces on a
//    second ring, from which the control thread deletes it (reclaim_inserts).

#include <jambox/audio/commands.hpp>
#include <jambox/audio/config.hpp>
#include <jambox/audio/insert.hpp>
#include <jambox/audio/meter_window.hpp>
#include <jambox/audio/queues.hpp>
#include <jambox/audio/snapshot.hpp>
#include <jambox/tuner/input_tap.hpp>

#include <cstdint>
#include <memory>
#include <span>

namespace jambox::audio {

// 341 ms of an input at 48 kHz: the tuner's window (150 ms) with room to spare.
inline constexpr std::size_t kTunerTapFrames = 16384;

struct ProcessResult {
  std::uint32_t packets_queued = 0;  // outbound packets queued during this period
  // Whether a carrier that waits to be woken (benchmarks, tests) has something to send.
  [[nodiscard]] bool wake_network() const noexcept { return packets_queued > 0; }
};

class Engine {
 public:
  // Allocates every buffer, ring and remote slot. Throws std::invalid_argument on a bad config.
  explicit Engine(const EngineConfig& config);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Audio thread. inputs: kInputs channel pointers (missing or null ones are silence); outputs:
  // kOutputs channel pointers; nframes in 1..kMaxPeriodFrames (other counts output silence and
  // are counted). period_time_us: capture time of the period's first frame on the caller's
  // monotonic clock (JACK's cycle time), stamped into outbound packets; 0 if unknown.
  ProcessResult process(std::span<const float* const> inputs, std::span<float* const> outputs,
                        std::uint32_t nframes, std::uint64_t period_time_us = 0) noexcept;

  // The packet carrier (one thread at a time): the producer of inbound(), the consumer of
  // outbound().
  [[nodiscard]] InboundQueue& inbound() noexcept;
  [[nodiscard]] OutboundQueue& outbound() noexcept;

  // Control thread (a single one). False when the command ring is full: retry later. A
  // Command::insert is refused here: chains travel through post_insert.
  bool post(const Command& command) noexcept;

  // Control thread: `chain` (null: none) becomes input 0 or 1's effect chain at the start of a
  // coming period; the chain it replaces comes back through reclaim_inserts(). On success
  // `chain` is empty; false (the rings are full: retry later) leaves it with the caller.
  bool post_insert(std::uint32_t input, std::unique_ptr<Insert>& chain) noexcept;
  // Control thread: deletes the chains the audio thread has let go of. Called by post_insert
  // too; call it now and then so a replaced chain's memory returns soon.
  void reclaim_inserts() noexcept;

  // Any thread; never blocks the audio thread.
  [[nodiscard]] Snapshot snapshot() const noexcept;

  // One non-real-time thread only (a single meter reader): the largest peak and the exact RMS of
  // every publication since the previous call, per input, master channel and remote (by session
  // id). publications == 0 (and silence) when nothing was published in between. When the calls
  // are further apart than the kept history, the oldest publications are lost and counted in
  // `dropped`. Never blocks the audio thread and never allocates.
  [[nodiscard]] MeterWindow take_meter_window() noexcept;

  // The tuner's copy of input 0 or 1 (kTunerTapFrames long), written only while Command::tuner
  // has it on. One reader.
  [[nodiscard]] const tuner::InputTap& tuner_tap(std::uint32_t input) const noexcept;

  [[nodiscard]] const EngineConfig& config() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace jambox::audio
