"""Writes REST decoder fixtures: raw HTTP/1.1 messages with CRLF heads and exact
Content-Length, and expected.jsonl from the events the fixture's author expects.

Used by test/modules/fixtures/{teams,slack,discord,googlechat,webex}/make.py. Hashes (session
keys, attachment sha256) are computed here so the expectations stay readable."""

import gzip
import hashlib
import json
import os
import shutil

import ctypes
import ctypes.util


def brotli_compress(data: bytes) -> bytes:
    """Brotli through the system libbrotlienc (the library imcap links), quality 11."""
    lib = ctypes.CDLL(ctypes.util.find_library("brotlienc") or "libbrotlienc.so.1")
    out_size = ctypes.c_size_t(len(data) + 1024)
    out = ctypes.create_string_buffer(out_size.value)
    ok = lib.BrotliEncoderCompress(11, 22, 0, ctypes.c_size_t(len(data)), data,
                                   ctypes.byref(out_size), out)
    if not ok:
        raise RuntimeError("brotli compression failed")
    return out.raw[: out_size.value]


def session_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def message(start: str, headers: list, body: bytes = b"", encoding: str = "") -> bytes:
    if isinstance(body, str):
        body = body.encode()
    if encoding == "gzip":
        body = gzip.compress(body, mtime=0)
    elif encoding == "br":
        body = brotli_compress(body)
    hs = list(headers)
    if encoding:
        hs.append(("Content-Encoding", encoding))
    if body or start.startswith("HTTP/") or start.split(" ")[0] in ("POST", "PUT", "PATCH"):
        hs.append(("Content-Length", str(len(body))))
    head = start + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hs) + "\r\n"
    return head.encode() + body


def multipart(boundary: str, parts: list) -> bytes:
    """parts: (headers list, body bytes)"""
    out = b""
    for hs, body in parts:
        if isinstance(body, str):
            body = body.encode()
        out += b"--" + boundary.encode() + b"\r\n"
        out += "".join(f"{k}: {v}\r\n" for k, v in hs).encode() + b"\r\n"
        out += body + b"\r\n"
    out += b"--" + boundary.encode() + b"--\r\n"
    return out


def clean(family_dir: str):
    """Removes every case folder, so a renamed case leaves nothing stale behind."""
    for name in os.listdir(family_dir):
        path = os.path.join(family_dir, name)
        if os.path.isdir(path) and not name.startswith("__"):
            shutil.rmtree(path)


class Fixture:
    def __init__(self, family_dir: str, name: str):
        self.dir = os.path.join(family_dir, name)
        if os.path.isdir(self.dir):
            shutil.rmtree(self.dir)
        os.makedirs(self.dir)

    def write(self, filename: str, data: bytes):
        with open(os.path.join(self.dir, filename), "wb") as f:
            f.write(data)

    def expect(self, events: list):
        with open(os.path.join(self.dir, "expected.jsonl"), "w", encoding="utf-8") as f:
            for e in events:
                f.write(json.dumps(e, ensure_ascii=False) + "\n")

    def expect_error(self, code: str):
        with open(os.path.join(self.dir, "expected_error.txt"), "w") as f:
            f.write(code + "\n")
