"""A local origin server that imitates the chat endpoints the scenario tests send to, and records
exactly what reached it (Python standard library only).

Squid forwards every request to it (cache_peer ... originserver), whatever the host name in the
URL, so the request line carries the origin-form path and the Host header the chat service's
name (slack.com, teams.microsoft.com, ...). Each request is answered the way the real service
answers a successful call, so the client side of a scenario sees what a chat client would:

  Slack        POST /api/chat.postMessage (JSON, form, multipart) -> {"ok":true,"ts":...}
  Teams        POST /api/chatsvc/<region>/v1/users/ME/conversations/<id>/messages -> 201
  Socket.IO v4 GET  ...?EIO=4&transport=polling          -> "0{sid...}" handshake
               POST ...?EIO=4&transport=polling&sid=S    -> "ok"
               GET  ...?EIO=4&transport=polling&sid=S    -> queued packets, else "6" (noop)
  SignalR Core POST /<hub>/negotiate                     -> connection token, LongPolling
               POST /<hub>?id=T                          -> 200, empty
               GET  /<hub>?id=T                          -> "{}\\x1e" first, then queued
                                                            records, else a ping record
  BOSH         POST .../http-bind                        -> session creation or empty <body/>
  Matrix       PUT  /_matrix/client/v3/rooms/<room>/send/<type>/<txn> -> {"event_id":...}
               GET  /_matrix/client/v3/sync              -> an empty sync batch
  Discord      POST /api/v<n>/channels/<id>/messages (JSON or multipart) -> the message object

Polls never wait: an empty long poll is answered at once with the protocol's no-op, so a test
never sleeps on a poll. Anything else is 404 (and recorded).

Every request is recorded with the X-Scenario-Step header the runner puts on it, so a test can
ask what the origin received for one step (nothing, when imcap blocked it).
"""

import email.parser
import email.policy
import http.server
import json
import re
import threading
import urllib.parse
import uuid

STEP_HEADER = "X-Scenario-Step"


def _dumps(value):
    # Compact, as the services write their JSON.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Received:
    """One request as the origin got it."""

    def __init__(self, step, method, host, target, headers, body):
        self.step = step
        self.method = method
        self.host = host
        self.target = target
        self.path, _, self.query = target.partition("?")
        self.headers = headers  # list of (name, value), as received
        self.body = body

    def header(self, name):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    def describe(self):
        return (f"{self.method} {self.host}{self.target} ({len(self.body)} B body: "
                f"{self.body[:300]!r})")


