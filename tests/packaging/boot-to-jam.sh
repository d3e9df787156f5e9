#!/usr/bin/env bash
# Boot-to-jam proof, on a machine where the jamboxd and jambox-broadcast packages are installed
# (tests/packaging/deb-install-test.sh installs them on a fresh machine and calls this):
#   1. does what the admin does on a machine without a sound card: /etc/jambox/jackd.conf gets
#      JACK_DRIVER=dummy, jamboxd.conf the room server's address, jambox-broadcast.conf the room's
#      secret (the one the box generated at install);
#   2. starts the installed units the way systemd would at boot (tests/packaging/run-unit.sh: their
#      own Exec lines, users, environment files, limits), each box in a mount namespace of its own
#      so that each has its own JACK server "default" (/dev/shm) and box B its own /etc/jambox;
#   3. passes when jambox-broadcast and both boxes said READY=1 on the notify socket this test
#      provides, both boxes report the other one in the room, and both pet the watchdog from
#      their event loop; then stops everything with SIGTERM and checks each exits 0.
# Prints one JSON line last: seconds from the first unit's start to each milestone.
# Needs root (users, namespaces, /etc/jambox). Changes the installed configuration files.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
units=/lib/systemd/system
deadline_s=${JAMBOX_BOOT_DEADLINE_S:-5}
fail() { echo "boot-to-jam: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || fail "needs root"
for unit in jambox-broadcast jambox-jackd jamboxd; do
  [[ -f $units/$unit.service ]] || fail "$unit.service is not installed"
done

work=$(mktemp -d /run/jambox-boot.XXXXXX)  # not under /tmp: the units get a private /tmp
chmod 0755 "$work"
pids=()
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ $status != 0 ]]; then
    for log in "$work"/*.log; do echo "---- $(basename "$log")"; tail -n 30 "$log"; done >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# 1. The admin's edits.
secret=$(cat /etc/jambox/room.secret)
sed -i 's/^#\?JACK_DRIVER=.*/JACK_DRIVER=dummy/' /etc/jambox/jackd.conf
sed -i 's/^server = .*/server = "127.0.0.1:7930"/' /etc/jambox/jamboxd.conf
sed -i "s|^secret = .*|secret = \"$secret\"|" /etc/jambox/jambox-broadcast.conf
grep -q '^JACK_DRIVER=dummy' /etc/jambox/jackd.conf || fail "could not set JACK_DRIVER"
grep -q "^secret = \"$secret\"" /etc/jambox/jambox-broadcast.conf || fail "could not set the secret"
# Box B is a second Pi with the same configuration: a copy of /etc/jambox, owners and modes kept.
cp -a /etc/jambox "$work/boxB-etc"

python3 "$here/notify-listen.py" "$work" broadcast boxA boxB >"$work/notify.log" &
pids+=($!)
for _ in $(seq 50); do grep -q LISTENING "$work/notify.log" && break; sleep 0.1; done

# 2. Boot: the room server, then each box's JACK unit and, once it is started (After=), jamboxd.
start_box() {  # name etc_dir
  local name=$1 etc=$2
  mkdir -p "$work/$name"
  unshare --mount --propagation private -- bash -c '
    set -eu
    work=$1 name=$2 etc=$3 here=$4 units=$5
    mount -t tmpfs -o mode=1777 tmpfs /dev/shm
    [ "$etc" = /etc/jambox ] || mount --bind "$etc" /etc/jambox
    "$here/run-unit.sh" "$units/jambox-jackd.service" "$work/$name" >"$work/$name-jackd.log" 2>&1 &
    jackd_runner=$!
    box_runner=""
    trap "status=1; [ -z \"\$box_runner\" ] || { kill -TERM \$box_runner 2>/dev/null; wait \$box_runner; status=\$?; }; kill -TERM $jackd_runner; wait $jackd_runner; exit \$status" TERM
    for _ in $(seq 200); do
      [ -e "$work/$name/jambox-jackd.started" ] && break
      kill -0 "$jackd_runner" 2>/dev/null || { echo "jambox-jackd failed" >&2; exit 1; }
      sleep 0.05
    done
    "$here/run-unit.sh" "$units/jamboxd.service" "$work/$name" "$work/$name.notify" \
      >"$work/$name-jamboxd.log" 2>&1 &
    box_runner=$!
    wait $box_runner
  ' box "$work" "$name" "$etc" "$here" "$units" >"$work/$name-box.log" 2>&1 &
  pids+=($!)
}

