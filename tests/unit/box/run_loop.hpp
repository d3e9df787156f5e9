#pragma once
// Driving a test's Asio loop until a condition holds (shared by the link tests).

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>

namespace jambox::box::test {

// Runs the loop until `done` holds or `timeout` passes; returns `done()`.
inline bool run_until(boost::asio::io_context& io, const std::function<bool()>& done,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_for(std::chrono::milliseconds(10));
  }
  return done();
}

}  // namespace jambox::box::test
