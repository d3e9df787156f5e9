#include "host.hpp"
#include "pedal_impl.hpp"
#include <jambox/pedals/catalog.hpp>

#include <dlfcn.h>
#include <lv2/units/units.h>
#include <lv2/worker/worker.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

#include <lv2/port-props/port-props.h>

namespace jambox::pedals {
namespace {

constexpr const char* kSideChain = "http://lv2plug.in/ns/lv2core#isSideChain";
constexpr std::size_t kMaxChoices = 128;

std::string text_of(const LilvNode* node) {
  if (node == nullptr) return {};
  const char* s = lilv_node_as_string(node);
  return s == nullptr ? std::string() : std::string(s);
}

// A LilvNode* the caller owns.
struct OwnedNode {
  LilvNode* node = nullptr;
  explicit OwnedNode(LilvNode* n) : node(n) {}
  ~OwnedNode() { lilv_node_free(node); }
  OwnedNode(const OwnedNode&) = delete;
  OwnedNode& operator=(const OwnedNode&) = delete;
};

std::string show(float v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

}  // namespace

bool Control::accepts(float value) const noexcept {
  if (!std::isfinite(value) || value < minimum || value > maximum) return false;
  if ((integer || toggled) && value != std::round(value)) return false;
  if (enumeration && !choices.empty()) {
    return std::any_of(choices.begin(), choices.end(),
                       [value](const Choice& c) { return c.value == value; });
  }
  return true;
}

std::string Control::describe_range() const {
  if (enumeration && !choices.empty()) {
    std::string s = "one of ";
    for (std::size_t i = 0; i < choices.size(); ++i) {
      if (i > 0) s += ", ";
      s += show(choices[i].value) + " (" + choices[i].label + ")";
    }
    return s;
  }
  if (toggled) return "0 (off) or 1 (on)";
  std::string s = (integer ? "a whole number in " : "") + show(minimum) + ".." + show(maximum);
  if (!unit.empty()) s += " " + unit;
  return s;
}

const Control* PedalInfo::control(std::string_view symbol) const noexcept {
  const auto it = std::find_if(controls.begin(), controls.end(),
                               [symbol](const Control& c) { return c.symbol == symbol; });
  return it == controls.end() ? nullptr : &*it;
}

struct Catalog::Impl {
  LilvWorld* world = nullptr;
  std::shared_ptr<Host> host = std::make_shared<Host>();
  std::vector<PedalInfo> usable;
  std::map<std::string, std::string, std::less<>> problems;
  std::size_t found = 0;
  std::set<std::string> pinned;  // plugin libraries kept loaded (pin())

  LilvNode* audio_port = nullptr;
  LilvNode* control_port = nullptr;
  LilvNode* input_port = nullptr;
  LilvNode* output_port = nullptr;
  LilvNode* atom_port = nullptr;
  LilvNode* cv_port = nullptr;
  LilvNode* optional = nullptr;
  LilvNode* side_chain = nullptr;
  LilvNode* instrument = nullptr;
  LilvNode* enumeration = nullptr;
  LilvNode* integer = nullptr;
  LilvNode* toggled = nullptr;
  LilvNode* sample_rate = nullptr;
  LilvNode* logarithmic = nullptr;
  LilvNode* unit = nullptr;
  LilvNode* unit_symbol = nullptr;
  LilvNode* worker_interface = nullptr;
  LilvNode* worker_schedule = nullptr;

  explicit Impl(const std::optional<std::string>& lv2_path) {
    world = lilv_world_new();
    if (world == nullptr) throw PedalError("the LV2 world could not be created");
    auto uri = [this](const char* u) { return lilv_new_uri(world, u); };
    audio_port = uri(LV2_CORE__AudioPort);
    control_port = uri(LV2_CORE__ControlPort);
    input_port = uri(LV2_CORE__InputPort);
    output_port = uri(LV2_CORE__OutputPort);
    atom_port = uri(LV2_ATOM__AtomPort);
    cv_port = uri(LV2_CORE__CVPort);
    optional = uri(LV2_CORE__connectionOptional);
    side_chain = uri(kSideChain);
    instrument = uri(LV2_CORE__InstrumentPlugin);
    enumeration = uri(LV2_CORE__enumeration);
    integer = uri(LV2_CORE__integer);
    toggled = uri(LV2_CORE__toggled);
    sample_rate = uri(LV2_CORE__sampleRate);
    logarithmic = uri(LV2_PORT_PROPS__logarithmic);
    unit = uri(LV2_UNITS__unit);
    unit_symbol = uri(LV2_UNITS__symbol);
    worker_interface = uri(LV2_WORKER__interface);
    worker_schedule = uri(LV2_WORKER__schedule);
    if (lv2_path) {
      LilvNode* path = lilv_new_string(world, lv2_path->c_str());
      lilv_world_set_option(world, LILV_OPTION_LV2_PATH, path);
      lilv_node_free(path);
    }
    lilv_world_load_all(world);
    survey();
  }

