#!/usr/bin/env python3
"""End to end through a real Squid configured with examples/squid/imcap.conf.

    curl / http.client --HTTP--> Squid --ICAP--> relay (counts connections) --> ICAP server
                                   |
                                   +--HTTP--> origin server in this process

The Squid configuration is generated in a temporary directory and includes the text of
examples/squid/imcap.conf with only the ICAP address (127.0.0.1:1344) replaced (and, for the
c-icap reference run, /imcap by c-icap's /echo): imcapd's /imcap service sees ordinary web
traffic here, which it must answer from the preview and never change. Squid
authenticates the client with a fake Basic helper so that a user name reaches ICAP.

Checks: GET bodies (0 B, 200 B, 100 KiB, 5 MiB, a 5 MiB chunked response, a gzip-encoded
response) and POST bodies (0 B, 200 B, 100 KiB, 5 MiB) arrive unchanged in both directions;
Squid's icap_log has one REQMOD and one RESPMOD line per HTTP request, all successful; the
ICAP server's access log has one line per ICAP transaction; X-Client-IP and X-Client-Username
reach the ICAP server; 200 requests over kept-alive proxy connections all succeed and use far
fewer ICAP connections than ICAP transactions; SIGTERM stops imcapd with status 0.
"""

import base64
import gzip
import hashlib
import http.client
import http.server
import os
import pwd
import re
import socket
import subprocess
import threading
import time

import harness
from harness import log

EXAMPLE_ADDRESS = "127.0.0.1:1344"
USER, PASSWORD = "alice", "secret"
GET_SIZES = [0, 200, 100 * 1024, 5 * 1024 * 1024]
POST_SIZES = [0, 200, 100 * 1024, 5 * 1024 * 1024]
CHUNKED_SIZE = 5 * 1024 * 1024
KEEPALIVE_THREADS, KEEPALIVE_REQUESTS = 4, 50   # 200 requests in all


def sha256(data):
    return hashlib.sha256(data).hexdigest()


# --- origin server --------------------------------------------------------------------------

