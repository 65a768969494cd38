"""The language-neutral scenarios (tests/scenarios/*.json), played through
the Python binding against both backends. A scenario that passes in
another language and fails here is a bug in this binding."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import tarfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, List, Optional, Set

import pytest

import noxrunner
from noxrunner import NoxRunnerClient, NoxRunnerError, OutputChunk, Sandbox

SCEN_DIR = Path(os.environ.get("NOX_SCENARIOS") or
                Path(__file__).resolve().parents[1] / "scenarios")
SCENARIOS = sorted(SCEN_DIR.glob("*.json"))


def _cases() -> List[Any]:
    out = []
    for path in SCENARIOS:
        doc = json.loads(path.read_text())
        for backend in doc.get("backends", ["local", "http"]):
            out.append(pytest.param(path, backend, id=f"{backend}-{path.stem}"))
    return out


class Failure(AssertionError):
    pass


class Player:
    def __init__(self, client: NoxRunnerClient, backend: str, name: str) -> None:
        self.client = client
        self.core = client._cb.core  # the typed layer every idiom sits on
        self.prefix = f"py-{backend}-{os.getpid()}-{name}"
        self.sessions: Set[str] = set()

    def sid(self, text: str) -> str:
        def repl(m: "re.Match[str]") -> str:
            n = m.group(1) or "1"
            return f"{self.prefix}-{n}"
        s = re.sub(r"\$S([23]?)", repl, text)
        self.sessions.add(s)
        return s

    def sandbox(self, step: Dict[str, Any]) -> Sandbox:
        sb = Sandbox(self.core, self.sid(step["session"]),
                     ttl_seconds=int(step.get("ttl", 900)), image=step.get("image"),
                     cpu_limit=step.get("cpu_limit"), memory_limit=step.get("memory_limit"))
        return sb

    def cleanup(self) -> None:
        for s in self.sessions:
            try:
                self.core.delete(s)
            except Exception:
                pass

    # -- steps ----------------------------------------------------------

    def play(self, i: int, step: Dict[str, Any], index: Optional[int] = None) -> None:
        if index is not None:
            step = json.loads(json.dumps(step).replace("$I", str(index)))
        expect = step.get("expect", {})
        op = step["op"]
        try:
            value = getattr(self, "op_" + op)(step)
        except NoxRunnerError as e:
            if expect.get("error") == e.code:
                if "message_contains" in expect:
                    self.check(i, expect["message_contains"] in str(e),
                               f"message {str(e)!r} lacks {expect['message_contains']!r}")
                return
            raise Failure(f"step {i} ({op}): unexpected {e.code}: {e}") from e
        if "error" in expect:
            raise Failure(f"step {i} ({op}): expected {expect['error']}, got success")
        checker = getattr(self, "check_" + op, None)
        if checker is not None:
            checker(i, value, expect)

    def check(self, i: int, ok: bool, what: str) -> None:
        if not ok:
            raise Failure(f"step {i}: {what}")

    def op_health(self, step: Dict[str, Any]) -> None:
        self.core.health()

    def op_create(self, step: Dict[str, Any]) -> Dict[str, Any]:
        return self.sandbox(step).create()

    def check_create(self, i: int, info: Dict[str, Any], expect: Dict[str, Any]) -> None:
        self.check(i, bool(info["podName"]), "empty podName")
        try:
            datetime.strptime(info["expiresAt"].replace("Z", "+0000")[:19], "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            raise Failure(f"step {i}: expiresAt {info['expiresAt']!r} is not ISO-8601")

    def op_touch(self, step: Dict[str, Any]) -> None:
        self.sandbox(step).touch()

    def op_delete(self, step: Dict[str, Any]) -> None:
        self.sandbox(step).delete()

    def op_wait_ready(self, step: Dict[str, Any]) -> None:
        self.sandbox(step).wait_ready(int(step.get("timeout_ms", 30000)) / 1000)

    def op_sleep(self, step: Dict[str, Any]) -> None:
        time.sleep(float(step["seconds"]))

    @staticmethod
    def _stdin(step: Dict[str, Any]) -> Optional[bytes]:
        if "stdin_b64" in step:
            return base64.b64decode(step["stdin_b64"])
        if "stdin" in step:
            return str(step["stdin"]).encode("utf-8")
        return None

    def _exec_kwargs(self, step: Dict[str, Any]) -> Dict[str, Any]:
        return dict(workdir=step.get("workdir", "/workspace"), env=step.get("env"),
                    timeout_seconds=int(step.get("timeout", 30)), stdin=self._stdin(step),
                    max_output_bytes=step.get("max_output"))

    def op_exec(self, step: Dict[str, Any]) -> Dict[str, Any]:
        r = self.sandbox(step).exec(step["cmd"], **self._exec_kwargs(step))
        return self._norm(r)

    def op_exec_shell(self, step: Dict[str, Any]) -> Dict[str, Any]:
        r = self.sandbox(step).exec_shell(step["command"], shell=step.get("shell", "sh"),
                                          **self._exec_kwargs(step))
        return self._norm(r)

    @staticmethod
    def _norm(r: noxrunner.ExecResult) -> Dict[str, Any]:
        return {"exit_code": r.exit_code, "stdout": r.stdout_bytes, "stderr": r.stderr_bytes,
                "timed_out": r.timed_out, "stdout_truncated": r.stdout_truncated,
                "stderr_truncated": r.stderr_truncated, "duration_ms": r.duration_ms,
                "chunks": None}

    def op_stream(self, step: Dict[str, Any]) -> Dict[str, Any]:
        kw = self._exec_kwargs(step)
        out, err, chunks = b"", b"", 0
        result: Optional[noxrunner.ExecResult] = None
        with self.sandbox(step).stream(step["cmd"], **kw) as st:
            for ev in st:
                if isinstance(ev, OutputChunk):
                    chunks += 1
                    if ev.stream == "stdout":
                        out += ev.data
                        if step.get("cancel_after_first_chunk"):
                            st.cancel()
                    else:
                        err += ev.data
                else:
                    result = ev
        assert result is not None
        d = self._norm(result)
        d.update(stdout=out, stderr=err, chunks=chunks)
        return d

    def check_exec(self, i: int, r: Dict[str, Any], e: Dict[str, Any]) -> None:
        def contains(data: bytes, want: Any) -> bool:
            wants = want if isinstance(want, list) else [want]
            return all(w.encode("utf-8") in data for w in wants)
        checks = {
            "exit_code": lambda v: r["exit_code"] == v,
            "exit_code_not": lambda v: r["exit_code"] != v,
            "stdout": lambda v: r["stdout"] == v.encode("utf-8"),
            "stderr": lambda v: r["stderr"] == v.encode("utf-8"),
            "stdout_b64": lambda v: r["stdout"] == base64.b64decode(v),
            "stderr_b64": lambda v: r["stderr"] == base64.b64decode(v),
            "stdout_contains": lambda v: contains(r["stdout"], v),
            "stderr_contains": lambda v: contains(r["stderr"], v),
            "stdout_not_contains": lambda v: v.encode("utf-8") not in r["stdout"],
            "stdout_len": lambda v: len(r["stdout"]) == v,
            "stdout_max_len": lambda v: len(r["stdout"]) <= v,
            "timed_out": lambda v: r["timed_out"] == v,
            "stdout_truncated": lambda v: r["stdout_truncated"] == v,
            "stderr_truncated": lambda v: r["stderr_truncated"] == v,
            "duration_ms_max": lambda v: r["duration_ms"] <= v,
            "min_chunks": lambda v: (r["chunks"] or 0) >= v,
        }
        for key, want in e.items():
            if key in ("error", "message_contains"):
                continue
            if key not in checks:
                raise Failure(f"step {i}: unknown expect key {key!r}")
            if not checks[key](want):
                shown = {k: (v[:300] if isinstance(v, bytes) else v) for k, v in r.items()}
                raise Failure(f"step {i}: expect {key}={want!r} failed; got {shown}")

    check_exec_shell = check_exec
    check_stream = check_exec

    def op_upload(self, step: Dict[str, Any]) -> None:
        files: Dict[str, bytes] = {}
        modes: Dict[str, int] = {}
        for f in step["files"]:
            data = (base64.b64decode(f["content_b64"]) if "content_b64" in f
                    else str(f["content"]).encode("utf-8"))
            files[f["path"]] = data
            if "mode" in f:
                modes[f["path"]] = int(f["mode"])
        self.sandbox(step).upload_files(files, step.get("dest", "/workspace"), modes=modes)

    def op_upload_targz(self, step: Dict[str, Any]) -> None:
        self.sandbox(step).upload_targz(base64.b64decode(step["targz_b64"]),
                                        step.get("dest", "/workspace"))

    def op_download(self, step: Dict[str, Any]) -> Dict[str, Any]:
        data = self.sandbox(step).download_files(step.get("src", "/workspace"))
        members: Dict[str, Any] = {}
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            for m in tar.getmembers():
                name = m.name[2:] if m.name.startswith("./") else m.name
                name = name.rstrip("/")
                content = tar.extractfile(m).read() if m.isfile() else None  # type: ignore[union-attr]
                members[name] = (m, content)
        return members

    def check_download(self, i: int, members: Dict[str, Any], e: Dict[str, Any]) -> None:
        for path, text in e.get("files", {}).items():
            self.check(i, path in members and members[path][1] == text.encode("utf-8"),
                       f"file {path!r}: want {text!r}, have "
                       f"{members.get(path, (None, None))[1]!r} (members {sorted(members)})")
        for path, b64 in e.get("files_b64", {}).items():
            self.check(i, path in members and members[path][1] == base64.b64decode(b64),
                       f"file {path!r} differs")
        for path, mode in e.get("modes", {}).items():
            self.check(i, path in members and members[path][0].mode & 0o777 == int(mode, 8),
                       f"mode of {path!r}")
        for path in e.get("dirs", []):
            self.check(i, path in members and members[path][0].isdir(), f"dir {path!r} missing")
        for path in e.get("absent", []):
            self.check(i, path not in members, f"{path!r} should be absent")

    def op_parallel(self, step: Dict[str, Any]) -> None:
        errors: List[BaseException] = []

        def one(n: int) -> None:
            try:
                self.play(-1, step["step"], index=n)
            except BaseException as e:  # noqa: B902
                errors.append(e)
        threads = [threading.Thread(target=one, args=(n,)) for n in range(int(step["count"]))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]


@pytest.mark.skipif(not SCENARIOS, reason="no scenarios found")
@pytest.mark.parametrize("path,backend", _cases())
def test_scenario(path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    doc = json.loads(path.read_text())
    assert doc["name"] == path.stem
    if backend == "local":
        client = NoxRunnerClient(local_test=True)
    else:
        client = NoxRunnerClient(request.getfixturevalue("server_url"), timeout=60)
    player = Player(client, backend, doc["name"])
    try:
        for i, step in enumerate(doc["steps"]):
            player.play(i, step)
    finally:
        player.cleanup()
        client.close()
