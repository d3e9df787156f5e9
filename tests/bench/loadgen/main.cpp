// jambox-loadgen: simulated jammers for benchmarking jambox-broadcast. Prints one JSON line.
#include "loadgen.hpp"

#include <exception>
#include <iostream>

int main(int argc, char** argv) {
  jambox::loadgen::Options options;
  try {
    int exit_code = 0;
    if (!jambox::loadgen::parse_options(argc, argv, options, std::cout, exit_code)) {
      return exit_code;
    }
  } catch (const jambox::loadgen::SetupError& error) {
    std::cerr << "jambox-loadgen: " << error.what() << '\n';
    return 2;
  }
  try {
    const std::string line = jambox::loadgen::run(options, std::cerr);
    std::cout << line << std::endl;
    return 0;
  } catch (const jambox::loadgen::SetupError& error) {
    std::cerr << "jambox-loadgen: " << error.what() << '\n';
    return 1;
  } catch (const std::exception& error) {
    std::cerr << "jambox-loadgen: unexpected failure: " << error.what() << '\n';
    return 70;
  }
}
