#pragma once
// jamboxd's UDP session with jambox-broadcast.
//
// The link joins a room (JOIN retried every join_retry until answered), keeps the membership
// alive (audio, or keepalives while the audio thread is silent, e.g. JACK is down) and rejoins on
// its own: after room_closed / server_stopping notices, after a refused JOIN (room_full) with
// backoff, and when nothing authenticated arrived for silence_rejoin. All that runs on the
// daemon's Asio loop thread.
//
// The packets themselves travel on the audio thread once the box is in the room and JACK runs:
// the audio thread calls audio_period_begin() before the engine's process() (it drains the socket
// with non-blocking recvmmsg calls, authenticates and opens what arrived and queues it in
// `inbound`) and audio_period_end() after it (it seals what the engine queued in `outbound`, with
// the session's sequence, never reused, and sends it with one sendmmsg). No thread is woken per
// packet. Whenever the audio thread stops (JACK down or stalled) the loop takes the packets back
// within kAudioStalled and keeps the membership alive with keepalives; while the box is joining,
// the loop sends what the engine queued every tick. src/data_plane.hpp explains the hand-over.
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
  // Periods in which the audio thread carried the packets, and whether it does now.
  std::uint64_t audio_thread_periods = 0;
  bool audio_thread_carries = false;
  std::string last_problem;  // latest refusal/notice/timeout in words, empty when none
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

  // Audio thread, once per period, before and after the engine's process(): bounded
  // non-blocking socket calls, no allocation, no lock, no log. `now_us`: CLOCK_MONOTONIC.
  void audio_period_begin(std::uint64_t now_us) noexcept;
  void audio_period_end(std::uint64_t now_us) noexcept;

  [[nodiscard]] LinkState state() const noexcept;
  [[nodiscard]] LinkStats stats() const;
  // The local endpoint of the socket (for tests and logs).
  [[nodiscard]] std::string local_endpoint() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace jambox::box
