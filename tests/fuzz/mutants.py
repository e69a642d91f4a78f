"""Seeded mutants of real messages (tests/corpus): byte flips, truncation, boundary damage, charset swaps,
deep nesting and floods of headers, parameters, addresses, ids, parts and HTML. The same seed gives the
same mutants, so a failure can be replayed: `python bench/fuzz.py --seed N --only K`."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
HOSTILE_CHARSETS = ["undefined", "idna", "punycode", "base64", "zlib_codec", "bz2", "hex", "uu", "rot13",
                    "utf\x00-8", "x-unknown", "", "utf-7", "utf-16", "utf-32", "windows-1258", "tcvn", "viscii",
                    "koi8-r", "iso-2022-jp", "gb18030", "ascii", "latin-1", "utf-8"]


def seeds() -> list[bytes]:
    """Every message of the test corpus, in a fixed order."""
    return [p.read_bytes() for p in sorted(CORPUS.rglob("*")) if p.is_file() and p.suffix in (".eml", ".txt")]


def _flip(r: random.Random, raw: bytes) -> bytes:
    data = bytearray(raw)
    for _ in range(r.randint(1, 40)):
        if data:
            data[r.randrange(len(data))] = r.randrange(256)
    return bytes(data)


def _truncate(r: random.Random, raw: bytes) -> bytes:
    return raw[:r.randrange(max(len(raw), 1))]


def _boundary(r: random.Random, raw: bytes) -> bytes:
    found = re.findall(rb'boundary="?([^";\r\n]+)', raw, re.I)
    if not found:
        return _flip(r, raw)
    b = r.choice(found)
    choice = r.randrange(4)
    if choice == 0:
        return raw.replace(b"--" + b + b"--", b"")           # never closed
    if choice == 1:
        return raw.replace(b, b[: max(len(b) // 2, 1)], 1)   # the header's boundary no longer matches
    if choice == 2:
        return raw.replace(b"--" + b, b"--" + b + b"\r\n--" + b, 1)   # an empty part
    return raw.replace(b"\r\n--" + b, b"--" + b)             # glued to the line before


def _charset(r: random.Random, raw: bytes) -> bytes:
    label = r.choice(HOSTILE_CHARSETS).encode("latin-1")
    out = re.sub(rb"charset=\"?[\w.:-]+\"?", b'charset="' + label + b'"', raw, flags=re.I)
    return re.sub(rb"=\?[\w-]+\?", b"=?" + label + b"?", out)


def _split(raw: bytes) -> tuple[bytes, bytes]:
    for sep in (b"\r\n\r\n", b"\n\n"):
        if sep in raw:
            head, _, body = raw.partition(sep)
            return head, body
    return raw, b""


def _nest(r: random.Random, raw: bytes) -> bytes:
    head, body = _split(raw)
    levels = r.choice([5, 50, 300, 1100, 3000])
    wrap = b"".join(b"Content-Type: multipart/mixed; boundary=n%d\r\n\r\n--n%d\r\n" % (i, i) for i in range(levels))
    head = re.sub(rb"(?im)^content-type:.*(\r?\n[ \t].*)*\r?\n?", b"", head)
    return head + b"\r\nMIME-Version: 1.0\r\n" + wrap + b"Content-Type: text/plain\r\n\r\n" + body


def _header_flood(r: random.Random, raw: bytes) -> bytes:
    n = r.choice([1_000, 20_000, 100_000])
    kind = r.randrange(5)
    if kind == 0:
        line = b"Subject: " + b" ".join([b"=?utf-8?q?T=E1=BB=9Bi?="] * n)
    elif kind == 1:
        line = b"Content-Type: text/plain; " + b"; ".join(b"p%d=v" % i for i in range(n))
    elif kind == 2:
        line = b"To: " + b", ".join(b"a%d@example.com" % i for i in range(n))
    elif kind == 3:
        line = b"References: " + b" ".join(b"<%d.flood@example.com>" % i for i in range(n))
    else:
        line = b"\r\n".join(b"X-Flood-%d: x" % i for i in range(n))
    head, body = _split(raw)
    return line + b"\r\n" + head + b"\r\n\r\n" + body


def _parts_flood(r: random.Random, raw: bytes) -> bytes:
    n = r.choice([100, 1_000, 5_000])
    head, _ = _split(raw)
    head = re.sub(rb"(?im)^content-type:.*(\r?\n[ \t].*)*\r?\n?", b"", head)
    parts = b"".join(b"--P\r\nContent-Type: image/jpeg\r\nContent-Disposition: attachment; filename=a%d.jpg\r\n"
                     b"Content-Transfer-Encoding: base64\r\n\r\n/9j/4AAQ\r\n" % i for i in range(n))
    return head + b"\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=P\r\n\r\n" + parts + b"--P--\r\n"


def _html(r: random.Random, raw: bytes) -> bytes:
    n = r.choice([500, 20_000, 100_000])
    head, _ = _split(raw)
    head = re.sub(rb"(?im)^content-(type|transfer-encoding):.*(\r?\n[ \t].*)*\r?\n?", b"", head)
    return (head + b"\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
            + b"<div>" * n + "DUYỆT".encode() + b"</div>" * r.choice([0, n]))


def _big_text(r: random.Random, raw: bytes) -> bytes:
    head, body = _split(raw)
    head = re.sub(rb"(?im)^content-(type|transfer-encoding):.*(\r?\n[ \t].*)*\r?\n?", b"", head)
    filler = r.choice([b"Th\xc2\xabng b\xc2\xb8o ", "Thông báo ".encode(), b"plain words "])
    return head + b"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + filler * (2_000_000 // len(filler))


def _headers(r: random.Random, raw: bytes) -> bytes:
    head, body = _split(raw)
    lines = head.split(b"\n")
    r.shuffle(lines)
    if r.random() < 0.5:
        lines.append(r.choice([b"From: a@b.c, d@e.f", b"From: <>", b"Sender: x@evil.example",
                               b"Message-ID: <a\x01b@x>", b"Date: Mon, 99 Foo 99999 99:99:99 +9999"]))
    return b"\n".join(lines) + b"\r\n\r\n" + body


MUTATIONS: list[tuple[str, Callable[[random.Random, bytes], bytes], int]] = [
    # name, mutation, weight (the expensive ones are rarer)
    ("flip", _flip, 30), ("truncate", _truncate, 12), ("boundary", _boundary, 12), ("charset", _charset, 14),
    ("headers", _headers, 12), ("nest", _nest, 4), ("header-flood", _header_flood, 5), ("parts-flood", _parts_flood, 3),
    ("html", _html, 4), ("big-text", _big_text, 2),
]


def mutants(count: int, seed: int = 12) -> Iterator[tuple[int, str, bytes]]:
    """(number, mutation name, bytes), `count` of them, reproducible from `seed`."""
    r = random.Random(seed)
    base = seeds()
    names = [m for m in MUTATIONS for _ in range(m[2])]
    for n in range(count):
        name, mutate, _ = r.choice(names)
        raw = mutate(r, r.choice(base))
        if r.random() < 0.2:   # a second mutation on top, now and then
            other = r.choice(names)
            raw = other[1](r, raw)
            name = f"{name}+{other[0]}"
        yield n, name, raw
