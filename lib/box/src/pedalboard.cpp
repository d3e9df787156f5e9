#include "pedalboard.hpp"

#include <jambox/control/commands.hpp>
#include <jambox/log/log.hpp>
#include <jambox/message/limited_json.hpp>
#include <jambox/pedals/chain.hpp>

#include <boost/asio/post.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <system_error>

namespace jambox::box {
namespace {

using control::CommandFailed;
using control::InvalidField;
using nlohmann::json;

constexpr std::size_t kMaxParams = 256;
constexpr std::chrono::seconds kWatchInterval{1};

// Board files are ours, but they sit on a card a person can edit: read them like peer input.
message::JsonLimits board_limits() {
  message::JsonLimits l;
  l.max_bytes = 512 * 1024;
  l.max_depth = 8;
  l.max_string = 1024;
  l.max_array = 256;
  l.max_members = 16;
  l.max_values = 16384;
  return l;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Written next to the target and renamed over it, with fsync: a power cut leaves the old file or
// the new one, never half of one.
bool write_atomically(const std::filesystem::path& path, const std::string& text,
                      std::string& problem) {
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) {
    problem = "cannot create " + path.parent_path().string() + ": " + ec.message();
    return false;
  }
  const std::filesystem::path tmp = path.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) {
    problem = "cannot write " + tmp.string() + ": " +
              std::error_code(errno, std::generic_category()).message();
    return false;
  }
  std::size_t done = 0;
  bool ok = true;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) {
      ok = false;
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  ok = (::close(fd) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    problem = "cannot write " + path.string() + ": " +
              std::error_code(errno, std::generic_category()).message();
    std::filesystem::remove(tmp, ec);
    return false;
  }
  return true;
}

void check_channel(int channel) {
  if (channel < 1 || channel > 2) throw InvalidField("channel", "1 or 2");
}

std::string valid_preset(const std::string& name) {
  const bool ok = !name.empty() && name.size() <= 32 && name.front() != '.' &&
                  std::all_of(name.begin(), name.end(), [](char c) {
                    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == ' ';
                  });
  if (!ok)
    throw InvalidField("name",
                       "1 to 32 characters of A-Z a-z 0-9 space . _ -, not starting with .");
  return name;
}

json control_json(const pedals::Control& c) {
  json j{{"symbol", c.symbol},
         {"name", c.name},
         {"minimum", c.minimum},
         {"maximum", c.maximum},
         {"default", c.default_value}};
  if (!c.unit.empty()) j["unit"] = c.unit;
  if (c.integer) j["integer"] = true;
  if (c.toggled) j["toggled"] = true;
  if (c.logarithmic) j["logarithmic"] = true;
  if (!c.choices.empty()) {
    json choices = json::array();
    for (const pedals::Choice& x : c.choices)
      choices.push_back({{"value", x.value}, {"label", x.label}});
    j[c.enumeration ? "enumeration" : "labels"] = std::move(choices);
  }
  return j;
}

}  // namespace

std::optional<json> parse_board_file(std::string_view text, std::string& problem) {
  message::ParseError error;
  auto doc = message::parse_object(text, board_limits(), error);
  if (!doc) problem = error.detail;
  return doc;
}

