#include "control_link.hpp"

#include <jambox/box/admission_reply.hpp>
#include <jambox/control/admin.hpp>
#include <jambox/control/commands.hpp>
#include <jambox/control/topics.hpp>
#include <jambox/log/log.hpp>
#include <jambox/version.hpp>
#include <jambox/wire/session.hpp>

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cmath>
#include <deque>
#include <map>

namespace jambox::box {
namespace {

namespace asio = boost::asio;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

// A meter interval asked for by set_meter_interval lasts this long unless renewed, so a
// forgotten `jamboxctl watch` does not keep a box publishing levels forever.
constexpr seconds kMeterLease{10};
// Status on change is published at most this often (a flapping JACK must not flood the broker).
constexpr milliseconds kStatusMinGap{1000};
// View events are sent until acknowledged, at most one publication per this interval; this many
// wait across disconnections (the oldest give way, counted).
constexpr seconds kViewRetry{5};
constexpr std::size_t kMaxQueuedViews = 64;
// Room presence: a heartbeat this often; a member silent for kPresenceExpiry leaves the roster.
constexpr seconds kPresenceInterval{30};
constexpr seconds kPresenceExpiry{60};
constexpr milliseconds kHousekeeping{1000};
// Room admission requests (join_room without a secret): unanswered after kRequestTimeout, or
// refused because the room is full, they are asked again after kAdmissionRetry.
constexpr seconds kRequestTimeout{30};
constexpr seconds kAdmissionRetry{30};

control::CommandLimits limits(const ControlConfig& c) {
  control::CommandLimits l;
  l.per_minute = c.commands_per_minute;
  return l;
}

json offline_status(const std::string& key) {
  return json{{"player_key", key}, {"status", "offline"}};
}

std::uint32_t remote_of(const json& payload) {
  if (payload.is_object() && payload.contains("input")) {
    throw control::CommandFailed(
        "unsupported_target",
        "inputs have no gain, pan or mute stage of their own: use set_monitor for what you hear "
        "and set_mute_to_room for what the room hears");
  }
  return static_cast<std::uint32_t>(control::int_field(payload, "remote", 1, 0xFFFFFFFFLL));
}

}  // namespace

struct ControlLink::Impl {
  Impl(asio::io_context& context, const ControlConfig& c, ControlHooks h)
      : io(context),
        config(c),
        hooks(std::move(h)),
        topics(c.prefix, c.player_key),
        commands(limits(c)),
        session(io, session_config(), session_events()),
        status_timer(io),
        meter_timer(io),
        started(Clock::now()),
        housekeeping(io) {
    register_commands();
    arm_housekeeping();
  }

  asio::io_context& io;
  ControlConfig config;
  ControlHooks hooks;
  control::Topics topics;
  control::CommandProcessor commands;
  control::Session session;
  asio::steady_timer status_timer;
  asio::steady_timer meter_timer;
  Clock::time_point started;
  Clock::time_point last_status{};
  bool status_pending = false;
  milliseconds meter_interval{0};
  Clock::time_point meter_until{};
  bool meters_running = false;
  asio::steady_timer housekeeping;

  struct ViewEvent {
    std::string id;
    std::string text;
  };
  std::deque<ViewEvent> views;
  Clock::time_point last_view_sent{};
  std::uint64_t views_dropped = 0;
  std::uint64_t views_acked = 0;

  // The room's transport as its host last published it (null: none heard), and whether this box
  // is the host (it then answers newcomers with it).
  json transport;
  bool transport_host = false;
  std::uint64_t transport_rejected = 0;

  // Admission by request: the room the admin asked for without a secret, the request in flight
  // and how the last one ended (for status).
  struct AdmissionState {
    std::string room;             // wanted, "" when the box was told otherwise
    std::string request_id;       // in flight, "" when none
    std::string last_request_id;  // the latest request, answered or not (status names it)
    Clock::time_point sent{};
    Clock::time_point retry_at{};
    bool retry = false;
    std::string state;  // requested, admitted, refused, timed_out
    std::string error_code;
    std::string error;
  } admission;

