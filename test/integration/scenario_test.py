#!/usr/bin/env python3
"""Scenario tests: chat clients through a real Squid wired to imcapd's /imcap service.

    http.client --proxy--> Squid --ICAP reqmod/respmod--> imcapd /imcap
                             |
                             +--cache_peer originserver--> chat_origin.py (records what it got)

One folder per scenario under test/scenarios/ (see test/scenarios/README.md for the file
format): the HTTP requests a chat client sends, the packs and policy imcapd runs with, and what
must be true for the people involved: what the chat service (origin) received (unchanged,
redacted but still parseable, or nothing), what the user's client got (status, the protocol's
own error, a warn notice in the next poll), and what the archive holds
(`imcapctl archive search` JSON lines).

Each scenario gets its own imcapd (fresh archive and pack store in a temporary directory) and
its own Squid; the origin is shared. Squid sends every host to the origin through a
`cache_peer ... originserver` with `never_direct allow all`, so URLs keep the real service
names the decoders classify (slack.com, teams.microsoft.com, discord.com, ...) without DNS.

Until imcapd serves /imcap (pipeline/ not merged), the runner replays every scenario through
/echo instead and checks only the plumbing (the origin gets each request unchanged and parses
it, the client gets the origin's answer), then exits 77: ctest reports the test as skipped.
--service echo forces that mode; --only NAME runs one scenario.

Run by ctest; by hand:
    IMCAPCTL=build/apps/imcapctl/imcapctl python3 test/integration/scenario_test.py \\
        --imcapd build/apps/imcapd/imcapd
"""

import base64
import http.client
import json
import os
import pwd
import re
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from chat_origin import STEP_HEADER, ChatOrigin, parse_fields, parse_multipart  # noqa: E402
from harness import Checks, IcapServer, TempDir, log  # noqa: E402

USER, PASSWORD = "alice", "secret"
SKIPPED = 77


def eicar():
    """The EICAR anti-virus test string, assembled here so no file in the repository holds it
    (a virus scanner on a developer's machine would otherwise quarantine the test)."""
    head = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$"
    return head + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!" + "$H+H*"


# --- scenario files -------------------------------------------------------------------------

class Scenario:
    def __init__(self, folder):
        self.folder = folder
        self.name = os.path.basename(folder)
        with open(os.path.join(folder, "scenario.toml"), "rb") as f:
            self.spec = tomllib.load(f)
        self.description = self.spec.get("description", "")
        self.packs = self.spec.get("packs", [])
        self.imcapd_config = self.spec.get("imcapd_config", "")
        self.steps = self.spec.get("step", [])
        self.archive = self.spec.get("archive", [])
        if not self.steps:
            raise ValueError(f"{folder}/scenario.toml: no [[step]]")

    def pack_paths(self, source_dir):
        out = []
        for p in self.packs:
            if p.startswith("shipped:"):
                out.append(os.path.join(source_dir, "signatures", "packs", p[8:] + ".toml"))
            else:
                out.append(os.path.join(self.folder, p))
        return out


def substitute(text, values):
    """${name} placeholders: captures of earlier steps, and ${EICAR}."""
    def one(m):
        key = m.group(1)
        if key not in values:
            raise KeyError(f"no value for ${{{key}}}")
        return values[key]
    return re.sub(r"\$\{([A-Za-z0-9_]+)\}", one, text)


