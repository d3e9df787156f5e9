#!/usr/bin/env bash
# Benchmarks jambox-broadcast on this machine: starts its own server on 127.0.0.1 with a bench
# config, runs jambox-loadgen against it, stops everything it started, and prints the load
# generator's JSON result line as the LAST line of its output (progress goes to stderr).
#
# Usage: tests/bench/broadcast-bench.sh [--jammers J] [--rooms R] [--seconds S] [--junk-rate N]
#                                       [--live] [-- extra jambox-loadgen options]
# Defaults: 8 jammers, 1 room, 10 seconds, no junk. The build directory is $JAMBOX_BUILD_DIR,
# by default the `release` preset's (<repo>/build/release).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${JAMBOX_BUILD_DIR:-$repo/build/release}
jammers=8
rooms=1
seconds=10
junk_rate=0
loadgen_extra=()

usage() { sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() {
  echo "broadcast-bench: $*" >&2
  exit 1
}
need_number() { [[ $2 =~ ^[0-9]+([.][0-9]+)?$ ]] || die "$1 expects a number, got '$2'"; }

while (($# > 0)); do
  case $1 in
    --jammers) need_number "$1" "${2-}"; jammers=$2; shift 2 ;;
    --rooms) need_number "$1" "${2-}"; rooms=$2; shift 2 ;;
    --seconds) need_number "$1" "${2-}"; seconds=$2; shift 2 ;;
    --junk-rate) need_number "$1" "${2-}"; junk_rate=$2; shift 2 ;;
    --live) loadgen_extra+=(--live); shift ;;
    --) shift; loadgen_extra+=("$@"); break ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option '$1'" ;;
  esac
done
[[ $jammers =~ ^[0-9]+$ && $rooms =~ ^[0-9]+$ && $junk_rate =~ ^[0-9]+$ ]] ||
  die "--jammers, --rooms and --junk-rate take whole numbers"
((rooms >= 1)) || die "--rooms must be at least 1"
((jammers >= rooms)) || die "--jammers must be at least --rooms ($rooms)"
per_room=$(((jammers + rooms - 1) / rooms))
((per_room <= 64)) || die "at most 64 jammers per room (the server's limit); use more rooms"
((rooms <= 1024)) || die "at most 1024 rooms"

# The programs: where the project's CMakeLists put them, else anywhere in the build tree.
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
server_bin=$(find_program jambox-broadcast daemon/broadcast/jambox-broadcast bin/jambox-broadcast jambox-broadcast)
loadgen_bin=$(find_program jambox-loadgen tests/bench/loadgen/jambox-loadgen bin/jambox-loadgen jambox-loadgen)
if [[ -z $server_bin || -z $loadgen_bin ]]; then
  missing=()
  [[ -z $server_bin ]] && missing+=(jambox-broadcast)
  [[ -z $loadgen_bin ]] && missing+=(jambox-loadgen)
  die "${missing[*]} not found in $build.
Build first (from $repo):  cmake --preset release && cmake --build --preset release
or point JAMBOX_BUILD_DIR at another build directory."
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/jambox-bench.XXXXXX")
server_pid=
loadgen_pid=
source "$repo/tests/support/processes.sh"
cleanup() {
  [[ -n $loadgen_pid ]] && jambox_stop_process "$loadgen_pid"
  [[ -n $server_pid ]] && jambox_stop_process "$server_pid"
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

secret() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n'; }  # 32 hex characters

config=$tmp/jambox-broadcast.conf
stats=$tmp/stats.json
max_rooms=$((rooms > 16 ? rooms : 16))
max_members=$((per_room > 16 ? per_room : 16))
{
  echo '# jambox-broadcast benchmark configuration (generated)'
  echo '[server]'
  echo 'listen = "127.0.0.1:0"'
  echo "max_rooms = $max_rooms"
  echo "max_members = $max_members"
  echo
  echo '[stats]'
  echo "file = \"$stats\""
  echo 'interval_ms = 1000'
  echo 'log_interval_s = 0'
  echo
  echo '[logging]'
  echo 'level = "notice"'
} >"$config"
room_args=()
for ((r = 1; r <= rooms; r++)); do
  s=$(secret)
  printf '\n[[room]]\nname = "bench-%d"\nsecret = "%s"\n' "$r" "$s" >>"$config"
  room_args+=(--room "bench-$r=$s")
done

echo "broadcast-bench: $jammers jammers in $rooms room(s) for $seconds s, junk $junk_rate/s" >&2
echo "broadcast-bench: server $server_bin" >&2
"$server_bin" --config "$config" >"$tmp/server.out" 2>"$tmp/server.log" &
server_pid=$!

# The bound port is in the stats file (listen port 0 = any free port).
port=
for ((i = 0; i < 150; i++)); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    wait "$server_pid" && rc=0 || rc=$?
    server_pid=
    die "jambox-broadcast exited during start-up (exit $rc):
$(tail -n 20 "$tmp/server.log")"
  fi
  if [[ -s $stats ]]; then
    port=$(grep -o '"port"[[:space:]]*:[[:space:]]*[0-9]*' "$stats" | grep -o '[0-9]*$' || true)
    [[ -n $port && $port != 0 ]] && break
    port=
  fi
  sleep 0.1
done
[[ -n $port ]] || die "jambox-broadcast wrote no port to $stats within 15 s:
$(tail -n 20 "$tmp/server.log")"
echo "broadcast-bench: server pid $server_pid listening on 127.0.0.1:$port" >&2

"$loadgen_bin" --server "127.0.0.1:$port" "${room_args[@]}" --jammers "$jammers" \
  --seconds "$seconds" --junk-rate "$junk_rate" --server-pid "$server_pid" \
  "${loadgen_extra[@]}" >"$tmp/loadgen.json" &
loadgen_pid=$!
wait "$loadgen_pid" && rc=0 || rc=$?
loadgen_pid=
((rc == 0)) || die "jambox-loadgen failed (exit $rc); server log:
$(tail -n 20 "$tmp/server.log")"

jambox_stop_process "$server_pid"
server_pid=
# The final stats file tells what the server saw.
if [[ -s $stats ]]; then
  totals=$(tr -d ' \n' <"$stats" | grep -o '"totals":{[^}]*}' || true)
  echo "broadcast-bench: server $totals" >&2
fi
line=$(tail -n 1 "$tmp/loadgen.json")
[[ $line == \{* ]] || die "jambox-loadgen printed no JSON line"
echo "$line"
