#include "model.hpp"

#include <jambox/log/log.hpp>

#include <boost/asio/steady_timer.hpp>

#include <array>
#include <atomic>
#include <ctime>
#include <stdexcept>

namespace jambox::box {
namespace {

std::uint64_t now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000U +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

bool same_jack(const jack::ClientConfig& a, const jack::ClientConfig& b) {
  return a.client_name == b.client_name && a.server_name == b.server_name &&
         a.capture == b.capture && a.playback == b.playback;
}

}  // namespace

JamLinkConfig link_config(const BoxConfig& c) {
  JamLinkConfig l;
  l.server = c.room.server;
  l.room = c.room.name;
  l.secret = c.room.secret;
  l.ticket = c.room.ticket;
  l.audio_key = c.room.audio_key;
  l.encrypt_audio = c.encrypt_audio;
  l.shape.frames = c.engine.packet_frames;
  l.shape.format = c.engine.format;
  l.shape.channels = wire::kAudioChannels;
  return l;
}

// Runs a period on JACK's thread: the room's packets in, the engine, the engine's packets out.
// Also keeps a histogram of the whole period's time (1 us buckets, socket calls included) for the
// status line: clock_gettime(MONOTONIC) is a vDSO read, not a system call, and relaxed
// increments of our own counters never wait.
class BoxModel::Processor final : public jack::AudioProcessor {
 public:
  Processor(audio::Engine& engine, JamLink& link) : engine_(engine), link_(link) {}

  void process(std::span<const float* const> in, std::span<float* const> out,
               std::uint32_t frames) noexcept override {
    const std::uint64_t start = now_ns();
    link_.audio_period_begin(start / 1000U);
    static_cast<void>(engine_.process(in, out, frames, start / 1000U));
    const std::uint64_t end = now_ns();
    link_.audio_period_end(end / 1000U);
    const std::uint64_t us = (now_ns() - start) / 1000U;
    const std::size_t bucket = us < kBuckets - 1 ? static_cast<std::size_t>(us) : kBuckets - 1;
    histogram_[bucket].fetch_add(1, std::memory_order_relaxed);
  }

  // Engine time per period (us) at quantile q over the whole run; 0 before the first period.
  [[nodiscard]] std::uint32_t quantile_us(double q) const noexcept {
    std::array<std::uint64_t, kBuckets> counts{};
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      counts[i] = histogram_[i].load(std::memory_order_relaxed);
      total += counts[i];
    }
    if (total == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += counts[i];
      if (seen > rank) return static_cast<std::uint32_t>(i + 1);  // upper edge of the bucket
    }
    return static_cast<std::uint32_t>(kBuckets);
  }

 private:
  static constexpr std::size_t kBuckets = 2048;
  audio::Engine& engine_;
  JamLink& link_;
  std::array<std::atomic<std::uint64_t>, kBuckets> histogram_{};
};

BoxModel::BoxModel(boost::asio::io_context& io, BoxConfig config)
    : io_(io),
      config_(std::move(config)),
      engine_(config_.engine),
      link_(io, engine_.inbound(), engine_.outbound(), link_config(config_)),
      processor_(std::make_unique<Processor>(engine_, link_)),
      tuners_(engine_),
      pedalboard_(io, engine_, config_.effects) {
  jack::SupervisorEvents events;
  events.connected = [this](const jack::ConnectionInfo& info) {
    link_.set_audio_running(true);
    for (const auto& l : audio_listeners_) l(&info);
    notify(Change::audio);
  };
  events.disconnected = [this](const std::string& reason) {
    link_.set_audio_running(false);
    log::warning("audio stopped: {}; the room session stays up", reason);
    for (const auto& l : audio_listeners_) l(nullptr);
    notify(Change::audio);
  };
  supervisor_ = std::make_unique<jack::Supervisor>(io, config_.jack, *processor_, events);
  apply_mix(config_, nullptr);
}

BoxModel::~BoxModel() = default;

void BoxModel::start() {
  if (in_room()) link_.start();
  supervisor_->start();
  pedalboard_.start();
}

void BoxModel::stop() {
  link_.leave();
  supervisor_->stop();
}

void BoxModel::join(const RoomConfig& room) {
  BoxConfig next = config_;
  next.room = room;
  // Validates the address before leaving: a refused join keeps the box where it is.
  link_.reconfigure(link_config(next));
  config_.room = room;
  notify(Change::room);
}

bool BoxModel::leave() {
  if (!in_room()) return false;
  link_.leave();
  config_.room = RoomConfig{};
  notify(Change::room);
  return true;
}

bool BoxModel::needs_ticket() const {
  // A ticket admits until it expires: a box that lost its session after that needs a new one to
  // get back in.
  if (!in_room() || config_.room.ticket.expires_s == 0) return false;
  if (link_.stats().state == LinkState::joined) return false;
  return wire::unix_seconds() + 5 >= config_.room.ticket.expires_s;
}

void MixSettings::record(const audio::Command& c) {
  using audio::CommandType;
  switch (c.type) {
    case CommandType::master_gain:
      master_gain_db = c.value;
      break;
    case CommandType::monitor:
      monitor = c.flag;
      monitor_gain_db = c.value;
      break;
    case CommandType::metronome:
      metronome = c.flag;
      metronome_bpm = c.value;
      metronome_gain_db = c.value2;
      break;
    case CommandType::input_mute_to_room:
      if (c.index < muted_to_room.size()) muted_to_room[c.index] = c.flag;
      break;
    case CommandType::tuner:
      if (c.index < tuner.size()) tuner[c.index] = c.flag;
      break;
    case CommandType::jitter:
      jitter_floor_ms = c.value;
      jitter_ceiling_ms = c.value2;
      jitter_adaptive = c.flag;
      break;
    default:
      break;
  }
}

