#include "status_report.hpp"

namespace jambox::box {

using nlohmann::json;

json box_status(const Figures& f) {
  json remotes = json::array();
  for (const auto& r : f.remotes) {
    remotes.push_back({{"session_id", r.session_id},
                       {"gain_db", r.gain_db},
                       {"pan", r.pan},
                       {"muted", r.muted},
                       {"received", r.jitter.received},
                       {"depth_ms", r.jitter.depth_ms},
                       {"target_ms", r.jitter.target_ms},
                       {"jitter_ms", r.jitter.jitter_ms},
                       {"drift_ppm", r.jitter.drift_ppm},
                       {"underruns", r.jitter.underruns},
                       {"concealed", r.jitter.concealed},
                       {"late", r.jitter.late},
                       {"catch_ups", r.jitter.catch_ups}});
  }
  json s;
  s["room"] = f.in_room ? json(f.room) : json();
  s["server"] = f.in_room ? json(f.server) : json();
  s["link"] = link_state_name(f.link.state);
  s["members"] = f.members();
  s["rtt_ms"] = static_cast<double>(f.link.rtt_us) / 1000.0;
  s["audio_encrypted"] = f.link.audio_encrypted;
  s["room_key_rejected"] = f.link.room_key_rejected;
  s["jack"] = {{"state", jack::state_name(f.jack.state)},
               {"period", f.jack.period},
               {"sample_rate", f.jack.sample_rate},
               {"xruns", f.jack.xruns}};
  s["remotes"] = std::move(remotes);
  const MixSettings& m = f.mix;
  // set_jitter {auto: true} restores the engine's defaults.
  const audio::JitterConfig defaults;
  const bool jitter_auto = m.jitter_adaptive && m.jitter_floor_ms == defaults.floor_ms &&
                           m.jitter_ceiling_ms == defaults.ceiling_ms;
  s["mix"] = {{"master_gain_db", m.master_gain_db},
              {"monitor", {{"on", m.monitor}, {"gain_db", m.monitor_gain_db}}},
              {"metronome",
               {{"on", m.metronome}, {"bpm", m.metronome_bpm}, {"gain_db", m.metronome_gain_db}}},
              {"muted_to_room", m.muted_to_room},
              {"tuner", m.tuner},
              {"jitter",
               {{"floor_ms", m.jitter_floor_ms},
                {"ceiling_ms", m.jitter_ceiling_ms},
                {"adaptive", m.jitter_adaptive},
                {"auto", jitter_auto}}}};
  s["board"] = f.board;
  if (!f.link.last_problem.empty()) s["problem"] = f.link.last_problem;
  return s;
}

json meters_document(const audio::MeterWindow& w) {
  const auto level = [](const audio::Level& v) {
    return json{{"peak_dbfs", v.peak_dbfs}, {"rms_dbfs", v.rms_dbfs}};
  };
  json m;
  m["inputs"] = {level(w.inputs[0]), level(w.inputs[1])};
  m["master"] = {level(w.master[0]), level(w.master[1])};
  m["remotes"] = json::array();
  for (const auto& r : w.remotes) {
    if (r.active) m["remotes"].push_back({{"session_id", r.session_id}, {"level", level(r.level)}});
  }
  return m;
}

json tuner_document(const std::vector<TunerReading>& readings) {
  json out = json::array();
  for (const TunerReading& r : readings) {
    json t{{"input", r.input + 1}, {"settling", r.settling}, {"pitch", r.pitched}};
    if (r.pitched) {
      t["frequency_hz"] = r.frequency_hz;
      t["note"] = r.note;
      t["octave"] = r.octave;
      t["cents"] = r.cents;
    }
    t["confidence"] = r.confidence;
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace jambox::box
