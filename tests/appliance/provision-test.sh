#!/usr/bin/env bash
# The image's first boot provisioning (packaging/image/rootfs/usr/lib/jambox/image/provision) on
# this machine, in a scratch tree: a complete set is applied with the right owners and modes and
# leaves the card; the key never stays on the card; a bad jamboxd.conf or jackd.conf is refused
# with file, line and key, the previous configuration stays, and the kept key completes the
# corrected set; a bad host name and an SSH file without keys change nothing; unknown files stay.
# The configuration checks are the real ones: jamboxd --check-config (JAMBOX_BUILD_DIR) and
# packaging/libexec/jambox-jackd --check.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${JAMBOX_BUILD_DIR:?set JAMBOX_BUILD_DIR to a build directory with daemon/jamboxd/jamboxd}
jamboxd=$build/daemon/jamboxd/jamboxd
provision=$repo/packaging/image/rootfs/usr/lib/jambox/image/provision
[[ -x $jamboxd ]] || { echo "provision-test: $jamboxd not built" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "provision-test: FAIL: $*" >&2; exit 1; }
pass() { echo "provision-test: ok: $*"; }

boot=$tmp/boot/jambox etc=$tmp/etc state=$tmp/state
mkdir -p "$boot" "$etc" "$state"
group=$(id -gn)
user=$(id -un)
run() {
  JAMBOX_BOOT_DIR=$boot JAMBOX_ETC=$etc JAMBOX_PROVISION_STATE=$state JAMBOX_PROVISION_USER=$user \
    JAMBOX_CHECK_CONFIG="$jamboxd --check-config --config $etc/jamboxd.conf" \
    JAMBOX_CHECK_JACKD="$repo/packaging/libexec/jambox-jackd --check" \
    JAMBOX_HOSTNAME_FILE=$tmp/hostname JAMBOX_SSH_DIR=$tmp/ssh JAMBOX_ENABLE_SSH=true \
    JAMBOX_MODULES_FILE=$tmp/modules.conf JAMBOX_MODPROBE=true \
    bash "$provision"
}
mode() { stat -c '%a %U' "$1"; }

# The PKI of a managed box: the test CA and a player certificate (CN = its player key).
player=5f0c2a5e-0000-4000-8000-0000000000aa
"$repo/packaging/make-pki.sh" "$tmp/pki" --player "$player" >/dev/null || fail "make-pki.sh"
managed_conf() {  # [extra line]: a managed box's jamboxd.conf pointing at the scratch /etc/jambox
  cat <<CONF
[mqtt]
enabled = true
broker = "ssl://10.0.2.2:8883"
player_key = "$player"
ca_file = "$etc/pki/ca.crt"
cert_file = "$etc/pki/player.crt"
key_file = "$etc/pki/player.key"
${1:-}
CONF
}

# 0. Nothing on the card: the box gets a room secret of its own, nothing else changes.
run >/dev/null
[[ -s $etc/room.secret && $(mode "$etc/room.secret") == "640 $user" ]] || fail "no room secret made"
[[ ! -e $boot/provision.txt ]] || fail "a report without files"
pass "first boot without files: a room secret of this box's own"

# 1. A complete managed set: applied, owners and modes right, nothing left on the card but the report.
managed_conf >"$boot/jamboxd.conf"
printf 'JACK_DRIVER=alsa\nJACK_DEVICE=hw:Loopback\nJACK_PERIOD=128\n' >"$boot/jackd.conf"
cp "$tmp/pki/ca.crt" "$boot/ca.crt"
cp "$tmp/pki/$player.crt" "$boot/player.crt"
cp "$tmp/pki/$player.key" "$boot/player.key"
echo "stage-left" >"$boot/hostname"
echo "a note" >"$boot/README.txt"
run >"$tmp/out1"
grep -q "applied" "$tmp/out1" || fail "set not applied: $(cat "$tmp/out1")"
[[ $(mode "$etc/pki/player.key") == "600 $user" ]] || fail "key mode $(mode "$etc/pki/player.key")"
[[ $(mode "$etc/jamboxd.conf") == "640 root" ]] || fail "jamboxd.conf mode $(mode "$etc/jamboxd.conf")"
[[ $(mode "$etc/pki/ca.crt") == "644 root" ]] || fail "ca.crt mode"
cmp -s "$etc/pki/player.key" "$tmp/pki/$player.key" || fail "key content"
[[ $(cat "$tmp/hostname") == stage-left ]] || fail "hostname not set"
for f in jamboxd.conf jackd.conf ca.crt player.crt player.key hostname; do
  [[ ! -e $boot/$f ]] || fail "$f still on the card"
