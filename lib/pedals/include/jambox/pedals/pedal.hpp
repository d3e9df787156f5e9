#pragma once
// One running LV2 plugin: made by Catalog::instantiate, run by a Chain on the audio thread,
// deactivated and freed by its destructor, off the audio thread (a Chain never destroys the last
// reference on the audio thread: Engine::reclaim_inserts deletes chains on the control thread).

#include <jambox/pedals/catalog.hpp>

#include <cstdint>
#include <memory>

namespace jambox::pedals {

class Pedal {
 public:
  struct Impl;
  explicit Pedal(std::unique_ptr<Impl> impl);
  ~Pedal();
  Pedal(const Pedal&) = delete;
  Pedal& operator=(const Pedal&) = delete;

  [[nodiscard]] const PedalInfo& info() const noexcept;

  // A control's value by port index (Control::port): off the audio thread before the pedal is in
  // a chain the engine runs, then only on the audio thread (Chain::set_param). Unknown ports are
  // ignored; the caller has checked the range.
  void set(std::uint32_t port, float value) noexcept;
  [[nodiscard]] float get(std::uint32_t port) const noexcept;

  // Audio thread: `frames` (1..256) samples from `in` through the plugin into `out` (mono; a
  // stereo plugin gets `in` on both inputs and its outputs are averaged).
  void run(const float* in, float* out, std::uint32_t frames) noexcept;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace jambox::pedals
