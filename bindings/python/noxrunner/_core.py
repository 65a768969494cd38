"""The thin layer over the C core: one class per handle, typed errors.

Everything here converts types and errors and nothing more; the 2.0.0
compatibility rules live in backend/, the idioms in client.py/sandbox.py.
cffi (API mode) releases the GIL around every C call, so a blocking exec
lets other Python threads run.
"""

from __future__ import annotations

import os
import threading
from typing import (Any, Dict, List, Mapping, Optional, Sequence, Tuple, Type,
                    Union)

from noxrunner._native import ffi, lib
from noxrunner.exceptions import InvalidArgumentError, NoxRunnerError, make_error
from noxrunner.results import ExecResult, make_exec_result

__all__ = ["Core", "ExecStreamHandle", "core_version", "abi_version", "agent_path",
           "server_path"]

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))


def _check_abi() -> None:
    got = int(lib.nox_abi_version())
    want = int(lib.NOX_ABI_VERSION)
    if got != want:
        raise ImportError(
            f"noxrunner: the loaded libnoxrunner has ABI {got}, but this binding was "
            f"built for ABI {want}; reinstall noxrunner so both come from one build")


_check_abi()


def core_version() -> str:
    """Version of the C core inside this package, "0.3.0"."""
    return str(ffi.string(lib.nox_version_string()).decode("ascii"))


def abi_version() -> int:
    return int(lib.nox_abi_version())


def agent_path() -> Optional[str]:
    """The nox-sandbox agent shipped in the package (None if absent)."""
    p = os.path.join(_PKG_DIR, "_bin", "nox-sandbox")
    return p if os.access(p, os.X_OK) else None


def server_path() -> Optional[str]:
    """The noxrunnerd server shipped in the package (None if absent)."""
    p = os.path.join(_PKG_DIR, "_bin", "noxrunnerd")
    return p if os.access(p, os.X_OK) else None


# ---- conversions ----------------------------------------------------------

def _encode(value: Union[str, bytes, "os.PathLike[Any]"], what: str) -> bytes:
    """value as the bytes of a C string (str: UTF-8, surrogates escaped)."""
    if type(value) is str:  # the common case first, without ABC checks
        raw = value.encode("utf-8", "surrogateescape")
    else:
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if isinstance(value, bytes):
            raw = value
        elif isinstance(value, str):
            raw = value.encode("utf-8", errors="surrogateescape")
        else:
            raise InvalidArgumentError(f"{what} must be a string, not {type(value).__name__}")
    if b"\0" in raw:
        raise InvalidArgumentError(f"{what} contains a NUL character")
    return raw


def _cstr(value: Optional[Union[str, os.PathLike]], what: str, keep: List[Any]) -> Any:  # type: ignore[type-arg]
    """A NUL-terminated C string (kept alive through `keep`), NULL for None."""
    if value is None:
        return ffi.NULL
    buf = ffi.new("char[]", _encode(value, what))
    keep.append(buf)
    return buf


def _as_bytes(data: Union[str, bytes, bytearray, memoryview], what: str) -> bytes:
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise InvalidArgumentError(f"{what} must be str or bytes, not {type(data).__name__}")


def _string(p: Any) -> str:
    if p == ffi.NULL:
        return ""
    return str(ffi.string(p).decode("utf-8", errors="replace"))


def _take_error(rc: int, errp: Any,
                extra_bases: Optional[Tuple[Type[BaseException], ...]] = None) -> NoxRunnerError:
    """Turn a failed call's nox_error into an exception; frees the error."""
    e = errp[0]
    code = rc
    status = 0
    body = b""
    message = ""
    if e != ffi.NULL:
        try:
            code = int(lib.nox_error_code(e))
            message = _string(lib.nox_error_message(e))
            status = int(lib.nox_error_http_status(e))
            n = ffi.new("size_t *")
            data = lib.nox_error_body(e, n)
            if data != ffi.NULL and n[0]:
                body = bytes(ffi.buffer(data, n[0]))
        finally:
            lib.nox_error_free(e)
            errp[0] = ffi.NULL
    if not message:
        message = _string(lib.nox_code_description(code))
    name = _string(lib.nox_code_name(code))
    return make_error(name, message, status, body, extra_bases)