  std::string room;  // the room the box is in, "" when none
  Clock::time_point room_since{};
  std::map<std::string, Clock::time_point> roster;  // other members' keys -> last heard
  Clock::time_point last_presence{};

  control::SessionConfig session_config() const {
    control::SessionConfig s;
    s.uri = config.broker;
    s.identity = config.player_key;
    s.tls = config.tls;
    s.will_topic = topics.status();
    s.will_payload = offline_status(config.player_key).dump();
    s.subscriptions = {topics.command(), topics.responses(), topics.view_ack()};
    return s;
  }

  control::SessionEvents session_events() {
    control::SessionEvents e;
    e.state = [this](control::LinkState state, const std::string& why) {
      const std::string name(control::link_state_name(state));
      if (state == control::LinkState::connected) {
        log::notice("MQTT {}: {} as {}", name, config.broker, config.player_key);
      } else if (!why.empty()) {
        log::warning("MQTT {}: {}", name, why);
      } else {
        log::info("MQTT {} to {}", name, config.broker);
      }
      if (hooks.state_changed) hooks.state_changed(name);
    };
    e.ready = [this] { on_ready(); };
    e.message = [this](const control::Message& m) { on_message(m); };
    return e;
  }

  // --- session events ----------------------------------------------------------------------

  void on_ready() {
    json caps{{"player_key", config.player_key},
              {"firmware_version", kVersion},
              {"protocol", 1},
              {"commands", commands.command_types()},
              {"audio",
               {{"sample_rate", 48000}, {"channels", 2}, {"packet_frames", {32, 64, 128, 256}}}}};
    control::PublishOptions retained;
    retained.retained = true;
    session.publish(topics.capabilities(), caps.dump(), retained);
    publish_state();
    publish_status();
    arm_status();
    if (!room.empty()) publish_presence("join");
    send_view();
  }

  void on_message(const control::Message& m) {
    if (m.topic == topics.view_ack()) {
      on_view_ack(m.payload);
      return;
    }
    if (!room.empty() && m.topic.rfind(presence_prefix(), 0) == 0) {
      on_presence(m.topic.substr(presence_prefix().size()), m.payload);
      return;
    }
    if (!room.empty() && m.topic.rfind(transport_prefix(), 0) == 0) {
      on_transport(m.topic.substr(transport_prefix().size()), m.payload);
      return;
    }
    if (m.topic == topics.command()) {
      const std::string ack = commands.handle(m.payload, Clock::now());
      if (!session.publish(topics.command_ack(), ack)) {
        log::warning("MQTT: a command acknowledgement could not be sent (not connected)");
      }
      return;
    }
    if (m.topic.rfind(topics.response_prefix(), 0) == 0) {
      on_response(m.topic.substr(topics.response_prefix().size()), m.payload);
      return;
    }
    log::debug("MQTT message on {} ignored", m.topic);
  }

  // --- room: view events and presence -------------------------------------------------------

  [[nodiscard]] std::string presence_prefix() const {
    return config.prefix + "/room/" + room + "/presence/";
  }

  [[nodiscard]] std::string transport_prefix() const {
    return config.prefix + "/room/" + room + "/transport/";
  }

  [[nodiscard]] json peers() const {
    json keys = json::array();
    for (const auto& [key, seen] : roster) keys.push_back(key);
    return keys;
  }

  void room_changed(const std::string& next) {
    if (next == room) return;
    const Clock::time_point now = Clock::now();
    if (!room.empty()) {
      queue_view("leave",
                 {{"duration_s", std::chrono::duration_cast<seconds>(now - room_since).count()}});
      publish_presence("leave");
      session.unsubscribe(topics.room_presence_all(room));
      session.unsubscribe(topics.room_transport_all(room));
      roster.clear();
      transport = json();
      transport_host = false;
    }
    room = next;
    room_since = now;
    if (!room.empty()) {
      queue_view("join", json::object());
      session.subscribe(topics.room_presence_all(room));
      session.subscribe(topics.room_transport_all(room));
      publish_presence("join");
    }
    publish_state();
    status_changed();
  }

