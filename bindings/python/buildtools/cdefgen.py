"""Derive the cffi cdef from the public C header, so it can never drift.

The declarations come from running the C preprocessor over noxrunner.h with
stand-in <stddef.h>/<stdint.h> (cffi knows size_t, uint8_t, ... already, and
the real system headers are full of things cffi cannot parse). The integer
#define constants come from the preprocessor's own macro dump (`-dM`), and
are emitted as `#define NAME ...`, so in API mode cffi takes each value from
the compiler and the names alone come from here.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from typing import List, Sequence

HEADER_REL = os.path.join("noxrunner", "noxrunner.h")

# An object-like macro whose value is an integer expression: 1, (-1), 0x10,
# (1u << 3). Strings, empty macros (NOX_API) and function-like macros are
# not constants cffi can take.
_INT_VALUE = re.compile(r"^[\s()+\-~0-9a-fA-FxXuUlL<>|&*]+$")
# Defined on our command line, not by the header.
_OURS = {"NOX_CFFI"}
_DEFINE = re.compile(r"^#define\s+(NOX_[A-Z0-9_]+)(?:\s+(.*))?$")


def _preprocessor() -> List[str]:
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    argv = shlex.split(cc)
    if not shutil.which(argv[0]):
        for cand in ("cc", "gcc", "clang"):
            if shutil.which(cand):
                return [cand]
        raise RuntimeError("no C compiler found to preprocess noxrunner.h (set CC)")
    return argv


def _run_cpp(include_dir: str, extra: Sequence[str]) -> str:
    header = os.path.join(include_dir, HEADER_REL)
    with tempfile.TemporaryDirectory(prefix="nox-cdef-") as fake:
        for name in ("stddef.h", "stdint.h"):
            with open(os.path.join(fake, name), "w") as f:
                f.write("/* stand-in: cffi knows these types */\n")
        cmd = _preprocessor() + ["-E", "-P", "-nostdinc", "-DNOX_CFFI",
                                 "-I", fake, "-I", include_dir, *extra, header]
        return subprocess.run(cmd, check=True, stdout=subprocess.PIPE,
                              universal_newlines=True).stdout


def declarations(include_dir: str) -> str:
    """The header's declarations, preprocessed into what cffi parses."""
    text = _run_cpp(include_dir, [])
    # Drop blank lines and anything a stray compiler might leave behind.
    lines = [ln.rstrip() for ln in text.splitlines()]
    out = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    return "\n".join(out) + "\n"


def constants(include_dir: str) -> List[str]:
    """Names of the integer NOX_* macros the header defines."""
    text = _run_cpp(include_dir, ["-dM"])
    names = []
    for line in text.splitlines():
        m = _DEFINE.match(line.strip())
        if not m or "(" in line.split()[1]:
            continue  # not ours, or function-like
        value = (m.group(2) or "").strip()
        if m.group(1) in _OURS:
            continue
        if value and _INT_VALUE.match(value):
            names.append(m.group(1))
    return sorted(set(names))


def cdef(include_dir: str) -> str:
    consts = "\n".join(f"#define {n} ..." for n in constants(include_dir))
    return declarations(include_dir) + "\n" + consts + "\n"


if __name__ == "__main__":
    sys.stdout.write(cdef(sys.argv[1] if len(sys.argv) > 1 else "core/include"))
