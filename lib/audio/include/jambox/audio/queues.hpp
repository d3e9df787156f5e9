#pragma once
// The only way packets reach and leave the engine: single-producer single-consumer lock-free
// rings of fixed-size slots, allocated once with the engine. In jamboxd the packet carrier is the
// audio thread itself while the box is in the room (then the rings only hand packets from one
// step of the period to the next), else the network loop; neither side ever waits for the other,
// and a full ring drops (and counts) instead of blocking.

#include <jambox/wire/packet.hpp>

#include <boost/lockfree/spsc_queue.hpp>

#include <array>
#include <cstddef>
#include <cstdint>

namespace jambox::audio {

// An authenticated audio packet of another jammer, as handed over by the packet carrier.
// A slot with frames == 0 carries no audio, only a room clock reading (for example from the
// server's echo), so a lone jammer's metronome still follows the room.
struct InboundPacket {
  std::uint32_t session_id = 0;  // the originating jammer (wire header session_id)
  std::uint32_t sequence = 0;    // the originator's sequence number
  std::uint16_t frames = 0;      // 32, 64, 128 or 256; 0 for a clock-only slot
  wire::SampleFormat format = wire::SampleFormat::none;
  bool has_room_clock = false;   // room_clock is meaningful (server-stamped)
  std::uint32_t room_clock = 0;  // server room clock, 48 kHz samples
  std::uint64_t arrival_us = 0;  // when it arrived, monotonic (the kernel's receive timestamp)
  std::uint16_t payload_len = 0;
  std::array<std::uint8_t, wire::kMaxPayload> payload{};
};

// The local inputs encoded as one audio payload, ready for wire::seal_in_place.
struct OutboundPacket {
  // Counts packets produced by the engine. A packet the engine had to drop (ring full) leaves a
  // gap here, so receivers conceal it instead of splicing audio from different times.
  std::uint32_t sequence = 0;
  std::uint16_t frames = 0;
  wire::SampleFormat format = wire::SampleFormat::none;
  std::uint64_t capture_us = 0;  // capture time of the first frame (0 if the caller gave none)
  std::uint16_t payload_len = 0;
  std::array<std::uint8_t, wire::kMaxPayload> payload{};
};

// Capacities: 15 remotes sending 32-frame packets into a 256-frame period is 120 packets a
// period; 512 leaves room for bursts after a network hiccup. Outbound: 256/32 = 8 packets a
// period at most, 64 gives the carrier 8 periods of slack.
inline constexpr std::size_t kInboundCapacity = 512;
inline constexpr std::size_t kOutboundCapacity = 64;

using InboundQueue =
    boost::lockfree::spsc_queue<InboundPacket, boost::lockfree::capacity<kInboundCapacity>>;
using OutboundQueue =
    boost::lockfree::spsc_queue<OutboundPacket, boost::lockfree::capacity<kOutboundCapacity>>;

}  // namespace jambox::audio