class ChatOrigin:
    def __init__(self):
        self.lock = threading.Lock()
        self.received = []
        # Per-session queues of what the "server side" pushes on the next poll.
        self.eio_sessions = {}      # sid -> list of packets
        self.signalr_sessions = {}  # token -> {"handshake_sent": bool, "queue": [records]}
        self.bosh_sessions = set()
        self.counter = 0
        origin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def _read_body(self):
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    parts = []
                    for _ in range(1_000_000):  # bounded: one iteration per chunk
                        size = int(self.rfile.readline(4096).split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline(4096) not in (b"\r\n", b"\n", b""):
                                pass
                            break
                        parts.append(self.rfile.read(size))
                        self.rfile.readline(4096)
                    return b"".join(parts)
                return self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))

            def _handle(self):
                body = self._read_body()
                target = self.path
                if target.startswith("http://"):  # absolute form, should Squid ever send it
                    target = "/" + target.split("/", 3)[3] if target.count("/") >= 3 else "/"
                rec = Received(self.headers.get(STEP_HEADER, ""), self.command,
                               self.headers.get("Host", ""), target, list(self.headers.items()),
                               body)
                with origin.lock:
                    origin.received.append(rec)
                status, headers, reply = origin.answer(rec)
                self.send_response(status)
                has_type = False
                for name, value in headers:
                    self.send_header(name, value)
                    has_type |= name.lower() == "content-type"
                if not has_type:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(reply)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

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

    # --- what a test asks ------------------------------------------------------------------

    def for_step(self, step):
        with self.lock:
            return [r for r in self.received if r.step == step]

    def push_socketio(self, sid, packet):
        """Queues an Engine.IO packet for the next poll of `sid` (what the server would push)."""
        with self.lock:
            self.eio_sessions.setdefault(sid, []).append(packet)

    def push_signalr(self, token, record):
        with self.lock:
            self.signalr_sessions.setdefault(token, {"handshake_sent": False, "queue": []})
            self.signalr_sessions[token]["queue"].append(record)

    # --- the imitation ---------------------------------------------------------------------

    def _next_id(self):
        with self.lock:
            self.counter += 1
            return self.counter

    def answer(self, r):
        host = r.host.split(":")[0].lower()
        q = urllib.parse.parse_qs(r.query)
        path = urllib.parse.unquote(r.path)
        if host.endswith("slack.com") and path.startswith("/api/"):
            return self._slack(r, path[len("/api/"):])
        if "teams." in host and re.search(r"/v1/users/ME/conversations/[^/]+/messages$", path):
            return 201, [], _dumps({"OriginalArrivalTime": 1700000000000 +
                                        self._next_id()}).encode()
        if q.get("EIO") and q.get("transport") == ["polling"]:
            return self._socketio(r, q)
        if r.header("X-SignalR-User-Agent") is not None or path.endswith("/negotiate"):
            return self._signalr(r, path, q)
        if path.rstrip("/").endswith(("/http-bind", "/bosh")):
            return self._bosh(r)
        m = re.match(r"^/_matrix/client/(?:r0|v3)/rooms/([^/]+)/send/([^/]+)/([^/]+)$", path)
        if m and r.method == "PUT":
            return 200, [], _dumps({"event_id": f"$ev{self._next_id()}:example.org"}).encode()
        if re.match(r"^/_matrix/client/(?:r0|v3)/sync$", path):
            return 200, [], _dumps({"next_batch": f"s{self._next_id()}", "rooms": {
                "join": {}, "invite": {}, "leave": {}}, "presence": {"events": []},
                "account_data": {"events": []}}).encode()
        m = re.match(r"^/api(?:/v\d+)?/channels/(\d+)/messages$", path)
        if host.endswith(("discord.com", "discordapp.com")) and m and r.method == "POST":
            return self._discord(r, m.group(1))
        return 404, [], b'{"error":"not found"}'

    def _slack(self, r, method):
        if method != "chat.postMessage":
            return 200, [], b'{"ok":false,"error":"unknown_method"}'
        fields = parse_fields(r)
        if fields is None:
            return 200, [], b'{"ok":false,"error":"invalid_form_data"}'
        ts = f"1700000000.{self._next_id():06d}"
        return 200, [], _dumps({"ok": True, "channel": fields.get("channel", ""), "ts": ts,
                                    "message": {"type": "message", "user": "U0SCENARIO",
                                                "text": fields.get("text", ""), "ts": ts}
                                    }).encode()

    def _socketio(self, r, q):
        sid = (q.get("sid") or [""])[0]
        plain = [("Content-Type", "text/plain; charset=UTF-8")]
        if not sid:
            sid = uuid.uuid4().hex[:20]
            with self.lock:
                self.eio_sessions[sid] = []
            hello = {"sid": sid, "upgrades": [], "pingInterval": 25000, "pingTimeout": 20000,
                     "maxPayload": 1000000}
            return 200, plain, b"0" + _dumps(hello).encode()
        if r.method == "POST":
            # "40" (namespace connect) is acknowledged on the next poll, as a server does.
            for packet in r.body.decode("utf-8", "replace").split("\x1e"):
                if packet.startswith("40"):
                    self.push_socketio(sid, '40{"sid":"' + uuid.uuid4().hex[:20] + '"}')
            return 200, [("Content-Type", "text/html")], b"ok"
        with self.lock:
            queued, self.eio_sessions[sid] = self.eio_sessions.get(sid, []), []
        return 200, plain, ("\x1e".join(queued) if queued else "6").encode()

    def _signalr(self, r, path, q):
        if path.endswith("/negotiate"):
            token = uuid.uuid4().hex
            with self.lock:
                self.signalr_sessions[token] = {"handshake_sent": False, "queue": []}
            return 200, [], _dumps({
                "negotiateVersion": 1, "connectionId": uuid.uuid4().hex,
                "connectionToken": token,
                "availableTransports": [{"transport": "LongPolling",
                                         "transferFormats": ["Text", "Binary"]}]}).encode()
        token = (q.get("id") or [""])[0]
        with self.lock:
            s = self.signalr_sessions.setdefault(token, {"handshake_sent": False, "queue": []})
            if r.method == "POST":
                return 200, [("Content-Type", "text/plain")], b""
            if not s["handshake_sent"]:
                s["handshake_sent"] = True
                return 200, [("Content-Type", "text/plain")], b"{}\x1e"
            queued, s["queue"] = s["queue"], []
        body = "".join(rec + "\x1e" for rec in queued) if queued else '{"type":6}\x1e'
        return 200, [("Content-Type", "text/plain")], body.encode()

    def _bosh(self, r):
        xml = [("Content-Type", "text/xml; charset=utf-8")]
        text = r.body.decode("utf-8", "replace")
        m = re.search(r"""\ssid=['"]([^'"]+)['"]""", text)
        if not m:
            sid = uuid.uuid4().hex[:16]
            with self.lock:
                self.bosh_sessions.add(sid)
            return 200, xml, (
                "<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' "
                f"sid='{sid}' wait='60' requests='2' inactivity='30' maxpause='120' polling='2' "
                "ver='1.6' from='example.org' secure='true' authid='1' xmpp:version='1.0'>"
                "<stream:features xmlns:stream='http://etherx.jabber.org/streams'/></body>"
            ).encode()
        return 200, xml, b"<body xmlns='http://jabber.org/protocol/httpbind'/>"

    def _discord(self, r, channel):
        fields = parse_fields(r)
        if fields is None:
            return 400, [], b'{"message":"Cannot send an empty message","code":50006}'
        payload = {}
        if "payload_json" in fields:
            try:
                payload = json.loads(fields["payload_json"])
            except ValueError:
                return 400, [], b'{"message":"Invalid Form Body","code":50035}'
        elif "content" in fields:
            payload = {"content": fields["content"]}
        n = self._next_id()
        files = [{"id": str(1200000000000000000 + n * 10 + i), "filename": name}
                 for i, name in enumerate(fields.get("__files__", []))]
        return 200, [], _dumps({
            "id": str(1100000000000000000 + n), "channel_id": channel, "type": 0,
            "content": payload.get("content", ""), "nonce": payload.get("nonce"),
            "author": {"id": "1000000000000000001", "username": "scenario-user"},
            "attachments": files}).encode()


