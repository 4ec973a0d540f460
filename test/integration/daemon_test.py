#!/usr/bin/env python3
"""imcapd as a process: command line, configuration errors, SIGHUP reload and SIGTERM drain.

What an admin sees: --help/--version/--check-config, a config typo named by file:line:column
and key with a non-zero exit, a reload that changes the ISTag and settings without dropping
connections, a bad reload that keeps the old configuration, and a SIGTERM that lets the
transaction in flight finish before the process exits 0.
"""

import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Checks, IcapServer, TempDir, log, wait_until  # noqa: E402


def read_response(sock, deadline=10):
    """Reads one ICAP response head (and a chunked body if Encapsulated announces one)."""
    sock.settimeout(deadline)
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(65536)
        if not part:
            raise ConnectionError("closed")
        data += part
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    enc = headers.get("encapsulated", "")
    if enc and not enc.split(",")[-1].strip().startswith("null-body"):
        body_at = int(enc.split(",")[-1].split("=")[1])
        while not rest[body_at:].endswith(b"0\r\n\r\n"):
            part = sock.recv(65536)
            if not part:
                raise ConnectionError("closed in body")
            rest += part
    return status, headers, rest


def dechunk(data):
    out = b""
    while True:
        line, _, data = data.partition(b"\r\n")
        size = int(line.split(b";")[0], 16)
        if size == 0:
            return out
        out += data[:size]
        data = data[size + 2:]


def options(sock):
    sock.sendall(b"OPTIONS icap://127.0.0.1/echo ICAP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    return read_response(sock)


def main():
    args = harness.parse_args(__doc__)
    checks = Checks()
    imcapd = args.imcapd

    # --- command line ---------------------------------------------------------------------
    for flag in ("--help", "--version"):
        r = subprocess.run([imcapd, flag], capture_output=True, text=True, timeout=30)
        checks.check(r.returncode == 0 and "imcapd" in (r.stdout + r.stderr).lower(),
                     f"imcapd {flag} exits 0 and says what it is", r.stdout[:200])
    shipped = os.path.join(args.source_dir, "conf", "imcapd.toml")
    r = subprocess.run([imcapd, "--check-config", "--config", shipped], capture_output=True,
                       text=True, timeout=30)
    checks.check(r.returncode == 0 and "configuration OK" in r.stdout,
                 "--check-config accepts the shipped conf/imcapd.toml", r.stdout + r.stderr)

    with TempDir(args.keep_tmp, "imcap-daemon-") as tmp:
        bad = os.path.join(tmp, "typo.toml")
        with open(bad, "w") as f:
            f.write("[server]\nthreads = 2\nmax_conections = 10\n")
        r = subprocess.run([imcapd, "--check-config", "--config", bad], capture_output=True,
                           text=True, timeout=30)
        checks.check(r.returncode != 0 and f"{bad}:3:" in r.stderr and "server.max_conections" in r.stderr
                     and "unknown key" in r.stderr,
                     "a config typo is named by file:line and key, exit non-zero", r.stderr)
        r = subprocess.run([imcapd, "--config", bad], capture_output=True, text=True, timeout=30)
        checks.check(r.returncode != 0 and f"{bad}:3:" in r.stderr,
                     "imcapd refuses to start on a config typo", r.stderr)

        # --- reload ---------------------------------------------------------------------------
        server = IcapServer("imcapd", tmp, imcapd=imcapd, options_ttl=3600)
        server.start()
        conf = os.path.join(server.dir, "imcapd.toml")
        try:
            held = socket.create_connection((server.host, server.port), timeout=10)
            status, h, _ = options(held)
            first_tag = h.get("istag")
            checks.check(status == 200 and h.get("options-ttl") == "3600", "OPTIONS before reload",
                         str(h))

            with open(conf) as f:
                text = f.read()
            with open(conf, "w") as f:
                f.write(text.replace("options_ttl = 3600", "options_ttl = 120"))
            server.proc.send_signal(signal.SIGHUP)

            def reloaded():
                with socket.create_connection((server.host, server.port), timeout=10) as s:
                    _, hh, _ = options(s)
                    return hh if hh.get("options-ttl") == "120" else None

            h2 = wait_until(reloaded, 20, "the reloaded Options-TTL")
            checks.check(h2.get("istag") != first_tag, "SIGHUP changes the ISTag",
                         f"{first_tag} -> {h2.get('istag')}")
            # The connection opened before the reload still works, with the new settings.
            status, h3, _ = options(held)
            checks.check(status == 200 and h3.get("options-ttl") == "120",
                         "a connection opened before SIGHUP keeps working", str(h3))

            # A broken config is rejected; the running one stays.
            with open(conf, "w") as f:
                f.write(text.replace("options_ttl = 3600", "options_ttl = \"soon\""))
            server.proc.send_signal(signal.SIGHUP)
            wait_until(lambda: "reload rejected" in harness.tail(server.server_log, 200), 20,
                       "the rejected reload in the log")
            log_text = harness.tail(server.server_log, 200)
            checks.check(f"{conf}:" in log_text and "server.options_ttl" in log_text,
                         "the rejected reload names file and key in the log", log_text[-400:])
            status, h4, _ = options(held)
            checks.check(status == 200 and h4.get("options-ttl") == "120"
                         and h4.get("istag") == h2.get("istag"),
                         "after a bad reload the old configuration and ISTag stay", str(h4))

            # --- SIGTERM drains ---------------------------------------------------------------
            body = b"x" * 5000
            http = b"POST http://chat.example/send HTTP/1.1\r\nHost: chat.example\r\n\r\n"
            head = (b"REQMOD icap://127.0.0.1/echo ICAP/1.0\r\nHost: 127.0.0.1\r\n"
                    b"Encapsulated: req-hdr=0, req-body=" + str(len(http)).encode() +
                    b"\r\n\r\n" + http)
            busy = socket.create_connection((server.host, server.port), timeout=10)
            busy.sendall(head + b"%x\r\n" % len(body) + body[:2000])  # the body is half sent
            time.sleep(0.3)  # let imcapd start the echo before the signal
            server.proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            checks.check(server.proc.poll() is None, "imcapd waits for the transaction in flight")
            busy.sendall(body[2000:] + b"\r\n0\r\n\r\n")
            status, hb, rest = read_response(busy)
            body_at = int(hb.get("encapsulated", "req-body=0").split(",")[-1].split("=")[1])
            echoed = dechunk(rest[body_at:])
            checks.check(status == 200 and echoed == body,
                         "the in-flight transaction completes after SIGTERM, body intact",
                         f"status {status}, {len(echoed)} bytes")
            code = server.proc.wait(timeout=30)
            checks.check(code == 0, "imcapd exits 0 after draining", f"exit {code}")
            try:
                held.settimeout(5)
                closed = held.recv(1) == b""
            except OSError:
                closed = True
            checks.check(closed, "idle connections are closed on SIGTERM")
            busy.close()
            held.close()
        finally:
            if server.proc is not None and server.proc.poll() is None:
                server.stop()
            if checks.failures:
                server.dump_logs()

    return checks.finish("daemon")


if __name__ == "__main__":
    sys.exit(main())
