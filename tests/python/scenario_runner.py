#!/usr/bin/env python3
"""Play every tests/scenarios/<name>.json through the Python binding.

Each scenario runs once against local sandboxes and once against a
noxrunnerd this runner starts on a free loopback port, through the
binding's richest API: Sandbox objects (typed exceptions carrying the
core's code name in ``.code``), raw output bytes (``stdout_bytes``),
``max_output_bytes`` and file modes, streaming with cancellation, and
downloads as tar.gz bytes (``Sandbox.download_files``), checked member by
member in the archive itself.

Environment (tests/scenarios/README.md): NOXRUNNERD, NOXRUNNER_AGENT,
NOX_SCENARIOS. Optional: NOX_SCENARIO_BACKEND=local|http plays one backend,
NOX_SCENARIO_VERBOSE=1 prints every scenario with its time. Arguments, when
given, are the scenario names to play.

Prints one line per failure, then ``python-local: N passed, N failed`` and
``python-http: N passed, N failed``; exits 1 when anything failed. It uses
the installed ``noxrunner`` package (it never puts the source tree on
sys.path), so run it with the interpreter the package is installed in.
"""

from __future__ import annotations

import base64
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

try:
    import noxrunner
    from noxrunner import ExecResult, NoxRunnerClient, NoxRunnerError, OutputChunk
    IMPORT_ERROR: Optional[BaseException] = None
except Exception as exc:  # reported per scenario, so the counts stay honest
    IMPORT_ERROR = exc

LANG = "python"
WATCHDOG_SECONDS = 150

# ---- the scenario format: unknown ops and fields fail, never skip ---------

EXEC_OPTS = ["workdir", "env", "timeout", "stdin", "stdin_b64", "max_output"]
EXEC_EXPECT = ["error", "message_contains", "exit_code", "exit_code_not", "stdout", "stderr",
               "stdout_b64", "stderr_b64", "stdout_contains", "stderr_contains",
               "stdout_not_contains", "stdout_len", "stdout_max_len", "timed_out",
               "stdout_truncated", "stderr_truncated", "duration_ms_max"]
ERR_EXPECT = ["error", "message_contains"]
OPS: Dict[str, Tuple[List[str], Optional[List[str]]]] = {
    "health": (["op", "expect"], ERR_EXPECT),
    "create": (["op", "session", "expect", "ttl", "image", "cpu_limit", "memory_limit"],
               ERR_EXPECT + ["pod_name_nonempty"]),
    "touch": (["op", "session", "expect"], ERR_EXPECT),
    "delete": (["op", "session", "expect"], ERR_EXPECT),
    "wait_ready": (["op", "session", "expect", "timeout_ms"], ERR_EXPECT),
    "exec": (["op", "session", "expect", "cmd"] + EXEC_OPTS, EXEC_EXPECT),
    "exec_shell": (["op", "session", "expect", "command", "shell"] + EXEC_OPTS, EXEC_EXPECT),
    "stream": (["op", "session", "expect", "cmd", "cancel_after_first_chunk"] + EXEC_OPTS,
               EXEC_EXPECT + ["min_chunks"]),
    "upload": (["op", "session", "expect", "dest", "files"], ERR_EXPECT),
    "upload_targz": (["op", "session", "expect", "dest", "targz_b64"], ERR_EXPECT),
    "download": (["op", "session", "expect", "src"],
                 ERR_EXPECT + ["files", "files_b64", "modes", "dirs", "absent"]),
    "sleep": (["op", "seconds"], None),
    "parallel": (["op", "count", "step"], None),
}
ISO8601 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$")


class StepFailed(Exception):
    """What differed in one step."""


def validate(step: Any) -> None:
    if not isinstance(step, dict) or not isinstance(step.get("op"), str):
        raise StepFailed("step has no \"op\" string")
    op = step["op"]
    if op not in OPS:
        raise StepFailed(f"unknown op {op!r}")
    fields, expect_keys = OPS[op]
    for k in step:
        if k not in fields:
            raise StepFailed(f"unknown field {k!r} for op {op}")
    expect = step.get("expect", {})
    if not isinstance(expect, dict):
        raise StepFailed("\"expect\" is not an object")
    for k in expect:
        if expect_keys is None or k not in expect_keys:
            raise StepFailed(f"unknown expect key {k!r} for op {op}")
    # It checks an error's message: without "error" it could only be
    # ignored, so it is refused (as in every runner).
    if "message_contains" in expect and "error" not in expect:
        raise StepFailed("expect.message_contains needs expect.error")
    if op == "parallel":
        inner = step.get("step")
        if not isinstance(inner, dict) or inner.get("op") not in ("exec", "exec_shell"):
            raise StepFailed("parallel needs a \"step\" that is an exec or exec_shell")
        if not isinstance(step.get("count"), int):
            raise StepFailed("parallel needs an integer \"count\"")
        validate(inner)


