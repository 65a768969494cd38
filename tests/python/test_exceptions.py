"""One mapping from the core's code names to exception classes."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest

import noxrunner
from noxrunner import exceptions as ex
from noxrunner._native import ffi, lib

HEADER = Path(__file__).resolve().parents[2] / "core" / "include" / "noxrunner" / "noxrunner.h"

EXPECTED = {
    "NOX_EINVAL": ex.InvalidArgumentError,
    "NOX_ENOMEM": ex.OutOfMemoryError,
    "NOX_ENOTFOUND": ex.SandboxNotFoundError,
    "NOX_EHTTP": ex.NoxRunnerHTTPError,
    "NOX_ECONNECT": ex.ConnectionFailedError,
    "NOX_ETIMEOUT": ex.NoxRunnerTimeoutError,
    "NOX_EPROTOCOL": ex.ProtocolError,
    "NOX_EARCHIVE": ex.ArchiveRejectedError,
    "NOX_EIO": ex.NoxRunnerIOError,
    "NOX_EAUTH": ex.AuthenticationError,
    "NOX_ECANCELED": ex.CanceledError,
    "NOX_EUNSUPPORTED": ex.UnsupportedError,
    "NOX_EVERSION": ex.VersionMismatchError,
    "NOX_ESANDBOX": ex.SandboxError,
    "NOX_ENOTREADY": ex.SandboxNotReadyError,
    "NOX_ETOOBIG": ex.LimitExceededError,
}


def test_every_error_code_of_the_header_has_a_class() -> None:
    codes = re.findall(r"#define\s+(NOX_E[A-Z]+)\s+\(-\d+\)", HEADER.read_text())
    assert codes
    for name in codes:
        value = getattr(lib, name)
        assert ffi.string(lib.nox_code_name(value)).decode() == name
        assert ex.error_class_for_code(name) is not ex.NoxRunnerError, \
            f"{name} has no exception class: add one to exceptions.py"


@pytest.mark.parametrize("code,cls", sorted(EXPECTED.items()))
def test_code_maps_to_class(code: str, cls: type) -> None:
    assert ex.error_class_for_code(code) is cls
    e = ex.make_error(code, "what failed on what")
    assert isinstance(e, cls)
    assert isinstance(e, noxrunner.NoxRunnerError)
    assert e.code == code
    assert "what failed on what" in str(e)


def test_unknown_code_is_the_base_class() -> None:
    e = ex.make_error("NOX_EFROMTHEFUTURE", "new")
    assert type(e) is ex.NoxRunnerError and e.code == "NOX_EFROMTHEFUTURE"


def test_builtin_bases_for_idiomatic_catching() -> None:
    assert issubclass(ex.NoxRunnerTimeoutError, TimeoutError)
    assert issubclass(ex.InvalidArgumentError, ValueError)
    assert issubclass(ex.ConnectionFailedError, ConnectionError)
    for cls in (ex.SandboxNotFoundError, ex.AuthenticationError, ex.SandboxNotReadyError):
        assert issubclass(cls, ex.NoxRunnerHTTPError)


def test_http_error_keeps_2_0_0_constructor_attributes_and_str() -> None:
    e = ex.NoxRunnerHTTPError(500, "Request failed", '{"error":"boom"}')
    assert (e.status_code, e.message, e.response_body) == (500, "Request failed", '{"error":"boom"}')
    assert str(e) == 'HTTP 500: Request failed\nResponse: {"error":"boom"}'
    assert str(ex.NoxRunnerHTTPError(404, "Not found")) == "HTTP 404: Not found"
    assert e.args == ("HTTP 500: Request failed",)


def test_server_status_makes_any_error_an_http_error() -> None:
    e = ex.make_error("NOX_EINVAL", "exec: server answered 400: empty cmd", 400, b'{"error":"x"}')
    assert isinstance(e, ex.InvalidArgumentError) and isinstance(e, ValueError)
    assert isinstance(e, ex.NoxRunnerHTTPError)
    assert e.status_code == 400 and e.response_body == '{"error":"x"}'
    nf = ex.make_error("NOX_ENOTFOUND", "no such sandbox")
    assert isinstance(nf, ex.NoxRunnerHTTPError) and nf.status_code == 404


def test_timeout_error_is_catchable_both_ways() -> None:
    e = ex.make_error("NOX_ETIMEOUT", "deadline passed")
    with pytest.raises(TimeoutError):
        raise e
    assert str(e) == "deadline passed"


def test_exceptions_pickle() -> None:
    for e in (ex.NoxRunnerHTTPError(404, "gone", "body"),
              ex.make_error("NOX_EINVAL", "bad", 400, b"b"),
              ex.make_error("NOX_ETIMEOUT", "late"),
              ex.NoxRunnerError("plain")):
        e2 = pickle.loads(pickle.dumps(e))
        assert type(e2).__name__ == type(e).__name__
        assert str(e2) == str(e)
        assert getattr(e2, "code") == getattr(e, "code")
