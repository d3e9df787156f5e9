// Unit tests of the load generator's parts that do not need a server.
#include "loadgen.hpp"

#include "histogram.hpp"
#include "junk.hpp"
#include <jambox/crypto/crypto.hpp>
#include <jambox/wire/packet.hpp>
#include <jambox/wire/session.hpp>

#include <catch2/catch.hpp>

#include <sstream>
#include <vector>

using jambox::loadgen::Histogram;
using jambox::loadgen::JunkGenerator;
using jambox::loadgen::JunkKind;
using jambox::loadgen::SequenceTracker;
namespace wire = jambox::wire;
namespace crypto = jambox::crypto;

TEST_CASE("histogram buckets cover every value exactly once", "[loadgen]") {
  std::size_t previous = 0;
  for (std::uint64_t v = 0; v < 100000; v += 7) {
    const std::size_t i = Histogram::index(v);
    REQUIRE(i < Histogram::kBuckets);
    REQUIRE(i >= previous);
    REQUIRE(Histogram::bucket_low(i) <= v);
    REQUIRE(v < Histogram::bucket_low(i) + Histogram::bucket_width(i));
    previous = i;
  }
  const std::uint64_t huge = ~std::uint64_t{0};
  REQUIRE(Histogram::index(huge) == Histogram::kBuckets - 1);
  // Relative bucket width stays below 1 % above the exact range.
  for (std::size_t i = 2 * Histogram::kSubCount; i < Histogram::kBuckets; i += 97) {
    REQUIRE(static_cast<double>(Histogram::bucket_width(i)) /
                static_cast<double>(Histogram::bucket_low(i)) <=
            1.0 / 128.0);
  }
}

TEST_CASE("histogram percentiles", "[loadgen]") {
  Histogram h;
  REQUIRE(h.percentile(0.5) == 0);
  for (std::uint64_t v = 1; v <= 100; ++v) h.record(v);
  REQUIRE(h.count() == 100);
  REQUIRE(h.percentile(0.5) == 50);
  REQUIRE(h.percentile(0.99) == 99);
  REQUIRE(h.percentile(1.0) == 100);
  REQUIRE(h.min() == 1);
  REQUIRE(h.mean() == Approx(50.5));

  Histogram wide;
  for (std::uint64_t v = 1000; v < 11000; ++v) wide.record(v);
  REQUIRE(wide.percentile(0.5) == Approx(6000).epsilon(0.01));
  REQUIRE(wide.percentile(0.999) == Approx(10990).epsilon(0.01));
  REQUIRE(wide.percentile(1.0) == 10999);

  h.merge(wide);
  REQUIRE(h.count() == 10100);
  REQUIRE(h.max() == 10999);
  REQUIRE(h.min() == 1);
  h.reset();
  REQUIRE(h.count() == 0);
  REQUIRE(h.max() == 0);
}

TEST_CASE("sequence tracker tells duplicates from reordering", "[loadgen]") {
  SequenceTracker t;
  using V = SequenceTracker::Verdict;
  REQUIRE(t.note(10) == V::in_order);
  REQUIRE(t.note(11) == V::in_order);
  REQUIRE(t.note(11) == V::duplicate);
  REQUIRE(t.note(14) == V::in_order);
  REQUIRE(t.note(13) == V::reordered);
  REQUIRE(t.note(13) == V::duplicate);
  REQUIRE(t.note(12) == V::reordered);
  REQUIRE(t.note(10) == V::duplicate);
  REQUIRE(t.note(200) == V::in_order);
  REQUIRE(t.note(100) == V::reordered);  // beyond the window: cannot know, counted as reordered
  REQUIRE(t.note(199) == V::reordered);
  REQUIRE(t.note(199) == V::duplicate);
}