mkdir -p "$work/broadcast"
t0=$(date +%s.%N)
"$here/run-unit.sh" "$units/jambox-broadcast.service" "$work/broadcast" "$work/broadcast.notify" \
  >"$work/broadcast.log" 2>&1 &
broadcast_runner=$!
pids+=("$broadcast_runner")
start_box boxA /etc/jambox
box_a=${pids[-1]}
start_box boxB "$work/boxB-etc"
box_b=${pids[-1]}

# 3. Watch the notify socket (lines carry wall-clock seconds; t0 is the first unit's start). Only
# what a unit's main process sent counts (NotifyAccess=main).
in_room="STATUS=room main: joined, 2 members"
milestones=(broadcast:READY=1 boxA:READY=1 boxB:READY=1 "boxA:$in_room" "boxB:$in_room"
  boxA:WATCHDOG=1 boxB:WATCHDOG=1)
scan() {  # prints "<seconds after t0> <milestone>" for each milestone reached so far
  local pids=""
  pids+=" broadcast=$(cat "$work/broadcast/jambox-broadcast.mainpid" 2>/dev/null || true)"
  pids+=" boxA=$(cat "$work/boxA/jamboxd.mainpid" 2>/dev/null || true)"
  pids+=" boxB=$(cat "$work/boxB/jamboxd.mainpid" 2>/dev/null || true)"
  printf '%s\n' "${milestones[@]}" | awk -v pids="$pids" -v t0="$t0" -v logfile="$work/notify.log" '
    BEGIN {
      n = split(pids, list, " ")
      for (i = 1; i <= n; i++) { split(list[i], kv, "="); mainpid[kv[1]] = kv[2] }
    }
    { wanted[NR] = $0 }
    END {
      while ((getline line < logfile) > 0) {
        split(line, f, " ")
        if (mainpid[f[2]] == "" || f[3] != mainpid[f[2]]) continue
        text = substr(line, index(line, f[4]))
        for (i in wanted) if (!(i in at) && index(f[2] ":" text, wanted[i]) == 1) at[i] = f[1] - t0
      }
      for (i in at) printf "%.2f %s\n", at[i], wanted[i]
    }'
}
declare -A seen=()
while :; do
  while read -r at milestone; do seen[$milestone]=$at; done < <(scan)
  missing=()
  for milestone in "${milestones[@]}"; do [[ -v seen[$milestone] ]] || missing+=("[$milestone]"); done
  ((${#missing[@]} == 0)) && break
  for pid in "$broadcast_runner" "$box_a" "$box_b"; do
    kill -0 "$pid" 2>/dev/null || fail "a unit stopped during start-up; missing: ${missing[*]}"
  done
  awk -v t0="$t0" -v now="$(date +%s.%N)" 'BEGIN { exit !(now - t0 > 30) }' &&
    fail "not in the jam 30 s after start; missing: ${missing[*]}"
  sleep 0.2
done

both_in_room=$(printf '%s\n' "${seen[boxA:$in_room]}" "${seen[boxB:$in_room]}" | sort -n | tail -n1)
echo "boot-to-jam: READY=1 from jambox-broadcast at ${seen[broadcast:READY=1]} s, from the boxes at" \
  "${seen[boxA:READY=1]} s and ${seen[boxB:READY=1]} s; both boxes in the room at $both_in_room s"
awk -v t="$both_in_room" -v max="$deadline_s" 'BEGIN { exit !(t <= max) }' ||
  fail "both boxes were in the room only $both_in_room s after start (limit $deadline_s s)"

# 4. Stop as systemd would (SIGTERM to the main processes): each leaves cleanly with exit 0.
for pid in "$box_a" "$box_b" "$broadcast_runner"; do kill -TERM "$pid"; done
for pid in "$box_a" "$box_b" "$broadcast_runner"; do
  status=0
  wait "$pid" || status=$?
  ((status == 0)) || fail "a unit exited with status $status after SIGTERM"
done
pids=("${pids[0]}")  # the listener
printf '{"ready_broadcast_s":%s,"ready_box_a_s":%s,"ready_box_b_s":%s,"both_in_room_s":%s,"watchdog_box_a_s":%s,"watchdog_box_b_s":%s}\n' \
  "${seen[broadcast:READY=1]}" "${seen[boxA:READY=1]}" "${seen[boxB:READY=1]}" "$both_in_room" \
  "${seen[boxA:WATCHDOG=1]}" "${seen[boxB:WATCHDOG=1]}"
