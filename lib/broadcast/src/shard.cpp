#include <jambox/broadcast/shard.hpp>
#include <jambox/crypto/crypto.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

namespace jambox::broadcast {
namespace {

// Round trips beyond this come from a confused or hostile peer, not from a network path.
constexpr std::uint64_t kMaxPlausibleRttUs = 10'000'000;
// Session ids recently given up are not handed out again for a while: a new session with an old
// id would restart that id's sequence numbers, and the other members' down keys would see the
// same (session, sequence) nonces twice.
constexpr std::size_t kRetiredIds = 256;
// Answers to JOINs are limited because a captured JOIN can be replayed from a spoofed source: a
// pending session's WELCOME is repeated at most this often, a room's room_full notices too. Boxes
// retry JOINs every few hundred milliseconds, so neither limit delays a real box.
constexpr std::uint64_t kWelcomeRepeatUs = 100'000;
constexpr std::uint64_t kRoomFullNoticeUs = 10'000;
// After an address change, forwarded audio also goes to the previous address until a newer packet
// from the new address confirms the move (a replayed copy cannot be newer), the original of the
// moving packet arrives from the previous address (the move was a replay winning a race: undone),
// or this long has passed.
constexpr std::uint64_t kMoveConfirmUs = 500'000;
// Audio forwarded to a member carries that member's echo timestamps, so its round trip is measured
// without an echo of its own. An audio packet is echoed only when its sender would otherwise hear
// nothing: alone in the room, or nothing sent to it for this long (the others are silent). One
// datagram fewer per audio packet is an eighth of a full room's traffic, and the box's network
// thread is woken once less per period.
constexpr std::uint64_t kEchoFallbackUs = 50'000;

std::uint32_t saturate_u32(std::uint64_t value) noexcept {
  return static_cast<std::uint32_t>(
      std::min<std::uint64_t>(value, std::numeric_limits<std::uint32_t>::max()));
}

std::uint64_t elapsed(std::uint64_t now, std::uint64_t then) noexcept {
  return now > then ? now - then : 0;
}

struct Room;

struct Session {
  Session(std::uint32_t session_id, Room* owner, const net::Endpoint& from,
          const wire::SessionKeys& keys, std::uint64_t now)
      : id(session_id), room(owner), addr(from), up(keys.up), down(keys.down), created_us(now) {}

  std::uint32_t id;
  Room* room;
  net::Endpoint addr;
  crypto::Aead up;    // verifies box -> server
  crypto::Aead down;  // seals server -> box
  wire::ReplayWindow window;
  bool member = false;
  wire::Nonce16 client_nonce{};  // of the JOIN, to recognise its retransmissions
  wire::Nonce16 server_nonce{};
  std::uint64_t created_us;
  std::uint64_t welcomed_us = 0;
  std::uint64_t admitted_us = 0;
  std::uint64_t last_rx_us = 0;
  std::uint64_t box_time_us = 0;     // newest time_us from the box: echo_us of what we send it
  std::uint64_t box_time_rx_us = 0;  // when that arrived: hold_us of what we send it
  std::uint64_t last_tx_us = 0;      // when audio or an echo last went to the box
  std::uint32_t notice_sequence = 0;
  // The latest address change while it is unconfirmed (see kMoveConfirmUs).
  net::Endpoint previous_addr;
  std::uint32_t moved_by_sequence = 0;
  std::uint64_t move_until_us = 0;
  bool move_pending = false;

  // Statistics.
  std::uint64_t packets_in = 0;
  std::uint64_t packets_out = 0;
  std::uint64_t received = 0;  // fresh authenticated sequence numbers
  std::uint64_t reordered = 0;
  std::uint64_t duplicates = 0;
  std::uint32_t lowest_seq = 0;
  std::uint32_t highest_seq = 0;
  bool seq_started = false;
  std::int64_t last_transit = 0;
  bool has_transit = false;
  double jitter_us = 0.0;
  std::uint32_t rtt_us = 0;
};

struct Room {
  Room(const PlannedRoom& plan, std::uint64_t now)
      : join_key(wire::derive_join_key(plan.name, plan.secret)),
        secret(plan.secret),
        max_members(plan.max_members),
        generation(plan.generation),
        created_us(now) {
    (void)name.assign(plan.name);  // validated by the configuration
    members.reserve(max_members);
    pending.reserve(max_members);
  }

