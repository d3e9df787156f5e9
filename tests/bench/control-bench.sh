#!/usr/bin/env bash
# Benchmarks the control plane: command -> ack round trips to a managed jamboxd over a real
# mosquitto with mutual TLS, and how long the box takes to be reachable again after the broker
# restarts. Starts its own mosquitto (PKI from packaging/make-pki.sh, the shipped ACL), a dummy
# jackd, jambox-broadcast and one jamboxd in managed mode; stops everything it started; prints
# one JSON line last: commands acked lost cmd_rtt_ms_p50 cmd_rtt_ms_p99 reconnect_s.
#
# Usage: tests/bench/control-bench.sh [--commands N]     (default 1000)
# Build directory: $JAMBOX_BUILD_DIR, by default the `release` preset's (build/release).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${JAMBOX_BUILD_DIR:-$repo/build/release}
commands=1000
while (($# > 0)); do
  case $1 in
    --commands) [[ ${2-} =~ ^[0-9]+$ ]] || { echo "control-bench: --commands N" >&2; exit 64; }
      commands=$2; shift 2 ;;
    -h | --help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "control-bench: unknown option '$1'" >&2; exit 64 ;;
  esac
done
for tool in mosquitto jackd jq; do
  command -v "$tool" >/dev/null || { echo "control-bench: $tool is not installed" >&2; exit 69; }
done
box_bin=$build/daemon/jamboxd/jamboxd
server_bin=$build/daemon/broadcast/jambox-broadcast
bench_bin=$build/tests/bench/control/jambox-control-bench
for bin in "$box_bin" "$server_bin" "$bench_bin"; do
  [[ -x $bin ]] || { echo "control-bench: $bin not built (cmake --build --preset release)" >&2; exit 69; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/jambox-control-bench.XXXXXX")
pids=()
source "$repo/tests/support/processes.sh"
cleanup() {
  jambox_stop_all
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pki=$tmp/pki
"$repo/packaging/make-pki.sh" "$pki" --player bench-box >/dev/null
port=$(free_port)
# The shipped broker configuration with this run's paths, port and no persistence.
"$repo/tests/support/mosquitto-conf.sh" "$pki" "$port" >"$tmp/mosquitto.conf"
grep -q "^set_tcp_nodelay" "$tmp/mosquitto.conf" || sed -i "1i set_tcp_nodelay true" "$tmp/mosquitto.conf"
start_broker() {
  mosquitto -c "$tmp/mosquitto.conf" >>"$tmp/mosquitto.log" 2>&1 &
  broker_pid=$!
  pids+=("$broker_pid")
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "control-bench: mosquitto did not start: $(tail -n 5 "$tmp/mosquitto.log")" >&2
  exit 69
}
start_broker

source "$repo/tests/support/jackd.sh"
jambox_start_jackd "ctlbench-$$" 64 "$tmp/jackd.log" || exit 69
secret=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
cat >"$tmp/broadcast.conf" <<CONF
[server]
listen = "127.0.0.1:0"
[stats]
file = "$tmp/stats.json"
[[room]]
name = "bench"
secret = "$secret"
CONF
"$server_bin" --config "$tmp/broadcast.conf" >"$tmp/broadcast.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -s $tmp/stats.json ]] && break; sleep 0.05; done
udp_port=$(jq -r '.port' "$tmp/stats.json")
cat >"$tmp/box.conf" <<CONF
[audio]
server_name = "ctlbench-$$"
[room]
server = "127.0.0.1:$udp_port"
name = "bench"
secret = "$secret"
[mqtt]
enabled = true
broker = "ssl://127.0.0.1:$port"
player_key = "bench-box"
commands_per_minute = 100000
ca_file = "$pki/ca.crt"
cert_file = "$pki/bench-box.crt"
key_file = "$pki/bench-box.key"
CONF
"$box_bin" --config "$tmp/box.conf" >"$tmp/box.log" 2>&1 &
pids+=($!)

admin=(--broker "ssl://127.0.0.1:$port" --ca "$pki/ca.crt" --cert "$pki/jamboxctl.crt"
  --key "$pki/jamboxctl.key" --player bench-box)
"$bench_bin" "${admin[@]}" --until-answered 20 >"$tmp/first.json" ||
  { echo "control-bench: the box never answered: $(tail -n 5 "$tmp/box.log")" >&2; exit 69; }
echo "control-bench: box answering; $commands commands" >&2
"$bench_bin" "${admin[@]}" --commands "$commands" >"$tmp/commands.json" || true

# Broker restart: the box notices, retries within 250 ms (1 s floor if that fails) and reconnects.
kill -KILL "$broker_pid"
wait "$broker_pid" 2>/dev/null || true
start_broker
"$bench_bin" "${admin[@]}" --until-answered 30 >"$tmp/reconnect.json" || true
grep MQTT "$tmp/box.log" | tail -n 4 | sed "s/^/control-bench: box: /" >&2

jq -c -s '.[0] + {reconnect_s: .[1].seconds, reconnected: .[1].answered}' \
  "$tmp/commands.json" "$tmp/reconnect.json"
