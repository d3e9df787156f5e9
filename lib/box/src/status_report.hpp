#pragma once
// The box's status and meters documents, built only from our own bounded figures: whatever
// peers send, a status stays far below its 256 KiB limit (docs/security.md works it out).

#include "model.hpp"
#include <jambox/audio/meter_window.hpp>

#include <nlohmann/json.hpp>

namespace jambox::box {

// The box part of the status: room, link, JACK, remotes.
[[nodiscard]] nlohmann::json box_status(const Figures& f);
// {"inputs": [...], "master": [...], "remotes": [{"session_id", "level"}]}: peak and RMS over
// the whole window.
[[nodiscard]] nlohmann::json meters_document(const audio::MeterWindow& window);
// [{"input": 1|2, "settling", "pitch", "frequency_hz", "note", "octave", "cents", "confidence"}]:
// the inputs whose tuner is on; no frequency or note without a pitch.
[[nodiscard]] nlohmann::json tuner_document(const std::vector<TunerReading>& readings);

}  // namespace jambox::box
