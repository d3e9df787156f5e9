#!/usr/bin/env bash
# Makes the certificates of the jambox control plane: a private CA, the MQTT broker's server
# certificate and one client certificate per service and per box. The broker authenticates
# every client by its certificate and uses the certificate's CN as its MQTT user name for the
# ACL, so a box's CN must be its player key and the services' CNs are fixed.
#
# Safe to run again: the CA is reused (so boxes can be added later) and existing certificates
# are kept unless --force. Keys are EC P-256, signatures SHA-256.
set -euo pipefail

readonly ca_days_default=3650
readonly days_default=365
readonly services=(jambox-broadcast jamboxctl)
# Names the script writes itself; a player key must not collide with them.
readonly reserved=(ca broker jambox-broadcast jamboxctl expired rogue rogue-ca loose)

prog=$(basename "$0")
readonly prog

usage() {
  cat <<EOF
usage: $prog DIR [--player KEY]... [--days N] [--ca-days N] [--broker-san ENTRY]...
                 [--force] [--test-extras]

Creates or completes the jambox PKI in DIR (created mode 0700):
  ca.crt, ca.key                    the CA (reused when present)
  broker.crt, broker.key            the MQTT broker (CN jambox-broker,
                                    SAN DNS:localhost, IP:127.0.0.1, IP:::1)
  jambox-broadcast.crt/.key         the room server's client certificate
  jamboxctl.crt/.key                the admin tool's client certificate
  KEY.crt, KEY.key                  one per --player: a box, CN = its player key

options:
  --player KEY        a box's player key (typically a UUID): letters, digits, '.', '_', '-';
                      repeat for several boxes
  --days N            validity of new leaf certificates in days (default $days_default)
  --ca-days N         validity of a new CA in days (default $ca_days_default)
  --broker-san ENTRY  another subjectAltName for the broker, e.g. DNS:jam.example.org or
                      IP:192.0.2.10 (what boxes put in their broker URI); repeatable
  --force             re-issue the leaf certificates named by this run with new keys (e.g.
                      after adding a --broker-san); the CA is always kept: delete ca.crt and
                      ca.key to start a new one
  --test-extras       also make certificates for negative tests:
                        expired.crt/.key     CN expired-player, validity entirely in the past
                        rogue-ca.crt/.key    a second, untrusted CA
                        rogue.crt/.key       CN rogue-player, signed by the rogue CA
                        loose.crt/.key       CN loose-player, valid, but the key mode 0644
  -h, --help          this text

Keys are written mode 0600, certificates 0644. Exit status: 0 done, 1 failure, 2 usage error.
EOF
}

die() {
  echo "$prog: $*" >&2
  exit 1
}

usage_error() {
  echo "$prog: $*" >&2
  echo "try '$prog --help'" >&2
  exit 2
}

is_positive_integer() {
  [[ $1 =~ ^[1-9][0-9]{0,5}$ ]]
}

check_player_key() {
  local key=$1 name
  # The key becomes a file name, a certificate CN (at most 64 characters) and an MQTT topic
  # level, so no '/', '+', '#' or spaces.
  [[ $key =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ ]] ||
    usage_error "invalid player key '$key': 1 to 64 letters, digits, '.', '_' or '-'," \
      "starting with a letter or digit"
  for name in "${reserved[@]}"; do
    [[ $key != "$name" ]] || usage_error "player key '$key' is reserved for the script's own files"
  done
}

check_san() {
  [[ $1 =~ ^(DNS:[A-Za-z0-9.-]+|IP:[0-9A-Fa-f.:]+)$ ]] ||
    usage_error "invalid --broker-san '$1': expected DNS:NAME or IP:ADDRESS"
}

# --- certificate building blocks ---------------------------------------------------------------

# ossl WHAT ARGS...: runs `openssl ARGS...` quietly; when it fails, shows what openssl said and
# stops with "cannot WHAT".
ossl() {
  local what=$1
  shift
  if ! openssl "$@" >"$work/openssl.out" 2>&1; then
    cat "$work/openssl.out" >&2
    die "cannot $what"
  fi
}

new_key() {
  ossl "generate a key in $1" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
  chmod 0600 "$1"
}

