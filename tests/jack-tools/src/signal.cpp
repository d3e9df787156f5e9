#include "jambox/jacktest/signal.hpp"

#include <array>
#include <cmath>
#include <numbers>

namespace jambox::jacktest {
namespace {

// splitmix64: a counter-based generator, so sample n costs the same whatever n is.
std::uint64_t mix(std::uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Uniform in [-1, 1) from the top 24 bits (exactly representable as float).
float uniform(std::uint64_t bits) noexcept {
  const auto top = static_cast<std::int32_t>(bits >> 40);  // 0 .. 2^24-1
  return static_cast<float>(top - (1 << 23)) / static_cast<float>(1 << 23);
}

// Tones well inside any codec's band, mutually incommensurate so the sum never repeats within
// a test. Eight of them, so that no other lag within a few hundred frames correlates almost as
// well as the right one (with few tones, random phase coincidences do).
constexpr std::array<double, 8> kTones{151.0, 211.0, 347.0, 563.0, 733.0, 887.0, 1051.0, 1319.0};

}  // namespace

std::optional<SignalKind> parse_signal_kind(std::string_view text) noexcept {
  if (text == "noise") return SignalKind::noise;
  if (text == "multitone") return SignalKind::multitone;
  if (text == "impulse") return SignalKind::impulse;
  return std::nullopt;
}

std::string_view signal_kind_name(SignalKind kind) noexcept {
  switch (kind) {
    case SignalKind::noise:
      return "noise";
    case SignalKind::multitone:
      return "multitone";
    case SignalKind::impulse:
      return "impulse";
  }
  return "unknown";
}

float signal_sample(const SignalSpec& spec, std::size_t channel, std::uint64_t frame) noexcept {
  switch (spec.kind) {
    case SignalKind::noise: {
      const std::uint64_t stream = mix(spec.seed * 0x100000001b3ULL + channel);
      return spec.amplitude * uniform(mix(stream ^ (frame * 0xd6e8feb86659fd93ULL)));
    }
    case SignalKind::multitone: {
      const double t = static_cast<double>(frame) / static_cast<double>(spec.rate);
      double sum = 0.0;
      for (std::size_t i = 0; i < kTones.size(); ++i) {
        // Per-channel, per-seed phases; the second channel's tones are shifted up 3 %.
        const std::uint64_t phase_bits = mix(spec.seed * 31 + channel * 7 + i);
        const double phase = 2.0 * std::numbers::pi * static_cast<double>(phase_bits >> 11) /
                             static_cast<double>(1ULL << 53);
        const double f = kTones[i] * (1.0 + 0.03 * static_cast<double>(channel));
        sum += std::sin(2.0 * std::numbers::pi * f * t + phase);
      }
      return spec.amplitude * static_cast<float>(sum / static_cast<double>(kTones.size()));
    }
    case SignalKind::impulse:
      return 0.0f;
  }
  return 0.0f;
}

void generate(const SignalSpec& spec, std::size_t channel, std::uint64_t first_frame,
              std::span<float> out) noexcept {
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = signal_sample(spec, channel, first_frame + i);
}

std::optional<std::uint32_t> next_impulse_offset(std::uint64_t period_start_us, double frame_us,
                                                 std::uint32_t frames, std::uint64_t interval_us,
                                                 std::uint64_t& next_index) noexcept {
  if (interval_us == 0 || frame_us <= 0.0 || frames == 0) return std::nullopt;
  const double start = static_cast<double>(period_start_us);
  // Skip grid points whose nearest frame lies before this period (missed, or before we began).
  for (;;) {
    const double grid = static_cast<double>(next_index) * static_cast<double>(interval_us);
    const double offset = std::round((grid - start) / frame_us);
    if (offset < 0.0) {
      const auto behind =
          static_cast<std::uint64_t>((start - grid) / static_cast<double>(interval_us));
      next_index += behind > 0 ? behind : 1;
      continue;
    }
    if (offset >= static_cast<double>(frames)) return std::nullopt;
    ++next_index;
    return static_cast<std::uint32_t>(offset);
  }
}

}  // namespace jambox::jacktest
