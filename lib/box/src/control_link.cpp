#include "control_link.hpp"

#include "admission_client.hpp"
#include "command_handlers.hpp"
#include "outbox.hpp"
#include "pedal_commands.hpp"
#include "room_channel.hpp"
#include "status_report.hpp"
#include "view_queue.hpp"
#include <jambox/control/commands.hpp>
#include <jambox/control/identity.hpp>
#include <jambox/control/topics.hpp>
#include <jambox/log/log.hpp>
#include <jambox/message/rejections.hpp>
#include <jambox/message/text.hpp>
#include <jambox/version.hpp>

#include <boost/asio/steady_timer.hpp>

#include <chrono>

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
constexpr milliseconds kHousekeeping{1000};

// Commands that only read or keep a view alive: not worth a journal line each (every open web
// page renews the meter lease).
bool changes_state(std::string_view type) {
  return type != "ping" && type != "get_status" && type != "set_meter_interval" &&
         type != "list_pedals" && type != "get_board" && type != "list_boards";
}

json offline_status(const std::string& key) {
  return json{{"player_key", key}, {"status", "offline"}};
}

control::CommandLimits limits(const ControlConfig& c) {
  control::CommandLimits l;
  l.per_minute = c.commands_per_minute;
  return l;
}

// The session as the adapters see it.
class SessionOutbox final : public Outbox {
 public:
  explicit SessionOutbox(control::Session& session) : session_(session) {}
  using Outbox::publish;
  [[nodiscard]] bool ready() const override { return session_.ready(); }
  bool publish(const std::string& topic, std::string_view payload,
               const control::PublishOptions& options) override {
    return session_.publish(topic, payload, options);
  }
  void subscribe(const std::string& filter) override { session_.subscribe(filter); }
  void unsubscribe(const std::string& filter) override { session_.unsubscribe(filter); }

 private:
  control::Session& session_;
};

}  // namespace

struct ControlLink::Impl {
  Impl(asio::io_context& loop, const ControlConfig& c, BoxModel& m)
      : io(loop),
        config(c),
        model(m),
        topics(c.prefix, c.player_key),
        commands(limits(c)),
        session(io, session_config(), session_events()),
        out(session),
        room(out, topics, room_events()),
        views(out, topics.view(), c.player_key),
        admission(
            out, topics, [this](const RoomConfig& r) { join_admitted(r); },
            [this] { status_changed(); }),
        context{model,
                room,
                admission,
                [this](milliseconds interval) { return start_meters(interval); },
                [this] { return status_document(); },
                [this]() -> const std::string& { return commands.sender(); }},
        status_timer(io),
        meter_timer(io),
        housekeeping(io),
        started(Clock::now()) {
    register_commands(commands, context);
    register_pedal_commands(commands, model.pedalboard());
    model.on_change([this](Change change) {
      if (change == Change::room) {
        follow_room();
      } else {
        status_changed();
      }
    });
    follow_room();
    arm_housekeeping();
  }

  asio::io_context& io;
  ControlConfig config;
  BoxModel& model;
  control::Topics topics;
  control::CommandProcessor commands;
  control::Session session;
  SessionOutbox out;
  RoomChannel room;
  ViewQueue views;
  AdmissionClient admission;
  CommandContext context;
  message::Rejections rejections;
  std::uint64_t handler_failures = 0;
  asio::steady_timer status_timer;
  asio::steady_timer meter_timer;
  asio::steady_timer housekeeping;
  Clock::time_point started;
  Clock::time_point last_status{};
  Clock::time_point room_since{};
  bool status_pending = false;
  milliseconds meter_interval{0};
  Clock::time_point meter_until{};
  bool meters_running = false;
  std::string asked_ticket_room;  // the [room] name last asked for

