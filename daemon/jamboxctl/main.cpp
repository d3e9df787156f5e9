// jamboxctl: send commands to jambox boxes and watch them, over the broker, with the admin's
// own certificate (CN jamboxctl). docs/control-plane.md lists the commands.
//
//   jamboxctl [options] send KEY COMMAND [--FIELD VALUE]...   waits for the ack
//   jamboxctl [options] status KEY                            the box's status now
//   jamboxctl [options] watch KEY                             live status and meters
//   jamboxctl [options] rooms                                 which box is in which room
//   jamboxctl [options] chat ROOM MESSAGE                     a message to a room's chat
//   jamboxctl [options] user add|grant|revoke|remove|password|list ...   musicians' accounts
//
// Exit status: 0 done, 1 the box refused the command, 64 bad command line, 69 no broker or no
// answer, 78 unusable certificate or key.

#include "user.hpp"
#include <jambox/control/admin.hpp>
#include <jambox/control/topics.hpp>
#include <jambox/log/log.hpp>
#include <jambox/message/chat.hpp>
#include <jambox/tuner/tuner.hpp>
#include <jambox/version.hpp>

#include <boost/program_options.hpp>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace po = boost::program_options;
namespace control = jambox::control;
using nlohmann::json;

namespace {

constexpr int kExitRefused = 1;
constexpr int kExitUsage = 64;
constexpr int kExitUnavailable = 69;
constexpr int kExitConfig = 78;

volatile std::sig_atomic_t g_stop = 0;

// Ends the program once the broker session is closed. Paho C 1.3.12's threads outlive the
// client and can race the library's teardown at process exit (a rare crash seen under ASan), so
// the process ends here, without destroying the client or running exit handlers.
[[noreturn]] void leave(int code) {
  std::cout.flush();
  std::cerr.flush();
  std::_Exit(code);
}

void usage(std::ostream& out, const po::options_description& options) {
  out << "Usage: jamboxctl [options] send KEY COMMAND [--FIELD VALUE]...\n"
         "       jamboxctl [options] status KEY\n"
         "       jamboxctl [options] watch KEY\n"
         "       jamboxctl [options] rooms\n"
         "       jamboxctl [options] chat ROOM MESSAGE\n"
         "       jamboxctl [options] user add NAME [--box KEY]... [--admin] [--password-file F]\n"
         "       jamboxctl [options] user grant NAME KEY | revoke NAME KEY | remove NAME\n"
         "       jamboxctl [options] user password NAME | list\n\n"
         "Sends commands to jambox boxes and shows their status, over the MQTT broker.\n"
         "Values of --FIELD are JSON when they parse as JSON (numbers, true, false), else "
         "strings:\n  jamboxctl send 5f0c... set_master --gain_db -6\n"
         "  jamboxctl send 5f0c... join_room --room band        (a room server admits the box;\n"
         "                                                    waits for the outcome, up to 35 s)\n"
         "  jamboxctl send 5f0c... join_room --server 192.0.2.10:7930 --room band --secret ...\n"
         "  jamboxctl send 5f0c... insert_pedal --channel 1 --uri "
         "http://guitarix.sourceforge.net/plugins/gxts9#ts9sim\n"
         "  jamboxctl send 5f0c... set_pedal_param --channel 1 --position 1 --symbol fslider2_ "
         "--value 0.5\n\n"
      << options
      << "\nExit status: 0 done, 1 refused by the box, 64 bad command line, 69 no broker or no "
         "answer,\n78 unusable certificate or key.\n";
}

// --name value pairs after COMMAND -> the payload object.
bool payload_of(const std::vector<std::string>& words, json& payload, std::string& error) {
  payload = json::object();
  for (std::size_t i = 0; i < words.size(); i += 2) {
    const std::string& flag = words[i];
    if (flag.size() < 3 || flag.rfind("--", 0) != 0) {
      error = "expected --FIELD VALUE, got '" + flag + "'";
      return false;
    }
    if (i + 1 >= words.size()) {
      error = flag + " needs a value";
      return false;
    }
    json value = json::parse(words[i + 1], nullptr, false);
    if (value.is_discarded() || value.is_object() || value.is_array()) value = words[i + 1];
    payload[flag.substr(2)] = value;
  }
  return true;
}

void print_ack(const json& ack, bool as_json) {
  if (as_json) {
    std::cout << ack.dump() << "\n";
    return;
  }
  const std::string status = ack.value("status", "?");
  if (status == "ok") {
    std::cout << "ok";
    if (ack.contains("result")) std::cout << " " << ack["result"].dump(2);
    std::cout << "\n";
    return;
  }
  std::cout << status << ": " << ack.value("error_code", json("?")).get<std::string>() << ": "
            << ack.value("error", json("")).get<std::string>() << "\n";
}

std::string meter_bar(double dbfs) {
  const int width = static_cast<int>(std::max(0.0, std::min(40.0, (dbfs + 60.0) * 40.0 / 60.0)));
  return std::string(static_cast<std::size_t>(width), '#') +
         std::string(static_cast<std::size_t>(40 - width), ' ');
}

// The status's pedalboard: "board 1: GxCompressor > [GxTubeScreamer] (load 4 %)", bypassed
// pedals in brackets.
void print_board(const json& status) {
  const json board = status.value("board", json());
  if (!board.is_object() || !board.contains("channels") || !board["channels"].is_array()) return;
  int number = 0;
  for (const json& channel : board["channels"]) {
    ++number;
    if (!channel.is_object() || !channel.contains("pedals") || !channel["pedals"].is_array() ||
        channel["pedals"].empty()) {
      continue;
    }
    std::cout << "board " << number << ":";
    const char* separator = " ";
    for (const json& pedal : channel["pedals"]) {
      if (!pedal.is_object()) continue;
      const json name = pedal.value("name", json("?"));
      const std::string text = name.is_string() ? name.get<std::string>() : "?";
      const bool bypassed = pedal.value("bypassed", json(false)) == json(true);
      std::cout << separator << (bypassed ? "[" + text + "]" : text);
      separator = " > ";
    }
    const json load = channel.value("load", json(0.0));
    std::cout << " (load "
              << static_cast<int>(100.0 * (load.is_number() ? load.get<double>() : 0.0)) << " %"
              << (channel.value("overloaded", json(false)) == json(true) ? ", OVERLOADED: bypassed"
                                                                         : "")
              << ")\n";
  }
}

// join_room without a server, and create_room: the box asks the room servers, and its ack only
// says so. Follow the box's status until that request is answered (the box gives up after 30 s
// itself), so the admin sees the outcome and the exit status tells it. Returns the final admission
// object, or null when the box stopped answering.
json follow_admission(control::AdminClient& client, const std::string& player,
                      const std::string& request_id) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(35);
  while (std::chrono::steady_clock::now() < deadline) {
    const auto status =
        client.command(player, "get_status", json::object(), std::chrono::seconds(5));
    if (!status || status->value("status", "") != "ok") return nullptr;
    const json admission = (*status)["result"].value("admission", json());
    if (admission.is_object() && admission.value("request_id", json()) == request_id &&
        admission.value("state", json()) != "requested") {
      return admission;
    }
    // Slow enough to stay far below the box's command rate limit for the whole 35 s.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  return nullptr;
}

// The tuner readings a meters message carries (set_tuner): "tuner 1: A2 +0.4 cents (110.03 Hz)".
// A box's document: a field of the wrong type ends its line, never the watch; the note is shown
// only as one of the twelve names.
void print_tuner(const json& doc) {
  const auto it = doc.find("tuner");
  if (it == doc.end() || !it->is_array()) return;
  for (const json& t : *it) {
    if (!t.is_object()) continue;
    try {
      std::ostringstream line;
      line << "tuner " << t.value("input", 0) << ": ";
      const std::string note = t.value("note", std::string());
      if (t.value("settling", false)) {
        line << "listening...";
      } else if (!t.value("pitch", false) ||
                 std::find(jambox::tuner::kNoteNames.begin(), jambox::tuner::kNoteNames.end(),
                           note) == jambox::tuner::kNoteNames.end()) {
        line << "no pitch";
      } else {
        line << note << t.value("octave", 0) << " " << std::showpos << std::fixed
             << std::setprecision(1) << t.value("cents", 0.0) << std::noshowpos << " cents ("
             << std::setprecision(2) << t.value("frequency_hz", 0.0) << " Hz)";
      }
      std::cout << line.str() << "\n";
    } catch (const json::exception&) {
      std::cout << "(unreadable tuner reading)\n";
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  jambox::log::init("jamboxctl");
  jambox::log::set_level(jambox::log::Level::warning);
  control::AdminConfig config;
  std::string ca;
  std::string cert;
  std::string key_file;
  po::options_description options("Options");
  options.add_options()("broker", po::value(&config.broker)->default_value(config.broker),
                        "broker URI (ssl://HOST:PORT)")(
      "ca", po::value(&ca)->default_value(config.tls.ca.string()), "CA certificate")(
      "cert", po::value(&cert)->default_value(config.tls.cert.string()), "admin certificate")(
      "key", po::value(&key_file)->default_value(config.tls.key.string()),
      "its private key (0600)")(
      "identity", po::value(&config.identity)->default_value(config.identity),
      "the certificate's CN")("prefix", po::value(&config.prefix)->default_value(config.prefix),
                              "topic prefix")("timeout", po::value<double>()->default_value(10.0),
                                              "seconds to wait for the broker and for an ack")(
      "json", "machine-readable output (one JSON document per line)")(
      "web-dir", po::value<std::string>()->default_value("/etc/jambox/mosquitto"),
      "user: the web listener's password file, ACL and account list")(
      "broker-pid-file", po::value<std::string>()->default_value("/run/mosquitto/mosquitto.pid"),
      "user: the broker to reload after a change")(
      "password-file", po::value<std::string>()->default_value(""),
      "user add/password: read the password from this file's first line")("help", "show this help")(
      "version", "show the version");
  po::options_description hidden;
  hidden.add_options()("words", po::value<std::vector<std::string>>());
  po::options_description all;
  all.add(options).add(hidden);
  po::positional_options_description positional;
  positional.add("words", -1);

  po::variables_map args;
  std::vector<std::string> words;
  try {
    const auto parsed = po::command_line_parser(argc, argv)
                            .options(all)
                            .positional(positional)
                            .allow_unregistered()
                            .run();
    po::store(parsed, args);
    po::notify(args);
    // Command fields (--gain_db -6) are not options of ours: keep them, in order.
    words = po::collect_unrecognized(parsed.options, po::include_positional);
  } catch (const po::error& e) {
    std::cerr << "jamboxctl: " << e.what() << "\n";
    return kExitUsage;
  }
  if (args.count("help") != 0) {
    usage(std::cout, options);
    return 0;
  }
  if (args.count("version") != 0) {
    std::cout << "jamboxctl " << jambox::kVersion << "\n";
    return 0;
  }
  const bool as_json = args.count("json") != 0;
  const auto timeout = std::chrono::milliseconds(
      static_cast<long>(std::max(0.1, args["timeout"].as<double>()) * 1000.0));
  config.tls = {ca, cert, key_file};

  if (!words.empty() && words[0] == "user") {
    jambox::ctl::UserOptions user;
    user.paths.dir = args["web-dir"].as<std::string>();
    user.paths.prefix = config.prefix;
    user.paths.broker_pid_file = args["broker-pid-file"].as<std::string>();
    user.password_file = args["password-file"].as<std::string>();
    user.as_json = as_json;
    return jambox::ctl::run_user(words, user);
  }

  const bool rooms_verb = words.size() == 1 && words[0] == "rooms";
  const bool chat_verb = words.size() == 3 && words[0] == "chat";
  if (!rooms_verb && !chat_verb &&
      (words.size() < 2 || (words[0] == "send" && words.size() < 3) ||
       (words[0] != "send" && words[0] != "status" && words[0] != "watch"))) {
    usage(std::cerr, options);
    return kExitUsage;
  }
  // chat ROOM MESSAGE: checked here as the room server will read it, so a refusal is seen now.
  std::string chat_text;
  if (chat_verb) {
    if (!control::valid_topic_level(words[1])) {
      std::cerr << "jamboxctl: chat: '" << words[1] << "' is not a room name\n";
      return kExitUsage;
    }
    chat_text = json{{"text", words[2]}}.dump(-1, ' ', false, json::error_handler_t::replace);
    const auto parsed = jambox::message::parse_chat(chat_text);
    if (const auto* refused = std::get_if<jambox::message::ChatRefusal>(&parsed)) {
      std::cerr << "jamboxctl: chat: " << refused->error << "\n";
      return kExitUsage;
    }
  }
  const std::string verb = words[0];
  const std::string player = rooms_verb ? std::string() : words[1];
  json payload = json::object();
  if (verb == "send") {
    std::string error;
    if (!payload_of({words.begin() + 3, words.end()}, payload, error)) {
      std::cerr << "jamboxctl: " << error << "\n";
      return kExitUsage;
    }
  }

  if (config.broker.rfind("tcp://", 0) != 0) {
    try {
      static_cast<void>(
          control::check_identity(config.tls, config.identity, std::chrono::system_clock::now()));
    } catch (const control::IdentityError& e) {
      std::cerr << "jamboxctl: " << e.what() << "\n";
      return kExitConfig;
    }
  }

  // Never destroyed: the process ends through leave() once the session is closed.
  control::AdminClient& client = *new control::AdminClient(config);
  std::string why;
  if (!client.connect(timeout, why)) {
    std::cerr << "jamboxctl: cannot use the broker at " << config.broker << ": " << why << "\n";
    leave(kExitUnavailable);
  }

  if (verb == "chat") {
    // The room server publishes it to every box in the room, "from": "admin".
    const bool sent =
        client.publish(control::admin_chat(config.prefix, player), chat_text, timeout);
    client.disconnect();
    if (!sent) {
      std::cerr << "jamboxctl: the broker did not take the message within "
                << static_cast<double>(timeout.count()) / 1000.0 << " s\n";
      leave(kExitUnavailable);
    }
    if (!as_json) std::cout << "sent to room " << player << "\n";
    leave(0);
  }

  if (verb == "rooms") {
    // The boxes' retained states: online boxes by room, then the ones in no room or offline.
    const auto states = client.states(std::chrono::milliseconds(1000));
    client.disconnect();
    std::map<std::string, std::vector<std::string>> rooms;
    std::vector<std::string> idle;
    for (const auto& [key, state] : states) {
      if (state.value("online", false) && state.contains("room") && state["room"].is_string()) {
        rooms[state["room"].get<std::string>()].push_back(key);
      } else {
        idle.push_back(key + (state.value("online", false) ? "" : " (offline)"));
      }
    }
    if (as_json) {
      std::cout << json{{"rooms", rooms}, {"not_in_a_room", idle}}.dump() << "\n";
      leave(0);
    }
    for (const auto& [room, keys] : rooms) {
      std::cout << room << ":";
      for (const auto& key : keys) std::cout << " " << key;
      std::cout << "\n";
    }
    if (!idle.empty()) {
      std::cout << "(no room):";
      for (const auto& key : idle) std::cout << " " << key;
      std::cout << "\n";
    }
    leave(0);
  }

  if (verb == "send" || verb == "status") {
    const std::string type = verb == "send" ? words[2] : "get_status";
    auto ack = client.command(player, type, payload, timeout);
    bool admitted = true;
    // join_room by ticket and create_room are answered by a room server after the ack.
    if (ack && (type == "join_room" || type == "create_room") && ack->value("status", "") == "ok" &&
        (*ack)["result"].value("admission", json()) == "requested" &&
        (*ack)["result"].value("request_id", json()).is_string()) {
      const std::string request_id = (*ack)["result"]["request_id"];
      if (!as_json) std::cout << "asked the room servers (request " << request_id << ")\n";
      json outcome = follow_admission(client, player, request_id);
      if (outcome.is_null()) {
        outcome = {{"state", "unknown"}, {"error", "the box stopped answering"}};
      }
      admitted = outcome.value("state", json()) == "admitted";
      (*ack)["result"]["admission"] = outcome;
      if (!as_json) {
        if (admitted) {
          std::cout << "admitted to room " << outcome.value("room", json("?")).dump() << "\n";
        } else {
          const auto text = [&](const char* key) {
            const json v = outcome.value(key, json());
            return v.is_string() ? v.get<std::string>() : std::string();
          };
          std::cout << "not admitted (" << text("state") << "): " << text("error_code") << ": "
                    << text("error") << "\n";
        }
        client.disconnect();
        leave(admitted ? 0 : kExitRefused);
      }
    }
    client.disconnect();
    if (!ack) {
      std::cerr << "jamboxctl: no answer from box " << player << " within "
                << static_cast<double>(timeout.count()) / 1000.0
                << " s (offline, or not this key)\n";
      leave(kExitUnavailable);
    }
    if (verb == "status" && ack->value("status", "") == "ok" && !as_json) {
      std::cout << (*ack)["result"].dump(2) << "\n";
    } else {
      print_ack(*ack, as_json);
    }
    leave(ack->value("status", "") == "ok" && admitted ? 0 : kExitRefused);
  }

  // watch: status as it comes, meters at 250 ms (renewed before the box's 10 s lease ends).
  std::signal(SIGINT, [](int) { g_stop = 1; });
  std::signal(SIGTERM, [](int) { g_stop = 1; });
  auto last_renewal = std::chrono::steady_clock::now() - std::chrono::seconds(60);
  client.watch(
      player,
      [as_json](const std::string& kind, const json& doc) {
        if (as_json) {
          std::cout << json{{"kind", kind}, {"doc", doc}}.dump() << "\n" << std::flush;
          return;
        }
        if (kind == "status") {
          std::cout << "status: room " << doc.value("room", json("-")).dump() << ", "
                    << doc.value("members", 0) << " members, RTT " << doc.value("rtt_ms", 0.0)
                    << " ms, JACK " << doc["jack"].value("state", "?") << ", MQTT "
                    << doc.value("connection_state", "?") << "\n";
          print_board(doc);
        } else if (doc.contains("inputs")) {
          const double in1 = doc["inputs"][0].value("peak_dbfs", -120.0);
          const double master = doc["master"][0].value("peak_dbfs", -120.0);
          std::cout << "in  [" << meter_bar(in1) << "] " << static_cast<int>(in1) << " dBFS   out ["
                    << meter_bar(master) << "] " << static_cast<int>(master) << " dBFS\n";
          print_tuner(doc);
        }
        std::cout << std::flush;
      },
      [] { return g_stop != 0; },
      [&] {
        if (std::chrono::steady_clock::now() - last_renewal >= std::chrono::seconds(5)) {
          last_renewal = std::chrono::steady_clock::now();
          const auto ack = client.command(player, "set_meter_interval", {{"interval_ms", 250}},
                                          std::chrono::seconds(2));
          if (!ack && !as_json) std::cerr << "(box " << player << " does not answer)\n";
        }
      });
  client.disconnect();
  leave(0);
}
