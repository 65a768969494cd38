"""A sandbox as an object: the idiomatic way to use one.

    with client.sandbox("job-42", ttl_seconds=600) as sb:
        sb.upload_files({"main.py": "print('hi')"})
        print(sb.exec(["python3", "main.py"])["stdout"])
    # deleted here, unless keep=True

Errors always raise typed exceptions (no 2.0.0 auto-create or
error-as-result rules here).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Union

from noxrunner._core import Core
from noxrunner.backend._corebackend import DEFAULT_WORKDIR
from noxrunner.exceptions import SandboxNotFoundError
from noxrunner.results import ExecResult
from noxrunner.stream import ExecStream

__all__ = ["Sandbox"]

PathArg = Union[str, "os.PathLike[str]"]


def shell_argv(command: str, shell: str) -> list:  # type: ignore[type-arg]
    if shell not in ("sh", "bash"):
        raise ValueError(f"shell must be 'sh' or 'bash', got: {shell}")
    return [shell, "-c", command]


class Sandbox:
    """One sandbox (session id) on a client's backend."""

    def __init__(self, core: Core, session_id: str, *, ttl_seconds: int = 900,
                 image: Optional[str] = None, cpu_limit: Optional[str] = None,
                 memory_limit: Optional[str] = None,
                 ephemeral_storage_limit: Optional[str] = None, keep: bool = False) -> None:
        self._core = core
        self.session_id = session_id
        self.ttl_seconds = ttl_seconds
        self.keep = keep
        self._create_args = (ttl_seconds, image, cpu_limit, memory_limit,
                             ephemeral_storage_limit)
        #: The last known {"sessionId", "podName", "expiresAt"}.
        self.info: Optional[Dict[str, Any]] = None

    # -- lifetime -------------------------------------------------------

    def create(self) -> Dict[str, Any]:
        """Create the sandbox, or refresh the live one's TTL."""
        self.info = self._core.create(self.session_id, *self._create_args)
        return self.info

    def __enter__(self) -> "Sandbox":
        self.create()
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.keep:
            try:
                self.delete()
            except SandboxNotFoundError:
                pass

    def delete(self) -> None:
        self._core.delete(self.session_id)

    def touch(self) -> None:
        self._core.touch(self.session_id)

    def refresh(self) -> Dict[str, Any]:
        """Look the sandbox up again (expiresAt after touches)."""
        self.info = self._core.get(self.session_id)
        return self.info

    def wait_ready(self, timeout: float = 30) -> None:
        """Block until the sandbox answers; NoxRunnerTimeoutError if not."""
        self._core.wait_ready(self.session_id, int(timeout * 1000))

    @property
    def pod_name(self) -> Optional[str]:
        return None if self.info is None else str(self.info["podName"])

    @property
    def expires_at(self) -> Optional[str]:
        return None if self.info is None else str(self.info["expiresAt"])

    # -- commands -------------------------------------------------------

    def exec(self, cmd: Sequence[str], workdir: str = DEFAULT_WORKDIR,
             env: Optional[Mapping[str, str]] = None, timeout_seconds: int = 30, *,
             stdin: Optional[Union[str, bytes]] = None,
             max_output_bytes: Optional[int] = None) -> ExecResult:
        """Run cmd (an argument vector, never through a shell). A command
        that outlives timeout_seconds is killed: exitCode 124, timed_out."""
        return self._core.exec(self.session_id, cmd, workdir, env, timeout_seconds, stdin,
                               max_output_bytes)

    def exec_shell(self, command: str, workdir: str = DEFAULT_WORKDIR,
                   env: Optional[Mapping[str, str]] = None, timeout_seconds: int = 30,
                   shell: str = "sh", *,
                   stdin: Optional[Union[str, bytes]] = None,
                   max_output_bytes: Optional[int] = None) -> ExecResult:
        return self.exec(shell_argv(command, shell), workdir, env, timeout_seconds,
                         stdin=stdin, max_output_bytes=max_output_bytes)

    def stream(self, cmd: Sequence[str], workdir: str = DEFAULT_WORKDIR,
               env: Optional[Mapping[str, str]] = None, timeout_seconds: int = 30, *,
               stdin: Optional[Union[str, bytes]] = None,
               max_output_bytes: Optional[int] = None) -> ExecStream:
        """Start cmd and iterate over its output as it comes (OutputChunk
        events, then the ExecResult). Leaving the loop cancels the command."""
        return ExecStream(self._core.exec_start(self.session_id, cmd, workdir, env,
                                                timeout_seconds, stdin, max_output_bytes))

    # -- files ----------------------------------------------------------

    def upload_files(self, files: Mapping[str, Union[str, bytes]],
                     dest: str = DEFAULT_WORKDIR, *,
                     modes: Optional[Mapping[str, int]] = None) -> None:
        """Upload {relative path: content}; ``modes`` gives permission bits
        per path (default 0644). Names with '..' or a leading '/' raise
        InvalidArgumentError."""
        self._core.upload_files(self.session_id, files, dest, modes)

    def upload_targz(self, data: bytes, dest: str = DEFAULT_WORKDIR) -> None:
        """Upload a ready tar.gz archive (extracted safely inside the sandbox)."""
        self._core.upload_targz(self.session_id, data, dest)

    def upload_dir(self, local_dir: PathArg, dest: str = DEFAULT_WORKDIR) -> None:
        """Upload the contents of local_dir into dest."""
        self._core.upload_dir(self.session_id, local_dir, dest)

    def download_files(self, src: str = DEFAULT_WORKDIR) -> bytes:
        """Everything under src as tar.gz bytes."""
        return self._core.download(self.session_id, src)

    def download_to_dir(self, local_dir: PathArg, src: str = DEFAULT_WORKDIR) -> None:
        """Download src and extract it safely into local_dir."""
        Path(local_dir).mkdir(parents=True, exist_ok=True)
        self._core.download_to_dir(self.session_id, src, local_dir)

    def __repr__(self) -> str:
        return f"Sandbox({self.session_id!r}, backend={self._core.backend!r})"
