#include <jambox/audio/config.hpp>
#include <jambox/audio/dsp.hpp>
#include <jambox/audio/metronome.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

namespace jambox::audio {
namespace {

constexpr std::size_t kClickFrames = 1200;  // 25 ms
constexpr double kRate = static_cast<double>(kSampleRate);
constexpr std::int64_t kBlockFrames = 24000;        // room clock tracking blocks of 0.5 s
constexpr std::int64_t kClockJump = 4800;           // a reading 100 ms off: the clock was reset
constexpr std::uint64_t kFollowFrames = 2 * 48000;  // follow while readings are this fresh

std::vector<float> make_click(double freq) {
  std::vector<float> click(kClickFrames);
  for (std::size_t k = 0; k < kClickFrames; ++k) {
    const double t = static_cast<double>(k);
    // Starts on a non-zero sample so the onset is sharp and easy to place; decays in ~4 ms.
    const double v = std::sin(2.0 * std::numbers::pi * freq * (t + 1.0) / kRate) *
                     std::exp(-t / (0.004 * kRate));
    click[k] = static_cast<float>(v);
  }
  return click;
}

}  // namespace

Metronome::Metronome() : accent_(make_click(1760.0)), normal_(make_click(1320.0)) {
  configure(settings_);
}

void Metronome::configure(const MetronomeSettings& settings) noexcept {
  MetronomeSettings s = settings;
  s.bpm = std::isfinite(s.bpm) ? std::clamp(s.bpm, 20.0F, 400.0F) : 120.0F;
  s.beats_per_bar = std::min<std::uint32_t>(s.beats_per_bar, 64);
  settings_ = s;
  gain_ = db_to_gain(std::isfinite(s.gain_db) ? std::min(s.gain_db, 12.0F) : -120.0F);
  resync_ = true;  // tempo may have changed: find the next beat again
}

void Metronome::observe_room_clock(std::uint32_t room_clock, std::uint64_t local_frame) noexcept {
  if (have_clock_) {
    room_ext_ += static_cast<std::int32_t>(room_clock - last_room_clock_);
  } else {
    room_ext_ = room_clock;
  }
  last_room_clock_ = room_clock;
  const std::int64_t offset = room_ext_ - static_cast<std::int64_t>(local_frame);
  const std::int64_t block = static_cast<std::int64_t>(local_frame) / kBlockFrames;
  const auto slot = static_cast<std::size_t>(block) % block_max_.size();
  if (!have_clock_ || std::llabs(offset - offset_) > kClockJump) {
    // First reading, or the room clock restarted (server restart, room change): start over.
    block_id_.fill(std::numeric_limits<std::int64_t>::min());
    offset_ = offset;
    resync_ = true;
  }
  have_clock_ = true;
  last_clock_frame_ = local_frame;
  if (block_id_[slot] != block) {
    block_id_[slot] = block;
    block_max_[slot] = offset;
  } else {
    block_max_[slot] = std::max(block_max_[slot], offset);
  }
  // The reading that travelled fastest is the best estimate of the room clock.
  std::int64_t best = std::numeric_limits<std::int64_t>::min();
  for (std::size_t i = 0; i < block_max_.size(); ++i) {
    if (block_id_[i] > block - static_cast<std::int64_t>(block_max_.size())) {
      best = std::max(best, block_max_[i]);
    }
  }
  if (best != offset_) resync_ = true;
  offset_ = best;
}

bool Metronome::following_room_clock(std::uint64_t local_frame) const noexcept {
  return have_clock_ && local_frame - last_clock_frame_ <= kFollowFrames;
}

std::int64_t Metronome::beat_clock(std::uint64_t local_frame) const noexcept {
  const auto local = static_cast<std::int64_t>(local_frame);
  return following_room_clock(local_frame) ? local + offset_ : local;
}

void Metronome::render_add(float* left, float* right, std::uint32_t n,
                           std::uint64_t local_frame) noexcept {
  if (!settings_.enabled) {
    playing_ = nullptr;
    resync_ = true;
    return;
  }
  const double beat_len = 60.0 * kRate / static_cast<double>(settings_.bpm);
  const std::int64_t t0 = beat_clock(local_frame);
  if (resync_) {
    next_beat_ = static_cast<std::int64_t>(std::ceil(static_cast<double>(t0) / beat_len));
    resync_ = false;
  }
  std::uint32_t i = 0;
  while (i < n) {
    const auto beat_at =
        static_cast<std::int64_t>(std::llround(static_cast<double>(next_beat_) * beat_len));
    const std::int64_t start = beat_at - t0;  // offset in this period
    if (start < static_cast<std::int64_t>(i)) {
      if (start < 0 && beat_at < t0 - static_cast<std::int64_t>(kClickFrames)) {
        resync_ = true;  // clock moved forward a lot: resynchronise next period
        return;
      }
      // A beat at or before this sample that we have not started yet: start it now.
    }
    const std::uint32_t until = start >= static_cast<std::int64_t>(n)
                                    ? n
                                    : static_cast<std::uint32_t>(std::max<std::int64_t>(start, i));
    // Continue the click in progress up to the next beat (or the period end).
    if (playing_ != nullptr) {
      const std::vector<float>& click = *playing_;
      for (; i < until && play_pos_ < click.size(); ++i, ++play_pos_) {
        const float v = click[play_pos_] * gain_;
        left[i] += v;
        right[i] += v;
      }
      if (play_pos_ >= click.size()) playing_ = nullptr;
    }
    if (until >= n) break;
    i = until;
    const std::uint32_t bar = settings_.beats_per_bar;
    const auto bars = static_cast<std::int64_t>(bar);
    const bool accent = bar > 1 && ((next_beat_ % bars) + bars) % bars == 0;
    playing_ = accent ? &accent_ : &normal_;
    play_pos_ = 0;
    ++next_beat_;
  }
}

}  // namespace jambox::audio