class Origin:
    """HTTP/1.1 origin on 127.0.0.1:0 serving known bodies and echoing POST bodies."""

    def __init__(self):
        self.bodies = {f"/get/{n}": os.urandom(n) for n in GET_SIZES}
        self.chunked_body = os.urandom(CHUNKED_SIZE)
        text = b"".join(b"line %d: the quick brown fox jumps over the lazy dog\n" % i
                        for i in range(20000))
        self.gzip_body = gzip.compress(text)
        self.received = {}   # path -> sha256 of the POST body the origin got
        self.post_heads = {}  # path -> (request line, headers) as the origin got them
        self.lock = threading.Lock()
        origin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            # Headers and body leave in separate writes; without this, Nagle holds the body
            # until Squid ACKs the headers (up to 40 ms of delayed ACK on every response).
            disable_nagle_algorithm = True
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def send_body(self, body, extra=()):
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                for name, value in extra:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                path = self.path.split("?")[0]
                if path.startswith("http://"):
                    path = "/" + path.split("/", 3)[3]
                if path in origin.bodies:
                    self.send_body(origin.bodies[path])
                elif path == "/gzip":
                    self.send_body(origin.gzip_body, [("Content-Encoding", "gzip"),
                                                      ("Vary", "Accept-Encoding")])
                elif path == "/chunked":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    body = origin.chunked_body
                    for i in range(0, len(body), 65536):
                        piece = body[i:i + 65536]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.write(b"0\r\n\r\n")
                elif path.startswith("/small/"):
                    self.send_body(f"small response {path[7:]}\n".encode())
                else:
                    self.send_error(404)

            def read_body(self):
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    parts = []
                    while True:
                        size_line = self.rfile.readline(4096)
                        size = int(size_line.split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline(4096) not in (b"\r\n", b"\n", b""):
                                pass  # trailers
                            return b"".join(parts)
                        parts.append(self.rfile.read(size))
                        self.rfile.readline(4096)
                return self.rfile.read(int(self.headers.get("Content-Length", "0")))

            def do_POST(self):
                with origin.lock:
                    origin.post_heads[self.path] = (self.requestline, str(self.headers).strip())
                body = self.read_body()
                with origin.lock:
                    origin.received[self.path] = sha256(body)
                self.send_body(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"


# --- ICAP relay -----------------------------------------------------------------------------

class CountingRelay:
    """TCP relay between Squid and the ICAP server. Counts the ICAP connections Squid opens and
    records the identity headers Squid sends, without depending on the server's log format."""

    HEADER_RE = re.compile(rb"\r\n(X-Client-IP|X-Client-Username): ([^\r\n]*)(?=\r\n)")

    def __init__(self, target_host, target_port):
        self.target = (target_host, target_port)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.connections = 0
        self.headers = {}      # header name -> set of values seen
        self.sockets = []
        self.errors = []
        self.closing = False
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _accept_loop(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # listener closed
            try:
                upstream = socket.create_connection(self.target, timeout=10)
                upstream.settimeout(None)
            except OSError as e:
                self.errors.append(f"relay cannot reach the ICAP server: {e}")
                client.close()
                continue
            with self.lock:
                self.connections += 1
                self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src, dst, scan):
        tail = b""
        try:
            while True:
                data = src.recv(262144)
                if not data:
                    break
                if scan:
                    window = tail + data
                    for name, value in self.HEADER_RE.findall(window):
                        with self.lock:
                            self.headers.setdefault(name.decode(), set()).add(
                                value.decode("latin-1"))
                    tail = window[-300:]
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError as e:
            if not self.closing:
                with self.lock:
                    self.errors.append(f"relay: {e}")
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self):
        self.closing = True
        self.listener.close()
        with self.lock:
            for s in self.sockets:
                try:
                    s.close()
                except OSError:
                    pass


# --- Squid ----------------------------------------------------------------------------------

def squid_conf(squid_dir, http_port, icap_address, example_text, run_as, service_path):
    example = example_text.replace(EXAMPLE_ADDRESS, icap_address)
    # c-icap, the reference, has no /imcap: its /echo stands in for it.
    example = example.replace(f"{icap_address}/imcap", f"{icap_address}{service_path}")
    user_line = f"cache_effective_user {run_as}" if run_as else "# not root: no user switch"
    return f"""# generated by test/integration/squid_e2e_test.py
http_port 127.0.0.1:{http_port}
workers 1
{user_line}
pid_filename {squid_dir}/squid.pid
coredump_dir {squid_dir}
cache_log {squid_dir}/cache.log
access_log stdio:{squid_dir}/access.log squid
logformat imcap_icap %ts.%03tu %icap::rm %icap::<service_name %icap::Hs %icap::to %icap::tr %un
icap_log stdio:{squid_dir}/icap.log imcap_icap
cache deny all
cache_mem 8 MB
visible_hostname imcap-e2e
shutdown_lifetime 1 seconds
pinger_enable off
netdb_filename none
logfile_rotate 0
# ICAP must answer within the test's time budget.
icap_io_timeout 60 seconds
icap_connect_timeout 10 seconds

auth_param basic program /usr/lib/squid/basic_fake_auth
auth_param basic realm imcap-e2e
auth_param basic children 2
acl authenticated proxy_auth REQUIRED
http_access deny !authenticated
http_access allow localhost
http_access deny all

# ---- examples/squid/imcap.conf, ICAP address replaced by {icap_address} ----
{example}
"""


class Squid:
    def __init__(self, workdir, label, icap_address, example_text, service_path="/imcap"):
        self.label = label
        self.http_requests = 0
        self.dir = os.path.join(workdir, f"squid-{label}")
        os.makedirs(self.dir)
        self.port = harness.free_loopback_port()
        run_as = None
        if os.geteuid() == 0:
            # Squid refuses to keep running as root: it switches to this user, which must be
            # able to write its logs here.
            run_as = "proxy"
            pw = pwd.getpwnam(run_as)
            os.chmod(workdir, 0o711)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        # A service name of its own keeps this Squid's shared-memory and IPC names apart from
        # any other Squid on the machine (another test, a benchmark, the system one).
        self.service_name = f"imcap{os.getpid()}{label.replace('-', '')}"
        self.conf = os.path.join(self.dir, "squid.conf")
        with open(self.conf, "w") as f:
            f.write(squid_conf(self.dir, self.port, icap_address, example_text, run_as,
                               service_path))
        self.proc = None

    def path(self, name):
        return os.path.join(self.dir, name)

    def start(self, timeout=60):
        parse = subprocess.run(["squid", "-n", self.service_name, "-k", "parse",
                                "-f", self.conf], capture_output=True,
                               timeout=harness.remaining(30))
        if parse.returncode != 0:
            raise RuntimeError("squid -k parse failed:\n" + parse.stderr.decode(errors="replace"))
        self._out = open(self.path("stdout.log"), "wb")
        argv = ["squid", "-n", self.service_name, "-N", "-f", self.conf]
        log("starting: " + " ".join(argv))
        self.proc = harness.popen(argv, cwd=self.dir,
                                     stdout=self._out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"squid exited with status {self.proc.returncode}\n"
                                   f"{harness.tail(self.path('stdout.log'))}\n"
                                   f"{harness.tail(self.path('cache.log'))}")
            return harness.port_accepts(self.port)

        harness.wait_until(ready, timeout, "squid to accept connections")
        log(f"squid is listening on 127.0.0.1:{self.port}")

    def stop(self):
        if self.proc is None:
            return None
        status = harness.stop_process(self.proc, timeout=30)
        self._out.close()
        self.proc = None
        return status

    def lines(self, name):
        try:
            with open(self.path(name), encoding="utf-8", errors="replace") as f:
                return [line.rstrip("\n") for line in f if line.strip()]
        except FileNotFoundError:
            return []


# --- clients --------------------------------------------------------------------------------

def curl(workdir, proxy_port, url, post_file=None, timeout=60):
    """Returns (http_status, body bytes). No Accept-Encoding, no decoding."""
    out = os.path.join(workdir, "curl-out")
    if os.path.exists(out):
        os.unlink(out)
    timeout = int(harness.remaining(timeout))
    argv = ["curl", "-sS", "--max-time", str(timeout), "-x", f"http://127.0.0.1:{proxy_port}",
            "--proxy-user", f"{USER}:{PASSWORD}", "--proxy-basic", "-o", out,
            "-w", "%{http_code}"]
    if post_file is not None:
        argv += ["--data-binary", f"@{post_file}", "-H", "Content-Type: application/octet-stream",
                 "-H", "Expect:"]
    argv.append(url)
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "http_proxy")}
    proc = subprocess.run(argv, capture_output=True, timeout=timeout + 10, env=env)
    status = proc.stdout.decode().strip()
    body = b""
    if os.path.exists(out):
        with open(out, "rb") as f:
            body = f.read()
    if proc.returncode != 0:
        log(f"curl failed ({proc.returncode}): {proc.stderr.decode(errors='replace').strip()}")
    return status, body


