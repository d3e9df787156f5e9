#pragma once
// Test support: follows a jitter buffer's statistics once per simulated second.

#include <jambox/audio/snapshot.hpp>

#include <algorithm>
#include <functional>

namespace jambox::audio::test {

struct Track {
  int seconds = 0;
  float worst_over = 0.0F;   // max(depth - target) after settling
  float worst_under = 0.0F;  // max(target - depth) after settling
  float max_depth = 0.0F;
  float max_target = 0.0F;
  float last_drift = 0.0F;
  JitterStats at_settle;
};

inline std::function<void(int, const JitterStats&)> tracker(Track& t, int settle_s) {
  return [&t, settle_s](int s, const JitterStats& st) {
    t.seconds = s;
    if (s == settle_s) t.at_settle = st;
    if (s < settle_s) return;
    t.worst_over = std::max(t.worst_over, st.depth_ms - st.target_ms);
    t.worst_under = std::max(t.worst_under, st.target_ms - st.depth_ms);
    t.max_depth = std::max(t.max_depth, st.depth_ms);
    t.max_target = std::max(t.max_target, st.target_ms);
    t.last_drift = st.drift_ppm;
  };
}

}  // namespace jambox::audio::test