  void queue_view(const std::string& event, json extra) {
    json doc{{"event_id", control::make_uuid()},
             {"player_key", config.player_key},
             {"event", event},
             {"room", room},
             {"peers", peers()},
             {"timestamp", wall_seconds()},
             {"request_ack", true}};
    doc.update(extra);
    if (views.size() >= kMaxQueuedViews) {
      views.pop_front();
      ++views_dropped;
    }
    views.push_back({doc["event_id"].get<std::string>(), doc.dump()});
    send_view();
  }

  // The head of the queue, again every kViewRetry until acknowledged; a new head waits for the
  // same interval after the previous publication.
  void send_view() {
    if (views.empty() || !session.ready()) return;
    const Clock::time_point now = Clock::now();
    if (last_view_sent != Clock::time_point{} && now - last_view_sent < kViewRetry) return;
    if (session.publish(topics.view(), views.front().text)) last_view_sent = now;
  }

  void on_view_ack(const std::string& payload) {
    const json ack = json::parse(payload, nullptr, false);
    if (ack.is_discarded() || !ack.is_object() || views.empty()) return;
    if (ack.value("event_id", json()) != json(views.front().id)) return;  // stale or foreign
    views.pop_front();
    ++views_acked;
  }

  void publish_presence(const std::string& event) {
    if (room.empty() || !session.ready()) return;
    last_presence = Clock::now();
    session.publish(
        topics.room_presence(room),
        json{{"player_key", config.player_key}, {"event", event}, {"timestamp", wall_seconds()}}
            .dump());
  }

  void on_presence(const std::string& key, const std::string& payload) {
    if (key == config.player_key || !control::valid_topic_level(key)) return;
    const json doc = json::parse(payload, nullptr, false);
    const std::string event = doc.is_object() ? doc.value("event", "") : "";
    const bool known = roster.count(key) != 0;
    if (event == "leave") {
      roster.erase(key);
    } else if (event == "join" || event == "presence") {
      roster[key] = Clock::now();
      // A newcomer learns who is here, and the room's transport, at once instead of after a
      // heartbeat interval.
      if (event == "join") {
        publish_presence("presence");
        if (transport_host) publish_transport();
      }
    } else {
      return;
    }
    if (known != (roster.count(key) != 0)) status_changed();
  }

  // The host's update: {"event": "update", "host", "tempo_bpm", "metronome", "playing",
  // "queue", "timestamp"}. Every box of the room (the host too) applies the metronome from it.
  void publish_transport() {
    if (room.empty() || !transport.is_object() || !session.ready()) return;
    session.publish(topics.room_transport(room), transport.dump());
  }

  void on_transport(const std::string& key, const std::string& payload) {
    const json doc = json::parse(payload, nullptr, false);
    if (!control::valid_topic_level(key) || doc.is_discarded() || !doc.is_object() ||
        doc.value("event", "") != "update" || doc.value("host", "") != key ||
        !doc.contains("tempo_bpm") || !doc["tempo_bpm"].is_number() || !doc.contains("metronome") ||
        !doc["metronome"].is_boolean()) {
      ++transport_rejected;  // from a broken or foreign client: ignored, counted
      return;
    }
    const double bpm = doc["tempo_bpm"].get<double>();
    if (!(bpm >= 30.0 && bpm <= 300.0)) {
      ++transport_rejected;
      return;
    }
    if (key != config.player_key) transport_host = false;  // another box took over
    transport = doc;
    hooks.post(audio::Command::metronome(doc["metronome"].get<bool>(), static_cast<float>(bpm),
                                         hooks.metronome_gain_db()));
    status_changed();
  }

