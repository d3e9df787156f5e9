// jambox-message-bench: what the limited, typed reading of peer messages (lib/message) costs
// against the plain nlohmann::json::parse it replaced, side by side in one run, and what a
// hostile message costs to refuse. For each case: the median over several runs of ns per
// message. Prints exactly one JSON line.
//
//   jambox-message-bench [--runs N] [--iterations N]

#include <jambox/message/messages.hpp>
#include <jambox/message/text.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
namespace message = jambox::message;

double median_ns(const std::function<void()>& work, int runs, int iterations) {
  std::vector<double> per_message;
  for (int r = 0; r < runs; ++r) {
    const auto start = Clock::now();
    for (int i = 0; i < iterations; ++i) work();
    const std::chrono::duration<double, std::nano> took = Clock::now() - start;
    per_message.push_back(took.count() / iterations);
  }
  std::sort(per_message.begin(), per_message.end());
  return per_message[per_message.size() / 2];
}

volatile std::size_t sink = 0;  // keeps the results alive

}  // namespace

int main(int argc, char** argv) {
  int runs = 7;
  int iterations = 20000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (flag == "--runs") runs = std::atoi(argv[i + 1]);
    if (flag == "--iterations") iterations = std::atoi(argv[i + 1]);
  }
  if (runs < 1 || iterations < 1) {
    std::fprintf(stderr, "usage: %s [--runs N] [--iterations N]\n", argv[0]);
    return 64;
  }
  const std::string command =
      R"({"command_id":"6f1c2a5e-8d4e-4b6a-9f21-3e5d6c7b8a90","command_type":"set_gain",)"
      R"("payload":{"remote":3,"gain_db":-6.5},"timestamp":1765000000})";
  const std::string transport =
      R"({"event":"update","host":"7c1f3a52-8d4e-4b6a-9f21-3e5d6c7b8a90","tempo_bpm":120,)"
      R"("metronome":true,"playing":false,"queue":["one","two","three"],"timestamp":1765000000})";
  const std::string deep =
      R"({"event":"update","x":)" + std::string(60000, '[') + std::string(60000, ']') + "}";

  const double plain_command =
      median_ns([&] { sink = sink + nlohmann::json::parse(command, nullptr, false).size(); }, runs,
                iterations);
  const double typed_command =
      median_ns([&] { sink = sink + message::parse_command(command).index(); }, runs, iterations);
  const double plain_transport =
      median_ns([&] { sink = sink + nlohmann::json::parse(transport, nullptr, false).size(); },
                runs, iterations);
  const double typed_transport = median_ns(
      [&] {
        message::ParseError e;
        sink = sink + message::parse_transport(transport, "7c1f3a52-8d4e-4b6a-9f21-3e5d6c7b8a90", e)
                          .has_value();
      },
      runs, iterations);
  const int deep_iterations = std::max(1, iterations / 1000);
  const double refuse_deep = median_ns(
      [&] {
        message::ParseError e;
        sink = sink + message::parse_object(deep, message::command_limits(), e).has_value();
      },
      runs, deep_iterations);
  std::printf(
      "{\"bench\":\"message\",\"runs\":%d,\"iterations\":%d,"
      "\"command_plain_ns\":%.0f,\"command_typed_ns\":%.0f,\"command_ratio\":%.2f,"
      "\"transport_plain_ns\":%.0f,\"transport_typed_ns\":%.0f,\"transport_ratio\":%.2f,"
      "\"refuse_60000_deep_ns\":%.0f}\n",
      runs, iterations, plain_command, typed_command, typed_command / plain_command,
      plain_transport, typed_transport, typed_transport / plain_transport, refuse_deep);
  return 0;
}
