#!/usr/bin/env bash
# Builds the Debian packages (jamboxd, jambox-broadcast) for this machine's architecture with
# dpkg-buildpackage (debhelper + cmake, hardening=+all), then checks them with lintian.
# Output: ../jamboxd_*.deb, ../jambox-broadcast_*.deb next to the repository (dpkg's convention),
# copied to build/debs/.
#
# Usage: packaging/build-debs.sh            (needs: debhelper, lintian, the build dependencies)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
dpkg-buildpackage -b -uc -us
arch=$(dpkg --print-architecture)
version=$(dpkg-parsechangelog -S Version)
mkdir -p build/debs
for pkg in jamboxd jambox-broadcast; do
  cp "../${pkg}_${version}_${arch}.deb" build/debs/
done
if command -v lintian >/dev/null; then
  lintian --fail-on error "../jambox_${version}_${arch}.changes"
fi
ls -l build/debs
