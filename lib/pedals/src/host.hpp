#pragma once
// What this host gives LV2 plugins: urid:map and unmap, options (sample rate, block lengths,
// atom sequence size), buf-size:boundedBlockLength and log:log, shared by every pedal (it must
// outlive them all), and worker:schedule, each pedal its own (worker.hpp). A plugin requiring
// anything else is refused with that feature named.

#include <lv2/atom/atom.h>
#include <lv2/core/lv2.h>
#include <lv2/log/log.h>
#include <lv2/options/options.h>
#include <lv2/urid/urid.h>

#include <array>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace jambox::pedals {

inline constexpr double kHostSampleRate = 48000.0;
inline constexpr std::int32_t kMaxBlock = 256;       // audio::kMaxPeriodFrames
inline constexpr std::int32_t kNominalBlock = 64;    // jamboxd's period
inline constexpr std::int32_t kAtomCapacity = 8192;  // bytes of an atom port's buffer

class Host {
 public:
  Host();
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  // Null-terminated, for lilv_plugin_instantiate.
  [[nodiscard]] const LV2_Feature* const* features() const noexcept { return list_.data(); }
  [[nodiscard]] static bool provides(std::string_view feature_uri) noexcept;

  // Plugins map URIs while they are instantiated (off the audio thread); the lock is uncontended.
  LV2_URID map(const char* uri);
  const char* unmap(LV2_URID id);

  [[nodiscard]] LV2_URID atom_sequence() const noexcept { return atom_sequence_; }
  [[nodiscard]] LV2_URID atom_chunk() const noexcept { return atom_chunk_; }

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, LV2_URID> ids_;
  std::deque<std::string> uris_;  // by id - 1; a deque keeps the strings where they are

  LV2_URID_Map map_{};
  LV2_URID_Unmap unmap_{};
  LV2_Log_Log log_{};
  std::int32_t min_block_ = 1;
  std::int32_t max_block_ = kMaxBlock;
  std::int32_t nominal_block_ = kNominalBlock;
  std::int32_t sequence_size_ = kAtomCapacity;
  float sample_rate_ = static_cast<float>(kHostSampleRate);
  std::array<LV2_Options_Option, 6> options_{};
  LV2_Feature map_feature_{};
  LV2_Feature unmap_feature_{};
  LV2_Feature options_feature_{};
  LV2_Feature bounded_feature_{};
  LV2_Feature log_feature_{};
  std::array<const LV2_Feature*, 6> list_{};
  LV2_URID atom_sequence_ = 0;
  LV2_URID atom_chunk_ = 0;
};

}  // namespace jambox::pedals
