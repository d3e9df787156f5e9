#!/usr/bin/env bash
# Builds and runs every jambox test, the way CI does:
#   1. format check (clang-format, the repo's .clang-format), unit files (systemd-analyze)
#   2. `ci` preset (RelWithDebInfo, warnings as errors): unit, integration, then the two-box
#      end-to-end test (two jackd, jambox-broadcast, two jamboxd) and the web mixer in a real
#      headless Chromium (label browser)
#   3. `asan` preset (ASan + UBSan, warnings as errors): unit, then integration tests
#   4. Debian packages built, installed, checked, booted into a jam and purged (as root only: it
#      changes this machine's packages; skipped otherwise)
#   5. arm64 packages cross-built, their unit tests run under qemu-aarch64-static
#   6. `fuzz` preset (clang + libFuzzer + ASan/UBSan): a bounded fuzz run of every fuzz target,
#      while the Raspberry Pi image is built from the arm64 packages (as root only)
#   7. that image booted under qemu-system-aarch64 into a jam with this machine's room server
#      (tests/appliance/qemu-boot.sh)
# Stops at the first failure. JAMBOX_FUZZ_SECONDS (default 45) bounds each fuzz target.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

jobs=$(nproc)
step() { printf '\n==== %s ====\n' "$*"; }

step "format check"
mapfile -t sources < <(git ls-files '*.cpp' '*.hpp' 2>/dev/null || find lib daemon tests -name '*.[ch]pp')
clang-format --dry-run -Werror "${sources[@]}"
echo "clang-format: ${#sources[@]} files clean"

step "systemd units"
tests/systemd/check-units.sh

for preset in ci asan; do
  step "build: $preset"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  step "unit tests: $preset"
  ctest --preset "$preset" -L unit -j "$jobs"
  step "integration tests: $preset"
  # One at a time: they start real servers and measure real traffic.
  ctest --preset "$preset" -L integration -j 1
  if [[ $preset == ci ]]; then
    step "image first boot files: $preset"
    JAMBOX_BUILD_DIR=build/release tests/appliance/provision-test.sh  # the ci preset builds there
    # Two jackd, the room server and two jamboxd for about 40 s, JACK killed and restarted in
    # the middle: it needs the release build's timing (the sanitizer build's jamboxd code is
    # covered by the unit tests and the JACK client integration tests above).
    step "two-box end-to-end test: $preset"
    ctest --preset "$preset" -L e2e -j 1
    step "web mixer in headless Chromium: $preset"
    ctest --preset "$preset" -L browser -j 1 --no-tests=error
  fi
done

step "Debian packages: build, install, check, purge"
# As root only (CI): installs the freshly built packages on this machine and purges them again.
tests/packaging/deb-install-test.sh

step "arm64: cross-built packages, unit tests under qemu-aarch64-static"
# The Pi's packages: cross-compiled with multiarch; their unit tests run in the package build.
packaging/build-debs.sh arm64

step "Raspberry Pi image: built in the background while the fuzz run goes on"
# As root only (the root filesystem keeps its owners). Most of the build is arm64 maintainer
# scripts under qemu-user on one core, the fuzz run below uses the other.
image_pid=""
if [[ $(id -u) == 0 ]]; then
  mkdir -p build
  packaging/build-image.sh --no-xz >build/image-build.log 2>&1 &
  image_pid=$!
  trap 'kill "$image_pid" 2>/dev/null || true' EXIT
else
  echo "skipped: not root"
fi

step "fuzz (${JAMBOX_FUZZ_SECONDS:-45} s per target)"
cmake --preset fuzz -DJAMBOX_FUZZ_SECONDS="${JAMBOX_FUZZ_SECONDS:-45}" >/dev/null
cmake --build --preset fuzz -j "$jobs"
ctest --preset fuzz -j 1

if [[ -n $image_pid ]]; then
  step "Raspberry Pi image: booted under qemu-system-aarch64 into a jam"
  if ! wait "$image_pid"; then
    tail -n 40 build/image-build.log
    echo "the image build failed (whole log: build/image-build.log)" >&2
    exit 1
  fi
  tail -n 1 build/image-build.log
  # The room server of the ci build (build/release), on the loopback of a network namespace of the test's own.
  JAMBOX_BUILD_DIR=build/release tests/appliance/qemu-boot.sh
fi

step "all tests passed"
