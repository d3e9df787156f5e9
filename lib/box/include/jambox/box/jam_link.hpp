#pragma once
// jamboxd's UDP session with jambox-broadcast, run on the daemon's Asio loop thread.
//
// The link joins a room (JOIN retried every join_retry until answered), keeps the membership
// alive (audio, or keepalives while the audio thread is silent, e.g. JACK is down) and rejoins on
// its own: after room_closed / server_stopping notices, after a refused JOIN (room_full) with
// backoff, and when nothing authenticated arrived for silence_rejoin. The audio thread and the
// link meet only through the engine's SPSC rings and an eventfd:
//  - the audio thread queues encoded periods into `outbound` and calls wake() (one bounded,
//    non-blocking write; a saturated counter only means the link is already woken);
//  - the link seals them with the session's sequence (never reused) and sends them in batches;
//  - authenticated audio of the other members goes into `inbound` (a full ring drops and counts).
// Nothing on the per-packet path allocates, locks or logs.

#include <jambox/audio/queues.hpp>
#include <jambox/wire/session.hpp>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace jambox::box {

struct JamLinkConfig {
  std::string server;  // HOST:PORT as net::parse_host_port reads it: "jam.example.org:7930",
                       // "192.0.2.1:7930" or "[2001:db8::1]:7930"
  std::string room;
  std::string secret;
  wire::Ticket ticket;                   // joining with a ticket's secret when expires_s != 0
  std::optional<crypto::Key> audio_key;  // with a ticket: the room's audio key it came with
  bool encrypt_audio = true;             // send audio encrypted with the room's audio key
  wire::AudioShape shape;                // must match what the engine encodes
  std::chrono::milliseconds join_retry{250};
  // A JOIN unanswered this long gets a log line (repeated at this interval).
  std::chrono::milliseconds no_answer_log{3000};
  // Nothing authenticated from the server for this long: the session is considered lost.
  std::chrono::milliseconds silence_rejoin{2000};
  // Keepalive when no audio was sent for this long (keeps membership and RTT alive).
  std::chrono::milliseconds keepalive_interval{100};
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{8000};
};

enum class LinkState : std::uint8_t {
  stopped,    // not started, or left on request
  resolving,  // looking up the server address
  joining,    // JOIN sent, waiting for WELCOME
  joined,     // admitted: audio flows
  backoff,    // refused or dropped: waiting before the next JOIN
};
[[nodiscard]] std::string_view link_state_name(LinkState state) noexcept;

struct LinkStats {
  LinkState state = LinkState::stopped;
  std::string server;  // as configured
  std::string room;
  bool audio_running = false;
  std::uint32_t session_id = 0;
  std::uint32_t rtt_us = 0;          // latest round trip, 0 before the first
  std::uint8_t welcome_members = 0;  // members in the room when we were admitted
  std::uint64_t joins_sent = 0;
  std::uint64_t welcomes = 0;
  std::uint64_t rejoins = 0;  // session lost (silence, notice) and joined again
  std::uint64_t room_full = 0;
  std::uint64_t notices = 0;
  std::uint64_t audio_sent = 0;
  std::uint64_t keepalives_sent = 0;
  std::uint64_t send_dropped = 0;      // datagrams the kernel did not take
  std::uint64_t outbound_skipped = 0;  // engine packets not sent (not admitted, wrong shape)
  std::uint64_t audio_received = 0;
  std::uint64_t echoes = 0;
  std::uint64_t rejected = 0;  // failed decoding or authentication
  // Of those: encrypted audio this box could not open (a member with another room key).
  std::uint64_t room_key_rejected = 0;
  bool audio_encrypted = false;       // what we send is encrypted with the room's audio key
  std::uint64_t inbound_dropped = 0;  // inbound ring full
  std::string last_problem;           // latest refusal/notice/timeout in words, empty when none
};

class JamLink {
 public:
  // Opens the socket and the eventfd (throws std::system_error). Nothing is sent before start().
  JamLink(boost::asio::io_context& io, audio::InboundQueue& inbound, audio::OutboundQueue& outbound,
          JamLinkConfig config);
  ~JamLink();
  JamLink(const JamLink&) = delete;
  JamLink& operator=(const JamLink&) = delete;

  // Loop thread. Resolves the server and joins; does nothing without a room. Throws
  // std::invalid_argument naming the server when it is not HOST:PORT (net::parse_host_port),
  // before anything changes; an unreachable or silent server is retried forever.
  void start();
  // Loop thread. Leaves the current room (LEAVE when admitted) and joins with `config` instead;
  // a `config` without a room only leaves. The new server, room name and secret are checked
  // first: when one is refused this throws std::invalid_argument (naming the server for a
  // malformed address) and the link keeps its room, session and state, as if never called.
  // Callers still check what they accept at their own door (net::parse_host_port for a server)
  // to answer with the field at fault.
  void reconfigure(JamLinkConfig config);
  // Loop thread. Sends LEAVE when admitted and stops; start() joins again.
  void leave();

  // Whether the audio thread is producing packets (for stats()). Keepalives do not depend on it:
  // one goes out whenever no audio was sent for keepalive_interval, which also covers a JACK
  // server that hangs without telling us.
  void set_audio_running(bool running) noexcept;

  // The eventfd the audio thread writes to wake the link.
  [[nodiscard]] int wake_fd() const noexcept;
  // Audio thread: bounded, non-blocking (EFD_NONBLOCK; EAGAIN means already woken).
  static void wake(int fd) noexcept;

  [[nodiscard]] LinkState state() const noexcept;
  [[nodiscard]] LinkStats stats() const;
  // The local endpoint of the socket (for tests and logs).
  [[nodiscard]] std::string local_endpoint() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace jambox::box
