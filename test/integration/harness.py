"""Shared pieces of the imcap integration tests (Python standard library only).

Starts the ICAP server under test in a private temporary directory and stops it again:

  * imcapd (the default): a generated imcapd.toml listening on 127.0.0.1:0; the bound port is
    read from the file given to --ready-file (ICAP "host:port" lines first, then
    "metrics host:port" when [metrics] is on); SIGTERM must make it exit with status 0.
  * c-icap with its srv_echo module (--server cicap): the reference server, used to check that
    the tests themselves are right. It cannot bind port 0, so a free port is picked first.

Every wait has a deadline; processes are killed in finally blocks by their owners.
"""

import argparse
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

CICAP_MODULES = "/usr/lib/x86_64-linux-gnu/c_icap"
REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

# ctest kills a test after its TIMEOUT (300 s) without letting it clean up, so every test
# works within a smaller budget of its own and gives up (cleanly, with a report) when it is spent.
_deadline = None


def parse_args(description):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--imcapd", help="path of the imcapd binary (needed for --server imcapd)")
    parser.add_argument("--source-dir", default=os.path.join(os.path.dirname(__file__), "..", ".."),
                        help="repository root")
    parser.add_argument("--server", choices=["imcapd", "cicap"], default="imcapd",
                        help="ICAP server to test: imcapd, or c-icap's echo service as a reference")
    parser.add_argument("--keep-tmp", action="store_true",
                        help="keep the temporary directory (logs, configs) for inspection")
    parser.add_argument("--time-budget", type=float, default=240,
                        help="seconds after which the test stops waiting and fails")
    args = parser.parse_args()
    global _deadline
    _deadline = time.monotonic() + args.time_budget
    # SIGTERM (from ctest or a user) unwinds through the finally blocks that stop the servers.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    args.source_dir = os.path.abspath(args.source_dir)
    if args.server == "imcapd" and not args.imcapd:
        parser.error("--imcapd PATH is required with --server imcapd")
    return args


def log(msg):
    print(msg, flush=True)


def _exit_on_signal(signum, _frame):
    raise SystemExit(f"terminated by signal {signum}")


def remaining(cap):
    """Seconds a wait may take: at most cap, and never past the test's time budget."""
    if _deadline is None:
        return cap
    left = _deadline - time.monotonic()
    if left < 1:
        raise TimeoutError("the test's time budget is spent")
    return min(cap, left)


def _die_with_parent():
    # Runs in the child before exec: if this test process dies (even by SIGKILL), the kernel
    # kills the child too, so no server outlives its test.
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def popen(argv, **kwargs):
    """subprocess.Popen for long-running servers: they die when the test dies."""
    return subprocess.Popen(argv, preexec_fn=_die_with_parent, **kwargs)


