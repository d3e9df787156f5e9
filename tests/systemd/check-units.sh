#!/usr/bin/env bash
# Checks the unit files in systemd/: `systemd-analyze verify` finds nothing, and the services'
# exposure (`systemd-analyze security --offline=yes`) stays at or below 2.0. The programs the
# units start are replaced by /bin/true, so this runs before anything is built or installed.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
limit=2.0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for unit in "$repo"/systemd/*.service; do
  sed -e 's|/usr/bin/jamboxd|/bin/true|g' -e 's|/usr/bin/jambox-broadcast|/bin/true|g' \
    -e 's|/usr/libexec/jambox/jambox-jackd|/bin/true|g' -e 's|/usr/sbin/lighttpd|/bin/true|g' \
    -e 's|^EnvironmentFile=/|EnvironmentFile=-/|' "$unit" >"$work/$(basename "$unit")"
done

# verify checks every Documentation=man:... page with man(1): the project's pages are found in the
# repository (they are installed only by the packages), the others where man looks anyway.
mkdir -p "$work/man/man1" "$work/man/man8"
cp "$repo"/packaging/man/*.1 "$work/man/man1/"
cp "$repo"/packaging/man/*.8 "$work/man/man8/"
status=0
out=$(cd "$work" && MANPATH="$work/man:" systemd-analyze verify ./*.service 2>&1) || status=1
if [[ -n $out || $status != 0 ]]; then
  echo "check-units: systemd-analyze verify complains:" >&2
  echo "$out" >&2
  exit 1
fi
for unit in "$work"/*.service; do
  name=$(basename "$unit")
  level=$(systemd-analyze security --offline=yes "$unit" 2>/dev/null |
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
  [[ -n $level ]] || { echo "check-units: no exposure level for $name" >&2; exit 1; }
  if awk -v l="$level" -v max="$limit" 'BEGIN { exit !(l > max) }'; then
    echo "check-units: $name exposure $level is above $limit" >&2
    status=1
  fi
  echo "check-units: $name verified, exposure $level"
done
# A program that refuses its configuration exits 78, which its unit does not restart. systemd
# applies RestartPreventExitStatus= to the main process only: the check must be ExecStart='s own,
# an ExecStartPre= check exiting 78 would be restarted until the start limit.
for name in jamboxd jambox-broadcast jambox-jackd; do
  unit=$repo/systemd/$name.service
  if ! grep -qx 'RestartPreventExitStatus=78' "$unit" || grep -q '^ExecStartPre=' "$unit"; then
    echo "check-units: $name.service: want RestartPreventExitStatus=78 and no ExecStartPre=" >&2
    status=1
  else
    echo "check-units: $name.service: a refused configuration is not restarted"
  fi
done
# The JACK unit's launcher refuses a value it does not know with EX_CONFIG (78, so systemd does
# not restart it) and names the key, before anything is started.
launcher=$repo/packaging/libexec/jambox-jackd
refuses() {  # KEY=VALUE message [more environment]
  local setting=$1 want=$2 message code
  shift 2
  set +e
  message=$(env "$@" "$setting" "$launcher" 2>&1)
  code=$?
  set -e
  if [[ $code != 78 || $message != *"$want"* ]]; then
    echo "check-units: jambox-jackd with $setting: exit $code, '$message' (want 78)" >&2
    status=1
  else
    echo "check-units: jambox-jackd refuses $setting (exit 78)"
  fi
}
refuses JACK_DRIVER=oss "JACK_DRIVER must be alsa or dummy, got 'oss'"
refuses JACK_SYNC=maybe "JACK_SYNC must be yes or no, got 'maybe'" JACK_DRIVER=dummy
refuses JACK_PERIOD=100 "JACK_PERIOD must be 32, 64, 128 or 256, got '100'" JACK_DRIVER=dummy
refuses JACK_DEVICE='hw:0;reboot' "JACK_DEVICE must be an ALSA device"
exit "$status"