  wire::RoomName name;
  crypto::Aead join_key;
  std::string secret;
  std::uint32_t max_members;
  std::uint64_t generation;
  std::uint64_t created_us;
  std::vector<std::unique_ptr<Session>> members;
  std::vector<std::unique_ptr<Session>> pending;
  std::uint64_t full_notice_us = 0;  // when the latest room_full notice went out
  bool full_noticed = false;

  std::uint64_t packets_in = 0;
  std::uint64_t forwarded = 0;
  std::uint64_t echoes = 0;
  std::uint64_t joins = 0;
  std::uint64_t admitted = 0;
  std::uint64_t refused_full = 0;

  // Pending sessions are bounded like members: JOINs beyond that push out the oldest pending
  // one (a box whose WELCOME is older than a whole room's worth of newer JOINs retries anyway).
  [[nodiscard]] std::size_t pending_limit() const noexcept { return max_members; }

  // Server time in 48 kHz samples since the room opened: the shared room clock.
  [[nodiscard]] std::uint32_t clock(std::uint64_t now) const noexcept {
    return static_cast<std::uint32_t>(elapsed(now, created_us) * 48 / 1000);
  }
};

// What every shard knows of every room: enough to authenticate a JOIN and find the owner.
struct DirectoryEntry {
  wire::RoomName name;
  std::uint32_t owner = 0;
  std::uint64_t generation = 0;
  std::unique_ptr<crypto::Aead> join_key;
  std::string secret;  // tickets' secrets derive from it
};

}  // namespace

struct RoomShard::Impl {
  Impl(std::uint32_t shard_index, std::uint32_t count, JoinRouter* join_router)
      : index(shard_index), shard_count(std::max<std::uint32_t>(count, 1)), router(join_router) {
    sessions.reserve(64);
  }

  std::uint32_t index;
  std::uint32_t shard_count;
  JoinRouter* router;
  std::uint64_t member_timeout_us = 1'000'000;
  std::uint32_t member_timeout_ms = 1000;
  std::vector<DirectoryEntry> directory;     // sorted by name
  std::vector<std::unique_ptr<Room>> rooms;  // owned by this shard
  std::unordered_map<std::uint32_t, Session*> sessions;
  std::array<std::uint32_t, kRetiredIds> retired{};
  std::size_t retired_next = 0;
  Counters counters;

  void reject(wire::Reject reason) noexcept {
    ++counters.rejected[static_cast<std::size_t>(reason)];
  }

  // ------------------------------------------------------------------------------------------
  // Output

  // Prepares a buffer, lets `fill` write a datagram into it, queues it. False when dropped.
  template <typename Fill>
  bool emit(Sink& out, const net::Endpoint& to, Fill&& fill) {
    const std::span<std::uint8_t> buffer = out.prepare();
    if (buffer.size() < wire::kMaxDatagram) {
      ++counters.send_dropped;
      return false;
    }
    const std::size_t size = fill(buffer);
    if (size == 0) {
      ++counters.send_dropped;
      return false;
    }
    out.commit(size, to);
    return true;
  }

  void send_session_notice(Session& s, wire::NoticeCode code, Sink& out) {
    const bool sent = emit(out, s.addr, [&](std::span<std::uint8_t> buffer) {
      wire::NoticeBody body;
      body.code = code;
      return wire::make_notice(body, s.id, ++s.notice_sequence, s.down, buffer);
    });
    if (sent) {
      ++counters.notices;
      ++s.packets_out;
    }
  }