# Bound once: these run after every exec (a lookup on `lib` per call is
# measurable there). nox_exec itself is looked up on `lib` at each call.
_r_stdout = lib.nox_exec_result_stdout
_r_stderr = lib.nox_exec_result_stderr
_r_exit_code = lib.nox_exec_result_exit_code
_r_duration_ms = lib.nox_exec_result_duration_ms
_r_timed_out = lib.nox_exec_result_timed_out
_r_signal = lib.nox_exec_result_signal
_r_stdout_truncated = lib.nox_exec_result_stdout_truncated
_r_stderr_truncated = lib.nox_exec_result_stderr_truncated
_r_free = lib.nox_exec_result_free


def _result_from(r: Any, n: Any = None) -> ExecResult:
    if n is None:
        n = ffi.new("size_t *")
    p = _r_stdout(r, n)
    stdout = ffi.buffer(p, n[0])[:] if n[0] and p != ffi.NULL else b""
    p = _r_stderr(r, n)
    stderr = ffi.buffer(p, n[0])[:] if n[0] and p != ffi.NULL else b""
    return make_exec_result(_r_exit_code(r), stdout, stderr, _r_duration_ms(r),
                            bool(_r_timed_out(r)), _r_signal(r),
                            bool(_r_stdout_truncated(r)), bool(_r_stderr_truncated(r)))


def _info_dict(i: Any) -> Dict[str, Any]:
    return {
        "sessionId": _string(lib.nox_sandbox_info_session_id(i)),
        "podName": _string(lib.nox_sandbox_info_pod_name(i)),
        "expiresAt": _string(lib.nox_sandbox_info_expires_at(i)),
    }


ISOLATION_LEVELS = {"auto": 0, "none": 1, "namespaces": 2}


def _exec_argv(cmd: Sequence[str]) -> Tuple[Any, List[Any]]:
    """argv as a NULL-terminated `const char *[]`, and the list that keeps
    its strings alive."""
    if type(cmd) is not list:
        if isinstance(cmd, (str, bytes)) or not isinstance(cmd, Sequence):
            raise InvalidArgumentError("cmd must be a list of strings, e.g. ['ls', '-la']")
    ptrs: List[Any] = []
    for a in cmd:
        if type(a) is str:  # inline _cstr for the common case
            raw = a.encode("utf-8", "surrogateescape")
            if b"\0" in raw:
                raise InvalidArgumentError("cmd argument contains a NUL character")
            ptrs.append(ffi.new("char[]", raw))
        else:
            ptrs.append(_cstr(a, "cmd argument", []))
    ptrs.append(ffi.NULL)
    return ffi.new("const char *[]", ptrs), ptrs


def _new_exec_opts(workdir: Optional[str], env: Optional[Mapping[str, str]],
                   timeout_seconds: Optional[int], stdin: Optional[Union[str, bytes]],
                   max_output_bytes: Optional[int], keep: List[Any]) -> Any:
    """A filled nox_exec_options; the memory it points to goes to keep."""
    o = ffi.new("nox_exec_options *")
    rc = lib.nox_exec_options_init(o, lib.NOX_EXEC_OPTIONS_VERSION)
    if rc != 0:
        raise make_error(_string(lib.nox_code_name(rc)), "exec options not understood")
    o.workdir = _cstr(workdir, "workdir", keep)
    if env:
        pairs = []
        for k, v in env.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise InvalidArgumentError("env must map strings to strings")
            # The core checks each NAME=value entry (an empty name among
            # them); only a '=' inside a name is lost once the pair is joined.
            if "=" in k:
                raise InvalidArgumentError(
                    f"environment variable name {k!r} contains '='")
            pairs.append(_cstr(f"{k}={v}", "env", keep))
        envp = ffi.new("const char *[]", pairs + [ffi.NULL])
        keep.append(envp)
        o.env = envp
    if timeout_seconds is not None:
        o.timeout_seconds = int(timeout_seconds)
    if stdin is not None:
        data = _as_bytes(stdin, "stdin")
        buf = ffi.new("uint8_t[]", data) if data else ffi.new("uint8_t[]", 1)
        keep.append(buf)
        o.stdin_data = buf
        o.stdin_len = len(data)
    if max_output_bytes:
        o.max_output_bytes = int(max_output_bytes)
    return o


# Out-parameters of exec (nox_exec_result **, nox_error **, size_t *),
# reused: three ffi.new per call cost more than a pop and an append. A
# call takes one out of the list (so no other thread, nor a signal handler
# on this one, sees it until it is put back) and returns it on success.
_SCRATCH: List[Tuple[Any, Any, Any]] = []
_SCRATCH_MAX = 16


