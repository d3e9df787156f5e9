#pragma once
// A jammer for integration tests: the box side of the protocol (wire::ClientSession) on its own
// loopback UDP socket, driven step by step from a test. Single-threaded like ClientSession.

#include <jambox/test/udp.hpp>
#include <jambox/wire/packet.hpp>
#include <jambox/wire/session.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace jambox::test {

class TestJammer {
 public:
  using Event = wire::ClientSession::Event;

  // One datagram received from the server, as ClientSession classified it.
  struct Received {
    Event event = Event::rejected;
    wire::Reject reject = wire::Reject::none;               // for Event::rejected
    wire::NoticeCode notice = wire::NoticeCode::room_full;  // for Event::notice
    wire::Header header;                // decoded header (valid unless rejected early)
    std::size_t size = 0;               // datagram bytes
    std::vector<std::uint8_t> payload;  // authenticated payload (audio, echo)
    std::uint64_t received_us = 0;      // local monotonic clock
  };

  enum class JoinResult { welcomed, room_full, no_answer };

  TestJammer(std::string_view room, std::string_view secret, const Endpoint& server,
             wire::AudioShape shape = {});

  // Sends JOIN and waits for WELCOME, resending a fresh JOIN every 200 ms until `timeout`.
  JoinResult join(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // join() then a keepalive whose echo proves the server counts this session as a member.
  [[nodiscard]] bool join_as_member(std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // Seal and send; each returns the sequence number used.
  std::uint32_t send_audio();
  std::uint32_t send_keepalive();
  std::uint32_t send_leave();
  // Any bytes, from this jammer's socket.
  void send_raw(std::span<const std::uint8_t> datagram);
  // The last datagram this jammer sealed and sent (for replay tests).
  [[nodiscard]] std::span<const std::uint8_t> last_sent() const noexcept {
    return {last_sent_.data(), last_sent_size_};
  }
  [[nodiscard]] std::uint64_t last_sent_time_us() const noexcept { return last_sent_time_us_; }

  // The next datagram from the server, or nullopt on timeout. Datagrams from other sources are
  // counted in foreign_datagrams() and skipped.
  std::optional<Received> receive(std::chrono::milliseconds timeout);
  // The next datagram of kind `event`, skipping others; nullopt on timeout.
  std::optional<Received> receive_event(Event event, std::chrono::milliseconds timeout);
  // The echo of our packet `sequence`, skipping everything else; nullopt on timeout.
  std::optional<Received> receive_echo(std::uint32_t sequence, std::chrono::milliseconds timeout);
  // Everything that arrives until the line has been quiet for `quiet`.
  std::vector<Received> drain(std::chrono::milliseconds quiet = std::chrono::milliseconds(200));

  // Moves to a new socket (new source port), keeping the session: simulates NAT rebinding.
  void rebind();

  [[nodiscard]] wire::ClientSession& session() noexcept { return session_; }
  [[nodiscard]] std::uint32_t session_id() const noexcept { return session_.session_id(); }
  [[nodiscard]] const Endpoint& local() const noexcept { return socket_.local(); }
  [[nodiscard]] const Endpoint& server() const noexcept { return server_; }
  [[nodiscard]] std::size_t foreign_datagrams() const noexcept { return foreign_; }

 private:
  std::size_t send_sealed(std::size_t size, std::uint64_t now_us);

  wire::ClientSession session_;
  Endpoint server_;
  UdpSocket socket_;
  std::array<std::uint8_t, wire::kMaxDatagram> out_{};
  std::array<std::uint8_t, wire::kMaxDatagram> last_sent_{};
  std::size_t last_sent_size_ = 0;
  std::uint64_t last_sent_time_us_ = 0;
  std::array<std::uint8_t, 2048> in_{};
  std::vector<float> ch1_;
  std::vector<float> ch2_;
  std::size_t foreign_ = 0;
};

[[nodiscard]] std::string_view event_name(TestJammer::Event event) noexcept;

}  // namespace jambox::test