  ~Impl() {
    for (LilvNode* n :
         {audio_port, control_port, input_port, output_port, atom_port, cv_port, optional,
          side_chain, instrument, enumeration, integer, toggled, sample_rate, logarithmic, unit,
          unit_symbol, worker_interface, worker_schedule}) {
      lilv_node_free(n);
    }
    lilv_world_free(world);
  }

  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  void survey() {
    const LilvPlugins* all = lilv_world_get_all_plugins(world);
    LILV_FOREACH(plugins, i, all) {
      const LilvPlugin* p = lilv_plugins_get(all, i);
      ++found;
      const std::string uri = text_of(lilv_plugin_get_uri(p));
      PedalInfo info;
      std::string why = describe(p, info);
      if (why.empty()) {
        usable.push_back(std::move(info));
      } else {
        problems[uri] = std::move(why);
      }
    }
    std::sort(usable.begin(), usable.end(),
              [](const PedalInfo& a, const PedalInfo& b) { return a.uri < b.uri; });
  }

  // Keeps a plugin's library loaded until the process ends. Some plugins (guitarix's amps) allocate
  // tables once per load of their library and never free them: unloaded when their last instance
  // goes and loaded again for the next, each insert and remove would leak them again. Loaded once,
  // they are allocated once.
  void pin(const LilvPlugin* p) {
    char* path = lilv_file_uri_parse(text_of(lilv_plugin_get_library_uri(p)).c_str(), nullptr);
    if (path == nullptr) return;
    if (pinned.insert(path).second) {
      static_cast<void>(dlopen(path, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE));
    }
    lilv_free(path);
  }

  bool is(const LilvPlugin* p, const LilvPort* port, const LilvNode* klass) const {
    return lilv_port_is_a(p, port, klass);
  }

  // Fills `info`; returns why the plugin cannot be a pedal ("" when it can).
  std::string describe(const LilvPlugin* p, PedalInfo& info) {
    info.uri = text_of(lilv_plugin_get_uri(p));
    if (lilv_plugin_is_replaced(p)) return "replaced by a newer plugin";
    if (!lilv_plugin_verify(p)) return "its description is incomplete or invalid";
    {
      const OwnedNode name(lilv_plugin_get_name(p));
      info.name = text_of(name.node);
    }
    const LilvPluginClass* klass = lilv_plugin_get_class(p);
    info.kind = klass == nullptr ? std::string() : text_of(lilv_plugin_class_get_label(klass));
    if (klass != nullptr && lilv_node_equals(lilv_plugin_class_get_uri(klass), instrument)) {
      return "an instrument, not an effect";
    }
    {
      char* path = lilv_file_uri_parse(text_of(lilv_plugin_get_bundle_uri(p)).c_str(), nullptr);
      info.bundle = path == nullptr ? std::string() : std::string(path);
      lilv_free(path);
      if (!info.bundle.empty() && info.bundle.back() != '/') info.bundle += '/';
    }
    LilvNodes* required = lilv_plugin_get_required_features(p);
    std::string missing;
    LILV_FOREACH(nodes, i, required) {
      const std::string feature = text_of(lilv_nodes_get(required, i));
      if (!Host::provides(feature) && missing.empty()) missing = feature;
    }
    lilv_nodes_free(required);
    if (!missing.empty())
      return "needs the host feature " + missing + ", which jambox does not provide";

    std::uint32_t audio_in = 0;
    std::uint32_t audio_out = 0;
    const std::uint32_t ports = lilv_plugin_get_num_ports(p);
    for (std::uint32_t k = 0; k < ports; ++k) {
      const LilvPort* port = lilv_plugin_get_port_by_index(p, k);
      const bool opt = lilv_port_has_property(p, port, optional);
      const bool input = is(p, port, input_port);
      if (is(p, port, audio_port)) {
        if (opt || lilv_port_has_property(p, port, side_chain)) continue;
        (input ? audio_in : audio_out) += 1;
      } else if (is(p, port, control_port)) {
        if (input) info.controls.push_back(control_of(p, port, k));
      } else if (is(p, port, atom_port)) {
        continue;  // given an empty sequence, or room for events, every period
      } else if (!opt) {
        return is(p, port, cv_port) ? "needs a CV port connected"
                                    : "has a port of a kind jambox does not connect";
      }
    }
    if (audio_in == 0) return "has no audio input (a generator or a MIDI tool)";
    if (audio_out == 0) return "has no audio output (an analyser)";
    if (audio_in > 2 || audio_out > 2) {
      return "has " + std::to_string(audio_in) + " audio inputs and " + std::to_string(audio_out) +
             " outputs; pedals take 1 or 2 of each";
    }
    info.audio_inputs = audio_in;
    info.audio_outputs = audio_out;
    return {};
  }

