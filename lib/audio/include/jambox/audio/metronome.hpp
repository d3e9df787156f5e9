#pragma once
// A click track. When the server stamps packets with the room clock, every box of the room clicks
// on the same beat grid (offset only by the server->box path); otherwise it follows this box's own
// sample counter. Off by default.

#include <array>
#include <cstdint>
#include <vector>

namespace jambox::audio {

struct MetronomeSettings {
  bool enabled = false;
  float bpm = 120.0F;  // 20..400
  float gain_db = -12.0F;
  std::uint32_t beats_per_bar = 4;  // beat 1 of each bar gets the higher click; 0 or 1: no accent
};

class Metronome {
 public:
  Metronome();  // renders the two click sounds once

  void configure(const MetronomeSettings& settings) noexcept;  // values are clamped to range
  [[nodiscard]] const MetronomeSettings& settings() const noexcept { return settings_; }

  // A room clock reading that reached the audio thread when `local_frame` frames had been played.
  void observe_room_clock(std::uint32_t room_clock, std::uint64_t local_frame) noexcept;
  // True while room clock readings keep arriving (at least one in the last 2 s).
  [[nodiscard]] bool following_room_clock(std::uint64_t local_frame) const noexcept;
  // Room clock estimate at `local_frame` (the local frame itself when not following).
  [[nodiscard]] std::int64_t beat_clock(std::uint64_t local_frame) const noexcept;

  // Adds the clicks falling into [local_frame, local_frame + n) to left/right.
  void render_add(float* left, float* right, std::uint32_t n, std::uint64_t local_frame) noexcept;

 private:
  MetronomeSettings settings_;
  float gain_ = 0.0F;
  std::vector<float> accent_;  // built in the constructor, never resized
  std::vector<float> normal_;
  const std::vector<float>* playing_ = nullptr;
  std::size_t play_pos_ = 0;
  std::int64_t next_beat_ = 0;  // index of the next beat to start
  bool resync_ = true;          // next_beat_ must be found again (start, tempo or clock change)
  // Room clock tracking: offset = room clock - local frame, the largest seen recently (the
  // reading that travelled fastest), over 4 blocks of half a second.
  bool have_clock_ = false;
  std::uint32_t last_room_clock_ = 0;
  std::int64_t room_ext_ = 0;
  std::uint64_t last_clock_frame_ = 0;
  std::array<std::int64_t, 4> block_max_{};
  std::array<std::int64_t, 4> block_id_{};
  std::int64_t offset_ = 0;
};

}  // namespace jambox::audio
