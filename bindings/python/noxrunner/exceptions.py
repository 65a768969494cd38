"""Exceptions of the NoxRunner client library.

NoxRunnerError and NoxRunnerHTTPError are noxrunner 2.0.0's classes, with
the same constructor, attributes and str(). Every error raised by the C
core is an instance of a subclass chosen by the core's stable code name
(``.code``, e.g. ``"NOX_ENOTFOUND"``); the ones that correspond to an HTTP
status subclass NoxRunnerHTTPError, so 2.0.0 code that catches
NoxRunnerHTTPError and looks at ``status_code`` keeps working.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, Type

__all__ = [
    "NoxRunnerError",
    "NoxRunnerHTTPError",
    "InvalidArgumentError",
    "OutOfMemoryError",
    "SandboxNotFoundError",
    "ConnectionFailedError",
    "NoxRunnerTimeoutError",
    "ProtocolError",
    "ArchiveRejectedError",
    "NoxRunnerIOError",
    "AuthenticationError",
    "CanceledError",
    "UnsupportedError",
    "VersionMismatchError",
    "SandboxError",
    "SandboxNotReadyError",
    "LimitExceededError",
    "error_class_for_code",
]


class NoxRunnerError(Exception):
    """Base exception for NoxRunner API errors."""

    #: The core's stable code name ("NOX_ENOTFOUND", ...); "NOX_EUNKNOWN"
    #: for errors that did not come from the core.
    code: str = "NOX_EUNKNOWN"
    #: HTTP status of the answer that caused the error, 0 when none.
    http_status: int = 0

    def __reduce__(self) -> Any:
        cls = type(self)
        if getattr(globals().get(cls.__name__), "__name__", None) == cls.__name__ and \
                globals()[cls.__name__] is cls and not isinstance(self, NoxRunnerHTTPError):
            return (cls, self.args, self.__dict__)
        # HTTP errors and the classes made on the fly: rebuild from the code.
        return (_restore, (cls if globals().get(cls.__name__) is cls else None,
                           self.code, str(getattr(self, "message", self)),
                           int(getattr(self, "status_code", 0) or 0),
                           str(getattr(self, "response_body", "")), self.__dict__))


class NoxRunnerHTTPError(NoxRunnerError):
    """HTTP error from the NoxRunner backend API."""

    code = "NOX_EHTTP"

    def __init__(self, status_code: int, message: str, response_body: str = ""):
        self.status_code = status_code
        self.http_status = status_code
        self.message = message
        self.response_body = response_body
        super().__init__(f"HTTP {status_code}: {message}")

    def __str__(self) -> str:
        if self.response_body:
            return f"HTTP {self.status_code}: {self.message}\nResponse: {self.response_body}"
        return f"HTTP {self.status_code}: {self.message}"


class InvalidArgumentError(NoxRunnerError, ValueError):
    """A bad argument: empty command, bad session id, unsafe path, ..."""

    code = "NOX_EINVAL"


class OutOfMemoryError(NoxRunnerError, MemoryError):
    code = "NOX_ENOMEM"


class SandboxNotFoundError(NoxRunnerHTTPError):
    """No such sandbox (HTTP 404), or no such path inside one.

    With the local backend status_code is 404 as well: the status the HTTP
    API answers for the same condition."""

    code = "NOX_ENOTFOUND"
    default_status = 404


class ConnectionFailedError(NoxRunnerError, ConnectionError):
    """The server or the sandbox agent could not be reached."""

    code = "NOX_ECONNECT"


class NoxRunnerTimeoutError(NoxRunnerError, TimeoutError):
    """A client-side deadline passed (a command that runs past its own
    timeout is not an error: its result has exitCode 124)."""

    code = "NOX_ETIMEOUT"


class ProtocolError(NoxRunnerError):
    """The peer answered something that could not be understood."""

    code = "NOX_EPROTOCOL"


class ArchiveRejectedError(NoxRunnerError):
    """An archive was refused: path traversal, links leaving the target,
    special files, size or entry limits, or corruption."""

    code = "NOX_EARCHIVE"


class NoxRunnerIOError(NoxRunnerError, OSError):
    """Local I/O failed."""

    code = "NOX_EIO"


class AuthenticationError(NoxRunnerHTTPError):
    """Authentication failed (HTTP 401/403)."""

    code = "NOX_EAUTH"
    default_status = 401


class CanceledError(NoxRunnerError):
    """The running command was canceled."""

    code = "NOX_ECANCELED"


class UnsupportedError(NoxRunnerError):
    """The backend or host cannot do this."""

    code = "NOX_EUNSUPPORTED"


class VersionMismatchError(NoxRunnerError):
    code = "NOX_EVERSION"


class SandboxError(NoxRunnerError):
    """The sandbox could not be set up, or died."""

    code = "NOX_ESANDBOX"


class SandboxNotReadyError(NoxRunnerHTTPError):
    """The sandbox exists but is not ready yet (HTTP 503)."""

    code = "NOX_ENOTREADY"
    default_status = 503


class LimitExceededError(NoxRunnerError):
    """A size or count limit was exceeded."""

    code = "NOX_ETOOBIG"


_BY_CODE: Dict[str, Type[NoxRunnerError]] = {
    cls.code: cls
    for cls in (
        NoxRunnerHTTPError, InvalidArgumentError, OutOfMemoryError, SandboxNotFoundError,
        ConnectionFailedError, NoxRunnerTimeoutError, ProtocolError, ArchiveRejectedError,
        NoxRunnerIOError, AuthenticationError, CanceledError, UnsupportedError,
        VersionMismatchError, SandboxError, SandboxNotReadyError, LimitExceededError,
    )
}

_HTTP_VARIANTS: Dict[Type[NoxRunnerError], Type[NoxRunnerHTTPError]] = {}


def error_class_for_code(code: str) -> Type[NoxRunnerError]:
    """The exception class for a core code name (NoxRunnerError when the
    name is unknown, e.g. from a newer core)."""
    return _BY_CODE.get(code, NoxRunnerError)


def _http_variant(cls: Type[NoxRunnerError]) -> Type[NoxRunnerHTTPError]:
    """cls, also a NoxRunnerHTTPError: for an error a server answered with
    a status (a 400 for a bad argument is both InvalidArgumentError and
    NoxRunnerHTTPError)."""
    if issubclass(cls, NoxRunnerHTTPError):
        return cls
    variant = _HTTP_VARIANTS.get(cls)
    if variant is None:
        variant = type(cls.__name__, (cls, NoxRunnerHTTPError),
                       {"__module__": cls.__module__, "__doc__": cls.__doc__,
                        "__qualname__": cls.__qualname__})
        _HTTP_VARIANTS[cls] = variant
    return variant


def make_error(code: str, message: str, http_status: int = 0, body: bytes = b"",
               base: Optional[Tuple[Type[BaseException], ...]] = None) -> NoxRunnerError:
    """Build the exception for an error reported by the core."""
    cls = error_class_for_code(code)
    if base:
        # A compatibility class that is also one of `base` (see LocalBackend).
        cls = type(cls.__name__, (cls, *base), {"__module__": cls.__module__,
                                                "__qualname__": cls.__qualname__})
    exc: NoxRunnerError
    if http_status or issubclass(cls, NoxRunnerHTTPError):
        hcls = _http_variant(cls)
        status = http_status or int(getattr(hcls, "default_status", 0))
        exc = hcls(status, message, body.decode("utf-8", errors="replace"))
    else:
        exc = cls(message)
    exc.code = code
    exc.http_status = http_status
    return exc


def _restore(cls: Optional[Type[NoxRunnerError]], code: str, message: str, status: int,
             body: str, state: Dict[str, Any]) -> NoxRunnerError:
    """Unpickle an error (see NoxRunnerError.__reduce__)."""
    exc: NoxRunnerError
    if cls is not None and issubclass(cls, NoxRunnerHTTPError):
        exc = cls(status, message, body)
    else:
        exc = make_error(code, message, status, body.encode("utf-8"))
    exc.__dict__.update(state)
    return exc
