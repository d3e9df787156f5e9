#pragma once
// Waiting for something a test expects to happen. The bound only ends a failing test: it never
// stands for "long enough" (tests assert no timings), so it is generous.

#include <chrono>
#include <functional>

namespace jambox::test {

// Polls `done` every `poll` until it holds (true) or `timeout` has passed (false).
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout,
                std::chrono::milliseconds poll = std::chrono::milliseconds(10));

}  // namespace jambox::test