bool BoxModel::post(const audio::Command& command) {
  if (!engine_.post(command)) return false;
  mix_.record(command);
  return true;
}

bool BoxModel::set_tuner(std::uint32_t input, bool on) {
  if (!post(audio::Command::tuner(input, on))) return false;
  tuners_.switched(input, on);
  return true;
}

bool BoxModel::has_remote(std::uint32_t session_id) const {
  const audio::Snapshot s = engine_.snapshot();
  for (const auto& r : s.remotes) {
    if (r.active && r.session_id == session_id) return true;
  }
  return false;
}

void BoxModel::restart_audio() {
  supervisor_->stop();
  auto timer = std::make_shared<boost::asio::steady_timer>(io_, std::chrono::milliseconds(500));
  timer->async_wait([this, timer](const boost::system::error_code& ec) {
    if (!ec) supervisor_->start();
  });
}

void BoxModel::apply_mix(const BoxConfig& next, const BoxConfig* previous) {
  const auto send = [this](const audio::Command& c) {
    // The ring holds far more than a reload posts; a full ring means the audio thread is not
    // running, and the setting is simply applied by the next reload.
    if (!post(c)) log::warning("audio engine busy: a mixer setting was not applied");
  };
  const MixConfig& m = next.mix;
  if (previous == nullptr || !(previous->mix == m)) {
    send(audio::Command::monitor(m.monitor, m.monitor_gain_db));
    send(audio::Command::master_gain(m.master_gain_db));
    send(audio::Command::metronome(m.metronome, m.metronome_bpm, m.metronome_gain_db));
  }
  const auto& j = next.engine.jitter;
  if (previous == nullptr) {
    mix_.jitter_floor_ms = j.floor_ms;  // the engine starts with these; nothing to post
    mix_.jitter_ceiling_ms = j.ceiling_ms;
    mix_.jitter_adaptive = j.adaptive;
  }
  if (previous != nullptr && (previous->engine.jitter.floor_ms != j.floor_ms ||
                              previous->engine.jitter.ceiling_ms != j.ceiling_ms ||
                              previous->engine.jitter.adaptive != j.adaptive)) {
    send(audio::Command::jitter(j.floor_ms, j.ceiling_ms, j.adaptive));
  }
}

void BoxModel::apply(BoxConfig next) {
  if (!same_jack(next.jack, config_.jack) ||
      next.engine.packet_frames != config_.engine.packet_frames) {
    log::warning(
        "reload: JACK client settings and packet_frames take effect when jamboxd restarts");
  }
  // A managed box whose file names no room stays where the admin's commands put it.
  if (next.control.enabled && next.room.server.empty()) next.room = config_.room;
  if (!(next.control == config_.control)) {
    log::warning("reload: [mqtt] settings take effect when jamboxd restarts");
  }
  next.control = config_.control;
  const bool room_moves = !(next.room == config_.room);
  const bool encryption_changes = next.encrypt_audio != config_.encrypt_audio;
  if (room_moves || encryption_changes) {
    // Throws (nothing changed yet) when the new room's address is malformed.
    if (room_moves) {
      log::notice("reload: moving to room {} on {}", next.room.name, next.room.server);
    } else {
      log::notice("reload: audio to the room is {} from now on (joining again)",
                  next.encrypt_audio ? "encrypted" : "NOT encrypted");
    }
    BoxConfig probe = config_;
    probe.room = next.room;
    probe.encrypt_audio = next.encrypt_audio;
    link_.reconfigure(link_config(probe));
  }
  apply_mix(next, &config_);
  pedalboard_.apply(next.effects);
  if (next.engine.insert_budget != config_.engine.insert_budget ||
      next.engine.insert_overrun_periods != config_.engine.insert_overrun_periods) {
    log::warning(
        "reload: effects.load_budget and overrun_periods take effect when jamboxd restarts");
  }
  // Keep what needs a restart as it runs, so the next reload compares with reality.
  next.jack = config_.jack;
  next.engine.packet_frames = config_.engine.packet_frames;
  next.engine.format = config_.engine.format;
  next.engine.insert_budget = config_.engine.insert_budget;
  next.engine.insert_overrun_periods = config_.engine.insert_overrun_periods;
  next.effects.lv2_path = config_.effects.lv2_path;
  config_ = std::move(next);
  if (room_moves) notify(Change::room);
}

Figures BoxModel::gather() const {
  Figures f;
  f.mix = mix_;
  f.in_room = in_room();
  f.room = config_.room.name;
  f.server = config_.room.server;
  f.link = link_.stats();
  f.jack = supervisor_->status();
  const audio::Snapshot snap = engine_.snapshot();
  for (const auto& r : snap.remotes) {
    if (!r.active) continue;
    f.remotes.push_back({r.session_id, r.gain_db, r.pan, r.muted, r.jitter});
  }
  f.engine_us_p999 = processor_->quantile_us(0.999);
  f.board = pedalboard_.status(snap);
  return f;
}

audio::MeterWindow BoxModel::take_meters() noexcept {
  return engine_.take_meter_window();
}

std::vector<TunerReading> BoxModel::read_tuners() {
  return tuners_.read();
}

jack::State BoxModel::jack_state() const noexcept {
  return supervisor_->state();
}

void BoxModel::on_change(Listener listener) {
  listeners_.push_back(std::move(listener));
}

void BoxModel::on_audio(std::function<void(const jack::ConnectionInfo*)> listener) {
  audio_listeners_.push_back(std::move(listener));
}

void BoxModel::notify(Change change) {
  for (const auto& l : listeners_) l(change);
}

}  // namespace jambox::box