  void arm_housekeeping() {
    housekeeping.expires_after(kHousekeeping);
    housekeeping.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      const Clock::time_point now = Clock::now();
      send_view();
      if (!room.empty() && now - last_presence >= kPresenceInterval) publish_presence("presence");
      bool changed = false;
      for (auto it = roster.begin(); it != roster.end();) {
        if (now - it->second > kPresenceExpiry) {
          it = roster.erase(it);
          changed = true;
        } else {
          ++it;
        }
      }
      if (changed) status_changed();
      check_admission(now);
      arm_housekeeping();
    });
  }

  static std::int64_t wall_seconds() {
    const auto now = std::chrono::system_clock::now();
    if (now < control::earliest_plausible_time()) return 0;  // 1970 sentinel: clock not set
    return std::chrono::duration_cast<seconds>(now.time_since_epoch()).count();
  }

  // --- commands -----------------------------------------------------------------------------

  void post(const audio::Command& c) {
    if (!hooks.post(c)) {
      throw control::CommandFailed("busy", "the audio engine did not take the setting; retry");
    }
  }

  void register_commands() {
    commands.on("ping", [](const json&) { return json{{"pong", true}}; });
    commands.on("get_status", [this](const json&) { return status_document(); });
    commands.on("set_master", [this](const json& p) {
      post(audio::Command::master_gain(
          static_cast<float>(control::number_field(p, "gain_db", -60.0, 12.0))));
      return json();
    });
    commands.on("set_gain", [this](const json& p) {
      const std::uint32_t remote = remote_of(p);
      const auto db = static_cast<float>(control::number_field(p, "gain_db", -60.0, 12.0));
      require_remote(remote);
      post(audio::Command::remote_gain(remote, db));
      return json();
    });
    commands.on("set_pan", [this](const json& p) {
      const std::uint32_t remote = remote_of(p);
      const auto pan = static_cast<float>(control::number_field(p, "pan", -1.0, 1.0));
      require_remote(remote);
      post(audio::Command::remote_pan(remote, pan));
      return json();
    });
    commands.on("set_mute", [this](const json& p) {
      const std::uint32_t remote = remote_of(p);
      const bool muted = control::bool_field(p, "muted");
      require_remote(remote);
      post(audio::Command::remote_mute(remote, muted));
      return json();
    });
    commands.on("set_monitor", [this](const json& p) {
      const bool on = control::bool_field(p, "on");
      const auto db = static_cast<float>(control::number_field(p, "gain_db", -60.0, 12.0, 0.0));
      post(audio::Command::monitor(on, db));
      return json();
    });
    commands.on("set_mute_to_room", [this](const json& p) {
      const auto input = static_cast<std::uint32_t>(control::int_field(p, "input", 1, 2));
      post(audio::Command::input_mute_to_room(input - 1, control::bool_field(p, "muted")));
      return json();
    });
    commands.on("set_metronome", [this](const json& p) {
      const bool on = control::bool_field(p, "on");
      const auto bpm = static_cast<float>(control::number_field(p, "bpm", 30.0, 300.0, 120.0));
      const auto db = static_cast<float>(control::number_field(p, "gain_db", -60.0, 12.0, -12.0));
      post(audio::Command::metronome(on, bpm, db));
      return json();
    });
    commands.on("set_jitter", [this](const json& p) {
      if (p.is_object() && p.value("auto", false)) {
        post(audio::Command::jitter(1.0F, 40.0F, true));
        return json();
      }
      const auto floor = static_cast<float>(control::number_field(p, "floor_ms", 0.0, 100.0));
      const auto ceiling = static_cast<float>(control::number_field(p, "ceiling_ms", 1.0, 200.0));
      if (ceiling < floor) throw control::InvalidField("ceiling_ms", "must not be below floor_ms");
      const bool adaptive = !p.contains("adaptive") || control::bool_field(p, "adaptive");
      post(audio::Command::jitter(floor, ceiling, adaptive));
      return json();
    });
    commands.on("set_meter_interval", [this](const json& p) {
      meter_interval = milliseconds(control::int_field(p, "interval_ms", 150, 2000));
      meter_until = Clock::now() + kMeterLease;
      if (!meters_running) arm_meters();
      return json{{"interval_ms", meter_interval.count()}, {"lease_s", kMeterLease.count()}};
    });
    commands.on("join_room", [this](const json& p) {
      RoomConfig target;
      target.name = control::string_field(p, "room", 32);
      if (!wire::valid_room_name(target.name)) {
        throw control::InvalidField("room", "1 to 32 characters of A-Z a-z 0-9 . _ -");
      }
      if (!p.contains("secret")) {
        // Managed rooms: a room server admits the box and hands it a ticket (the outcome shows
        // in the status's "admission" and in the journal).
        request_admission(target.name);
        return json{{"room", target.name},
                    {"admission", "requested"},
                    {"request_id", admission.request_id}};
      }
      forget_admission();
      target.server = control::string_field(p, "server", 255);
      target.secret = control::string_field(p, "secret", 255);
      if (target.secret.size() < wire::kMinSecretLength) {
        throw control::InvalidField(
            "secret", "at least " + std::to_string(wire::kMinSecretLength) + " characters");
      }
      hooks.join_room(target);
      room_changed(target.name);
      return json{{"room", target.name}, {"server", target.server}};
    });
    commands.on("leave_room", [this](const json&) {
      const bool was_asking = !admission.request_id.empty();
      forget_admission();
      if (!hooks.leave_room() && !was_asking)
        throw control::CommandFailed("not_in_room", "the box is in no room");
      room_changed("");
      return json();
    });
    commands.on("set_transport", [this](const json& p) {
      if (room.empty()) throw control::CommandFailed("not_in_room", "the box is in no room");
      json next = transport.is_object() ? transport
                                        : json{{"tempo_bpm", 120},
                                               {"metronome", false},
                                               {"playing", false},
                                               {"queue", json::array()}};
      if (p.is_object() && p.contains("tempo_bpm")) {
        next["tempo_bpm"] = control::number_field(p, "tempo_bpm", 30.0, 300.0);
      }
      if (p.is_object() && p.contains("metronome"))
        next["metronome"] = control::bool_field(p, "metronome");
      if (p.is_object() && p.contains("playing"))
        next["playing"] = control::bool_field(p, "playing");
      if (p.is_object() && p.contains("queue")) {
        const json& q = p["queue"];
        if (!q.is_array() || q.size() > 64) {
          throw control::InvalidField("queue", "a list of at most 64 titles");
        }
        for (const auto& item : q) {
          if (!item.is_string() || item.get<std::string>().empty() ||
              item.get<std::string>().size() > 128) {
            throw control::InvalidField("queue", "titles are strings of 1..128 characters");
          }
        }
        next["queue"] = q;
      }
      next["event"] = "update";
      next["host"] = config.player_key;
      next["timestamp"] = wall_seconds();
      transport = next;
      transport_host = true;
      publish_transport();  // comes back to this box too, which applies the metronome
      return next;
    });
    commands.on("restart_audio", [this](const json&) {
      hooks.restart_audio();
      return json();
    });
  }

  void require_remote(std::uint32_t remote) const {
    if (!hooks.has_remote(remote)) {
      throw control::CommandFailed("unknown_remote", "no remote jammer with session " +
                                                         std::to_string(remote) +
                                                         " is playing (see get_status)");
    }
  }

  // --- room admission by request ---------------------------------------------------------------

  void request_admission(const std::string& wanted) {
    admission.room = wanted;
    admission.request_id = control::make_uuid();
    admission.last_request_id = admission.request_id;
    admission.sent = Clock::now();
    admission.retry = false;
    admission.state = "requested";
    admission.error_code.clear();
    admission.error.clear();
    const json request{{"request_id", admission.request_id},
                       {"request_type", "join_room"},
                       {"player_key", config.player_key},
                       {"room", wanted},
                       {"timestamp", wall_seconds()}};
    control::PublishOptions options;
    options.response_topic = topics.response_prefix() + admission.request_id;
    options.correlation = admission.request_id;
    if (!session.publish(topics.request(admission.request_id), request.dump(), options)) {
      log::warning("admission: request for room {} not sent (MQTT {}); retrying", wanted,
                   control::link_state_name(session.state()));
    } else {
      log::notice("admission: asking the room server for room {} (request {})", wanted,
                  admission.request_id);
    }
    status_changed();
  }

  void forget_admission() { admission = AdmissionState{}; }

  void admission_failed(std::string code, std::string error, bool retry) {
    admission.request_id.clear();
    admission.state = code == "timeout" ? "timed_out" : "refused";
    admission.error_code = std::move(code);
    admission.error = std::move(error);
    admission.retry = retry;
    admission.retry_at = Clock::now() + kAdmissionRetry;
    log::warning("admission to room {} failed: {} ({}){}", admission.room, admission.error_code,
                 admission.error, retry ? "; asking again in 30 s" : "");
    status_changed();
  }

  void on_response(const std::string& id, const std::string& payload) {
    if (id.empty() || id != admission.request_id) {
      log::debug("MQTT response {} matches no request in flight; ignored", id);
      return;
    }
    auto reply = read_admission_reply(payload, admission.room);
    if (auto* refusal = std::get_if<AdmissionRefusal>(&reply)) {
      admission_failed(std::move(refusal->error_code), std::move(refusal->error), refusal->retry);
      return;
    }
    const RoomConfig& target = std::get<RoomConfig>(reply);
    admission.request_id.clear();
    admission.state = "admitted";
    log::notice("admission: ticket for room {} on {} (valid until {})", target.name, target.server,
                target.ticket.expires_s);
    hooks.join_room(target);
    room_changed(target.name);
  }

  void check_admission(Clock::time_point now) {
    if (admission.room.empty()) return;
    if (!admission.request_id.empty()) {
      if (now - admission.sent >= kRequestTimeout) {
        admission_failed("timeout", "no answer from a room server in 30 s", true);
      }
      return;
    }
    if (admission.retry && now >= admission.retry_at) {
      request_admission(admission.room);
    } else if (admission.state == "admitted" && hooks.needs_ticket()) {
      log::notice("admission: the ticket for room {} ran out while outside the room; asking again",
                  admission.room);
      request_admission(admission.room);
    }
  }

  // --- status, state, meters ------------------------------------------------------------------

  json status_document() const {
    json s = hooks.status();
    if (!admission.room.empty()) {
      s["admission"] = {{"room", admission.room},
                        {"state", admission.state},
                        {"request_id", admission.last_request_id},
                        {"error_code", admission.error_code},
                        {"error", admission.error}};
    }
    s["player_key"] = config.player_key;
    s["status"] = "online";
    s["firmware_version"] = kVersion;
    s["connection_state"] = control::link_state_name(session.state());
    s["uptime_s"] = std::chrono::duration_cast<seconds>(Clock::now() - started).count();
    const auto now = std::chrono::system_clock::now();
    const bool clock_ok = now >= control::earliest_plausible_time();
    // A box without a real-time clock before NTP: a 1970 sentinel, never a wrong date.
    s["timestamp"] =
        clock_ok ? std::chrono::duration_cast<seconds>(now.time_since_epoch()).count() : 0;
    s["clock_synchronized"] = clock_ok;
    if (config.identity.not_after.time_since_epoch().count() != 0 && clock_ok) {
      const long days = config.identity.days_left(now);
      s["certificate"] = {{"expires_in_days", days}, {"expiring", days < 30}};
    }
    s["peers"] = peers();
    s["transport"] = transport.is_object() ? transport : json();
    s["transport_rejected"] = transport_rejected;
    s["views"] = {{"queued", views.size()}, {"acked", views_acked}, {"dropped", views_dropped}};
    const control::CommandCounters& c = commands.counters();
    s["commands"] = {
        {"received", c.received},       {"executed", c.executed},
        {"duplicates", c.duplicates},   {"invalid", c.invalid_json + c.invalid_request},
        {"too_large", c.too_large},     {"rate_limited", c.rate_limited},
        {"unsupported", c.unsupported}, {"failed", c.failed}};
    return s;
  }

  void publish_status() {
    last_status = Clock::now();
    status_pending = false;
    session.publish(topics.status(), status_document().dump());
  }

  // Retained, so an admin learns every box's room the moment it subscribes (jamboxctl rooms).
  [[nodiscard]] std::string state_document(bool online) const {
    return json{{"player_key", config.player_key},
                {"online", online},
                {"room", online && !room.empty() ? json(room) : json()},
                {"timestamp", wall_seconds()}}
        .dump();
  }

  void publish_state() {
    control::PublishOptions retained;
    retained.retained = true;
    session.publish(topics.state(), state_document(true), retained);
  }

  void arm_status() {
    status_timer.expires_after(config.status_interval);
    status_timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      if (session.ready()) publish_status();
      arm_status();
    });
  }

  void status_changed() {
    if (!session.ready()) return;
    const auto since = Clock::now() - last_status;
    if (since >= kStatusMinGap) {
      publish_status();
      return;
    }
    if (status_pending) return;
    status_pending = true;
    // Coalesce a burst of changes into one status after the minimum gap.
    auto timer = std::make_shared<asio::steady_timer>(io, kStatusMinGap - since);
    timer->async_wait([this, timer](const boost::system::error_code& ec) {
      if (!ec && status_pending && session.ready()) publish_status();
    });
  }

  void arm_meters() {
    meters_running = true;
    meter_timer.expires_after(meter_interval);
    meter_timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec) {
        meters_running = false;
        return;
      }
      if (Clock::now() >= meter_until) {
        meters_running = false;  // lease over: back to the default (no meters)
        return;
      }
      control::PublishOptions qos0;
      qos0.qos = 0;
      if (session.ready()) session.publish(topics.meters(), hooks.meters().dump(), qos0);
      arm_meters();
    });
  }
};