def keepalive_worker(proxy_port, origin, index, results):
    auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    conn = http.client.HTTPConnection("127.0.0.1", proxy_port, timeout=60)
    ok = 0
    reconnects = 0
    try:
        for i in range(KEEPALIVE_REQUESTS):
            n = index * 1000 + i
            conn.request("GET", origin.url(f"/small/{n}"),
                         headers={"Host": f"127.0.0.1:{origin.port}",
                                  "Proxy-Authorization": auth})
            resp = conn.getresponse()
            body = resp.read()
            if resp.status == 200 and body == f"small response {n}\n".encode():
                ok += 1
            if resp.will_close:
                reconnects += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", proxy_port, timeout=60)
    except Exception as e:  # recorded, the main thread reports it
        results.append((index, ok, reconnects, f"{type(e).__name__}: {e}"))
        return
    finally:
        conn.close()
    results.append((index, ok, reconnects, None))


# --- the test -------------------------------------------------------------------------------

# Each round is a fresh Squid with the example configuration plus these lines. The second round
# turns preview off, so Squid sends whole bodies and, for bodies of 64 KiB or more or of unknown
# length, does not allow 204: the ICAP server has to send the body back.
ROUNDS = [
    ("preview-on", ""),
    ("preview-off", "# this round only: no preview, so bodies are sent in full\n"
                    "icap_preview_enable off\n"),
]


