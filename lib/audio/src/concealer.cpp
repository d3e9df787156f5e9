#include <jambox/audio/concealer.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>

namespace jambox::audio {
namespace {

constexpr std::size_t kMask = Concealer::kHistory - 1;
constexpr std::size_t kDecim = 4;
// Samples needed for the widest search: the match window plus the longest period.
constexpr std::size_t kSearch = Concealer::kMatch + Concealer::kMaxPeriod;
// Junction offset removal length (raised-cosine decay of the initial jump).
constexpr std::size_t kJunction = 48;
constexpr std::size_t kWrapBlend = 64;
static_assert((Concealer::kHistory & kMask) == 0, "history must be a power of two");
static_assert(kSearch + kWrapBlend <= Concealer::kHistory);
static_assert(Concealer::kMaxCycle + kWrapBlend + 1 <= Concealer::kHistory);

}  // namespace

struct Concealer::State {
  std::array<float, kHistory> hist_l{};
  std::array<float, kHistory> hist_r{};
  std::size_t write = 0;   // next history index
  std::size_t filled = 0;  // valid history samples (saturates at kHistory)

  std::array<float, kMaxCycle> cycle_l{};
  std::array<float, kMaxCycle> cycle_r{};
  std::size_t cycle_len = 0;  // 0: silent concealment
  std::size_t cycle_pos = 0;
  float jump_l = 0.0F;
  float jump_r = 0.0F;
  std::size_t elapsed = 0;
  std::size_t hold = kHold;

  std::size_t period = 0;
  float correlation = 0.0F;

  // Search scratch.
  std::array<float, kSearch> mono{};
  std::array<float, kSearch / kDecim> decimated{};

  float at_l(std::size_t back) const { return hist_l[(write - back) & kMask]; }  // back >= 1
  float at_r(std::size_t back) const { return hist_r[(write - back) & kMask]; }
};

Concealer::Concealer() : s_(std::make_unique<State>()) {}
Concealer::~Concealer() = default;

void Concealer::reset() noexcept {
  s_->filled = 0;
  s_->write = 0;
  s_->hist_l.fill(0.0F);
  s_->hist_r.fill(0.0F);
  s_->cycle_len = 0;
  s_->period = 0;
  s_->correlation = 0.0F;
}

void Concealer::record(const float* left, const float* right, std::size_t n) noexcept {
  State& s = *s_;
  for (std::size_t i = 0; i < n; ++i) {
    s.hist_l[s.write] = left[i];
    s.hist_r[s.write] = right[i];
    s.write = (s.write + 1) & kMask;
  }
  s.filled = std::min(kHistory, s.filled + n);
}

namespace {

// Normalised cross-correlation of x[a, a+len) with x[b, b+len); energies given.
float normalised(double xy, double xx, double yy) {
  if (xy <= 0.0 || xx <= 0.0 || yy <= 0.0) return 0.0F;
  return static_cast<float>(xy / std::sqrt(xx * yy));
}

// Eight independent partial sums: the compiler can keep them in one vector register instead of
// waiting on one long chain of dependent additions (the pitch search is ~10k multiply-adds and
// runs on the audio thread).
double dot(const float* a, const float* b, std::size_t n) {
  std::array<float, 8> part{};
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (std::size_t k = 0; k < 8; ++k) part[k] += a[i + k] * b[i + k];
  }
  float sum = 0.0F;
  for (; i < n; ++i) sum += a[i] * b[i];
  for (const float p : part) sum += p;
  return static_cast<double>(sum);
}

}  // namespace

