#pragma once
// A pedal's insides, shared by the catalog (which makes them) and the pedal (which runs them).

#include "host.hpp"
#include "worker.hpp"
#include <jambox/pedals/pedal.hpp>

#include <lilv/lilv.h>

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

namespace jambox::pedals {

using AudioBuffer = std::array<float, kMaxBlock>;

// An atom port's buffer: an empty sequence in, room for the plugin's events out.
struct AtomPort {
  bool input = true;
  std::vector<std::uint64_t> storage;  // 8-byte aligned, kAtomCapacity bytes
};

struct Pedal::Impl {
  // Both outlive the instance: lilv_instance_free() closes the plugin's library through the
  // world, and the host's features are the plugin's until then.
  std::shared_ptr<const void> world;
  std::shared_ptr<Host> host;
  PedalInfo info;
  LilvInstance* instance = nullptr;
  bool active = false;
  std::vector<float> ports;  // every control port's value, by port index
  std::array<AudioBuffer, 2> in{};
  std::array<AudioBuffer, 2> out{};
  AudioBuffer sink{};   // optional extra audio outputs write here
  AudioBuffer zeros{};  // optional extra audio inputs (side chains) read silence
  std::vector<AtomPort> atoms;
  std::unique_ptr<Worker> worker;  // plugins with an LV2 worker only
  LV2_Feature schedule_feature{};

  ~Impl();
};

}  // namespace jambox::pedals