class Checks:
    """Collects failed expectations instead of stopping at the first one, so a run reports
    everything that is wrong at once."""

    def __init__(self):
        self.failures = []
        self.passed = 0

    def check(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            return True
        msg = what if not detail else f"{what}: {detail}"
        self.failures.append(msg)
        log(f"FAIL: {msg}")
        return False

    def equal(self, actual, expected, what):
        return self.check(actual == expected, what, f"expected {expected!r}, got {actual!r}")

    def finish(self, name):
        if self.failures:
            log(f"\n{name}: {len(self.failures)} check(s) failed, {self.passed} passed:")
            for f in self.failures:
                log(f"  - {f}")
            return 1
        log(f"\n{name}: all {self.passed} checks passed")
        return 0


def wait_until(predicate, timeout, what, interval=0.05):
    """Polls predicate() until it returns a true value or timeout seconds pass."""
    deadline = time.monotonic() + remaining(timeout)
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def free_loopback_port():
    """A port that was free a moment ago. Only for programs that cannot bind port 0."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_accepts(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def tail(path, lines=40):
    try:
        with open(path, "rb") as f:
            data = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join(data[-lines:])
    except OSError as e:
        return f"(cannot read {path}: {e})"


class TempDir:
    def __init__(self, keep, prefix):
        self.path = tempfile.mkdtemp(prefix=prefix)
        self.keep = keep

    def __enter__(self):
        return self.path

    def __exit__(self, *exc):
        if self.keep:
            log(f"kept temporary directory {self.path}")
        else:
            shutil.rmtree(self.path, ignore_errors=True)
        return False


def stop_process(proc, timeout=30, sig=signal.SIGTERM):
    """Sends sig, waits up to timeout seconds, then kills. Returns the exit status, or None if
    the process had to be killed."""
    if proc.poll() is not None:
        return proc.returncode
    try:
        proc.send_signal(sig)
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        return None


class IcapServer:
    """The ICAP server under test, running in its own subdirectory of workdir."""

    def __init__(self, kind, workdir, imcapd=None, preview_size=4096, options_ttl=3600,
                 max_connections=1024, signatures_extra="", metrics=False, extra_config="",
                 webui_extra=""):
        self.kind = kind
        self.dir = os.path.join(workdir, kind)
        os.makedirs(self.dir)
        self.imcapd = imcapd
        self.preview_size = preview_size
        self.options_ttl = options_ttl
        self.max_connections = max_connections
        # imcapd's [signatures]: a pack store of its own, the ClamAV test database shipped in the
        # repository, and any extra keys a test needs (signing policy, ...).
        self.pack_store = os.path.join(self.dir, "packs")
        self.signatures_extra = signatures_extra
        # [metrics] on a port of its own (the ready file's "metrics host:port" line), and any
        # further sections a test needs, appended to the generated imcapd.toml.
        self.metrics = metrics
        self.metrics_address = None
        self.extra_config = extra_config
        self.webui_extra = webui_extra  # more [webui] keys (TLS, ...)
        self.proc = None
        self.port = None
        self.host = "127.0.0.1"
        self.stdout_path = os.path.join(self.dir, "stdout.log")
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        self.access_log = os.path.join(self.dir, "access.log")
        self.server_log = os.path.join(self.dir, "server.log")
        self.exit_status = None

    @property
    def service_uri(self):
        return f"icap://{self.host}:{self.port}/echo"

    def start(self, timeout=30):
        if self.kind == "imcapd":
            self._start_imcapd(timeout)
        else:
            self._start_cicap(timeout)
        log(f"{self.kind} is listening on {self.host}:{self.port}")
        return self

    def _spawn(self, argv):
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        log("starting: " + " ".join(argv))
        self.proc = popen(argv, cwd=self.dir, stdout=self._out, stderr=self._err,
                          stdin=subprocess.DEVNULL)

    def _died(self):
        return RuntimeError(f"{self.kind} exited with status {self.proc.returncode} before it was "
                            f"ready\n--- stderr:\n{tail(self.stderr_path)}\n--- log:\n"
                            f"{tail(self.server_log)}")

    def _start_imcapd(self, timeout):
        conf = os.path.join(self.dir, "imcapd.toml")
        ready = os.path.join(self.dir, "ready")
        with open(conf, "w") as f:
            f.write(f"""# generated by the imcap integration tests
[server]
listen = ["127.0.0.1:0"]
threads = 2
max_connections = {self.max_connections}
options_ttl = {self.options_ttl}
preview_size = {self.preview_size}

[log]
file = "{self.server_log}"
level = "info"
access_log = "{self.access_log}"
access_format = "plain"

[webui]
# The reviewer UI on a port the kernel picks (never the fixed default 8181); its archive is
# the default var/archive inside this directory.
listen = "127.0.0.1:0"
{self.webui_extra}

[signatures]
store = "{self.pack_store}"
cache_dir = "{os.path.join(self.dir, 'cache')}"
clamav_databases = ["{os.path.join(REPO_ROOT, 'signatures', 'clamav')}"]
{self.signatures_extra}
""")
            # [metrics] is on by default at a fixed port; tests run in parallel, so it is
            # always on a port of its own here, and off unless the test reads it.
            f.write(f'\n[metrics]\nenabled = {"true" if self.metrics else "false"}\n'
                    'listen = "127.0.0.1:0"\n')
            f.write(self.extra_config)
        self._spawn([self.imcapd, "--config", conf, "--ready-file", ready])

        def ready_port():
            if self.proc.poll() is not None:
                raise self._died()
            try:
                with open(ready) as f:
                    text = f.read()
            except FileNotFoundError:
                return None
            if not text.endswith("\n"):
                return None  # not completely written yet
            # ICAP "host:port" lines first, then "<what> host:port" lines (metrics).
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            for line in lines:
                if line.startswith("metrics "):
                    self.metrics_address = line.split(" ", 1)[1]
            host, _, port = lines[0].rpartition(":")
            return host.strip("[]"), int(port)

        self.host, self.port = wait_until(ready_port, timeout, "imcapd's ready file")

    def _start_cicap(self, timeout):
        self.port = free_loopback_port()
        conf = os.path.join(self.dir, "c-icap.conf")
        with open(conf, "w") as f:
            f.write(f"""# generated by the imcap integration tests
PidFile {self.dir}/c-icap.pid
CommandsSocket {self.dir}/c-icap.ctl
Port 127.0.0.1:{self.port}
Timeout 60
KeepAliveTimeout 600
MaxKeepAliveRequests 1000
StartServers 1
MaxServers 1
ThreadsPerChild 20
MinSpareThreads 2
MaxSpareThreads 20
TmpDir {self.dir}
MaxMemObject 131072
ModulesDir {CICAP_MODULES}
ServicesDir {CICAP_MODULES}
TemplateDir /usr/share/c_icap/templates/
ServerLog {self.server_log}
AccessLog {self.access_log}
DebugLevel 1
Service echo srv_echo.so
""")
        self._spawn(["c-icap", "-N", "-D", "-f", conf])

        def ready():
            if self.proc.poll() is not None:
                raise self._died()
            return port_accepts(self.port)

        wait_until(ready, timeout, "c-icap to accept connections")

    def stop(self, timeout=30):
        """SIGTERM, then wait. Returns the exit status (None if it had to be killed)."""
        if self.proc is None:
            return None
        self.exit_status = stop_process(self.proc, timeout)
        for f in (getattr(self, "_out", None), getattr(self, "_err", None)):
            if f:
                f.close()
        self.proc = None
        return self.exit_status

    def access_lines(self):
        try:
            with open(self.access_log, encoding="utf-8", errors="replace") as f:
                return [line.rstrip("\n") for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def dump_logs(self):
        log(f"--- {self.kind} stderr (tail):\n{tail(self.stderr_path)}")
        log(f"--- {self.kind} log (tail):\n{tail(self.server_log)}")


def count_method(lines, method):
    """Access-log lines that name the ICAP method as a separate word."""
    n = 0
    for line in lines:
        words = line.replace(",", " ").replace('"', " ").split()
        if method in words:
            n += 1
    return n


def require_tools(*names):
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        log(f"missing programs: {', '.join(missing)} (run scripts/install-deps.sh)")
        sys.exit(1)