  // `key`: the join key the JOIN was authenticated with (the room's, or its ticket's).
  void send_welcome(Room& room, Session& s, const JoinRequest& request, crypto::Aead& key,
                    std::uint64_t now, Sink& out) {
    const bool sent = emit(out, request.from, [&](std::span<std::uint8_t> buffer) {
      wire::WelcomeBody body;
      crypto::random_bytes(body.aead_nonce);
      body.client_nonce = s.client_nonce;
      body.server_nonce = s.server_nonce;
      body.session_id = s.id;
      body.member_timeout_ms = member_timeout_ms;
      body.max_members = static_cast<std::uint8_t>(std::min<std::uint32_t>(room.max_members, 255));
      body.members = static_cast<std::uint8_t>(std::min<std::size_t>(room.members.size() + 1, 255));
      return wire::make_welcome(body, now, request.box_time_us,
                                saturate_u32(elapsed(now, request.arrival_us)), key, buffer);
    });
    if (sent) {
      ++counters.welcomes;
      s.welcomed_us = now;
    }
  }

  void send_room_full(Room& room, const JoinRequest& request, crypto::Aead& key, std::uint64_t now,
                      Sink& out) {
    if (room.full_noticed && elapsed(now, room.full_notice_us) < kRoomFullNoticeUs) return;
    room.full_noticed = true;
    room.full_notice_us = now;
    const bool sent = emit(out, request.from, [&](std::span<std::uint8_t> buffer) {
      wire::NoticeBody body;
      crypto::random_bytes(body.aead_nonce);
      body.code = wire::NoticeCode::room_full;
      body.client_nonce = request.body.client_nonce;
      return wire::make_notice(body, 0, 0, key, buffer);
    });
    if (sent) ++counters.notices;
  }

  void send_echo(Room& room, Session& s, const wire::Header& h, std::uint64_t now, Sink& out) {
    const bool sent = emit(out, s.addr, [&](std::span<std::uint8_t> buffer) {
      wire::Header echo;
      echo.type = wire::PacketType::echo;
      echo.session_id = s.id;
      echo.sequence = h.sequence;
      echo.time_us = now;
      echo.echo_us = h.time_us;
      echo.hold_us = 0;  // answered while handling the packet
      echo.room_clock = room.clock(now);
      return wire::seal_in_place(echo, s.down, buffer);
    });
    if (sent) {
      ++counters.echoes;
      ++room.echoes;
      ++s.packets_out;
      s.last_tx_us = now;
    }
  }

  // The hot path: one authenticated audio packet re-sealed for every other member.
  void forward(Room& room, const Session& sender, const wire::PacketView& packet, std::uint64_t now,
               Sink& out) {
    wire::Header h = packet.header;
    h.time_us = now;
    h.room_clock = room.clock(now);
    const std::span<const std::uint8_t> payload = packet.payload;
    for (const auto& member : room.members) {
      Session& m = *member;
      if (&m == &sender) continue;
      const std::span<std::uint8_t> buffer = out.prepare();
      if (buffer.size() < wire::kMaxDatagram) {
        ++counters.send_dropped;
        continue;
      }
      std::memcpy(buffer.data() + wire::kHeaderSize, payload.data(), payload.size());
      h.echo_us = m.box_time_us;
      h.hold_us = m.box_time_us != 0 ? saturate_u32(elapsed(now, m.box_time_rx_us)) : 0;
      const std::size_t size = wire::seal_in_place(h, m.down, buffer);
      if (size == 0) {
        ++counters.send_dropped;
        continue;
      }
      out.commit(size, m.addr);
      ++m.packets_out;
      m.last_tx_us = now;
      ++room.forwarded;
      ++counters.forwarded;
      if (m.move_pending) copy_to_previous(m, buffer.first(size), now, out);
    }
  }

  void copy_to_previous(Session& m, std::span<const std::uint8_t> datagram, std::uint64_t now,
                        Sink& out) {
    if (now >= m.move_until_us) {
      m.move_pending = false;
      return;
    }
    const std::span<std::uint8_t> copy = out.prepare();
    if (copy.size() < datagram.size()) {
      ++counters.send_dropped;
      return;
    }
    // memmove: a sink may hand out the same buffer again.
    std::memmove(copy.data(), datagram.data(), datagram.size());
    out.commit(datagram.size(), m.previous_addr);
  }

