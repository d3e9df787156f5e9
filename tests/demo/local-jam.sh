#!/usr/bin/env bash
# The jambox demo: a whole jam on this machine, managed the way an admin manages real boxes.
#
#   mosquitto     the broker, mutual TLS with a fresh PKI (packaging/make-pki.sh) and the shipped
#                 configuration and ACL (config/mosquitto/)
#   jackd x2      two dummy sound cards, 48 kHz / 64 frames, one per box
#   jambox-broadcast   the room server, room "garage"; it also answers the boxes' join_room
#                 requests over MQTT with tickets (the boxes never see the room's secret)
#   jamboxd x2    box-a and box-b in managed mode, started in no room
#   jamboxctl     the admin: join_room for both boxes, then live status and meters of box-b while a
#                 test signal plays into box-a's inputs (encrypted end to end with the room's key)
#   jambox-web    the musicians' web mixer on https://127.0.0.1:PORT/ (lighttpd with the shipped
#                 configuration, MQTT over its WebSocket); a demo login "alice" (box-a) and "bob"
#                 (box-b) with generated passwords, printed at the start
#
# Environment: JAMBOX_BUILD_DIR (default build/release), JAMBOX_DEMO_SECONDS (default 20).
# Exit 0 when both boxes joined the room and box-b heard box-a.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${JAMBOX_BUILD_DIR:-$repo/build/release}
seconds=${JAMBOX_DEMO_SECONDS:-20}

box_bin=$build/daemon/jamboxd/jamboxd
ctl_bin=$build/daemon/jamboxctl/jamboxctl
server_bin=$build/daemon/broadcast/jambox-broadcast
play_bin=$build/tests/jack-tools/jambox-jack-play
web_root=$build/web/dist
for bin in "$box_bin" "$ctl_bin" "$server_bin" "$play_bin"; do
  [[ -x $bin ]] || {
    echo "missing $bin: build first with 'cmake --preset release && cmake --build --preset release'" >&2
    exit 1
  }
