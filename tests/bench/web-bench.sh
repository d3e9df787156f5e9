#!/usr/bin/env bash
# The web mixer's benchmark (docs/benchmarks.md, "Web mixer"): starts mosquitto, jambox-web,
# jambox-broadcast, a dummy JACK server and a managed jamboxd, drives the page in headless
# Chromium, stops everything it started and prints one JSON line last (page_ready_ms,
# fader_ack_ms_p50/_p99, box_cpu_pct_1_viewer, box_cpu_pct_50_viewers).
# Environment: JAMBOX_BUILD_DIR (default build/release).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# Debian's python3: python3-selenium is installed for it.
exec /usr/bin/python3 "$repo/tests/bench/web/web_bench.py" --build-dir "${JAMBOX_BUILD_DIR:-$repo/build/release}" "$@"