def _new_scratch() -> Tuple[Any, Any, Any]:
    return ffi.new("nox_exec_result **"), ffi.new("nox_error **"), ffi.new("size_t *")


# Options without env, stdin or output limit, by (workdir, timeout): nearly
# every exec is one of a few of these. The C core only reads them (const),
# so one struct serves all threads. Entries are never removed (a call may
# still be using one); past the cap, options are built per call.
_OPTS_CACHE: Dict[Tuple[Optional[str], Optional[int]], Tuple[Any, List[Any]]] = {}
_OPTS_CACHE_MAX = 64


def _exec_opts(workdir: Optional[str], env: Optional[Mapping[str, str]],
               timeout_seconds: Optional[int], stdin: Optional[Union[str, bytes]],
               max_output_bytes: Optional[int], keep: List[Any]) -> Any:
    if (env or stdin is not None or max_output_bytes
            or (workdir is not None and type(workdir) is not str)
            or (timeout_seconds is not None and type(timeout_seconds) is not int)):
        return _new_exec_opts(workdir, env, timeout_seconds, stdin, max_output_bytes, keep)
    key = (workdir, timeout_seconds)
    hit = _OPTS_CACHE.get(key)
    if hit is None:
        mine: List[Any] = []
        built = (_new_exec_opts(workdir, None, timeout_seconds, None, None, mine), mine)
        if len(_OPTS_CACHE) >= _OPTS_CACHE_MAX:
            keep.append(mine)
            return built[0]
        # setdefault: when two threads race, both use the one that is kept.
        hit = _OPTS_CACHE.setdefault(key, built)
    return hit[0]


