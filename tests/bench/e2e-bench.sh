#!/usr/bin/env bash
# End-to-end benchmark of the sound loop: box A's input -> jambox-broadcast -> box B's output.
#
# Usage: tests/bench/e2e-bench.sh [--remotes N] [--seconds S] [--jitter-ms J] [--loss-pct L]
#                                 [--set SECTION.KEY=VALUE]...   (jamboxd overrides, all boxes)
# Starts jackd dummy servers (48 kHz, 64 frames), one jambox-broadcast, box A and box B, and with
# --remotes N also N-1 light senders: jambox-loadgen jammers admitted to the same room, each
# sending a quiet two-tone signal (-46 dBFS, far below the impulses' detection threshold even
# summed) at the boxes' packet rate, format and encryption (the room's audio key). They read
# nothing back (--send-only), as remote machines would cost this one nothing, so B mixes N
# remotes while the machine runs no further jamboxd or JACK server and B's figures stay B's (the
# run checks that B's status reports N remotes). It plays impulses into A, records B, stops
# everything it started, and prints one JSON line last (progress goes to stderr):
#   period_frames one_way_latency_ms jamboxd_cpu_pct jamboxd_rss_kb engine_us_p999 lost
#   concealed underruns  (+ details). CPU, RSS and engine figures are box B's; jamboxd_rss_kb
#   leaves out JACK's shared memory (jamboxd_vmrss_kb includes it); engine_us_p999 is process()
#   time per period measured inside jamboxd; lost = concealed - late; jack_client_floor_cpu_pct
#   is the CPU of the recording client on B's server, a JACK client that does almost nothing.
# References, measured over the same window as box B, in the same run:
#   jack_thru_cpu_pct        jack_thru (jackd2's example client: 2 in, 2 out, memcpy) on B's
#                            server, fed by box B's outputs: the floor of a JACK client that
#                            moves audio every period. jamboxd_over_floor = jamboxd / it.
#   jacktrip_client_cpu_pct  JackTrip's hub client on B's server (null without `jacktrip`):
#                            a JackTrip hub server and two hub clients on 127.0.0.1, client A on
#                            A's server fed the same played signal, client B on B's server
#                            hearing A (hub patch mode 2: fan out/in, no loopback). 2 channels,
#                            16 bit, 64 frames, queue 2, network thread at RT priority (--udprt),
#                            like the boxes. The hub needs a JACK server of its own in JackTrip
#                            1.7: it gets a third dummy server rather than A's or B's, so its
#                            per-client workers run in neither box's JACK cycle (they cost the
#                            machine the same CPU wherever they run). The run checks that client B
#                            receives A's packets (jacktrip_packets_received_b, from its -I
#                            statistics). jamboxd_over_jacktrip = jamboxd / it.
#   senders_cpu_pct          the light senders (jambox-loadgen) together, null with 1 remote.
#   Ratios have 2 decimals and are null when not measured. All CPU figures are utime + stime
#   deltas from /proc/PID/stat (10 ms ticks) over the player's run.
# --jitter-ms / --loss-pct route A's packets through a UDP impairment relay (python3).
# Defaults: 1 remote, 30 seconds, no impairment. Build directory: $JAMBOX_BUILD_DIR, by default
# the `release` preset's (<repo>/build/release).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${JAMBOX_BUILD_DIR:-$repo/build/release}
remotes=1
seconds=30
jitter_ms=0
loss_pct=0
period=64
box_sets=()

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | grep '^#' | sed 's/^# \{0,1\}//'; }
die() {
  echo "e2e-bench: $*" >&2
  exit 1
}
need_number() { [[ $2 =~ ^[0-9]+([.][0-9]+)?$ ]] || die "$1 expects a number, got '$2'"; }

