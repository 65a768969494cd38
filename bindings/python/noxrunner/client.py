"""
NoxRunner API Client

NoxRunnerClient has noxrunner 2.0.0's constructor, methods, parameters,
defaults and return shapes; underneath, every call goes to the libnoxrunner
C core (HTTP backend or local sandboxes). New in 2.1: ``sandbox()``
objects, streaming, listing, ``close()`` and ``with``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from noxrunner.backend._corebackend import CoreBackend
from noxrunner.backend.base import SandboxBackend
from noxrunner.results import ExecResult
from noxrunner.sandbox import Sandbox, shell_argv
from noxrunner.stream import ExecStream

__all__ = ["NoxRunnerClient"]

PathArg = Union[str, "os.PathLike[str]"]


class NoxRunnerClient:
    """
    Client for NoxRunner-compatible sandbox execution backends.

    Example:
        >>> from noxrunner import NoxRunnerClient
        >>> client = NoxRunnerClient("http://127.0.0.1:8080")
        >>> client.create_sandbox("my-session")
        >>> result = client.exec("my-session", ["python3", "--version"])
        >>> print(result["stdout"])

    Args:
        base_url: Base URL of the NoxRunner backend. Required unless
            local_test is True.
        timeout: Request timeout in seconds (default: 30); a command's own
            run time is bounded by its timeout_seconds instead.
        local_test: Use local sandboxes on this machine instead of a server.
        api_key: (keyword) bearer token for the server; default
            ``$NOXRUNNER_API_KEY``.
        base_dir, isolation: (keyword) local sandbox options, see LocalBackend.
        transfer_timeout: (keyword) seconds a whole upload or download over
            HTTP may take (default: 3600), whether or not bytes keep moving;
            ``timeout`` still limits how long no byte moves. Past it the
            call raises NoxRunnerTimeoutError. Not used with local_test.
    """

    def __init__(self, base_url: Optional[str] = None, timeout: int = 30,
                 local_test: bool = False, *, api_key: Optional[str] = None,
                 base_dir: Optional[PathArg] = None, isolation: str = "auto",
                 transfer_timeout: Optional[float] = None) -> None:
        self._backend: SandboxBackend
        if local_test:
            from noxrunner.backend.local import LocalBackend

            self._backend = LocalBackend(base_dir=base_dir, isolation=isolation)
        elif base_url is None or base_url.strip() == "":
            raise ValueError(
                "base_url is required unless local_test=True. "
                "For local testing, set local_test=True explicitly."
            )
        else:
            from noxrunner.backend.http import HTTPSandboxBackend

            self._backend = HTTPSandboxBackend(base_url, timeout, api_key=api_key,
                                               transfer_timeout=transfer_timeout)

    @property
    def _cb(self) -> CoreBackend:
        b = self._backend
        if not isinstance(b, CoreBackend):  # a caller swapped in their own backend
            raise TypeError("this operation needs a core-backed backend")
        return b

    # -- the 2.0.0 API ----------------------------------------------------

    def health_check(self) -> bool:
        """True if the backend is healthy, False otherwise (never raises)."""
        return self._backend.health_check()

    def create_sandbox(
        self,
        session_id: str,
        ttl_seconds: int = 900,
        image: Optional[str] = None,
        cpu_limit: Optional[str] = None,
        memory_limit: Optional[str] = None,
        ephemeral_storage_limit: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Create or ensure a sandbox exists; {'podName', 'expiresAt'}."""
        return self._backend.create_sandbox(
            session_id, ttl_seconds, image, cpu_limit, memory_limit, ephemeral_storage_limit
        )

    def touch(self, session_id: str) -> bool:
        """Extend the TTL of a sandbox; True if successful."""
        return self._backend.touch(session_id)

    def exec(
        self,
        session_id: str,
        cmd: List[str],
        workdir: str = "/workspace",
        env: Optional[Dict[str, str]] = None,
        timeout_seconds: int = 30,
        *,
        stdin: Optional[Union[str, bytes]] = None,
    ) -> Dict[str, Any]:
        """Execute a command (argument vector, never through a shell).

        Returns an ExecResult: the dict {'exitCode', 'stdout', 'stderr',
        'durationMs'} with ``stdout_bytes``/``stderr_bytes`` and
        ``timed_out`` as attributes. ``stdin`` (new) is fed to the command.
        """
        if stdin is None:
            return self._backend.exec(session_id, cmd, workdir, env, timeout_seconds)
        return self._cb.exec(session_id, cmd, workdir, env, timeout_seconds,  # type: ignore[call-arg]
                             stdin=stdin)

    def exec_shell(
        self,
        session_id: str,
        command: str,
        workdir: str = "/workspace",
        env: Optional[Dict[str, str]] = None,
        timeout_seconds: int = 30,
        shell: str = "sh",
    ) -> Dict[str, Any]:
        """Run a shell command string with ``sh -c`` (or ``bash -c``);
        ValueError unless shell is 'sh' or 'bash'."""
        cmd = shell_argv(command, shell)
        return self._backend.exec(session_id, cmd, workdir, env, timeout_seconds)

    def upload_files(
        self, session_id: str, files: Dict[str, Union[str, bytes]], dest: str = "/workspace"
    ) -> bool:
        """Upload files (relative path -> str or bytes content); True."""
        return self._backend.upload_files(session_id, files, dest)

    def download_files(self, session_id: str, src: str = "/workspace") -> bytes:
        """Everything under src as a tar.gz archive (bytes)."""
        return self._backend.download_files(session_id, src)

    def download_workspace(
        self, session_id: str, local_dir: PathArg, src: str = "/workspace"
    ) -> bool:
        """Download src and extract it into local_dir (created if missing).

        Extraction happens in the C core and refuses absolute names, '..',
        links leaving local_dir and special files. True on success, False on
        any error (as in 2.0.0) or when nothing was extracted.
        """
        try:
            local = Path(local_dir)
            local.mkdir(parents=True, exist_ok=True)
            if isinstance(self._backend, CoreBackend):
                self._backend.download_to_dir(session_id, local, src)
                return _has_files(local)
            from noxrunner.fileops.tar_handler import TarHandler

            data = self._backend.download_files(session_id, src)
            return TarHandler().extract_tar(data, local) > 0
        except Exception:
            return False

    def delete_sandbox(self, session_id: str) -> bool:
        """Delete a sandbox; True if successful."""
        return self._backend.delete_sandbox(session_id)

    def wait_for_pod_ready(self, session_id: str, timeout: int = 30, interval: int = 2) -> bool:
        """Wait until the sandbox answers: True when ready, False on timeout."""
        return self._backend.wait_for_pod_ready(session_id, timeout, interval)

    # -- beyond 2.0.0 ---------------------------------------------------

    def sandbox(self, session_id: str, ttl_seconds: int = 900, *, image: Optional[str] = None,
                cpu_limit: Optional[str] = None, memory_limit: Optional[str] = None,
                ephemeral_storage_limit: Optional[str] = None, keep: bool = False) -> Sandbox:
        """A Sandbox object; as a context manager it is created on entry and
        deleted on exit (unless keep=True)."""
        return Sandbox(self._cb.core, session_id, ttl_seconds=ttl_seconds, image=image,
                       cpu_limit=cpu_limit, memory_limit=memory_limit,
                       ephemeral_storage_limit=ephemeral_storage_limit, keep=keep)

    def stream(self, session_id: str, cmd: Sequence[str], workdir: str = "/workspace",
               env: Optional[Mapping[str, str]] = None, timeout_seconds: int = 30, *,
               stdin: Optional[Union[str, bytes]] = None) -> ExecStream:
        """Start cmd and iterate over its output (see Sandbox.stream)."""
        return ExecStream(self._cb.core.exec_start(session_id, cmd, workdir, env,
                                                   timeout_seconds, stdin))

    def list_sandboxes(self) -> List[Dict[str, Any]]:
        """Live sandboxes: [{'sessionId', 'podName', 'expiresAt'}] (HTTP:
        needs a server with the introspection extension)."""
        return [{k: v for k, v in d.items() if k != "expiresAtUnix"}
                for d in self._cb.core.list()]

    def get_sandbox(self, session_id: str) -> Dict[str, Any]:
        """One sandbox: {'sessionId', 'podName', 'expiresAt'}."""
        d = self._cb.core.get(session_id)
        d.pop("expiresAtUnix", None)
        return d

    def info(self) -> Dict[str, Any]:
        """The backend's description (name, version, extensions, isolation)."""
        raw = self._cb.core.info()
        data = json.loads(raw.decode("utf-8")) if raw else {}
        return data if isinstance(data, dict) else {"info": data}

    @property
    def isolation(self) -> str:
        """Isolation in force: "namespaces", "none", or "auto" (unknown)."""
        return self._cb.core.isolation()

    @property
    def backend_name(self) -> str:
        """"local" or "http"."""
        return self._cb.core.backend

    def upload_dir(self, session_id: str, local_dir: PathArg, dest: str = "/workspace") -> bool:
        """Upload the contents of local_dir (symlinks kept, special files refused)."""
        return self._cb.upload_dir(session_id, local_dir, dest)

    def download_to_dir(self, session_id: str, local_dir: PathArg,
                        src: str = "/workspace") -> bool:
        """Like download_workspace, but errors raise instead of returning False."""
        return self._cb.download_to_dir(session_id, local_dir, src)

    def close(self) -> None:
        """Release the C client (idempotent). Sandboxes are not deleted."""
        b = self._backend
        if isinstance(b, CoreBackend):
            b.close()

    def __enter__(self) -> "NoxRunnerClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"NoxRunnerClient({self._backend!r})"


def _has_files(root: Path) -> bool:
    for _dirpath, _dirs, files in os.walk(root):
        if files:
            return True
    return False

