// jamboxd: captures the player's inputs from JACK, sends them to the room on jambox-broadcast and
// plays the other jammers back. Configuration: config/jamboxd.conf.

#include <jambox/box/box.hpp>
#include <jambox/box/config.hpp>
#include <jambox/config/config.hpp>
#include <jambox/log/log.hpp>
#include <jambox/version.hpp>

#include <boost/program_options.hpp>

#include <iostream>
#include <string>
#include <system_error>
#include <vector>

namespace po = boost::program_options;
namespace box = jambox::box;

namespace {

constexpr int kExitUsage = 64;     // EX_USAGE
constexpr int kExitSoftware = 70;  // EX_SOFTWARE
constexpr int kExitOsError = 71;   // EX_OSERR: socket or eventfd cannot be created

}  // namespace

int main(int argc, char** argv) {
  jambox::log::init(box::kProgram);

  po::options_description options("Options");
  options.add_options()(
      "config", po::value<std::string>()->default_value(std::string(box::kDefaultConfigFile)),
      "configuration file")("check-config",
                            "validate the configuration, print problems, exit 0 (valid) or 78")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "override a configuration value: SECTION.KEY=VALUE (repeatable)")(
      "help", "show this help and exit")("version", "show the version and exit");

  po::variables_map args;
  try {
    po::store(po::command_line_parser(argc, argv).options(options).run(), args);
    po::notify(args);
  } catch (const po::error& e) {
    std::cerr << box::kProgram << ": " << e.what() << "\nTry '" << box::kProgram << " --help'.\n";
    return kExitUsage;
  }
  if (args.count("help") != 0) {
    std::cout << "Usage: " << box::kProgram
              << " [--config FILE] [--check-config] [--set SECTION.KEY=VALUE]...\n\n"
                 "The jambox sound loop: plays the player's JACK inputs into a room on "
                 "jambox-broadcast\nand the other jammers of the room back to JACK.\n\n"
              << options
              << "\nSignals: SIGHUP reloads the configuration, SIGTERM leaves the room and exits "
                 "0.\nExit status: 0 stopped, 64 bad command line, 70 unexpected failure, 71 "
                 "socket trouble,\n78 configuration error.\n";
    return 0;
  }
  if (args.count("version") != 0) {
    std::cout << box::kProgram << " " << jambox::kVersion << "\n";
    return 0;
  }

  const std::string file = args["config"].as<std::string>();
  std::vector<std::string> overrides;
  if (args.count("set") != 0) overrides = args["set"].as<std::vector<std::string>>();

  if (args.count("check-config") != 0) {
    try {
      const box::BoxConfig loaded = box::load_config_file(file, overrides);
      for (const auto& warning : loaded.warnings) std::cerr << "warning: " << warning << "\n";
      std::cout << "configuration OK: " << file << "\n";
      return 0;
    } catch (const std::exception& e) {
      std::cerr << e.what() << "\n";
      return jambox::config::kExitConfig;
    }
  }

  box::BoxConfig config;
  try {
    config = box::load_config_file(file, overrides);
  } catch (const std::exception& e) {
    jambox::log::error("{}", e.what());
    return jambox::config::kExitConfig;
  }

  try {
    box::Box jambox(std::move(config),
                    [file, overrides] { return box::load_config_file(file, overrides); });
    return jambox.run();
  } catch (const std::invalid_argument& e) {
    jambox::log::error("{}", e.what());
    return jambox::config::kExitConfig;
  } catch (const std::system_error& e) {
    jambox::log::error("{}", e.what());
    return kExitOsError;
  } catch (const std::exception& e) {
    jambox::log::error("unexpected failure: {}", e.what());
    return kExitSoftware;
  }
}