def show(data: bytes, limit: int = 160) -> str:
    text = repr(data[:limit])
    return text + (f"...({len(data)} bytes)" if len(data) > limit else "")


def replace_index(node: Any, idx: str) -> Any:
    """$I in every string of a parallel step becomes the repetition index."""
    if isinstance(node, str):
        return node.replace("$I", idx)
    if isinstance(node, list):
        return [replace_index(v, idx) for v in node]
    if isinstance(node, dict):
        return {k: replace_index(v, idx) for k, v in node.items()}
    return node


# ---- one scenario run -------------------------------------------------------

class Run:
    def __init__(self, client: "NoxRunnerClient", backend: str, name: str, scratch: str) -> None:
        self.client = client
        self.backend = backend
        self.name = name
        self.scratch = scratch
        self.ids = [f"{LANG}-{backend}-{os.getpid()}-{name}-{n}" for n in (1, 2, 3)]
        self.touched: List[str] = []
        self.lock = threading.Lock()
        self.downloads = 0

    def sid(self, step: Dict[str, Any]) -> str:
        """$S, $S2, $S3 at the start of a session string are this run's
        unique ids; the rest of the string is a literal suffix."""
        v = step.get("session", "$S")
        if not isinstance(v, str):
            raise StepFailed("\"session\" is not a string")
        if v.startswith("$S2") or v.startswith("$S3"):
            out = self.ids[int(v[2]) - 1] + v[3:]
        elif v.startswith("$S"):
            out = self.ids[0] + v[2:]
        else:
            out = v
        with self.lock:
            if out not in self.touched:
                self.touched.append(out)
        return out

    def sandbox(self, step: Dict[str, Any]) -> "noxrunner.Sandbox":
        kw: Dict[str, Any] = {"keep": True}
        if "ttl" in step:
            kw["ttl_seconds"] = int(step["ttl"])
        for k in ("image", "cpu_limit", "memory_limit"):
            if k in step:
                kw[k] = step[k]
        return self.client.sandbox(self.sid(step), **kw)

    def cleanup(self) -> None:
        for s in self.touched:
            try:
                self.client.sandbox(s, keep=True).delete()
            except Exception:
                pass

    # -- steps ------------------------------------------------------------

    def play(self, step: Dict[str, Any]) -> None:
        validate(step)
        op = step["op"]
        expect = step.get("expect", {})
        try:
            value = getattr(self, "op_" + op)(step)
        except NoxRunnerError as e:
            want = expect.get("error")
            if want is None:
                raise StepFailed(f"failed with {e.code}: {e}") from None
            if e.code != want:
                raise StepFailed(f"expected {want}, got {e.code}: {e}") from None
            mc = expect.get("message_contains")
            if mc is not None and mc not in str(e):
                raise StepFailed(f"error message {str(e)!r} lacks {mc!r}") from None
            return
        if "error" in expect:
            raise StepFailed(f"expected {expect['error']}, but the call succeeded")
        check = getattr(self, "check_" + op, None)
        if check is not None and (expect or op == "download"):  # an archive must read
            check(value, expect)

    def op_health(self, step: Dict[str, Any]) -> None:
        if not self.client.health_check():
            raise StepFailed("health_check() returned False")

    def op_create(self, step: Dict[str, Any]) -> Dict[str, Any]:
        info = self.sandbox(step).create()
        if not info.get("podName"):
            raise StepFailed(f"podName is empty: {info!r}")
        if not isinstance(info.get("expiresAt"), str) or not ISO8601.match(info["expiresAt"]):
            raise StepFailed(f"expiresAt {info.get('expiresAt')!r} is not ISO-8601")
        return info

    def check_create(self, info: Dict[str, Any], expect: Dict[str, Any]) -> None:
        pass  # pod_name_nonempty is always checked in op_create

    def op_touch(self, step: Dict[str, Any]) -> None:
        self.sandbox(step).touch()

    def op_delete(self, step: Dict[str, Any]) -> None:
        self.sandbox(step).delete()

    def op_wait_ready(self, step: Dict[str, Any]) -> None:
        self.sandbox(step).wait_ready(float(step.get("timeout_ms", 30000)) / 1000.0)

    def op_sleep(self, step: Dict[str, Any]) -> None:
        time.sleep(float(step["seconds"]))

    @staticmethod
    def exec_kwargs(step: Dict[str, Any]) -> Dict[str, Any]:
        kw: Dict[str, Any] = {}
        if "workdir" in step:
            kw["workdir"] = step["workdir"]
        if "env" in step:
            kw["env"] = step["env"]
        if "timeout" in step:
            kw["timeout_seconds"] = int(step["timeout"])
        if "stdin" in step:
            kw["stdin"] = step["stdin"].encode("utf-8")
        if "stdin_b64" in step:
            kw["stdin"] = base64.b64decode(step["stdin_b64"], validate=True)
        if "max_output" in step:
            kw["max_output_bytes"] = int(step["max_output"])
        return kw

    @staticmethod
    def view(r: "ExecResult", out: Optional[bytes] = None, err: Optional[bytes] = None,
             chunks: int = 0) -> Dict[str, Any]:
        return {"exit_code": r.exit_code,
                "stdout": r.stdout_bytes if out is None else out,
                "stderr": r.stderr_bytes if err is None else err,
                "duration_ms": r.duration_ms, "timed_out": r.timed_out,
                "stdout_truncated": r.stdout_truncated, "stderr_truncated": r.stderr_truncated,
                "chunks": chunks}

    def op_exec(self, step: Dict[str, Any]) -> Dict[str, Any]:
        if not isinstance(step.get("cmd"), list):
            raise StepFailed("\"cmd\" is not an array")
        return self.view(self.sandbox(step).exec(step["cmd"], **self.exec_kwargs(step)))

    def op_exec_shell(self, step: Dict[str, Any]) -> Dict[str, Any]:
        sb = self.sandbox(step)
        r = sb.exec_shell(step["command"], shell=step.get("shell", "sh"), **self.exec_kwargs(step))
        return self.view(r)

    def op_stream(self, step: Dict[str, Any]) -> Dict[str, Any]:
        kw = self.exec_kwargs(step)
        cancel_first = bool(step.get("cancel_after_first_chunk"))
        out, err, chunks = bytearray(), bytearray(), 0
        canceled = False
        result: Optional[ExecResult] = None
        deadline = time.monotonic() + kw.get("timeout_seconds", 30) + 60
        with self.sandbox(step).stream(step["cmd"], **kw) as st:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StepFailed("stream gave no exit event within its timeout + 60 s")
                try:
                    ev = st.next_event(min(left, 1.0))
                except TimeoutError:
                    continue
                if ev is None:
                    break
                if isinstance(ev, OutputChunk):
                    chunks += 1
                    if ev.stream == "stdout":
                        out += ev.data
                        if cancel_first and not canceled:
                            st.cancel()
                            canceled = True
                    else:
                        err += ev.data
                else:
                    result = ev
                    break
        if result is None:
            raise StepFailed("stream ended without a result")
        return self.view(result, bytes(out), bytes(err), chunks)

    def check_exec(self, r: Dict[str, Any], e: Dict[str, Any]) -> None:
        def fail(what: str) -> None:
            raise StepFailed(what)

        def contains(data: bytes, want: Any) -> bool:
            return all(w.encode("utf-8") in data for w in (want if isinstance(want, list) else [want]))

        if "exit_code" in e and r["exit_code"] != e["exit_code"]:
            fail(f"exit_code: expected {e['exit_code']}, got {r['exit_code']} "
                 f"(stderr {show(r['stderr'])})")
        if "exit_code_not" in e and r["exit_code"] == e["exit_code_not"]:
            fail(f"exit_code: expected anything but {r['exit_code']}")
        for key in ("timed_out", "stdout_truncated", "stderr_truncated"):
            if key in e and bool(r[key]) != bool(e[key]):
                fail(f"{key}: expected {e[key]}, got {r[key]}")
        for key, stream in (("stdout", "stdout"), ("stderr", "stderr")):
            if key in e and r[stream] != e[key].encode("utf-8"):
                fail(f"{key}: expected {show(e[key].encode('utf-8'))}, got {show(r[stream])}")
        for key, stream in (("stdout_b64", "stdout"), ("stderr_b64", "stderr")):
            if key in e and r[stream] != base64.b64decode(e[key], validate=True):
                fail(f"{key}: expected {show(base64.b64decode(e[key]))}, got {show(r[stream])}")
        for key, stream in (("stdout_contains", "stdout"), ("stderr_contains", "stderr")):
            if key in e and not contains(r[stream], e[key]):
                fail(f"{key}: {e[key]!r} not found in {show(r[stream])}")
        if "stdout_not_contains" in e:
            nots = e["stdout_not_contains"]
            for w in nots if isinstance(nots, list) else [nots]:
                if w.encode("utf-8") in r["stdout"]:
                    fail(f"stdout_not_contains: {w!r} found in {show(r['stdout'])}")
        if "stdout_len" in e and len(r["stdout"]) != e["stdout_len"]:
            fail(f"stdout_len: expected {e['stdout_len']}, got {len(r['stdout'])}")
        if "stdout_max_len" in e and len(r["stdout"]) > e["stdout_max_len"]:
            fail(f"stdout_max_len: expected at most {e['stdout_max_len']} bytes, "
                 f"got {len(r['stdout'])}")
        if "duration_ms_max" in e and r["duration_ms"] > e["duration_ms_max"]:
            fail(f"duration_ms_max: expected at most {e['duration_ms_max']} ms, "
                 f"durationMs is {r['duration_ms']}")
        if "min_chunks" in e and r["chunks"] < e["min_chunks"]:
            fail(f"min_chunks: expected at least {e['min_chunks']} chunks, got {r['chunks']}")

    check_exec_shell = check_exec
    check_stream = check_exec

    def op_upload(self, step: Dict[str, Any]) -> None:
        files: Dict[str, bytes] = {}
        modes: Dict[str, int] = {}
        if not isinstance(step.get("files"), list):
            raise StepFailed("upload needs a \"files\" array")
        for f in step["files"]:
            for k in f:
                if k not in ("path", "content", "content_b64", "mode"):
                    raise StepFailed(f"unknown file field {k!r}")
            if "content_b64" in f:
                files[f["path"]] = base64.b64decode(f["content_b64"], validate=True)
            else:
                files[f["path"]] = f["content"].encode("utf-8")
            if "mode" in f:
                modes[f["path"]] = int(f["mode"])
        kw: Dict[str, Any] = {"modes": modes}
        if "dest" in step:
            kw["dest"] = step["dest"]
        self.sandbox(step).upload_files(files, **kw)

    def op_upload_targz(self, step: Dict[str, Any]) -> None:
        data = base64.b64decode(step["targz_b64"], validate=True)
        if "dest" in step:
            self.sandbox(step).upload_targz(data, step["dest"])
        else:
            self.sandbox(step).upload_targz(data)

    def op_download(self, step: Dict[str, Any]) -> bytes:
        # The archive itself is checked, not an extraction of it: an
        # extractor creates parent directories, drops members it refuses
        # and passes modes through the umask, so "dirs", "absent" and
        # "modes" could not fail there.
        return self.sandbox(step).download_files(step.get("src", "/workspace"))

    @staticmethod
    def _name(name: str) -> str:
        while name.startswith("./"):
            name = name[2:]
        return name.rstrip("/") or name

    def check_download(self, data: bytes, e: Dict[str, Any]) -> None:
        import io
        import tarfile

        members: Dict[str, Tuple[tarfile.TarInfo, bytes]] = {}
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
                for m in tar:  # a later member of the same name replaces an earlier one
                    body = b""
                    if m.isreg():
                        fh = tar.extractfile(m)
                        body = fh.read() if fh is not None else b""
                    members[self._name(m.name)] = (m, body)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise StepFailed(f"the downloaded archive does not read: {exc}") from None

        def member(key: str, name: str) -> Tuple[tarfile.TarInfo, bytes]:
            got = members.get(self._name(name))
            if got is None:
                raise StepFailed(f"{key}: {name!r} is not in the archive")
            return got

        for key in ("files", "files_b64"):
            for name, want in e.get(key, {}).items():
                m, got = member(key, name)
                if not m.isreg():
                    raise StepFailed(f"{key}: {name!r} is not a regular file")
                wanted = (base64.b64decode(want, validate=True) if key == "files_b64"
                          else want.encode("utf-8"))
                if got != wanted:
                    raise StepFailed(f"content of {name!r}: expected {show(wanted)}, got {show(got)}")
        for name, mode in e.get("modes", {}).items():
            m, _ = member("modes", name)
            if m.mode & 0o7777 != int(mode, 8):
                raise StepFailed(f"modes: {name!r} expected {mode}, got {m.mode & 0o7777:o}")
        for name in e.get("dirs", []):
            got = members.get(self._name(name))
            if got is None or not got[0].isdir():
                raise StepFailed(f"dirs: {name!r} is not a directory in the archive")
        for name in e.get("absent", []):
            if self._name(name) in members:
                raise StepFailed(f"absent: {name!r} is in the archive")

    def op_parallel(self, step: Dict[str, Any]) -> None:
        count = int(step["count"])
        errors: List[Optional[str]] = [None] * count

        def one(i: int) -> None:
            try:
                self.play(replace_index(step["step"], str(i)))
            except StepFailed as e:
                errors[i] = str(e)
            except BaseException as e:  # noqa: B902 - any surprise is a failure
                errors[i] = f"raised {type(e).__name__}: {e}"

        threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for i, msg in enumerate(errors):
            if msg is not None:
                raise StepFailed(f"repetition {i}: {msg}")


