"""Streaming exec: iterate over a running command's output.

    for event in sb.stream(["python3", "train.py"]):
        if isinstance(event, OutputChunk):
            print(event.text, end="")
        else:                       # the ExecResult, always last
            print("exit", event["exitCode"])

Leaving the loop early (break, an exception, close(), or the stream being
garbage collected) cancels the command and everything it started.
"""

from __future__ import annotations

import time
from typing import Iterator, Optional, Union

from noxrunner._core import EVENT_EXIT, EVENT_NONE, EVENT_STDERR, ExecStreamHandle
from noxrunner.results import ExecResult, OutputChunk

__all__ = ["ExecStream"]

# Short waits in C so Ctrl-C (handled between C calls) stays responsive.
_POLL_MS = 200


class ExecStream(Iterator[Union[OutputChunk, ExecResult]]):
    """An iterator of OutputChunk events followed by the final ExecResult
    (whose stdout/stderr are empty: the output went out as chunks)."""

    def __init__(self, handle: ExecStreamHandle) -> None:
        self._h: Optional[ExecStreamHandle] = handle
        self._done = False
        #: The final result once the command exited; None before.
        self.result: Optional[ExecResult] = None

    def __iter__(self) -> "ExecStream":
        return self

    def __next__(self) -> Union[OutputChunk, ExecResult]:
        ev = self.next_event(None)
        if ev is None:
            raise StopIteration
        return ev

    def next_event(self, timeout: Optional[float]) -> Optional[Union[OutputChunk, ExecResult]]:
        """The next event, waiting at most `timeout` seconds (None: no
        limit). Returns None at the end, and raises TimeoutError when the
        wait passed with nothing new."""
        if self._done or self._h is None:
            return None
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = _POLL_MS
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no output within the wait")
                wait = max(1, min(_POLL_MS, int(left * 1000)))
            try:
                kind, data = self._h.next(wait)
            except BaseException:
                self.close()
                raise
            if kind == EVENT_NONE:
                continue
            if kind == EVENT_EXIT:
                self.result = self._h.result()
                self._done = True
                self.close()
                return self.result if self.result is not None else ExecResult()
            return OutputChunk("stderr" if kind == EVENT_STDERR else "stdout", data)

    def cancel(self) -> None:
        """Kill the command (safe from any thread); iteration then ends
        with CanceledError."""
        h = self._h
        if h is not None:
            h.cancel()

    def close(self) -> None:
        """Stop: kill the command if still running and free the stream."""
        h, self._h = self._h, None
        if h is not None:
            if not self._done:
                h.cancel()
            h.close()

    def __enter__(self) -> "ExecStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