def build_body(step, folder, values):
    """(body bytes, extra headers) for one step."""
    if "multipart" in step:
        boundary = "----imcapScenario" + uuid.uuid4().hex[:16]
        out = b""
        for part in step["multipart"]:
            disp = f'form-data; name="{part["name"]}"'
            if "filename" in part:
                disp += f'; filename="{part["filename"]}"'
            out += f"--{boundary}\r\nContent-Disposition: {disp}\r\n".encode()
            if "content_type" in part:
                out += f"Content-Type: {part['content_type']}\r\n".encode()
            data = substitute(part.get("body", ""), values).encode()
            if "body_base64" in part:
                data = base64.b64decode(part["body_base64"])
            out += b"\r\n" + data + b"\r\n"
        out += f"--{boundary}--\r\n".encode()
        return out, {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    if "body_file" in step:
        with open(os.path.join(folder, step["body_file"]), "rb") as f:
            return substitute(f.read().decode(), values).encode(), {}
    if "body" in step:
        return substitute(step["body"], values).encode(), {}
    return None, {}


# --- what parses ----------------------------------------------------------------------------

def parses(kind, body, content_type):
    """None when `body` is valid `kind`, else why not."""
    try:
        if kind == "json":
            json.loads(body.decode("utf-8"))
        elif kind in ("form", "multipart"):
            class R:  # parse_fields reads a recorded request
                pass
            r = R()
            r.body = body
            r.header = lambda name: content_type if name.lower() == "content-type" else None
            fields = parse_fields(r)
            if fields is None:
                return f"not valid {kind}"
            if kind == "multipart" and "payload_json" in fields:
                json.loads(fields["payload_json"])
        elif kind == "socketio":
            for packet in body.decode("utf-8").split("\x1e"):
                if not packet or packet[0] not in "0123456b":
                    return f"bad Engine.IO packet {packet[:40]!r}"
                m = re.match(r"^42(?:/[^,]*,)?\d*(\[.*)$", packet, re.S)
                if m:
                    json.loads(m.group(1))
        elif kind == "signalr":
            text = body.decode("utf-8")
            if not text.endswith("\x1e"):
                return "the last record is not terminated by 0x1E"
            for record in text[:-1].split("\x1e"):
                json.loads(record)
        elif kind == "xml":
            import xml.etree.ElementTree as ET
            ET.fromstring(body)
        else:
            return f"unknown parse kind {kind!r}"
    except (ValueError, UnicodeDecodeError) as e:
        return f"not valid {kind}: {e}"
    except Exception as e:  # xml.etree.ElementTree.ParseError and friends
        return f"not valid {kind}: {type(e).__name__}: {e}"
    return None


def check_the_checker(checks):
    """parses() must reject what a chat service would reject, or an "origin still parses"
    expectation could never fail."""
    bad = [
        ("json", b'{"text":"cut', "application/json"),
        ("form", b"text=%ZZ&&=", "application/x-www-form-urlencoded"),
        ("multipart", b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n",
         "multipart/form-data; boundary=b"),
        ("multipart", b"--b\r\nContent-Disposition: form-data; name=\"payload_json\"\r\n\r\n"
                      b"{oops\r\n--b--\r\n", "multipart/form-data; boundary=b"),
        ("socketio", b'42["chat message",{"text":"x"}', "text/plain"),
        ("signalr", b'{"type":1,"target":"Send","arguments":["a","b"]}', "text/plain"),
        ("xml", b"<body xmlns='http://jabber.org/protocol/httpbind'><message>", "text/xml"),
    ]
    good = [
        ("form", b"channel=C1&text=a%20b", "application/x-www-form-urlencoded"),
        ("multipart", b"--b\r\nContent-Disposition: form-data; name=\"payload_json\"\r\n\r\n"
                      b"{}\r\n--b--\r\n", "multipart/form-data; boundary=b"),
        ("socketio", b'42["chat message",{"text":"x"}]\x1e2', "text/plain"),
        ("signalr", b'{"type":6}\x1e', "text/plain"),
    ]
    for kind, body, ctype in bad:
        checks.check(parses(kind, body, ctype) is not None,
                     f"the runner's {kind} check rejects {body[:40]!r}")
    for kind, body, ctype in good:
        why = parses(kind, body, ctype)
        checks.check(why is None, f"the runner's {kind} check accepts {body[:40]!r}", why)


def json_subset(expected, actual):
    """True when every key/value of `expected` is in `actual` (recursively for objects)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and json_subset(v, actual[k]) for k, v in expected.items())
    return expected == actual


# --- Squid ----------------------------------------------------------------------------------

class Squid:
    """A Squid on a free loopback port: ICAP to `icap_uri` for REQMOD and RESPMOD, every request
    forwarded to the origin, proxy users authenticated by a fake Basic helper."""

    started = 0

    def __init__(self, workdir, label, icap_uri, origin_port):
        self.dir = os.path.join(workdir, f"squid-{label}")
        os.makedirs(self.dir)
        self.port = harness.free_loopback_port()
        run_as = None
        if os.geteuid() == 0:
            run_as = "proxy"  # Squid will not run as root; its logs must be writable
            pw = pwd.getpwnam(run_as)
            os.chmod(workdir, 0o711)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        # Squid's -n name (at most 32 characters) keeps its shared memory and IPC names apart
        # from any other Squid on the machine.
        Squid.started += 1
        self.service_name = f"imcapscn{os.getpid()}n{Squid.started}"
        self.conf = os.path.join(self.dir, "squid.conf")
        user_line = f"cache_effective_user {run_as}" if run_as else "# not root"
        with open(self.conf, "w") as f:
            f.write(f"""# generated by test/integration/scenario_test.py
http_port 127.0.0.1:{self.port}
workers 1
{user_line}
pid_filename {self.dir}/squid.pid
coredump_dir {self.dir}
cache_log {self.dir}/cache.log
access_log stdio:{self.dir}/access.log squid
logformat imcap_icap %ts.%03tu %icap::rm %icap::<service_name %icap::Hs %icap::to %icap::tr %un
icap_log stdio:{self.dir}/icap.log imcap_icap
cache deny all
cache_mem 8 MB
visible_hostname imcap-scenarios
shutdown_lifetime 1 seconds
pinger_enable off
netdb_filename none
logfile_rotate 0
# Every host goes to the local origin: no DNS, no direct connection.
cache_peer 127.0.0.1 parent {origin_port} 0 no-query originserver no-digest name=chat_origin
cache_peer_access chat_origin allow all
never_direct allow all

auth_param basic program /usr/lib/squid/basic_fake_auth
auth_param basic realm imcap-scenarios
auth_param basic children 2
acl authenticated proxy_auth REQUIRED
http_access deny !authenticated
http_access allow localhost
http_access deny all

icap_enable on
icap_send_client_ip on
icap_send_client_username on
icap_client_username_header X-Client-Username
icap_client_username_encode off
icap_preview_enable on
icap_persistent_connections on
icap_io_timeout 60 seconds
icap_connect_timeout 10 seconds
icap_service imcap_req reqmod_precache {icap_uri} bypass=off
icap_service imcap_resp respmod_precache {icap_uri} bypass=off
adaptation_access imcap_req allow all
adaptation_access imcap_resp allow all
# The same value in the REQMOD and the RESPMOD of one HTTP transaction (checked with Squid 5.7),
# so imcapd can tie a poll's answer to the session key it read from the request body (BOSH sid;
# see session_of_exchange in modules/decoder.hpp).
adaptation_meta X-Imcap-Xaction "%master_xaction"
""")
        self.proc = None

    def start(self, timeout=60):
        parse = subprocess.run(["squid", "-n", self.service_name, "-k", "parse", "-f", self.conf],
                               capture_output=True, timeout=harness.remaining(30))
        if parse.returncode != 0:
            raise RuntimeError("squid -k parse failed:\n" + parse.stderr.decode(errors="replace"))
        self._out = open(os.path.join(self.dir, "stdout.log"), "wb")
        self.proc = harness.popen(["squid", "-n", self.service_name, "-N", "-f", self.conf],
                                  cwd=self.dir, stdout=self._out, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"squid exited with status {self.proc.returncode}\n"
                                   f"{harness.tail(os.path.join(self.dir, 'cache.log'))}")
            return harness.port_accepts(self.port)

        harness.wait_until(ready, timeout, "squid to accept connections")
        return self

    def stop(self):
        if self.proc is None:
            return None
        status = harness.stop_process(self.proc, timeout=30)
        self._out.close()
        self.proc = None
        return status

    def cache_log(self):
        return harness.tail(os.path.join(self.dir, "cache.log"), 30)


class ProxyClient:
    """A chat client using the proxy: kept-alive http.client connection, Basic proxy auth."""

    def __init__(self, proxy_port):
        self.proxy_port = proxy_port
        self.auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        self.conn = None

    def request(self, method, url, body, headers):
        for attempt in range(2):  # once more on a fresh connection if the kept one was closed
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.proxy_port,
                                                       timeout=harness.remaining(60))
            try:
                h = dict(headers)
                h["Proxy-Authorization"] = self.auth
                self.conn.request(method, url, body=body, headers=h)
                resp = self.conn.getresponse()
                data = resp.read()
                if resp.will_close:
                    self.close()
                return resp.status, dict((k.lower(), v) for k, v in resp.getheaders()), data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# --- imcapd and imcapctl --------------------------------------------------------------------

def serves_imcap(server):
    with socket.create_connection((server.host, server.port), timeout=10) as s:
        s.sendall(b"OPTIONS icap://127.0.0.1/imcap ICAP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        s.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data:
            part = s.recv(65536)
            if not part:
                break
            data += part
    return data.startswith(b"ICAP/1.0 200")


def imcapctl_run(imcapctl, args, timeout=60):
    r = subprocess.run([imcapctl, *args], capture_output=True, text=True,
                       timeout=harness.remaining(timeout))
    return r


def archive_search(imcapctl, conf, args):
    """JSON records printed by `imcapctl archive search`, or (None, why)."""
    r = imcapctl_run(imcapctl, ["archive", "search", "--config", conf, *args])
    if r.returncode != 0:
        return None, f"exit {r.returncode}: {r.stderr.strip()[:500]}"
    records = []
    for line in r.stdout.splitlines():
        if line.strip():
            try:
                records.append(json.loads(line))
            except ValueError:
                return None, f"not a JSON line: {line[:200]!r}"
    return records, None


def record_matches(want, rec):
    """Why `rec` does not satisfy `want` (an [archive.record] table), or None."""
    for key, value in want.items():
        if key == "rules":
            have = {h.get("rule_id") for h in rec.get("hits", [])}
            missing = [r for r in value if r not in have]
            if missing:
                return f"rule hits {sorted(x for x in have if x)} lack {missing}"
        elif key == "text_contains":
            if value not in rec.get("text", ""):
                return f"text {rec.get('text', '')!r} lacks {value!r}"
        elif key == "text_not_contains":
            if value in rec.get("text", ""):
                return f"text {rec.get('text', '')!r} holds {value!r}"
        elif key == "virus":
            names = [n for a in rec.get("attachments", []) for n in a.get("virus_names", [])]
            if not any(value in n for n in names):
                return f"attachment virus names {names} lack {value!r}"
        elif key == "attachment_names":
            names = [a.get("name") for a in rec.get("attachments", [])]
            if sorted(names) != sorted(value):
                return f"attachment names {names}, want {value}"
        elif rec.get(key) != value:
            return f"{key} is {rec.get(key)!r}, want {value!r}"
    return None


# --- one scenario ---------------------------------------------------------------------------

def run_steps(checks, sc, client, origin, imcap_checks):
    """Sends the scenario's requests; checks client and origin. Returns nothing."""
    values = {"EICAR": eicar()}
    for i, step in enumerate(sc.steps):
        label = f"[{sc.name}/{step.get('name', i)}]"
        tag = f"{sc.name}/{i}"
        body, extra = build_body(step, sc.folder, values)
        headers = {k: substitute(v, values) for k, v in step.get("headers", {}).items()}
        headers.update(extra)
        headers[STEP_HEADER] = tag
        url = substitute(step["url"], values)
        method = step.get("method", "GET")
        try:
            status, rheaders, rbody = client.request(method, url, body, headers)
        except (OSError, http.client.HTTPException) as e:
            checks.check(False, f"{label} {method} {url} answered", f"{type(e).__name__}: {e}")
            continue
        log(f"{label} {method} {url} -> {status} ({len(rbody)} B) {rbody[:160]!r}")
        for name, pattern in step.get("capture", {}).items():
            m = re.search(pattern, rbody.decode("utf-8", "replace"))
            if checks.check(m is not None, f"{label} response has {name} ({pattern})",
                            repr(rbody[:300])):
                values[name] = m.group(1)
        got = origin.for_step(tag)
        expect = step.get("expect", {})
        what_origin = expect.get("origin", "unchanged") if imcap_checks else "unchanged"
        ctype = headers.get("Content-Type", "")

        # What the chat service received.
        if what_origin == "none":
            checks.check(not got, f"{label} the origin never got the blocked request",
                         "; ".join(r.describe() for r in got))
        else:
            if not checks.equal(len(got), 1, f"{label} the origin got the request once"):
                continue_checks = False
            else:
                continue_checks = True
            if continue_checks:
                rec = got[0]
                if what_origin == "unchanged":
                    checks.check(rec.body == (body or b""), f"{label} the origin got the body "
                                 "unchanged", f"sent {body[:200]!r}, got {rec.body[:200]!r}"
                                 if body else rec.describe())
                elif what_origin == "changed":
                    checks.check(rec.body != body, f"{label} the origin got a rewritten body",
                                 rec.describe())
                    checks.equal(rec.header("Content-Length"), str(len(rec.body)),
                                 f"{label} Content-Length matches the rewritten body")
                kind = expect.get("origin_parses")
                if kind:
                    why = parses(kind, rec.body, rec.header("Content-Type") or ctype)
                    checks.check(why is None, f"{label} the origin's body parses as {kind}",
                                 f"{why}: {rec.body[:300]!r}")
                if imcap_checks:
                    text = rec.body.decode("utf-8", "replace")
                    for s in expect.get("origin_contains", []):
                        checks.check(substitute(s, values) in text,
                                     f"{label} the origin's body holds {s!r}", text[:400])
                    for s in expect.get("origin_not_contains", []):
                        checks.check(substitute(s, values) not in text,
                                     f"{label} the origin's body lacks {s!r}", text[:400])

        # What the user's client got.
        if imcap_checks and "status" in expect:
            want = expect["status"]
            ok = status in want if isinstance(want, list) else status == want
            checks.check(ok, f"{label} client status {want}", f"got {status}: {rbody[:300]!r}")
        elif not imcap_checks:
            checks.check(200 <= status < 300, f"{label} client got the origin's answer",
                         f"{status}: {rbody[:300]!r}")
        if imcap_checks:
            text = rbody.decode("utf-8", "replace")
            for s in expect.get("body_contains", []):
                checks.check(substitute(s, values) in text, f"{label} client body holds {s!r}",
                             text[:500])
            for s in expect.get("body_not_contains", []):
                checks.check(substitute(s, values) not in text,
                             f"{label} client body lacks {s!r}", text[:500])
            if "body_json" in expect:
                try:
                    doc = json.loads(text)
                except ValueError:
                    doc = None
                checks.check(json_subset(expect["body_json"], doc),
                             f"{label} client body is JSON with {expect['body_json']}", text[:500])
            for name, value in expect.get("headers", {}).items():
                checks.equal(rheaders.get(name.lower()), value, f"{label} client header {name}")


def check_metrics(checks, sc, server, service):
    """What the proxy admin's dashboard shows: one REQMOD per HTTP request on /metrics."""
    if server.metrics_address is None:
        checks.check(False, f"[{sc.name}] the ready file names the metrics listener")
        return
    pattern = re.compile(r'^imcap_icap_transactions_total\{service="/' + service +
                         r'",method="REQMOD",status="\d+"\} (\d+)$', re.M)

    def count():
        with urllib.request.urlopen(f"http://{server.metrics_address}/metrics",
                                    timeout=harness.remaining(10)) as r:
            text = r.read().decode()
        return sum(int(m.group(1)) for m in pattern.finditer(text))

    # A transaction is counted once imcapd has finished writing its reply, which can be a moment
    # after Squid has passed the answer on to the client: wait for the count (bounded).
    reqmods = count()
    deadline = time.monotonic() + 5
    while reqmods < len(sc.steps) and time.monotonic() < deadline:
        time.sleep(0.05)
        reqmods = count()
    log(f"[{sc.name}] /metrics: {reqmods} REQMOD transaction(s) on /{service}")
    checks.equal(reqmods, len(sc.steps),
                 f"[{sc.name}] /metrics counts one REQMOD on /{service} per HTTP request")


def check_archive(checks, sc, imcapctl, conf):
    for i, a in enumerate(sc.archive):
        args = a.get("search", [])
        label = f"[{sc.name}] archive search {' '.join(args)}"
        records, why = archive_search(imcapctl, conf, args)
        if not checks.check(records is not None, f"{label}: runs", why):
            continue
        log(f"{label}: {len(records)} record(s)")
        if "count" in a:
            checks.equal(len(records), a["count"], f"{label}: number of records")
        want = a.get("record", {})
        for rec in records:
            why = record_matches(want, rec)
            checks.check(why is None, f"{label}: record {rec.get('id')} as expected", why)


def run_scenario(args, checks, tmp, sc, origin, imcapctl, service):
    workdir = os.path.join(tmp, sc.name)
    os.makedirs(workdir)
    failed_before = len(checks.failures)
    archive_dir = os.path.join(workdir, "imcapd", "archive")
    extra = f"""
[archive]
path = "{archive_dir}"
{sc.imcapd_config}
""" if service == "imcap" else ""
    server = IcapServer("imcapd", workdir, imcapd=args.imcapd, extra_config=extra, metrics=True)
    # Packs go into the store before imcapd starts, so they are active from the first request.
    os.makedirs(server.pack_store, exist_ok=True)
    if service == "imcap":
        for pack in sc.pack_paths(args.source_dir):
            r = imcapctl_run(imcapctl, ["sigpack", "install", pack, "--store", server.pack_store])
            checks.check(r.returncode == 0, f"[{sc.name}] imcapctl sigpack install "
                         f"{os.path.basename(pack)}", r.stdout + r.stderr)
    squid = None
    client = None
    try:
        server.start()
        squid = Squid(workdir, sc.name, f"icap://127.0.0.1:{server.port}/{service}", origin.port)
        squid.start()
        client = ProxyClient(squid.port)
        run_steps(checks, sc, client, origin, service == "imcap")
        check_metrics(checks, sc, server, service)
    finally:
        if client is not None:
            client.close()
        if squid is not None:
            squid.stop()
        status = server.stop()
        checks.equal(status, 0, f"[{sc.name}] imcapd exits 0 on SIGTERM")
    if service == "imcap":
        # After imcapd stopped: the archive must hold what was judged (strict durability means
        # committed before each reply anyway; imcapctl also reads beside a running daemon).
        check_archive(checks, sc, imcapctl, os.path.join(server.dir, "imcapd.toml"))
    if len(checks.failures) > failed_before:
        server.dump_logs()
        if squid is not None:
            log(f"--- squid cache.log (tail):\n{squid.cache_log()}")


def main():
    args_parser_extra = {"--service": None, "--only": None}
    # harness.parse_args owns the common options; ours are taken out of argv first.
    argv = sys.argv[1:]
    for opt in args_parser_extra:
        if opt in argv:
            i = argv.index(opt)
            args_parser_extra[opt] = argv[i + 1]
            del argv[i:i + 2]
    sys.argv = [sys.argv[0]] + argv
    args = harness.parse_args(__doc__.splitlines()[0])
    harness.require_tools("squid")
    imcapctl = os.environ.get("IMCAPCTL") or os.path.join(
        os.path.dirname(os.path.dirname(args.imcapd)), "imcapctl", "imcapctl")
    root = os.path.join(args.source_dir, "test", "scenarios")
    scenarios = [Scenario(os.path.join(root, d)) for d in sorted(os.listdir(root))
                 if os.path.isfile(os.path.join(root, d, "scenario.toml"))]
    if args_parser_extra["--only"]:
        scenarios = [s for s in scenarios if s.name == args_parser_extra["--only"]]
    checks = Checks()
    checks.check(bool(scenarios), "scenarios found under test/scenarios/")
    check_the_checker(checks)

    with TempDir(args.keep_tmp, "imcap-scenarios-") as tmp:
        if os.geteuid() == 0:
            os.chmod(tmp, 0o711)  # Squid runs as "proxy" and must reach its folder below
        service = args_parser_extra["--service"]
        if service is None:
            probe = IcapServer("imcapd", os.path.join(tmp, "probe"), imcapd=args.imcapd)
            probe.start()
            try:
                service = "imcap" if serves_imcap(probe) else "echo"
            finally:
                probe.stop()
            if service == "echo":
                log("imcapd does not serve /imcap (pipeline/ not merged): replaying the "
                    "scenarios through /echo to check the plumbing only")
        origin = ChatOrigin().start()
        try:
            for sc in scenarios:
                log(f"\n=== {sc.name}: {sc.description}")
                try:
                    run_scenario(args, checks, tmp, sc, origin, imcapctl, service)
                except Exception as e:
                    checks.check(False, f"[{sc.name}] ran to completion",
                                 f"{type(e).__name__}: {e}")
        finally:
            origin.stop()
    status = checks.finish(f"scenarios via /{service}")
    if status == 0 and service == "echo" and args_parser_extra["--service"] is None:
        log("skipped: the scenario expectations need imcapd's /imcap service")
        return SKIPPED
    return status


if __name__ == "__main__":
    sys.exit(main())