# ---- scenarios and backends ---------------------------------------------------

class Watchdog:
    """A stuck scenario aborts the run instead of hanging it."""

    def __init__(self) -> None:
        self.started: Optional[float] = None
        self.name = ""
        self.server: Optional["subprocess.Popen[bytes]"] = None
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        while True:
            time.sleep(1)
            t = self.started
            if t is not None and time.monotonic() - t > WATCHDOG_SECONDS:
                print(f"FAIL scenario {self.name} still running after {WATCHDOG_SECONDS} s; "
                      "aborting the run", flush=True)
                if self.server is not None:
                    self.server.terminate()
                os._exit(1)


def load_scenarios(directory: str, only: List[str]) -> List[Tuple[str, Optional[Dict[str, Any]], str]]:
    out = []
    for fn in sorted(os.listdir(directory)):
        if not fn.endswith(".json"):
            continue
        name = fn[:-5]
        if only and name not in only:
            continue
        doc: Optional[Dict[str, Any]] = None
        error = ""
        try:
            with open(os.path.join(directory, fn), encoding="utf-8") as fh:
                doc = json.load(fh)
            if not isinstance(doc, dict):
                error = "not a JSON object"
            elif doc.get("name") != name:
                error = "\"name\" differs from the file name"
            elif not isinstance(doc.get("steps"), list):
                error = "no \"steps\" array"
            else:
                extra = set(doc) - {"name", "description", "backends", "steps"}
                if extra:
                    error = f"unknown top-level field {sorted(extra)[0]!r}"
        except (OSError, ValueError) as e:
            error = f"cannot load: {e}"
        out.append((name, doc, error))
    return out