ControlLink::ControlLink(asio::io_context& io, const ControlConfig& config, ControlHooks hooks)
    : impl_(std::make_unique<Impl>(io, config, std::move(hooks))) {}

ControlLink::~ControlLink() = default;

void ControlLink::start() {
  impl_->session.start();
}

void ControlLink::stop() {
  impl_->publish_presence("leave");
  if (impl_->session.ready()) {
    control::PublishOptions retained;
    retained.retained = true;
    impl_->session.publish(impl_->topics.state(), impl_->state_document(false), retained);
  }
  impl_->housekeeping.cancel();
  impl_->status_timer.cancel();
  impl_->meter_timer.cancel();
  impl_->session.stop(std::chrono::milliseconds(1500), impl_->topics.status(),
                      offline_status(impl_->config.player_key).dump());
}

void ControlLink::status_changed() {
  impl_->status_changed();
}

void ControlLink::room_changed(const std::string& room) {
  impl_->room_changed(room);
}

control::LinkState ControlLink::state() const noexcept {
  return impl_->session.state();
}

std::string ControlLink::summary() const {
  std::string s(control::link_state_name(impl_->session.state()));
  const auto retry = impl_->session.retry_in();
  if (retry.count() > 0) s += " (retry in " + std::to_string((retry.count() + 999) / 1000) + " s)";
  return s;
}

}  // namespace jambox::box
