#!/usr/bin/env python3
"""Writes the seed corpus of modules_decoders_fuzz into OUTDIR.

One seed per (decoder index, fixture .http file): byte 0 = (index << 1) | direction, then the
request file; for a response file, its request, the separator, then the response; every seed
ends with the notice separator, a kind byte and a notice text with quotes, markup, non-ASCII and
a newline (the layout test/fuzz/modules_decoders_fuzz.cpp reads). The number of decoders is
counted from the table in modules/registry.cpp (one descriptor per line).

usage: make_modules_corpus.py OUTDIR
"""
import hashlib
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
SEPARATOR = b"\r\n#IMCAP-RESPONSE#\r\n"
NOTICE = b"\r\n#IMCAP-NOTICE#\r\n" + b"\x00" + 'Say "no" <b>&amp; caf\u00e9\nline 2'.encode()


def decoder_count():
    text = (ROOT / "modules" / "registry.cpp").read_text()
    block = re.search(r"static const std::vector<decoder> t = \{(.*?)\n\s*\};", text, re.S)
    if not block:
        sys.exit("make_modules_corpus.py: decoder table not found in modules/registry.cpp")
    lines = [l for l in block.group(1).splitlines()
             if l.strip() and not l.strip().startswith("//")]
    return len(lines)


def pairs(case):
    """(request bytes, response bytes or None) for every request and response file of a case."""
    reqs = sorted(case.glob("*request.http"))
    for req in reqs:
        prefix = req.name[: -len("request.http")]
        data = req.read_bytes()
        yield data, None
        resp = case / (prefix + "response.http")
        if resp.exists():
            yield data, resp.read_bytes()


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    n = decoder_count()
    if n == 0 or n > 127:
        sys.exit(f"make_modules_corpus.py: {n} decoders cannot be encoded in byte 0")
    written = 0
    for case in sorted((ROOT / "test" / "modules" / "fixtures").glob("*/*")):
        if not case.is_dir():
            continue
        for req, resp in pairs(case):
            for index in range(n):
                if resp is None:
                    seed = bytes([index << 1]) + req
                else:
                    seed = bytes([(index << 1) | 1]) + req + SEPARATOR + resp
                seed += NOTICE
                name = hashlib.sha1(seed).hexdigest()
                (out / name).write_bytes(seed)
                written += 1
    print(f"{written} seeds for {n} decoders in {out}")


if __name__ == "__main__":
    main()
