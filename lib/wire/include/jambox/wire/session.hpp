#pragma once
// Admission and per-session keys.
//
// Standalone mode (this version): a room has a pre-shared secret. The box proves it knows the
// secret by authenticating a JOIN with the room's join key; the server answers with a WELCOME
// authenticated the same way (so the box knows it reached a server holding the secret), carrying
// the session id and a server nonce. Both sides then derive the session's keys:
//
//   join_key         = HKDF-SHA256(ikm = secret, salt = "jambox/1 join", info = room)
//   up_key||down_key = HKDF-SHA256(ikm = secret, salt = client_nonce || server_nonce,
//                                  info = "jambox/1 session" || room || session_id (BE u32))
//
// up_key authenticates box->server packets, down_key server->box packets, so a packet can never be
// reflected back as if it came from the other side. A replayed JOIN only creates a pending
// session that nobody can use (the replayer cannot derive its keys); it becomes a member only with
// its first packet authenticated by up_key. A JOIN is padded to be larger than any answer, so the
// server can never be used to amplify traffic towards a spoofed source.

#include <jambox/crypto/crypto.hpp>
#include <jambox/wire/packet.hpp>
#include <jambox/wire/room_audio.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace jambox::wire {

inline constexpr std::size_t kMaxRoomName = 32;      // bytes of UTF-8, [A-Za-z0-9._-]
inline constexpr std::size_t kMinSecretLength = 16;  // characters of a room secret
inline constexpr std::size_t kJoinPayload = 96;
inline constexpr std::size_t kWelcomePayload = 60;
inline constexpr std::size_t kNoticePayload = 32;

using Nonce16 = std::array<std::uint8_t, 16>;

// A room name held without allocation.
class RoomName {
 public:
  RoomName() = default;
  // False when empty, too long, or containing characters outside [A-Za-z0-9._-].
  [[nodiscard]] bool assign(std::string_view name) noexcept;
  [[nodiscard]] std::string_view view() const noexcept { return {bytes_.data(), size_}; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  friend bool operator==(const RoomName& a, const RoomName& b) noexcept {
    return a.view() == b.view();
  }

 private:
  std::array<char, kMaxRoomName> bytes_{};
  std::size_t size_ = 0;
};
[[nodiscard]] bool valid_room_name(std::string_view name) noexcept;

struct AudioShape {
  std::uint16_t frames = 64;
  SampleFormat format = SampleFormat::s16;
  std::uint8_t channels = kAudioChannels;
  friend bool operator==(const AudioShape&, const AudioShape&) = default;
};

// Managed mode admits a box by ticket instead of the room's secret: jambox-broadcast, asked over
// MQTT (docs/control-plane.md), issues a ticket for one room, a random nonce and an expiry in Unix
// seconds, together with the ticket's secret
//
//   ticket_secret = hex(HKDF-SHA256(ikm = room secret, salt = nonce,
//                                   info = "jambox/1 ticket" || room || expiry (BE u64)))
//
// The box joins exactly as in standalone mode with ticket_secret in place of the room's secret
// and carries nonce and expiry in its JOIN, so any server holding the room's secret recomputes
// the ticket's secret: nothing is stored per ticket and several servers can serve one room. The
// box never learns the room's secret; a ticket admits until it expires, and its sessions' keys
// are as fresh as ever (server and client nonces).
inline constexpr std::size_t kTicketSecretLength = 64;  // hex of 32 bytes
// The longest a ticket may admit; a JOIN whose ticket expires later than this from now is forged
// (refused before any key derivation, so a flood of them costs little).
inline constexpr std::uint64_t kMaxTicketLifetimeS = 3600;
// The wall clock in Unix seconds, the unit of ticket expiry.
[[nodiscard]] std::uint64_t unix_seconds() noexcept;
struct Ticket {
  Nonce16 nonce{};
  std::uint64_t expires_s = 0;  // Unix seconds; 0: no ticket (the room's secret)
  friend bool operator==(const Ticket&, const Ticket&) = default;
};

struct JoinBody {
  crypto::Nonce aead_nonce{};  // random, also the packet's AEAD nonce
  Nonce16 client_nonce{};
  RoomName room;
  AudioShape shape;  // what the box will send
  Ticket ticket;     // expires_s != 0: joining with this ticket's secret
};

struct WelcomeBody {
  crypto::Nonce aead_nonce{};
  Nonce16 client_nonce{};  // echoes the JOIN it answers
  Nonce16 server_nonce{};
  std::uint32_t session_id = 0;
  std::uint32_t member_timeout_ms = 0;
  std::uint8_t max_members = 0;
  std::uint8_t members = 0;  // members in the room including the new one
};

enum class NoticeCode : std::uint8_t {
  room_full = 1,        // reply to a JOIN (join key)
  room_closed = 2,      // the room was removed from the server's configuration (session key)
  server_stopping = 3,  // the server is shutting down (session key)
};
[[nodiscard]] std::string_view notice_name(NoticeCode code) noexcept;

struct NoticeBody {
  crypto::Nonce aead_nonce{};  // used as nonce only when the notice's session_id is 0
  NoticeCode code = NoticeCode::room_full;
  Nonce16 client_nonce{};  // the JOIN it answers; zero for session notices
};

struct SessionKeys {
  crypto::Key up{};    // box -> server
  crypto::Key down{};  // server -> box
};

[[nodiscard]] crypto::Key derive_join_key(std::string_view room, std::string_view secret);
// The ticket's secret (kTicketSecretLength hex characters). Throws std::invalid_argument on an
// invalid room name.
[[nodiscard]] std::string derive_ticket_secret(std::string_view room, std::string_view room_secret,
                                               const Ticket& ticket);
[[nodiscard]] SessionKeys derive_session_keys(std::string_view room, std::string_view secret,
                                              const Nonce16& client_nonce,
                                              const Nonce16& server_nonce,
                                              std::uint32_t session_id);

// Body codecs. parse_* validate sizes and fields (Reject::bad_format) and never read out of
// bounds; authentication is separate (verify() with the right key).
[[nodiscard]] Reject parse_join(const PacketView& packet, JoinBody& out) noexcept;
[[nodiscard]] Reject parse_welcome(const PacketView& packet, WelcomeBody& out) noexcept;
[[nodiscard]] Reject parse_notice(const PacketView& packet, NoticeBody& out) noexcept;

// Build complete sealed datagrams into `out` (at least kMaxDatagram bytes); return the size.
std::size_t make_join(const JoinBody& body, crypto::Aead& join_key, std::span<std::uint8_t> out);
std::size_t make_welcome(const WelcomeBody& body, std::uint64_t time_us, std::uint64_t echo_us,
                         std::uint32_t hold_us, crypto::Aead& join_key,
                         std::span<std::uint8_t> out);
// session_id 0: a reply to a JOIN sealed with the join key (random nonce from body);
// otherwise a session notice sealed with that session's down key, `sequence` from the server's
// per-session notice counter.
std::size_t make_notice(const NoticeBody& body, std::uint32_t session_id, std::uint32_t sequence,
                        crypto::Aead& key, std::span<std::uint8_t> out);

// Anti-replay window over a sender's sequence numbers (64 most recent, like IPsec/DTLS).
class ReplayWindow {
 public:
  enum class Verdict : std::uint8_t { fresh, duplicate, stale };
  // Checks `sequence` and records it when fresh. The first sequence seen starts the window.
  Verdict accept(std::uint32_t sequence) noexcept;
  // Checks without recording (to test before the more expensive tag verification).
  [[nodiscard]] Verdict check(std::uint32_t sequence) const noexcept;
  [[nodiscard]] std::uint32_t highest() const noexcept { return highest_; }
  void reset() noexcept {
    started_ = false;
    highest_ = 0;
    bits_ = 0;
  }

