#!/usr/bin/env python3
"""imcapd serves the reviewer UI from [webui]: an admin created with `imcapctl user add`
(password on stdin) while imcapd runs can log in; pages carry the strict headers; anonymous
requests are sent to the login page; wrong passwords are refused. With tls_cert/tls_key the UI
speaks HTTPS only (a certificate made with openssl for the test) and the session cookie is
Secure.

Run: webui_daemon_test.py --imcapd build/apps/imcapd/imcapd (IMCAPCTL names imcapctl).
"""

import http.cookiejar
import os
import re
import ssl
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def request(opener, url, data=None):
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    try:
        with opener.open(url, data=body, timeout=harness.remaining(20)) as r:
            return r.status, dict(r.headers), r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode("utf-8", "replace")


def ui_url(server):
    def found():
        try:
            with open(server.server_log, encoding="utf-8", errors="replace") as f:
                m = re.search(r"webui: reviewer UI on (https?://127\.0\.0\.1:\d+)/", f.read())
        except FileNotFoundError:
            return None
        return m.group(1) if m else None
    return harness.wait_until(found, harness.remaining(30), "the webui line in the log")


def tls_run(args, tmp, checks):
    key = os.path.join(tmp, "ui.key")
    cert = os.path.join(tmp, "ui.pem")
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                           key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1"],
                          capture_output=True, timeout=harness.remaining(60))
    if not checks.equal(made.returncode, 0, "openssl makes a test certificate"):
        return
    server = harness.IcapServer("imcapd", os.path.join(tmp, "tls"), imcapd=args.imcapd,
                                webui_extra=f'tls_cert = "{cert}"\ntls_key = "{key}"')
    try:
        server.start()
        base = ui_url(server)
        checks.check(base.startswith("https://"), "with tls_cert/tls_key the UI is on HTTPS", base)
        ctx = ssl.create_default_context(cafile=cert)
        ctx.check_hostname = False
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar),
                                             urllib.request.HTTPSHandler(context=ctx), NoRedirect)
        status, headers, _ = request(opener, base + "/login")
        checks.equal(status, 200, "the login page answers over TLS")
        checks.check("Secure" in headers.get("Set-Cookie", ""),
                     "cookies are Secure under TLS", headers.get("Set-Cookie", ""))
        plain = urllib.request.build_opener(NoRedirect)
        try:
            request(plain, base.replace("https://", "http://") + "/login")
            checks.check(False, "plain HTTP is not served on the TLS port")
        except (urllib.error.URLError, ConnectionError, OSError):
            checks.check(True, "plain HTTP is not served on the TLS port")
    except Exception as e:  # noqa: BLE001
        checks.check(False, "no exception in the TLS run", repr(e))
        server.dump_logs()
    finally:
        server.stop()


def main():
    args = harness.parse_args(__doc__)
    imcapctl = os.environ.get("IMCAPCTL")
    checks = harness.Checks()
    with harness.TempDir(args.keep_tmp, "imcap-webui-daemon-") as tmp:
        server = harness.IcapServer("imcapd", tmp, imcapd=args.imcapd)
        try:
            server.start()
            base = ui_url(server)
            harness.log(f"reviewer UI at {base}")

            conf = os.path.join(tmp, "imcapctl.toml")
            with open(conf, "w") as f:
                f.write(f'[archive]\npath = "{os.path.join(server.dir, "var", "archive")}"\n')
            add = subprocess.run([imcapctl, "user", "add", "boss", "--role", "admin",
                                  "--config", conf], input=b"daemon test pw\n",
                                 capture_output=True, timeout=harness.remaining(60))
            checks.equal(add.returncode, 0, "imcapctl user add exits 0")

            jar = http.cookiejar.CookieJar()
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar),
                                                 NoRedirect)
            status, headers, _ = request(opener, base + "/")
            checks.equal(status, 303, "an anonymous dashboard request is redirected")
            checks.equal(headers.get("Location"), "/login", "... to the login page")

            status, headers, page = request(opener, base + "/login")
            checks.equal(status, 200, "the login page answers")
            checks.check("frame-ancestors 'none'" in headers.get("Content-Security-Policy", ""),
                         "the login page has the strict CSP")
            checks.equal(headers.get("X-Content-Type-Options"), "nosniff", "nosniff")
            token = re.search(r'name="login_token" value="([0-9a-f]+)"', page).group(1)

            status, _, _ = request(opener, base + "/login",
                                   {"login_token": token, "user": "boss", "password": "wrong"})
            checks.equal(status, 401, "a wrong password is refused")
            status, _, page = request(opener, base + "/login")
            token = re.search(r'name="login_token" value="([0-9a-f]+)"', page).group(1)
            status, headers, _ = request(opener, base + "/login", {
                "login_token": token, "user": "boss", "password": "daemon test pw"})
            checks.equal(status, 303, "the admin created by imcapctl logs in")
            status, _, page = request(opener, base + "/")
            checks.equal(status, 200, "the dashboard answers after login")
            checks.check("<svg" in page, "the dashboard has its chart")
            status, _, page = request(opener, base + "/audit")
            checks.check("login_failed" in page and "user_add" in page,
                         "the audit log shows the account creation and the failed login")
        except Exception as e:  # noqa: BLE001
            checks.check(False, "no exception", repr(e))
            server.dump_logs()
        finally:
            server.stop()
            checks.equal(server.exit_status, 0, "imcapd exits 0 on SIGTERM")
        tls_run(args, tmp, checks)
    return checks.finish("webui_daemon_test")


if __name__ == "__main__":
    sys.exit(main())
