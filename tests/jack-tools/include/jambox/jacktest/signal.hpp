#pragma once
// The known test signals played by jambox-jack-play and expected by jambox-jack-record.
//
// Every sample is a pure function of (spec, channel, frame index), so the player can generate in
// its real-time callback without state or allocation, and the analyser regenerates the exact
// reference from the same command-line options instead of shipping it between processes.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace jambox::jacktest {

enum class SignalKind {
  noise,      // deterministic white noise: a sharp, unambiguous correlation peak
  multitone,  // eight incommensurate sines: smooth, so clicks/discontinuities stand out
  impulse,    // one full-scale sample every interval, on the monotonic clock grid (latency)
};

[[nodiscard]] std::optional<SignalKind> parse_signal_kind(std::string_view text) noexcept;
[[nodiscard]] std::string_view signal_kind_name(SignalKind kind) noexcept;

struct SignalSpec {
  SignalKind kind = SignalKind::noise;
  std::uint64_t seed = 1;
  float amplitude = 0.5f;
  std::uint32_t rate = 48000;
  std::uint32_t interval_ms = 250;  // impulse spacing
};

// Sample `frame` (counted from the signal's first frame) of `channel`. Channels differ (other
// noise, other tones) so a swapped pair is detected. Impulse signals are placed by time
// (next_impulse_offset) and are 0 here.
[[nodiscard]] float signal_sample(const SignalSpec& spec, std::size_t channel,
                                  std::uint64_t frame) noexcept;
// out[i] = signal_sample(spec, channel, first_frame + i).
void generate(const SignalSpec& spec, std::size_t channel, std::uint64_t first_frame,
              std::span<float> out) noexcept;

// Impulses sit on a grid of the monotonic clock: grid point k is at k * interval_us. Two players
// or a player and a recorder on different JACK servers agree on it without talking, and the
// recorder turns each arrival time into a latency (see grid_latency_us in analysis.hpp).
//
// For a period of `frames` frames whose first frame is at `period_start_us` (each frame lasting
// `frame_us`), returns the offset of the frame nearest to the next grid point when it falls in
// this period, and advances `next_index` past it. Grid points already in the past are skipped,
// so the first call may start with next_index = 0.
[[nodiscard]] std::optional<std::uint32_t> next_impulse_offset(std::uint64_t period_start_us,
                                                               double frame_us,
                                                               std::uint32_t frames,
                                                               std::uint64_t interval_us,
                                                               std::uint64_t& next_index) noexcept;

}  // namespace jambox::jacktest
