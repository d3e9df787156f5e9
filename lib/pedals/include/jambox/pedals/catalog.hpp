#pragma once
// The LV2 plugins installed on this machine, as the pedalboard sees them: the mono and stereo
// audio effects this host can run, with their controls, and for every other plugin the reason it
// cannot be used here (an instrument, a MIDI tool, a host feature we do not provide, ...).

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace jambox::pedals {

class Pedal;

// Refusals with the reason in what(): an unknown or unusable plugin, a failed instantiation.
class PedalError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Choice {
  float value = 0.0F;
  std::string label;
};

// An input control port (a knob, switch or selector).
struct Control {
  std::uint32_t port = 0;  // the plugin's port index
  std::string symbol;      // stable name, used by commands and saved boards
  std::string name;
  std::string unit;  // "dB", "ms", "Hz", "%", ... or ""
  float minimum = 0.0F;
  float maximum = 1.0F;
  float default_value = 0.0F;
  bool integer = false;
  bool toggled = false;
  bool enumeration = false;  // only the values of `choices` are allowed
  bool logarithmic = false;
  std::vector<Choice> choices;  // labelled values (all the allowed ones when `enumeration`)

  // Whether `value` is one this control accepts: finite, in range, one of the choices of an
  // enumeration, whole for integers and switches.
  [[nodiscard]] bool accepts(float value) const noexcept;
  // "-20..20 dB", "one of 0 (Off), 1 (On)", ... for error messages.
  [[nodiscard]] std::string describe_range() const;
};

struct PedalInfo {
  std::string uri;
  std::string name;
  std::string kind;                 // the LV2 class label: "Delay", "Reverb", "Compressor", ...
  std::string bundle;               // the folder holding the plugin, ending in '/'
  std::uint32_t audio_inputs = 1;   // 1 or 2 (a mono input feeds both of a stereo pair)
  std::uint32_t audio_outputs = 1;  // 1 or 2 (a stereo pair is mixed down to the mono input)
  std::vector<Control> controls;

  [[nodiscard]] const Control* control(std::string_view symbol) const noexcept;
};

class Catalog {
 public:
  // Loads every bundle on the LV2 search path: `lv2_path` if given, else $LV2_PATH, else lilv's
  // default (~/.lv2, /usr/local/lib/lv2, /usr/lib/lv2). Slow (it reads every plugin's
  // description): build it once, off the audio thread.
  explicit Catalog(std::optional<std::string> lv2_path = std::nullopt);
  ~Catalog();
  Catalog(const Catalog&) = delete;
  Catalog& operator=(const Catalog&) = delete;

  // The usable effects, sorted by URI.
  [[nodiscard]] const std::vector<PedalInfo>& pedals() const noexcept;
  [[nodiscard]] const PedalInfo* find(std::string_view uri) const noexcept;
  // Why `uri` cannot be a pedal here ("not installed", "an instrument", "needs the host feature
  // <uri>", ...); empty when it can.
  [[nodiscard]] std::string problem(std::string_view uri) const;
  // How many plugins were found in all, usable or not.
  [[nodiscard]] std::size_t plugins_found() const noexcept;

  // A new instance of `uri` at 48 kHz with every control at its default, activated and ready to
  // run. Off the audio thread. Throws PedalError naming the plugin and the problem.
  [[nodiscard]] std::shared_ptr<Pedal> instantiate(std::string_view uri) const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // every pedal keeps it (lilv frees an instance through it)
};

}  // namespace jambox::pedals