  // ------------------------------------------------------------------------------------------
  // Sessions

  [[nodiscard]] bool recently_retired(std::uint32_t id) const noexcept {
    return std::find(retired.begin(), retired.end(), id) != retired.end();
  }

  // A random nonzero id that steers to this shard (id % shard_count == index), unused here.
  std::uint32_t new_session_id() {
    for (int attempt = 0; attempt < 64; ++attempt) {
      std::array<std::uint8_t, 4> bytes{};
      crypto::random_bytes(bytes);
      std::uint32_t r = 0;
      std::memcpy(&r, bytes.data(), sizeof r);
      const std::uint64_t id = std::uint64_t{r} - r % shard_count + index;
      if (id == 0 || id > std::numeric_limits<std::uint32_t>::max()) continue;
      const auto candidate = static_cast<std::uint32_t>(id);
      if (sessions.count(candidate) != 0 || recently_retired(candidate)) continue;
      return candidate;
    }
    return 0;
  }

  // Removes list[i] of its room (swap with the last; order does not matter).
  void remove_session(std::vector<std::unique_ptr<Session>>& list, std::size_t i) {
    const std::uint32_t id = list[i]->id;
    sessions.erase(id);
    retired[retired_next] = id;
    retired_next = (retired_next + 1) % retired.size();
    if (i + 1 != list.size()) std::swap(list[i], list.back());
    list.pop_back();
  }

  static std::size_t position(const std::vector<std::unique_ptr<Session>>& list,
                              const Session* s) noexcept {
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (list[i].get() == s) return i;
    }
    return list.size();
  }

  void remove(Session& s) {
    Room& room = *s.room;
    auto& list = s.member ? room.members : room.pending;
    const std::size_t i = position(list, &s);
    if (i < list.size()) remove_session(list, i);
  }

  // The first authenticated packet of a pending session makes it a member, if there is room.
  bool activate(Session& s, std::uint64_t now, Sink& out) {
    Room& room = *s.room;
    const std::size_t i = position(room.pending, &s);
    if (i == room.pending.size()) return false;
    if (room.members.size() >= room.max_members) {
      // Others took the free places since the WELCOME: tell the box (its session key) and go.
      ++room.refused_full;
      reject(wire::Reject::room_full);
      send_session_notice(s, wire::NoticeCode::room_full, out);
      remove_session(room.pending, i);
      return false;
    }
    s.member = true;
    s.admitted_us = now;
    room.members.push_back(std::move(room.pending[i]));
    if (i + 1 != room.pending.size()) std::swap(room.pending[i], room.pending.back());
    room.pending.pop_back();
    ++room.admitted;
    ++counters.admitted;
    return true;
  }

  // NAT rebinding: an authenticated packet from a new address moves the session at once; the move
  // stays unconfirmed (forwards also go to the previous address) until proven.
  void note_address(Session& s, const net::Endpoint& from, std::uint32_t seq,
                    std::uint64_t now) noexcept {
    if (from == s.addr) {
      if (s.move_pending && seq > s.moved_by_sequence) s.move_pending = false;  // confirmed
      return;
    }
    ++counters.rebinds;
    if (s.move_pending && from == s.previous_addr) {
      // Fresh traffic from where the session was: the box never moved.
      s.addr = s.previous_addr;
      s.move_pending = false;
      return;
    }
    s.previous_addr = s.addr;
    s.addr = from;
    s.moved_by_sequence = seq;
    s.move_until_us = now + kMoveConfirmUs;
    s.move_pending = true;
  }

  static void note_sequence(Session& s, std::uint32_t seq) noexcept {
    ++s.received;
    if (!s.seq_started) {
      s.seq_started = true;
      s.lowest_seq = seq;
      s.highest_seq = seq;
      return;
    }
    if (seq > s.highest_seq) {
      s.highest_seq = seq;
    } else {
      ++s.reordered;
      s.lowest_seq = std::min(s.lowest_seq, seq);
    }
  }

