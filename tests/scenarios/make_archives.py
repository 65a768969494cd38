#!/usr/bin/env python3
"""Regenerate the tar.gz archives embedded in the archive_*.json scenarios.

The scenario files carry the archive bytes themselves (`targz_b64`), so every
runner plays them without Python; this script is how those bytes were made,
so they can be checked and rebuilt. Output is reproducible: fixed mtimes,
owners and gzip header.

    python3 tests/scenarios/make_archives.py           # rewrite the JSON files
    python3 tests/scenarios/make_archives.py --check   # exit 1 if they differ

Each scenario listed in SCENARIOS gets, for its k-th `upload_targz` step, the
k-th archive named in its list.
"""

import base64
import gzip
import io
import json
import os
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
MTIME = 1700000000


def _info(name, type_=tarfile.REGTYPE, mode=0o644, size=0, linkname=""):
    ti = tarfile.TarInfo(name)
    ti.type = type_
    ti.mode = mode
    ti.size = size
    ti.linkname = linkname
    ti.mtime = MTIME
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    return ti


class Tar:
    """Builds a tar.gz member by member, with names written exactly as given
    (tarfile does not sanitize names when writing, which is what we need)."""

    def __init__(self):
        self.raw = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.raw, mode="w", format=tarfile.GNU_FORMAT)

    def file(self, name, data, mode=0o644):
        self.tar.addfile(_info(name, mode=mode, size=len(data)), io.BytesIO(data))
        return self

    def dir(self, name, mode=0o755):
        self.tar.addfile(_info(name, tarfile.DIRTYPE, mode))
        return self

    def symlink(self, name, target):
        self.tar.addfile(_info(name, tarfile.SYMTYPE, 0o777, linkname=target))
        return self

    def hardlink(self, name, target):
        self.tar.addfile(_info(name, tarfile.LNKTYPE, 0o644, linkname=target))
        return self

    def chardev(self, name, major, minor):
        ti = _info(name, tarfile.CHRTYPE, 0o666)
        ti.devmajor, ti.devminor = major, minor
        self.tar.addfile(ti)
        return self

    def targz(self):
        self.tar.close()
        out = io.BytesIO()
        with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz:
            gz.write(self.raw.getvalue())
        return out.getvalue()


def valid_pkg():
    return (Tar().dir("pkg")
            .file("pkg/run.sh", b"#!/bin/sh\necho pkg-ran\n", 0o755)
            .file("pkg/data.txt", b"data\n")
            .symlink("pkg/link", "data.txt")
            .targz())


def absolute_path():
    return Tar().file("/tmp/nox_abs_escape.txt", b"escaped\n").targz()


def dotdot():
    return Tar().file("../nox_dotdot_escape.txt", b"escaped\n").targz()


def dotdot_nested():
    return (Tar().dir("a")
            .file("a/../../nox_dotdot2_escape.txt", b"escaped\n")
            .targz())


def symlink_absolute_then_file():
    # "link" -> /tmp, then a regular file written through it.
    return (Tar().symlink("link", "/tmp")
            .file("link/nox_symlink_pwned.txt", b"pwned\n")
            .targz())


def symlink_relative_then_file():
    # dest is /workspace/inner: "up" -> ../.. is the sandbox root.
    return (Tar().symlink("up", "../..")
            .file("up/nox_rel_pwned.txt", b"pwned\n")
            .targz())


def hardlink_absolute():
    return Tar().hardlink("passwd", "/etc/passwd").targz()


def hardlink_dotdot():
    return Tar().hardlink("passwd2", "../../../../../etc/passwd").targz()


def device_node():
    return Tar().chardev("null2", 1, 3).targz()


def corrupt_gzip():
    # A gzip header followed by bytes that are not a deflate stream.
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + bytes(range(200, 256)) * 4


def truncated_targz():
    data = Tar().file("big.txt", bytes(range(256)) * 64).file("second.txt", b"2\n").targz()
    return data[: len(data) // 2]


def not_an_archive():
    return b"this is plain text, not a tar.gz archive\n"


SCENARIOS = {
    "archive_valid_targz": [valid_pkg],
    "archive_absolute_path": [absolute_path],
    "archive_dotdot": [dotdot, dotdot_nested],
    "archive_symlink_escape": [symlink_absolute_then_file, symlink_relative_then_file],
    "archive_hardlink_escape": [hardlink_absolute, hardlink_dotdot],
    "archive_device_node": [device_node],
    "archive_corrupt": [corrupt_gzip, truncated_targz, not_an_archive],
}


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for name, builders in SCENARIOS.items():
        path = os.path.join(HERE, name + ".json")
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
        doc = json.loads(text)
        steps = [s for s in doc["steps"] if s.get("op") == "upload_targz"]
        if len(steps) != len(builders):
            sys.exit(f"{name}: {len(steps)} upload_targz steps, {len(builders)} archives")
        for step, build in zip(steps, builders):
            step["targz_b64"] = base64.b64encode(build()).decode("ascii")
        new = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
        if new != text:
            stale.append(name)
            if not check:
                with open(path, "w", encoding="utf-8") as fh:
                    fh.write(new)
    if check and stale:
        sys.exit("archives out of date in: " + ", ".join(stale))
    print(("checked " if check else "wrote ") + str(len(SCENARIOS)) + " scenarios"
          + ("" if check else f" ({len(stale)} changed)"))


if __name__ == "__main__":
    main()
