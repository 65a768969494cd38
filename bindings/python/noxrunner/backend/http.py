"""
HTTP client backend for NoxRunner sandbox execution, on the C core.

Talks to any NoxRunner-compatible server (backend API v1), through the C
core's libcurl client: kept-alive connections, safe retries, bearer token
from ``api_key`` or ``NOXRUNNER_API_KEY``, and the server's extensions
(streaming, stdin, raw output) when it offers them.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Union

from noxrunner._core import Core
from noxrunner.backend._corebackend import DEFAULT_WORKDIR, CoreBackend, timeout_note
from noxrunner.exceptions import InvalidArgumentError
from noxrunner.results import ExecResult

__all__ = ["HTTPSandboxBackend"]


class HTTPSandboxBackend(CoreBackend):
    """
    HTTP client backend for NoxRunner sandbox execution.

    ``timeout`` bounds each request, and for uploads and downloads how long
    no byte may move; ``transfer_timeout`` (seconds, default 3600) bounds a
    whole upload or download: a server that trickles its answer fails with
    NoxRunnerTimeoutError after that long.

    Errors raise NoxRunnerHTTPError (a subclass per condition, e.g.
    SandboxNotFoundError for 404) or NoxRunnerError (e.g.
    ConnectionFailedError when the server cannot be reached), as in 2.0.0.
    """

    def __init__(self, base_url: str, timeout: int = 30, *, api_key: Optional[str] = None,
                 tls_verify: bool = True, ca_file: Optional[str] = None,
                 max_retries: Optional[int] = None,
                 transfer_timeout: Optional[float] = None) -> None:
        if not isinstance(base_url, str) or not base_url.strip():
            raise InvalidArgumentError("base_url is required")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.transfer_timeout = transfer_timeout
        self._core = Core(backend="http", base_url=self.base_url, timeout=timeout,
                          api_key=api_key, tls_verify=tls_verify, ca_file=ca_file,
                          max_retries=max_retries, transfer_timeout=transfer_timeout)

    def touch(self, session_id: str) -> bool:
        self._core.touch(session_id)
        return True

    def exec(
        self,
        session_id: str,
        cmd: List[str],
        workdir: str = DEFAULT_WORKDIR,
        env: Optional[Dict[str, str]] = None,
        timeout_seconds: int = 30,
        *,
        stdin: Optional[Union[str, bytes]] = None,
    ) -> ExecResult:
        r = self._core.exec(session_id, cmd, workdir, env, timeout_seconds, stdin)
        return timeout_note(r, timeout_seconds) if r.timed_out else r

    def upload_files(
        self, session_id: str, files: Dict[str, Union[str, bytes]], dest: str = DEFAULT_WORKDIR
    ) -> bool:
        self._core.upload_files(session_id, files, dest)
        return True

    def download_files(self, session_id: str, src: str = DEFAULT_WORKDIR) -> bytes:
        return self._core.download(session_id, src)

    def delete_sandbox(self, session_id: str) -> bool:
        self._core.delete(session_id)
        return True

    def wait_for_pod_ready(self, session_id: str, timeout: int = 30, interval: int = 2) -> bool:
        return self._wait_ready(session_id, timeout, interval)

    def __repr__(self) -> str:
        return f"HTTPSandboxBackend({self.base_url!r}, timeout={self.timeout!r})"