  static void note_timing(Session& s, const wire::Header& h, std::uint64_t now) noexcept {
    // RFC 3550 6.4.1: J += (|D| - J) / 16, D the change in transit time. The two clocks differ
    // by an unknown constant, which cancels in D.
    const std::int64_t transit = static_cast<std::int64_t>(now - h.time_us);
    if (s.has_transit) {
      const std::int64_t d = transit - s.last_transit;
      const double magnitude = static_cast<double>(d < 0 ? -d : d);
      s.jitter_us += (magnitude - s.jitter_us) / 16.0;
    }
    s.last_transit = transit;
    s.has_transit = true;

    // The box echoes the newest server time_us it saw and how long it held it.
    if (h.echo_us != 0 && h.echo_us <= now) {
      const std::uint64_t round = now - h.echo_us;
      if (h.hold_us <= round && round - h.hold_us <= kMaxPlausibleRttUs) {
        s.rtt_us = std::max<std::uint32_t>(saturate_u32(round - h.hold_us), 1);
      }
    }
    if (h.time_us >= s.box_time_us) {
      s.box_time_us = h.time_us;
      s.box_time_rx_us = now;
    }
  }

  // ------------------------------------------------------------------------------------------
  // Input

  const DirectoryEntry* find_directory(std::string_view name) const noexcept {
    const auto it = std::lower_bound(
        directory.begin(), directory.end(), name,
        [](const DirectoryEntry& e, std::string_view n) { return e.name.view() < n; });
    if (it == directory.end() || it->name.view() != name) return nullptr;
    return &*it;
  }

  Room* find_room(std::string_view name) const noexcept {
    for (const auto& room : rooms) {
      if (room->name.view() == name) return room.get();
    }
    return nullptr;
  }

  void on_join(const wire::PacketView& packet, const net::Endpoint& from, std::uint64_t now,
               Sink& out, RoomShard& self) {
    JoinRequest request;
    if (const wire::Reject r = wire::parse_join(packet, request.body); r != wire::Reject::none) {
      reject(r);
      return;
    }
    const DirectoryEntry* entry = find_directory(request.body.room.view());
    if (entry == nullptr) {
      reject(wire::Reject::unknown_room);
      return;
    }
    if (request.body.ticket.expires_s != 0) {
      // Admission by ticket (managed mode): its secret derives from the room's, so any server
      // of the room checks it without having seen it issued.
      const std::uint64_t now_s = wire::unix_seconds();
      if (now_s > request.body.ticket.expires_s) {
        reject(wire::Reject::ticket_expired);
        return;
      }
      if (request.body.ticket.expires_s > now_s + wire::kMaxTicketLifetimeS + 60) {
        reject(wire::Reject::bad_tag);  // no server issues such a ticket: forged
        return;
      }
      const std::string ticket_secret =
          wire::derive_ticket_secret(entry->name.view(), entry->secret, request.body.ticket);
      crypto::Aead ticket_key(wire::derive_join_key(entry->name.view(), ticket_secret));
      if (!wire::verify(packet, ticket_key)) {
        reject(wire::Reject::bad_tag);
        return;
      }
      std::copy(ticket_secret.begin(), ticket_secret.end(), request.ticket_secret.begin());
    } else if (!wire::verify(packet, *entry->join_key)) {
      reject(wire::Reject::bad_tag);
      return;
    }
    ++counters.joins;
    request.from = from;
    request.box_time_us = packet.header.time_us;
    request.arrival_us = now;
    request.generation = entry->generation;
    if (entry->owner == index) {
      self.handle_join(request, now, out);
    } else if (router != nullptr) {
      router->route(entry->owner, request);
    } else {
      reject(wire::Reject::unknown_room);
    }
  }

