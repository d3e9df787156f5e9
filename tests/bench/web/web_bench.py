#!/usr/bin/env python3
"""The web mixer's numbers (docs/benchmarks.md): starts the whole stack (tests/browser/stack.py),
drives the page in headless Chromium, stops everything, prints one JSON line last:
  page_ready_ms            median of 5: page load to the signed-in box list showing the box
  fader_ack_ms_p50/_p99    200 fader moves, 0.3 s apart: control moved in the page to the box's
                           ack shown
  box_cpu_pct_1_viewer     jamboxd's CPU (% of one core) while one page shows its mixer
  box_cpu_pct_50_viewers   the same with 50 more viewers (MQTT over jambox-web's WebSocket,
                           renewing the meter lease with the web app's own rule)
usage: web_bench.py --build-dir BUILD [--moves 200] [--seconds 15]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "browser"))
from browser import chromium, wait  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from stack import Stack  # noqa: E402

MOVE_JS = """
const [control, value, done] = arguments;
const el = document.querySelector(`[data-control="${control}"]`);
let fate = null;
for (let p = el.parentElement; !fate && p; p = p.parentElement) fate = p.querySelector('[data-fate]');
const t0 = performance.now();
let pendingSeen = false;
const finish = (ms) => { obs.disconnect(); clearTimeout(timer); done(ms); };
const obs = new MutationObserver(() => {
  const s = fate.getAttribute('data-state');
  if (s === 'pending') pendingSeen = true;
  else if (pendingSeen && s === 'ok') finish(performance.now() - t0);
  else if (pendingSeen && s === 'error') finish(-1);
});
obs.observe(fate, {attributes: true, childList: true, characterData: true, subtree: true});
const timer = setTimeout(() => finish(-2), 5000);
el.value = String(value);
el.dispatchEvent(new Event('input', {bubbles: true}));
el.dispatchEvent(new Event('change', {bubbles: true}));
if (fate.getAttribute('data-state') === 'pending') pendingSeen = true;
"""


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_pct(pid, seconds):
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return 100.0 * (cpu_seconds(pid) - c0) / (time.monotonic() - t0)


def sign_in_time(driver, url, password):
    t0 = time.monotonic()
    driver.get(url)
    wait(driver, "the sign-in form", lambda d: d.find_elements(By.ID, "login-submit"))
    t1 = time.monotonic()
    driver.find_element(By.ID, "login-user").send_keys("alice")
    driver.find_element(By.ID, "login-password").send_keys(password)
    t2 = time.monotonic()
    driver.find_element(By.ID, "login-submit").click()
    wait(driver, "box-a in the list", lambda d: d.find_elements(
        By.CSS_SELECTOR, '#boxes [data-box="box-a"].online'), 30)
    t3 = time.monotonic()
    return 1000.0 * ((t1 - t0) + (t3 - t2))  # typing is the user's time, not the app's


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.environ.get("JAMBOX_BUILD_DIR", "build/release"))
    ap.add_argument("--moves", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--viewers", type=int, default=50)
    args = ap.parse_args()
    build = Path(args.build_dir).resolve()
    with Stack(build, boxes=("box-a",), users=None) as stack:
        password = stack.users["alice"][0]
        driver = chromium()
        try:
            ready = []
            for _ in range(5):
                driver.delete_all_cookies()
                ready.append(sign_in_time(driver, stack.url, password))
            # The mixer, then 200 fader moves alternating between two values.
            row = driver.find_element(By.CSS_SELECTOR, '#boxes [data-box="box-a"]')
            buttons = row.find_elements(By.CSS_SELECTOR, "button, a")
            (buttons[0] if buttons else row).click()
            wait(driver, "the mixer", lambda d: d.find_elements(By.CSS_SELECTOR, "#mixer"))
            driver.set_script_timeout(10)
            acks = []
            failed = 0
            for i in range(args.moves):
                # A control sends at most every 250 ms (web/src/control.js: a drag stays within
                # the box's per-sender command budget); moves are paced so none waits for that.
                time.sleep(0.3)
                ms = driver.execute_async_script(MOVE_JS, "master-gain", -6 - (i % 2))
                if ms is None or ms < 0:
                    failed += 1
                else:
                    acks.append(ms)
            acks.sort()
            box_pid = next(p.pid for name, p in stack.procs if name == "box-a")
            time.sleep(2)  # the page's meter lease is running
            one = cpu_pct(box_pid, args.seconds)
            env = dict(os.environ, JAMBOX_WEB_MODULES=str(build / "web" / "node_modules"),
                       URL=f"wss://127.0.0.1:{stack.web_port}/mqtt", USER_NAME="alice",
                       PASSWORD=password, BOX="box-a", VIEWERS=str(args.viewers),
                       SECONDS=str(args.seconds + 8), CA=str(stack.pki / "ca.crt"))
            viewers = subprocess.Popen(["node", str(HERE / "viewers.mjs")], env=env,
                                       stdout=subprocess.PIPE, text=True)
            time.sleep(4)  # all connected, lease renewals settled
            many = cpu_pct(box_pid, args.seconds)
            out, _ = viewers.communicate(timeout=60)
            viewer_figures = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
        finally:
            driver.quit()
    q = lambda p: acks[min(len(acks) - 1, int(p * len(acks)))] if acks else None  # noqa: E731
    result = {
        "bench": "web",
        "page_ready_ms": round(statistics.median(ready), 1),
        "page_ready_ms_runs": [round(r, 1) for r in ready],
        "fader_moves": args.moves, "fader_failed": failed,
        "fader_ack_ms_p50": round(q(0.50), 2) if acks else None,
        "fader_ack_ms_p99": round(q(0.99), 2) if acks else None,
        "box_cpu_pct_1_viewer": round(one, 2),
        "box_cpu_pct_50_viewers": round(many, 2),
        "viewers": viewer_figures,
    }
    print(json.dumps(result))
    return 0 if failed == 0 and viewer_figures.get("connected") == args.viewers else 1


if __name__ == "__main__":
    sys.exit(main())
