#pragma once
// The pedalboard: each input's chain of LV2 pedals (docs/pedalboard.md). It owns the board as
// the commands and the saved files describe it (which plugin where, bypassed or not, the values
// set), builds the chains the engine runs from it, and keeps it in the state directory:
// board.json (restored at start) and presets/<name>.json (per-channel boards saved by name).
//
// The plugin catalog takes seconds to read, so it is loaded on a thread of its own at start;
// until it is ready, pedal commands answer `loading`. Everything else runs on the loop thread,
// including instantiating plugins (milliseconds each). Commands throw control::InvalidField
// (naming the field) or control::CommandFailed; nothing changes unless the whole change worked.

#include <jambox/audio/engine.hpp>
#include <jambox/box/config.hpp>
#include <jambox/pedals/catalog.hpp>
#include <jambox/pedals/pedal.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace jambox::box {

inline constexpr std::size_t kMaxPresets = 256;

// One pedal as saved: the plugin, its footswitch and the controls set away from their defaults.
struct PedalSetting {
  std::string uri;
  bool bypassed = false;
  std::vector<std::pair<std::string, float>> params;  // by symbol, in the order first set
};

class Pedalboard {
 public:
  Pedalboard(boost::asio::io_context& io, audio::Engine& engine, EffectsConfig config);
  ~Pedalboard();
  Pedalboard(const Pedalboard&) = delete;
  Pedalboard& operator=(const Pedalboard&) = delete;

  // Starts loading the catalog; board.json is restored when it is ready.
  void start();
  // A reloaded [effects]: the allow-list limits what is loaded from now on (pedals on the board
  // stay); a new boards_dir is used from the next change on.
  void apply(const EffectsConfig& next);
  [[nodiscard]] bool ready() const noexcept { return catalog_ != nullptr; }

  // --- commands (channel 1..2, positions 1..8 as the commands number them) -----------------
  [[nodiscard]] nlohmann::json list(std::size_t offset, std::size_t limit) const;
  [[nodiscard]] nlohmann::json describe_pedal(const std::string& uri) const;
  // Returns where the pedal went (position 0: last).
  std::size_t insert(int channel, std::size_t position, const std::string& uri);
  void remove(int channel, std::size_t position);
  void move(int channel, std::size_t from, std::size_t to);
  void bypass(int channel, std::size_t position, bool bypassed);
  void set_param(int channel, std::size_t position, const std::string& symbol, float value);
  void clear(int channel);
  void save(int channel, const std::string& name);
  // The plugins of the preset that could not be loaded ("uri: why").
  std::vector<std::string> load(int channel, const std::string& name);
  [[nodiscard]] std::vector<std::string> presets() const;
  // One channel in full: every pedal with all its controls' values.
  [[nodiscard]] nlohmann::json board(int channel) const;

  // For the status: per channel, the pedals (uri, name, bypassed), what is missing since start,
  // and the chain's DSP load from the engine's snapshot.
  [[nodiscard]] nlohmann::json status(const audio::Snapshot& snapshot) const;

 private:
  struct Placed {
    PedalSetting setting;
    std::shared_ptr<pedals::Pedal> pedal;
  };
  using Channel = std::vector<Placed>;

  const pedals::Catalog& catalog() const;
  Channel& channel(int number);
  const Channel& channel(int number) const;
  // A running instance of `setting` (allow-list and values checked); throws PedalError.
  Placed place(const PedalSetting& setting) const;
  // Hands `next` to the engine as channel `number`'s chain and keeps it; throws busy.
  void commit(int number, Channel next);
  void persist();
  void restore();
  void watch();

  boost::asio::io_context& io_;
  audio::Engine& engine_;
  EffectsConfig config_;
  std::shared_ptr<pedals::Catalog> catalog_;
  std::thread loader_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // the loader's way to know we exist
  std::array<Channel, 2> channels_;
  std::array<std::vector<std::string>, 2> missing_;  // reported since the last restore or load
  std::array<bool, 2> overloaded_{};
  boost::asio::steady_timer timer_;
};

// A board or preset file's text as a document, read with the peer-input limits (512 KiB, depth 8,
// strings 1 KiB, arrays 256); nullopt and `problem` when it is not one.
[[nodiscard]] std::optional<nlohmann::json> parse_board_file(std::string_view text,
                                                             std::string& problem);
// The pedals of a board file's list: at most 8, each a URI of 1..512 bytes, a bypass flag and at
// most 256 [symbol, value] pairs. Throws std::runtime_error naming the problem.
[[nodiscard]] std::vector<PedalSetting> pedals_from_json(const nlohmann::json& list);
[[nodiscard]] nlohmann::json pedals_to_json(const std::vector<PedalSetting>& pedals);

}  // namespace jambox::box
