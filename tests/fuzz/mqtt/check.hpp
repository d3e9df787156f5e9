#pragma once
// The MQTT fuzz targets' one assertion: a broken invariant aborts, so libFuzzer reports it.

#include <cstddef>
#include <cstdio>
#include <cstdlib>

namespace jambox::fuzz {

inline constexpr std::size_t kMaxPublish = 256 * 1024;

inline void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

}  // namespace jambox::fuzz