def play_all(client: Optional["NoxRunnerClient"], backend: str, scenarios: List[Any],
             scratch: str, watchdog: Watchdog, verbose: bool, why_no_client: str) -> int:
    passed = failed = 0
    for name, doc, error in scenarios:
        if not error and doc is not None and backend not in doc.get("backends", ["local", "http"]):
            continue
        if error or client is None:
            print(f"FAIL {LANG}-{backend} {name}: {error or why_no_client}", flush=True)
            failed += 1
            continue
        run = Run(client, backend, name, scratch)
        watchdog.name, watchdog.started = name, time.monotonic()
        t0 = time.monotonic()
        ok = True
        assert doc is not None
        for i, step in enumerate(doc["steps"]):
            try:
                run.play(step)
            except StepFailed as e:
                msg = str(e)
            except BaseException as e:  # noqa: B902 - any surprise is a failure
                msg = f"raised {type(e).__name__}: {e}"
            else:
                continue
            op = step.get("op", "?") if isinstance(step, dict) else "?"
            print(f"FAIL {LANG}-{backend} {name} step {i} ({op}): {msg}", flush=True)
            ok = False
            break
        run.cleanup()
        watchdog.started = None
        if verbose:
            print(f"{'ok  ' if ok else 'fail'} {LANG}-{backend} {name} "
                  f"({int((time.monotonic() - t0) * 1000)} ms)", flush=True)
        if ok:
            passed += 1
        else:
            failed += 1
    print(f"{LANG}-{backend}: {passed} passed, {failed} failed", flush=True)
    return failed


