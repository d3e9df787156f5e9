#!/usr/bin/env bash
# Starts one of jambox's installed service units the way systemd would, on a machine where
# systemd is not PID 1 (CI, containers): the unit file's own ExecStartPre=, ExecStart= and
# ExecStartPost= lines, with its User=, Group= (and the user's groups), Environment=,
# EnvironmentFile=, UMask=, Nice=, LimitRTPRIO=/LimitMEMLOCK=, NoNewPrivileges=, an empty
# capability set, PrivateTmp= (a /tmp of its own), RuntimeDirectory=/StateDirectory=,
# NOTIFY_SOCKET and WATCHDOG_USEC/WATCHDOG_PID.
# The rest of the sandbox (ProtectSystem=, SystemCallFilter=, ...) is what systemd-analyze checks
# (tests/systemd/check-units.sh); it is not reproduced here.
#
# usage: run-unit.sh UNIT_FILE STATE_DIR [NOTIFY_SOCKET]
#   Writes STATE_DIR/<unit>.mainpid once ExecStart= runs and STATE_DIR/<unit>.started once every
#   ExecStartPost= succeeded (systemd's "started", which After= orders on). Stays in the
#   foreground until the main process ends, and exits with its status; SIGTERM is passed on.
set -euo pipefail
unit_file=$1
state_dir=$2
notify_socket=${3:-}
unit=$(basename "$unit_file" .service)
fail() { echo "run-unit $unit: $*" >&2; exit 1; }
[[ -r $unit_file ]] || fail "cannot read $unit_file"

# The unit file, read once (bash only: this runs at every start and must not slow it down).
if [[ $(grep -s '^PrivateTmp=' "$unit_file" | tail -n 1) == PrivateTmp=yes &&
  ${JAMBOX_RUN_UNIT_PRIVATE:-} != 1 ]]; then
  # A mount namespace of its own with a fresh /tmp, as PrivateTmp= gives. This script may itself
  # live under /tmp (a checkout there): the new namespace runs a copy kept in the state directory.
  mkdir -p "$2"
  cp "$0" "$2/run-unit.sh"
  exec unshare --mount --propagation private -- env JAMBOX_RUN_UNIT_PRIVATE=1 bash -c \
    'mount -t tmpfs -o mode=1777 tmpfs /tmp && exec bash "$0" "$@"' "$2/run-unit.sh" "$@"
fi
declare -a unit_keys=() unit_values=()
while IFS= read -r line; do
  [[ $line =~ ^([A-Za-z]+)=(.*)$ ]] || continue
  unit_keys+=("${BASH_REMATCH[1]}")
  unit_values+=("${BASH_REMATCH[2]}")
done <"$unit_file"
values() {  # every value of a key, in order
  local i
  for i in "${!unit_keys[@]}"; do
    [[ ${unit_keys[$i]} == "$1" ]] && printf '%s\n' "${unit_values[$i]}"
  done
  return 0
}
last_value() {
  local i value=""
  for i in "${!unit_keys[@]}"; do
    [[ ${unit_keys[$i]} == "$1" ]] && value=${unit_values[$i]}
  done
  printf '%s' "$value"
}

user=$(last_value User)
group=$(last_value Group)
[[ -n $user ]] || fail "no User= (jambox's units never run as root)"
home=$(getent passwd "$user" | cut -d: -f6) || fail "no user $user"
[[ -n $group ]] || group=$(id -gn "$user")  # systemd's default: the user's primary group
# systemd's supplementary groups: initgroups(User=, Group=), so Group= and the groups that list
# the user as a member, not the user's primary group when Group= names another; then
# SupplementaryGroups=.
groups=$group
while IFS=: read -r name _ _ members; do
  [[ ,$members, == *",$user,"* ]] && groups+=",$name"
done < <(getent group)
for extra in $(last_value SupplementaryGroups); do groups+=",$extra"; done

# The environment systemd gives a service: a fixed PATH and the user's identity, then the unit's
# Environment= and EnvironmentFile= assignments, in order.
declare -A env=([PATH]=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
  [USER]=$user [LOGNAME]=$user [HOME]=$home [SHELL]=/usr/sbin/nologin)