  control::SessionConfig session_config() const {
    control::SessionConfig s;
    s.uri = config.broker;
    s.identity = config.player_key;
    s.tls = config.tls;
    s.will_topic = topics.status();
    s.will_payload = message::dump(offline_status(config.player_key));
    s.subscriptions = {topics.command(), topics.commands_from(), topics.responses(),
                       topics.view_ack()};
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
    };
    e.ready = [this] { on_ready(); };
    e.message = [this](const control::Message& m) { on_message(m); };
    return e;
  }

  RoomChannel::Events room_events() {
    RoomChannel::Events e;
    e.metronome = [this](bool on, float bpm) {
      if (!model.post(audio::Command::metronome(on, bpm, model.metronome_gain_db()))) {
        log::warning("audio engine busy: the room's metronome setting was not applied");
      }
    };
    e.changed = [this] { status_changed(); };
    // The room's members learn this box's session id (what they call it in their mixers) and
    // its round trip from its presence.
    e.link = [this] {
      const LinkStats link = model.gather().link;
      RoomChannel::LinkFacts facts;
      if (link.state == LinkState::joined && link.session_id != 0) {
        facts.session_id = link.session_id;
      }
      if (link.rtt_us != 0) facts.rtt_ms = (link.rtt_us + 500) / 1000;
      return facts;
    };
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
    out.publish(topics.capabilities(), message::dump(caps), retained);
    publish_state();
    publish_status();
    arm_status();
    const Clock::time_point now = Clock::now();
    room.on_ready(now);
    views.send(now);
    ask_configured_room(now);
  }

  // Every inbound message: routed by topic to its adapter. Whatever goes wrong in a handler is
  // counted and logged (rate-limited); it never leaves this function.
  void on_message(const control::Message& m) {
    const Clock::time_point now = Clock::now();
    message::Kind kind = message::Kind::command;
    try {
      if (m.topic == topics.command() || m.topic.starts_with(topics.command_from_prefix())) {
        if (m.retained && !m.payload.empty()) {
          // Nobody retains commands; a retained one would run again on every start.
          refuse(kind, message::Refusal::retained, now);
          return;
        }
        // The admin tool publishes on `command`; a musician on `command/from/NAME`, where the
        // broker's ACL admits only the publisher's own user name.
        const std::string sender =
            m.topic == topics.command()
                ? std::string(kAdminSender)
                : message::clip(
                      std::string_view(m.topic).substr(topics.command_from_prefix().size()), 64);
        const std::string ack = commands.handle(m.payload, now, sender);
        if (const std::string& type = commands.last_executed();
            !type.empty() && changes_state(type)) {
          log::info("{} from {}", type, sender);
        }
        if (!out.publish(topics.command_ack(), ack)) {
          log::warning("MQTT: a command acknowledgement could not be sent (not connected)");
        }
        return;
      }
      if (m.topic == topics.view_ack()) {
        kind = message::Kind::view_ack;
        if (const auto refused = views.on_ack(m.payload)) refuse(kind, *refused, now);
        return;
      }
      if (m.topic.starts_with(topics.response_prefix())) {
        kind = message::Kind::response;
        admission.on_response(std::string_view(m.topic).substr(topics.response_prefix().size()),
                              m.payload, now, rejections);
        return;
      }
      kind = m.topic.find("/transport/") != std::string::npos ? message::Kind::transport
                                                              : message::Kind::presence;
      if (room.on_message(m.topic, m.payload, m.retained, now, rejections)) return;
      log::debug("MQTT message on {} ignored", message::clip(m.topic, 256));
    } catch (const std::exception& e) {
      ++handler_failures;
      if (rejections.count(kind, message::Refusal::invalid_field, now)) {
        log::error("MQTT: a {} message could not be handled ({}); the box carries on",
                   message::kind_name(kind), message::clip(e.what(), 200));
      }
    }
  }

  void refuse(message::Kind kind, message::Refusal reason, Clock::time_point now) {
    if (rejections.count(kind, reason, now)) {
      log::warning("MQTT: a {} message was refused ({})", message::kind_name(kind),
                   message::refusal_name(reason));
    }
  }

  // --- the room -----------------------------------------------------------------------------

  // The model moved (command, config reload, ticket): views, presence and subscriptions follow.
  void follow_room() {
    const std::string next = model.in_room() ? model.room().name : std::string();
    if (next == room.room()) {
      status_changed();
      return;
    }
    const Clock::time_point now = Clock::now();
    if (!room.room().empty()) {
      views.queue("leave", room.room(), room.peers(),
                  std::chrono::duration_cast<seconds>(now - room_since).count());
    }
    room.enter(next, now);
    room_since = now;
    if (!next.empty()) views.queue("join", next, {});
    publish_state();
    status_changed();
  }

  void join_admitted(const RoomConfig& target) {
    try {
      model.join(target);
    } catch (const std::invalid_argument& e) {
      log::error("admission: the room server's answer cannot be used ({}); staying put", e.what());
    }
  }

  // A managed box's [room] name: asked for once the session is up (it boots into its room with
  // no hands on it, and comes back to it after a restart), and again when a reload names another.
  void ask_configured_room(Clock::time_point now) {
    const std::string& wanted = model.config().ticket_room;
    if (wanted == asked_ticket_room || !session.ready()) return;
    asked_ticket_room = wanted;
    if (wanted.empty() || (model.in_room() && model.room().name == wanted)) return;
    log::notice("admission: jamboxd.conf names room {}", wanted);
    admission.request(wanted, now);
  }

  void arm_housekeeping() {
    housekeeping.expires_after(kHousekeeping);
    housekeeping.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      const Clock::time_point now = Clock::now();
      views.send(now);
      room.tick(now);
      ask_configured_room(now);
      admission.tick(now, model.needs_ticket());
      arm_housekeeping();
    });
  }

  // --- status, state, meters ------------------------------------------------------------------

  json status_document() const {
    json s = box_status(model.gather());
    if (json a = admission.figures(); !a.is_null()) s["admission"] = std::move(a);
    s["player_key"] = config.player_key;
    s["status"] = "online";
    s["firmware_version"] = kVersion;
    s["connection_state"] = control::link_state_name(session.state());
    const control::SessionCounters& sc = session.counters();
    s["mqtt"] = {{"connects", sc.connects},
                 {"connection_losses", sc.connection_losses},
                 {"server_disconnects", sc.server_disconnects},
                 {"last_loss", message::clip(session.last_loss_reason(), 200)},
                 {"publish_refused", sc.publish_refused},
                 {"publish_too_large", sc.publish_too_large},
                 {"publish_rejected", sc.publish_rejected}};
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
    const json r = room.figures();
    s["peers"] = r["peers"];
    s["roster"] = r["roster"];
    s["transport"] = r["transport"];
    s["transport_rejected"] = rejections.total(message::Kind::transport);
    s["rejected_messages"] = rejections.to_json();
    s["handler_failures"] = handler_failures;
    s["views"] = views.figures();
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
    out.publish(topics.status(), message::dump(status_document()));
  }

  // Retained, so an admin learns every box's room the moment it subscribes (jamboxctl rooms).
  [[nodiscard]] std::string state_document(bool online) const {
    return message::dump(
        json{{"player_key", config.player_key},
             {"online", online},
             {"room", online && model.in_room() ? json(model.room().name) : json()},
             {"timestamp", wall_seconds()}});
  }

  void publish_state() {
    if (!session.ready()) return;
    control::PublishOptions retained;
    retained.retained = true;
    out.publish(topics.state(), state_document(true), retained);
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

  json start_meters(milliseconds interval) {
    meter_interval = interval;
    meter_until = Clock::now() + kMeterLease;
    if (!meters_running) {
      static_cast<void>(model.take_meters());  // what piled up before this lease is stale
      arm_meters();
    }
    return json{{"interval_ms", meter_interval.count()}, {"lease_s", kMeterLease.count()}};
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
      json levels = meters_document(model.take_meters());
      // The tuners ride with the levels: a tuning musician watches both.
      if (std::vector<TunerReading> tuners = model.read_tuners(); !tuners.empty()) {
        levels["tuner"] = tuner_document(tuners);
      }
      // Every viewer sees how long the lease lasts, so one renewal serves all open pages.
      levels["lease_ms_left"] =
          std::chrono::duration_cast<milliseconds>(meter_until - Clock::now()).count();
      if (session.ready()) out.publish(topics.meters(), message::dump(levels), qos0);
      arm_meters();
    });
  }
};

ControlLink::ControlLink(asio::io_context& io, const ControlConfig& config, BoxModel& model)
    : impl_(std::make_unique<Impl>(io, config, model)) {}

ControlLink::~ControlLink() = default;

void ControlLink::start() {
  impl_->session.start();
}

void ControlLink::stop() {
  impl_->room.say_leave();
  if (impl_->session.ready()) {
    control::PublishOptions retained;
    retained.retained = true;
    impl_->out.publish(impl_->topics.state(), impl_->state_document(false), retained);
  }
  impl_->housekeeping.cancel();
  impl_->status_timer.cancel();
  impl_->meter_timer.cancel();
  impl_->session.stop(std::chrono::milliseconds(1500), impl_->topics.status(),
                      message::dump(offline_status(impl_->config.player_key)));
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
