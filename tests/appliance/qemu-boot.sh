#!/usr/bin/env bash
# Boots the jambox Raspberry Pi image (packaging/build-image.sh) under qemu-system-aarch64 -M virt
# (TCG, cortex-a72, 2 CPUs, the image as its disk, the image's own kernel and initrd, systemd as
# PID 1) and checks the appliance as a musician and an admin meet it:
#   - provisioning from the FAT partition: jambox/ files written with mtools before power-on
#   - managed (the default): the box's certificate, key and CA on the card, mosquitto with a test
#     PKI, the room server admitting the box by ticket into the room its jamboxd.conf names;
#     --standalone: the room's address and secret on the card instead
#   - multi-user.target with no failed units; jambox-jackd and jamboxd active, READY=1 and STATUS=
#   - the box in the room on this machine's jambox-broadcast with no hands on it
#   - the ALSA path: snd-aloop (jambox/modules), jackd -d alsa on the loopback card, jamboxd's ports
#   - reload of an edited jamboxd.conf without restarting audio; a typo refused, the box plays on
#   - kill -STOP of jamboxd: the watchdog restarts it and it rejoins
#   - systemd-analyze security jamboxd on the running system
#   - power cut (qemu killed), boot again: back in the room, no fsck failure, last boot's journal
# Prints one JSON line last. The guest reaches nothing but the loopback of a network namespace
# this test creates, where jambox-broadcast and mosquitto run (qemu user networking; see
# docs/image.md for why not restrict=on: it drops all of the guest's UDP). Commands in the guest go
# over SSH, turned on through the boot partition the documented way (jambox/ssh).
#
# Usage: tests/appliance/qemu-boot.sh [--image DIR] [--standalone]   (default build/image)
# Environment: JAMBOX_BUILD_DIR (jambox-broadcast for this machine, default build/release).
set -Eeuo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
image_dir=$repo/build/image
mode=managed
while (($#)); do
  case $1 in
    --image) image_dir=$(realpath "$2"); shift 2 ;;
    --standalone) mode=standalone; shift ;;
    *) echo "usage: $0 [--image DIR] [--standalone]" >&2; exit 64 ;;
  esac
done
build=${JAMBOX_BUILD_DIR:-$repo/build/release}
build=$(realpath "$build")

# Our own network namespace: only its loopback exists, the guest reaches nothing else.
if [[ -z ${JAMBOX_QEMU_NETNS:-} ]]; then
  args=(--image "$image_dir")
  [[ $mode == standalone ]] && args+=(--standalone)
  exec env JAMBOX_QEMU_NETNS=1 JAMBOX_BUILD_DIR="$build" unshare --net -- "$0" "${args[@]}"
fi
ip link set lo up

die() { echo "qemu-boot: FAIL: $*" >&2; exit 1; }
trap 'echo "qemu-boot: FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR
note() { echo "qemu-boot: $*" >&2; }
for f in jambox-arm64.img vmlinuz initrd.img; do
  [[ -e $image_dir/$f ]] || die "$image_dir/$f missing: packaging/build-image.sh"
done
broadcast=$build/daemon/broadcast/jambox-broadcast
[[ -x $broadcast ]] || die "$broadcast not built"
command -v qemu-system-aarch64 >/dev/null || die "qemu-system-aarch64 missing: packaging/install-deps.sh image"
[[ $mode == standalone ]] || command -v mosquitto >/dev/null || die "mosquitto missing: packaging/install-deps.sh test"

