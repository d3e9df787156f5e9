// jambox-broadcast: forwards each jammer's audio to the other members of its room.
// Command line, configuration and behaviour: docs/broadcast-server.md.

#include <jambox/broadcast/config.hpp>
#include <jambox/broadcast/service.hpp>
#include <jambox/config/config.hpp>
#include <jambox/log/log.hpp>
#include <jambox/version.hpp>

#include <boost/program_options.hpp>

#include <iostream>
#include <string>
#include <system_error>
#include <vector>

namespace po = boost::program_options;
namespace broadcast = jambox::broadcast;

namespace {

// sysexits.h
constexpr int kExitUsage = 64;     // EX_USAGE: bad command line
constexpr int kExitSoftware = 70;  // EX_SOFTWARE: unexpected failure
constexpr int kExitOsError = 71;   // EX_OSERR: the socket cannot be bound

// A TOML basic string, so --stats-file takes any path literally (even "123" or "true").
std::string toml_string(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

broadcast::ServerConfig load_and_warn(const std::string& file,
                                      const std::vector<std::string>& overrides) {
  broadcast::LoadedConfig loaded = broadcast::load_config_file(file, overrides);
  for (const auto& warning : loaded.warnings) jambox::log::warning("{}", warning);
  return std::move(loaded.config);
}

}  // namespace

int main(int argc, char** argv) {
  jambox::log::init(broadcast::kProgram);

  po::options_description options("Options");
  options.add_options()(
      "config", po::value<std::string>()->default_value(std::string(broadcast::kDefaultConfigFile)),
      "configuration file")("check-config",
                            "validate the configuration, print problems, exit 0 (valid) or 78")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "override a configuration value: SECTION.KEY=VALUE (repeatable)")(
      "stats-file", po::value<std::string>(), "shortcut for --set stats.file=PATH")(
      "help", "show this help and exit")("version", "show the version and exit");

  po::variables_map args;
  try {
    po::store(po::command_line_parser(argc, argv).options(options).run(), args);
    po::notify(args);
  } catch (const po::error& e) {
    std::cerr << broadcast::kProgram << ": " << e.what() << "\nTry '" << broadcast::kProgram
              << " --help'.\n";
    return kExitUsage;
  }
  if (args.count("help") != 0) {
    std::cout << "Usage: " << broadcast::kProgram
              << " [--config FILE] [--check-config] [--set SECTION.KEY=VALUE]... "
                 "[--stats-file PATH]\n\n"
                 "The jambox room server: forwards each jammer's audio to the other members of "
                 "its room.\n\n"
              << options
              << "\nExit status: 0 stopped by SIGTERM/SIGINT, 64 bad command line, 70 unexpected "
                 "failure,\n71 the socket cannot be bound, 78 configuration error.\n";
    return 0;
  }
  if (args.count("version") != 0) {
    std::cout << broadcast::kProgram << " " << jambox::kVersion << "\n";
    return 0;
  }

  const std::string file = args["config"].as<std::string>();
  std::vector<std::string> overrides;
  if (args.count("set") != 0) overrides = args["set"].as<std::vector<std::string>>();
  if (args.count("stats-file") != 0) {
    overrides.push_back("stats.file=" + toml_string(args["stats-file"].as<std::string>()));
  }

  if (args.count("check-config") != 0) {
    // Plain stderr/stdout, not the log: this is a command an administrator reads.
    try {
      const broadcast::LoadedConfig loaded = broadcast::load_config_file(file, overrides);
      for (const auto& warning : loaded.warnings) std::cerr << "warning: " << warning << "\n";
      std::cout << "configuration OK: " << file << "\n";
      return 0;
    } catch (const jambox::config::ConfigError& e) {
      std::cerr << e.what() << "\n";
      return jambox::config::kExitConfig;
    } catch (const std::exception& e) {
      std::cerr << file << ": " << e.what() << "\n";
      return jambox::config::kExitConfig;
    }
  }

  broadcast::ServerConfig config;
  try {
    config = load_and_warn(file, overrides);
  } catch (const jambox::config::ConfigError& e) {
    jambox::log::error("{}", e.what());
    return jambox::config::kExitConfig;
  } catch (const std::exception& e) {
    jambox::log::error("{}: {}", file, e.what());
    return jambox::config::kExitConfig;
  }
  jambox::log::set_level(config.log_level);

  try {
    broadcast::Service service(std::move(config),
                               [file, overrides] { return load_and_warn(file, overrides); });
    return service.run();
  } catch (const std::system_error& e) {
    jambox::log::error("{}", e.what());
    return kExitOsError;
  } catch (const std::exception& e) {
    jambox::log::error("unexpected failure: {}", e.what());
    return kExitSoftware;
  }
}
