#!/usr/bin/env python3
"""imcapd picks up signature packs installed with imcapctl on SIGHUP, without dropping connections.

What the security team sees: `imcapctl sigpack install` puts a pack in the store, SIGHUP makes
imcapd load it (logged, and the ICAP ISTag changes so Squid re-reads OPTIONS); a pack that does
not load is refused by imcapctl, and when one reaches the store anyway (edited by hand) imcapd
logs why, keeps serving the old packs and keeps the old ISTag; rollback brings an earlier version
back.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Checks, IcapServer, TempDir, log, wait_until  # noqa: E402


def options(sock):
    sock.settimeout(10)
    sock.sendall(b"OPTIONS icap://127.0.0.1/echo ICAP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(65536)
        if not part:
            raise ConnectionError("closed")
        data += part
    head = data.partition(b"\r\n\r\n")[0].decode()
    lines = head.split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), headers


def istag(server):
    with socket.create_connection((server.host, server.port), timeout=10) as s:
        return options(s)[1].get("istag")


def main():
    parser_args = harness.parse_args(__doc__)
    checks = Checks()
    imcapctl = os.environ.get("IMCAPCTL") or os.path.join(
        os.path.dirname(os.path.dirname(parser_args.imcapd)), "imcapctl", "imcapctl")
    secrets = os.path.join(parser_args.source_dir, "signatures", "packs", "secrets.toml")
    with open(secrets) as f:
        secrets_text = f.read()

    with TempDir(parser_args.keep_tmp, "imcap-sigpack-") as tmp:
        # [signatures] is validated like the rest of the configuration.
        bad = os.path.join(tmp, "bad.toml")
        with open(bad, "w") as f:
            f.write("[signatures]\nrequire_signed = true\nscan_thread = 4\n")
        r = subprocess.run([parser_args.imcapd, "--check-config", "--config", bad],
                           capture_output=True, text=True, timeout=30)
        checks.check(r.returncode != 0 and f"{bad}:3:" in r.stderr
                     and "signatures.scan_thread: unknown key" in r.stderr,
                     "a [signatures] typo is named by file:line and key", r.stderr)

        server = IcapServer("imcapd", tmp, imcapd=parser_args.imcapd)
        server.start()
        store = server.pack_store

        def ctl(*args):
            r = subprocess.run([imcapctl, "sigpack", *args], capture_output=True, text=True,
                               timeout=60)
            log(f"imcapctl sigpack {' '.join(args)} -> {r.returncode}\n{r.stdout}{r.stderr}")
            return r

        def hup_and_wait_log(text, what):
            # Waits for `text` and then for the daemon's last line of the reload, after which
            # the new ISTag (if any) is in place.
            before = len(harness.tail(server.server_log, 100000))

            def seen():
                new = harness.tail(server.server_log, 100000)[before:]
                return text in new and "SIGHUP handled" in new

            server.proc.send_signal(signal.SIGHUP)
            return wait_until(seen, 20, what)

        try:
            held = socket.create_connection((server.host, server.port), timeout=10)
            status, h0 = options(held)
            tag0 = h0.get("istag")
            checks.check(status == 200 and tag0, "OPTIONS before any pack", str(h0))

            # --- install and SIGHUP: new pack active, new ISTag -----------------------------
            r = ctl("install", secrets, "--store", store)
            checks.check(r.returncode == 0 and "installed secrets 1.0.0" in r.stdout,
                         "imcapctl installs the shipped secrets pack", r.stdout + r.stderr)
            server.proc.send_signal(signal.SIGHUP)
            tag1 = wait_until(lambda: (lambda t: t if t != tag0 else None)(istag(server)), 20,
                              "a new ISTag after SIGHUP")
            checks.check(tag1 != tag0, "SIGHUP after install changes the ISTag", f"{tag0} -> {tag1}")
            checks.check("signature pack secrets 1.0.0 active" in
                         harness.tail(server.server_log, 100000),
                         "imcapd logs the pack it loaded")
            status, h = options(held)
            checks.check(status == 200 and h.get("istag") == tag1,
                         "a connection opened before the reload keeps working and sees the new ISTag",
                         str(h))

            # --- a second version -----------------------------------------------------------
            v11 = os.path.join(tmp, "secrets-1.1.0.toml")
            with open(v11, "w") as f:
                f.write(secrets_text.replace('version = "1.0.0"', 'version = "1.1.0"', 1))
            checks.check(ctl("install", v11, "--store", store).returncode == 0,
                         "imcapctl installs version 1.1.0")
            hup_and_wait_log("signature pack secrets 1.1.0 active", "1.1.0 loaded")
            tag2 = istag(server)
            checks.check(tag2 not in (tag0, tag1), "the ISTag changes again for 1.1.0",
                         f"{tag1} -> {tag2}")

            # --- SIGHUP with nothing changed keeps the ISTag --------------------------------
            hup_and_wait_log("signature pack secrets 1.1.0 active", "the unchanged reload")
            checks.check(istag(server) == tag2, "SIGHUP with nothing changed keeps the ISTag")

            # --- a broken pack --------------------------------------------------------------
            broken = os.path.join(tmp, "broken.toml")
            with open(broken, "w") as f:
                f.write('name = "secrets"\nversion = "9.9.9"\nverison = "typo"\n' +
                        secrets_text[secrets_text.index("[[rule]]"):])
            r = ctl("install", broken, "--store", store)
            checks.check(r.returncode == 1 and f"{broken}:3:" in r.stderr,
                         "imcapctl refuses a broken pack, naming file:line", r.stderr)
            # The broken pack reaches the store anyway (copied by hand) and is made active.
            bad_dir = os.path.join(store, "secrets", "9.9.9")
            os.makedirs(bad_dir)
            with open(os.path.join(bad_dir, "pack.toml"), "w") as f:
                f.write(open(broken).read())
            with open(os.path.join(store, "secrets", "active"), "w") as f:
                f.write("9.9.9\n")
            line = hup_and_wait_log("the previous state stays active", "the failed pack reload")
            log_text = harness.tail(server.server_log, 4000)
            checks.check(os.path.join(bad_dir, "pack.toml") + ":3:" in log_text,
                         "the failed reload is logged with the pack's file:line", log_text[-600:])
            status, h = options(held)
            checks.check(status == 200 and h.get("istag") == tag2,
                         "after a failed pack reload the old ISTag stays", str(h))

            # --- rollback -------------------------------------------------------------------
            r = ctl("rollback", "secrets", "--store", store)
            checks.check(r.returncode == 0 and "1.1.0 is active again" in r.stdout,
                         "rollback from the broken pack goes back to 1.1.0", r.stdout + r.stderr)
            hup_and_wait_log("signature pack secrets 1.1.0 active", "1.1.0 again")
            checks.check(istag(server) == tag2, "the same packs give the same ISTag")
            r = ctl("rollback", "secrets", "--store", store)
            checks.check(r.returncode == 0 and "1.0.0 is active again" in r.stdout,
                         "a second rollback goes back to 1.0.0", r.stdout + r.stderr)
            hup_and_wait_log("signature pack secrets 1.0.0 active", "1.0.0 again")
            checks.check(istag(server) != tag2, "rolling back changes the ISTag")
            r = ctl("list", "--store", store)
            checks.check(r.returncode == 0 and "secrets (active: 1.0.0)" in r.stdout,
                         "list shows the active version", r.stdout)
            held.close()
            del line
        finally:
            server.stop()

        # --- start-up with a broken active pack: imcapd refuses to start, naming it ---------
        second_dir = os.path.join(tmp, "second")
        os.makedirs(second_dir)
        second = IcapServer("imcapd", second_dir, imcapd=parser_args.imcapd)
        shutil.copytree(store, second.pack_store)
        with open(os.path.join(second.pack_store, "secrets", "active"), "w") as f:
            f.write("9.9.9\n")
        try:
            second.start()
            checks.check(False, "imcapd refuses to start with a broken active pack")
        except RuntimeError as e:
            stderr = harness.tail(second.stderr_path, 50)
            checks.check("before it was ready" in str(e) and
                         os.path.join(second.pack_store, "secrets", "9.9.9", "pack.toml") + ":3:"
                         in stderr,
                         "imcapd refuses to start with a broken active pack, naming file:line",
                         str(e)[:300] + stderr)
        finally:
            second.stop()

        # --- signatures required: imcapctl reads the daemon's own configuration -------------
        third_dir = os.path.join(tmp, "third")
        os.makedirs(third_dir)
        r = ctl("keygen", "--out", os.path.join(tmp, "team"))
        checks.check(r.returncode == 0, "keygen")
        team_pub = os.path.join(tmp, "team.pub")
        third = IcapServer("imcapd", third_dir, imcapd=parser_args.imcapd,
                           signatures_extra=f'require_signed = true\ntrusted_keys = ["{team_pub}"]\n')
        third.start()
        try:
            conf = os.path.join(third.dir, "imcapd.toml")
            t0 = istag(third)
            r = ctl("install", secrets, "--config", conf)
            checks.check(r.returncode == 1 and "unsigned" in r.stderr,
                         "with require_signed, imcapctl refuses an unsigned pack", r.stderr)
            signed = os.path.join(tmp, "signed.toml")
            shutil.copy(secrets, signed)
            checks.check(ctl("sign", signed, "--key", os.path.join(tmp, "team.key")).returncode
                         == 0, "sign the pack")
            r = ctl("install", signed, "--config", conf)
            checks.check(r.returncode == 0 and "signed by" in r.stdout,
                         "with require_signed, imcapctl installs the signed pack", r.stdout + r.stderr)
            third.proc.send_signal(signal.SIGHUP)
            t1 = wait_until(lambda: (lambda t: t if t != t0 else None)(istag(third)), 20,
                            "the signed pack loaded")
            # An unsigned version slipped into the store by hand is refused by imcapd itself.
            hand = os.path.join(third.pack_store, "secrets", "7.0.0")
            os.makedirs(hand)
            with open(os.path.join(hand, "pack.toml"), "w") as f:
                f.write(secrets_text.replace('version = "1.0.0"', 'version = "7.0.0"', 1))
            with open(os.path.join(third.pack_store, "secrets", "active"), "w") as f:
                f.write("7.0.0\n")
            before = len(harness.tail(third.server_log, 100000))
            third.proc.send_signal(signal.SIGHUP)
            wait_until(lambda: "SIGHUP handled" in harness.tail(third.server_log, 100000)[before:],
                       20, "the refused reload")
            new_log = harness.tail(third.server_log, 100000)[before:]
            checks.check("secrets 7.0.0: no signature" in new_log and istag(third) == t1,
                         "imcapd refuses an unsigned pack in the store and keeps the signed one",
                         new_log[-500:])
        finally:
            third.stop()
    return checks.finish("sigpack reload")


if __name__ == "__main__":
    sys.exit(main())
