#pragma once
// An input's pedals in order, as the audio engine runs them (audio::Insert). Pedals are shared
// between the chain the engine runs and the one replacing it, so a change to the board keeps the
// other pedals' state (a delay's echoes, a reverb's tail) instead of restarting them.

#include <jambox/audio/insert.hpp>
#include <jambox/pedals/pedal.hpp>

#include <array>
#include <memory>
#include <vector>

namespace jambox::pedals {

struct ChainEntry {
  std::shared_ptr<Pedal> pedal;
  bool bypassed = false;
};

class Chain final : public audio::Insert {
 public:
  // At most audio::kMaxInsertPositions entries (throws std::invalid_argument beyond), none null.
  explicit Chain(std::vector<ChainEntry> entries);

  void run(float* samples, std::uint32_t frames) noexcept override;
  void set_param(std::uint32_t position, std::uint32_t port, float value) noexcept override;
  void set_bypass(std::uint32_t position, bool bypassed) noexcept override;

  [[nodiscard]] std::size_t size() const noexcept { return slots_.size(); }

 private:
  struct Slot {
    std::shared_ptr<Pedal> pedal;
    bool bypassed = false;
    bool fading = false;  // crossfading between dry and wet this period
  };
  std::vector<Slot> slots_;
  std::array<float, 256> wet_{};
};

}  // namespace jambox::pedals
