"""The installed package: where it lives, what it ships, its public surface
(the same as noxrunner 2.0.0's), the ABI check and the generated cdef."""

from __future__ import annotations

import importlib.util
import inspect
import os
import re
import site
import stat
import sys
import sysconfig
from pathlib import Path

import pytest

import noxrunner
from noxrunner._native import ffi, lib

REPO = Path(__file__).resolve().parents[2]
HEADER_DIR = REPO / "core" / "include"


def test_runs_against_the_installed_package_not_the_source_tree() -> None:
    pkg = Path(noxrunner.__file__).resolve()
    purelib = Path(sysconfig.get_paths()["purelib"]).resolve()
    platlib = Path(sysconfig.get_paths()["platlib"]).resolve()
    assert purelib in pkg.parents or platlib in pkg.parents, pkg
    assert (REPO / "bindings" / "python").resolve() not in pkg.parents


def test_version_is_a_drop_in_upgrade_of_2_0_0() -> None:
    major, minor, *_ = (int(x) for x in re.findall(r"\d+", noxrunner.__version__))
    assert (major, minor) >= (2, 1)
    assert re.fullmatch(r"\d+\.\d+\.\d+", noxrunner.core_version())


def test_abi_of_loaded_core_matches_the_header() -> None:
    assert lib.nox_abi_version() == lib.NOX_ABI_VERSION == noxrunner.abi_version()


def test_abi_mismatch_refuses_to_import(monkeypatch: pytest.MonkeyPatch) -> None:
    import noxrunner._core as core

    class OtherLib:
        NOX_ABI_VERSION = lib.NOX_ABI_VERSION

        @staticmethod
        def nox_abi_version() -> int:
            return int(lib.NOX_ABI_VERSION) + 1

    monkeypatch.setattr(core, "lib", OtherLib)
    with pytest.raises(ImportError, match="ABI"):
        core._check_abi()


def test_ships_agent_server_and_typing_marker() -> None:
    for path in (noxrunner.agent_path(), noxrunner.server_path()):
        assert path is not None
        assert os.stat(path).st_mode & stat.S_IXUSR
        assert Path(noxrunner.__file__).parent in Path(path).parents
    assert (Path(noxrunner.__file__).parent / "py.typed").exists()


def test_extension_is_limited_api() -> None:
    ext = Path(noxrunner._native.__file__).name  # type: ignore[attr-defined]
    assert ".abi3." in ext, ext


