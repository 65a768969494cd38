"""asyncio client: the same methods as NoxRunnerClient, as coroutines.

Each call runs the (GIL-releasing) C call in a thread executor, so the
event loop never blocks:

    async with AsyncNoxRunnerClient("http://127.0.0.1:8080") as client:
        async with client.sandbox("job") as sb:
            r = await sb.exec(["echo", "hi"])
            async for event in sb.stream(["python3", "train.py"]):
                ...
"""

from __future__ import annotations

import asyncio
import functools
import os
from concurrent.futures import Executor
from typing import (Any, AsyncIterator, Callable, Dict, List, Mapping, Optional, Sequence,
                    TypeVar, Union)

from noxrunner.client import NoxRunnerClient
from noxrunner.results import ExecResult, OutputChunk
from noxrunner.sandbox import Sandbox
from noxrunner.stream import ExecStream

__all__ = ["AsyncNoxRunnerClient", "AsyncSandbox", "AsyncExecStream"]

T = TypeVar("T")
PathArg = Union[str, "os.PathLike[str]"]


class _Runner:
    def __init__(self, executor: Optional[Executor]) -> None:
        self._executor = executor

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor,
                                          functools.partial(fn, *args, **kwargs))


class AsyncExecStream(AsyncIterator[Union[OutputChunk, ExecResult]]):
    """Async iterator over a running command's output; leaving the loop
    (or aclose()) cancels the command."""

    def __init__(self, runner: _Runner, start: Callable[[], ExecStream]) -> None:
        self._runner = runner
        self._start = start
        self._stream: Optional[ExecStream] = None

    def __aiter__(self) -> "AsyncExecStream":
        return self

    async def __anext__(self) -> Union[OutputChunk, ExecResult]:
        if self._stream is None:
            self._stream = await self._runner.run(self._start)
        try:
            ev = await self._runner.run(self._stream.next_event, None)
        except asyncio.CancelledError:
            # The task was cancelled while a thread waits for output: stop
            # the command so that thread returns and nothing keeps running.
            self._stream.cancel()
            raise
        if ev is None:
            raise StopAsyncIteration
        return ev

    @property
    def result(self) -> Optional[ExecResult]:
        return None if self._stream is None else self._stream.result

    def cancel(self) -> None:
        if self._stream is not None:
            self._stream.cancel()

    async def aclose(self) -> None:
        s = self._stream
        if s is not None:
            s.cancel()
            await self._runner.run(s.close)

    async def __aenter__(self) -> "AsyncExecStream":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        s = self._stream
        if s is not None:
            try:
                s.cancel()
                s.close()
            except Exception:
                pass


class AsyncSandbox:
    """Sandbox with coroutine methods; ``async with`` creates and deletes."""

    def __init__(self, sandbox: Sandbox, runner: _Runner) -> None:
        self.sync = sandbox
        self._r = runner

    @property
    def session_id(self) -> str:
        return self.sync.session_id

    @property
    def info(self) -> Optional[Dict[str, Any]]:
        return self.sync.info

    async def __aenter__(self) -> "AsyncSandbox":
        await self.create()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._r.run(self.sync.__exit__, None, None, None)

    async def create(self) -> Dict[str, Any]:
        return await self._r.run(self.sync.create)

    async def delete(self) -> None:
        await self._r.run(self.sync.delete)

    async def touch(self) -> None:
        await self._r.run(self.sync.touch)

    async def wait_ready(self, timeout: float = 30) -> None:
        await self._r.run(self.sync.wait_ready, timeout)

    async def exec(self, cmd: Sequence[str], workdir: str = "/workspace",
                   env: Optional[Mapping[str, str]] = None, timeout_seconds: int = 30, *,
                   stdin: Optional[Union[str, bytes]] = None) -> ExecResult:
        return await self._r.run(self.sync.exec, cmd, workdir, env, timeout_seconds,
                                 stdin=stdin)

    async def exec_shell(self, command: str, workdir: str = "/workspace",
                         env: Optional[Mapping[str, str]] = None, timeout_seconds: int = 30,
                         shell: str = "sh") -> ExecResult:
        return await self._r.run(self.sync.exec_shell, command, workdir, env,
                                 timeout_seconds, shell)

    def stream(self, cmd: Sequence[str], workdir: str = "/workspace",
               env: Optional[Mapping[str, str]] = None, timeout_seconds: int = 30, *,
               stdin: Optional[Union[str, bytes]] = None) -> AsyncExecStream:
        return AsyncExecStream(self._r, functools.partial(
            self.sync.stream, cmd, workdir, env, timeout_seconds, stdin=stdin))

    async def upload_files(self, files: Mapping[str, Union[str, bytes]],
                           dest: str = "/workspace") -> None:
        await self._r.run(self.sync.upload_files, files, dest)

    async def upload_dir(self, local_dir: PathArg, dest: str = "/workspace") -> None:
        await self._r.run(self.sync.upload_dir, local_dir, dest)

    async def download_files(self, src: str = "/workspace") -> bytes:
        return await self._r.run(self.sync.download_files, src)

    async def download_to_dir(self, local_dir: PathArg, src: str = "/workspace") -> None:
        await self._r.run(self.sync.download_to_dir, local_dir, src)


