#!/usr/bin/env bash
# Prints the shipped jambox-web configuration (config/web/jambox-web.conf) made into a local test
# server's: HTTPS on 127.0.0.1:PORT with the test PKI's broker certificate, the built web app as
# document root, and the test broker's web socket. Used by the browser tests, the demo and the
# web benchmark.
#
# usage: tests/support/web-conf.sh PKI_DIR PORT BROKER_WEB_SOCKET DOC_ROOT > jambox-web.conf
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
[[ $# == 4 ]] || { echo "usage: $0 PKI_DIR PORT BROKER_WEB_SOCKET DOC_ROOT" >&2; exit 64; }
pki=$1 port=$2 socket=$3 root=$4
sed -e "s|^server.port = .*|server.port = $port\nserver.bind = \"127.0.0.1\"|" \
  -e "s|^server.document-root = .*|server.document-root = \"$root\"|" \
  -e "s|/etc/jambox/pki/|$pki/|g" \
  -e "s|\"/run/jambox-web/mqtt.sock\"|\"$socket\"|" "$repo/config/web/jambox-web.conf"
