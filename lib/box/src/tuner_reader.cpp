#include "tuner_reader.hpp"

namespace jambox::box {

TunerReader::TunerReader(const audio::Engine& engine)
    : engine_(engine), detector_(tuner::DetectorConfig{}), window_(detector_.window(), 0.0F) {}

void TunerReader::switched(std::uint32_t input, bool on) {
  if (input >= on_.size()) return;
  // The copy is written only while on: what it holds from an earlier time is not this note.
  if (on && !on_[input]) since_[input] = engine_.tuner_tap(input).written();
  on_[input] = on;
}

std::vector<TunerReading> TunerReader::read() {
  std::vector<TunerReading> readings;
  for (std::uint32_t input = 0; input < on_.size(); ++input) {
    if (!on_[input]) continue;
    TunerReading r;
    r.input = input;
    const tuner::InputTap& tap = engine_.tuner_tap(input);
    if (tap.written() - since_[input] < window_.size() || !tap.read_latest(window_)) {
      r.settling = true;
      readings.push_back(std::move(r));
      continue;
    }
    const tuner::Pitch pitch = detector_.analyse(window_);
    r.pitched = pitch.found;
    r.confidence = pitch.confidence;
    if (pitch.found) {
      const tuner::Note note = tuner::nearest_note(pitch.frequency_hz);
      r.frequency_hz = pitch.frequency_hz;
      r.note = note.name;
      r.octave = note.octave;
      r.cents = note.cents;
    }
    readings.push_back(std::move(r));
  }
  return readings;
}

}  // namespace jambox::box
