#!/usr/bin/env python3
"""Crash safety of the archive: kill -9 imcapd under load, restart, nothing answered is lost.

What a compliance reviewer relies on: every chat message the proxy got an ICAP answer for is in
the archive, even when imcapd dies without warning, and the archive's hash chain is intact.

A load generator (threads, one kept-alive ICAP connection each) sends Slack chat.postMessage
requests as ICAP REQMOD straight to imcapd's /imcap (no Squid needed), each with a unique token
in its text, and records every message that got an ICAP reply (any status: an answer Squid
would have acted on). Once enough replies are in, imcapd is killed with SIGKILL while the
generator is still sending. imcapd is restarted on the same archive and configuration; then
`imcapctl archive verify` must pass and `imcapctl archive search` must find every replied
message. A message sent after the restart must be archived too.

Exits 77 (ctest: skipped) while imcapd has no [archive] section (archive/, pipeline/ not
merged).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Checks, IcapServer, TempDir, log  # noqa: E402

SKIPPED = 77
CLIENTS = 4
KILL_AFTER = 200          # replies received before the kill
MAX_PER_CLIENT = 5000     # bound on each client's loop
RUN_ID = uuid.uuid4().hex[:8]


class IcapError(Exception):
    pass


def read_reply(sock, deadline):
    """Reads one ICAP response (head and, if announced, the chunked body). Returns the status."""
    data = b""
    while b"\r\n\r\n" not in data:
        if time.monotonic() > deadline:
            raise IcapError("timed out waiting for the ICAP head")
        part = sock.recv(65536)
        if not part:
            raise IcapError("connection closed before the ICAP head")
        data += part
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    enc = ""
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "encapsulated":
            enc = value.strip()
    last = enc.split(",")[-1].strip() if enc else "null-body=0"
    if not last.startswith("null-body"):
        body_at = int(last.split("=")[1])
        # Encapsulated HTTP head(s), then a chunked body ending in a zero chunk.
        for _ in range(100000):
            body = rest[body_at:]
            if body.endswith(b"0\r\n\r\n") and (body == b"0\r\n\r\n" or
                                               body.endswith(b"\r\n0\r\n\r\n")):
                break
            if time.monotonic() > deadline:
                raise IcapError("timed out in the ICAP body")
            part = sock.recv(65536)
            if not part:
                raise IcapError("connection closed in the ICAP body")
            rest += part
    return status


def reqmod(host, text, user):
    body = json.dumps({"channel": "C0CRASH", "text": text}).encode()
    http = (b"POST http://slack.com/api/chat.postMessage HTTP/1.1\r\n"
            b"Host: slack.com\r\nAuthorization: Bearer xoxc-crash-test\r\n"
            b"Content-Type: application/json; charset=utf-8\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
    return (b"REQMOD icap://" + host.encode() + b"/imcap ICAP/1.0\r\n"
            b"Host: " + host.encode() + b"\r\nAllow: 204\r\n"
            b"X-Client-IP: 127.0.0.1\r\nX-Client-Username: " + user.encode() + b"\r\n"
            b"Encapsulated: req-hdr=0, req-body=" + str(len(http)).encode() + b"\r\n\r\n" +
            http + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")


class Load:
    def __init__(self, server):
        self.addr = (server.host, server.port)
        self.lock = threading.Lock()
        self.replied = []    # (token, status)
        self.unanswered = 0  # sent, connection died before the reply
        self.errors = []
        self.stop = threading.Event()
        self.enough = threading.Event()

    def client(self, index):
        sock = None
        try:
            sock = socket.create_connection(self.addr, timeout=10)
            for n in range(MAX_PER_CLIENT):
                if self.stop.is_set():
                    return
                token = f"crash-{RUN_ID}-{index}-{n}"
                try:
                    sock.sendall(reqmod(f"{self.addr[0]}:{self.addr[1]}",
                                        f"status update {token} all fine", "alice"))
                    status = read_reply(sock, time.monotonic() + 30)
                except (OSError, IcapError, ValueError, IndexError):
                    with self.lock:
                        self.unanswered += 1
                    return  # imcapd is gone (the kill), or the connection broke
                with self.lock:
                    self.replied.append((token, status))
                    if len(self.replied) >= KILL_AFTER:
                        self.enough.set()
        except OSError as e:
            with self.lock:
                self.errors.append(f"client {index}: {e}")
        finally:
            if sock is not None:
                sock.close()


def serves_imcap(server):
    with socket.create_connection((server.host, server.port), timeout=10) as s:
        s.sendall(b"OPTIONS icap://127.0.0.1/imcap ICAP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        s.settimeout(10)
        return read_reply(s, time.monotonic() + 10) == 200


def ctl(imcapctl, conf, *args):
    r = subprocess.run([imcapctl, *args, "--config", conf], capture_output=True, text=True,
                       timeout=harness.remaining(120))
    log(f"imcapctl {' '.join(args)} -> {r.returncode}; {len(r.stdout.splitlines())} line(s)"
        f"{'; ' + r.stderr.strip()[:300] if r.stderr.strip() else ''}")
    return r


def texts_in(stdout):
    out = []
    for line in stdout.splitlines():
        if line.strip():
            out.append(json.loads(line).get("text", ""))
    return out


def main():
    args = harness.parse_args(__doc__.splitlines()[0])
    imcapctl = os.environ.get("IMCAPCTL") or os.path.join(
        os.path.dirname(os.path.dirname(args.imcapd)), "imcapctl", "imcapctl")
    checks = Checks()
    defaults = subprocess.run([args.imcapd, "--print-defaults"], capture_output=True, text=True,
                              timeout=30).stdout
    if "\n[archive]" not in defaults:
        log("skipped: this imcapd has no [archive] section (archive/ and pipeline/ not merged)")
        return SKIPPED
    with TempDir(args.keep_tmp, "imcap-crash-") as tmp:
        archive_dir = os.path.join(tmp, "archive")
        server = IcapServer("imcapd", tmp, imcapd=args.imcapd, extra_config=f"""
