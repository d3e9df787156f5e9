#!/usr/bin/env bash
# The jambox demo: a local jam room on this machine.
#
# Starts jambox-broadcast on 127.0.0.1 with two rooms, then jambox-loadgen with simulated jammers
# that join with the room secrets and play 64-frame stereo packets in real time (750 packets/s
# each). Prints live forwarding figures every second, then the server's view of the rooms and the
# final measurement as JSON.
#
# Environment: JAMBOX_BUILD_DIR (default build/release), JAMBOX_DEMO_SECONDS (default 30),
#              JAMBOX_DEMO_JAMMERS (default 6).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${JAMBOX_BUILD_DIR:-$repo/build/release}
seconds=${JAMBOX_DEMO_SECONDS:-30}
jammers=${JAMBOX_DEMO_JAMMERS:-6}

server_bin=$build/daemon/broadcast/jambox-broadcast
loadgen_bin=$build/tests/bench/loadgen/jambox-loadgen
for bin in "$server_bin" "$loadgen_bin"; do
  if [ ! -x "$bin" ]; then
    echo "missing $bin: build first with 'cmake --preset release && cmake --build --preset release'" >&2
    exit 1
  fi
done

work=$(mktemp -d /tmp/jambox-demo.XXXXXX)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

umask 077  # the config holds room secrets
secret_a=$(openssl rand -hex 16)
secret_b=$(openssl rand -hex 16)
cat > "$work/jambox-broadcast.conf" <<CONF
[server]
listen = "127.0.0.1:0"
member_timeout_ms = 1000

[stats]
file = "$work/stats.json"
interval_ms = 500
log_interval_s = 10

[[room]]
name = "garage"
secret = "$secret_a"

[[room]]
name = "studio"
secret = "$secret_b"
CONF

echo "== jambox demo: broadcast server with rooms 'garage' and 'studio', $jammers jammers, ${seconds}s"
"$server_bin" --config "$work/jambox-broadcast.conf" 2> >(sed 's/^/[server] /' >&2) &
server_pid=$!

port=""
for _ in $(seq 1 100); do
  if [ -s "$work/stats.json" ]; then
    port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$work/stats.json" 2>/dev/null || true)
    [ -n "$port" ] && [ "$port" != 0 ] && break
  fi
  kill -0 "$server_pid" 2>/dev/null || { echo "jambox-broadcast exited early" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { echo "jambox-broadcast did not report its port" >&2; exit 1; }
echo "== server listening on 127.0.0.1:$port (pid $server_pid)"

"$loadgen_bin" --server "127.0.0.1:$port" --room "garage=$secret_a" --room "studio=$secret_b" \
  --jammers "$jammers" --seconds "$seconds" --server-pid "$server_pid" --live > "$work/result.json"

sleep 0.7  # one stats interval, so the file shows the jammers' LEAVEs
echo "== server view (from its stats file):"
python3 - "$work/stats.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
t = s["totals"]
print(f"   packets in {t['packets_in']}, forwarded {t['forwarded']}, echoes {t['echoes']}, "
      f"rejected {t['rejected']}, joins {t['joins']}, leaves {t['leaves']}")
for room in s["rooms"]:
    print(f"   room {room['name']}: {room['member_count']} members now, "
          f"{room['packets_in']} packets in, {room['forwarded']} forwarded")
PY
echo "== loadgen result:"
cat "$work/result.json"