def _transfer_timeout_ms(seconds: float) -> int:
    """transfer_timeout (seconds) as the C option's milliseconds."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise InvalidArgumentError(
            f"transfer_timeout must be a number of seconds, not {type(seconds).__name__}")
    ms = float(seconds) * 1000
    if not ms > 0 or ms > 0xFFFFFFFF:
        raise InvalidArgumentError(
            f"transfer_timeout must be more than 0 and at most {0xFFFFFFFF // 1000} s, "
            f"not {seconds!r}")
    return max(1, int(ms))


class Core:
    """One nox_client. Thread-safe; close() waits for calls in flight."""

    def __init__(self, *, backend: str, base_url: Optional[str] = None,
                 timeout: Optional[float] = None, api_key: Optional[str] = None,
                 base_dir: Optional[Union[str, os.PathLike]] = None,  # type: ignore[type-arg]
                 isolation: str = "auto", agent: Optional[str] = None,
                 tls_verify: bool = True, ca_file: Optional[str] = None,
                 max_retries: Optional[int] = None,
                 max_output_bytes: Optional[int] = None,
                 transfer_timeout: Optional[float] = None) -> None:
        # _users counts calls inside the C client; close() waits for zero.
        # An RLock, not a Condition's own: `with self._lock` is then a C call.
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)
        self._users = 0
        self._closed = False
        self._c: Any = None
        keep: List[Any] = []
        o = ffi.new("nox_client_options *")
        rc = lib.nox_client_options_init(o, lib.NOX_CLIENT_OPTIONS_VERSION)
        if rc != 0:
            raise make_error(_string(lib.nox_code_name(rc)), "client options not understood")
        if backend == "http":
            o.backend = lib.NOX_BACKEND_HTTP
            o.base_url = _cstr(base_url, "base_url", keep)
            o.api_key = _cstr(api_key, "api_key", keep)
            if timeout:
                ms = max(1, int(float(timeout) * 1000))
                o.request_timeout_ms = ms
                o.connect_timeout_ms = min(ms, 10000)
            if max_retries is not None:
                o.max_retries = int(max_retries)
            if transfer_timeout is not None:
                o.transfer_timeout_ms = _transfer_timeout_ms(transfer_timeout)
            o.tls_verify = 1 if tls_verify else 0
            o.ca_file = _cstr(ca_file, "ca_file", keep)
            o.user_agent = _cstr(f"noxrunner-python/{_pkg_version()} noxrunner-c/{core_version()}",
                                 "user_agent", keep)
        elif backend == "local":
            o.backend = lib.NOX_BACKEND_LOCAL
            o.base_dir = _cstr(base_dir, "base_dir", keep)
            if isolation not in ISOLATION_LEVELS:
                raise InvalidArgumentError(
                    f"isolation must be one of {', '.join(ISOLATION_LEVELS)}, not {isolation!r}")
            o.isolation = ISOLATION_LEVELS[isolation]
            if agent is None and not os.environ.get("NOXRUNNER_AGENT"):
                agent = agent_path()
            o.agent_path = _cstr(agent, "agent_path", keep)
        else:
            raise InvalidArgumentError(f"unknown backend {backend!r}")
        if max_output_bytes:
            o.max_output_bytes = int(max_output_bytes)
        out = ffi.new("nox_client **")
        errp = ffi.new("nox_error **")
        rc = lib.nox_client_new(out, o, errp)
        if rc != 0:
            raise _take_error(rc, errp)
        self._c = ffi.gc(out[0], lib.nox_client_free)
        self.backend = backend

    # -- lifetime -------------------------------------------------------

    def _enter(self) -> Any:
        """The C client, counted as in use until _leave(); raises once closed."""
        with self._lock:
            c = self._c
            if self._closed or c is None:
                raise NoxRunnerError("this client is closed")
            self._users += 1
        return c

    def _leave(self) -> None:
        with self._lock:
            self._users -= 1
            if self._closed and self._users == 0:  # only close() waits
                self._idle.notify_all()

    def close(self) -> None:
        """Free the client once no call is in flight. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            while self._users:
                self._idle.wait()
            c, self._c = self._c, None
        if c is not None:
            ffi.release(c)

    @property
    def closed(self) -> bool:
        return self._closed

    def _call(self, fn: Any, *args: Any,
              extra_bases: Optional[Tuple[Type[BaseException], ...]] = None) -> None:
        errp = ffi.new("nox_error **")
        c = self._enter()
        try:
            rc = fn(c, *args, errp)
        finally:
            self._leave()
        if rc != 0:
            raise _take_error(rc, errp, extra_bases)

    # -- calls ------------------------------------------------------------

    def health(self) -> None:
        self._call(lib.nox_health)

    def info(self) -> bytes:
        out = ffi.new("nox_bytes **")
        self._call(lib.nox_info, out)
        return _take_bytes(out[0])

    def isolation(self) -> str:
        c = self._enter()
        try:
            level = lib.nox_client_isolation(c)
        finally:
            self._leave()
        return _string(lib.nox_isolation_name(level))

    def create(self, session_id: str, ttl_seconds: Optional[int] = None,
               image: Optional[str] = None, cpu_limit: Optional[str] = None,
               memory_limit: Optional[str] = None,
               ephemeral_storage_limit: Optional[str] = None) -> Dict[str, Any]:
        keep: List[Any] = []
        o = ffi.new("nox_sandbox_options *")
        lib.nox_sandbox_options_init(o, lib.NOX_SANDBOX_OPTIONS_VERSION)
        if ttl_seconds is not None:
            o.ttl_seconds = int(ttl_seconds)
        o.image = _cstr(image or None, "image", keep)
        o.cpu_limit = _cstr(cpu_limit or None, "cpu_limit", keep)
        o.memory_limit = _cstr(memory_limit or None, "memory_limit", keep)
        o.ephemeral_storage_limit = _cstr(ephemeral_storage_limit or None,
                                          "ephemeral_storage_limit", keep)
        out = ffi.new("nox_sandbox_info **")
        self._call(lib.nox_sandbox_create, _cstr(session_id, "session_id", keep), o, out)
        return _take_info(out[0])

    def get(self, session_id: str) -> Dict[str, Any]:
        keep: List[Any] = []
        out = ffi.new("nox_sandbox_info **")
        self._call(lib.nox_sandbox_get, _cstr(session_id, "session_id", keep), out)
        return _take_info(out[0])

    def list(self) -> List[Dict[str, Any]]:
        out = ffi.new("nox_sandbox_list **")
        self._call(lib.nox_sandbox_list_all, out)
        lst = ffi.gc(out[0], lib.nox_sandbox_list_free)
        try:
            return [_info_dict(lib.nox_sandbox_list_at(lst, i))
                    for i in range(lib.nox_sandbox_list_count(lst))]
        finally:
            ffi.release(lst)

    def touch(self, session_id: str) -> None:
        keep: List[Any] = []
        self._call(lib.nox_sandbox_touch, _cstr(session_id, "session_id", keep))

    def delete(self, session_id: str) -> None:
        keep: List[Any] = []
        self._call(lib.nox_sandbox_delete, _cstr(session_id, "session_id", keep))

    def wait_ready(self, session_id: str, timeout_ms: int) -> None:
        keep: List[Any] = []
        self._call(lib.nox_sandbox_wait_ready, _cstr(session_id, "session_id", keep),
                   max(0, min(int(timeout_ms), 0xFFFFFFFF)))

    def exec(self, session_id: str, cmd: Sequence[str], workdir: Optional[str] = None,
             env: Optional[Mapping[str, str]] = None, timeout_seconds: Optional[int] = None,
             stdin: Optional[Union[str, bytes]] = None,
             max_output_bytes: Optional[int] = None) -> ExecResult:
        # The hot path: _call, _enter and _leave inlined.
        argv, keep = _exec_argv(cmd)
        opts = _exec_opts(workdir, env, timeout_seconds, stdin, max_output_bytes, keep)
        # bytes go to a `const char *` argument as they are (NUL-terminated).
        sid = ffi.NULL if session_id is None else _encode(session_id, "session_id")
        try:
            scratch = _SCRATCH.pop()
        except IndexError:
            scratch = _new_scratch()
        out, errp, n = scratch
        lock = self._lock
        with lock:
            c = self._c
            if self._closed or c is None:
                raise NoxRunnerError("this client is closed")
            self._users += 1
        try:
            rc = lib.nox_exec(c, sid, argv, opts, out, errp)
        finally:
            with lock:
                self._users -= 1
                if self._closed and self._users == 0:
                    self._idle.notify_all()
        if rc != 0:
            raise _take_error(rc, errp)  # this scratch is not reused
        r = out[0]
        try:
            return _result_from(r, n)
        finally:
            _r_free(r)
            if len(_SCRATCH) < _SCRATCH_MAX:
                _SCRATCH.append(scratch)

    def exec_start(self, session_id: str, cmd: Sequence[str], workdir: Optional[str] = None,
                   env: Optional[Mapping[str, str]] = None,
                   timeout_seconds: Optional[int] = None,
                   stdin: Optional[Union[str, bytes]] = None,
                   max_output_bytes: Optional[int] = None) -> "ExecStreamHandle":
        argv, keep = _exec_argv(cmd)
        opts = _exec_opts(workdir, env, timeout_seconds, stdin, max_output_bytes, keep)
        out = ffi.new("nox_exec_stream **")
        self._call(lib.nox_exec_start, _cstr(session_id, "session_id", keep), argv, opts, out)
        return ExecStreamHandle(ffi.gc(out[0], lib.nox_exec_stream_free))

    def upload_files(self, session_id: str,
                     files: Mapping[str, Union[str, bytes]], dest: Optional[str],
                     modes: Optional[Mapping[str, int]] = None) -> None:
        keep: List[Any] = []
        fp = ffi.new("nox_files **")
        errp = ffi.new("nox_error **")
        rc = lib.nox_files_new(fp, errp)
        if rc != 0:
            raise _take_error(rc, errp)
        f = ffi.gc(fp[0], lib.nox_files_free)
        try:
            for path, content in files.items():
                data = _as_bytes(content, f"content of {path!r}")
                buf = ffi.from_buffer("uint8_t[]", data) if data else ffi.NULL
                mode = int((modes or {}).get(path, 0))
                rc = lib.nox_files_add(f, _cstr(path, "file name", keep), buf, len(data),
                                       mode, errp)
                if rc != 0:
                    raise _take_error(rc, errp)
            self._call(lib.nox_upload, _cstr(session_id, "session_id", keep), f,
                       _cstr(dest, "dest", keep))
        finally:
            ffi.release(f)

    def upload_dir(self, session_id: str, local_dir: Union[str, os.PathLike],  # type: ignore[type-arg]
                   dest: Optional[str]) -> None:
        keep: List[Any] = []
        self._call(lib.nox_upload_dir, _cstr(session_id, "session_id", keep),
                   _cstr(local_dir, "local_dir", keep), _cstr(dest, "dest", keep))

    def upload_targz(self, session_id: str, data: bytes, dest: Optional[str]) -> None:
        keep: List[Any] = []
        buf = ffi.from_buffer("uint8_t[]", data) if data else ffi.NULL
        self._call(lib.nox_upload_targz, _cstr(session_id, "session_id", keep), buf,
                   len(data), _cstr(dest, "dest", keep))

    def upload_targz_fd(self, session_id: str, fd: int, dest: Optional[str]) -> None:
        keep: List[Any] = []
        self._call(lib.nox_upload_targz_fd, _cstr(session_id, "session_id", keep), int(fd),
                   _cstr(dest, "dest", keep))

    def download(self, session_id: str, src: Optional[str],
                 extra_bases: Optional[Tuple[Type[BaseException], ...]] = None) -> bytes:
        keep: List[Any] = []
        out = ffi.new("nox_bytes **")
        self._call(lib.nox_download, _cstr(session_id, "session_id", keep),
                   _cstr(src, "src", keep), out, extra_bases=extra_bases)
        return _take_bytes(out[0])

    def download_fd(self, session_id: str, src: Optional[str], fd: int) -> None:
        keep: List[Any] = []
        self._call(lib.nox_download_fd, _cstr(session_id, "session_id", keep),
                   _cstr(src, "src", keep), int(fd))

    def download_to_dir(self, session_id: str, src: Optional[str],
                        local_dir: Union[str, os.PathLike]) -> None:  # type: ignore[type-arg]
        keep: List[Any] = []
        self._call(lib.nox_download_to_dir, _cstr(session_id, "session_id", keep),
                   _cstr(src, "src", keep), _cstr(local_dir, "local_dir", keep))


