# Sourced by the demo and the benchmarks: stopping what they started, cleanly.
#
#   jambox_stop_process PID   SIGTERM, then SIGKILL when it is still there after 5 s; reaps it
#   jambox_stop_all           every pid in the caller's `pids` array, newest first
#
# Newest first and one at a time: boxes and test clients leave their JACK server before it is
# asked to stop, so jackd exits cleanly and frees its slot in JACK's server registry.
jambox_stop_process() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

jambox_stop_all() {
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do jambox_stop_process "${pids[i]}"; done
}