std::vector<PedalSetting> pedals_from_json(const json& list) {
  if (!list.is_array() || list.size() > audio::kMaxInsertPositions) {
    throw std::runtime_error("pedals: a list of at most 8 pedals");
  }
  std::vector<PedalSetting> out;
  for (const json& p : list) {
    if (!p.is_object() || !p.contains("uri") || !p["uri"].is_string()) {
      throw std::runtime_error("a pedal without a uri");
    }
    PedalSetting s;
    s.uri = p["uri"].get<std::string>();
    if (s.uri.empty() || s.uri.size() > 512)
      throw std::runtime_error("a pedal uri of 1..512 bytes");
    if (p.contains("bypassed")) {
      if (!p["bypassed"].is_boolean()) throw std::runtime_error("bypassed: true or false");
      s.bypassed = p["bypassed"].get<bool>();
    }
    if (p.contains("params")) {
      const json& params = p["params"];
      if (!params.is_array() || params.size() > kMaxParams) {
        throw std::runtime_error("params: a list of [symbol, value] pairs");
      }
      for (const json& kv : params) {
        if (!kv.is_array() || kv.size() != 2 || !kv[0].is_string() || !kv[1].is_number()) {
          throw std::runtime_error("params: a list of [symbol, value] pairs");
        }
        s.params.emplace_back(kv[0].get<std::string>(), kv[1].get<float>());
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

json pedals_to_json(const std::vector<PedalSetting>& pedals) {
  json list = json::array();
  for (const PedalSetting& s : pedals) {
    json params = json::array();
    for (const auto& [symbol, value] : s.params) params.push_back(json::array({symbol, value}));
    list.push_back({{"uri", s.uri}, {"bypassed", s.bypassed}, {"params", std::move(params)}});
  }
  return list;
}

Pedalboard::Pedalboard(boost::asio::io_context& io, audio::Engine& engine, EffectsConfig config)
    : io_(io), engine_(engine), config_(std::move(config)), timer_(io) {}

Pedalboard::~Pedalboard() {
  alive_.reset();
  timer_.cancel();
  if (loader_.joinable()) loader_.join();
}

void Pedalboard::start() {
  if (loader_.joinable() || catalog_) return;
  const std::weak_ptr<int> alive = alive_;
  std::optional<std::string> path;
  if (!config_.lv2_path.empty()) path = config_.lv2_path;
  loader_ = std::thread([this, alive, path] {
    std::shared_ptr<pedals::Catalog> catalog;
    std::string problem;
    try {
      catalog = std::make_shared<pedals::Catalog>(path);
    } catch (const std::exception& e) {
      problem = e.what();
    }
    boost::asio::post(io_, [this, alive, catalog, problem] {
      if (alive.expired()) return;
      if (!catalog) {
        log::error("pedalboard: the LV2 plugins could not be read: {}", problem);
        return;
      }
      catalog_ = catalog;
      log::info("pedalboard: {} usable effects of {} LV2 plugins installed",
                catalog_->pedals().size(), catalog_->plugins_found());
      restore();
      watch();
    });
  });
}

void Pedalboard::apply(const EffectsConfig& next) {
  config_.allow = next.allow;
  config_.boards_dir = next.boards_dir;
  if (next.lv2_path != config_.lv2_path) {
    log::warning("reload: effects.lv2_path takes effect when jamboxd restarts");
  }
}

const pedals::Catalog& Pedalboard::catalog() const {
  if (!catalog_) {
    throw CommandFailed("loading",
                        "the box is still reading its LV2 plugins; retry in a few seconds");
  }
  return *catalog_;
}

Pedalboard::Channel& Pedalboard::channel(int number) {
  check_channel(number);
  return channels_[static_cast<std::size_t>(number - 1)];
}

const Pedalboard::Channel& Pedalboard::channel(int number) const {
  check_channel(number);
  return channels_[static_cast<std::size_t>(number - 1)];
}

json Pedalboard::list(std::size_t offset, std::size_t limit) const {
  const auto& all = catalog().pedals();
  json pedals = json::array();
  std::size_t allowed = 0;
  for (const pedals::PedalInfo& p : all) {
    if (!config_.allows(p.uri, p.bundle)) continue;
    if (allowed++ < offset || pedals.size() >= limit) continue;
    pedals.push_back({{"uri", p.uri},
                      {"name", p.name},
                      {"kind", p.kind},
                      {"stereo", p.audio_outputs > 1},
                      {"controls", p.controls.size()}});
  }
  return {{"total", allowed}, {"offset", offset}, {"pedals", std::move(pedals)}};
}

json Pedalboard::describe_pedal(const std::string& uri) const {
  const pedals::Catalog& c = catalog();
  const pedals::PedalInfo* p = c.find(uri);
  if (p == nullptr) throw InvalidField("uri", uri + ": " + c.problem(uri));
  if (!config_.allows(p->uri, p->bundle)) {
    throw InvalidField("uri", uri + ": not in this box's [effects] allow list");
  }
  json controls = json::array();
  for (const pedals::Control& k : p->controls) {
    if (controls.size() >= kMaxParams) break;
    controls.push_back(control_json(k));
  }
  return {{"uri", p->uri},
          {"name", p->name},
          {"kind", p->kind},
          {"stereo", p->audio_outputs > 1},
          {"controls", std::move(controls)}};
}

Pedalboard::Placed Pedalboard::place(const PedalSetting& setting) const {
  const pedals::Catalog& c = catalog();
  const pedals::PedalInfo* info = c.find(setting.uri);
  if (info == nullptr) throw pedals::PedalError(c.problem(setting.uri));
  if (!config_.allows(info->uri, info->bundle)) {
    throw pedals::PedalError("not in this box's [effects] allow list");
  }
  Placed placed{setting, c.instantiate(setting.uri)};
  PedalSetting& kept = placed.setting;
  kept.params.clear();
  for (const auto& [symbol, value] : setting.params) {
    const pedals::Control* k = info->control(symbol);
    if (k == nullptr || !k->accepts(value)) continue;  // a file edited by hand: skip what is wrong
    placed.pedal->set(k->port, value);
    kept.params.emplace_back(symbol, value);
  }
  return placed;
}

void Pedalboard::commit(int number, Channel next) {
  std::vector<pedals::ChainEntry> entries;
  entries.reserve(next.size());
  for (const Placed& p : next) entries.push_back({p.pedal, p.setting.bypassed});
  std::unique_ptr<audio::Insert> chain;
  if (!entries.empty()) chain = std::make_unique<pedals::Chain>(std::move(entries));
  if (!engine_.post_insert(static_cast<std::uint32_t>(number - 1), chain)) {
    throw CommandFailed("busy", "the audio engine did not take the new chain; retry");
  }
  channel(number) = std::move(next);
  overloaded_[static_cast<std::size_t>(number - 1)] = false;
  persist();
}

std::size_t Pedalboard::insert(int number, std::size_t position, const std::string& uri) {
  Channel next = channel(number);
  if (position == 0) position = next.size() + 1;
  if (next.size() >= audio::kMaxInsertPositions) {
    throw CommandFailed("board_full",
                        "channel " + std::to_string(number) + " already has 8 pedals");
  }
  if (position < 1 || position > next.size() + 1) {
    throw InvalidField("position", "1.." + std::to_string(next.size() + 1));
  }
  if (uri.empty() || uri.size() > 512) throw InvalidField("uri", "a plugin URI of 1..512 bytes");
  Placed placed;
  try {
    placed = place(PedalSetting{uri, false, {}});
  } catch (const pedals::PedalError& e) {
    throw InvalidField("uri", uri + ": " + e.what());
  }
  next.insert(next.begin() + static_cast<std::ptrdiff_t>(position - 1), std::move(placed));
  commit(number, std::move(next));
  log::notice("pedalboard: channel {}: {} inserted at {}", number, uri, position);
  return position;
}

namespace {
void check_existing(std::size_t position, std::size_t size, const char* field = "position") {
  if (size == 0) throw CommandFailed("no_pedal", "the channel has no pedals");
  if (position < 1 || position > size) throw InvalidField(field, "1.." + std::to_string(size));
}
}  // namespace

void Pedalboard::remove(int number, std::size_t position) {
  Channel next = channel(number);
  check_existing(position, next.size());
  next.erase(next.begin() + static_cast<std::ptrdiff_t>(position - 1));
  commit(number, std::move(next));
}

void Pedalboard::move(int number, std::size_t from, std::size_t to) {
  Channel next = channel(number);
  check_existing(from, next.size(), "from");
  check_existing(to, next.size(), "to");
  Placed p = std::move(next[from - 1]);
  next.erase(next.begin() + static_cast<std::ptrdiff_t>(from - 1));
  next.insert(next.begin() + static_cast<std::ptrdiff_t>(to - 1), std::move(p));
  commit(number, std::move(next));
}

void Pedalboard::bypass(int number, std::size_t position, bool bypassed) {
  Channel& ch = channel(number);
  check_existing(position, ch.size());
  const auto input = static_cast<std::uint32_t>(number - 1);
  if (!engine_.post(audio::Command::insert_bypass(input, static_cast<std::uint32_t>(position - 1),
                                                  bypassed))) {
    throw CommandFailed("busy", "the audio engine did not take the setting; retry");
  }
  ch[position - 1].setting.bypassed = bypassed;
  persist();
}

void Pedalboard::set_param(int number, std::size_t position, const std::string& symbol,
                           float value) {
  Channel& ch = channel(number);
  check_existing(position, ch.size());
  Placed& p = ch[position - 1];
  const pedals::Control* k = p.pedal->info().control(symbol);
  if (k == nullptr) {
    throw InvalidField("symbol", "'" + symbol + "' is not a control of " + p.setting.uri +
                                     " (see list_pedals {uri})");
  }
  if (!k->accepts(value)) throw InvalidField("value", symbol + " takes " + k->describe_range());
  const auto input = static_cast<std::uint32_t>(number - 1);
  if (!engine_.post(audio::Command::insert_param(input, static_cast<std::uint32_t>(position - 1),
                                                 k->port, value))) {
    throw CommandFailed("busy", "the audio engine did not take the setting; retry");
  }
  auto& params = p.setting.params;
  const auto it = std::find_if(params.begin(), params.end(),
                               [&symbol](const auto& kv) { return kv.first == symbol; });
  if (it != params.end()) {
    it->second = value;
  } else {
    params.emplace_back(symbol, value);
  }
  persist();
}

void Pedalboard::clear(int number) {
  commit(number, Channel{});
  missing_[static_cast<std::size_t>(number - 1)].clear();
}

void Pedalboard::save(int number, const std::string& name) {
  const Channel& ch = channel(number);
  valid_preset(name);
  const std::filesystem::path path = config_.boards_dir / "presets" / (name + ".json");
  if (!std::filesystem::exists(path) && presets().size() >= kMaxPresets) {
    throw CommandFailed("too_many_presets", "the box keeps at most 256 presets; delete some");
  }
  std::vector<PedalSetting> settings;
  for (const Placed& p : ch) settings.push_back(p.setting);
  std::string problem;
  if (!write_atomically(path,
                        json{{"version", 1}, {"pedals", pedals_to_json(settings)}}.dump(1) + "\n",
                        problem)) {
    throw CommandFailed("save_failed", problem);
  }
  log::notice("pedalboard: channel {} saved as preset '{}'", number, name);
}

std::vector<std::string> Pedalboard::load(int number, const std::string& name) {
  check_channel(number);
  valid_preset(name);
  const std::filesystem::path path = config_.boards_dir / "presets" / (name + ".json");
  const std::string text = read_file(path);
  if (text.empty()) throw CommandFailed("unknown_preset", "no preset named '" + name + "'");
  std::string problem = "no pedals";
  const auto doc = parse_board_file(text, problem);
  std::vector<PedalSetting> settings;
  try {
    if (!doc || !doc->contains("pedals")) throw std::runtime_error(problem);
    settings = pedals_from_json((*doc)["pedals"]);
  } catch (const std::exception& e) {
    throw CommandFailed("bad_preset", path.string() + ": " + e.what());
  }
  Channel next;
  std::vector<std::string> missing;
  for (const PedalSetting& s : settings) {
    try {
      next.push_back(place(s));
    } catch (const pedals::PedalError& e) {
      missing.push_back(s.uri + ": " + e.what());
    }
  }
  commit(number, std::move(next));
  missing_[static_cast<std::size_t>(number - 1)] = missing;
  log::notice("pedalboard: channel {}: preset '{}' loaded ({} pedals{})", number, name,
              channel(number).size(), missing.empty() ? "" : ", some missing");
  return missing;
}

std::vector<std::string> Pedalboard::presets() const {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(config_.boards_dir / "presets", ec)) {
    if (e.path().extension() == ".json") names.push_back(e.path().stem().string());
    if (names.size() > kMaxPresets) break;
  }
  std::sort(names.begin(), names.end());
  return names;
}

json Pedalboard::board(int number) const {
  const Channel& ch = channel(number);
  json pedals = json::array();
  for (const Placed& p : ch) {
    json values = json::array();
    for (const pedals::Control& k : p.pedal->info().controls) {
      if (values.size() >= kMaxParams) break;
      float v = k.default_value;
      for (const auto& [symbol, value] : p.setting.params) {
        if (symbol == k.symbol) v = value;
      }
      values.push_back(json::array({k.symbol, v}));
    }
    pedals.push_back({{"uri", p.setting.uri},
                      {"name", p.pedal->info().name},
                      {"bypassed", p.setting.bypassed},
                      {"params", std::move(values)}});
  }
  return {{"channel", number}, {"pedals", std::move(pedals)}};
}

json Pedalboard::status(const audio::Snapshot& snapshot) const {
  json channels = json::array();
  for (std::size_t i = 0; i < channels_.size(); ++i) {
    json pedals = json::array();
    for (const Placed& p : channels_[i]) {
      pedals.push_back({{"uri", p.setting.uri},
                        {"name", p.pedal->info().name},
                        {"bypassed", p.setting.bypassed}});
    }
    const audio::InsertStats& st = snapshot.inserts[i];
    json c{{"pedals", std::move(pedals)},
           {"load", st.load},
           {"peak_load", st.peak_load},
           {"overloaded", st.overloaded}};
    if (!missing_[i].empty()) c["missing"] = missing_[i];
    channels.push_back(std::move(c));
  }
  return {{"ready", ready()}, {"channels", std::move(channels)}};
}

void Pedalboard::persist() {
  json channels = json::array();
  for (const Channel& ch : channels_) {
    std::vector<PedalSetting> settings;
    for (const Placed& p : ch) settings.push_back(p.setting);
    channels.push_back({{"pedals", pedals_to_json(settings)}});
  }
  std::string problem;
  if (!write_atomically(config_.boards_dir / "board.json",
                        json{{"version", 1}, {"channels", std::move(channels)}}.dump(1) + "\n",
                        problem)) {
    log::warning("pedalboard: the board is in use but not saved: {}", problem);
  }
}

void Pedalboard::restore() {
  const std::filesystem::path path = config_.boards_dir / "board.json";
  const std::string text = read_file(path);
  if (text.empty()) return;
  std::string problem = "no channels";
  const auto doc = parse_board_file(text, problem);
  if (!doc || !doc->contains("channels") || !(*doc)["channels"].is_array()) {
    log::warning("pedalboard: {} is unreadable ({}); starting with no pedals", path.string(),
                 problem);
    return;
  }
  const json& list = (*doc)["channels"];
  for (std::size_t i = 0; i < channels_.size() && i < list.size(); ++i) {
    const int number = static_cast<int>(i + 1);
    std::vector<PedalSetting> settings;
    try {
      if (!list[i].is_object() || !list[i].contains("pedals"))
        throw std::runtime_error("no pedals");
      settings = pedals_from_json(list[i]["pedals"]);
    } catch (const std::exception& e) {
      log::warning("pedalboard: {}: channel {}: {}; it starts with no pedals", path.string(),
                   number, e.what());
      continue;
    }
    Channel next;
    for (const PedalSetting& s : settings) {
      try {
        next.push_back(place(s));
      } catch (const pedals::PedalError& e) {
        missing_[i].push_back(s.uri + ": " + e.what());
        log::warning("pedalboard: channel {}: {} left out: {}", number, s.uri, e.what());
      }
    }
    if (next.empty()) continue;
    try {
      commit(number, std::move(next));
      log::notice("pedalboard: channel {}: {} pedals restored", number, channel(number).size());
    } catch (const CommandFailed& e) {
      log::warning("pedalboard: channel {}: not restored: {}", number, e.what());
    }
  }
}

// Once a second: chains the engine let go of are deleted, and a chain the engine bypassed for
// overrunning its budget is said in the journal.
void Pedalboard::watch() {
  engine_.reclaim_inserts();
  const audio::Snapshot s = engine_.snapshot();
  for (std::size_t i = 0; i < channels_.size(); ++i) {
    const bool over = s.inserts[i].overloaded;
    if (over && !overloaded_[i]) {
      log::warning(
          "pedalboard: channel {}: its pedals took more than their share of each period "
          "(peak {:.0f} %); the chain is bypassed until the board changes",
          i + 1, 100.0F * s.inserts[i].peak_load);
    }
    overloaded_[i] = over;
  }
  timer_.expires_after(kWatchInterval);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) watch();
  });
}

}  // namespace jambox::box