[archive]
path = "{archive_dir}"
durability = "strict"
""")
        conf = os.path.join(server.dir, "imcapd.toml")
        server.start()
        try:
            if not checks.check(serves_imcap(server), "imcapd serves /imcap"):
                return checks.finish("crash safety")

            # --- load, then kill -9 mid-way ----------------------------------------------------
            load = Load(server)
            threads = [threading.Thread(target=load.client, args=(i,), daemon=True)
                       for i in range(CLIENTS)]
            started = time.monotonic()
            for t in threads:
                t.start()
            got_enough = load.enough.wait(timeout=harness.remaining(120))
            checks.check(got_enough, f"{KILL_AFTER} messages answered before the kill",
                         f"only {len(load.replied)}")
            server.proc.send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            server.proc.wait(timeout=30)
            for t in threads:
                t.join(timeout=harness.remaining(60))
            load.stop.set()
            with load.lock:
                replied = list(load.replied)
            log(f"{len(replied)} message(s) answered in {killed_at - started:.2f}s before and "
                f"around the SIGKILL; {load.unanswered} connection(s) cut mid-request; "
                f"statuses {sorted({s for _, s in replied})}")
            checks.check(not load.errors, "the load generator could connect", "; ".join(load.errors))
            # Otherwise the kill came after the load and proves nothing about a crash mid-way.
            checks.check(load.unanswered >= 1, "the kill cut requests in flight",
                         f"{load.unanswered} cut")
            checks.check(all(s in (200, 204) for _, s in replied),
                         "every answered message got 200 or 204",
                         str(sorted({s for _, s in replied})))

            # --- restart on the same archive -------------------------------------------------
            server.stop()  # collects the killed process
            os.replace(server.server_log, server.server_log + ".before-kill")
            ready = os.path.join(server.dir, "ready")
            if os.path.exists(ready):
                os.unlink(ready)  # the killed process could not remove it
            server.start()
            checks.check(serves_imcap(server), "imcapd serves /imcap again after the restart")
            # What the restart took from the journal (strict durability, archive/README.md): how
            # many acknowledged events LMDB did not hold yet at the kill. Informational: it
            # depends on where the applier was.
            with open(server.server_log, errors="replace") as f:
                replayed = [line.strip() for line in f if "archive: journal" in line]
            log("restart: " + ("; ".join(replayed) if replayed else "no journal left to replay"))

            r = ctl(imcapctl, conf, "archive", "verify")
            checks.check(r.returncode == 0, "imcapctl archive verify passes after kill -9",
                         (r.stdout + r.stderr)[-800:])

            r = ctl(imcapctl, conf, "archive", "search", "--app", "slack", "--text",
                    f"crash-{RUN_ID}-", "--limit", str(CLIENTS * MAX_PER_CLIENT + 10))
            if checks.check(r.returncode == 0, "imcapctl archive search runs", r.stderr[-500:]):
                found = "\n".join(texts_in(r.stdout))
                missing = [tok for tok, _ in replied if f"{tok} " not in found]
                checks.check(not missing, "every answered message is in the archive",
                             f"{len(missing)} of {len(replied)} missing, e.g. {missing[:5]}")
            # The same, the way a reviewer looks for one message.
            for tok, _ in replied[:: max(1, len(replied) // 10)]:
                r = ctl(imcapctl, conf, "archive", "search", "--text", tok)
                texts = texts_in(r.stdout) if r.returncode == 0 else []
                checks.check(any(f"{tok} " in t for t in texts),
                             f"archive search --text {tok} finds the message",
                             (r.stdout + r.stderr)[-300:])

            # --- a message after the restart is archived as well ------------------------------
            after = f"crash-{RUN_ID}-after-restart"
            with socket.create_connection((server.host, server.port), timeout=10) as s:
                s.sendall(reqmod(f"{server.host}:{server.port}", f"status update {after} ok",
                                 "alice"))
                status = read_reply(s, time.monotonic() + 30)
            checks.check(status in (200, 204), "a message after the restart is answered",
                         str(status))
            r = ctl(imcapctl, conf, "archive", "search", "--text", after)
            checks.check(r.returncode == 0 and any(after in t for t in texts_in(r.stdout)),
                         "the message sent after the restart is archived", r.stdout[-300:])
        finally:
            checks.equal(server.stop(), 0, "imcapd exits 0 on SIGTERM")
            if checks.failures:
                server.dump_logs()
    return checks.finish("crash safety")


if __name__ == "__main__":
    sys.exit(main())