  Control control_of(const LilvPlugin* p, const LilvPort* port, std::uint32_t index) {
    Control c;
    c.port = index;
    c.symbol = text_of(lilv_port_get_symbol(p, port));
    {
      const OwnedNode name(lilv_port_get_name(p, port));
      c.name = text_of(name.node);
    }
    LilvNode* def = nullptr;
    LilvNode* min = nullptr;
    LilvNode* max = nullptr;
    lilv_port_get_range(p, port, &def, &min, &max);
    c.minimum = min != nullptr ? lilv_node_as_float(min) : 0.0F;
    c.maximum = max != nullptr ? lilv_node_as_float(max) : 1.0F;
    c.default_value = def != nullptr ? lilv_node_as_float(def) : c.minimum;
    lilv_node_free(def);
    lilv_node_free(min);
    lilv_node_free(max);
    if (lilv_port_has_property(p, port, sample_rate)) {
      const auto rate = static_cast<float>(kHostSampleRate);
      c.minimum *= rate;
      c.maximum *= rate;
      c.default_value *= rate;
    }
    if (!std::isfinite(c.minimum)) c.minimum = 0.0F;
    if (!std::isfinite(c.maximum) || c.maximum < c.minimum) c.maximum = c.minimum;
    if (!std::isfinite(c.default_value)) c.default_value = c.minimum;
    c.default_value = std::clamp(c.default_value, c.minimum, c.maximum);
    c.integer = lilv_port_has_property(p, port, integer);
    c.toggled = lilv_port_has_property(p, port, toggled);
    c.enumeration = lilv_port_has_property(p, port, enumeration);
    c.logarithmic = lilv_port_has_property(p, port, logarithmic);
    if (LilvNodes* units = lilv_port_get_value(p, port, unit)) {
      if (lilv_nodes_size(units) > 0) {
        LilvNode* symbol = lilv_world_get(world, lilv_nodes_get_first(units), unit_symbol, nullptr);
        c.unit = text_of(symbol);
        lilv_node_free(symbol);
      }
      lilv_nodes_free(units);
    }
    if (LilvScalePoints* points = lilv_port_get_scale_points(p, port)) {
      LILV_FOREACH(scale_points, i, points) {
        if (c.choices.size() >= kMaxChoices) break;
        const LilvScalePoint* point = lilv_scale_points_get(points, i);
        c.choices.push_back(Choice{lilv_node_as_float(lilv_scale_point_get_value(point)),
                                   text_of(lilv_scale_point_get_label(point))});
      }
      lilv_scale_points_free(points);
      std::sort(c.choices.begin(), c.choices.end(),
                [](const Choice& a, const Choice& b) { return a.value < b.value; });
    }
    if (c.enumeration && !c.choices.empty() &&
        std::none_of(c.choices.begin(), c.choices.end(),
                     [&c](const Choice& x) { return x.value == c.default_value; })) {
      c.default_value = c.choices.front().value;
    }
    return c;
  }
};

Catalog::Catalog(std::optional<std::string> lv2_path) : impl_(std::make_shared<Impl>(lv2_path)) {}
Catalog::~Catalog() = default;

const std::vector<PedalInfo>& Catalog::pedals() const noexcept {
  return impl_->usable;
}

const PedalInfo* Catalog::find(std::string_view uri) const noexcept {
  const auto& all = impl_->usable;
  const auto it =
      std::lower_bound(all.begin(), all.end(), uri,
                       [](const PedalInfo& p, std::string_view u) { return p.uri < u; });
  return it != all.end() && it->uri == uri ? &*it : nullptr;
}

std::string Catalog::problem(std::string_view uri) const {
  if (find(uri) != nullptr) return {};
  const auto it = impl_->problems.find(uri);
  return it != impl_->problems.end() ? it->second : "not installed on this box";
}

std::size_t Catalog::plugins_found() const noexcept {
  return impl_->found;
}

std::shared_ptr<Pedal> Catalog::instantiate(std::string_view uri) const {
  const PedalInfo* info = find(uri);
  if (info == nullptr) throw PedalError(std::string(uri) + ": " + problem(uri));
  Impl& w = *impl_;
  LilvNode* node = lilv_new_uri(w.world, info->uri.c_str());
  const LilvPlugin* p = lilv_plugins_get_by_uri(lilv_world_get_all_plugins(w.world), node);
  lilv_node_free(node);
  if (p == nullptr) throw PedalError(info->uri + ": not installed on this box");

  auto m = std::make_unique<Pedal::Impl>();
  m->host = w.host;
  m->world = impl_;
  m->info = *info;
  // A plugin with a worker gets the host's features and a worker:schedule of its own.
  std::vector<const LV2_Feature*> features;
  for (const LV2_Feature* const* f = w.host->features(); *f != nullptr; ++f) features.push_back(*f);
  if (lilv_plugin_has_extension_data(p, w.worker_interface) ||
      lilv_plugin_has_feature(p, w.worker_schedule)) {
    m->worker = std::make_unique<Worker>();
    m->schedule_feature = {LV2_WORKER__schedule, m->worker->schedule()};
    features.push_back(&m->schedule_feature);
  }
  features.push_back(nullptr);
  m->instance = lilv_plugin_instantiate(p, kHostSampleRate, features.data());
  if (m->instance == nullptr) {
    throw PedalError(info->uri + ": the plugin refused to start (instantiate failed)");
  }
  w.pin(p);
  const std::uint32_t ports = lilv_plugin_get_num_ports(p);
  m->ports.assign(ports, 0.0F);
  for (const Control& c : info->controls) m->ports[c.port] = c.default_value;
  std::uint32_t audio_in = 0;
  std::uint32_t audio_out = 0;
  m->atoms.reserve(ports);
  for (std::uint32_t k = 0; k < ports; ++k) {
    const LilvPort* port = lilv_plugin_get_port_by_index(p, k);
    const bool input = w.is(p, port, w.input_port);
    void* where = nullptr;
    if (w.is(p, port, w.audio_port)) {
      const bool extra = lilv_port_has_property(p, port, w.optional) ||
                         lilv_port_has_property(p, port, w.side_chain);
      if (input) {
        where = (!extra && audio_in < 2) ? m->in[audio_in++].data() : m->zeros.data();
      } else {
        where = (!extra && audio_out < 2) ? m->out[audio_out++].data() : m->sink.data();
      }
    } else if (w.is(p, port, w.control_port)) {
      if (!input) {
        LilvNode* def = nullptr;
        lilv_port_get_range(p, port, &def, nullptr, nullptr);
        m->ports[k] = def != nullptr ? lilv_node_as_float(def) : 0.0F;
        lilv_node_free(def);
      }
      where = &m->ports[k];
    } else if (w.is(p, port, w.atom_port)) {
      AtomPort& a = m->atoms.emplace_back();
      a.input = input;
      a.storage.assign(kAtomCapacity / sizeof(std::uint64_t), 0);
      where = a.storage.data();
    }
    lilv_instance_connect_port(m->instance, k, where);
  }
  lilv_instance_activate(m->instance);
  m->active = true;
  if (m->worker) {
    m->worker->start(m->instance,
                     static_cast<const LV2_Worker_Interface*>(
                         lilv_instance_get_extension_data(m->instance, LV2_WORKER__interface)));
  }
  return std::make_shared<Pedal>(std::move(m));
}

}  // namespace jambox::pedals