tmp=$(mktemp -d /tmp/jambox-qemu.XXXXXX)
qemu_pid="" server_pid="" broker_pid=""
cleanup() {
  # Every step runs, whatever the one before did (a qemu that already died, say): nothing the
  # test started outlives it.
  set +e
  trap - ERR
  [[ -n $qemu_pid ]] && kill -9 "$qemu_pid" 2>/dev/null
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null
  [[ -n $broker_pid ]] && kill "$broker_pid" 2>/dev/null
  wait 2>/dev/null || true
  if [[ -n ${JAMBOX_QEMU_KEEP:-} ]]; then note "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# The room server (and, managed, the broker) on this namespace's loopback; the guest reaches
# them as 10.0.2.2, the name in the broker's certificate.
port=7930
mqtt_port=8883
box=jambox-ci
secret=$(openssl rand -base64 24)
umask 077
cat >"$tmp/broadcast.conf" <<CONF
[server]
listen = "127.0.0.1:$port"
member_timeout_ms = 2000
[stats]
file = "$tmp/stats.json"
interval_ms = 250
[[room]]
name = "main"
secret = "$secret"
CONF
if [[ $mode == managed ]]; then
  "$repo/packaging/make-pki.sh" "$tmp/pki" --player "$box" --broker-san IP:10.0.2.2 >/dev/null
  "$repo/tests/support/mosquitto-conf.sh" "$tmp/pki" "$mqtt_port" >"$tmp/mosquitto.conf"
  mosquitto -c "$tmp/mosquitto.conf" >"$tmp/mosquitto.log" 2>&1 &
  broker_pid=$!
  cat >>"$tmp/broadcast.conf" <<CONF
[mqtt]
enabled = true
broker = "ssl://127.0.0.1:$mqtt_port"
ca_file = "$tmp/pki/ca.crt"
cert_file = "$tmp/pki/jambox-broadcast.crt"
key_file = "$tmp/pki/jambox-broadcast.key"
public_endpoint = "10.0.2.2"
CONF
fi
"$broadcast" --config "$tmp/broadcast.conf" 2>"$tmp/broadcast.log" &
server_pid=$!

members() {  # sessions in room main, from the server's stats file
  python3 - "$tmp/stats.json" <<'PY' 2>/dev/null || echo 0
import json, sys
s = json.load(open(sys.argv[1]))
print(sum(r["member_count"] for r in s["rooms"] if r["name"] == "main"))
PY
}

# The card: a sparse copy of the image, 1 GiB larger (the first boot grows the root filesystem),
# and the files a musician puts on its boot partition.
disk=$tmp/disk.img
cp --sparse=always "$image_dir/jambox-arm64.img" "$disk"
truncate -s +1G "$disk"
ssh-keygen -q -t ed25519 -N "" -C qemu-boot -f "$tmp/id" 
mkdir "$tmp/card"
cp "$tmp/id.pub" "$tmp/card/ssh"
echo snd-aloop >"$tmp/card/modules"
echo jambox-ci >"$tmp/card/hostname"
# Emulated, the guest cannot keep 64-frame periods: 256 frames, 3 periods (5.3 ms).
printf 'JACK_DRIVER=alsa\nJACK_DEVICE=hw:Loopback\nJACK_PERIOD=256\nJACK_NPERIODS=3\n' >"$tmp/card/jackd.conf"
cat >"$tmp/card/jamboxd.conf" <<CONF
[audio]
capture = ["system:capture_1", "system:capture_2"]
playback = ["system:playback_1", "system:playback_2"]
packet_frames = 256
CONF
if [[ $mode == managed ]]; then
  # The admin's card: the box's identity; the room servers admit it into the room named here.
  cp "$tmp/pki/ca.crt" "$tmp/card/ca.crt"
  cp "$tmp/pki/$box.crt" "$tmp/card/player.crt"
  cp "$tmp/pki/$box.key" "$tmp/card/player.key"
  cat >>"$tmp/card/jamboxd.conf" <<CONF
[room]
name = "main"
[mqtt]
enabled = true
broker = "ssl://10.0.2.2:$mqtt_port"
player_key = "$box"
CONF
else
  echo "$secret" >"$tmp/card/room.secret"
  cat >>"$tmp/card/jamboxd.conf" <<CONF
[room]
server = "10.0.2.2:$port"
name = "main"
secret_file = "/etc/jambox/room.secret"
CONF
fi
fat="$disk@@4M"
mmd -i "$fat" ::jambox 2>/dev/null || true
mcopy -o -i "$fat" "$tmp"/card/* ::jambox/

# The network card without its PXE boot ROM: the kernel is given, nothing boots from the network
# (and ipxe-qemu, which holds the ROM, need not be installed).
boot() {  # starts the guest; its serial console goes to console.N.log
  local n=$1
  qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m 1024 -display none -monitor none \
    -serial "file:$tmp/console.$n.log" \
    -kernel "$image_dir/vmlinuz" -initrd "$image_dir/initrd.img" \
    -append "root=LABEL=RASPIROOT rw rootwait fsck.repair=yes net.ifnames=0 console=ttyAMA0" \
    -drive "if=none,id=card,file=$disk,format=raw" -device virtio-blk-pci,drive=card \
    -netdev "user,id=net,hostfwd=tcp:127.0.0.1:2222-:22" -device virtio-net-pci,netdev=net,romfile= \
    -device virtio-rng-pci &
  qemu_pid=$!
  boot_start=$(date +%s.%N)
}
guest() {  # runs a command in the guest as root
  ssh -q -i "$tmp/id" -p 2222 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o ConnectTimeout=5 -o BatchMode=yes root@127.0.0.1 "$@"
}
elapsed() { python3 -c "import time,sys; print(round(time.time()-float(sys.argv[1]),1))" "$boot_start"; }
wait_for() {  # seconds description command...: polls every second
  local limit=$1 what=$2
  shift 2
  local end=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < end)) || die "$what not within $limit s (console: $(tail -n 5 "$tmp"/console.*.log | tr '\n' '|'))"
    kill -0 "$qemu_pid" 2>/dev/null || die "qemu exited (console: $(tail -n 20 "$tmp"/console.*.log))"
    sleep 1
  done
}
joins() {  # JOINs the server has admitted so far
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["totals"]["joins"])' "$tmp/stats.json" 2>/dev/null || echo 0
}
in_room() { (($(members) >= 1)); }
joined_since() { (($(joins) > $1)) && in_room; }
settled() {  # systemd is done starting: running, or degraded (failed units: checked after)
  local s
  s=$(guest systemctl is-system-running 2>/dev/null || true)
  [[ $s == running || $s == degraded ]]
}

boot 1
wait_for 600 "the box in the room" in_room
boot_to_room_s=$(elapsed)
note "in the room $boot_to_room_s s after power-on"
wait_for 300 "SSH" guest true
wait_for 300 "systemd to settle" settled
state=$(guest systemctl is-system-running || true)
failed=$(guest systemctl --failed --no-legend --plain | awk '{print $1}' | tr '\n' ' ')
[[ $state == running && -z $failed ]] || die "system $state, failed units: $failed"
for unit in jambox-jackd jamboxd; do
  [[ $(guest systemctl is-active "$unit") == active ]] || die "$unit not active"
done
show=$(guest systemctl show jamboxd -p StatusText -p ActiveEnterTimestampMonotonic -p MainPID -p Type)
status_text=$(sed -n 's/^StatusText=//p' <<<"$show")
[[ -n $status_text ]] || die "no STATUS= from jamboxd"
ready_us=$(sed -n 's/^ActiveEnterTimestampMonotonic=//p' <<<"$show")
boot_to_ready_s=$(python3 -c "print(round($ready_us/1e6,1))")
pid1=$(sed -n 's/^MainPID=//p' <<<"$show")
first_line=$(guest journalctl -b -u jamboxd -o cat --no-pager | grep -m 1 '^jamboxd .* started: ' || true)
[[ -n $first_line ]] || die "no start-up line of jamboxd in the journal"
note "jamboxd ready ${boot_to_ready_s} s after the kernel started; STATUS=$status_text"
note "journal: $first_line"

# Provisioning: the files are in /etc/jambox with their modes and off the card (the key first).
prov=$(guest 'cd /etc/jambox && stat -c "%n %a %U" jamboxd.conf room.secret jackd.conf pki/* 2>&1; ls /boot/firmware/jambox; cat /etc/hostname')
provisioning_ok=false
if grep -q "^jamboxd.conf 640 root" <<<"$prov" && grep -q "^room.secret 640 root" <<<"$prov" &&
  grep -qx jambox-ci <<<"$prov" && ! grep -qx "jamboxd.conf" <<<"$prov"; then
  provisioning_ok=true
fi
if [[ $mode == managed ]]; then
  grep -q "^pki/player.key 600 jambox" <<<"$prov" && grep -q "^pki/player.crt 644 root" <<<"$prov" &&
    grep -q "^pki/ca.crt 644 root" <<<"$prov" && ! grep -qx "player.key" <<<"$prov" ||
    provisioning_ok=false
  # In the room by a ticket from the room server, asked for through the broker.
  grep -q "admission: ticket for room main to $box" "$tmp/broadcast.log" ||
    die "the box is in the room without a ticket: $(tail -n 5 "$tmp/broadcast.log")"
fi
[[ $provisioning_ok == true ]] || die "provisioning: $prov"

# The ALSA path: jackd on the loopback card, jamboxd's ports connected to it.
alsa=$(guest 'cat /proc/asound/cards; ps -o args= -C jackd; runuser -u jambox -- jack_lsp -c 2>/dev/null')
alsa_ok=false
if grep -q Loopback <<<"$alsa" && grep -q -- "-d alsa.*hw:Loopback" <<<"$alsa" &&
  grep -A1 "^system:capture_1" <<<"$alsa" | grep -q "jamboxd:"; then
  alsa_ok=true
fi
[[ $alsa_ok == true ]] || die "ALSA path: $alsa"

# Reload: an edited setting applies without restarting audio; a typo is refused and the box plays on.
guest "sed -i 's/^\[audio\]/[audio]\nmaster_gain_db = -3.0/' /etc/jambox/jamboxd.conf && systemctl reload jamboxd"
pid2=$(guest systemctl show jamboxd -p MainPID --value)
guest "sed -i 's/^master_gain_db = -3.0/master_gain_db = loud/' /etc/jambox/jamboxd.conf"
typo_refused=false
guest systemctl reload jamboxd 2>/dev/null || typo_refused=true
pid3=$(guest systemctl show jamboxd -p MainPID --value)
reloaded=$(guest "journalctl -b -u jamboxd -o cat --no-pager | grep -c 'configuration reloaded'" || true)
reload_ok=false
[[ $pid1 == "$pid2" && $pid2 == "$pid3" && $typo_refused == true && ${reloaded:-0} -ge 1 ]] &&
  [[ $(guest systemctl is-active jamboxd) == active ]] && in_room && reload_ok=true
guest "sed -i 's/^master_gain_db = loud/master_gain_db = -3.0/' /etc/jambox/jamboxd.conf"
[[ $reload_ok == true ]] || die "reload: pids $pid1 $pid2 $pid3, reloaded $reloaded, typo refused $typo_refused"

# Watchdog: a stopped jamboxd is restarted and rejoins.
joins_before=$(joins)
guest "kill -STOP $pid3"
restarted() { local p; p=$(guest systemctl show jamboxd -p MainPID --value); [[ -n $p && $p != 0 && $p != "$pid3" ]]; }
wait_for 60 "the watchdog restart" restarted
wait_for 60 "the rejoin after the watchdog" joined_since "$joins_before"
watchdog_ok=true

exposure=$(guest systemd-analyze security jamboxd --no-pager 2>/dev/null | sed -n 's/.*Overall exposure level for jamboxd.service: \([0-9.]*\).*/\1/p')
[[ -n $exposure ]] || die "no exposure from systemd-analyze security"

# Power cut: the guest is killed while it plays, then powered on again.
guest sync || true
sleep 3
kill -9 "$qemu_pid"
wait "$qemu_pid" 2>/dev/null || true
joins_before=$(joins)
boot 2
wait_for 600 "the box in the room after the power cut" joined_since "$joins_before"
wait_for 300 "SSH after the power cut" guest true
previous=$(guest journalctl -b -1 -u jamboxd --no-pager -o cat | wc -l)
fsck_failed=$(guest "journalctl -b 0 --no-pager -o cat | grep -ci 'fsck.*fail\|emergency mode'" || true)
power_cut_ok=false
[[ $previous -gt 0 && ${fsck_failed:-0} == 0 ]] && power_cut_ok=true
[[ $power_cut_ok == true ]] || die "after the power cut: last boot's jamboxd lines $previous, fsck failures $fsck_failed"

printf '{"mode":"%s","boot_to_ready_s":%s,"boot_to_room_s":%s,"alsa_ok":%s,"reload_ok":%s,"watchdog_ok":%s,"power_cut_ok":%s,"provisioning_ok":%s,"exposure":%s,"jack_period_frames":256}\n' \
  "$mode" "$boot_to_ready_s" "$boot_to_room_s" "$alsa_ok" "$reload_ok" "$watchdog_ok" \
  "$power_cut_ok" "$provisioning_ok" "$exposure"
