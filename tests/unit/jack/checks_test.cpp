#include <jambox/jack/checks.hpp>
#include <jambox/jack/supervisor.hpp>

#include <catch2/catch.hpp>
#include <jack/types.h>

#include <chrono>
#include <string>

using jambox::jack::ErrorKind;
using namespace std::chrono_literals;

namespace {
bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}
}  // namespace

TEST_CASE("only 48 kHz is accepted, and the refusal says what to change", "[jack]") {
  CHECK_FALSE(jambox::jack::check_sample_rate(48000, "default", "jamboxd"));
  const auto message = jambox::jack::check_sample_rate(44100, "studio", "jamboxd");
  REQUIRE(message);
  CHECK(contains(*message, "'studio'"));
  CHECK(contains(*message, "44100 Hz"));
  CHECK(contains(*message, "48000 Hz"));
  CHECK(contains(*message, "-r 48000"));
  CHECK(jambox::jack::check_sample_rate(96000, "x", "y"));
  CHECK(jambox::jack::check_sample_rate(0, "x", "y"));
}

TEST_CASE("periods 32..256 are accepted, others refused with the range", "[jack]") {
  for (std::uint32_t p : {32u, 64u, 128u, 256u, 48u}) {
    CHECK_FALSE(jambox::jack::check_period(p, "default", "jamboxd"));
  }
  for (std::uint32_t p : {0u, 16u, 31u, 257u, 512u, 1024u}) {
    const auto message = jambox::jack::check_period(p, "default", "jamboxd");
    REQUIRE(message);
    CHECK(contains(*message, std::to_string(p) + " frames"));
    CHECK(contains(*message, "32..256"));
    CHECK(contains(*message, "jack_bufsize 64"));
  }
}

TEST_CASE("period length in milliseconds", "[jack]") {
  CHECK(jambox::jack::period_ms(64) == Approx(1.3333).epsilon(1e-3));
  CHECK(jambox::jack::period_ms(48, 48000) == Approx(1.0));
  CHECK(jambox::jack::period_ms(64, 0) == 0.0);
}

TEST_CASE("the effective server name follows libjack's rules", "[jack]") {
  CHECK(jambox::jack::effective_server_name("box", "other") == "box");
  CHECK(jambox::jack::effective_server_name("", "other") == "other");
  CHECK(jambox::jack::effective_server_name("", "") == "default");
  CHECK(jambox::jack::effective_server_name("", nullptr) == "default");
}

TEST_CASE("failed opens are told in plain words and classified", "[jack]") {
  SECTION("no server") {
    const auto f =
        jambox::jack::describe_open_failure(JackFailure | JackServerFailed, "box", "jamboxd");
    CHECK(f.kind == ErrorKind::server_unavailable);
    CHECK(contains(f.message, "'box' is not running"));
  }
  SECTION("name in use") {
    const auto f =
        jambox::jack::describe_open_failure(JackFailure | JackNameNotUnique, "box", "jamboxd");
    CHECK(f.kind == ErrorKind::name_taken);
    CHECK(contains(f.message, "'jamboxd' already exists"));
  }
  SECTION("a server that answers but refuses (jackd2's reply to a duplicate exact name)") {
    const auto f =
        jambox::jack::describe_open_failure(JackFailure | JackServerError, "box", "jamboxd");
    CHECK(f.kind == ErrorKind::name_taken);
    CHECK(contains(f.message, "refused the client 'jamboxd'"));
    CHECK(contains(f.message, "already exists"));
  }
  SECTION("version mismatch") {
    const auto f = jambox::jack::describe_open_failure(
        JackFailure | JackVersionError | JackServerFailed, "box", "jamboxd");
    CHECK(f.kind == ErrorKind::setup_failed);
    CHECK(contains(f.message, "version"));
  }
  SECTION("shared memory") {
    const auto f = jambox::jack::describe_open_failure(JackFailure | JackShmFailure, "b", "j");
    CHECK(f.kind == ErrorKind::setup_failed);
    CHECK(contains(f.message, "shared memory"));
  }
  SECTION("other bits are listed") {
    const auto f =
        jambox::jack::describe_open_failure(JackFailure | JackInitFailure, "box", "jamboxd");
    CHECK(f.kind == ErrorKind::setup_failed);
    CHECK(contains(f.message, "initialisation failed"));
  }
  SECTION("unknown bits still give a message") {
    const auto f = jambox::jack::describe_open_failure(JackFailure, "box", "jamboxd");
    CHECK(f.kind == ErrorKind::setup_failed);
    CHECK(contains(f.message, "status 0x1"));
  }
}

TEST_CASE("backoff doubles up to the cap and resets", "[jack]") {
  jambox::jack::Backoff b(500ms, 8000ms);
  CHECK(b.next() == 500ms);
  CHECK(b.next() == 1000ms);
  CHECK(b.next() == 2000ms);
  CHECK(b.next() == 4000ms);
  CHECK(b.next() == 8000ms);
  CHECK(b.next() == 8000ms);
  CHECK(b.peek() == 8000ms);
  b.reset();
  CHECK(b.next() == 500ms);

  jambox::jack::Backoff odd(300ms, 1000ms);
  CHECK(odd.next() == 300ms);
  CHECK(odd.next() == 600ms);
  CHECK(odd.next() == 1000ms);
  CHECK(odd.next() == 1000ms);

  jambox::jack::Backoff inverted(500ms, 100ms);  // a cap below the start is raised to it
  CHECK(inverted.next() == 500ms);
  CHECK(inverted.next() == 500ms);
}

TEST_CASE("state names read well in status lines", "[jack]") {
  using jambox::jack::State;
  CHECK(jambox::jack::state_name(State::waiting) == "waiting for JACK");
  CHECK(jambox::jack::state_name(State::connected) == "connected");
  CHECK(jambox::jack::state_name(State::refused) == "refused by JACK");
  CHECK(jambox::jack::state_name(State::stopped) == "stopped");
}
