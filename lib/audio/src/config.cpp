#include <jambox/audio/config.hpp>

#include <cmath>
#include <stdexcept>
#include <string>

namespace jambox::audio {
namespace {

void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument(what);
}

std::string show(float value) {
  const auto v = static_cast<double>(value);
  std::string s = std::to_string(v);
  while (s.size() > 1 && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

}  // namespace

void JitterConfig::validate() const {
  // The ring holds 170 ms; the ceiling leaves room for reordering beyond it.
  require(std::isfinite(floor_ms) && floor_ms >= 0.0F && floor_ms <= 80.0F,
          "jitter floor_ms " + show(floor_ms) + " out of range: allowed 0..80 (default 1)");
  require(std::isfinite(ceiling_ms) && ceiling_ms >= floor_ms && ceiling_ms <= 100.0F,
          "jitter ceiling_ms " + show(ceiling_ms) + " out of range: allowed floor_ms (" +
              show(floor_ms) + ")..100 (default 40)");
  require(
      quantile >= 0.5F && quantile <= 0.99999F,
      "jitter quantile " + show(quantile) + " out of range: allowed 0.5..0.99999 (default 0.998)");
  require(margin_ms >= 0.0F && margin_ms <= 10.0F,
          "jitter margin_ms " + show(margin_ms) + " out of range: allowed 0..10 (default 0.25)");
  require(memory_s >= 0.2F && memory_s <= 60.0F,
          "jitter memory_s " + show(memory_s) + " out of range: allowed 0.2..60 (default 4)");
  require(max_correction_ppm >= 200.0F && max_correction_ppm <= 10000.0F,
          "jitter max_correction_ppm " + show(max_correction_ppm) +
              " out of range: allowed 200..10000 (default 3000)");
  require(stall_reset_ms >= 20.0F && stall_reset_ms <= 1000.0F,
          "jitter stall_reset_ms " + show(stall_reset_ms) +
              " out of range: allowed 20..1000 (default 150)");
}

void EngineConfig::validate() const {
  require(
      packet_frames == 32 || packet_frames == 64 || packet_frames == 128 || packet_frames == 256,
      "packet_frames " + std::to_string(packet_frames) +
          " not allowed: 32, 64, 128 or 256 (default 64)");
  require(format == wire::SampleFormat::s16 || format == wire::SampleFormat::s24 ||
              format == wire::SampleFormat::f32,
          "sample format " + std::to_string(static_cast<unsigned>(format)) +
              " not allowed: s16, s24 or f32 (default s16)");
  require(wire::audio_payload_size(packet_frames, wire::kAudioChannels, format) > 0,
          "packet_frames " + std::to_string(packet_frames) +
              " does not fit one datagram in this sample format (256 frames need s16)");
  jitter.validate();
  require(remote_timeout_ms >= 100 && remote_timeout_ms <= 60000,
          "remote_timeout_ms " + std::to_string(remote_timeout_ms) +
              " out of range: allowed 100..60000 (default 1000)");
  require(publish_frames >= 64 && publish_frames <= 48000,
          "publish_frames " + std::to_string(publish_frames) +
              " out of range: allowed 64..48000 (default 1024)");
  require(std::isfinite(insert_budget) && insert_budget >= 0.05F && insert_budget <= 1.0F,
          "insert_budget " + show(insert_budget) + " out of range: allowed 0.05..1 (default 0.5)");
  require(insert_overrun_periods >= 1 && insert_overrun_periods <= 10000,
          "insert_overrun_periods " + std::to_string(insert_overrun_periods) +
              " out of range: allowed 1..10000 (default 32)");
}

}  // namespace jambox::audio
