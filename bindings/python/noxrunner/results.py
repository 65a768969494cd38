"""Result types: the 2.0.0 exec dict (with raw bytes beside it) and
streaming events."""

from __future__ import annotations

from typing import Any, Dict, Union

__all__ = ["ExecResult", "OutputChunk", "make_exec_result"]


class ExecResult(Dict[str, Any]):
    """The dict noxrunner 2.0.0's exec returns - exactly the keys
    ``exitCode``, ``stdout``, ``stderr`` (str) and ``durationMs`` - plus
    attributes with what the dict cannot hold:

    - ``stdout_bytes`` / ``stderr_bytes``: the raw output (``stdout`` and
      ``stderr`` are it decoded as UTF-8, invalid bytes replaced by U+FFFD);
    - ``timed_out``, ``signal``, ``stdout_truncated``, ``stderr_truncated``.

    It compares equal to, and serialises like, the plain dict.
    """

    stdout_bytes: bytes
    stderr_bytes: bytes
    timed_out: bool
    signal: int
    stdout_truncated: bool
    stderr_truncated: bool

    def __init__(self, exit_code: int = 0, stdout: bytes = b"", stderr: bytes = b"",
                 duration_ms: int = 0, *, timed_out: bool = False, signal: int = 0,
                 stdout_truncated: bool = False, stderr_truncated: bool = False) -> None:
        super().__init__(
            exitCode=exit_code,
            stdout=stdout.decode("utf-8", errors="replace"),
            stderr=stderr.decode("utf-8", errors="replace"),
            durationMs=duration_ms,
        )
        self.stdout_bytes = stdout
        self.stderr_bytes = stderr
        self.timed_out = timed_out
        self.signal = signal
        self.stdout_truncated = stdout_truncated
        self.stderr_truncated = stderr_truncated

    @property
    def exit_code(self) -> int:
        return int(self["exitCode"])

    @property
    def duration_ms(self) -> int:
        return int(self["durationMs"])

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.exit_code == 0

    def __repr__(self) -> str:
        return f"ExecResult({dict.__repr__(self)})"


_new_dict = dict.__new__


def make_exec_result(exit_code: int, stdout: bytes, stderr: bytes, duration_ms: int,
                     timed_out: bool, signal: int, stdout_truncated: bool,
                     stderr_truncated: bool) -> ExecResult:
    """ExecResult(...) with every argument given, built without the
    keyword-argument __init__ (this runs after every exec): the same keys in
    the same order, the same attributes."""
    r: ExecResult = _new_dict(ExecResult)
    r["exitCode"] = exit_code
    r["stdout"] = stdout.decode("utf-8", "replace") if stdout else ""
    r["stderr"] = stderr.decode("utf-8", "replace") if stderr else ""
    r["durationMs"] = duration_ms
    r.__dict__ = {"stdout_bytes": stdout, "stderr_bytes": stderr, "timed_out": timed_out,
                  "signal": signal, "stdout_truncated": stdout_truncated,
                  "stderr_truncated": stderr_truncated}
    return r


class OutputChunk:
    """One piece of a streamed command's output."""

    __slots__ = ("stream", "data")

    def __init__(self, stream: str, data: bytes) -> None:
        #: "stdout" or "stderr"
        self.stream = stream
        self.data = data

    @property
    def text(self) -> str:
        """The chunk decoded as UTF-8 (a multi-byte character split across
        two chunks shows as U+FFFD; join the bytes to avoid that)."""
        return self.data.decode("utf-8", errors="replace")

    def __repr__(self) -> str:
        return f"OutputChunk({self.stream!r}, {self.data!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OutputChunk):
            return NotImplemented
        return (self.stream, self.data) == (other.stream, other.data)

    def __hash__(self) -> int:
        return hash((self.stream, self.data))


StreamEvent = Union[OutputChunk, ExecResult]