# new_request NAME CN: a new key NAME.key and a signing request for CN in the work directory.
new_request() {
  new_key "$dir/$1.key"
  ossl "create a signing request for $1" req -new -key "$dir/$1.key" -subj "/CN=$2" \
    -out "$work/$1.csr"
}

# 128 random bits, in hex: serial numbers that never repeat without keeping a serial file.
random_serial() {
  openssl rand -hex 16
}

# Extensions of a leaf certificate: server (with subjectAltName) or client.
leaf_extensions() {
  local role=$1 san=${2:-}
  echo "basicConstraints = critical, CA:FALSE"
  echo "keyUsage = critical, digitalSignature"
  echo "subjectKeyIdentifier = hash"
  echo "authorityKeyIdentifier = keyid"
  if [[ $role == server ]]; then
    echo "extendedKeyUsage = serverAuth"
    echo "subjectAltName = $san"
  else
    echo "extendedKeyUsage = clientAuth"
  fi
}

# make_ca NAME CN DAYS: a self-signed CA in NAME.crt/.key.
make_ca() {
  local name=$1 cn=$2 days=$3
  new_key "$dir/$name.key"
  ossl "create the CA certificate $dir/$name.crt" req -x509 -new -key "$dir/$name.key" \
    -sha256 -days "$days" -subj "/CN=$cn" \
    -addext "basicConstraints = critical, CA:TRUE, pathlen:0" \
    -addext "keyUsage = critical, keyCertSign, cRLSign" \
    -addext "subjectKeyIdentifier = hash" \
    -out "$dir/$name.crt"
  chmod 0644 "$dir/$name.crt"
}

# sign_leaf NAME CN ROLE SAN ISSUER: a new key and certificate NAME.crt/.key signed by ISSUER
# (a CA name in DIR) for $days days.
sign_leaf() {
  local name=$1 cn=$2 role=$3 san=$4 issuer=$5
  new_request "$name" "$cn"
  leaf_extensions "$role" "$san" >"$work/$name.ext"
  ossl "sign the certificate $dir/$name.crt" x509 -req -in "$work/$name.csr" \
    -CA "$dir/$issuer.crt" -CAkey "$dir/$issuer.key" -set_serial "0x$(random_serial)" \
    -days "$days" -sha256 -extfile "$work/$name.ext" -out "$dir/$name.crt"
  chmod 0644 "$dir/$name.crt"
}

# A certificate whose whole validity lies in the past. `openssl x509` cannot backdate on
# OpenSSL 3.0, `openssl ca` can (-startdate/-enddate), so run it with a throwaway CA database.
sign_expired() {
  local name=$1 cn=$2 ca_dir=$work/expired-ca
  mkdir -p "$ca_dir"
  : >"$ca_dir/index.txt"
  random_serial >"$ca_dir/serial"
  cat >"$ca_dir/ca.conf" <<EOF
[ca]
default_ca = throwaway

[throwaway]
database = $ca_dir/index.txt
serial = $ca_dir/serial
new_certs_dir = $ca_dir
default_md = sha256
policy = any_name
unique_subject = no
copy_extensions = none

[any_name]
commonName = supplied

[client]
$(leaf_extensions client)
EOF
  new_request "$name" "$cn"
  ossl "sign the expired test certificate $dir/$name.crt" ca -batch -config "$ca_dir/ca.conf" \
    -cert "$dir/ca.crt" -keyfile "$dir/ca.key" -notext -extensions client \
    -in "$work/$name.csr" -out "$dir/$name.crt" \
    -startdate "$(date -u -d '2 days ago' +%Y%m%d%H%M%SZ)" \
    -enddate "$(date -u -d '1 day ago' +%Y%m%d%H%M%SZ)"
  chmod 0644 "$dir/$name.crt"
}

# --- what to keep ------------------------------------------------------------------------------

has_pair() {
  [[ -f $dir/$1.crt && -f $dir/$1.key ]]
}

# True when NAME must be (re)issued; warns about a kept certificate the CA does not vouch for.
needs_issue() {
  local name=$1
  if [[ $force == true ]] || ! has_pair "$name"; then
    return 0
  fi
  if ! openssl verify -CAfile "$dir/ca.crt" "$dir/$name.crt" >/dev/null 2>&1; then
    echo "$prog: warning: kept $name.crt does not verify against ca.crt" \
      "(expired or from another CA); --force re-issues it" >&2
  fi
  return 1
}