def start_server(binary: str, agent: str, base: str, log_path: str
                 ) -> Tuple[Optional["subprocess.Popen[bytes]"], str, str]:
    """noxrunnerd on a free port; its first stdout line names the URL. The
    rest of its output goes to log_path."""
    log = open(log_path, "wb")
    try:
        proc = subprocess.Popen([binary, "--port", "0", "--base-dir", base, "--agent", agent],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)
    except OSError as e:
        log.close()
        print(f"FAIL {LANG}-http: cannot start noxrunnerd {binary!r}: {e}")
        return None, "", "noxrunnerd did not start (see above)"
    assert proc.stdout is not None
    line = b""
    deadline = time.monotonic() + 20
    fd = proc.stdout.fileno()
    while not line.endswith(b"\n") and time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not r:
            break
        chunk = os.read(fd, 1)
        if not chunk:
            break
        line += chunk
    m = re.search(rb"http://\S+", line)
    if not m:
        proc.kill()
        proc.wait()
        log.close()
        print(f"FAIL {LANG}-http: noxrunnerd did not announce its address (first line {line!r})")
        print_tail(log_path)
        return None, "", "noxrunnerd did not start (see above)"

    def drain() -> None:
        while True:
            data = os.read(fd, 65536)
            if not data:
                break
            log.write(data)
            log.flush()

    threading.Thread(target=drain, daemon=True).start()
    return proc, m.group(0).decode("ascii"), ""