while (($# > 0)); do
  case $1 in
    --remotes) need_number "$1" "${2-}"; remotes=$2; shift 2 ;;
    --seconds) need_number "$1" "${2-}"; seconds=$2; shift 2 ;;
    --jitter-ms) need_number "$1" "${2-}"; jitter_ms=$2; shift 2 ;;
    --loss-pct) need_number "$1" "${2-}"; loss_pct=$2; shift 2 ;;
    --set) [[ ${2-} == *=* ]] || die "--set expects SECTION.KEY=VALUE"; box_sets+=(--set "$2"); shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option '$1'" ;;
  esac
done
[[ $remotes =~ ^[0-9]+$ ]] && ((remotes >= 1 && remotes <= 15)) ||
  die "--remotes takes a whole number 1..15"
[[ $seconds =~ ^[0-9]+$ ]] && ((seconds >= 3)) || die "--seconds takes a whole number >= 3"

find_program() {
  local name=$1 usual
  shift
  for usual in "$@"; do
    if [[ -x $build/$usual && -f $build/$usual ]]; then
      echo "$build/$usual"
      return
    fi
  done
  if [[ -d $build ]]; then
    find "$build" -name CMakeFiles -prune -o -type f -name "$name" -perm -u+x -print -quit
  fi
}
server_bin=$(find_program jambox-broadcast daemon/broadcast/jambox-broadcast)
box_bin=$(find_program jamboxd daemon/jamboxd/jamboxd)
play_bin=$(find_program jambox-jack-play tests/jack-tools/jambox-jack-play)
record_bin=$(find_program jambox-jack-record tests/jack-tools/jambox-jack-record)
loadgen_bin=
((remotes > 1)) && loadgen_bin=$(find_program jambox-loadgen tests/bench/loadgen/jambox-loadgen)
needed=(server_bin box_bin play_bin record_bin)
((remotes > 1)) && needed+=(loadgen_bin)
for p in "${needed[@]}"; do
  [[ -n ${!p} ]] || die "${p%_bin} program not found in $build.
Build first (from $repo):  cmake --preset release && cmake --build --preset release
or point JAMBOX_BUILD_DIR at another build directory."
done
command -v jackd >/dev/null || die "jackd not found (Debian package jackd2)"
for p in jack_thru jack_connect jack_disconnect; do
  command -v "$p" >/dev/null || die "$p not found (Debian package jackd2)"
done
jacktrip_bin=$(command -v jacktrip || true)
[[ -n $jacktrip_bin ]] ||
  echo "e2e-bench: jacktrip not installed (Debian package jacktrip): no JackTrip reference" >&2
impair=0
if [[ $jitter_ms != 0 || $loss_pct != 0 ]]; then
  command -v python3 >/dev/null || die "--jitter-ms/--loss-pct need python3 for the relay"
  impair=1
fi

