#include "host.hpp"

#include <lv2/parameters/parameters.h>
#include <lv2/worker/worker.h>

#include <cstdarg>

#include <lv2/buf-size/buf-size.h>

namespace jambox::pedals {
namespace {

LV2_URID map_uri(LV2_URID_Map_Handle handle, const char* uri) {
  return static_cast<Host*>(handle)->map(uri);
}

const char* unmap_id(LV2_URID_Unmap_Handle handle, LV2_URID id) {
  return static_cast<Host*>(handle)->unmap(id);
}

// Plugins may log from their run(): no output there, so nothing is printed at all.
int log_printf(LV2_Log_Handle /*handle*/, LV2_URID /*type*/, const char* /*fmt*/, ...) {
  return 0;
}
int log_vprintf(LV2_Log_Handle /*handle*/, LV2_URID /*type*/, const char* /*fmt*/,
                va_list /*args*/) {
  return 0;
}

}  // namespace

Host::Host() {
  map_ = {this, map_uri};
  unmap_ = {this, unmap_id};
  log_ = {this, log_printf, log_vprintf};
  const LV2_URID atom_int = map(LV2_ATOM__Int);
  const LV2_URID atom_float = map(LV2_ATOM__Float);
  atom_sequence_ = map(LV2_ATOM__Sequence);
  atom_chunk_ = map(LV2_ATOM__Chunk);
  auto option = [](LV2_URID key, LV2_URID type, std::uint32_t size, const void* value) {
    return LV2_Options_Option{LV2_OPTIONS_INSTANCE, 0, key, size, type, value};
  };
  options_ = {
      option(map(LV2_BUF_SIZE__minBlockLength), atom_int, sizeof(std::int32_t), &min_block_),
      option(map(LV2_BUF_SIZE__maxBlockLength), atom_int, sizeof(std::int32_t), &max_block_),
      option(map(LV2_BUF_SIZE__nominalBlockLength), atom_int, sizeof(std::int32_t),
             &nominal_block_),
      option(map(LV2_BUF_SIZE__sequenceSize), atom_int, sizeof(std::int32_t), &sequence_size_),
      option(map(LV2_PARAMETERS__sampleRate), atom_float, sizeof(float), &sample_rate_),
      LV2_Options_Option{LV2_OPTIONS_INSTANCE, 0, 0, 0, 0, nullptr},
  };
  map_feature_ = {LV2_URID__map, &map_};
  unmap_feature_ = {LV2_URID__unmap, &unmap_};
  options_feature_ = {LV2_OPTIONS__options, options_.data()};
  bounded_feature_ = {LV2_BUF_SIZE__boundedBlockLength, nullptr};
  log_feature_ = {LV2_LOG__log, &log_};
  list_ = {&map_feature_,     &unmap_feature_, &options_feature_,
           &bounded_feature_, &log_feature_,   nullptr};
}

bool Host::provides(std::string_view feature_uri) noexcept {
  return feature_uri == LV2_URID__map || feature_uri == LV2_URID__unmap ||
         feature_uri == LV2_OPTIONS__options || feature_uri == LV2_BUF_SIZE__boundedBlockLength ||
         feature_uri == LV2_LOG__log ||
         feature_uri == LV2_WORKER__schedule ||  // per pedal (worker.hpp)
         // Properties some plugins list as features: true of this host.
         feature_uri == LV2_CORE__isLive || feature_uri == LV2_CORE__hardRTCapable ||
         feature_uri == LV2_CORE__inPlaceBroken;
}

LV2_URID Host::map(const char* uri) {
  if (uri == nullptr) return 0;
  const std::lock_guard lock(mutex_);
  const auto [it, added] = ids_.try_emplace(uri, static_cast<LV2_URID>(uris_.size() + 1));
  if (added) uris_.emplace_back(uri);
  return it->second;
}

const char* Host::unmap(LV2_URID id) {
  const std::lock_guard lock(mutex_);
  if (id == 0 || id > uris_.size()) return nullptr;
  return uris_[id - 1].c_str();
}

}  // namespace jambox::pedals
