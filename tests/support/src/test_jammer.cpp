#include <jambox/system/process.hpp>
#include <jambox/test/test_jammer.hpp>

#include <algorithm>
#include <cmath>
#include <numbers>

namespace jambox::test {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr milliseconds kJoinRetry{200};

milliseconds until(Clock::time_point deadline) {
  return std::max(milliseconds(0),
                  std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
}

}  // namespace

std::string_view event_name(TestJammer::Event event) noexcept {
  switch (event) {
    case TestJammer::Event::rejected:
      return "rejected";
    case TestJammer::Event::welcomed:
      return "welcomed";
    case TestJammer::Event::notice:
      return "notice";
    case TestJammer::Event::audio:
      return "audio";
    case TestJammer::Event::echo:
      return "echo";
  }
  return "unknown";
}

TestJammer::TestJammer(std::string_view room, std::string_view secret, const Endpoint& server,
                       wire::AudioShape shape)
    : session_(room, secret, shape),
      server_(server),
      socket_(server.family()),
      ch1_(shape.frames),
      ch2_(shape.frames) {
  // A quiet 440 Hz tone: recognisable when a capture is listened to, never clipping.
  for (std::size_t i = 0; i < ch1_.size(); ++i) {
    const double phase = 2.0 * std::numbers::pi * 440.0 * static_cast<double>(i) / 48000.0;
    ch1_[i] = static_cast<float>(0.25 * std::sin(phase));
    ch2_[i] = -ch1_[i];
  }
}

TestJammer::JoinResult TestJammer::join(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  auto next_join = Clock::now();
  for (;;) {
    if (Clock::now() >= next_join) {
      const std::size_t size = session_.make_join(out_);
      socket_.send_to(server_, std::span<const std::uint8_t>(out_.data(), size));
      next_join += kJoinRetry;
    }
    const auto wait_until = std::min(next_join, deadline);
    const auto received = receive(until(wait_until));
    if (received) {
      if (received->event == Event::welcomed) return JoinResult::welcomed;
      if (received->event == Event::notice && received->notice == wire::NoticeCode::room_full) {
        return JoinResult::room_full;
      }
    }
    if (Clock::now() >= deadline) return JoinResult::no_answer;
  }
}

bool TestJammer::join_as_member(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  if (join(timeout) != JoinResult::welcomed) return false;
  while (Clock::now() < deadline) {
    const std::uint32_t sequence = send_keepalive();
    const auto wait_until = std::min(deadline, Clock::now() + kJoinRetry);
    if (receive_echo(sequence, until(wait_until))) return true;
  }
  return false;
}

std::size_t TestJammer::send_sealed(std::size_t size, std::uint64_t now_us) {
  const std::span<const std::uint8_t> datagram(out_.data(), size);
  socket_.send_to(server_, datagram);
  std::copy(datagram.begin(), datagram.end(), last_sent_.begin());
  last_sent_size_ = size;
  last_sent_time_us_ = now_us;
  return size;
}

std::uint32_t TestJammer::send_audio() {
  const std::uint32_t sequence = session_.next_sequence();
  const std::uint64_t now = system::monotonic_us();
  send_sealed(session_.make_audio(ch1_, ch2_, now, out_), now);
  return sequence;
}

std::uint32_t TestJammer::send_keepalive() {
  const std::uint32_t sequence = session_.next_sequence();
  const std::uint64_t now = system::monotonic_us();
  send_sealed(session_.make_keepalive(now, out_), now);
  return sequence;
}

std::uint32_t TestJammer::send_leave() {
  const std::uint32_t sequence = session_.next_sequence();
  const std::uint64_t now = system::monotonic_us();
  send_sealed(session_.make_leave(now, out_), now);
  return sequence;
}

void TestJammer::send_raw(std::span<const std::uint8_t> datagram) {
  socket_.send_to(server_, datagram);
}

std::optional<TestJammer::Received> TestJammer::receive(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    Endpoint from;
    const auto size = socket_.receive(in_, until(deadline), &from);
    if (!size) return std::nullopt;
    if (!(from == server_)) {
      ++foreign_;
      continue;
    }
    Received result;
    result.size = *size;
    result.received_us = system::monotonic_us();
    const std::span<const std::uint8_t> datagram(in_.data(), *size);
    wire::PacketView view;
    result.event = session_.receive(datagram, result.received_us, view);
    if (result.event == Event::rejected) {
      result.reject = session_.last_reject();
      wire::PacketView decoded;
      if (wire::decode(datagram, decoded) == wire::Reject::none) result.header = decoded.header;
    } else {
      result.header = view.header;
      result.payload.assign(view.payload.begin(), view.payload.end());
    }
    if (result.event == Event::notice) result.notice = session_.last_notice();
    return result;
  }
}

std::optional<TestJammer::Received> TestJammer::receive_event(Event event, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    auto received = receive(until(deadline));
    if (!received) return std::nullopt;
    if (received->event == event) return received;
  }
}

std::optional<TestJammer::Received> TestJammer::receive_echo(std::uint32_t sequence,
                                                             milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    auto received = receive_event(Event::echo, until(deadline));
    if (!received) return std::nullopt;
    if (received->header.sequence == sequence) return received;
  }
}

std::vector<TestJammer::Received> TestJammer::drain(milliseconds quiet) {
  std::vector<Received> result;
  while (auto received = receive(quiet)) result.push_back(*received);
  return result;
}

void TestJammer::rebind() {
  socket_ = UdpSocket(server_.family());
}

}  // namespace jambox::test
