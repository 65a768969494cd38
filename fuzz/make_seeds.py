#!/usr/bin/env python3
"""Write the seed corpora in fuzz/corpus/ (committed; rerun after changing this).

Small, deterministic inputs that reach every branch the targets care about:
plain and gzip tar of each entry type, hostile names, several gzip members,
damaged trailers; exec/sandbox/error answers as servers send them; session
ids and paths at the edges of what is allowed.
"""
import gzip
import io
import os
import shutil
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def tar_bytes(entries, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for name, kind, data, extra in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            info.type = kind
            info.mode = extra.get("mode", 0o644)
            if kind == tarfile.SYMTYPE or kind == tarfile.LNKTYPE:
                info.linkname = extra["link"]
            if kind == tarfile.REGTYPE:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
            else:
                t.addfile(info)
    return buf.getvalue()


def gz(data, level=6):
    return gzip.compress(data, compresslevel=level, mtime=0)


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def archives():
    reg, dr, sym, lnk = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE
    good = tar_bytes([
        ("dir", dr, b"", {"mode": 0o755}),
        ("dir/a.txt", reg, b"hello\n", {}),
        ("dir/run.sh", reg, b"#!/bin/sh\necho hi\n", {"mode": 0o755}),
        ("dir/link", sym, b"", {"link": "a.txt"}),
        ("dir/hard", lnk, b"", {"link": "dir/a.txt"}),
        ("ro", dr, b"", {"mode": 0o555}),
        ("ro/inside", reg, b"x", {}),
        ("n" * 150 + "/long.txt", reg, b"long", {}),
    ])
    hostile = {
        "dotdot": [("../escape.txt", reg, b"x", {})],
        "absolute": [("/etc/escape", reg, b"x", {})],
        "symlink_out": [("out", sym, b"", {"link": "../../etc"}), ("out/f", reg, b"x", {})],
        "hardlink_out": [("h", lnk, b"", {"link": "/etc/passwd"})],
        "dir_then_file": [("d", dr, b"", {}), ("d", reg, b"x", {})],
        "device": [("dev", tarfile.CHRTYPE, b"", {})],
    }
    write("archive_extract", "good.tar", good)
    write("archive_extract", "good.tar.gz", gz(good))
    write("archive_extract", "good_stored.tar.gz", gz(good, 0))
    half = len(good) // 2
    write("archive_extract", "two_members.tar.gz", gz(good[:half]) + gz(good[half:]))
    bad = bytearray(gz(good))
    bad[-6] ^= 1
    write("archive_extract", "bad_crc.tar.gz", bytes(bad))
    write("archive_extract", "gnu.tar", tar_bytes([("g" * 120, reg, b"g", {})],
                                                  tarfile.GNU_FORMAT))
    for name, ents in hostile.items():
        write("archive_extract", name + ".tar", tar_bytes(ents))
    write("gunzip", "plain.txt", b"\x07not gzip at all")
    write("gunzip", "one.gz", b"\x05" + gz(b"hello " * 100))
    write("gunzip", "two.gz", b"\x01" + gz(b"first") + gz(b"second"))
    write("gunzip", "stored.gz", b"\x30" + gz(bytes(range(256)) * 8, 0))
    write("gunzip", "trailing.gz", b"\x10" + gz(b"data") + b"\x00" * 16)


def answers():
    w = lambda n, s: write("http_response", n, s)
    w("exec.json", '{"exitCode":0,"stdout":"hi\\n","stderr":"","durationMs":3}')
    w("exec_b64.json", '{"exitCode":1,"stdoutBase64":"AAEC/w==","stderrBase64":"",'
                       '"truncated":true,"timedOut":false,"signal":null}')
    w("exec_signal.json", '{"exitCode":-9,"signal":"SIGKILL","timedOut":true,"stdout":"\\u00e9"}')
    w("sandbox.json", '{"podName":"nox-0123456789ab","expiresAt":1800000000,'
                      '"sessionId":"s1","status":"Running"}')
    w("error.json", '{"error":"sandbox not found","code":"NOX_ENOTFOUND"}')
    w("error_text.txt", "<html><body>502 Bad Gateway</body></html>")
    w("nested.json", "[" * 64 + "]" * 64)


def names():
    w = lambda n, s: write("validate", n, s)
    w("sid", "my-session_1.2")
    w("sid_unicode", "sitzung-\u00fc\u00df-\U0001f600")
    w("path_rel", "dir/sub/file.txt")
    w("path_dots", "a/./b/../c")
    w("path_abs", "/workspace/dir/../x")
    w("ctrl", "a\x01b")
    w("utf8_bad", b"\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80")


def heads():
    w = lambda n, s: write("front_head", n, s)
    w("get", "\x05GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
    w("post_body", "\x05POST /v1/sandboxes/s/exec HTTP/1.1\r\nHost: a\r\n"
                   "Content-Length: 14\r\n\r\n{\"cmd\":[\"ls\"]}")
    w("expect", "\x05PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                "Content-Length: 9999\r\n\r\n")
    w("chunked", "\x05POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
    w("http10", "\x05GET / HTTP/1.0\r\n\r\n")
    w("tls", b"\x05\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    w("h2", "\x05PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    w("folded", "\x05GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n")
    w("two_hosts", "\x05GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    w("bad_length", "\x05POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n")


def texts():
    w = lambda n, s: write("text", n, s)
    w("b64", "aGVsbG8gd29ybGQ=")
    w("b64_pad2", "Zg==")
    w("b64_urlsafe", "a-_b")
    w("utf8", "gr\u00fc\u00dfe \U0001f600")
    w("utf8_bad", b"\xe2\x82\xc0\xf0\x9f")


def frames():
    def field(k, v):
        v = v.encode() if isinstance(v, str) else v
        return bytes([k]) + len(v).to_bytes(4, "big") + v

    def frame(t, payload):
        return bytes([ord(t)]) + len(payload).to_bytes(4, "big") + payload

    req = field(1, (1).to_bytes(8, "big")) + field(2, "exec") + field(3, "/workspace")
    write("proto", "req", frame("Q", req))
    write("proto", "two", frame("Q", req) + frame("D", b"data bytes") + frame("E", b""))
    write("proto", "oversized", b"Q\xff\xff\xff\xff")
    write("proto", "cut", frame("Q", req)[:-3])


if __name__ == "__main__":
    shutil.rmtree(CORPUS, ignore_errors=True)
    archives()
    answers()
    names()
    heads()
    texts()
    frames()