done
[[ -f $web_root/index.html ]] || {
  echo "missing $web_root: the web app is built with the project (needs npm: packaging/install-deps.sh)" >&2
  exit 1
}
for tool in mosquitto jackd lighttpd; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed (packaging/install-deps.sh)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/jambox-jam.XXXXXX)
pids=()
source "$repo/tests/support/processes.sh"
cleanup() {
  jambox_stop_all  # newest first: the boxes leave their JACK servers before those stop
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
umask 077  # configs hold room secrets, the PKI holds keys
say() { printf '\n== %s\n' "$*"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

say "PKI: a CA, the broker, jamboxctl, jambox-broadcast, box-a and box-b"
"$repo/packaging/make-pki.sh" "$work/pki" --player box-a --player box-b | sed 's/^/   /'

mqtt_port=$(free_port)
"$repo/tests/support/mosquitto-conf.sh" "$work/pki" "$mqtt_port" >"$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
pids+=($!)
echo "$!" >"$work/mosquitto.pid"
for _ in $(seq 100); do [[ -S $work/web/web.sock ]] && break; sleep 0.1; done
say "broker: mosquitto on 127.0.0.1:$mqtt_port (mutual TLS, ACL per box) and $work/web/web.sock (musicians)"

ctl=("$ctl_bin" --broker "ssl://127.0.0.1:$mqtt_port" --ca "$work/pki/ca.crt"
  --cert "$work/pki/jamboxctl.crt" --key "$work/pki/jamboxctl.key"
  --web-dir "$work/web" --broker-pid-file "$work/mosquitto.pid")
for user in alice bob; do
  openssl rand -base64 12 | tr -d '/+=' >"$work/$user.password"
  box=box-a
  [[ $user == bob ]] && box=box-b
  "${ctl[@]}" user add "$user" --box "$box" --password-file "$work/$user.password" | sed 's/^/   /'
done
web_port=$(free_port)
"$repo/tests/support/web-conf.sh" "$work/pki" "$web_port" "$work/web/web.sock" "$web_root" \
  >"$work/jambox-web.conf"
lighttpd -D -f "$work/jambox-web.conf" >"$work/lighttpd.log" 2>&1 &
pids+=($!)
say "web mixer: open https://127.0.0.1:$web_port/  user alice, password $(cat "$work/alice.password")  (box-a)
   or as bob, password $(cat "$work/bob.password") (box-b); the certificate is the demo's own CA's"

source "$repo/tests/support/jackd.sh"
for box in a b; do
  jambox_start_jackd "jam-$box-$$" 64 "$work/jackd-$box.log" || exit 1
done
say "sound cards: jackd jam-a-$$ and jam-b-$$ (dummy driver, 48 kHz, 64 frames)"

secret=$(openssl rand -hex 16)
cat >"$work/jambox-broadcast.conf" <<CONF
[server]
listen = "127.0.0.1:0"
[stats]
file = "$work/stats.json"
interval_ms = 500
log_interval_s = 0
[[room]]
name = "garage"
secret = "$secret"
[mqtt]
enabled = true
broker = "ssl://127.0.0.1:$mqtt_port"
ca_file = "$work/pki/ca.crt"
cert_file = "$work/pki/jambox-broadcast.crt"
key_file = "$work/pki/jambox-broadcast.key"
public_endpoint = "127.0.0.1"
CONF
"$server_bin" --config "$work/jambox-broadcast.conf" 2>"$work/broadcast.log" &
pids+=($!)
udp_port=
for _ in $(seq 100); do
  [[ -s $work/stats.json ]] && udp_port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$work/stats.json" 2>/dev/null || true)
  [[ -n $udp_port && $udp_port != 0 ]] && break
  sleep 0.1
done
[[ -n $udp_port ]] || { echo "jambox-broadcast did not start: $(tail -n 5 "$work/broadcast.log")" >&2; exit 1; }
say "room server: jambox-broadcast on 127.0.0.1:$udp_port, room 'garage', admission over MQTT"

for box in a b; do
  cat >"$work/box-$box.conf" <<CONF
[audio]
client_name = "box-$box"
server_name = "jam-$box-$$"
capture = ["", ""]
playback = ["", ""]
monitor = false
[mqtt]
enabled = true
broker = "ssl://127.0.0.1:$mqtt_port"
player_key = "box-$box"
ca_file = "$work/pki/ca.crt"
cert_file = "$work/pki/box-$box.crt"
key_file = "$work/pki/box-$box.key"
status_interval_s = 5
[effects]
boards_dir = "$work/boards-$box"
CONF
  "$box_bin" --config "$work/box-$box.conf" 2> >(sed "s/^/   [box-$box] /" >"$work/box-$box.log") &
  pids+=($!)
done
say "boxes: jamboxd box-a and box-b, managed over MQTT, in no room yet"

for box in a b; do
  for _ in $(seq 30); do "${ctl[@]}" --timeout 1 send "box-$box" ping >/dev/null 2>&1 && break; done
done
say "jamboxctl send box-a join_room --room basement   (no server has that room: refused, exit 1)"
if "${ctl[@]}" send box-a join_room --room basement | sed 's/^/   /'; [[ ${PIPESTATUS[0]} -ne 1 ]]; then
  echo "jamboxctl did not report the refusal" >&2
  exit 1
fi
for box in a b; do
  say "jamboxctl send box-$box join_room --room garage   (the box asks the room server for a ticket)"
  "${ctl[@]}" send "box-$box" join_room --room garage | sed 's/^/   /'
done
for box in a b; do
  for _ in $(seq 100); do
    "${ctl[@]}" --json status "box-$box" 2>/dev/null | python3 -c '
import json, sys
s = json.load(sys.stdin)["result"]
sys.exit(0 if s["link"] == "joined" else 1)' && break
    sleep 0.1
  done
done

say "box-a plays a test signal; box-b as jamboxctl watch shows it (${seconds}s)"
"$play_bin" -s "jam-a-$$" -n demo-player -p box-a:in_1 -p box-a:in_2 -t "$seconds" -w 20 \
  --signal multitone --amplitude 0.3 >"$work/play.json" 2>"$work/play.log" &
pids+=($!)
timeout --signal=INT "$seconds" "${ctl[@]}" watch box-b | sed 's/^/   /' || true

say "status of box-b (jamboxctl status box-b --json)"
status=$("${ctl[@]}" --json status box-b)
python3 - "$status" <<'PY'
import json, sys
ack = json.loads(sys.argv[1])
s = ack["result"]
print(f"   room {s['room']} via {s['server']}: link {s['link']}, {s['members']} members, "
      f"RTT {s['rtt_ms']:.2f} ms, JACK {s['jack']['state']} {s['jack']['period']}/{s['jack']['sample_rate']}, "
      f"MQTT {s['connection_state']}")
print(f"   admitted by ticket: {s.get('admission', {}).get('state')}; audio encrypted with the room key: "
      f"{s['audio_encrypted']}, undecryptable packets: {s['room_key_rejected']}")
for r in s["remotes"]:
    print(f"   remote {r['session_id']}: buffer {r['depth_ms']:.1f} ms (target {r['target_ms']:.1f}), "
          f"jitter {r['jitter_ms']:.2f} ms, drift {r['drift_ppm']:.0f} ppm, concealed {r['concealed']}")
ok = (s["link"] == "joined" and s["members"] == 2 and len(s["remotes"]) == 1
      and s["audio_encrypted"] and s["room_key_rejected"] == 0)
sys.exit(0 if ok else 1)
PY
say "the room server's view"
python3 - "$work/stats.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
for room in s["rooms"]:
    print(f"   room {room['name']}: {room['member_count']} members, {room['forwarded']} packets forwarded")
PY
say "the web mixer answers: https://127.0.0.1:$web_port/"
curl -skf "https://127.0.0.1:$web_port/" | grep -q '<title>' ||
  { echo "jambox-web did not serve the web app: $(tail -n 5 "$work/lighttpd.log")" >&2; exit 1; }
say "jam ok: both boxes in 'garage' by ticket, box-b hears box-a, encrypted end to end"
