#!/usr/bin/env bash
# Prints the shipped broker configuration (config/mosquitto/jambox-mosquitto.conf) made into a
# local test broker's: listener on 127.0.0.1:PORT, the PKI in PKI_DIR, the repository's ACL, no
# persistence, and, as root, `user root` (mosquitto would otherwise switch to its own user, who
# cannot read a private PKI). The musicians' web listener (a unix socket for jambox-web), its
# password file and ACL go to WEB_DIR (default: PKI_DIR/../web; the files are made empty if
# missing). Used by the demo and the benchmarks; the C++ fixture
# (tests/support/src/mosquitto.cpp) does the same for the integration tests.
#
# usage: tests/support/mosquitto-conf.sh PKI_DIR PORT [WEB_DIR] > mosquitto.conf
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
[[ $# == 2 || $# == 3 ]] || { echo "usage: $0 PKI_DIR PORT [WEB_DIR]" >&2; exit 64; }
pki=$1
port=$2
web=${3:-$(dirname "$pki")/web}
mkdir -p "$web"
touch "$web/web.passwd" "$web/web.acl"
chmod 0600 "$web/web.passwd"
if [[ $(id -u) == 0 ]]; then echo "user root"; fi
sed -e "s|^listener 8883.*|listener $port 127.0.0.1|" -e "s|/etc/jambox/pki/|$pki/|g" \
  -e "s|^listener 0 .*|listener 0 $web/web.sock|" \
  -e "s|^password_file .*|password_file $web/web.passwd|" \
  -e "s|^acl_file .*/web.acl|acl_file $web/web.acl|" \
  -e "s|^acl_file .*/jambox.acl|acl_file $repo/config/mosquitto/jambox.acl|" \
  -e '/^pid_file/d' \
  -e 's|^persistence true|persistence false|' -e '/^persistence_location/d' \
  -e '/^autosave_interval/d' "$repo/config/mosquitto/jambox-mosquitto.conf"