export JACK_NO_AUDIO_RESERVATION=1 JACK_NO_START_SERVER=1
unset JACK_DEFAULT_SERVER
tmp=$(mktemp -d "${TMPDIR:-/tmp}/jambox-e2e.XXXXXX")
pids=()
source "$repo/tests/support/processes.sh"
cleanup() {
  jambox_stop_all  # boxes and tools before their JACK servers
  if [[ -n ${JAMBOX_KEEP_TEMP-} ]]; then
    echo "e2e-bench: kept $tmp" >&2
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

tag="e2e$$"
jack_a=$tag-a
jack_b=$tag-b
jack_h=$tag-h
# JACK2's default, asynchronous mode for every server here, unlike the appliance (jackd -S): next
# to JackTrip's client a synchronous server missed periods in every run (20 s: 79 to 395 xruns,
# box B's latency 22 to 26 ms; without JackTrip 2 to 26 xruns, 2.3 to 4.3 ms). JAMBOX_JACK_SYNC=yes
# measures the appliance's mode.
export JAMBOX_JACK_SYNC=${JAMBOX_JACK_SYNC:-no}
source "$repo/tests/support/jackd.sh"
start_jackd() {  # name
  jambox_start_jackd "$1" "$period" "$tmp/jackd-$1.log" || die "jackd $1 did not start"
}
start_jackd "$jack_a"
start_jackd "$jack_b"
[[ -n $jacktrip_bin ]] && start_jackd "$jack_h"

secret=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
stats=$tmp/stats.json
cat >"$tmp/broadcast.conf" <<EOF
[server]
listen = "127.0.0.1:0"
member_timeout_ms = 5000
[stats]
file = "$stats"
interval_ms = 1000
log_interval_s = 0
[logging]
level = "notice"
[[room]]
name = "e2e"
secret = "$secret"
EOF
"$server_bin" --config "$tmp/broadcast.conf" >"$tmp/server.out" 2>"$tmp/server.log" &
pids+=($!)
port=
for ((i = 0; i < 150; i++)); do
  if [[ -s $stats ]]; then
    port=$(grep -o '"port"[[:space:]]*:[[:space:]]*[0-9]*' "$stats" | grep -o '[0-9]*$' || true)
    [[ -n $port && $port != 0 ]] && break
    port=
  fi
  sleep 0.1
done
[[ -n $port ]] || die "jambox-broadcast wrote no port: $(tail -n 5 "$tmp/server.log")"
server=127.0.0.1:$port
a_server=$server

if ((impair)); then
  # A's packets go through a relay that drops loss_pct % and delays each by a uniform 0..J ms
  # (so packets also reorder); the answers come back unimpaired.
  cat >"$tmp/relay.py" <<'EOF'
import asyncio, random, socket, sys
server_host, server_port, jitter_ms, loss_pct, port_file = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
class Relay:
    def __init__(self, loop):
        self.loop, self.client = loop, None
        self.down = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); self.down.bind(("127.0.0.1", 0)); self.down.setblocking(False)
        self.up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); self.up.bind(("127.0.0.1", 0)); self.up.setblocking(False)
        loop.add_reader(self.down, self.from_client); loop.add_reader(self.up, self.from_server)
        open(port_file, "w").write(str(self.down.getsockname()[1]))
    def from_client(self):
        while True:
            try: data, self.client = self.down.recvfrom(2048)
            except BlockingIOError: return
            if random.random() * 100.0 < loss_pct: continue
            self.loop.call_later(random.uniform(0.0, jitter_ms) / 1000.0, self.up.sendto, data, (server_host, server_port))
    def from_server(self):
        while True:
            try: data, _ = self.up.recvfrom(2048)
            except BlockingIOError: return
            if self.client: self.down.sendto(data, self.client)
loop = asyncio.new_event_loop(); Relay(loop); loop.run_forever()
EOF
  python3 "$tmp/relay.py" 127.0.0.1 "$port" "$jitter_ms" "$loss_pct" "$tmp/relay.port" \
    >"$tmp/relay.log" 2>&1 &
  pids+=($!)
  for ((i = 0; i < 50; i++)); do [[ -s $tmp/relay.port ]] && break; sleep 0.1; done
  [[ -s $tmp/relay.port ]] || die "impairment relay did not start: $(cat "$tmp/relay.log")"
  a_server=127.0.0.1:$(cat "$tmp/relay.port")
fi

start_box() {  # name jack-server room-server
  cat >"$tmp/$1.conf" <<EOF
[audio]
client_name = "$1"
server_name = "$2"
capture = ["", ""]
playback = ["", ""]
monitor = false
[room]
server = "$3"
name = "e2e"
secret = "$secret"
[status]
interval_s = 1
EOF
  "$box_bin" --config "$tmp/$1.conf" "${box_sets[@]}" >"$tmp/$1.out" 2>"$tmp/$1.log" &
  pids+=($!)
}
start_box boxA "$jack_a" "$a_server"
start_box boxB "$jack_b" "$server"
b_pid=${pids[-1]}

wait_joined() {  # name
  local i
  for ((i = 0; i < 200; i++)); do
    grep -q "joined room" "$tmp/$1.log" 2>/dev/null && grep -q "audio running" "$tmp/$1.log" &&
      return 0
    sleep 0.1
  done
  die "$1 did not join and start audio: $(tail -n 5 "$tmp/$1.log")"
}
wait_joined boxA
wait_joined boxB