ensure_ca() {
  if [[ -f $dir/ca.crt && -f $dir/ca.key ]]; then
    echo "$prog: using the existing CA in $dir"
    return
  fi
  [[ ! -e $dir/ca.crt && ! -e $dir/ca.key ]] ||
    die "$dir holds only half of the CA (ca.crt or ca.key): restore it or remove both"
  make_ca ca "jambox CA" "$ca_days"
  echo "$prog: created the CA $dir/ca.crt"
}

ensure_leaf() {
  local name=$1 cn=$2 role=$3 san=${4:-}
  if needs_issue "$name"; then
    sign_leaf "$name" "$cn" "$role" "$san" ca
    echo "$prog: issued $name.crt (CN $cn, $days days)"
  fi
}

make_test_extras() {
  # Expired certificates are always expired: nothing to check when keeping one.
  if [[ $force == true ]] || ! has_pair expired; then
    sign_expired expired expired-player
    echo "$prog: issued expired.crt (CN expired-player, already expired)"
  fi
  if [[ $force == true ]] || ! has_pair rogue-ca; then
    make_ca rogue-ca "jambox rogue CA" "$ca_days"
    rm -f "$dir/rogue.crt"  # signed by the old rogue CA
  fi
  if [[ $force == true ]] || ! has_pair rogue; then
    sign_leaf rogue rogue-player client "" rogue-ca
    echo "$prog: issued rogue.crt (CN rogue-player, signed by rogue-ca)"
  fi
  # A valid pair whose only fault is a key readable by everyone.
  if [[ $force == true ]] || ! has_pair loose; then
    sign_leaf loose loose-player client "" ca
    echo "$prog: issued loose.crt (CN loose-player, key mode 0644)"
  fi
  chmod 0644 "$dir/loose.key"
}

# --- main --------------------------------------------------------------------------------------

dir=""
days=$days_default
ca_days=$ca_days_default
force=false
test_extras=false
players=()
broker_sans=(DNS:localhost IP:127.0.0.1 IP:::1)

need_value() {
  [[ $2 -gt 1 ]] || usage_error "$1 needs a value"
}

while [[ $# -gt 0 ]]; do
  case $1 in
    -h | --help)
      usage
      exit 0
      ;;
    --player)
      need_value "$1" $#
      check_player_key "$2"
      players+=("$2")
      shift 2
      ;;
    --days | --ca-days)
      need_value "$1" $#
      is_positive_integer "$2" || usage_error "$1 needs a positive number of days, not '$2'"
      if [[ $1 == --days ]]; then days=$2; else ca_days=$2; fi
      shift 2
      ;;
    --broker-san)
      need_value "$1" $#
      check_san "$2"
      broker_sans+=("$2")
      shift 2
      ;;
    --force)
      force=true
      shift
      ;;
    --test-extras)
      test_extras=true
      shift
      ;;
    -*) usage_error "unknown option '$1'" ;;
    *)
      [[ -z $dir ]] || usage_error "one directory only ('$dir' and '$1' given)"
      dir=$1
      shift
      ;;
  esac
done
[[ -n $dir ]] || usage_error "no directory given"
command -v openssl >/dev/null || die "openssl is not installed (Debian: apt-get install openssl)"

# Whatever is created from here on is private unless chmod'ed otherwise.
umask 077
if [[ ! -d $dir ]]; then
  mkdir -p "$dir" || die "cannot create $dir"
  chmod 0700 "$dir"
elif [[ -n $(find "$dir" -maxdepth 0 -perm /o=rwx) ]]; then
  # Left as it is: a broker's copy may be opened to its group on purpose (mosquitto reads it).
  echo "$prog: warning: $dir is accessible by other users; chmod 0700 (or 0750) it" >&2
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/jambox-pki.XXXXXX")
trap 'rm -rf "$work"' EXIT

ensure_ca
broker_san=$(
  IFS=,
  echo "${broker_sans[*]}"
)
ensure_leaf broker jambox-broker server "$broker_san"
for service in "${services[@]}"; do
  ensure_leaf "$service" "$service" client
done
for player in "${players[@]}"; do
  ensure_leaf "$player" "$player" client
done
if [[ $test_extras == true ]]; then
  make_test_extras
fi
