// jambox-jack-reclaim: gives back the JACK server-registry slots of jackd servers that were
// killed without unregistering, so scripts that start their own jackd (the demo, the benchmarks)
// never fail with "Too many servers already active" after an interrupted run.
// Prints one line per slot reclaimed; exit 0 unless the registry cannot be read.

#include <jambox/jacktest/jack_server.hpp>
#include <jambox/jacktest/server_registry.hpp>
#include <jambox/test/temp_dir.hpp>

#include <cstdio>
#include <exception>
#include <string_view>

int main(int argc, char** argv) {
  if (argc > 1) {
    const std::string_view arg = argv[1];
    std::fprintf(arg == "--help" ? stdout : stderr,
                 "usage: jambox-jack-reclaim\n"
                 "Frees the slots of dead jackd servers in /dev/shm/jack-shm-registry.\n");
    return arg == "--help" ? 0 : 64;
  }
  try {
    if (!jambox::jacktest::read_server_registry()) {
      std::fprintf(stderr,
                   "jambox-jack-reclaim: /dev/shm/jack-shm-registry has an unknown layout; "
                   "nothing reclaimed\n");
      return 1;
    }
    jambox::jacktest::prepare_jack_environment();
    const jambox::test::TempDir scratch("jack-reclaim");
    for (const std::string& name : jambox::jacktest::reclaim_stale_servers(scratch)) {
      std::printf("reclaimed the JACK server slot of dead server '%s'\n", name.c_str());
    }
    return 0;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "jambox-jack-reclaim: %s\n", error.what());
    return 1;
  }
}