def parse_fields(r):
    """The request's fields as the service would read them: JSON object, form, or multipart
    (file parts listed by name under "__files__"). None when the body does not parse."""
    ctype = (r.header("Content-Type") or "").lower()
    text = r.body
    try:
        if ctype.startswith("application/json"):
            v = json.loads(text.decode("utf-8"))
            return v if isinstance(v, dict) else None
        if ctype.startswith("application/x-www-form-urlencoded"):
            return {k: v[-1] for k, v in urllib.parse.parse_qs(
                text.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(text)).items()}
        if ctype.startswith("multipart/form-data"):
            parts = parse_multipart(r.header("Content-Type"), text)
            if parts is None:
                return None
            out = {"__files__": []}
            for name, filename, _ctype, data in parts:
                if filename is not None:
                    out["__files__"].append(filename)
                else:
                    out[name] = data.decode("utf-8")
            return out
    except (ValueError, UnicodeDecodeError):
        return None
    return {}


def parse_multipart(content_type, body):
    """[(name, filename or None, content type, bytes)] or None when it is not valid multipart."""
    raw = b"Content-Type: " + content_type.encode() + b"\r\nMIME-Version: 1.0\r\n\r\n" + body
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    if not msg.is_multipart() or msg.defects:
        return None
    boundary = msg.get_boundary()
    if boundary is None or not body.rstrip(b"\r\n").endswith(b"--" + boundary.encode() + b"--"):
        return None  # the closing delimiter is missing: a truncated or mangled body
    out = []
    for part in msg.iter_parts():
        if part.defects:
            return None
        disp = part.get("Content-Disposition", "")
        name = part.get_param("name", header="content-disposition")
        if not disp.lower().startswith("form-data") or name is None:
            return None
        out.append((name, part.get_filename(), part.get_content_type(),
                    part.get_payload(decode=True) or b""))
    return out