 private:
  bool started_ = false;
  std::uint32_t highest_ = 0;
  std::uint64_t bits_ = 0;  // bit i set: highest_ - i seen
};

// Box side of a session: builds the JOIN, accepts the matching WELCOME, then seals outgoing
// packets (assigning session id and sequence) and opens incoming ones. Used by jamboxd and by
// jambox-loadgen. Not thread-safe. No allocation on the packet paths (tested); only the
// handshake may allocate inside OpenSSL (random nonces for the JOIN, key derivation on WELCOME).
//
// What receive() accepts:
//   WELCOME                  join key; answers the latest JOIN (client nonce); only once
//   NOTICE, session_id 0     join key; answers the latest JOIN (e.g. room_full)
//   NOTICE, session_id ours  down key; admitted only
//   ECHO                     down key; admitted only; carries our session id
//   AUDIO                    down key; admitted only; carries the ORIGINATOR's session id and
//                            sequence, so its session id is not compared with ours; encrypted
//                            audio is opened with the room's audio key (room_audio.hpp) and
//                            `packet.payload` then points at the plain audio (valid until the
//                            next receive), else it is refused with Reject::room_key
// Outgoing audio is encrypted with the room's audio key unless set_encrypt_audio(false).
// keepalive/leave/join are box->server types and are refused with Reject::bad_direction.
// Every authenticated server packet refreshes the (server time_us, local arrival) pair that our
// next packet echoes; ECHO and AUDIO also update rtt_us() from their echo_us/hold_us.
class ClientSession {
 public:
  // Standalone: the room's secret; the room's audio key derives from it.
  ClientSession(std::string_view room, std::string_view secret, AudioShape shape);
  // Joins with a ticket: `ticket_secret` is the secret the server issued with `ticket`, and
  // `audio_key` the room's audio key it issued with them (nullopt: none, so audio goes out in
  // the clear and encrypted audio from others is refused).
  ClientSession(std::string_view room, std::string_view ticket_secret, const Ticket& ticket,
                AudioShape shape, const std::optional<crypto::Key>& audio_key);

  // Whether outgoing audio is encrypted (default: yes, when the room's audio key is known).
  void set_encrypt_audio(bool on) noexcept { encrypt_audio_ = on; }
  [[nodiscard]] bool encrypts_audio() const noexcept { return encrypt_audio_ && has_audio_key_; }
  [[nodiscard]] bool has_audio_key() const noexcept { return has_audio_key_; }

