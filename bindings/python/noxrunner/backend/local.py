"""
Local sandbox backend for NoxRunner, on the C core.

Unlike noxrunner 2.0.0's local mode (commands run in your own environment
behind a command blocklist), every sandbox here is a real one: a
long-lived ``nox-sandbox`` agent that is pid 1 of its own namespaces when
the host allows it (``isolation="auto"``, the default), with the workspace
at ``/workspace``, a clean environment and the TTL enforced. Sandboxes live
under ``base_dir`` and are found again by any later process, so a sandbox
created by one program (or ``noxrc`` call) is there for the next.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import Callable, Dict, List, Optional, TypeVar, Union

from noxrunner._core import Core
from noxrunner.backend._corebackend import DEFAULT_WORKDIR, CoreBackend, timeout_note
from noxrunner.exceptions import (InvalidArgumentError, NoxRunnerError, SandboxNotFoundError,
                                  make_error)
from noxrunner.results import ExecResult

__all__ = ["LocalBackend", "IsolationWarning"]

T = TypeVar("T")


_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _caller_stacklevel() -> int:
    """The stacklevel of the first frame outside this package, so a warning
    points at the user's line (NoxRunnerClient(...)), not ours."""
    level = 2  # 1 is LocalBackend.__init__, which calls warnings.warn
    f = sys._getframe(2)  # whoever called LocalBackend(...)
    while f is not None and f.f_code.co_filename.startswith(_PKG):
        f = f.f_back  # type: ignore[assignment]
        level += 1
    return level


class IsolationWarning(UserWarning):
    """Commands run without namespace isolation (they share the host's view)."""


class LocalBackend(CoreBackend):
    """
    Local sandbox backend.

    Args:
        base_dir: where sandboxes keep their state and workspaces (created
            0700). None: ``$NOXRUNNER_HOME``, else a per-user directory under
            the temp dir. (2.0.0 defaulted to the shared ``/tmp`` itself.)
        isolation: "auto" (strongest the host allows), "namespaces" (an
            error if the host cannot do it) or "none".
        agent_path: the nox-sandbox program; default: the one shipped in
            this package (or ``$NOXRUNNER_AGENT``).
    """

    def __init__(self, base_dir: Optional[Union[str, "os.PathLike[str]"]] = None, *,
                 isolation: str = "auto", agent_path: Optional[str] = None) -> None:
        if base_dir is None and os.environ.get("NOXRUNNER_HOME"):
            base_dir = os.environ["NOXRUNNER_HOME"]
        self.base_dir: Optional[Path] = Path(base_dir) if base_dir is not None else None
        self._core = Core(backend="local", base_dir=base_dir, isolation=isolation,
                          agent=agent_path)
        self.isolation = self._core.isolation()
        if self.isolation == "none" and isolation == "auto":
            warnings.warn(
                "noxrunner local sandboxes run WITHOUT namespace isolation on this host "
                f"({self._fallback_reason()}): commands share the host's view of the "
                "file system and network",
                IsolationWarning, stacklevel=_caller_stacklevel())

    def _fallback_reason(self) -> str:
        """Why `auto` resolved to `none`, as the core explains it."""
        try:
            doc = json.loads(self._core.info())
        except (NoxRunnerError, ValueError):
            return "reason unknown"
        reason = doc.get("isolationFallbackReason") if isinstance(doc, dict) else None
        return str(reason) if reason else "isolation pinned by NOXRUNNER_ISOLATION"

    def _on_sandbox(self, session_id: str, call: Callable[[], T]) -> T:
        """call(); when the sandbox does not exist, create it with the
        defaults and call again (2.0.0's local mode made one on any use)."""
        try:
            return call()
        except SandboxNotFoundError:
            self._core.create(session_id)
            return call()

    def touch(self, session_id: str) -> bool:
        """Extend the TTL; like 2.0.0, an unknown sandbox is created."""
        self._on_sandbox(session_id, lambda: self._core.touch(session_id))
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
        """Run cmd; like 2.0.0, an unknown sandbox is created first, and a
        command that cannot be run (empty, bad workdir) gives exitCode 1
        with the reason in stderr rather than an exception."""
        try:
            r = self._on_sandbox(session_id, lambda: self._core.exec(
                session_id, cmd, workdir, env, timeout_seconds, stdin))
        except InvalidArgumentError as e:
            return ExecResult(1, b"", f"Command not run: {e}".encode("utf-8"), 0)
        return timeout_note(r, timeout_seconds) if r.timed_out else r

    def upload_files(
        self, session_id: str, files: Dict[str, Union[str, bytes]], dest: str = DEFAULT_WORKDIR
    ) -> bool:
        """Upload files; an unknown sandbox is created first. Names that
        would leave dest ("..", absolute paths) raise InvalidArgumentError
        (2.0.0 silently rewrote them to their base name)."""
        self._on_sandbox(session_id, lambda: self._core.upload_files(session_id, files, dest))
        return True

    def download_files(self, session_id: str, src: str = DEFAULT_WORKDIR) -> bytes:
        """The tar.gz of src. A missing sandbox or path raises
        SandboxNotFoundError, which is also a ValueError as in 2.0.0."""
        try:
            return self._core.download(session_id, src)
        except SandboxNotFoundError as e:
            raise make_error(e.code, f"{e.message} (does not exist)", 0,
                             e.response_body.encode("utf-8"), (ValueError,)) from None

    def delete_sandbox(self, session_id: str) -> bool:
        """Delete; False when there was no such sandbox (as in 2.0.0)."""
        try:
            self._core.delete(session_id)
        except SandboxNotFoundError:
            return False
        return True

    def wait_for_pod_ready(self, session_id: str, timeout: int = 30, interval: int = 2) -> bool:
        """Wait until the sandbox answers; an unknown one is created first."""
        self._on_sandbox(session_id, lambda: self._core.get(session_id))
        return self._wait_ready(session_id, timeout, interval)

    def __repr__(self) -> str:
        return f"LocalBackend(base_dir={str(self.base_dir) if self.base_dir else None!r})"