# The light senders: one process, one sending thread pacing every jammer on absolute deadlines.
# Its window outlasts the measurement (settling, the player's connections, B's last status line);
# it is stopped with the rest.
senders_pid=
if ((remotes > 1)); then
  "$loadgen_bin" --server "$server" --room "e2e=$secret" --jammers $((remotes - 1)) \
    --frames "$period" --room-audio --amplitude 0.005 --send-only --seconds $((seconds + 30)) --warmup-ms 0 \
    >"$tmp/loadgen.json" 2>"$tmp/loadgen.log" &
  senders_pid=$!
  pids+=("$senders_pid")
fi

# JackTrip: the hub on its own server, then client A (on A's server) and client B (on B's).
jt_a=e2e-jacktrip-a
jt_b=e2e-jacktrip-b
jt_pid=
if [[ -n $jacktrip_bin ]]; then
  # Ports: the hub's TCP port, its UDP workers' base port (one port per client) and each
  # client's own UDP port, in a range nobody on 127.0.0.1 listens on.
  jt_port=
  for ((i = 0; i < 50; i++)); do
    base=$((20000 + RANDOM % 20000))
    busy=$(ss -Htuln 2>/dev/null | awk '{print $5}' | grep -oE '[0-9]+$' || true)
    clash=0
    for p in $base $((base + 1)) $((base + 2)) $((base + 10)) $((base + 11)); do
      grep -qx "$p" <<<"$busy" && clash=1
    done
    ((clash)) || { jt_port=$base; break; }
  done
  [[ -n $jt_port ]] || die "no free ports for JackTrip"
  jt_common=(-n 2 -b 16 -q 2 --udprt -D)
  JACK_DEFAULT_SERVER=$jack_h "$jacktrip_bin" -S -p 2 -B "$jt_port" -U $((jt_port + 10)) \
    "${jt_common[@]}" >"$tmp/jacktrip-hub.log" 2>&1 &
  pids+=($!)
  for ((i = 0; i < 100; i++)); do
    grep -q "Waiting for client connections" "$tmp/jacktrip-hub.log" && break
    sleep 0.1
  done
  grep -q "Waiting for client connections" "$tmp/jacktrip-hub.log" ||
    die "JackTrip hub did not start: $(tail -n 5 "$tmp/jacktrip-hub.log")"
  start_jacktrip() {  # client-name jack-server bind-port [options]
    local name=$1 jack=$2 bind=$3
    shift 3
    JACK_DEFAULT_SERVER=$jack "$jacktrip_bin" -C 127.0.0.1 -P "$jt_port" -B "$bind" -J "$name" \
      -K "$name" "${jt_common[@]}" "$@" >"$tmp/$name.log" 2>&1 &
    pids+=($!)
  }
  start_jacktrip "$jt_a" "$jack_a" $((jt_port + 1))
  # -I 1: a statistics line a second, whose `tot:` counts the packets client B received.
  start_jacktrip "$jt_b" "$jack_b" $((jt_port + 2)) -I 1
  jt_pid=${pids[-1]}
fi
jacktrip_received() { sed -n 's/.* tot: \([0-9]*\) .*/\1/p' "$tmp/$jt_b.log" | tail -n 1; }

# jack_thru connects itself to the dummy driver's ports; its inputs take box B's outputs instead,
# so it copies the audio B plays.
jack_thru e2e-thru "$jack_b" >"$tmp/thru.log" 2>&1 &
thru_pid=$!
pids+=("$thru_pid")
for ((i = 0; i < 100; i++)); do
  jack_lsp -s "$jack_b" -c 2>/dev/null | grep -q '^e2e-thru:output_2' && break
  sleep 0.1
done
for ch in 1 2; do
  jack_disconnect -s "$jack_b" "system:capture_$ch" "e2e-thru:input_$ch" >/dev/null 2>&1 || true
  jack_connect -s "$jack_b" "boxB:out_$ch" "e2e-thru:input_$ch" >/dev/null 2>&1 ||
    die "could not connect boxB:out_$ch to jack_thru: $(tail -n 5 "$tmp/thru.log")"