  // A fresh JOIN (new client nonce each call). Returns the datagram size.
  std::size_t make_join(std::span<std::uint8_t> out);

  enum class Event : std::uint8_t {
    rejected,  // failed decoding or authentication; see last_reject()
    welcomed,  // admitted: session_id() and keys are valid now
    notice,    // last_notice() holds the code
    audio,     // authenticated audio from another member: `packet` is valid
    echo,      // authenticated echo of one of our packets; rtt_us() updated
  };
  // Handles one datagram from the server. `now_us` is the local monotonic clock.
  Event receive(std::span<const std::uint8_t> datagram, std::uint64_t now_us, PacketView& packet);

  [[nodiscard]] bool admitted() const noexcept { return admitted_; }
  [[nodiscard]] std::uint32_t session_id() const noexcept { return session_id_; }
  [[nodiscard]] Reject last_reject() const noexcept { return last_reject_; }
  [[nodiscard]] NoticeCode last_notice() const noexcept { return last_notice_; }
  [[nodiscard]] const WelcomeBody& welcome() const noexcept { return welcome_; }
  // Latest round trip to the server in microseconds, 0 before the first measurement.
  [[nodiscard]] std::uint32_t rtt_us() const noexcept { return rtt_us_; }

  // Outgoing packets: sequence 1, 2, ... across all types; time_us = now_us; echo_us/hold_us
  // from the latest server packet. They return 0 (nothing to send) when not admitted, when
  // `out` is too small, or when the sequence space is exhausted (rejoin: a nonce never repeats).

  // Seals an audio packet of the session's shape from float channels (shape().frames samples
  // each). Returns the size.
  std::size_t make_audio(std::span<const float> ch1, std::span<const float> ch2,
                         std::uint64_t now_us, std::span<std::uint8_t> out);
  // Seals an audio packet whose samples are already encoded at out[audio_offset()...]
  // (encode_audio with shape().format), for callers that encode straight from their audio ring.
  std::size_t seal_audio_in_place(std::uint64_t now_us, std::span<std::uint8_t> out);
  // Where seal_audio_in_place expects the samples: after the header, and after the room salt
  // when the audio is encrypted.
  [[nodiscard]] std::size_t audio_offset() const noexcept {
    return kHeaderSize + (encrypts_audio() ? kRoomSaltSize : 0);
  }
  std::size_t make_keepalive(std::uint64_t now_us, std::span<std::uint8_t> out);
  std::size_t make_leave(std::uint64_t now_us, std::span<std::uint8_t> out);
  // Forget the session (after leave, a notice, or a timeout); the next make_join starts over.
  void reset() noexcept;

  [[nodiscard]] std::uint32_t next_sequence() const noexcept { return sequence_ + 1; }
  [[nodiscard]] const AudioShape& shape() const noexcept { return shape_; }

 private:
  // issued_audio_key: nullptr in standalone mode (the key derives from the room's secret), else
  // what the room server issued with the ticket.
  ClientSession(std::string_view room, std::string_view secret, AudioShape shape,
                const std::optional<crypto::Key>* issued_audio_key);
  std::size_t seal_session_packet(Header header, std::uint64_t now_us, std::span<std::uint8_t> out);
  void note_echo(const Header& header, std::uint64_t now_us) noexcept;
  void note_server_time(const Header& header, std::uint64_t now_us) noexcept;
  Event on_welcome(const PacketView& packet, std::uint64_t now_us);
  Event on_notice(const PacketView& packet, std::uint64_t now_us);
  Event on_audio(PacketView& packet, std::uint64_t now_us);
  Event refuse(Reject reason) noexcept {
    last_reject_ = reason;
    return Event::rejected;
  }
  [[nodiscard]] std::string_view secret() const noexcept { return {secret_.data(), secret_len_}; }

  RoomName room_;
  Ticket ticket_;
  std::array<char, 256> secret_{};
  std::size_t secret_len_ = 0;
  AudioShape shape_;
  crypto::Aead join_key_;
  crypto::Aead up_key_;
  crypto::Aead down_key_;
  crypto::Aead audio_key_;
  bool has_audio_key_ = false;
  bool encrypt_audio_ = true;
  RoomSalt audio_salt_{};  // drawn with every JOIN: room-key nonces never repeat
  std::array<std::uint8_t, kMaxPayload> opened_{};  // the latest opened audio payload
  Nonce16 client_nonce_{};
  WelcomeBody welcome_{};
  bool admitted_ = false;
  bool joining_ = false;  // a JOIN is out and has not been answered yet
  std::uint32_t session_id_ = 0;
  std::uint32_t sequence_ = 0;
  std::uint64_t last_server_time_us_ = 0;  // for echo_us of our packets
  std::uint64_t last_server_rx_us_ = 0;    // when it arrived, for hold_us
  std::uint64_t last_echo_us_ = 0;         // newest echo_us used for rtt_us_
  std::uint32_t rtt_us_ = 0;
  Reject last_reject_ = Reject::none;
  NoticeCode last_notice_ = NoticeCode::room_full;
};

}  // namespace jambox::wire
