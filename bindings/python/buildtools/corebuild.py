"""Build the C core with CMake for the Python package.

The extension links the static library, so the wheel carries the core; the
agent (nox-sandbox), the server (noxrunnerd) and the MCP server
(noxrunner-mcp; both linked to the shared library) are shipped inside the
package as programs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import Dict, List

# Targets the package needs. noxrunnerd and noxrunner-mcp pull in the
# shared library.
TARGETS = ["noxrunner_static", "nox-sandbox", "noxrunnerd", "noxrunner-mcp"]


def root_dir() -> str:
    return os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def build_dir(root: str) -> str:
    return os.environ.get("NOX_PY_CMAKE_BUILD_DIR") or os.path.join(root, "build", "py-cmake")


def include_dir(root: str) -> str:
    return os.path.join(root, "core", "include")


def static_lib(root: str) -> str:
    return os.path.join(build_dir(root), "libnoxrunner.a")


def pkg_config_libs() -> List[str]:
    """Libraries the static core needs (names for -l)."""
    libs: List[str] = []
    try:
        out = subprocess.run(["pkg-config", "--libs", "libcurl", "libcjson", "libarchive",
                              "zlib"],
                             check=True, stdout=subprocess.PIPE,
                             universal_newlines=True).stdout.split()
        libs = [a[2:] for a in out if a.startswith("-l")]
    except (OSError, subprocess.CalledProcessError):
        libs = ["curl", "cjson", "archive", "z"]
    for extra in ("pthread", "dl"):
        if extra not in libs:
            libs.append(extra)
    return libs


def configure(cfg: List[str]) -> None:
    """Run CMake's configure; a missing library ends the build with CMake's
    one message naming the packages (cmake/NoxDependencies.cmake), not a
    trace."""
    r = subprocess.run(cfg, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True)
    if r.returncode == 0:
        return
    out = r.stdout
    at = out.find("NoxRunner cannot be built")
    if at >= 0:
        lines = [ln.strip() for ln in out[at:].splitlines()]
        msg = []
        for ln in lines:
            if ln.startswith("Call Stack") or ln.startswith("-- Configuring incomplete"):
                break
            if ln:
                msg.append(ln)
        raise SystemExit("\n".join(msg))
    sys.stderr.write(out)
    raise SystemExit(f"configuring the NoxRunner C core failed (cmake exit {r.returncode})")


def build(root: str) -> Dict[str, str]:
    """Configure and build the core; return paths of the built programs."""
    cmake = os.environ.get("CMAKE") or shutil.which("cmake")
    if not cmake:
        raise RuntimeError("building noxrunner needs CMake >= 3.20 (apt install cmake, "
                           "or pip install cmake) and the dev packages of libcurl, "
                           "libcjson and libarchive (and libmicrohttpd for noxrunnerd)")
    bdir = build_dir(root)
    cfg = [cmake, "-S", root, "-B", bdir,
           "-DNOX_BUILD_TESTS=OFF", "-DCMAKE_BUILD_TYPE=Release",
           # A user's compiler may warn where ours does not: never fail
           # an install on a warning.
           "-DNOX_WERROR=OFF",
           # noxrunnerd finds libnoxrunner.so.1 at $ORIGIN/../lib, which is
           # where the package puts it (noxrunner/_bin -> noxrunner/lib).
           "-DCMAKE_BUILD_WITH_INSTALL_RPATH=ON", "-DCMAKE_INSTALL_LIBDIR=lib"]
    if not os.path.exists(os.path.join(bdir, "CMakeCache.txt")):
        if shutil.which("ninja"):
            cfg += ["-G", "Ninja"]
    configure(cfg)
    jobs = os.environ.get("NOX_PY_JOBS") or str(os.cpu_count() or 2)
    subprocess.run([cmake, "--build", bdir, "-j", jobs, "--target", *TARGETS], check=True)
    found = {}
    for name in ("nox-sandbox", "noxrunnerd", "noxrunner-mcp", "libnoxrunner.so.1"):
        path = os.path.join(bdir, name)
        if not os.path.exists(path):
            raise RuntimeError(f"CMake did not produce {path}")
        found[name] = os.path.realpath(path)
    return found


def install_programs(built: Dict[str, str], package_dir: str) -> List[str]:
    """Copy the programs into <package>/_bin and the shared library the
    server needs into <package>/lib; return the copied paths."""
    out = []
    for name, src in built.items():
        sub = "lib" if name.startswith("lib") else "_bin"
        dest_dir = os.path.join(package_dir, sub)
        os.makedirs(dest_dir, exist_ok=True)
        dest = os.path.join(dest_dir, name)
        if os.path.exists(dest):
            os.unlink(dest)
        shutil.copy2(src, dest)
        os.chmod(dest, 0o755)
        out.append(dest)
    return out