done

sleep 2  # jitter buffers settle
last_status() { grep -o 'status room=.*' "$tmp/boxB.log" | tail -n 1; }
status_field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }
# B must hear every remote before the window opens: A and the light senders.
for ((i = 0; i < 100; i++)); do
  [[ $(status_field remotes "$(last_status)") == "$remotes" ]] && break
  [[ -n $senders_pid ]] && ! kill -0 "$senders_pid" 2>/dev/null &&
    die "jambox-loadgen stopped: $(tail -n 5 "$tmp/loadgen.log")"
  sleep 0.1
done
[[ $(status_field remotes "$(last_status)") == "$remotes" ]] ||
  die "box B does not mix $remotes remote(s): $(last_status)"
if [[ -n $jacktrip_bin ]]; then
  for ((i = 0; i < 100; i++)); do
    [[ -n $(jacktrip_received) ]] && break
    sleep 0.1
  done
  [[ -n $(jacktrip_received) ]] ||
    die "JackTrip client B receives nothing: $(tail -n 5 "$tmp/$jt_b.log")"
fi
echo "e2e-bench: $remotes remote(s) at B, $seconds s, period $period, jitter ${jitter_ms} ms, loss ${loss_pct} %" >&2

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
clk_tck=$(getconf CLK_TCK)
"$record_bin" -s "$jack_b" -n e2e-rec -p boxB:out_1 -t $((seconds + 2)) -w 20 --signal impulse \
  >"$tmp/record.json" 2>"$tmp/record.log" &
rec_pid=$!
pids+=("$rec_pid")
sleep 1
t0=$(date +%s.%N)
c0=$(cpu_ticks "$b_pid")
r0=$(cpu_ticks "$rec_pid")
h0=$(cpu_ticks "$thru_pid")
[[ -n $jt_pid ]] && { j0=$(cpu_ticks "$jt_pid"); p0=$(jacktrip_received); }
[[ -n $senders_pid ]] && s0=$(cpu_ticks "$senders_pid")
"$play_bin" -s "$jack_a" -n e2e-play -p boxA:in_1 -p boxA:in_2 -t "$seconds" -w 20 \
  --signal impulse >"$tmp/play.json" 2>"$tmp/play.log" &
play_pid=$!
pids+=("$play_pid")
if [[ -n $jt_pid ]]; then
  # JackTrip's client A plays the same signal: it joins the player's outputs once they exist.
  for ((i = 0; i < 100; i++)); do
    jack_lsp -s "$jack_a" 2>/dev/null | grep -q '^e2e-play:out_2' && break
    sleep 0.05
  done
  for ch in 1 2; do
    jack_connect -s "$jack_a" "e2e-play:out_$ch" "$jt_a:send_$ch" >/dev/null 2>&1 ||
      die "could not connect the player to $jt_a:send_$ch"
  done
fi
wait "$play_pid" || die "player failed: $(tail -n 5 "$tmp/play.log")"
c1=$(cpu_ticks "$b_pid")
r1=$(cpu_ticks "$rec_pid")
h1=$(cpu_ticks "$thru_pid")
[[ -n $jt_pid ]] && { j1=$(cpu_ticks "$jt_pid"); p1=$(jacktrip_received); }
[[ -n $senders_pid ]] && s1=$(cpu_ticks "$senders_pid")
t1=$(date +%s.%N)
# VmRSS counts JACK's shared memory segment (~100 MB at these settings, mapped and locked by
# libjack in every client and shared with jackd); jamboxd's own memory is the rest.
vmrss=$(awk '/^VmRSS:/ {print $2}' "/proc/$b_pid/status")
shmem=$(awk '/^RssShmem:/ {print $2}' "/proc/$b_pid/status")
rss=$((vmrss - shmem))
wait "$rec_pid" || die "recorder failed: $(tail -n 5 "$tmp/record.log")"
sleep 1.5  # one more status line from B
status=$(grep -o 'status room=.*' "$tmp/boxB.log" | tail -n 1)
[[ -n $status ]] || die "box B printed no status line: $(tail -n 5 "$tmp/boxB.log")"
field() { status_field "$1" "$status"; }

