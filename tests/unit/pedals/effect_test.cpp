// Real plugins change a test signal as they promise, measured on the output: a gain plugin by a
// set number of dB, delay plugins by a set number of samples and milliseconds; in a chain, a
// bypassed pedal passes the signal untouched; in the engine, the room and the monitor both hear
// the input through its chain.
#include "plugins.hpp"
#include <jambox/audio/engine.hpp>
#include <jambox/pedals/catalog.hpp>
#include <jambox/pedals/chain.hpp>
#include <jambox/wire/packet.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <numbers>
#include <vector>

using namespace jambox;

namespace {

const pedals::Catalog& catalog() {
  static const pedals::Catalog c;
  return c;
}

constexpr std::uint32_t kFrames = 64;

std::vector<float> sine(std::size_t n, float hz, float amplitude) {
  std::vector<float> x(n);
  for (std::size_t i = 0; i < n; ++i) {
    x[i] = amplitude *
           std::sin(2.0F * std::numbers::pi_v<float> * hz * static_cast<float>(i) / 48000.0F);
  }
  return x;
}

std::vector<float> impulse(std::size_t n, std::size_t at = 0) {
  std::vector<float> x(n, 0.0F);
  x[at] = 1.0F;
  return x;
}

// `signal` through `chain`, period by period.
std::vector<float> through(audio::Insert& chain, std::vector<float> signal) {
  for (std::size_t at = 0; at + kFrames <= signal.size(); at += kFrames) {
    chain.run(signal.data() + at, kFrames);
  }
  return signal;
}

double rms(const std::vector<float>& x, std::size_t from) {
  double sum = 0.0;
  for (std::size_t i = from; i < x.size(); ++i)
    sum += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  return std::sqrt(sum / static_cast<double>(x.size() - from));
}

std::size_t loudest_at(const std::vector<float>& x) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < x.size(); ++i) {
    if (std::fabs(x[i]) > std::fabs(x[best])) best = i;
  }
  return best;
}

std::shared_ptr<pedals::Pedal> pedal(const char* uri,
                                     std::initializer_list<std::pair<const char*, float>> set) {
  auto p = catalog().instantiate(uri);
  for (const auto& [symbol, value] : set) {
    const pedals::Control* c = p->info().control(symbol);
    REQUIRE(c != nullptr);
    REQUIRE(c->accepts(value));
    p->set(c->port, value);
  }
  return p;
}

}  // namespace

TEST_CASE("effects: a gain pedal at -6 dB lowers a tone by 6 dB", "[pedals]") {
  pedals::Chain chain({{pedal(test::kAmp, {{"gain", -6.0F}}), false}});
  const std::vector<float> in = sine(48000, 440.0F, 0.5F);
  const std::vector<float> out = through(chain, in);
  const double db = 20.0 * std::log10(rms(out, 4800) / rms(in, 4800));
  CHECK(db == Approx(-6.0).margin(0.01));
}

TEST_CASE("effects: delay pedals delay by the samples and milliseconds they are set to",
          "[pedals]") {
  SECTION("x42 nodelay: 100 frames") {
    pedals::Chain chain({{pedal(test::kNoDelay, {{"delay", 100.0F}}), false}});
    // The plugin glides to a new delay over its first period: measure a later impulse.
    const std::vector<float> out = through(chain, impulse(9600, 4800));
    CHECK(loudest_at(out) == 4900);
    CHECK(out[4900] == Approx(1.0F).margin(1e-3));
  }
  SECTION("LSP delay compensator: 10 ms is 480 samples at 48 kHz") {
    pedals::Chain chain({{pedal(test::kCompDelay, {{"mode", 2.0F}, {"time", 10.0F}}), false}});
    const std::vector<float> out = through(chain, impulse(9600, 4800));
    CHECK(loudest_at(out) == 4800 + 480);
    CHECK(std::fabs(out[4800 + 480]) == Approx(1.0F).margin(1e-3));
  }
}

