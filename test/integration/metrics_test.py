#!/usr/bin/env python3
"""imcapd's Prometheus endpoint, as a monitoring system sees it.

Starts imcapd with [metrics] on a free loopback port (read from the ready file's
"metrics host:port" line), sends ICAP transactions with the real c-icap-client (OPTIONS and
REQMOD to /echo, one request to a service that does not exist), and scrapes GET /metrics:
the transaction counters by service/method/status and the latency histogram must count exactly
what was sent. Also: other paths are 404, other methods 405, and a bad [metrics] key stops
imcapd with file:line:column and key.
"""

import os
import re
import subprocess
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Checks, IcapServer, TempDir, log  # noqa: E402


def scrape(address, path="/metrics", method="GET", data=None):
    req = urllib.request.Request(f"http://{address}{path}", method=method, data=data)
    try:
        with urllib.request.urlopen(req, timeout=harness.remaining(10)) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def sample(text, name, **labels):
    """The value of one series, or None. Labels must match exactly (all of them)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if got == labels:
            return float(m.group(3))
    return None


def client(server, args):
    argv = ["c-icap-client", "-i", server.host, "-p", str(server.port)] + args
    return subprocess.run(argv, capture_output=True, timeout=harness.remaining(60))


def main():
    args = harness.parse_args(__doc__)
    harness.require_tools("c-icap-client")
    checks = Checks()
    with TempDir(args.keep_tmp, "imcap-metrics-") as tmp:
        # --- a bad [metrics] key is a start-up error naming file, line and key ----------------
        bad = os.path.join(tmp, "bad.toml")
        with open(bad, "w") as f:
            f.write('[server]\nlisten = ["127.0.0.1:0"]\n\n[metrics]\nlisten = "localhost:9181"\n')
        r = subprocess.run([args.imcapd, "--check-config", "--config", bad], capture_output=True,
                           text=True, timeout=30)
        checks.check(r.returncode != 0 and f"{bad}:5:10: metrics.listen:" in r.stderr,
                     "a bad metrics.listen is named by file:line:column and key", r.stderr)

        server = IcapServer("imcapd", tmp, imcapd=args.imcapd, metrics=True)
        server.start()
        try:
            addr = server.metrics_address
            if not checks.check(addr is not None and re.match(r"127\.0\.0\.1:\d+$", addr),
                                "the ready file names the metrics address", repr(addr)):
                return checks.finish("metrics")
            log(f"metrics on http://{addr}/metrics")

            status, headers, before = scrape(addr)
            checks.equal(status, 200, "GET /metrics status")
            checks.equal(headers.get("Content-Type"), "text/plain; version=0.0.4; charset=utf-8",
                         "GET /metrics content type")
            checks.check(sample(before, "imcap_icap_transactions_total", service="/echo",
                                method="REQMOD", status="200") is None,
                         "no REQMOD series before any REQMOD")

            body = os.path.join(tmp, "body.txt")
            with open(body, "wb") as f:
                f.write(b"hello metrics\n" * 100)
            n_reqmod = 3
            for i in range(n_reqmod):
                res = client(server, ["-s", "echo", "-f", body, "-o", os.path.join(tmp, f"out{i}"),
                                      "-req", "http://www.example.com/metrics-test", "-nopreview",
                                      "-no204"])
                checks.equal(res.returncode, 0, "c-icap-client REQMOD exit status")
            res = client(server, ["-s", "echo"])
            checks.equal(res.returncode, 0, "c-icap-client OPTIONS exit status")
            client(server, ["-s", "no-such-service"])

            # The access log line and the counter are written at the same point; the log is
            # asynchronous and written after the counter, so once the log shows every line the
            # counters must show every transaction.
            expected_lines = 2 * n_reqmod + 2  # OPTIONS + REQMOD per run, OPTIONS, 404
            harness.wait_until(lambda: len(server.access_lines()) >= expected_lines, 20,
                               "the access log lines")
            _, _, text = scrape(addr)
            checks.equal(sample(text, "imcap_icap_transactions_total", service="/echo",
                                method="REQMOD", status="200"), float(n_reqmod),
                         "REQMOD /echo 200 counted once per c-icap-client request")
            # c-icap-client asks OPTIONS before every request: one per run.
            checks.equal(sample(text, "imcap_icap_transactions_total", service="/echo",
                                method="OPTIONS", status="200"), float(n_reqmod + 1),
                         "OPTIONS /echo 200 counted (one per c-icap-client run)")
            checks.equal(sample(text, "imcap_icap_transactions_total", service="other",
                                method="OPTIONS", status="404"), 1.0,
                         "a request to an unknown service is counted as service=other, 404")
            checks.check("no-such-service" not in text,
                         "an unknown service name does not become a label value")
            count = sample(text, "imcap_icap_transaction_duration_seconds_count", service="/echo",
                           method="REQMOD")
            inf = sample(text, "imcap_icap_transaction_duration_seconds_bucket", service="/echo",
                         method="REQMOD", le="+Inf")
            total = sample(text, "imcap_icap_transaction_duration_seconds_sum", service="/echo",
                           method="REQMOD")
            checks.check(count == float(n_reqmod) and inf == count,
                         "latency histogram counts the REQMODs (+Inf bucket = _count)",
                         f"count {count}, +Inf {inf}")
            checks.check(total is not None and 0 < total < 60, "latency _sum is plausible",
                         repr(total))
            checks.check("# TYPE imcap_icap_transactions_total counter" in text and
                         "# TYPE imcap_icap_transaction_duration_seconds histogram" in text,
                         "TYPE lines present")

            status, _, _ = scrape(addr, "/")
            checks.equal(status, 404, "GET / is 404")
            status, headers, _ = scrape(addr, "/metrics", method="POST", data=b"x=1")
            checks.equal(status, 405, "POST /metrics is 405")
        finally:
            code = server.stop()
            checks.equal(code, 0, "imcapd exits 0 on SIGTERM")
            if checks.failures:
                server.dump_logs()
    return checks.finish("metrics")


if __name__ == "__main__":
    sys.exit(main())
