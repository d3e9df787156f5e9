#pragma once
// Control messages from the (single) control thread to the audio thread. They travel through an
// SPSC ring, so changing a gain never takes a lock the audio thread could wait on.

#include <cstdint>

namespace jambox::audio {

class Insert;

enum class CommandType : std::uint8_t {
  remote_join,         // make room for session_id before its first packet
  remote_leave,        // fade session_id out and release its slot now
  remote_gain,         // value: dB
  remote_pan,          // value: -1 (left) .. +1 (right)
  remote_mute,         // flag
  master_gain,         // value: dB
  monitor,             // flag: hear the own inputs directly; value: dB; value2: pan
  input_mute_to_room,  // index: input 0/1; flag: muted in the outgoing packet only
  jitter,              // value: floor ms; value2: ceiling ms; flag: adaptive
  metronome,           // flag: on; value: BPM; value2: dB; index: beats per bar
  tuner,               // index: input 0/1; flag: copy the input for the tuner
  insert,              // index: input 0/1; insert: the new chain (null: none), see Engine
  insert_param,        // index: input; position; port; value
  insert_bypass,       // index: input; position; flag: bypassed
};

struct Command {
  CommandType type = CommandType::master_gain;
  bool flag = false;
  std::uint32_t session_id = 0;
  std::uint32_t index = 0;
  float value = 0.0F;
  float value2 = 0.0F;
  std::uint32_t position = 0;  // a pedal's place in an input's chain
  std::uint32_t port = 0;      // a pedal's control port index
  Insert* insert = nullptr;    // Command::insert only: owned by the ring, then the engine

  static Command remote_join(std::uint32_t session) {
    return {CommandType::remote_join, false, session, 0, 0.0F, 0.0F};
  }
  static Command remote_leave(std::uint32_t session) {
    return {CommandType::remote_leave, false, session, 0, 0.0F, 0.0F};
  }
  static Command remote_gain(std::uint32_t session, float db) {
    return {CommandType::remote_gain, false, session, 0, db, 0.0F};
  }
  static Command remote_pan(std::uint32_t session, float pan) {
    return {CommandType::remote_pan, false, session, 0, pan, 0.0F};
  }
  static Command remote_mute(std::uint32_t session, bool muted) {
    return {CommandType::remote_mute, muted, session, 0, 0.0F, 0.0F};
  }
  static Command master_gain(float db) { return {CommandType::master_gain, false, 0, 0, db, 0.0F}; }
  static Command monitor(bool on, float db, float pan = 0.0F) {
    return {CommandType::monitor, on, 0, 0, db, pan};
  }
  static Command input_mute_to_room(std::uint32_t input, bool muted) {
    return {CommandType::input_mute_to_room, muted, 0, input, 0.0F, 0.0F};
  }
  static Command jitter(float floor_ms, float ceiling_ms, bool adaptive) {
    return {CommandType::jitter, adaptive, 0, 0, floor_ms, ceiling_ms};
  }
  static Command metronome(bool on, float bpm, float db, std::uint32_t beats_per_bar = 4) {
    return {CommandType::metronome, on, 0, beats_per_bar, bpm, db};
  }
  static Command tuner(std::uint32_t input, bool on) {
    return {CommandType::tuner, on, 0, input, 0.0F, 0.0F};
  }
  static Command insert_param(std::uint32_t input, std::uint32_t position, std::uint32_t port,
                              float value) {
    return {CommandType::insert_param, false, 0, input, value, 0.0F, position, port, nullptr};
  }
  static Command insert_bypass(std::uint32_t input, std::uint32_t position, bool bypassed) {
    return {CommandType::insert_bypass, bypassed, 0, input, 0.0F, 0.0F, position, 0, nullptr};
  }
};

}  // namespace jambox::audio