TEST_CASE("effects: chains run in order, and a bypassed pedal is not heard", "[pedals]") {
  const auto amp = pedal(test::kAmp, {{"gain", -20.0F}});
  const auto delay = pedal(test::kNoDelay, {{"delay", 64.0F}});
  pedals::Chain chain({{delay, false}, {amp, false}});
  const std::vector<float> out = through(chain, impulse(9600, 4800));
  CHECK(loudest_at(out) == 4864);
  CHECK(out[4864] == Approx(0.1F).margin(1e-3));

  chain.set_bypass(1, true);  // the amp: faded out over the next period, then gone
  const std::vector<float> bypassed = through(chain, impulse(9600, 4800));
  CHECK(bypassed[4864] == Approx(1.0F).margin(1e-3));
  chain.set_bypass(0, true);
  const std::vector<float> dry = through(chain, impulse(9600, 4800));
  CHECK(loudest_at(dry) == 4800);
  CHECK(dry[4800] == 1.0F);
  chain.set_param(1, amp->info().control("gain")->port, 0.0F);
  chain.set_bypass(1, false);
  chain.set_bypass(7, false);  // no such position: ignored
  const std::vector<float> unity = through(chain, impulse(9600, 4800));
  CHECK(unity[4800] == Approx(1.0F).margin(1e-4));
}

TEST_CASE("effects: in the engine, the room and the monitor hear the input through its chain",
          "[pedals]") {
  audio::EngineConfig cfg;
  cfg.format = wire::SampleFormat::f32;
  audio::Engine engine(cfg);
  REQUIRE(engine.post(audio::Command::monitor(true, 0.0F, -1.0F)));  // monitor panned left
  std::unique_ptr<audio::Insert> chain = std::make_unique<pedals::Chain>(
      std::vector<pedals::ChainEntry>{{pedal(test::kAmp, {{"gain", -6.0F}}), false}});
  REQUIRE(engine.post_insert(0, chain));
  CHECK(chain == nullptr);

  const std::vector<float> in = sine(4800, 440.0F, 0.5F);
  std::vector<float> heard;
  std::vector<float> sent;
  std::array<float, kFrames> silence{};
  std::array<float, kFrames> out_l{};
  std::array<float, kFrames> out_r{};
  for (std::size_t at = 0; at + kFrames <= in.size(); at += kFrames) {
    const std::array<const float*, 2> ins{in.data() + at, silence.data()};
    const std::array<float*, 2> outs{out_l.data(), out_r.data()};
    static_cast<void>(engine.process(ins, outs, kFrames));
    heard.insert(heard.end(), out_l.begin(), out_l.end());
    audio::OutboundPacket p;
    while (engine.outbound().pop(p)) {
      std::array<float, 256> l{};
      std::array<float, 256> r{};
      wire::decode_audio({p.payload.data(), p.payload_len}, p.format, {l.data(), p.frames},
                         {r.data(), p.frames});
      sent.insert(sent.end(), l.begin(), l.begin() + p.frames);
    }
  }
  const std::vector<float> tail(in.begin() + 480, in.end());
  const auto db = [&tail](const std::vector<float>& x) {
    return 20.0 * std::log10(rms(std::vector<float>(x.begin() + 480, x.end()), 0) / rms(tail, 0));
  };
  REQUIRE(sent.size() == in.size());
  CHECK(db(sent) == Approx(-6.0).margin(0.01));
  CHECK(db(heard) == Approx(-6.0).margin(0.05));  // the monitor's pan law leaves the left at 0 dB
  const audio::Snapshot s = engine.snapshot();
  CHECK(s.inserts[0].present);
  CHECK_FALSE(s.inserts[1].present);
  CHECK(s.inserts[0].chains == 1);
  CHECK(s.inserts[0].load > 0.0F);
  CHECK(s.inserts[0].load < 1.0F);
  // The input meter shows what the player plays, before the chain.
  CHECK(s.inputs[0].peak_dbfs == Approx(20.0 * std::log10(0.5)).margin(0.1));
}
