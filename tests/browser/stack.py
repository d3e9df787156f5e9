"""A whole jambox deployment on this machine for the browser tests and the web benchmark.

Real parts only: mosquitto with the shipped configuration (mTLS listener for boxes and services,
the musicians' socket listener with a password file and ACL) and a PKI from
packaging/make-pki.sh; jambox-web's shipped lighttpd configuration serving the built web app over
HTTPS and tunnelling /mqtt; jambox-broadcast admitting boxes by ticket; two dummy JACK servers
and two managed jamboxd; musicians' accounts made with `jamboxctl user`. Everything binds
127.0.0.1 (or a unix socket in the work directory) and is stopped when the stack closes.
"""
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _own_session_dying_with_parent():
    """In the child before exec: its own process group (stopped as one), and SIGTERM when the
    test process dies, however it dies (a ctest timeout kills it outright): no jackd, broker or
    box outlives a test."""
    os.setsid()
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, predicate, timeout=30.0, interval=0.05):
    """Polls until predicate() is truthy; raises naming `what` when it never is."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)


class Stack:
    """Starts on __enter__, stops everything on __exit__ (newest first)."""

    def __init__(self, build_dir, boxes=("box-a", "box-b"), users=None, on_demand=True,
                 work_dir=None):
        self.build = Path(build_dir).resolve()
        self.boxes = list(boxes)
        # name -> (password, [boxes], admin)
        self.users = users if users is not None else {
            "alice": (secrets.token_urlsafe(12), ["box-a"], False),
            "bob": (secrets.token_urlsafe(12), ["box-b"], False),
        }
        self.on_demand = on_demand
        self.keep = work_dir is not None
        self.work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="jambox-web."))
        self.work.mkdir(parents=True, exist_ok=True)
        os.chmod(self.work, 0o700)
        self.procs = []  # (name, Popen)
        self.jack_servers = {}
        self.box_logs = {}

    # --- binaries -------------------------------------------------------------------------
    def bin(self, rel):
        path = self.build / rel
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: build the project first")
        return str(path)

    @property
    def web_root(self):
        return self.build / "web" / "dist"

    def spawn(self, name, args, env=None, **kw):
        log = open(self.work / f"{name}.log", "wb")
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env,
                             preexec_fn=_own_session_dying_with_parent, **kw)
        self.procs.append((name, p))
        return p

    def log(self, name):
        path = self.work / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # --- lifecycle ------------------------------------------------------------------------
    def __enter__(self):
        # A SIGTERM (ctest, timeout) ends the test through __exit__, which stops everything.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        for name, p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 10
        for name, p in reversed(self.procs):
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.procs.clear()
        if not self.keep:
            shutil.rmtree(self.work, ignore_errors=True)

    def start(self):
        if not (self.web_root / "index.html").exists():
            raise FileNotFoundError(f"{self.web_root}/index.html is missing: build jambox_web")
        self.make_pki()
        self.start_broker()
        self.add_users()
        self.start_web()
        self.start_room_server()
        for box in self.boxes:
            self.start_jackd(box)
            self.start_box(box)
        for box in self.boxes:
            wait_for(f"{box} online", lambda b=box: self.ctl_json("status", b), timeout=60)

    # --- parts ----------------------------------------------------------------------------
    def make_pki(self):
        args = ["bash", str(REPO / "packaging/make-pki.sh"), str(self.work / "pki")]
        for box in self.boxes:
            args += ["--player", box]
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.pki = self.work / "pki"

    def start_broker(self):
        self.mqtt_port = free_port()
        self.web_dir = self.work / "web"
        conf = subprocess.run(["bash", str(REPO / "tests/support/mosquitto-conf.sh"),
                               str(self.pki), str(self.mqtt_port), str(self.web_dir)],
                              check=True, capture_output=True, text=True).stdout
        (self.work / "mosquitto.conf").write_text(conf)
        self.broker = self.spawn("mosquitto", ["mosquitto", "-c", str(self.work / "mosquitto.conf")])
        (self.work / "mosquitto.pid").write_text(f"{self.broker.pid}\n")
        wait_for("mosquitto", lambda: self._accepts(self.mqtt_port)
                 and (self.web_dir / "web.sock").exists(), timeout=15)

    def ctl(self, *args, check=False, timeout=40, password_file=None):
        cmd = [self.bin("daemon/jamboxctl/jamboxctl"), "--broker", f"ssl://127.0.0.1:{self.mqtt_port}",
               "--ca", str(self.pki / "ca.crt"), "--cert", str(self.pki / "jamboxctl.crt"),
               "--key", str(self.pki / "jamboxctl.key"), "--web-dir", str(self.web_dir),
               "--broker-pid-file", str(self.work / "mosquitto.pid")]
        if password_file:
            cmd += ["--password-file", str(password_file)]
        return subprocess.run(cmd + list(args), capture_output=True, text=True, check=check,
                              timeout=timeout)

    def ctl_json(self, *args):
        """The result of `jamboxctl --json send/status ...`, or None."""
        r = self.ctl("--json", "--timeout", "2", *args)
        if r.returncode != 0:
            return None
        try:
            return json.loads(r.stdout.strip().splitlines()[-1]).get("result")
        except (ValueError, IndexError):
            return None

    def add_user(self, name, password, boxes, admin=False):
        pw = self.work / f"{name}.password"
        pw.write_text(password + "\n")
        args = ["user", "add", name]
        for b in boxes:
            args += ["--box", b]
        if admin:
            args.append("--admin")
        r = self.ctl(*args, password_file=pw)
        pw.unlink()
        if r.returncode != 0:
            raise RuntimeError(f"jamboxctl user add {name}: {r.stderr}")

    def add_users(self):
        for name, (password, boxes, admin) in self.users.items():
            self.add_user(name, password, boxes, admin)
        time.sleep(0.3)  # the broker re-reads its password file on SIGHUP, asynchronously

    def start_web(self):
        self.web_port = free_port()
        conf = subprocess.run(["bash", str(REPO / "tests/support/web-conf.sh"), str(self.pki),
                               str(self.web_port), str(self.web_dir / "web.sock"),
                               str(self.web_root)], check=True, capture_output=True,
                              text=True).stdout
        (self.work / "jambox-web.conf").write_text(conf)
        self.spawn("lighttpd", ["lighttpd", "-D", "-f", str(self.work / "jambox-web.conf")])
        wait_for("lighttpd", lambda: self._accepts(self.web_port), timeout=15)
        self.url = f"https://127.0.0.1:{self.web_port}/"

    def start_room_server(self):
        self.room_secret = secrets.token_hex(16)
        conf = f"""[server]
