#include <jambox/test/managed.hpp>
#include <jambox/test/mosquitto.hpp>
#include <jambox/test/temp_dir.hpp>
#include <jambox/test/text.hpp>

#include <catch2/catch.hpp>

#include <unistd.h>

#include <sstream>
#include <thread>

namespace jambox::test {

using nlohmann::json;
using namespace std::chrono_literals;

std::unique_ptr<Process> start_managed_box(const TempDir& dir, const MosquittoBroker& broker,
                                           const std::string& key,
                                           const ManagedBoxOptions& options) {
  // A JACK server name of this test process alone: no jackd of another test answers to it.
  const std::string jack_server =
      options.jack_server.empty() ? "no-jack-" + std::to_string(::getpid()) : options.jack_server;
  std::ostringstream c;
  c << "[audio]\n"
    << "client_name = \"" << key << "\"\n"
    << "server_name = \"" << jack_server << "\"\n"
    << "capture = [\"\", \"\"]\n"
    << "playback = [\"\", \"\"]\n"
    << "monitor = false\n"
    << "[mqtt]\n"
    << "enabled = true\n"
    << "broker = \"" << broker.uri() << "\"\n"
    << "player_key = \"" << key << "\"\n"
    << "ca_file = \"" << broker.ca().string() << "\"\n"
    << "cert_file = \"" << broker.cert(key).string() << "\"\n"
    << "key_file = \"" << broker.key(key).string() << "\"\n"
    << "status_interval_s = 5\n"
    << options.extra_mqtt
    // The test's own folder for boards: a test box never touches /var/lib/jambox.
    << "\n[effects]\nboards_dir = \"" << (dir.path() / (key + "-boards")).string() << "\"\n";
  const auto conf = dir.write_file(key + ".conf", c.str());
  return spawn_built(dir.path(), "jamboxd", {"--config", conf.string()}, key);
}

std::string room_server_mqtt(const MosquittoBroker& broker) {
  return "[mqtt]\nenabled = true\nbroker = \"" + broker.uri() + "\"\nca_file = \"" +
         broker.ca().string() + "\"\ncert_file = \"" + broker.cert("jambox-broadcast").string() +
         "\"\nkey_file = \"" + broker.key("jambox-broadcast").string() +
         "\"\npublic_endpoint = \"127.0.0.1\"\n";
}

ServerSpec relaying_room_server(const MosquittoBroker& broker, const std::string& room) {
  ServerSpec spec;
  spec.rooms = {{room, random_secret(), 0}};
  spec.log_level = "info";
  spec.extra = room_server_mqtt(broker);
  return spec;
}

control::AdminConfig admin_config(const MosquittoBroker& broker) {
  control::AdminConfig c;
  c.broker = broker.uri();
  c.tls = {broker.ca(), broker.cert("jamboxctl"), broker.key("jamboxctl")};
  return c;
}

bool box_answers(control::AdminClient& admin, const std::string& key,
                 std::chrono::milliseconds within) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto ack = admin.command(key, "ping", json::object(), 1s);
    if (ack && ack->value("status", "") == "ok") return true;
  }
  return false;
}

void connect_to_boxes(control::AdminClient& admin, const std::vector<std::string>& keys) {
  std::string why;
  const bool connected = admin.connect(10s, why);
  INFO("admin client: " << why);
  REQUIRE(connected);
  for (const std::string& key : keys) {
    INFO(key);
    REQUIRE(box_answers(admin, key));
  }
}

std::optional<json> status_until(control::AdminClient& admin, const std::string& key,
                                 const std::function<bool(const json&)>& accept,
                                 std::chrono::milliseconds within, const AckCheck& check) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  std::optional<json> last;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto ack = admin.command(key, "get_status", json::object(), 5s);
    if (ack && ack->value("status", "") == "ok") {
      const auto result = ack->find("result");
      if (result != ack->end() && result->is_object()) {
        if (check) check(*ack);
        last = *result;
        if (accept(*last)) return last;
      }
    }
    std::this_thread::sleep_for(200ms);
  }
  if (last) UNSCOPED_INFO(key << "'s last status: " << tail(last->dump(), 3000));
  return std::nullopt;
}

std::map<std::uint64_t, std::uint64_t> received_by_remote(const json& status) {
  std::map<std::uint64_t, std::uint64_t> result;
  const auto remotes = status.find("remotes");
  if (remotes == status.end() || !remotes->is_array()) return result;
  for (const auto& remote : *remotes) {
    if (!remote.is_object()) continue;
    const auto id = remote.find("session_id");
    const auto received = remote.find("received");
    if (id == remote.end() || received == remote.end() || !id->is_number_unsigned() ||
        !received->is_number_unsigned()) {
      continue;
    }
    result[id->get<std::uint64_t>()] = received->get<std::uint64_t>();
  }
  return result;
}

}  // namespace jambox::test