  void join(const JoinRequest& request, std::uint64_t now, Sink& out) {
    Room* room = find_room(request.body.room.view());
    if (room == nullptr || room->generation != request.generation) {
      // Closed or re-keyed between authentication and arrival here.
      reject(wire::Reject::unknown_room);
      return;
    }
    ++room->joins;
    // A ticket's JOIN is answered and keyed with the ticket's secret, not the room's (derived
    // when the JOIN was authenticated, for the same room generation).
    const std::string_view ticket_secret(request.ticket_secret.data(),
                                         request.ticket_secret.size());
    std::optional<crypto::Aead> ticket_key;
    if (request.body.ticket.expires_s != 0) {
      ticket_key.emplace(wire::derive_join_key(room->name.view(), ticket_secret));
    }
    crypto::Aead& key = ticket_key ? *ticket_key : room->join_key;
    const std::string_view secret = ticket_key ? ticket_secret : room->secret;
    for (const auto& p : room->pending) {
      if (p->client_nonce == request.body.client_nonce) {
        // A retransmitted (or replayed) JOIN: the same WELCOME again, nothing else changes.
        if (elapsed(now, p->welcomed_us) >= kWelcomeRepeatUs) {
          send_welcome(*room, *p, request, key, now, out);
        } else {
          reject(wire::Reject::replay);
        }
        return;
      }
    }
    for (const auto& m : room->members) {
      if (m->client_nonce == request.body.client_nonce) {
        reject(wire::Reject::replay);
        return;
      }
    }
    if (room->members.size() >= room->max_members) {
      ++room->refused_full;
      reject(wire::Reject::room_full);
      send_room_full(*room, request, key, now, out);
      return;
    }
    if (room->pending.size() >= room->pending_limit()) {
      std::size_t oldest = 0;
      for (std::size_t i = 1; i < room->pending.size(); ++i) {
        if (room->pending[i]->created_us < room->pending[oldest]->created_us) oldest = i;
      }
      remove_session(room->pending, oldest);
      ++counters.evicted;
    }
    const std::uint32_t id = new_session_id();
    if (id == 0) return;  // 64 collisions in a row: the RNG is broken; the box retries
    wire::Nonce16 server_nonce{};
    crypto::random_bytes(server_nonce);
    const wire::SessionKeys keys = wire::derive_session_keys(
        room->name.view(), secret, request.body.client_nonce, server_nonce, id);
    auto session = std::make_unique<Session>(id, room, request.from, keys, now);
    session->client_nonce = request.body.client_nonce;
    session->server_nonce = server_nonce;
    session->last_rx_us = now;
    Session& s = *session;
    sessions.emplace(id, session.get());
    room->pending.push_back(std::move(session));
    send_welcome(*room, s, request, key, now, out);
  }

  void handle(std::span<const std::uint8_t> datagram, const net::Endpoint& from, std::uint64_t now,
              Sink& out, RoomShard& self) {
    ++counters.packets_in;
    counters.bytes_in += datagram.size();
    wire::PacketView packet;
    if (const wire::Reject r = wire::decode(datagram, packet); r != wire::Reject::none) {
      reject(r);
      return;
    }
    const wire::Header& h = packet.header;
    if (wire::is_server_to_box(h.type)) {
      reject(wire::Reject::bad_direction);
      return;
    }
    if (h.type == wire::PacketType::join) {
      on_join(packet, from, now, out, self);
      return;
    }
    const auto found = sessions.find(h.session_id);
    if (found == sessions.end()) {
      reject(wire::Reject::unknown_session);
      return;
    }
    Session& s = *found->second;
    switch (s.window.check(h.sequence)) {
      case wire::ReplayWindow::Verdict::stale:
        reject(wire::Reject::stale);
        return;
      case wire::ReplayWindow::Verdict::duplicate:
        reject(wire::Reject::replay);
        // Only an authentic copy says something about the member's path.
        if (wire::verify(packet, s.up)) {
          ++s.duplicates;
          if (s.move_pending && h.sequence == s.moved_by_sequence && from == s.previous_addr) {
            // A copy sent from elsewhere overtook this original: move back.
            s.addr = s.previous_addr;
            s.move_pending = false;
            ++counters.rebinds;
          }
        }
        return;
      case wire::ReplayWindow::Verdict::fresh:
        break;
    }
    if (!wire::verify(packet, s.up)) {
      reject(wire::Reject::bad_tag);
      return;
    }
    (void)s.window.accept(h.sequence);

    // Authenticated from here on: only now may the packet change anything.
    if (h.type == wire::PacketType::leave) {
      ++counters.leaves;
      remove(s);
      return;
    }
    if (s.member) {
      note_address(s, from, h.sequence, now);
    } else {
      if (!activate(s, now, out)) return;
      s.addr = from;  // the first authenticated packet decides; nothing was sent there yet
    }
    Room& room = *s.room;
    s.last_rx_us = now;
    ++s.packets_in;
    ++room.packets_in;
    note_sequence(s, h.sequence);
    note_timing(s, h, now);
    if (h.type != wire::PacketType::audio) {
      send_echo(room, s, h, now, out);  // keepalives: proof of membership, and the round trip
      return;
    }
    forward(room, s, packet, now, out);
    if (room.members.size() <= 1 || elapsed(now, s.last_tx_us) >= kEchoFallbackUs) {
      send_echo(room, s, h, now, out);
    }
  }

