#pragma once
// Command-line plumbing shared by jambox-jack-play and jambox-jack-record.

#include <jambox/jack/client.hpp>
#include <jambox/jacktest/signal.hpp>

#include <boost/program_options.hpp>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace jambox::jacktest::tool {

// Exit codes: 0 done, 1 JACK or I/O trouble, 64 bad command line (EX_USAGE).
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 64;

// Set by SIGINT/SIGTERM; the tools finish early and still print their JSON line.
extern std::atomic<bool> g_interrupted;
void install_signal_handlers();

// --server, --name, --port (1..2), --seconds, --wait and the signal options.
void add_common_options(boost::program_options::options_description& options,
                        const std::string& default_name);
// `default_signal`: "noise" for the player, "none" (no analysis) for the recorder.
void add_signal_options(boost::program_options::options_description& options,
                        const std::string& default_signal);

// nullopt for --signal none. Throws std::invalid_argument with a plain message for bad values.
[[nodiscard]] std::optional<SignalSpec> signal_from(
    const boost::program_options::variables_map& vm);
[[nodiscard]] std::vector<std::string> ports_from(const boost::program_options::variables_map& vm);

// Activates the client and connects its configured ports, retrying quietly until `timeout`:
// the other side may not exist or be active yet (JACK refuses connections to inactive clients).
// Returns the first port still unconnected at the end (logged), empty when all are connected.
[[nodiscard]] std::string start_and_connect(jack::Client& client,
                                            std::chrono::milliseconds timeout);

}  // namespace jambox::jacktest::tool
