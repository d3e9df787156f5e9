#include <jambox/pedals/chain.hpp>

#include <algorithm>
#include <stdexcept>

namespace jambox::pedals {

Chain::Chain(std::vector<ChainEntry> entries) {
  if (entries.size() > audio::kMaxInsertPositions) {
    throw std::invalid_argument("a chain holds at most " +
                                std::to_string(audio::kMaxInsertPositions) + " pedals");
  }
  slots_.reserve(entries.size());
  for (ChainEntry& e : entries) {
    if (!e.pedal) throw std::invalid_argument("a chain entry without a pedal");
    slots_.push_back(Slot{std::move(e.pedal), e.bypassed, false});
  }
}

void Chain::run(float* x, std::uint32_t frames) noexcept {
  const std::uint32_t n = std::min<std::uint32_t>(frames, static_cast<std::uint32_t>(wet_.size()));
  for (Slot& s : slots_) {
    if (s.bypassed && !s.fading) continue;
    s.pedal->run(x, wet_.data(), n);
    if (!s.fading) {
      std::copy_n(wet_.data(), n, x);
      continue;
    }
    // One period from dry to wet (or back), so a footswitch never clicks.
    const float step = 1.0F / static_cast<float>(n);
    for (std::uint32_t i = 0; i < n; ++i) {
      const float t = static_cast<float>(i + 1) * step;
      const float w = s.bypassed ? 1.0F - t : t;
      x[i] += w * (wet_[i] - x[i]);
    }
    s.fading = false;
  }
}

void Chain::set_param(std::uint32_t position, std::uint32_t port, float value) noexcept {
  if (position < slots_.size()) slots_[position].pedal->set(port, value);
}

void Chain::set_bypass(std::uint32_t position, bool bypassed) noexcept {
  if (position >= slots_.size() || slots_[position].bypassed == bypassed) return;
  slots_[position].bypassed = bypassed;
  slots_[position].fading = true;
}

}  // namespace jambox::pedals