  // ------------------------------------------------------------------------------------------
  // Room changes

  void close_room(Room& room, wire::NoticeCode code, Sink& out) {
    for (auto* list : {&room.members, &room.pending}) {
      while (!list->empty()) {
        send_session_notice(*list->back(), code, out);
        ++counters.closed;
        remove_session(*list, list->size() - 1);
      }
    }
  }

  void apply(const RoomPlan& plan, std::uint64_t now, Sink& out) {
    member_timeout_ms = plan.member_timeout_ms;
    member_timeout_us = std::uint64_t{plan.member_timeout_ms} * 1000;

    std::vector<DirectoryEntry> next;
    next.reserve(plan.rooms.size());
    for (const PlannedRoom& p : plan.rooms) {
      DirectoryEntry e;
      if (!e.name.assign(p.name)) continue;  // the configuration validated names already
      e.owner = p.shard;
      e.generation = p.generation;
      for (auto& old : directory) {
        if (old.join_key && old.generation == p.generation && old.name == e.name) {
          e.join_key = std::move(old.join_key);
          break;
        }
      }
      if (!e.join_key)
        e.join_key = std::make_unique<crypto::Aead>(wire::derive_join_key(p.name, p.secret));
      e.secret = p.secret;
      next.push_back(std::move(e));
    }
    std::sort(next.begin(), next.end(), [](const DirectoryEntry& a, const DirectoryEntry& b) {
      return a.name.view() < b.name.view();
    });
    directory = std::move(next);

    for (std::size_t i = rooms.size(); i-- > 0;) {
      Room& room = *rooms[i];
      const auto it = std::find_if(plan.rooms.begin(), plan.rooms.end(), [&](const PlannedRoom& p) {
        return p.name == room.name.view();
      });
      if (it == plan.rooms.end() || it->shard != index || it->generation != room.generation) {
        close_room(room, wire::NoticeCode::room_closed, out);
        rooms.erase(rooms.begin() + static_cast<std::ptrdiff_t>(i));
        continue;
      }
      // A lower limit never pushes members out; it only refuses new ones.
      room.max_members = it->max_members;
      room.members.reserve(room.max_members);
      room.pending.reserve(room.max_members);
    }
    std::size_t capacity = 0;
    for (const PlannedRoom& p : plan.rooms) {
      if (p.shard != index) continue;
      if (find_room(p.name) == nullptr) rooms.push_back(std::make_unique<Room>(p, now));
      capacity += 2 * std::size_t{p.max_members};
    }
    // Sized for every member and pending session the limits allow, so joins do not rehash
    // and lookups on the packet path never allocate.
    sessions.reserve(std::max<std::size_t>(capacity, 64));
  }

  void expire(std::uint64_t now) {
    for (const auto& room : rooms) {
      for (std::size_t i = room->members.size(); i-- > 0;) {
        if (elapsed(now, room->members[i]->last_rx_us) >= member_timeout_us) {
          remove_session(room->members, i);
          ++counters.expired;
        }
      }
      for (std::size_t i = room->pending.size(); i-- > 0;) {
        if (elapsed(now, room->pending[i]->created_us) >= member_timeout_us) {
          remove_session(room->pending, i);
          ++counters.expired;
        }
      }
    }
  }