def _load_cdefgen():  # type: ignore[no-untyped-def]
    path = REPO / "bindings" / "python" / "buildtools" / "cdefgen.py"
    spec = importlib.util.spec_from_file_location("cdefgen", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cdef_declares_every_public_function_of_the_header() -> None:
    header = (HEADER_DIR / "noxrunner" / "noxrunner.h").read_text()
    declared = set(re.findall(r"NOX_API\s+[^;(]*?\b(nox_\w+)\s*\(", header))
    assert declared, "no NOX_API functions found in the header"
    gen = _load_cdefgen()
    cdef = gen.cdef(str(HEADER_DIR))
    for name in declared:
        assert re.search(rf"\b{name}\s*\(", cdef), f"{name} missing from the cdef"
        assert hasattr(lib, name), f"{name} missing from the extension"


def test_cdef_constants_are_the_header_macros_with_the_compilers_values() -> None:
    gen = _load_cdefgen()
    names = gen.constants(str(HEADER_DIR))
    header = "".join(p.read_text() for p in (HEADER_DIR / "noxrunner").glob("*.h"))
    for m in re.finditer(r"#define\s+(NOX_\w+)\s+\(?(-?\d+)\)?", header):
        name, value = m.group(1), int(m.group(2))
        assert name in names
        assert getattr(lib, name) == value, name
    assert "NOX_CFFI" not in names and "NOX_API" not in names


def test_cdef_has_nothing_cffi_cannot_parse() -> None:
    gen = _load_cdefgen()
    from cffi import FFI

    FFI().cdef(gen.cdef(str(HEADER_DIR)))  # raises on anything unparseable


# The 2.0.0 public surface, copied from noxrunner 2.0.0's client.py.
SIGNATURES_200 = {
    "__init__": "(self, base_url=None, timeout=30, local_test=False)",
    "health_check": "(self)",
    "create_sandbox": "(self, session_id, ttl_seconds=900, image=None, cpu_limit=None, "
                      "memory_limit=None, ephemeral_storage_limit=None)",
    "touch": "(self, session_id)",
    "exec": "(self, session_id, cmd, workdir='/workspace', env=None, timeout_seconds=30)",
    "exec_shell": "(self, session_id, command, workdir='/workspace', env=None, "
                  "timeout_seconds=30, shell='sh')",
    "upload_files": "(self, session_id, files, dest='/workspace')",
    "download_files": "(self, session_id, src='/workspace')",
    "download_workspace": "(self, session_id, local_dir, src='/workspace')",
    "delete_sandbox": "(self, session_id)",
    "wait_for_pod_ready": "(self, session_id, timeout=30, interval=2)",
}


def _positional_prefix(fn: object) -> str:
    sig = inspect.signature(fn)  # type: ignore[arg-type]
    params = [p.replace(annotation=inspect.Parameter.empty)
              for p in sig.parameters.values() if p.kind is not p.KEYWORD_ONLY]
    return str(sig.replace(parameters=params, return_annotation=inspect.Signature.empty))


@pytest.mark.parametrize("name", sorted(SIGNATURES_200))
def test_client_methods_keep_the_2_0_0_signatures(name: str) -> None:
    """Same names, order and defaults; new parameters are keyword-only."""
    assert _positional_prefix(getattr(noxrunner.NoxRunnerClient, name)) == SIGNATURES_200[name]


def test_public_names_of_2_0_0_import() -> None:
    from noxrunner import NoxRunnerClient, NoxRunnerError, NoxRunnerHTTPError  # noqa: F401
    from noxrunner.backend import (HTTPSandboxBackend, LocalBackend,  # noqa: F401
                                   SandboxBackend)
    from noxrunner.backend.base import SandboxBackend as B
    from noxrunner.backend.http import HTTPSandboxBackend as H
    from noxrunner.backend.local import LocalBackend as L

    assert issubclass(H, B) and issubclass(L, B)
    assert inspect.isabstract(B)
    assert str(inspect.signature(H.__init__)).startswith("(self, base_url: 'str', timeout: 'int' = 30")
    assert "base_dir" in inspect.signature(L.__init__).parameters
    for n in ("NoxRunnerClient", "NoxRunnerError", "NoxRunnerHTTPError"):
        assert n in noxrunner.__all__


def test_client_requires_base_url_unless_local() -> None:
    with pytest.raises(ValueError, match="base_url is required"):
        noxrunner.NoxRunnerClient()
    with pytest.raises(ValueError):
        noxrunner.NoxRunnerClient("   ")


def test_exec_shell_rejects_other_shells_before_any_call() -> None:
    c = noxrunner.NoxRunnerClient("http://127.0.0.1:9")
    with pytest.raises(ValueError, match="shell must be 'sh' or 'bash'"):
        c.exec_shell("s", "echo", shell="python")
    c.close()


def test_use_after_close_is_a_clear_error() -> None:
    c = noxrunner.NoxRunnerClient("http://127.0.0.1:9")
    c.close()
    c.close()  # idempotent
    with pytest.raises(noxrunner.NoxRunnerError, match="closed"):
        c.create_sandbox("s")


def test_connection_refused_is_typed() -> None:
    with noxrunner.NoxRunnerClient("http://127.0.0.1:9", timeout=5) as c:
        assert c.health_check() is False
        with pytest.raises(noxrunner.ConnectionFailedError) as ei:
            c.exec("s", ["true"])
        assert isinstance(ei.value, noxrunner.NoxRunnerError)
        assert isinstance(ei.value, ConnectionError)
        assert ei.value.code == "NOX_ECONNECT"
        assert "127.0.0.1:9" in str(ei.value)


def test_bad_arguments_are_invalid_argument_errors() -> None:
    with noxrunner.NoxRunnerClient("http://127.0.0.1:9") as c:
        for bad in ("echo hi", [], ["a\0b"]):
            with pytest.raises(noxrunner.InvalidArgumentError) as ei:
                c.exec("s", bad)  # type: ignore[arg-type]
            assert isinstance(ei.value, ValueError)
        with pytest.raises(noxrunner.InvalidArgumentError):
            c.exec("s", ["true"], env={"A=B": "x"})
        with pytest.raises(noxrunner.InvalidArgumentError):
            c.upload_files("s", {"../escape.txt": "x"})
        with pytest.raises(noxrunner.InvalidArgumentError):
            c.upload_files("s", {"/abs.txt": "x"})


def test_errors_are_freed_and_handles_collected() -> None:
    """Many failing calls must not grow memory (errors freed, handles gc'd)."""
    import resource

    c = noxrunner.NoxRunnerClient("http://127.0.0.1:9", timeout=1)
    def rss() -> int:
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    for _ in range(200):
        with pytest.raises(noxrunner.InvalidArgumentError):
            c.exec("s", [])
    before = rss()
    for _ in range(3000):
        with pytest.raises(noxrunner.InvalidArgumentError):
            c.exec("s", [])
    assert rss() - before < 20_000  # KiB
    c.close()


def test_ffi_is_api_mode() -> None:
    # API mode: the extension is compiled, its functions are compiled
    # wrappers. In ABI mode (ffi.dlopen at run time) lib would hold cdata
    # function pointers instead, and _native would not be an extension.
    import importlib.machinery
    import subprocess
    import types

    assert isinstance(lib.nox_version_string, types.BuiltinFunctionType)
    assert not isinstance(lib.nox_version_string, ffi.CData)
    native = noxrunner._native.__file__  # type: ignore[attr-defined]
    assert native.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)), native
    assert ffi.sizeof("nox_client_options") > 0
    # The core does the archive work: importing the package (in a fresh
    # interpreter) does not load the pure-Python tar handler.
    r = subprocess.run([sys.executable, "-c",
                        "import sys, noxrunner; "
                        "print('noxrunner.fileops.tar_handler' in sys.modules)"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stdout + r.stderr


def test_a_source_build_without_the_dev_packages_names_them(tmp_path: Path) -> None:
    """pip install from source on a machine without the libraries' -dev
    packages: one message naming the packages to install, no trace."""
    import shutil
    import subprocess

    if not shutil.which("cmake"):
        pytest.skip("no cmake here to configure with")
    env = dict(os.environ, PKG_CONFIG_LIBDIR=str(tmp_path / "none"),
               PKG_CONFIG_PATH="", NOX_PY_CMAKE_BUILD_DIR=str(tmp_path / "build"))
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import corebuild; "
            "corebuild.build(sys.argv[2])")
    r = subprocess.run([sys.executable, "-c", code,
                        str(REPO / "bindings" / "python" / "buildtools"), str(REPO)],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=300)
    assert r.returncode != 0
    assert r.stderr.startswith("NoxRunner cannot be built: "), r.stderr
    for pkg in ("libcurl4-openssl-dev", "libarchive-dev", "libcjson-dev", "zlib1g-dev",
                "libcurl-devel", "libarchive-devel", "cjson-devel", "zlib-devel"):
        assert pkg in r.stderr
    assert "Traceback" not in r.stderr and "CMake Error" not in r.stderr
    assert "Call Stack" not in r.stderr


def test_license_is_an_spdx_expression_with_its_file() -> None:
    """PEP 639 metadata (no deprecated license table or classifier, whose
    warnings filled the build log) and the LICENSE file in the wheel."""
    from importlib import metadata

    md = metadata.metadata("noxrunner")
    assert md.get("License-Expression") == "MIT"
    assert not [c for c in md.get_all("Classifier") or [] if c.startswith("License ::")]
    files = [str(f) for f in metadata.files("noxrunner") or []]
    assert any(f.endswith("licenses/LICENSE") for f in files), files
