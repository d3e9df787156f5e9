#pragma once
// Managed boxes and their room server for the control-plane tests: jamboxd managed over a test
// broker (mosquitto.hpp), jambox-broadcast admitting boxes by ticket over MQTT and relaying their
// rooms, and jamboxctl's AdminClient with the waits every such test needs. The waits only bound
// a failing test: they are generous and assert no timings.
//
// Failures go through Catch2 (REQUIRE), so only Catch2 tests link this.

#include <jambox/control/admin.hpp>
#include <jambox/test/process.hpp>
#include <jambox/test/server.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace jambox::test {

class MosquittoBroker;
class TempDir;

// Every member has a default, so a test names only what it changes ({.extra_mqtt = ...}).
struct ManagedBoxOptions {
  // The JACK server the box plays on; empty: a name no jackd uses, so the box runs without JACK
  // (its control plane works regardless).
  std::string jack_server{};
  // Appended to the box's [mqtt] table as it is (e.g. "commands_per_minute = 60\n").
  std::string extra_mqtt{};
};

// Writes <dir>/<key>.conf and starts jamboxd on it, managed over `broker` as player `key` (the
// broker's PKI must have its certificate); its output goes to <dir>/<key>.stdout/.stderr.
[[nodiscard]] std::unique_ptr<Process> start_managed_box(const TempDir& dir,
                                                         const MosquittoBroker& broker,
                                                         const std::string& key,
                                                         const ManagedBoxOptions& options = {});

// The [mqtt] table of a jambox-broadcast that admits boxes by ticket and relays their rooms: a
// box reads only its own topics (docs/control-plane.md).
[[nodiscard]] std::string room_server_mqtt(const MosquittoBroker& broker);

// A room server with one declared room `room` (a random secret) and room_server_mqtt(), logging
// at info (its debug lines, one per relayed message, would bury the rest).
[[nodiscard]] ServerSpec relaying_room_server(const MosquittoBroker& broker,
                                              const std::string& room = "band");

// jamboxctl's identity on `broker`.
[[nodiscard]] control::AdminConfig admin_config(const MosquittoBroker& broker);

// Pings `key` until it answers (a box connects in the background, and may be busy with what it
// was sent); false after `within`.
[[nodiscard]] bool box_answers(control::AdminClient& admin, const std::string& key,
                               std::chrono::milliseconds within = std::chrono::seconds(30));

// Connects `admin` and REQUIREs that every box of `keys` answers.
void connect_to_boxes(control::AdminClient& admin, const std::vector<std::string>& keys);

// Called with every get_status acknowledgement status_until() receives, for a test that holds
// them all to something (their size, say).
using AckCheck = std::function<void(const nlohmann::json& ack)>;

// The first status of `key` (get_status) that `accept`s; nullopt after `within`, with the last
// status seen in the failure message.
[[nodiscard]] std::optional<nlohmann::json> status_until(
    control::AdminClient& admin, const std::string& key,
    const std::function<bool(const nlohmann::json&)>& accept,
    std::chrono::milliseconds within = std::chrono::seconds(40), const AckCheck& check = {});

// Packets received per remote (by session id), from a box's status `remotes`.
[[nodiscard]] std::map<std::uint64_t, std::uint64_t> received_by_remote(
    const nlohmann::json& status);

}  // namespace jambox::test