  ShardStats snapshot(std::uint64_t now) const {
    ShardStats stats;
    stats.index = index;
    stats.taken_us = now;
    stats.counters = counters;
    stats.rooms.reserve(rooms.size());
    for (const auto& room : rooms) {
      RoomStats r;
      r.name = std::string(room->name.view());
      r.shard = index;
      r.member_count = static_cast<std::uint32_t>(room->members.size());
      r.max_members = room->max_members;
      r.pending = static_cast<std::uint32_t>(room->pending.size());
      r.packets_in = room->packets_in;
      r.forwarded = room->forwarded;
      r.echoes = room->echoes;
      r.joins = room->joins;
      r.admitted = room->admitted;
      r.refused_full = room->refused_full;
      r.members.reserve(room->members.size());
      for (const auto& member : room->members) {
        const Session& s = *member;
        MemberStats m;
        m.session_id = s.id;
        m.address = net::to_string(s.addr);
        m.packets_in = s.packets_in;
        m.packets_out = s.packets_out;
        if (s.seq_started) {
          const std::uint64_t expected = std::uint64_t{s.highest_seq} - s.lowest_seq + 1;
          m.lost = expected > s.received ? expected - s.received : 0;
        }
        m.reordered = s.reordered;
        m.duplicates = s.duplicates;
        m.jitter_us = s.jitter_us;
        m.rtt_us = s.rtt_us;
        m.idle_ms = elapsed(now, s.last_rx_us) / 1000;
        m.age_s = static_cast<double>(elapsed(now, s.admitted_us)) / 1e6;
        r.members.push_back(std::move(m));
      }
      stats.members += r.member_count;
      stats.pending += r.pending;
      stats.rooms.push_back(std::move(r));
    }
    return stats;
  }
};

RoomShard::RoomShard(std::uint32_t index, std::uint32_t shard_count, JoinRouter* router)
    : impl_(std::make_unique<Impl>(index, shard_count, router)) {}

RoomShard::~RoomShard() = default;

std::uint32_t RoomShard::index() const noexcept {
  return impl_->index;
}

void RoomShard::apply(const RoomPlan& plan, std::uint64_t now_us, Sink& out) {
  impl_->apply(plan, now_us, out);
}

void RoomShard::handle(std::span<const std::uint8_t> datagram, const net::Endpoint& from,
                       std::uint64_t now_us, Sink& out) {
  impl_->handle(datagram, from, now_us, out, *this);
}

void RoomShard::handle_join(const JoinRequest& request, std::uint64_t now_us, Sink& out) {
  impl_->join(request, now_us, out);
}

void RoomShard::expire(std::uint64_t now_us) {
  impl_->expire(now_us);
}

void RoomShard::stop(std::uint64_t now_us, Sink& out) {
  (void)now_us;
  for (const auto& room : impl_->rooms) {
    for (auto* list : {&room->members, &room->pending}) {
      while (!list->empty()) {
        impl_->send_session_notice(*list->back(), wire::NoticeCode::server_stopping, out);
        impl_->remove_session(*list, list->size() - 1);
      }
    }
  }
}

void RoomShard::note_sent(std::size_t datagrams, std::size_t bytes, std::size_t dropped) noexcept {
  impl_->counters.packets_out += datagrams;
  impl_->counters.bytes_out += bytes;
  impl_->counters.send_dropped += dropped;
}

const Counters& RoomShard::counters() const noexcept {
  return impl_->counters;
}

std::size_t RoomShard::room_count() const noexcept {
  return impl_->rooms.size();
}

std::size_t RoomShard::member_count() const noexcept {
  std::size_t n = 0;
  for (const auto& room : impl_->rooms) n += room->members.size();
  return n;
}

std::size_t RoomShard::pending_count() const noexcept {
  std::size_t n = 0;
  for (const auto& room : impl_->rooms) n += room->pending.size();
  return n;
}

ShardStats RoomShard::snapshot(std::uint64_t now_us) const {
  return impl_->snapshot(now_us);
}

}  // namespace jambox::broadcast