listen = "127.0.0.1:0"
[stats]
file = "{self.work}/stats.json"
interval_ms = 500
log_interval_s = 0
[[room]]
name = "garage"
secret = "{self.room_secret}"
[mqtt]
enabled = true
broker = "ssl://127.0.0.1:{self.mqtt_port}"
ca_file = "{self.pki}/ca.crt"
cert_file = "{self.pki}/jambox-broadcast.crt"
key_file = "{self.pki}/jambox-broadcast.key"
public_endpoint = "127.0.0.1"
"""
        if self.on_demand:
            conf += "[rooms]\non_demand = true\n"
        (self.work / "jambox-broadcast.conf").write_text(conf)
        self.spawn("broadcast", [self.bin("daemon/broadcast/jambox-broadcast"), "--config",
                                 str(self.work / "jambox-broadcast.conf")])

        def port():
            try:
                return json.loads((self.work / "stats.json").read_text()).get("port")
            except (OSError, ValueError):
                return None
        wait_for("jambox-broadcast", port, timeout=15)

    def start_jackd(self, box):
        name = f"{box}-{os.getpid()}"
        env = dict(os.environ, JACK_NO_AUDIO_RESERVATION="1")
        # JACK2 keeps a small table of servers in shared memory; servers that died without
        # cleaning up (a killed test) hold slots until reclaimed (tests/support/jackd.sh does
        # the same).
        subprocess.run([self.bin("tests/jack-tools/jambox-jack-reclaim")], capture_output=True,
                       timeout=30)
        self.spawn(f"jackd-{box}", ["jackd", "-n", name, "-S", "-d", "dummy", "-r", "48000", "-p", "64",
                                    "-C", "2", "-P", "2"], env=env)
        wait_for(f"jackd {name}", lambda: subprocess.run(
            ["jack_lsp", "-s", name], capture_output=True,
            env=dict(env, JACK_NO_START_SERVER="1")).returncode == 0 or self._died(f"jackd-{box}"),
            timeout=20, interval=0.1)
        if self._died(f"jackd-{box}"):
            raise RuntimeError(f"jackd {name} exited: {self.log(f'jackd-{box}')[-2000:]}")
        self.jack_servers[box] = name

    def start_box(self, box):
        conf = f"""[audio]
client_name = "{box}"
server_name = "{self.jack_servers[box]}"
capture = ["", ""]
playback = ["", ""]
monitor = false
[mqtt]
enabled = true
broker = "ssl://127.0.0.1:{self.mqtt_port}"
player_key = "{box}"
ca_file = "{self.pki}/ca.crt"
cert_file = "{self.pki}/{box}.crt"
key_file = "{self.pki}/{box}.key"
status_interval_s = 5
[effects]
boards_dir = "{self.work}/boards-{box}"
"""
        path = self.work / f"{box}.conf"
        path.write_text(conf)
        self.spawn(box, [self.bin("daemon/jamboxd/jamboxd"), "--config", str(path)])

    # --- audio ----------------------------------------------------------------------------
    def play(self, box, seconds, name="player", delay_ms=0):
        """A multitone test signal into the box's first input; returns the process."""
        return self.spawn(f"{name}-{box}", [
            self.bin("tests/jack-tools/jambox-jack-play"), "-s", self.jack_servers[box], "-n", name,
            "-p", f"{box}:in_1", "-t", str(seconds), "-w", "60", "--delay-ms", str(delay_ms),
            "--signal", "multitone"])

    def heard(self, source, listener, seconds=9):
        """Plays the test signal into `source` and records `listener`'s first output against it;
        returns the recorder's result JSON. The recorder starts first and the signal 1.5 s
        later, so the recording holds the signal from its beginning (tests/jack-tools/README.md).
        """
        recorder = subprocess.Popen(
            [self.bin("tests/jack-tools/jambox-jack-record"), "-s", self.jack_servers[listener],
             "-n", "heard-recorder", "-p", f"{listener}:out_1", "-t", str(seconds + 3), "-w", "60",
             "--signal", "multitone"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=_own_session_dying_with_parent)
        player = self.play(source, seconds, name="heard-signal", delay_ms=1500)
        out, err = recorder.communicate(timeout=seconds + 90)
        player.wait(timeout=30)
        lines = [line for line in out.splitlines() if line.strip()]
        return json.loads(lines[-1]) if lines else {"error": err}

    def _died(self, name):
        return any(n == name and p.poll() is not None for n, p in self.procs)

    @staticmethod
    def _accepts(port):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False