def stop_server(proc: "subprocess.Popen[bytes]") -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        print("scenario_runner: noxrunnerd ignored SIGTERM for 10 s; killing it", file=sys.stderr)
        proc.kill()
        proc.wait()


def print_tail(path: str, lines: int = 25) -> None:
    try:
        with open(path, "rb") as fh:
            tail = fh.read().decode("utf-8", "replace").splitlines()[-lines:]
    except OSError:
        return
    if tail:
        print("---- last lines of the noxrunnerd log ----")
        print("\n".join(tail))
        print("------------------------------------------", flush=True)


def main(argv: List[str]) -> int:
    directory = os.environ.get("NOX_SCENARIOS")
    agent = os.environ.get("NOXRUNNER_AGENT")
    server_bin = os.environ.get("NOXRUNNERD")
    only_backend = os.environ.get("NOX_SCENARIO_BACKEND")
    verbose = os.environ.get("NOX_SCENARIO_VERBOSE", "0") not in ("", "0")
    if not directory or not agent or (not server_bin and only_backend != "local"):
        print("scenario_runner.py: set NOX_SCENARIOS, NOXRUNNER_AGENT and NOXRUNNERD "
              "(see tests/scenarios/README.md)", file=sys.stderr)
        return 2
    scenarios = load_scenarios(directory, argv[1:])
    if not scenarios:
        print(f"scenario_runner.py: no scenarios found in {directory}", file=sys.stderr)
        return 2
    os.umask(0o022)  # modes checked after extraction must not depend on the caller
    root = tempfile.mkdtemp(prefix="noxsp-", dir="/tmp")  # short: sockets live below it
    local_base, server_base, scratch = (os.path.join(root, d) for d in ("l", "s", "d"))
    for d in (local_base, server_base, scratch):
        os.mkdir(d, 0o700)
    log_path = os.path.join(root, "noxrunnerd.log")
    watchdog = Watchdog()
    failed = 0
    why = f"cannot import noxrunner: {IMPORT_ERROR!r}" if IMPORT_ERROR else ""
    try:
        if only_backend in (None, "", "local"):
            client = None
            if not IMPORT_ERROR:
                try:
                    client = NoxRunnerClient(local_test=True, base_dir=local_base)
                except Exception as e:
                    why = f"cannot create the local client: {type(e).__name__}: {e}"
            failed += play_all(client, "local", scenarios, scratch, watchdog, verbose, why)
            if client is not None:
                client.close()
        if only_backend in (None, "", "http"):
            proc, url, why_http = start_server(server_bin or "", agent, server_base, log_path)
            watchdog.server = proc
            client = None
            why = why_http or why
            if proc is not None and not IMPORT_ERROR:
                try:
                    client = NoxRunnerClient(url, timeout=60)
                except Exception as e:
                    why = f"cannot create the HTTP client for {url}: {type(e).__name__}: {e}"
            n = play_all(client, "http", scenarios, scratch, watchdog, verbose, why)
            failed += n
            if client is not None:
                client.close()
            if proc is not None:
                watchdog.server = None
                stop_server(proc)
                if n:
                    print_tail(log_path)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