void Concealer::begin() noexcept {
  State& s = *s_;
  s.elapsed = 0;
  s.cycle_pos = 0;
  s.cycle_len = 0;
  s.period = 0;
  s.correlation = 0.0F;
  s.jump_l = s.jump_r = 0.0F;
  if (s.filled < kSearch + kWrapBlend) return;  // too little history: conceal with silence

  // Mono view of the newest kSearch samples, oldest first. The channels are added with the sign
  // of their correlation, so a phase-inverted pair does not cancel out.
  float cross = 0.0F;
  for (std::size_t back = 1; back <= kSearch; ++back) cross += s.at_l(back) * s.at_r(back);
  const float sign = cross < 0.0F ? -1.0F : 1.0F;
  for (std::size_t i = 0; i < kSearch; ++i) {
    const std::size_t back = kSearch - i;
    s.mono[i] = s.at_l(back) + sign * s.at_r(back);
  }
  const double energy = dot(s.mono.data(), s.mono.data(), kSearch);
  if (energy < 1e-9) return;  // silence in, silence out

  // Coarse search on the 4x decimated signal (sums of 4: a crude low-pass is enough here).
  constexpr std::size_t nd = kSearch / kDecim;
  constexpr std::size_t md = kMatch / kDecim;
  for (std::size_t i = 0; i < nd; ++i) {
    float sum = 0.0F;
    for (std::size_t k = 0; k < kDecim; ++k) sum += s.mono[i * kDecim + k];
    s.decimated[i] = sum;
  }
  const float* d = s.decimated.data();
  const std::size_t tail = nd - md;  // start of the reference window
  // Sums over at most kMatch samples: float accumulation is accurate enough and vectorises.
  const double xx = dot(d + tail, d + tail, md);
  constexpr std::size_t lag_min = kMinPeriod / kDecim;
  constexpr std::size_t lag_max = kMaxPeriod / kDecim;
  double yy = dot(d + tail - lag_min, d + tail - lag_min, md);
  std::size_t best_lag = lag_min;
  float best = -1.0F;
  for (std::size_t lag = lag_min; lag <= lag_max; ++lag) {
    const float* y = d + tail - lag;
    const double xy = dot(d + tail, y, md);
    const float c = normalised(xy, xx, yy);
    if (c > best) {
      best = c;
      best_lag = lag;
    }
    // Slide the lagged window one step further back.
    if (lag < lag_max) {
      const auto enter = static_cast<double>(y[-1]);
      const auto leave = static_cast<double>(y[md - 1]);
      yy = std::max(0.0, yy + enter * enter - leave * leave);
    }
  }

  // Refine at full rate around the coarse pick.
  const float* x = s.mono.data();
  const std::size_t ref = kSearch - kMatch;
  const double rx = dot(x + ref, x + ref, kMatch);
  const std::size_t lo = std::max(kMinPeriod, best_lag * kDecim - kDecim);
  const std::size_t hi = std::min(kMaxPeriod, best_lag * kDecim + kDecim);
  std::size_t period = lo;
  float corr = -1.0F;
  for (std::size_t p = lo; p <= hi; ++p) {
    const double xy = dot(x + ref, x + ref - p, kMatch);
    const double ry = dot(x + ref - p, x + ref - p, kMatch);
    const float c = normalised(xy, rx, ry);
    if (c > corr) {
      corr = c;
      period = p;
    }
  }
  s.period = period;
  s.correlation = corr;

  // Repeat whole periods, at least kMinCycle samples of them. Weakly periodic material (noise,
  // dense chords) fades sooner: repeating it for long sounds like a buzz.
  const std::size_t repeats = std::max<std::size_t>(1, kMinCycle / period);
  const std::size_t len = std::min(kMaxCycle, period * repeats);
  s.hold = corr > 0.5F ? kHold : kHold / 2;
  for (std::size_t j = 0; j < len; ++j) {
    s.cycle_l[j] = s.at_l(len - j);
    s.cycle_r[j] = s.at_r(len - j);
  }
  // Smooth the wrap: the cycle's last samples blend into the samples that preceded its first
  // sample, so cycle[len-1] -> cycle[0] continues the way the real signal did.
  const std::size_t blend = std::min(kWrapBlend, len / 4);
  for (std::size_t j = 0; j < blend; ++j) {
    const float w = static_cast<float>(j + 1) / static_cast<float>(blend + 1);
    const std::size_t idx = len - blend + j;
    s.cycle_l[idx] = (1.0F - w) * s.cycle_l[idx] + w * s.at_l(len + blend - j);
    s.cycle_r[idx] = (1.0F - w) * s.cycle_r[idx] + w * s.at_r(len + blend - j);
  }
  // The jump from the last played sample to the cycle's start, measured against the sample the
  // cycle start really followed; removed by a decaying offset.
  s.jump_l = s.at_l(1) - s.at_l(len + 1);
  s.jump_r = s.at_r(1) - s.at_r(len + 1);
  s.cycle_len = len;
}

void Concealer::synthesize(float* left, float* right, std::size_t n) noexcept {
  State& s = *s_;
  const std::size_t end = s.hold + kFade;
  for (std::size_t i = 0; i < n; ++i) {
    if (s.cycle_len == 0 || s.elapsed >= end) {
      left[i] = right[i] = 0.0F;
      continue;
    }
    float l = s.cycle_l[s.cycle_pos];
    float r = s.cycle_r[s.cycle_pos];
    if (s.elapsed < kJunction) {
      const float w =
          0.5F * (1.0F + std::cos(std::numbers::pi_v<float> * static_cast<float>(s.elapsed) /
                                  static_cast<float>(kJunction)));
      l += s.jump_l * w;
      r += s.jump_r * w;
    }
    float gain = 1.0F;
    if (s.elapsed >= s.hold) {
      gain = 1.0F - static_cast<float>(s.elapsed - s.hold) / static_cast<float>(kFade);
    }
    left[i] = l * gain;
    right[i] = r * gain;
    ++s.elapsed;
    if (++s.cycle_pos == s.cycle_len) s.cycle_pos = 0;
  }
  if (s.elapsed >= end) s.cycle_len = 0;
}

std::size_t Concealer::period() const noexcept {
  return s_->period;
}
float Concealer::correlation() const noexcept {
  return s_->correlation;
}
bool Concealer::silent() const noexcept {
  return s_->cycle_len == 0;
}

}  // namespace jambox::audio