pct() { awk -v c="$1" -v hz="$clk_tck" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", 100.0 * c / hz / (b - a) }'; }
cpu_pct=$(pct $((c1 - c0)))
# The recorder on B's server does next to nothing per period (copies one port into a ring): its
# CPU is what merely being a JACK client woken every period costs on this machine.
floor_pct=$(pct $((r1 - r0)))
thru_pct=$(pct $((h1 - h0)))
jacktrip_pct=null
jacktrip_packets=null
if [[ -n $jt_pid ]]; then
  jacktrip_pct=$(pct $((j1 - j0)))
  jacktrip_packets=$((p1 - p0))
  # At least half of A's packets (750 a second): else JackTrip's figure is not a client at work.
  expected=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", 48000 / 64 * (b - a) / 2 }')
  ((jacktrip_packets >= expected)) ||
    die "JackTrip client B received only $jacktrip_packets packets in the window: $(tail -n 3 "$tmp/$jt_b.log")"
fi
senders_pct=null
[[ -n $senders_pid ]] && senders_pct=$(pct $((s1 - s0)))
latency=$(jq -r '.latency_ms_median // empty' "$tmp/record.json")
latency_frames=$(jq -r '.latency_frames_median // empty' "$tmp/record.json")
impulses=$(jq -r '.impulses // 0' "$tmp/record.json")
concealed=$(field concealed)
late=$(field late)
echo "e2e-bench: B $status" >&2
jq -cn --argjson period "$period" --arg latency "${latency:-null}" \
  --arg latency_frames "${latency_frames:-null}" --argjson impulses "$impulses" \
  --argjson cpu "$cpu_pct" --argjson floor "$floor_pct" --argjson rss "${rss:-0}" --argjson vmrss "${vmrss:-0}" \
  --argjson p999 "$(field engine_us_p999)" --argjson concealed "${concealed:-0}" \
  --argjson late "${late:-0}" --argjson underruns "$(field underruns)" \
  --argjson xruns "$(field xruns)" --argjson remotes "$remotes" --argjson seconds "$seconds" \
  --argjson jitter "$jitter_ms" --argjson loss "$loss_pct" \
  --argjson depth "$(field depth_ms)" --argjson received "$(field received)" \
  --argjson thru "$thru_pct" --argjson jacktrip "$jacktrip_pct" \
  --argjson jacktrip_packets "$jacktrip_packets" --argjson senders "$senders_pct" \
  --argjson remotes_b "$(field remotes)" --argjson room_key_rejected "$(field room_key_rejected)" \
  '{period_frames: $period,
    one_way_latency_ms: ($latency | tonumber? // null),
    one_way_latency_frames: ($latency_frames | tonumber? // null),
    jamboxd_cpu_pct: $cpu, jack_client_floor_cpu_pct: $floor, jamboxd_rss_kb: $rss, jamboxd_vmrss_kb: $vmrss,
    engine_us_p999: $p999,
    lost: ([$concealed - $late, 0] | max), concealed: $concealed, late: $late,
    underruns: $underruns, xruns_b: $xruns, impulses: $impulses, remotes: $remotes,
    seconds: $seconds, jitter_ms: $jitter, loss_pct: $loss, depth_ms: $depth,
    packets_received_b: $received,
    jack_thru_cpu_pct: $thru, jacktrip_client_cpu_pct: $jacktrip,
    jamboxd_over_floor: (if $thru > 0 then ($cpu / $thru * 100 | round) / 100 else null end),
    jamboxd_over_jacktrip:
      (if $jacktrip != null and $jacktrip > 0 then ($cpu / $jacktrip * 100 | round) / 100 else null end),
    jacktrip_packets_received_b: $jacktrip_packets, remotes_mixed_b: $remotes_b,
    room_key_rejected_b: $room_key_rejected, senders_cpu_pct: $senders}'
