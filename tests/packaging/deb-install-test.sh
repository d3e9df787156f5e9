#!/usr/bin/env bash
# Builds the Debian packages, installs them on this machine the way an admin would
# (apt-get install ./jamboxd_*.deb ./jambox-broadcast_*.deb), and checks what installing did:
# the users (jambox in group audio, jambox-broadcast), units, the configuration's permissions,
# `--check-config` passing on the shipped defaults as the service users, then purges and checks
# that what the packages created is gone. Then installs again, boots into a jam
# (tests/packaging/boot-to-jam.sh, which edits the configuration as an admin does), purges and
# checks that the admin's edits are kept and everything else is gone.
# Needs root; changes this machine's packages.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
fail() { echo "deb-install-test: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || { echo "deb-install-test: needs root, skipped" >&2; exit 0; }
if dpkg -s jamboxd >/dev/null 2>&1 || dpkg -s jambox-broadcast >/dev/null 2>&1; then
  fail "jamboxd or jambox-broadcast is already installed here; not touching it"
fi

# The package's build dependencies are the shared list's (packaging/deps.txt, group build).
while read -r group package _; do
  [[ $group == build ]] || continue
  case $package in build-essential | git) continue ;; esac  # implied by dpkg-buildpackage / unused
  grep -q "^ *\(Build-Depends: \)\?$package\(:native\)\?[ ,]" debian/control ||
    grep -q "[ ,]$package,\?\$" debian/control || fail "debian/control does not build-depend on $package"
done < <(grep -v '^#' packaging/deps.txt)

arch=$(dpkg --print-architecture)
packaging/build-debs.sh "$arch"
version=$(dpkg-parsechangelog -S Version)
debs=("build/debs/$arch/jamboxd_${version}_${arch}.deb" "build/debs/$arch/jambox-broadcast_${version}_${arch}.deb")
web_deb="build/debs/$arch/jambox-web_${version}_all.deb"
cleanup() {
  apt-get purge -y jamboxd jambox-broadcast jambox-web >/dev/null 2>&1 || true
  rm -rf /etc/jambox /var/lib/jambox-kept
}
trap cleanup EXIT
apt-get install -y --no-install-recommends "${debs[@]/#/./}" "./$web_deb"

id -nG jambox | grep -qw audio || fail "user jambox is not in group audio"
id jambox-broadcast >/dev/null || fail "no user jambox-broadcast"
for unit in jamboxd jambox-jackd jambox-broadcast; do
  [[ -f /lib/systemd/system/$unit.service ]] || fail "unit $unit.service not installed"
done
[[ $(stat -c '%a %G' /etc/jambox/room.secret) == "640 jambox" ]] || fail "room.secret is not 0640 root:jambox"
[[ $(stat -c '%a %G' /etc/jambox/jambox-broadcast.conf) == "640 jambox-broadcast" ]] ||
  fail "jambox-broadcast.conf is not 0640 root:jambox-broadcast"
[[ -d /var/lib/jambox ]] || fail "no /var/lib/jambox"
runuser -u jambox -- /usr/bin/jamboxd --check-config || fail "jamboxd --check-config fails as jambox"
runuser -u jambox-broadcast -- /usr/bin/jambox-broadcast --check-config ||
  fail "jambox-broadcast --check-config fails as jambox-broadcast"
/usr/bin/jamboxctl --help >/dev/null || fail "jamboxctl does not run"
systemd-analyze verify /lib/systemd/system/jamboxd.service /lib/systemd/system/jambox-jackd.service \
  /lib/systemd/system/jambox-broadcast.service || fail "installed units do not verify"

# jambox-web: the web app, lighttpd's configuration, the broker's configuration, empty accounts.
[[ -f /usr/share/jambox/web/index.html && -f /usr/share/jambox/web/app.js ]] ||
  fail "the web app is not installed in /usr/share/jambox/web"
lighttpd -t -f /etc/jambox/web/jambox-web.conf || fail "jambox-web.conf does not parse"
for f in jambox-mosquitto.conf jambox.acl; do
  [[ -f /etc/jambox/mosquitto/$f ]] || fail "broker configuration $f not installed"
done
for f in web.passwd web.acl; do
  [[ $(stat -c '%a %U %G' "/etc/jambox/mosquitto/$f") == "600 mosquitto mosquitto" ]] ||
    fail "/etc/jambox/mosquitto/$f is not 0600 mosquitto:mosquitto"
done
[[ -f /lib/systemd/system/jambox-web.service && -f /usr/lib/tmpfiles.d/jambox-web.conf ]] ||
  fail "jambox-web's unit or tmpfiles entry is not installed"
echo "correct-horse-battery" >/tmp/deb-install-test.pw
/usr/bin/jamboxctl user add carol --box box-1 --password-file /tmp/deb-install-test.pw \
  --broker-pid-file /nonexistent >/dev/null 2>&1 && fail "jamboxctl user add reported success without a broker"
rm -f /tmp/deb-install-test.pw
grep -q '^carol:\$7\$' /etc/jambox/mosquitto/web.passwd || fail "jamboxctl user add stored no hash"
[[ $(stat -c '%a %U' /etc/jambox/mosquitto/web.passwd) == "600 mosquitto" ]] ||
  fail "jamboxctl user add left web.passwd readable by others than mosquitto"
grep -q 'correct-horse' /etc/jambox/mosquitto/web.passwd && fail "a clear-text password was stored"
grep -q '^topic write jambox/player/box-1/command/from/carol$' /etc/jambox/mosquitto/web.acl ||
  fail "the ACL was not written"

apt-get purge -y jamboxd jambox-broadcast jambox-web
for gone in /usr/bin/jamboxd /usr/bin/jambox-broadcast /etc/jambox /var/lib/jambox \
  /lib/systemd/system/jamboxd.service; do
  [[ ! -e $gone ]] || fail "$gone is still there after purge (nothing was edited)"
done

# Boot to jam: installed again, configured the way an admin does, started as the units would.
apt-get install -y --no-install-recommends "${debs[@]/#/./}"
[[ -f /usr/share/man/man8/jamboxd.8.gz && -f /usr/share/man/man1/jamboxctl.1.gz &&
  -f /usr/share/man/man8/jambox-broadcast.8.gz ]] || fail "man pages not installed"
tests/packaging/boot-to-jam.sh

# Purging now keeps what the admin edited (the three configuration files) and removes the rest,
# including the room secret the package generated (the admin did not replace it).
apt-get purge -y jamboxd jambox-broadcast
for kept in /etc/jambox/jamboxd.conf /etc/jambox/jackd.conf /etc/jambox/jambox-broadcast.conf; do
  [[ -f $kept ]] || fail "$kept, edited by the admin, was deleted by purge"
done
grep -q '^JACK_DRIVER=dummy' /etc/jambox/jackd.conf || fail "jackd.conf lost the admin's edit"
[[ $(stat -c '%a %U' /etc/jambox/jambox-broadcast.conf) == "640 root" ]] ||
  fail "the kept jambox-broadcast.conf lost its mode (it holds room secrets)"
for gone in /usr/bin/jamboxd /usr/bin/jambox-broadcast /etc/jambox/room.secret /var/lib/jambox \
  /var/lib/jambox-kept /lib/systemd/system/jamboxd.service; do
  [[ ! -e $gone ]] || fail "$gone is still there after purge"
done
rm -rf /etc/jambox
trap - EXIT
echo "deb-install-test: packages build, install, boot into a jam and purge cleanly (admin edits kept)"
