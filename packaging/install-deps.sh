#!/usr/bin/env bash
# Installs the Debian 12 packages jambox needs to build, test and run.
# The list lives in packaging/deps.txt and nowhere else (debian/control's Build-Depends is checked
# against it by tests/packaging/deb-install-test.sh).
#
# usage: packaging/install-deps.sh [build|test|run|cross|image|all]   (default: all but cross, image)
#   build  compiler, cmake and the -dev packages
#   test   build + what the tests start (jackd, mosquitto, clang for fuzzing, debhelper, ...)
#   run    what the installed programs need
#   cross  test + the arm64 cross build: multiarch arm64, crossbuild-essential-arm64,
#          qemu-user-static and debian/control's Build-Depends for arm64 (apt-get build-dep)
#   image  cross + the Raspberry Pi image and its boot test: mmdebstrap, binfmt for arm64
#          maintainer scripts, FAT and ext4 tools, qemu-system-aarch64
#   all    build + test + run
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
want=${1:-all}

case "$want" in
  build|test|run|cross|image|all) ;;
  *) echo "usage: $0 [build|test|run|cross|image|all]" >&2; exit 64 ;;
esac

# deps.txt: "<group> <package>" lines; comments start with '#'.
mapfile -t packages < <(awk -v want="$want" '
  /^[[:space:]]*(#|$)/ { next }
  want == "all" && $1 != "cross" && $1 != "image" { print $2; next }
  $1 == want { print $2; next }
  $1 == "build" && (want == "test" || want == "cross" || want == "image") { print $2; next }
  $1 == "test" && (want == "cross" || want == "image") { print $2; next }
  $1 == "cross" && want == "image" { print $2 }
' "$here/deps.txt")

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

missing=()
# Packages an installed one provides count as installed: e.g. a nodejs from another archive
# that ships npm itself (and conflicts with Debian's npm package).
provided=" $(dpkg-query -W -f='${db:Status-Abbrev} ${Provides}\n' 2>/dev/null |
  awk '$1 == "ii" { $1 = ""; print }' | tr ',' ' ' | sed 's/([^)]*)//g' | tr -s ' \n' ' ') "
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" && continue
  [[ $provided == *" $p "* ]] && continue
  missing+=("$p")
done

updated=no
if { [ "$want" = cross ] || [ "$want" = image ]; } && ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "install-deps: adding the arm64 architecture (multiarch)"
  $sudo dpkg --add-architecture arm64
  $sudo apt-get update -qq
  updated=yes
fi

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
else
  echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
  # jackd2 asks whether to enable realtime scheduling; answer for it.
  echo "jackd2 jackd/tweak_rt_limits boolean true" | $sudo debconf-set-selections
  [ "$updated" = yes ] || $sudo apt-get update -qq
  updated=yes
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ "$want" = cross ] || [ "$want" = image ]; then
  if (cd "$repo" && dpkg-checkbuilddeps -a arm64 >/dev/null 2>&1); then
    echo "install-deps: arm64 build dependencies already installed"
  else
    echo "install-deps: installing debian/control's build dependencies for arm64"
    [ "$updated" = yes ] || $sudo apt-get update -qq
    $sudo apt-get build-dep -y -qq --no-install-recommends -a arm64 "$repo"
  fi
fi
if [ "$want" = image ] && [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  # arm64 maintainer scripts run under qemu-aarch64-static while the image is built.
  mountpoint -q /proc/sys/fs/binfmt_misc || $sudo mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  $sudo update-binfmts --enable qemu-aarch64
fi