class AsyncNoxRunnerClient:
    """NoxRunnerClient's methods as coroutines (same names and parameters).

    ``executor``: where the C calls run (default: the loop's default
    thread pool)."""

    def __init__(self, base_url: Optional[str] = None, timeout: int = 30,
                 local_test: bool = False, *, api_key: Optional[str] = None,
                 base_dir: Optional[PathArg] = None, isolation: str = "auto",
                 transfer_timeout: Optional[float] = None,
                 executor: Optional[Executor] = None) -> None:
        self.sync = NoxRunnerClient(base_url, timeout, local_test, api_key=api_key,
                                    base_dir=base_dir, isolation=isolation,
                                    transfer_timeout=transfer_timeout)
        self._r = _Runner(executor)

    async def health_check(self) -> bool:
        return await self._r.run(self.sync.health_check)

    async def create_sandbox(self, session_id: str, ttl_seconds: int = 900,
                             image: Optional[str] = None, cpu_limit: Optional[str] = None,
                             memory_limit: Optional[str] = None,
                             ephemeral_storage_limit: Optional[str] = None) -> Dict[str, Any]:
        return await self._r.run(self.sync.create_sandbox, session_id, ttl_seconds, image,
                                 cpu_limit, memory_limit, ephemeral_storage_limit)

    async def touch(self, session_id: str) -> bool:
        return await self._r.run(self.sync.touch, session_id)

    async def exec(self, session_id: str, cmd: List[str], workdir: str = "/workspace",
                   env: Optional[Dict[str, str]] = None, timeout_seconds: int = 30, *,
                   stdin: Optional[Union[str, bytes]] = None) -> Dict[str, Any]:
        return await self._r.run(self.sync.exec, session_id, cmd, workdir, env,
                                 timeout_seconds, stdin=stdin)

    async def exec_shell(self, session_id: str, command: str, workdir: str = "/workspace",
                         env: Optional[Dict[str, str]] = None, timeout_seconds: int = 30,
                         shell: str = "sh") -> Dict[str, Any]:
        if shell not in ("sh", "bash"):
            raise ValueError(f"shell must be 'sh' or 'bash', got: {shell}")
        return await self._r.run(self.sync.exec_shell, session_id, command, workdir, env,
                                 timeout_seconds, shell)

    async def upload_files(self, session_id: str, files: Dict[str, Union[str, bytes]],
                           dest: str = "/workspace") -> bool:
        return await self._r.run(self.sync.upload_files, session_id, files, dest)

    async def download_files(self, session_id: str, src: str = "/workspace") -> bytes:
        return await self._r.run(self.sync.download_files, session_id, src)

    async def download_workspace(self, session_id: str, local_dir: PathArg,
                                 src: str = "/workspace") -> bool:
        return await self._r.run(self.sync.download_workspace, session_id, local_dir, src)

    async def delete_sandbox(self, session_id: str) -> bool:
        return await self._r.run(self.sync.delete_sandbox, session_id)

    async def wait_for_pod_ready(self, session_id: str, timeout: int = 30,
                                 interval: int = 2) -> bool:
        return await self._r.run(self.sync.wait_for_pod_ready, session_id, timeout, interval)

    # -- beyond 2.0.0 ---------------------------------------------------

    def sandbox(self, session_id: str, ttl_seconds: int = 900, *, image: Optional[str] = None,
                cpu_limit: Optional[str] = None, memory_limit: Optional[str] = None,
                ephemeral_storage_limit: Optional[str] = None,
                keep: bool = False) -> AsyncSandbox:
        return AsyncSandbox(self.sync.sandbox(
            session_id, ttl_seconds, image=image, cpu_limit=cpu_limit,
            memory_limit=memory_limit, ephemeral_storage_limit=ephemeral_storage_limit,
            keep=keep), self._r)

    def stream(self, session_id: str, cmd: Sequence[str], workdir: str = "/workspace",
               env: Optional[Mapping[str, str]] = None, timeout_seconds: int = 30, *,
               stdin: Optional[Union[str, bytes]] = None) -> AsyncExecStream:
        return AsyncExecStream(self._r, functools.partial(
            self.sync.stream, session_id, cmd, workdir, env, timeout_seconds, stdin=stdin))

    async def list_sandboxes(self) -> List[Dict[str, Any]]:
        return await self._r.run(self.sync.list_sandboxes)

    async def get_sandbox(self, session_id: str) -> Dict[str, Any]:
        return await self._r.run(self.sync.get_sandbox, session_id)

    async def info(self) -> Dict[str, Any]:
        return await self._r.run(self.sync.info)

    async def upload_dir(self, session_id: str, local_dir: PathArg,
                         dest: str = "/workspace") -> bool:
        return await self._r.run(self.sync.upload_dir, session_id, local_dir, dest)

    async def download_to_dir(self, session_id: str, local_dir: PathArg,
                              src: str = "/workspace") -> bool:
        return await self._r.run(self.sync.download_to_dir, session_id, local_dir, src)

    async def aclose(self) -> None:
        await self._r.run(self.sync.close)

    def close(self) -> None:
        self.sync.close()

    async def __aenter__(self) -> "AsyncNoxRunnerClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
