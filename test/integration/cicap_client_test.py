#!/usr/bin/env python3
"""Interoperability with c-icap-client, the ICAP client shipped with c-icap.

Checks the OPTIONS answer of the /echo service, then sends REQMOD and RESPMOD transactions with
bodies of 0 B, 200 B, 100 KiB and 2 MiB in several client modes (server-chosen preview, a
1024-byte preview, no preview, no 204 outside the preview, 206 allowed) and checks that every
adapted body is byte-for-byte the input. Finally checks identity headers reach the access log,
that an unknown service gets 404, and that SIGTERM stops the server with status 0.

Run by ctest; by hand: python3 cicap_client_test.py --imcapd build/apps/imcapd/imcapd
(or --server cicap to run the same checks against c-icap's own echo service).
"""

import base64
import os
import re
import subprocess

import harness
from harness import log

SIZES = [0, 200, 100 * 1024, 2 * 1024 * 1024]

# (label, c-icap-client flags). "may_204": whether the client leaves room for a 204 answer.
MODES = [
    ("server preview", [], True),
    ("preview 1024", ["-w", "1024"], True),
    ("no preview", ["-nopreview"], True),
    ("no 204 outside preview", ["-no204"], True),
    ("no preview, no 204", ["-nopreview", "-no204"], False),
    ("206 allowed", ["-206"], True),
]


class ClientResult:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.stdout = proc.stdout.decode("utf-8", "replace")
        self.stderr = proc.stderr.decode("utf-8", "replace")
        self.status_line = ""
        self.icap = []      # [(name, value)] in order
        self.http = []      # adapted HTTP start line and headers as printed by -v
        section = None
        # -v prints to stdout for OPTIONS and to stderr when a body is written with -o.
        for line in (self.stdout + "\n" + self.stderr).splitlines():
            if line.startswith("ICAP HEADERS:"):
                section = self.icap
                continue
            if line.endswith("HEADERS:") and not line.startswith("\t"):
                section = self.http
                continue
            if not line.startswith("\t"):
                section = None
                continue
            if section is None:
                continue
            text = line[1:]
            if section is self.icap and not self.status_line and text.startswith("ICAP/"):
                self.status_line = text
                continue
            if section is self.http and ":" not in text.split(" ")[0]:
                section.append((None, text))  # HTTP start line
                continue
            name, _, value = text.partition(":")
            section.append((name.strip(), value.strip()))

    @property
    def status(self):
        m = re.match(r"ICAP/1\.0 (\d{3})", self.status_line)
        return int(m.group(1)) if m else None

    def header(self, name):
        for n, v in self.icap:
            if n is not None and n.lower() == name.lower():
                return v
        return None

    def http_headers(self, name):
        return [v for n, v in self.http if n is not None and n.lower() == name.lower()]

    def describe(self):
        return (f"rc={self.rc} status={self.status_line!r}\n--- stdout:\n{self.stdout}"
                f"\n--- stderr:\n{self.stderr}")


def run_client(server, args, timeout=60):
    argv = ["c-icap-client", "-i", server.host, "-p", str(server.port), "-v"] + args
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=harness.remaining(timeout))
    except subprocess.TimeoutExpired as e:
        # A hung exchange is a failed one; go on with the next.
        proc = subprocess.CompletedProcess(argv, None, e.stdout or b"",
                                           (e.stderr or b"") + b"\n(c-icap-client timed out)")
    return ClientResult(proc)


def check_istag(checks, res, what):
    istag = res.header("ISTag")
    if not checks.check(istag is not None, f"{what}: ISTag header present", res.describe()):
        return
    checks.check(len(istag) >= 2 and istag.startswith('"') and istag.endswith('"'),
                 f"{what}: ISTag is a quoted string", repr(istag))
    checks.check(len(istag.encode()) <= 32, f"{what}: ISTag at most 32 bytes including quotes",
                 f"{len(istag.encode())} bytes: {istag!r}")


def check_options(checks, server):
    res = run_client(server, ["-s", "echo"])
    log(f"OPTIONS /echo -> {res.status_line}")
    for n, v in res.icap:
        log(f"    {n}: {v}")
    if not checks.equal(res.status, 200, "OPTIONS /echo status"):
        log(res.describe())
        return
    checks.equal(res.rc, 0, "OPTIONS: c-icap-client exit status")
    methods = [m.strip() for m in (res.header("Methods") or "").split(",")]
    checks.check("REQMOD" in methods and "RESPMOD" in methods,
                 "OPTIONS: Methods lists REQMOD and RESPMOD", repr(res.header("Methods")))
    check_istag(checks, res, "OPTIONS")
    preview = res.header("Preview")
    if checks.check(preview is not None and preview.isdigit(), "OPTIONS: Preview is a number",
                    repr(preview)) and server.kind == "imcapd":
        checks.equal(int(preview), server.preview_size, "OPTIONS: Preview = [server] preview_size")
    checks.equal(res.header("Transfer-Preview"), "*", "OPTIONS: Transfer-Preview")
    allow = [a.strip() for a in (res.header("Allow") or "").split(",")]
    checks.check("204" in allow, "OPTIONS: Allow lists 204", repr(res.header("Allow")))
    ttl = res.header("Options-TTL")
    if checks.check(ttl is not None and ttl.isdigit(), "OPTIONS: Options-TTL is a number",
                    repr(ttl)) and server.kind == "imcapd":
        checks.equal(int(ttl), server.options_ttl, "OPTIONS: Options-TTL = [server] options_ttl")
    checks.equal(res.header("Encapsulated"), "null-body=0", "OPTIONS: Encapsulated")
    if server.kind == "imcapd":
        # c-icap's echo service sends neither; imcapd promises both.
        maxc = res.header("Max-Connections")
        if checks.check(maxc is not None and maxc.isdigit(),
                        "OPTIONS: Max-Connections is a number", repr(maxc)):
            checks.equal(int(maxc), server.max_connections,
                         "OPTIONS: Max-Connections = [server] max_connections")
        checks.check(res.header("Date") is not None, "OPTIONS: Date header present")
        checks.check("206" in allow, "OPTIONS: Allow lists 206 (allow_206 = true)",
                     repr(res.header("Allow")))