done
[[ -e $boot/README.txt ]] || fail "an unknown file was removed"
grep -q "README.txt: unknown file" "$boot/provision.txt" || fail "unknown file not reported"
"$jamboxd" --check-config --config "$etc/jamboxd.conf" >/dev/null 2>&1 || fail "applied config does not check"
pass "managed set applied: key 0600 $user, configuration 0640, card emptied, report on the card"

# 2. A bad jamboxd.conf with a new key: refused with file, line and key; the previous
#    configuration stays; the key leaves the card anyway and waits for the corrected set.
rm -f "$boot/README.txt" "$boot/provision.txt"
before=$(sha256sum "$etc/jamboxd.conf" "$etc/pki/player.key")
managed_conf 'status_interval_s = 1' >"$boot/jamboxd.conf"
"$repo/packaging/make-pki.sh" "$tmp/pki" --player "$player" --force >/dev/null
cp "$tmp/pki/$player.crt" "$boot/player.crt"
cp "$tmp/pki/$player.key" "$boot/player.key"
run >"$tmp/out2"
grep -q "refused: .*jamboxd.conf:.*status_interval_s" "$tmp/out2" || fail "no file:line: key in: $(cat "$tmp/out2")"
[[ $(sha256sum "$etc/jamboxd.conf" "$etc/pki/player.key") == "$before" ]] || fail "previous config not kept"
[[ ! -e $boot/player.key ]] || fail "the key stayed on the card after a refusal"
grep -q "refused" "$boot/provision.txt" || fail "refusal not on the card"
[[ $(mode "$state/pending/player.key") == "600 root" ]] || fail "pending key not kept root-only"
pass "bad jamboxd.conf refused with file:line: key, previous configuration kept, key off the card"

# 3. The corrected jamboxd.conf alone completes the set with the kept certificate and key.
managed_conf 'status_interval_s = 60' >"$boot/jamboxd.conf"
run >"$tmp/out3"
grep -q "applied" "$tmp/out3" || fail "corrected set not applied: $(cat "$tmp/out3")"
cmp -s "$etc/pki/player.key" "$tmp/pki/$player.key" || fail "the kept key was not used"
[[ ! -e $state/pending ]] || fail "pending files left behind"
pass "corrected jamboxd.conf applied with the kept certificate and key"

# 4. A bad jackd.conf, a bad host name, an ssh file without keys: refused or ignored, named.
printf 'JACK_DRIVER=alsa\nJACK_PERIOD=100\n' >"$boot/jackd.conf"
echo "bad_name!" >"$boot/hostname"
echo "password123" >"$boot/ssh"
jackd_before=$(sha256sum "$etc/jackd.conf")
run >"$tmp/out4"
grep -q "refused: .*jackd.conf:2: JACK_PERIOD" "$tmp/out4" || fail "jackd.conf not refused: $(cat "$tmp/out4")"
[[ $(sha256sum "$etc/jackd.conf") == "$jackd_before" ]] || fail "jackd.conf changed"
[[ $(cat "$tmp/hostname") == stage-left ]] || fail "bad hostname applied"
[[ ! -e $tmp/ssh/authorized_keys ]] || fail "ssh turned on without a key"
grep -q "ssh: no public key" "$tmp/out4" || fail "ssh file not explained"
pass "bad jackd.conf, host name and ssh file refused with a reason each"

# 5. Sound drivers to load: only snd-* names.
printf 'snd-aloop\n' >"$boot/modules"
run >/dev/null
grep -qx snd-aloop "$tmp/modules.conf" || fail "modules not written"
printf 'snd-aloop\nbtrfs\n' >"$boot/modules"
run >"$tmp/out5m"
grep -q "only sound drivers.*btrfs" "$tmp/out5m" || fail "a non-sound module accepted: $(cat "$tmp/out5m")"
grep -qx snd-aloop "$tmp/modules.conf" || fail "refused modules changed the file"
pass "modules: sound drivers written for every boot, anything else refused"

# 6. SSH turned on by a public key.
echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBtestkeytestkeytestkeytestkeytestkeytest admin@laptop" >"$boot/ssh"
run >"$tmp/out5"
[[ $(mode "$tmp/ssh/authorized_keys") == "600 root" ]] || fail "authorized_keys mode"
grep -q "ssh: on" "$tmp/out5" || fail "ssh not reported on"
pass "ssh file with a public key: SSH on, keys only"
echo "provision-test: all passed"
