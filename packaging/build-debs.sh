#!/usr/bin/env bash
# Builds the Debian packages (jamboxd, jambox-broadcast, jambox-web) with dpkg-buildpackage (debhelper +
# cmake, hardening=+all) and checks them with lintian (errors and warnings fail the build). When
# the other architecture's packages of this version are in build/debs too, both must depend on
# and recommend the same packages (the lowest versions may differ: they follow each
# architecture's library symbols).
#   amd64  a native build (its tests run in CI's own builds)
#   arm64  a cross build for the Raspberry Pi with Debian multiarch and cmake/toolchain-aarch64.cmake;
#          the unit tests are built with the packaged binaries and run under qemu-aarch64-static
# Output: build/debs/<arch>/. Needs: packaging/install-deps.sh test (amd64) or cross (arm64).
#
# Usage: packaging/build-debs.sh [amd64|arm64]     (default: this machine's architecture)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
native=$(dpkg --print-architecture)
arch=${1:-$native}
case $arch in
  amd64 | arm64) ;;
  *) echo "usage: $0 [amd64|arm64]" >&2; exit 64 ;;
esac

if [[ $arch == "$native" ]]; then
  # Tests are not part of a native package build; nocheck also drops catch2 and qemu from the
  # build dependencies.
  DEB_BUILD_OPTIONS="nocheck ${DEB_BUILD_OPTIONS:-}" dpkg-buildpackage -b -uc -us -Pnocheck
else
  if ! dpkg-checkbuilddeps -a "$arch" >/dev/null 2>&1; then
    dpkg-checkbuilddeps -a "$arch" || true
    echo "build-debs: the $arch cross build needs: packaging/install-deps.sh cross" >&2
    exit 1
  fi
  dpkg-buildpackage -b -uc -us -a "$arch"
fi

version=$(dpkg-parsechangelog -S Version)
out=build/debs/$arch
rm -rf "$out"
mkdir -p "$out"
for pkg in jamboxd jambox-broadcast; do
  cp "../${pkg}_${version}_${arch}.deb" "$out/"
done
# The web mixer and the broker configuration: one package for every architecture.
cp "../jambox-web_${version}_all.deb" "$out/"
if command -v lintian >/dev/null; then
  lintian --fail-on error,warning "../jambox_${version}_${arch}.changes"
fi
# The Pi gets what a PC gets: the same dependencies, whatever the architecture.
names() { dpkg-deb -f "$1" "$2" | sed 's/ *([^)]*)//g'; }  # package names, without versions
for other in build/debs/*/; do
  other=$(basename "$other")
  [[ $other == "$arch" ]] && continue
  for pkg in jamboxd jambox-broadcast; do
    theirs=build/debs/$other/${pkg}_${version}_${other}.deb
    [[ -e $theirs ]] || continue
    for field in Depends Recommends; do
      mine=$(names "$out/${pkg}_${version}_${arch}.deb" "$field")
      if [[ $mine != "$(names "$theirs" "$field")" ]]; then
        echo "build-debs: $pkg $field differ: $arch '$mine', $other '$(names "$theirs" "$field")'" >&2
        exit 1
      fi
    done
    echo "build-debs: $pkg depends on the same packages on $arch and $other"
  done
done
# Everything the packages recommend (the pedal plugins, alsa-utils) can be installed on this
# architecture from the archive: a Recommends that does not exist for arm64 would quietly leave
# the Pi without its pedals.
for pkg in jamboxd jambox-broadcast; do
  for wanted in $(names "$out/${pkg}_${version}_${arch}.deb" Recommends | tr ',|' '  '); do
    if [[ -z $(apt-cache policy "$wanted:$arch" 2>/dev/null | awk '/Candidate:/ && $2 != "(none)"') ]]; then
      echo "build-debs: $pkg recommends $wanted, which the archive has not for $arch" >&2
      exit 1
    fi
  done
done
echo "build-debs: every recommended package exists for $arch"
ls -l "$out"
