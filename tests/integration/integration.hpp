#pragma once
// Shared bits of the integration tests: generous waits (a slow, sanitized build on a busy
// machine must still pass) and a helper that admits a handful of jammers.

#include <jambox/test/server.hpp>
#include <jambox/test/stats.hpp>
#include <jambox/test/temp_dir.hpp>
#include <jambox/test/test_jammer.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace jambox::test {

inline constexpr std::chrono::milliseconds kWait{5000};  // for something that must happen
inline constexpr std::chrono::milliseconds kQuiet{300};  // for something that must not

using Jammers = std::vector<std::unique_ptr<TestJammer>>;

// `count` jammers of `room`, each admitted as a member (WELCOME, then the echo of a keepalive).
inline Jammers admit(const BroadcastServer& server, const std::string& room,
                     const std::string& secret, std::size_t count) {
  Jammers jammers;
  for (std::size_t i = 0; i < count; ++i) {
    auto jammer = std::make_unique<TestJammer>(room, secret, server.endpoint());
    INFO("jammer " << i << " of room " << room << "\nserver log:\n" << server.log());
    REQUIRE(jammer->join_as_member(kWait));
    jammers.push_back(std::move(jammer));
  }
  return jammers;
}

// The audio events in `received`.
inline std::size_t count_events(const std::vector<TestJammer::Received>& received,
                                TestJammer::Event event) {
  std::size_t n = 0;
  for (const auto& r : received) n += r.event == event ? 1 : 0;
  return n;
}

}  // namespace jambox::test