def _take_bytes(p: Any) -> bytes:
    b = ffi.gc(p, lib.nox_bytes_free)
    try:
        n = ffi.new("size_t *")
        data = lib.nox_bytes_data(b, n)
        return bytes(ffi.buffer(data, n[0])) if data != ffi.NULL and n[0] else b""
    finally:
        ffi.release(b)


def _take_info(p: Any) -> Dict[str, Any]:
    i = ffi.gc(p, lib.nox_sandbox_info_free)
    try:
        d = _info_dict(i)
        d["expiresAtUnix"] = int(lib.nox_sandbox_info_expires_at_unix(i))
        return d
    finally:
        ffi.release(i)


EVENT_NONE = 0
EVENT_STDOUT = 1
EVENT_STDERR = 2
EVENT_EXIT = 3


class ExecStreamHandle:
    """One nox_exec_stream. next() is for one thread at a time; cancel()
    may come from any thread; close() frees (killing a running command)."""

    def __init__(self, s: Any) -> None:
        self._s: Any = s
        self._lock = threading.Lock()
        self._busy = False
        self._close_pending = False

    def next(self, timeout_ms: int) -> Tuple[int, bytes]:
        """(kind, data); kind EVENT_NONE when timeout_ms passed."""
        with self._lock:
            if self._s is None:
                raise NoxRunnerError("this stream is closed")
            self._busy = True
            s = self._s
        kind = ffi.new("int *")
        data = ffi.new("const uint8_t **")
        n = ffi.new("size_t *")
        errp = ffi.new("nox_error **")
        try:
            rc = lib.nox_exec_next(s, int(timeout_ms), kind, data, n, errp)
            chunk = b""
            if rc == 0 and kind[0] in (EVENT_STDOUT, EVENT_STDERR) and n[0]:
                chunk = bytes(ffi.buffer(data[0], n[0]))
        finally:
            with self._lock:
                self._busy = False
                pending = self._close_pending
        if pending:
            self.close()
        if rc != 0:
            raise _take_error(rc, errp)
        return int(kind[0]), chunk

    def result(self) -> Optional[ExecResult]:
        with self._lock:
            if self._s is None:
                return None
            r = lib.nox_exec_stream_result(self._s)
            return None if r == ffi.NULL else _result_from(r)

    def cancel(self) -> None:
        with self._lock:
            if self._s is not None:
                lib.nox_exec_cancel(self._s)

    def close(self) -> None:
        with self._lock:
            if self._s is None:
                return
            if self._busy:
                # Another thread is inside nox_exec_next: stop the command
                # and let that thread free the stream when it returns.
                lib.nox_exec_cancel(self._s)
                self._close_pending = True
                return
            s, self._s = self._s, None
        ffi.release(s)


def _pkg_version() -> str:
    from noxrunner import __version__

    return __version__