def transfers(checks, workdir, squid, origin, label):
    """GET and POST bodies of every size through Squid. Returns the number of requests."""
    n = 0
    for path, body in origin.bodies.items():
        status, got = curl(workdir, squid.port, origin.url(path))
        n += 1
        checks.equal(status, "200", f"[{label}] GET {path} status")
        checks.check(sha256(got) == sha256(body), f"[{label}] GET {path} body unchanged",
                     f"got {len(got)} bytes, want {len(body)}")
    status, got = curl(workdir, squid.port, origin.url("/chunked"))
    n += 1
    checks.equal(status, "200", f"[{label}] GET /chunked status")
    checks.check(sha256(got) == sha256(origin.chunked_body),
                 f"[{label}] GET /chunked body unchanged",
                 f"got {len(got)} bytes, want {len(origin.chunked_body)}")
    status, got = curl(workdir, squid.port, origin.url("/gzip"))
    n += 1
    checks.equal(status, "200", f"[{label}] GET /gzip status")
    checks.check(got == origin.gzip_body,
                 f"[{label}] GET /gzip: gzip bytes unchanged (not decoded)",
                 f"got {len(got)} bytes, want {len(origin.gzip_body)}")
    for size in POST_SIZES:
        body = os.urandom(size)
        post_file = os.path.join(workdir, "post-body")
        with open(post_file, "wb") as f:
            f.write(body)
        path = f"/post/{label}/{size}"
        status, got = curl(workdir, squid.port, origin.url(path), post_file=post_file)
        n += 1
        checks.equal(status, "200", f"[{label}] POST {size} B status")
        with origin.lock:
            seen = origin.received.get(path)
            head = origin.post_heads.get(path)
        if not checks.equal(seen, sha256(body),
                            f"[{label}] POST {size} B: origin got the exact body"):
            log(f"  the origin saw: {head}")
        checks.check(sha256(got) == sha256(body), f"[{label}] POST {size} B: echo unchanged",
                     f"got {len(got)} bytes, want {len(body)}")
    return n


def keepalive_phase(checks, squid, origin, relay):
    """Many small requests over kept-alive proxy connections. Returns the number of requests."""
    before = relay.connections
    results = []
    started = time.monotonic()
    workers = [threading.Thread(target=keepalive_worker, args=(squid.port, origin, i, results),
                                daemon=True)
               for i in range(KEEPALIVE_THREADS)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=harness.remaining(120))
    elapsed = time.monotonic() - started
    total = KEEPALIVE_THREADS * KEEPALIVE_REQUESTS
    ok = sum(r[1] for r in results)
    errors = [r[3] for r in results if r[3]]
    checks.check(len(results) == KEEPALIVE_THREADS, "keep-alive clients finished in time")
    checks.check(not errors, "keep-alive clients saw no errors", "; ".join(errors))
    checks.equal(ok, total, "keep-alive requests answered 200 with the right body")
    new_conns = relay.connections - before
    icap_transactions = 2 * total
    log(f"keep-alive phase: {total} requests in {elapsed:.2f}s ({total / elapsed:.0f} req/s), "
        f"{icap_transactions} ICAP transactions over {new_conns} new ICAP connection(s); "
        f"client reconnects: {sum(r[2] for r in results)}")
    checks.check(new_conns <= icap_transactions // 10,
                 "ICAP connections are reused (at most one per 10 transactions)",
                 f"{new_conns} connections for {icap_transactions} transactions")
    return total


def run(args, checks, workdir, server, state):
    with open(os.path.join(args.source_dir, "examples", "squid", "imcap.conf")) as f:
        example_text = f.read()
    checks.check(EXAMPLE_ADDRESS in example_text,
                 f"examples/squid/imcap.conf names the ICAP address {EXAMPLE_ADDRESS}")
    checks.check(f"{EXAMPLE_ADDRESS}/imcap" in example_text,
                 "examples/squid/imcap.conf sends traffic to the /imcap service")

    server.start()
    relay = CountingRelay(server.host, server.port).start()
    origin = Origin().start()
    try:
        for label, extra in ROUNDS:
            squid = Squid(workdir, label, f"127.0.0.1:{relay.port}", example_text + extra,
                          "/imcap" if server.kind == "imcapd" else "/echo")
            state["squids"].append(squid)
            squid.start()
            squid.http_requests = transfers(checks, workdir, squid, origin, label)
            if label == ROUNDS[0][0]:
                squid.http_requests += keepalive_phase(checks, squid, origin, relay)
            log(f"[{label}] squid stopped (status {squid.stop()})")
    finally:
        for squid in state["squids"]:
            squid.stop()
        origin.stop()
        relay.stop()
    checks.check(not relay.errors, "relay saw no errors", "; ".join(relay.errors[:5]))
    state["icap_connections"] = relay.connections
    state["relay_headers"] = relay.headers


