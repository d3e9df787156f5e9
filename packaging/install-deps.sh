#!/usr/bin/env bash
# Installs every Debian 12 package jambox needs to build, test and run.
# The same list feeds the README, .ci/run and (later) debian/control, so it
# lives in packaging/deps.txt and nowhere else.
#
# usage: packaging/install-deps.sh [build|test|run|all]   (default: all)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
want=${1:-all}

case "$want" in
  build|test|run|all) ;;
  *) echo "usage: $0 [build|test|run|all]" >&2; exit 64 ;;
esac

# deps.txt: "<group> <package>" lines; comments start with '#'.
mapfile -t packages < <(awk -v want="$want" '
  /^[[:space:]]*(#|$)/ { next }
  want == "all" || $1 == want || ($1 == "build" && want == "test") { print $2 }
' "$here/deps.txt")

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# jackd2 asks whether to enable realtime scheduling; answer for it.
echo "jackd2 jackd/tweak_rt_limits boolean true" | $sudo debconf-set-selections
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
