// The tuner as jamboxd reads it: a real engine copies an input while its tuner is on, the reader
// says "settling" until a whole window was written since, then the note; a copy from an earlier
// time is never read as the current note.
#include "tuner_reader.hpp"

#include "status_report.hpp"
#include <jambox/audio/engine.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <numbers>
#include <vector>

using namespace jambox;

namespace {

constexpr std::uint32_t kFrames = 64;

// Runs `periods` of a sine at `hz` on input 0 (input 1 silent) through the engine.
void play(audio::Engine& engine, double hz, int periods, std::uint64_t& frame) {
  std::array<float, kFrames> in0{}, in1{}, out0{}, out1{};
  const std::array<const float*, 2> ins{in0.data(), in1.data()};
  const std::array<float*, 2> outs{out0.data(), out1.data()};
  for (int p = 0; p < periods; ++p) {
    for (std::uint32_t i = 0; i < kFrames; ++i, ++frame) {
      in0[i] = static_cast<float>(
          0.3 * std::sin(2.0 * std::numbers::pi * hz * static_cast<double>(frame) / 48000.0));
    }
    static_cast<void>(engine.process(ins, outs, kFrames));
  }
}

}  // namespace

TEST_CASE("tuner reader: settling, then the note of the input; off and on again settles again",
          "[box][tuner]") {
  audio::Engine engine{audio::EngineConfig{}};
  box::TunerReader reader(engine);
  std::uint64_t frame = 0;
  CHECK(reader.read().empty());  // no tuner on

  REQUIRE(engine.post(audio::Command::tuner(0, true)));
  reader.switched(0, true);
  play(engine, 110.0, 10, frame);  // 13 ms: less than a window
  auto readings = reader.read();
  REQUIRE(readings.size() == 1);
  CHECK(readings[0].settling);
  CHECK_FALSE(readings[0].pitched);

  play(engine, 110.0, 150, frame);  // 200 ms
  readings = reader.read();
  REQUIRE(readings.size() == 1);
  CHECK_FALSE(readings[0].settling);
  REQUIRE(readings[0].pitched);
  CHECK(readings[0].note == "A");
  CHECK(readings[0].octave == 2);
  CHECK(std::abs(readings[0].cents) < 1.0);
  const auto doc = box::tuner_document(readings);
  CHECK(doc[0]["input"] == 1);
  CHECK(doc[0]["note"] == "A");

  // Off: the engine stops copying. A different note played meanwhile is not in the copy, so
  // switched on again the reader waits for a fresh window instead of reading the old A.
  REQUIRE(engine.post(audio::Command::tuner(0, false)));
  reader.switched(0, false);
  CHECK(reader.read().empty());
  play(engine, 196.0, 150, frame);
  REQUIRE(engine.post(audio::Command::tuner(0, true)));
  reader.switched(0, true);
  play(engine, 196.0, 5, frame);
  readings = reader.read();
  REQUIRE(readings.size() == 1);
  CHECK(readings[0].settling);
  play(engine, 196.0, 150, frame);
  readings = reader.read();
  REQUIRE(readings.size() == 1);
  REQUIRE(readings[0].pitched);
  CHECK(readings[0].note == "G");
  CHECK(readings[0].octave == 3);

  // A silent input says "no pitch".
  REQUIRE(engine.post(audio::Command::tuner(1, true)));
  reader.switched(1, true);
  play(engine, 196.0, 150, frame);
  readings = reader.read();
  REQUIRE(readings.size() == 2);
  CHECK(readings[1].input == 1);
  CHECK_FALSE(readings[1].settling);
  CHECK_FALSE(readings[1].pitched);
  CHECK(box::tuner_document(readings)[1].contains("note") == false);
}
