# Sourced by the demo and the benchmarks: starts a dummy-driver jackd the way the scripts need it.
#
#   jambox_start_jackd NAME PERIOD LOGFILE
#
# First gives back the registry slots of jackd servers that earlier, interrupted runs left behind
# (JACK allows 8 servers per machine and a killed jackd keeps its slot), then starts
# `jackd -n NAME -R -P 70 -S -d dummy -r 48000 -p PERIOD`, appends its pid to the caller's `pids`
# array and waits until clients can connect. -P 70 is the appliance's JACK priority
# (config/jackd.conf, JACK_PRIORITY; the environment's JAMBOX_JACK_PRIORITY overrides it): JACK
# runs its clients' audio threads 5 below, above jambox-broadcast's workers (10), as on a box;
# -S (synchronous mode) as jambox-jackd runs it, unless JAMBOX_JACK_SYNC=no. Returns 1 with jackd's
# last lines on stderr when it does not come up within 15 s. Uses jambox-jack-reclaim from the caller's build directory ($build).
jambox_start_jackd() {
  local name=$1 period=$2 log=$3 i
  local reclaim=${build:?}/tests/jack-tools/jambox-jack-reclaim
  [[ -x $reclaim ]] && "$reclaim" >&2
  local mode=(-S)
  [[ ${JAMBOX_JACK_SYNC:-yes} == no ]] && mode=()
  JACK_NO_AUDIO_RESERVATION=1 jackd -n "$name" -R -P "${JAMBOX_JACK_PRIORITY:-70}" "${mode[@]}" \
    -d dummy -r 48000 -p "$period" -C 2 -P 2 >"$log" 2>&1 &
  pids+=($!)
  for ((i = 0; i < 150; i++)); do
    JACK_NO_START_SERVER=1 jack_lsp -s "$name" >/dev/null 2>&1 && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "jackd $name did not come up: $(tail -n 5 "$log")" >&2
  return 1
}
