// The catalog over the plugins Debian installs: effects are found with their controls; every
// other plugin is refused with its reason (a host feature we lack is named).
#include "plugins.hpp"
#include <jambox/pedals/catalog.hpp>
#include <jambox/pedals/pedal.hpp>

#include <catch2/catch.hpp>

#include <cmath>

using namespace jambox;

namespace {

const pedals::Catalog& catalog() {
  static const pedals::Catalog c;
  return c;
}

}  // namespace

TEST_CASE("catalog: a gain plugin is a mono effect with its control described", "[pedals]") {
  const pedals::PedalInfo* amp = catalog().find(test::kAmp);
  REQUIRE(amp != nullptr);
  CHECK(amp->audio_inputs == 1);
  CHECK(amp->audio_outputs == 1);
  CHECK(amp->bundle.find("eg-amp.lv2/") != std::string::npos);
  const pedals::Control* gain = amp->control("gain");
  REQUIRE(gain != nullptr);
  CHECK(gain->minimum == -90.0F);
  CHECK(gain->maximum == 24.0F);
  CHECK(gain->default_value == 0.0F);
  CHECK(gain->unit == "dB");
  CHECK(gain->accepts(-6.0F));
  CHECK_FALSE(gain->accepts(25.0F));
  CHECK_FALSE(gain->accepts(NAN));
  CHECK(gain->describe_range() == "-90..24 dB");
  CHECK(amp->control("volume") == nullptr);
  CHECK(catalog().problem(test::kAmp).empty());
  CHECK(catalog().pedals().size() > 100);  // the packages of the test group
  CHECK(catalog().plugins_found() > catalog().pedals().size());
}

TEST_CASE("catalog: enumerations accept only their values", "[pedals]") {
  const pedals::PedalInfo* nodelay = catalog().find(test::kNoDelay);
  REQUIRE(nodelay != nullptr);
  const pedals::Control* mode = nodelay->control("report_latency");
  REQUIRE(mode != nullptr);
  REQUIRE(mode->enumeration);
  REQUIRE(mode->choices.size() >= 2);
  CHECK(mode->accepts(mode->choices[1].value));
  CHECK_FALSE(mode->accepts(mode->choices[0].value + 0.5F));
  CHECK(mode->describe_range().rfind("one of ", 0) == 0);
  const pedals::Control* frames = nodelay->control("delay");
  REQUIRE(frames != nullptr);
  CHECK(frames->maximum == 192000.0F);
}

TEST_CASE("catalog: what cannot be a pedal says why", "[pedals]") {
  CHECK(catalog().find(test::kMetro) == nullptr);
  CHECK(catalog().problem(test::kMetro).find("no audio input") != std::string::npos);
  CHECK(catalog().problem(test::kSampler) ==
        "needs the host feature http://lv2plug.in/ns/ext/state#loadDefaultState, which jambox does "
        "not provide");
  CHECK(catalog().problem("http://example.org/no-such-plugin") == "not installed on this box");
  CHECK_THROWS_AS(catalog().instantiate(test::kSampler), pedals::PedalError);
  try {
    static_cast<void>(catalog().instantiate("http://example.org/no-such-plugin"));
    FAIL("instantiated a plugin that does not exist");
  } catch (const pedals::PedalError& e) {
    CHECK(std::string(e.what()) == "http://example.org/no-such-plugin: not installed on this box");
  }
}

TEST_CASE("catalog: plugins that need the options feature start", "[pedals]") {
  // DPF plugins refuse to instantiate without options:options (block lengths, sample rate).
  const auto comp = catalog().instantiate(test::kZamComp);
  REQUIRE(comp != nullptr);
  const pedals::Control* threshold = comp->info().control("thr");
  REQUIRE(threshold != nullptr);
  CHECK(comp->get(threshold->port) == threshold->default_value);
}

TEST_CASE("catalog: a search path without plugins finds none", "[pedals]") {
  const pedals::Catalog empty("/nonexistent-lv2-folder");
  CHECK(empty.pedals().empty());
  CHECK(empty.plugins_found() == 0);
  CHECK(empty.problem(test::kAmp) == "not installed on this box");
}
