#include "pedal_impl.hpp"

#include <algorithm>

namespace jambox::pedals {

Pedal::Impl::~Impl() {
  if (worker) worker->finish();  // no work() may run while the instance goes
  if (instance != nullptr) {
    if (active) lilv_instance_deactivate(instance);
    lilv_instance_free(instance);
  }
}

Pedal::Pedal(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Pedal::~Pedal() = default;

const PedalInfo& Pedal::info() const noexcept {
  return impl_->info;
}

void Pedal::set(std::uint32_t port, float value) noexcept {
  if (port < impl_->ports.size()) impl_->ports[port] = value;
}

float Pedal::get(std::uint32_t port) const noexcept {
  return port < impl_->ports.size() ? impl_->ports[port] : 0.0F;
}

void Pedal::run(const float* in, float* out, std::uint32_t frames) noexcept {
  Impl& m = *impl_;
  const std::uint32_t n = std::min<std::uint32_t>(frames, kMaxBlock);
  std::copy_n(in, n, m.in[0].data());
  if (m.info.audio_inputs > 1) std::copy_n(in, n, m.in[1].data());
  for (AtomPort& a : m.atoms) {
    auto* atom = reinterpret_cast<LV2_Atom*>(a.storage.data());
    if (a.input) {
      // An empty sequence: no events this period.
      auto* seq = reinterpret_cast<LV2_Atom_Sequence*>(a.storage.data());
      seq->atom.size = sizeof(LV2_Atom_Sequence_Body);
      seq->atom.type = m.host->atom_sequence();
      seq->body.unit = 0;
      seq->body.pad = 0;
    } else {
      // The capacity the plugin may fill, reset every period.
      atom->size = static_cast<std::uint32_t>(kAtomCapacity - sizeof(LV2_Atom));
      atom->type = m.host->atom_chunk();
    }
  }
  lilv_instance_run(m.instance, n);
  if (m.worker) m.worker->deliver();
  if (m.info.audio_outputs > 1) {
    for (std::uint32_t i = 0; i < n; ++i) out[i] = 0.5F * (m.out[0][i] + m.out[1][i]);
  } else {
    std::copy_n(m.out[0].data(), n, out);
  }
}

}  // namespace jambox::pedals