TEST_CASE("room and option parsing", "[loadgen]") {
  using jambox::loadgen::SetupError;
  const auto room = jambox::loadgen::parse_room("main=0123456789abcdef=x");
  REQUIRE(room.name == "main");
  REQUIRE(room.secret == "0123456789abcdef=x");
  REQUIRE_THROWS_AS(jambox::loadgen::parse_room("main"), SetupError);
  REQUIRE_THROWS_AS(jambox::loadgen::parse_room("main=short"), SetupError);
  REQUIRE_THROWS_AS(jambox::loadgen::parse_room("bad room=0123456789abcdef"), SetupError);

  const auto parse = [](std::vector<const char*> args, jambox::loadgen::Options& options) {
    args.insert(args.begin(), "jambox-loadgen");
    std::ostringstream out;
    int code = -1;
    return jambox::loadgen::parse_options(static_cast<int>(args.size()), args.data(), options, out,
                                          code);
  };
  jambox::loadgen::Options options;
  REQUIRE(parse(
      {"--server", "127.0.0.1:7930", "--room", "a=0123456789abcdef", "--room", "b=0123456789abcdef",
       "--jammers", "4", "--seconds", "2", "--junk-rate", "100", "--live"},
      options));
  REQUIRE(options.rooms.size() == 2);
  REQUIRE(options.jammers == 4);
  REQUIRE(options.seconds == 2.0);
  REQUIRE(options.junk_rate == 100);
  REQUIRE(options.live);
  REQUIRE(options.frames == 64);
  REQUIRE_FALSE(options.room_audio);
  jambox::loadgen::Options sealed;
  REQUIRE(parse({"--server", "127.0.0.1:7930", "--room", "a=0123456789abcdef", "--room-audio",
                 "--amplitude", "0.01"},
                sealed));
  REQUIRE(sealed.room_audio);
  REQUIRE(sealed.amplitude == 0.01);
  REQUIRE_FALSE(sealed.send_only);
  jambox::loadgen::Options quiet;
  REQUIRE(parse({"--server", "h:1", "--room", "a=0123456789abcdef", "--send-only"}, quiet));
  REQUIRE(quiet.send_only);

  jambox::loadgen::Options bad;
  REQUIRE_THROWS_AS(parse({"--room", "a=0123456789abcdef"}, bad), SetupError);  // no --server
  REQUIRE_THROWS_AS(parse({"--server", "h:1", "--room", "a=0123456789abcdef", "--room",
                           "b=0123456789abcdef", "--jammers", "1"},
                          bad),
                    SetupError);
  REQUIRE_THROWS_AS(
      parse({"--server", "h:1", "--room", "a=0123456789abcdef", "--frames", "100"}, bad),
      SetupError);
  REQUIRE_THROWS_AS(parse({"--server", "h:1", "--room", "a=0123456789abcdef", "--room",
                           "a=0123456789abcdef", "--jammers", "2"},
                          bad),
                    SetupError);
  REQUIRE_THROWS_AS(
      parse({"--server", "h:1", "--room", "a=0123456789abcdef", "--amplitude", "0"}, bad),
      SetupError);
  REQUIRE_THROWS_AS(
      parse({"--server", "h:1", "--room", "a=0123456789abcdef", "--amplitude", "1.5"}, bad),
      SetupError);
  REQUIRE_THROWS_AS(
      parse({"--server", "h:1", "--room", "a=0123456789abcdef", "--send-only", "--junk-rate", "10"},
            bad),
      SetupError);
  jambox::loadgen::Options help;
  REQUIRE_FALSE(parse({"--help"}, help));
}

TEST_CASE("every kind of junk is refused for the reason it stands for", "[loadgen]") {
  // A legitimate packet of session 42, as a member would send it.
  crypto::Key up_key{};
  up_key.fill(7);
  crypto::Aead up(up_key);
  wire::Header header;
  header.type = wire::PacketType::audio;
  header.format = wire::SampleFormat::s16;
  header.channels = 2;
  header.frames = 64;
  header.payload_len =
      static_cast<std::uint16_t>(wire::audio_payload_size(64, 2, wire::SampleFormat::s16));
  header.session_id = 42;
  header.sequence = 1000;
  header.time_us = 123456;
  std::vector<std::uint8_t> legit(wire::kMaxDatagram);
  legit.resize(wire::seal_in_place(header, up, legit));

  const std::string room = "main";
  const std::string secret = "the-real-secret-of-main";
  wire::ClientSession impostor(room, "a-wrong-secret-for-main", wire::AudioShape{});
  std::vector<std::uint8_t> bad_join(wire::kMaxDatagram);
  bad_join.resize(impostor.make_join(bad_join));
  crypto::Aead join_key(wire::derive_join_key(room, secret));

  JunkGenerator generator(1234, {42, 43}, {bad_join});
  std::vector<std::uint8_t> out(wire::kMaxDatagram);

  for (int round = 0; round < 50; ++round) {
    wire::PacketView view;
    const auto make = [&](JunkKind kind, std::span<const std::uint8_t> captured) {
      const std::size_t size = generator.make(kind, captured, out);
      REQUIRE(size >= 1);
      REQUIRE(size <= wire::kMaxDatagram);
      return std::span<const std::uint8_t>(out.data(), size);
    };

    REQUIRE(wire::decode(make(JunkKind::random_bytes, legit), view) != wire::Reject::none);

    const auto truncated = wire::decode(make(JunkKind::truncated, legit), view);
    REQUIRE((truncated == wire::Reject::short_packet || truncated == wire::Reject::bad_length));

    REQUIRE(wire::decode(make(JunkKind::bad_magic, legit), view) == wire::Reject::bad_magic);
    REQUIRE(wire::decode(make(JunkKind::bad_version, legit), view) == wire::Reject::bad_version);

    REQUIRE(wire::decode(make(JunkKind::unknown_session, legit), view) == wire::Reject::none);
    REQUIRE(view.header.session_id != 42);
    REQUIRE(view.header.session_id != 43);
    REQUIRE(view.header.session_id != 0);

    REQUIRE(wire::decode(make(JunkKind::spoofed, legit), view) == wire::Reject::none);
    REQUIRE(view.header.session_id == 42);
    REQUIRE(view.header.sequence > 1000);
    REQUIRE_FALSE(wire::verify(view, up));

    const auto replayed = make(JunkKind::replayed, legit);
    REQUIRE(std::equal(replayed.begin(), replayed.end(), legit.begin(), legit.end()));

    REQUIRE(wire::decode(make(JunkKind::bad_join, legit), view) == wire::Reject::none);
    REQUIRE(view.header.type == wire::PacketType::join);
    REQUIRE_FALSE(wire::verify(view, join_key));

    // Before anything was captured the generator forges packets for real members instead.
    REQUIRE(wire::decode(make(JunkKind::spoofed, {}), view) == wire::Reject::none);
    REQUIRE((view.header.session_id == 42 || view.header.session_id == 43));
    REQUIRE(wire::decode(make(JunkKind::bad_magic, {}), view) == wire::Reject::bad_magic);
  }
}