def check_squid_icap_log(checks, squid):
    """Returns {method: count} of the ICAP transactions in this Squid's icap.log."""
    label = squid.label
    icap_lines = squid.lines("icap.log")
    log(f"[{label}] squid icap.log: {len(icap_lines)} lines, e.g.:")
    for line in icap_lines[:3]:
        log(f"    {line}")
    by_method = {"REQMOD": [], "RESPMOD": [], "OPTIONS": []}
    for line in icap_lines:
        fields = line.split()
        if len(fields) >= 5 and fields[1] in by_method:
            by_method[fields[1]].append(fields)
    for method, service in (("REQMOD", "imcap_req"), ("RESPMOD", "imcap_resp")):
        rows = by_method[method]
        checks.equal(len(rows), squid.http_requests,
                     f"[{label}] squid icap.log: one {method} per HTTP request")
        checks.check(all(r[2] == service for r in rows),
                     f"[{label}] squid icap.log: {method} went to {service}")
        bad = [r for r in rows if r[3] not in ("200", "204", "206") or r[4].startswith("ICAP_ERR")]
        checks.check(not bad, f"[{label}] squid icap.log: every {method} succeeded",
                     f"{len(bad)} failed, e.g. {' '.join(bad[0]) if bad else ''}")
        statuses = {}
        for r in rows:
            statuses[r[3]] = statuses.get(r[3], 0) + 1
        log(f"  {method}: {len(rows)} transactions, ICAP statuses {statuses}")
        users = {r[6] for r in rows if len(r) > 6}
        checks.equal(users, {USER}, f"[{label}] squid icap.log: {method} user")
    checks.check(len(by_method["OPTIONS"]) >= 1, f"[{label}] squid icap.log: OPTIONS fetched")
    squid_access = squid.lines("access.log")
    checks.check(len(squid_access) >= squid.http_requests,
                 f"[{label}] squid access.log has every request",
                 f"{len(squid_access)} lines for {squid.http_requests} requests")
    return {m: len(v) for m, v in by_method.items()}


def check_logs(checks, server, state):
    totals = {"REQMOD": 0, "RESPMOD": 0, "OPTIONS": 0}
    for squid in state["squids"]:
        for method, n in check_squid_icap_log(checks, squid).items():
            totals[method] += n
    transactions = sum(totals.values())
    log(f"ICAP connections over the whole run: {state['icap_connections']} "
        f"for {transactions} ICAP transactions")
    checks.check(state["icap_connections"] < transactions,
                 "fewer ICAP connections than ICAP transactions",
                 f"{state['icap_connections']} connections, {transactions} transactions")

    server_lines = server.access_lines()
    for method in ("REQMOD", "RESPMOD"):
        checks.equal(harness.count_method(server_lines, method), totals[method],
                     f"{server.kind} access log: one line per {method} transaction")

    ips = state["relay_headers"].get("X-Client-IP", set())
    users = state["relay_headers"].get("X-Client-Username", set())
    checks.check(ips == {"127.0.0.1"}, "Squid sent X-Client-IP: 127.0.0.1", repr(ips))
    checks.check(users == {USER}, f"Squid sent X-Client-Username: {USER}", repr(users))
    if server.kind == "imcapd":
        checks.check(any(USER in line for line in server_lines),
                     f"imcapd access log shows the user {USER!r}")
        checks.check(any("127.0.0.1" in line for line in server_lines),
                     "imcapd access log shows the client IP")


def main():
    args = harness.parse_args(__doc__.splitlines()[0])
    harness.require_tools("squid", "curl")
    checks = harness.Checks()
    with harness.TempDir(args.keep_tmp, "imcap-squid-e2e-") as workdir:
        server = harness.IcapServer(args.server, workdir, imcapd=args.imcapd)
        state = {"squids": [], "icap_connections": 0, "relay_headers": {}}
        completed = False
        try:
            run(args, checks, workdir, server, state)
            completed = True
        except Exception as e:
            checks.check(False, "test ran to completion", f"{type(e).__name__}: {e}")
        finally:
            status = server.stop()
        if server.kind == "imcapd":
            checks.equal(status, 0, "imcapd exit status after SIGTERM")
        if completed:
            check_logs(checks, server, state)
        if checks.failures:
            server.dump_logs()
            for squid in state["squids"]:
                log(f"--- squid [{squid.label}] cache.log (tail):\n"
                    f"{harness.tail(squid.path('cache.log'))}")
    return checks.finish("squid_e2e_test")


if __name__ == "__main__":
    raise SystemExit(main())
