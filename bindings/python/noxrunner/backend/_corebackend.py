"""What the two core-backed backends share."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from noxrunner._core import Core
from noxrunner.backend.base import SandboxBackend
from noxrunner.exceptions import NoxRunnerError, NoxRunnerTimeoutError
from noxrunner.results import ExecResult

DEFAULT_WORKDIR = "/workspace"


def timeout_note(result: ExecResult, timeout_seconds: Optional[int]) -> ExecResult:
    """2.0.0 said so in stderr when a command timed out; keep saying it."""
    if result.timed_out and "timed out" not in result["stderr"].lower():
        note = f"Command timed out after {timeout_seconds or 30} seconds"
        sep = "" if not result["stderr"] or result["stderr"].endswith("\n") else "\n"
        result["stderr"] = result["stderr"] + sep + note
    return result


class CoreBackend(SandboxBackend):
    """A SandboxBackend whose every call goes to the C core."""

    _core: Core

    @property
    def core(self) -> Core:
        return self._core

    def close(self) -> None:
        """Release the C client. Idempotent."""
        self._core.close()

    def __enter__(self) -> "CoreBackend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def health_check(self) -> bool:
        try:
            self._core.health()
            return True
        except Exception:
            return False

    def create_sandbox(
        self,
        session_id: str,
        ttl_seconds: int = 900,
        image: Optional[str] = None,
        cpu_limit: Optional[str] = None,
        memory_limit: Optional[str] = None,
        ephemeral_storage_limit: Optional[str] = None,
    ) -> Dict[str, Any]:
        info = self._core.create(session_id, ttl_seconds, image, cpu_limit, memory_limit,
                                 ephemeral_storage_limit)
        return {"podName": info["podName"], "expiresAt": info["expiresAt"]}

    def _exec(self, session_id: str, cmd: Sequence[str], workdir: Optional[str],
              env: Optional[Mapping[str, str]], timeout_seconds: Optional[int],
              stdin: Optional[Union[str, bytes]] = None) -> ExecResult:
        r = self._core.exec(session_id, cmd, workdir, env, timeout_seconds, stdin)
        return timeout_note(r, timeout_seconds) if r.timed_out else r

    def _wait_ready(self, session_id: str, timeout: float, interval: float) -> bool:
        deadline = time.monotonic() + max(0.0, float(timeout))
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                self._core.wait_ready(session_id, int(left * 1000))
                return True
            except NoxRunnerTimeoutError:
                return False
            except NoxRunnerError:
                # Not there yet (being created elsewhere, or the server is
                # restarting): poll like 2.0.0 did.
                time.sleep(min(max(float(interval), 0.05), max(0.0, deadline - time.monotonic())))

    # -- beyond 2.0.0 ---------------------------------------------------

    def list_sandboxes(self) -> List[Dict[str, Any]]:
        return self._core.list()

    def upload_dir(self, session_id: str, local_dir: Union[str, "os.PathLike[str]"],
                   dest: str = DEFAULT_WORKDIR) -> bool:
        self._core.upload_dir(session_id, local_dir, dest)
        return True

    def download_to_dir(self, session_id: str, local_dir: Union[str, "os.PathLike[str]"],
                        src: str = DEFAULT_WORKDIR) -> bool:
        Path(local_dir).mkdir(parents=True, exist_ok=True)
        self._core.download_to_dir(session_id, src, local_dir)
        return True
