#include "bytes.hpp"
#include <jambox/wire/session.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <tuple>

namespace jambox::wire {
namespace {

// Body layouts (docs/wire-protocol.md). Offsets into the payload.
namespace join_body {
constexpr std::size_t kAeadNonce = 0;
constexpr std::size_t kClientNonce = 12;
constexpr std::size_t kRoomLen = 28;
constexpr std::size_t kRoom = 29;
constexpr std::size_t kFrames = kRoom + kMaxRoomName;  // 61
constexpr std::size_t kFormat = 63;
constexpr std::size_t kChannels = 64;
constexpr std::size_t kTicketFlag = 65;  // 1: the ticket fields below are set, else all zero
constexpr std::size_t kTicketNonce = 66;
constexpr std::size_t kTicketExpires = 82;
constexpr std::size_t kPadding = 90;
static_assert(kFrames == 61 && kPadding < kJoinPayload);
}  // namespace join_body

namespace welcome_body {
constexpr std::size_t kAeadNonce = 0;
constexpr std::size_t kClientNonce = 12;
constexpr std::size_t kServerNonce = 28;
constexpr std::size_t kSessionId = 44;
constexpr std::size_t kMemberTimeout = 48;
constexpr std::size_t kMaxMembers = 52;
constexpr std::size_t kMembers = 53;
constexpr std::size_t kPadding = 54;
static_assert(kPadding < kWelcomePayload);
}  // namespace welcome_body

namespace notice_body {
constexpr std::size_t kAeadNonce = 0;
constexpr std::size_t kCode = 12;
constexpr std::size_t kPadding = 13;  // 3 zero bytes
constexpr std::size_t kClientNonce = 16;
static_assert(kClientNonce + 16 == kNoticePayload);
}  // namespace notice_body

// A JOIN must be larger than anything the server sends back to an unauthenticated source.
static_assert(kHeaderSize + kJoinPayload > kHeaderSize + kWelcomePayload);
static_assert(kHeaderSize + kJoinPayload > kHeaderSize + kNoticePayload);

constexpr std::string_view kJoinSalt = "jambox/1 join";
constexpr std::string_view kSessionInfo = "jambox/1 session";
constexpr std::string_view kTicketInfo = "jambox/1 ticket";

// Rounds trips beyond this are a confused or hostile peer, not a network path.
constexpr std::uint64_t kMaxPlausibleRttUs = 10'000'000;

bool all_zero(std::span<const std::uint8_t> bytes) noexcept {
  return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

template <std::size_t N>
void copy_out(std::span<const std::uint8_t> from, std::size_t offset,
              std::array<std::uint8_t, N>& to) noexcept {
  std::memcpy(to.data(), from.data() + offset, N);
}

template <std::size_t N>
void copy_in(const std::array<std::uint8_t, N>& from, std::uint8_t* to) noexcept {
  std::memcpy(to, from.data(), N);
}

bool valid_room_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

Header body_header(PacketType type, std::size_t payload_len) noexcept {
  Header h;
  h.type = type;
  h.payload_len = static_cast<std::uint16_t>(payload_len);
  return h;
}

std::uint32_t saturate_u32(std::uint64_t v) noexcept {
  return static_cast<std::uint32_t>(
      std::min<std::uint64_t>(v, std::numeric_limits<std::uint32_t>::max()));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Names and keys

std::uint64_t unix_seconds() noexcept {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

bool valid_room_name(std::string_view name) noexcept {
  return !name.empty() && name.size() <= kMaxRoomName &&
         std::all_of(name.begin(), name.end(), valid_room_char);
}

bool RoomName::assign(std::string_view name) noexcept {
  if (!valid_room_name(name)) return false;
  bytes_.fill('\0');
  std::copy(name.begin(), name.end(), bytes_.begin());
  size_ = name.size();
  return true;
}

std::string_view notice_name(NoticeCode code) noexcept {
  switch (code) {
    case NoticeCode::room_full:
      return "room_full";
    case NoticeCode::room_closed:
      return "room_closed";
    case NoticeCode::server_stopping:
      return "server_stopping";
  }
  return "unknown";
}

crypto::Key derive_join_key(std::string_view room, std::string_view secret) {
  if (!valid_room_name(room)) throw std::invalid_argument("derive_join_key: invalid room name");
  crypto::Key key{};
  crypto::hkdf_sha256(crypto::bytes_of(secret), crypto::bytes_of(kJoinSalt), crypto::bytes_of(room),
                      key);
  return key;
}

std::string derive_ticket_secret(std::string_view room, std::string_view room_secret,
                                 const Ticket& ticket) {
  if (!valid_room_name(room))
    throw std::invalid_argument("derive_ticket_secret: invalid room name");
  std::array<std::uint8_t, kTicketInfo.size() + kMaxRoomName + 8> info{};
  std::size_t n = 0;
  for (const char c : kTicketInfo) info[n++] = static_cast<std::uint8_t>(c);
  for (const char c : room) info[n++] = static_cast<std::uint8_t>(c);
  detail::store_be64(info.data() + n, ticket.expires_s);
  n += 8;
  std::array<std::uint8_t, kTicketSecretLength / 2> okm{};
  crypto::hkdf_sha256(crypto::bytes_of(room_secret), ticket.nonce, std::span(info).first(n), okm);
  return crypto::to_hex(okm);
}

SessionKeys derive_session_keys(std::string_view room, std::string_view secret,
                                const Nonce16& client_nonce, const Nonce16& server_nonce,
                                std::uint32_t session_id) {
  if (!valid_room_name(room)) throw std::invalid_argument("derive_session_keys: invalid room name");
  std::array<std::uint8_t, 32> salt{};
  std::copy(client_nonce.begin(), client_nonce.end(), salt.begin());
  std::copy(server_nonce.begin(), server_nonce.end(), salt.begin() + 16);
  // The room name is variable length but sits between a fixed prefix and a fixed-size suffix,
  // so the encoding is unambiguous.
  std::array<std::uint8_t, kSessionInfo.size() + kMaxRoomName + 4> info{};
  std::size_t n = 0;
  for (const char c : kSessionInfo) info[n++] = static_cast<std::uint8_t>(c);
  for (const char c : room) info[n++] = static_cast<std::uint8_t>(c);
  detail::store_be32(info.data() + n, session_id);
  n += 4;
  std::array<std::uint8_t, 2 * crypto::kKeySize> okm{};
  crypto::hkdf_sha256(crypto::bytes_of(secret), salt, std::span(info).first(n), okm);
  SessionKeys keys;
  std::copy_n(okm.begin(), crypto::kKeySize, keys.up.begin());
  std::copy_n(okm.begin() + crypto::kKeySize, crypto::kKeySize, keys.down.begin());
  return keys;
}

// ---------------------------------------------------------------------------------------------
// Bodies

Reject parse_join(const PacketView& packet, JoinBody& out) noexcept {
  const auto p = packet.payload;
  if (packet.header.type != PacketType::join) return Reject::bad_type;
  // A JOIN has no session yet; anything else there is a malformed (or crafted) request.
  if (p.size() != kJoinPayload || packet.header.session_id != 0) return Reject::bad_format;
  const std::size_t room_len = p[join_body::kRoomLen];
  if (room_len == 0 || room_len > kMaxRoomName) return Reject::bad_format;
  const std::string_view room(reinterpret_cast<const char*>(p.data() + join_body::kRoom), room_len);
  JoinBody body;
  if (!body.room.assign(room)) return Reject::bad_format;
  if (!all_zero(p.subspan(join_body::kRoom + room_len, kMaxRoomName - room_len)))
    return Reject::bad_format;
  body.shape.frames = detail::load_be16(p.data() + join_body::kFrames);
  body.shape.format = static_cast<SampleFormat>(p[join_body::kFormat]);
  body.shape.channels = p[join_body::kChannels];
  if (audio_payload_size(body.shape.frames, body.shape.channels, body.shape.format) == 0) {
    return Reject::bad_format;
  }
  if (!all_zero(p.subspan(join_body::kPadding))) return Reject::bad_format;
  if (p[join_body::kTicketFlag] == 1) {
    copy_out(p, join_body::kTicketNonce, body.ticket.nonce);
    body.ticket.expires_s = detail::load_be64(p.data() + join_body::kTicketExpires);
    if (body.ticket.expires_s == 0) return Reject::bad_format;
  } else if (p[join_body::kTicketFlag] != 0 ||
             !all_zero(p.subspan(join_body::kTicketNonce,
                                 join_body::kPadding - join_body::kTicketNonce))) {
    return Reject::bad_format;
  }
  copy_out(p, join_body::kAeadNonce, body.aead_nonce);
  copy_out(p, join_body::kClientNonce, body.client_nonce);
  out = body;
  return Reject::none;
}

Reject parse_welcome(const PacketView& packet, WelcomeBody& out) noexcept {
  const auto p = packet.payload;
  if (packet.header.type != PacketType::welcome) return Reject::bad_type;
  if (p.size() != kWelcomePayload || !all_zero(p.subspan(welcome_body::kPadding)))
    return Reject::bad_format;
  WelcomeBody body;
  body.session_id = detail::load_be32(p.data() + welcome_body::kSessionId);
  // Session 0 means "no session" (join-stage notices); the header repeats the id it grants.
  if (body.session_id == 0 || body.session_id != packet.header.session_id) {
    return Reject::bad_format;
  }
  copy_out(p, welcome_body::kAeadNonce, body.aead_nonce);
  copy_out(p, welcome_body::kClientNonce, body.client_nonce);
  copy_out(p, welcome_body::kServerNonce, body.server_nonce);
  body.member_timeout_ms = detail::load_be32(p.data() + welcome_body::kMemberTimeout);
  body.max_members = p[welcome_body::kMaxMembers];
  body.members = p[welcome_body::kMembers];
  out = body;
  return Reject::none;
}

Reject parse_notice(const PacketView& packet, NoticeBody& out) noexcept {
  const auto p = packet.payload;
  if (packet.header.type != PacketType::notice) return Reject::bad_type;
  if (p.size() != kNoticePayload || !all_zero(p.subspan(notice_body::kPadding, 3)))
    return Reject::bad_format;
  const std::uint8_t code = p[notice_body::kCode];
  if (code < static_cast<std::uint8_t>(NoticeCode::room_full) ||
      code > static_cast<std::uint8_t>(NoticeCode::server_stopping)) {
    return Reject::bad_format;
  }
  NoticeBody body;
  body.code = static_cast<NoticeCode>(code);
  copy_out(p, notice_body::kAeadNonce, body.aead_nonce);
  copy_out(p, notice_body::kClientNonce, body.client_nonce);
  out = body;
  return Reject::none;
}

std::size_t make_join(const JoinBody& body, crypto::Aead& join_key, std::span<std::uint8_t> out) {
  if (out.size() < kHeaderSize + kJoinPayload + kTagSize) return 0;
  std::uint8_t* p = out.data() + kHeaderSize;
  std::memset(p, 0, kJoinPayload);
  copy_in(body.aead_nonce, p + join_body::kAeadNonce);
  copy_in(body.client_nonce, p + join_body::kClientNonce);
  const std::string_view room = body.room.view();
  p[join_body::kRoomLen] = static_cast<std::uint8_t>(room.size());
  std::memcpy(p + join_body::kRoom, room.data(), room.size());
  detail::store_be16(p + join_body::kFrames, body.shape.frames);
  p[join_body::kFormat] = static_cast<std::uint8_t>(body.shape.format);
  p[join_body::kChannels] = body.shape.channels;
  if (body.ticket.expires_s != 0) {
    p[join_body::kTicketFlag] = 1;
    copy_in(body.ticket.nonce, p + join_body::kTicketNonce);
    detail::store_be64(p + join_body::kTicketExpires, body.ticket.expires_s);
  }
  return seal_in_place(body_header(PacketType::join, kJoinPayload), join_key, out);
}

std::size_t make_welcome(const WelcomeBody& body, std::uint64_t time_us, std::uint64_t echo_us,
                         std::uint32_t hold_us, crypto::Aead& join_key,
                         std::span<std::uint8_t> out) {
  if (out.size() < kHeaderSize + kWelcomePayload + kTagSize) return 0;
  std::uint8_t* p = out.data() + kHeaderSize;
  std::memset(p, 0, kWelcomePayload);
  copy_in(body.aead_nonce, p + welcome_body::kAeadNonce);
  copy_in(body.client_nonce, p + welcome_body::kClientNonce);
  copy_in(body.server_nonce, p + welcome_body::kServerNonce);
  detail::store_be32(p + welcome_body::kSessionId, body.session_id);
  detail::store_be32(p + welcome_body::kMemberTimeout, body.member_timeout_ms);
  p[welcome_body::kMaxMembers] = body.max_members;
  p[welcome_body::kMembers] = body.members;
  Header h = body_header(PacketType::welcome, kWelcomePayload);
  h.session_id = body.session_id;
  h.time_us = time_us;
  h.echo_us = echo_us;
  h.hold_us = hold_us;
  return seal_in_place(h, join_key, out);
}

std::size_t make_notice(const NoticeBody& body, std::uint32_t session_id, std::uint32_t sequence,
                        crypto::Aead& key, std::span<std::uint8_t> out) {
  if (out.size() < kHeaderSize + kNoticePayload + kTagSize) return 0;
  std::uint8_t* p = out.data() + kHeaderSize;
  std::memset(p, 0, kNoticePayload);
  copy_in(body.aead_nonce, p + notice_body::kAeadNonce);
  p[notice_body::kCode] = static_cast<std::uint8_t>(body.code);
  copy_in(body.client_nonce, p + notice_body::kClientNonce);
  Header h = body_header(PacketType::notice, kNoticePayload);
  h.session_id = session_id;
  h.sequence = sequence;
  return seal_in_place(h, key, out);
}

// ---------------------------------------------------------------------------------------------
// Replay window

ReplayWindow::Verdict ReplayWindow::check(std::uint32_t sequence) const noexcept {
  if (!started_ || sequence > highest_) return Verdict::fresh;
  const std::uint32_t age = highest_ - sequence;
  if (age >= 64) return Verdict::stale;
  return ((bits_ >> age) & 1U) != 0 ? Verdict::duplicate : Verdict::fresh;
}

ReplayWindow::Verdict ReplayWindow::accept(std::uint32_t sequence) noexcept {
  const Verdict verdict = check(sequence);
  if (verdict != Verdict::fresh) return verdict;
  if (!started_) {
    started_ = true;
    highest_ = sequence;
    bits_ = 1;
  } else if (sequence > highest_) {
    const std::uint32_t shift = sequence - highest_;
    bits_ = shift >= 64 ? 1 : (bits_ << shift) | 1U;
    highest_ = sequence;
  } else {
    bits_ |= std::uint64_t{1} << (highest_ - sequence);
  }
  return Verdict::fresh;
}

// ---------------------------------------------------------------------------------------------
// ClientSession

namespace {

crypto::Key checked_join_key(std::string_view room, std::string_view secret, AudioShape shape,
                             std::size_t secret_capacity) {
  if (!valid_room_name(room)) {
    throw std::invalid_argument("room name must be 1-32 characters of [A-Za-z0-9._-]");
  }
  if (secret.size() < kMinSecretLength || secret.size() > secret_capacity) {
    throw std::invalid_argument("room secret must be 16-256 characters");
  }
  if (audio_payload_size(shape.frames, shape.channels, shape.format) == 0) {
    throw std::invalid_argument("audio shape does not fit a jam packet");
  }
  return derive_join_key(room, secret);
}

}  // namespace

ClientSession::ClientSession(std::string_view room, std::string_view secret, AudioShape shape)
    : ClientSession(room, secret, shape, nullptr) {}

ClientSession::ClientSession(std::string_view room, std::string_view ticket_secret,
                             const Ticket& ticket, AudioShape shape,
                             const std::optional<crypto::Key>& audio_key)
    : ClientSession(room, ticket_secret, shape, &audio_key) {
  if (ticket.expires_s == 0) throw std::invalid_argument("a ticket needs its expiry");
  ticket_ = ticket;
}

ClientSession::ClientSession(std::string_view room, std::string_view secret, AudioShape shape,
                             const std::optional<crypto::Key>* issued_audio_key)
    : shape_(shape),
      join_key_(checked_join_key(room, secret, shape, std::tuple_size_v<decltype(secret_)>)),
      up_key_(crypto::Key{}),
      down_key_(crypto::Key{}),
      // A ticket's secret is not the room's: a key derived from it would be nobody else's.
      audio_key_(issued_audio_key != nullptr ? issued_audio_key->value_or(crypto::Key{})
                                             : derive_room_audio_key(room, secret)),
      has_audio_key_(issued_audio_key == nullptr || issued_audio_key->has_value()) {
  (void)room_.assign(room);  // validated above
  std::copy(secret.begin(), secret.end(), secret_.begin());
  secret_len_ = secret.size();
}

void ClientSession::reset() noexcept {
  admitted_ = false;
  joining_ = false;
  session_id_ = 0;
  sequence_ = 0;
  client_nonce_ = {};
  welcome_ = {};
  last_server_time_us_ = 0;
  last_server_rx_us_ = 0;
  last_echo_us_ = 0;
  rtt_us_ = 0;
  last_reject_ = Reject::none;
}

std::size_t ClientSession::make_join(std::span<std::uint8_t> out) {
  reset();
  JoinBody body;
  crypto::random_bytes(body.aead_nonce);
  crypto::random_bytes(body.client_nonce);
  crypto::random_bytes(audio_salt_);
  body.room = room_;
  body.shape = shape_;
  body.ticket = ticket_;
  const std::size_t size = wire::make_join(body, join_key_, out);
  if (size != 0) {
    client_nonce_ = body.client_nonce;
    joining_ = true;
  }
  return size;
}

ClientSession::Event ClientSession::receive(std::span<const std::uint8_t> datagram,
                                            std::uint64_t now_us, PacketView& packet) {
  last_reject_ = Reject::none;
  if (const Reject r = decode(datagram, packet); r != Reject::none) return refuse(r);
  const Header& h = packet.header;
  switch (h.type) {
    case PacketType::keepalive:
    case PacketType::leave:
    case PacketType::join:
      return refuse(Reject::bad_direction);
    case PacketType::welcome:
      return on_welcome(packet, now_us);
    case PacketType::notice:
      return on_notice(packet, now_us);
    case PacketType::echo:
      if (!admitted_ || h.session_id != session_id_) return refuse(Reject::unknown_session);
      if (!verify(packet, down_key_)) return refuse(Reject::bad_tag);
      note_server_time(h, now_us);
      note_echo(h, now_us);
      return Event::echo;
    case PacketType::audio:
      return on_audio(packet, now_us);
  }
  return refuse(Reject::bad_type);
}

ClientSession::Event ClientSession::on_welcome(const PacketView& packet, std::uint64_t now_us) {
  WelcomeBody body;
  if (const Reject r = parse_welcome(packet, body); r != Reject::none) return refuse(r);
  if (!verify(packet, join_key_)) return refuse(Reject::bad_tag);
  // Only the answer to the JOIN we sent last counts, and only once.
  if (body.client_nonce != client_nonce_) return refuse(Reject::unknown_session);
  if (!joining_) return refuse(Reject::replay);

  const SessionKeys keys = derive_session_keys(room_.view(), secret(), client_nonce_,
                                               body.server_nonce, body.session_id);
  up_key_.rekey(keys.up);
  down_key_.rekey(keys.down);
  joining_ = false;
  admitted_ = true;
  session_id_ = body.session_id;
  sequence_ = 0;
  welcome_ = body;
  note_server_time(packet.header, now_us);
  return Event::welcomed;
}

ClientSession::Event ClientSession::on_notice(const PacketView& packet, std::uint64_t now_us) {
  NoticeBody body;
  if (const Reject r = parse_notice(packet, body); r != Reject::none) return refuse(r);
  const Header& h = packet.header;
  if (h.session_id == 0) {
    // Answer to a JOIN (room full, server stopping): join key and our latest client nonce.
    if (!verify(packet, join_key_)) return refuse(Reject::bad_tag);
    if (body.client_nonce != client_nonce_) return refuse(Reject::unknown_session);
    if (!joining_) return refuse(Reject::replay);
    joining_ = false;
  } else {
    if (!admitted_ || h.session_id != session_id_) return refuse(Reject::unknown_session);
    if (!verify(packet, down_key_)) return refuse(Reject::bad_tag);
    note_server_time(h, now_us);
  }
  last_notice_ = body.code;
  return Event::notice;
}

ClientSession::Event ClientSession::on_audio(PacketView& packet, std::uint64_t now_us) {
  if (!admitted_) return refuse(Reject::unknown_session);
  if (!verify(packet, down_key_)) return refuse(Reject::bad_tag);
  // The hop is authentic whatever the inner seal says: it counts for timing.
  note_server_time(packet.header, now_us);
  note_echo(packet.header, now_us);
  if ((packet.header.flags & flags::kEncrypted) != 0) {
    const auto plain = std::span(opened_).first(packet.payload.size() - kRoomSealOverhead);
    if (!has_audio_key_ || !open_room_audio(packet.header, packet.payload, audio_key_, plain)) {
      return refuse(Reject::room_key);
    }
    packet.payload = plain;
  }
  return Event::audio;
}

void ClientSession::note_server_time(const Header& header, std::uint64_t now_us) noexcept {
  // Reordered older packets must not roll the echoed time back.
  if (header.time_us == 0 || header.time_us < last_server_time_us_) return;
  last_server_time_us_ = header.time_us;
  last_server_rx_us_ = now_us;
}

void ClientSession::note_echo(const Header& header, std::uint64_t now_us) noexcept {
  // echo_us is a time_us we sent (our own clock), hold_us how long the server held it.
  const std::uint64_t echo = header.echo_us;
  if (echo == 0 || echo > now_us || echo < last_echo_us_) return;
  const std::uint64_t elapsed = now_us - echo;
  if (header.hold_us > elapsed) return;
  const std::uint64_t rtt = elapsed - header.hold_us;
  if (rtt > kMaxPlausibleRttUs) return;
  last_echo_us_ = echo;
  rtt_us_ = static_cast<std::uint32_t>(std::max<std::uint64_t>(rtt, 1));  // 0 means "none yet"
}

std::size_t ClientSession::seal_session_packet(Header header, std::uint64_t now_us,
                                               std::span<std::uint8_t> out) {
  if (!admitted_ || sequence_ == std::numeric_limits<std::uint32_t>::max()) return 0;
  header.session_id = session_id_;
  header.sequence = sequence_ + 1;
  header.time_us = now_us;
  header.room_clock = 0;
  if (last_server_time_us_ != 0) {
    header.echo_us = last_server_time_us_;
    header.hold_us = now_us > last_server_rx_us_ ? saturate_u32(now_us - last_server_rx_us_) : 0;
  }
  const std::size_t size = seal_in_place(header, up_key_, out);
  if (size != 0) ++sequence_;
  return size;
}

std::size_t ClientSession::make_audio(std::span<const float> ch1, std::span<const float> ch2,
                                      std::uint64_t now_us, std::span<std::uint8_t> out) {
  const std::size_t payload = audio_payload_size(shape_.frames, shape_.channels, shape_.format);
  if (!admitted_ || ch1.size() != shape_.frames || ch2.size() != shape_.frames ||
      out.size() < kHeaderSize + payload + (encrypts_audio() ? kRoomSealOverhead : 0) + kTagSize) {
    return 0;
  }
  encode_audio(ch1, ch2, shape_.format, out.subspan(audio_offset(), payload));
  return seal_audio_in_place(now_us, out);
}

std::size_t ClientSession::seal_audio_in_place(std::uint64_t now_us, std::span<std::uint8_t> out) {
  Header h;
  h.type = PacketType::audio;
  h.format = shape_.format;
  h.channels = shape_.channels;
  h.frames = shape_.frames;
  const std::size_t audio = audio_payload_size(shape_.frames, shape_.channels, shape_.format);
  if (encrypts_audio()) {
    // The inner seal needs the sequence seal_session_packet is about to assign.
    const std::size_t sealed = audio + kRoomSealOverhead;
    if (!admitted_ || sequence_ == std::numeric_limits<std::uint32_t>::max() ||
        out.size() < kHeaderSize + sealed + kTagSize) {
      return 0;
    }
    h.flags = flags::kEncrypted;
    h.session_id = session_id_;
    h.sequence = sequence_ + 1;
    seal_room_audio(h, audio_salt_, audio_key_, out.subspan(kHeaderSize, sealed));
    h.payload_len = static_cast<std::uint16_t>(sealed);
  } else {
    h.payload_len = static_cast<std::uint16_t>(audio);
  }
  return seal_session_packet(h, now_us, out);
}

std::size_t ClientSession::make_keepalive(std::uint64_t now_us, std::span<std::uint8_t> out) {
  return seal_session_packet(body_header(PacketType::keepalive, 0), now_us, out);
}

std::size_t ClientSession::make_leave(std::uint64_t now_us, std::span<std::uint8_t> out) {
  return seal_session_packet(body_header(PacketType::leave, 0), now_us, out);
}

}  // namespace jambox::wire