order=(PATH USER LOGNAME HOME SHELL)
assign() {
  local name=${1%%=*} value=${1#*=}
  [[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || fail "bad assignment '$1'"
  value=${value#\"} && value=${value%\"}
  [[ -v env[$name] ]] || order+=("$name")
  env[$name]=$value
}
while read -r line; do
  for word in $line; do assign "$word"; done
done < <(values Environment)
while read -r file; do
  optional=no
  [[ $file == -* ]] && optional=yes && file=${file#-}
  if [[ ! -r $file ]]; then
    [[ $optional == yes ]] && continue
    fail "EnvironmentFile $file is missing"
  fi
  while read -r line; do
    [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
    assign "$line"
  done <"$file"
done < <(values EnvironmentFile)
if [[ -n $notify_socket ]]; then assign "NOTIFY_SOCKET=$notify_socket"; fi
watchdog=$(last_value WatchdogSec)
if [[ -n $watchdog ]]; then assign "WATCHDOG_USEC=$((watchdog * 1000000))"; fi

# ${NAME} and $NAME in a command line are replaced the way systemd does for Exec lines.
expand() {
  local text=$1 name
  for name in "${order[@]}"; do
    text=${text//\$\{$name\}/${env[$name]}}
    text=${text//\$$name/${env[$name]}}
  done
  printf '%s' "$text"
}
environment() {
  local name
  for name in "${order[@]}"; do printf '%s=%s\n' "$name" "${env[$name]}"; done
}

# Limits as the unit sets them. A container without CAP_SYS_RESOURCE cannot raise a hard limit:
# then the service runs with the machine's limit (JACK and jamboxd fall back to normal
# scheduling and say so), and this is printed.
limits=()
add_limit() {  # prlimit-option unit-value
  local option=$1 value=${2/infinity/unlimited}
  [[ -n $2 ]] || return 0
  if prlimit "--$option=$value:$value" true 2>/dev/null; then
    limits+=("--$option=$value:$value")
  else
    echo "run-unit $unit: cannot raise $option to $value here (no CAP_SYS_RESOURCE);" \
      "keeping this machine's limit $(prlimit --noheadings --output HARD "--$option")" >&2
  fi
}
add_limit rtprio "$(last_value LimitRTPRIO)"
add_limit memlock "$(last_value LimitMEMLOCK)"
nice=$(last_value Nice)
umask_value=$(last_value UMask)
no_new_privs=()
[[ $(last_value NoNewPrivileges) == yes ]] && no_new_privs=(--no-new-privs)

# Runs one Exec line as the unit's user, replacing this (sub)shell so the pid is the service's.
# WATCHDOG_PID is the pid itself, as systemd sets it for the main process.
exec_as_service() {
  local line=$1 words
  read -ra words <<<"$(expand "$line")"
  mapfile -t assignments < <(environment)
  umask "${umask_value:-0022}"
  exec prlimit "${limits[@]}" -- nice -n "${nice:-0}" -- \
    setpriv --reuid="$user" --regid="$group" --groups="$groups" "${no_new_privs[@]}" \
    --inh-caps=-all --bounding-set=-all -- \
    env -i "${assignments[@]}" "WATCHDOG_PID=$BASHPID" "${words[@]}"
}
run_line() {  # ExecStartPre/Post: "-" in front means a failure is ignored
  local line=$1 ignore=no
  [[ $line == -* ]] && ignore=yes && line=${line#-}
  if ! (exec_as_service "$line"); then
    [[ $ignore == yes ]] || fail "'$line' failed"
  fi
}

# RuntimeDirectory= and StateDirectory= are created for the service user, as systemd does
# (ConfigurationDirectory= stays root's); the runtime directory goes when the service stops.
service_directories() {
  local kind=$1 root=$2 name mode
  mode=$(last_value "${kind}Mode")
  for name in $(values "$kind"); do
    install -d -m "${mode:-0755}" -o "$user" -g "$group" "$root/$name"
    [[ $kind != RuntimeDirectory ]] || runtime_dirs+=("$root/$name")
  done
}
runtime_dirs=()
service_directories RuntimeDirectory /run
service_directories StateDirectory /var/lib

main() {
  rm -f "$state_dir/$unit.mainpid" "$state_dir/$unit.started"
  while read -r line; do run_line "$line"; done < <(values ExecStartPre)
  exec_as_service "$(last_value ExecStart)" &
  main_pid=$!
  echo "$main_pid" >"$state_dir/$unit.mainpid"
  trap 'kill -TERM "$main_pid" 2>/dev/null || true' TERM INT
  while read -r line; do run_line "${line//\$MAINPID/$main_pid}"; done < <(values ExecStartPost)
  touch "$state_dir/$unit.started"
  status=0
  while :; do
    wait "$main_pid" && status=0 || status=$?
    kill -0 "$main_pid" 2>/dev/null || break  # wait returns early when a trapped signal arrives
  done
  ((${#runtime_dirs[@]} == 0)) || rm -rf "${runtime_dirs[@]}"
  exit "$status"
}

main