def check_unknown_service(checks, server):
    res = run_client(server, ["-s", "no-such-service"])
    log(f"OPTIONS /no-such-service -> {res.status_line}")
    checks.equal(res.status, 404, "OPTIONS of an unknown service answers 404")


def make_inputs(workdir):
    files = {}
    for size in SIZES:
        path = os.path.join(workdir, f"body-{size}")
        with open(path, "wb") as f:
            f.write(os.urandom(size))
        files[size] = path
    return files


def check_transaction(checks, server, workdir, method, size, path, mode):
    label, flags, may_204 = mode
    what = f"{method} {size} B [{label}]"
    out = os.path.join(workdir, "out")
    if os.path.exists(out):
        os.unlink(out)  # c-icap-client refuses to overwrite its output file
    args = ["-s", "echo", "-f", path, "-o", out] + flags
    if method == "REQMOD":
        args += ["-req", f"http://www.example.com/upload/{size}"]
    else:
        args += ["-resp", f"http://www.example.com/download/{size}"]
    res = run_client(server, args)
    status = res.status
    log(f"{what:48} -> {res.status_line or '(no answer)'}")
    if not checks.check(res.rc == 0 and status is not None, f"{what}: got an ICAP answer",
                        res.describe()):
        return
    allowed = {200}
    if may_204:
        allowed.add(204)
    if "-206" in flags:
        allowed.add(206)
    if not checks.check(status in allowed, f"{what}: status in {sorted(allowed)}",
                        res.describe()):
        return
    check_istag(checks, res, what)
    if status == 204:
        return  # "use the original": nothing is adapted, nothing to compare
    encapsulated = res.header("Encapsulated") or ""
    first = "req-hdr=0" if method == "REQMOD" else "res-hdr=0"
    checks.check(encapsulated.startswith(first), f"{what}: Encapsulated starts with {first}",
                 repr(encapsulated))
    for value in res.http_headers("Content-Length"):
        checks.equal(value, str(size), f"{what}: adapted Content-Length")
    try:
        with open(out, "rb") as f:
            got = f.read()
    except FileNotFoundError:
        got = b""
    with open(path, "rb") as f:
        want = f.read()
    if got != want:
        first_diff = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b),
                          min(len(got), len(want)))
        checks.check(False, f"{what}: adapted body identical to input",
                     f"got {len(got)} bytes, want {len(want)}, first difference at {first_diff}")
    else:
        checks.check(True, f"{what}: adapted body identical to input")


def check_identity(checks, server, workdir, files):
    """X-Client-IP and X-Client-Username (raw, base64, base64 of WinNT://DOMAIN/user) as Squid
    and commercial proxies send them. Returns how many REQMODs it sent."""
    cases = [
        ("192.0.2.10", "dave", "dave"),
        ("192.0.2.11", base64.b64encode(b"alice@example.com").decode(), "alice@example.com"),
        ("192.0.2.12", base64.b64encode(b"WinNT://CORP/carol").decode(), "carol"),
    ]
    for ip, header_value, _ in cases:
        out = os.path.join(workdir, "out-id")
        if os.path.exists(out):
            os.unlink(out)
        res = run_client(server, ["-s", "echo", "-f", files[200], "-o", out,
                                  "-req", "http://www.example.com/identity",
                                  "-x", f"X-Client-IP: {ip}",
                                  "-x", f"X-Client-Username: {header_value}"])
        checks.check(res.status in (200, 204), f"REQMOD with identity headers ({ip})",
                     res.describe())
    return cases


def main():
    args = harness.parse_args(__doc__.splitlines()[0])
    harness.require_tools("c-icap-client")
    checks = harness.Checks()
    with harness.TempDir(args.keep_tmp, "imcap-cicap-client-") as workdir:
        server = harness.IcapServer(args.server, workdir, imcapd=args.imcapd)
        sent = {"REQMOD": 0, "RESPMOD": 0}
        try:
            server.start()
            check_options(checks, server)
            check_unknown_service(checks, server)
            files = make_inputs(workdir)
            for method in ("REQMOD", "RESPMOD"):
                for size in SIZES:
                    for mode in MODES:
                        check_transaction(checks, server, workdir, method, size, files[size], mode)
                        sent[method] += 1
            identity_cases = check_identity(checks, server, workdir, files)
            sent["REQMOD"] += len(identity_cases)
        except Exception as e:  # report, then still stop the server and check its exit
            checks.check(False, "test ran to completion", f"{type(e).__name__}: {e}")
            identity_cases = []
        finally:
            status = server.stop()
        if server.kind == "imcapd":
            checks.equal(status, 0, "imcapd exit status after SIGTERM")
        lines = server.access_lines()
        log(f"access log: {len(lines)} lines; last ones:")
        for line in lines[-3:]:
            log(f"    {line}")
        for method, n in sent.items():
            checks.equal(harness.count_method(lines, method), n,
                         f"access-log lines for {method} (one per transaction)")
        if server.kind == "imcapd":
            text = "\n".join(lines)
            for ip, _, user in identity_cases:
                checks.check(ip in text, f"access log shows client IP {ip}")
                checks.check(user in text, f"access log shows user {user!r}")
        if checks.failures:
            server.dump_logs()
    return checks.finish("cicap_client_test")


if __name__ == "__main__":
    raise SystemExit(main())
