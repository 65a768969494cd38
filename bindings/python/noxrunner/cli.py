"""noxrc: the NoxRunner command line (2.0.0's commands and flags, plus
run, list, info, --json, progress, colours and a line-editing shell)."""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import re
import secrets
import shlex
import stat
import sys
import tarfile
import threading
import time
import traceback
import urllib.parse
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, TextIO, Tuple

from noxrunner import __version__
from noxrunner._core import core_version
from noxrunner.client import NoxRunnerClient
from noxrunner.exceptions import (CanceledError, ConnectionFailedError, NoxRunnerError,
                                  NoxRunnerHTTPError, SandboxNotFoundError)
from noxrunner.results import ExecResult, OutputChunk

# ---- output ---------------------------------------------------------------


class Colors:
    """ANSI colour codes."""

    RED = "\033[0;31m"
    GREEN = "\033[0;32m"
    YELLOW = "\033[1;33m"
    BLUE = "\033[0;34m"
    CYAN = "\033[0;36m"
    DIM = "\033[2m"
    RESET = "\033[0m"
    BOLD = "\033[1m"


class Out:
    """Where messages go, and whether they are coloured or JSON."""

    def __init__(self, json_mode: bool = False, color: Optional[bool] = None,
                 verbose: bool = False) -> None:
        self.json = json_mode
        self.verbose = verbose
        self._color = color

    def use_color(self, stream: TextIO) -> bool:
        if self._color is not None:
            return self._color
        if os.environ.get("NO_COLOR"):
            return False
        if os.environ.get("TERM") == "dumb":
            return False
        try:
            return stream.isatty()
        except (AttributeError, ValueError):
            return False

    def paint(self, text: str, color: str, stream: TextIO) -> str:
        return f"{color}{text}{Colors.RESET}" if self.use_color(stream) else text

    def success(self, msg: str) -> None:
        if not self.json:
            print(self.paint(f"✓ {msg}", Colors.GREEN, sys.stdout))

    def info(self, msg: str) -> None:
        if not self.json:
            print(self.paint(f"ℹ {msg}", Colors.BLUE, sys.stdout))

    def warning(self, msg: str) -> None:
        stream = sys.stderr if self.json else sys.stdout
        print(self.paint(f"⚠ {msg}", Colors.YELLOW, stream), file=stream)

    def error(self, msg: str) -> None:
        print(self.paint(f"✗ {msg}", Colors.RED, sys.stderr), file=sys.stderr)

    def emit(self, obj: Any) -> None:
        """One JSON document on stdout (--json)."""
        print(json.dumps(obj, indent=None, sort_keys=True, default=str))


def one_line(e: BaseException) -> str:
    """An error as one line: no response body, no traceback."""
    if isinstance(e, NoxRunnerHTTPError):
        text = f"HTTP {e.status_code}: {e.message}"
    else:
        text = str(e) or type(e).__name__
    return " ".join(text.split()) if "\n" in text else text


CONNECT_HINT = ("is a NoxRunner server running there? Point noxrc at one with --base-url "
                "URL or NOXRUNNER_BASE_URL, or use --local-test for sandboxes on this "
                "machine")


def hint_for(e: BaseException) -> Optional[str]:
    """What the user can do about e, when there is something to say."""
    if isinstance(e, ConnectionFailedError):
        return CONNECT_HINT
    return None


def fail(out: Out, what: str, e: BaseException) -> int:
    if out.verbose:
        traceback.print_exc()
    code = getattr(e, "code", None)
    hint = hint_for(e)
    if out.json:
        doc = {"ok": False, "error": one_line(e), "code": code, "what": what}
        if hint:
            doc["hint"] = hint
        print(json.dumps(doc), file=sys.stderr)
    else:
        # Still one line: scripts read the first line of stderr.
        out.error(f"{what}: {one_line(e)}" + (f" ({hint})" if hint else ""))
        if out.verbose and isinstance(e, NoxRunnerHTTPError) and e.response_body:
            print(f"  Response: {e.response_body}", file=sys.stderr)
    return 1


class Progress:
    """Bytes moved, on stderr, only on a terminal; a spinner when the total
    is unknown."""

    def __init__(self, out: Out, label: str, total: Optional[int] = None,
                 measure: Optional[Callable[[], int]] = None) -> None:
        """total: the size when known. measure: how many bytes have moved
        so far (polled); without it only the size and the time are shown."""
        self.out = out
        self.label = label
        self.total = total
        self.measure = measure
        self.done = 0
        self.enabled = (not out.json) and _isatty(sys.stderr)
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._start = time.monotonic()

    def __enter__(self) -> "Progress":
        if self.enabled:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def add(self, n: int) -> None:
        self.done += n

    def _line(self, frame: int) -> str:
        spin = "|/-\\"[frame % 4]
        elapsed = time.monotonic() - self._start
        if self.measure is not None:
            try:
                self.done = self.measure()
            except OSError:
                pass
        elif self.total:
            return f"{spin} {self.label} {_human(self.total)}... {elapsed:.0f}s"
        else:
            return f"{spin} {self.label}... {elapsed:.0f}s"
        if self.total:
            pct = min(100.0, 100.0 * self.done / self.total)
            return (f"{spin} {self.label}: {_human(self.done)} / {_human(self.total)} "
                    f"({pct:.0f}%) {elapsed:.0f}s")
        return f"{spin} {self.label}: {_human(self.done)} {elapsed:.0f}s"

    def _run(self) -> None:
        frame = 0
        # Stay quiet for fast transfers.
        if self._stop.wait(0.5):
            return
        while not self._stop.wait(0.1):
            sys.stderr.write("\r\033[K" + self._line(frame))
            sys.stderr.flush()
            frame += 1

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _dir_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


# ---- client ---------------------------------------------------------------

def get_base_url() -> Optional[str]:
    """NOXRUNNER_BASE_URL, else http://127.0.0.1:8080 (None if set empty)."""
    url = os.environ.get("NOXRUNNER_BASE_URL", "http://127.0.0.1:8080")
    return None if url == "" else url


def create_client(args: argparse.Namespace) -> NoxRunnerClient:
    return NoxRunnerClient(base_url=args.base_url, timeout=args.timeout,
                           local_test=args.local_test)


def parse_env(out: Out, pairs: Optional[Sequence[str]]) -> Optional[Dict[str, str]]:
    if not pairs:
        return None
    env: Dict[str, str] = {}
    for item in pairs:
        if "=" in item:
            k, v = item.split("=", 1)
            env[k] = v
        else:
            out.warning(f"Invalid env format (missing =): {item}")
    return env


def result_json(r: Dict[str, Any]) -> Dict[str, Any]:
    d = dict(r)
    if isinstance(r, ExecResult):
        d.update(timedOut=r.timed_out, signal=r.signal, stdoutTruncated=r.stdout_truncated,
                 stderrTruncated=r.stderr_truncated)
    return d


def write_bytes(stream: TextIO, data: bytes) -> None:
    buf = getattr(stream, "buffer", None)
    stream.flush()
    if buf is not None:
        buf.write(data)
        buf.flush()
    else:
        stream.write(data.decode("utf-8", errors="replace"))


# ---- commands -------------------------------------------------------------

def cmd_health(args: argparse.Namespace, out: Out) -> int:
    client = create_client(args)
    reason: Optional[BaseException] = None
    try:
        client._cb.core.health()  # health_check() would swallow the reason
    except NoxRunnerError as e:
        reason = e
    ok = reason is None
    if out.json:
        doc: Dict[str, Any] = {"ok": ok, "healthy": ok}
        if reason is not None:
            doc["error"] = one_line(reason)
            hint = hint_for(reason)
            if hint:
                doc["hint"] = hint
        out.emit(doc)
    elif ok:
        out.success("Manager is healthy")
    else:
        assert reason is not None
        hint = hint_for(reason)
        out.error(f"Manager is not healthy: {one_line(reason)}" + (f" ({hint})" if hint else ""))
    return 0 if ok else 1


def cmd_create(args: argparse.Namespace, out: Out) -> int:
    client = create_client(args)
    try:
        result = client.create_sandbox(args.session_id, ttl_seconds=args.ttl, image=args.image,
                                       cpu_limit=args.cpu, memory_limit=args.mem,
                                       ephemeral_storage_limit=args.storage)
    except NoxRunnerError as e:
        return fail(out, "Failed to create sandbox", e)
    ready: Optional[bool] = None
    if not out.json:
        out.success(f"Sandbox created: {result.get('podName')}")
    if args.wait:
        out.info("Waiting for pod to be ready...")
        ready = client.wait_for_pod_ready(args.session_id, timeout=args.wait_timeout)
        if not out.json:
            if ready:
                out.success("Pod is ready")
            else:
                out.warning("Pod did not become ready within timeout")
    if out.json:
        doc = {"ok": True, "sessionId": args.session_id, **result}
        if ready is not None:
            doc["ready"] = ready
        out.emit(doc)
    return 0


def _stream_exec(client: NoxRunnerClient, session_id: str, cmd: List[str], workdir: str,
                 env: Optional[Dict[str, str]], timeout_seconds: int,
                 stdout_filter: Optional[Callable[[bytes], bytes]] = None) -> ExecResult:
    """Run with output shown as it comes; Ctrl-C cancels the command.
    stdout_filter: what of each stdout chunk to show."""
    result: Optional[ExecResult] = None
    stream = client.stream(session_id, cmd, workdir, env, timeout_seconds)
    try:
        for ev in stream:
            if isinstance(ev, OutputChunk):
                data = ev.data
                if ev.stream == "stdout" and stdout_filter is not None:
                    data = stdout_filter(data)
                write_bytes(sys.stdout if ev.stream == "stdout" else sys.stderr, data)
            else:
                result = ev
    finally:
        stream.close()
    return result if result is not None else ExecResult()


def split_leading_options(args: argparse.Namespace, cmd: List[str],
                          flags: Dict[str, str]) -> List[str]:
    """argparse.REMAINDER (kept from 2.0.0) swallows options written after
    the session id; take the known ones back, up to "--" or the command.
    An unknown option there is a usage error (exit 2), not the command: a
    command that starts with "-" comes after "--"."""
    i = 0
    while i < len(cmd):
        word = cmd[i]
        if word == "--":
            return cmd[i + 1:]
        name, eq, inline = word.partition("=")
        dest = flags.get(name)
        if dest is None:
            if word in ("-h", "--help"):
                args.print_help()
                raise SystemExit(0)
            if word.startswith("-") and word != "-":
                args.usage_error(f"unrecognized arguments: {word} (a command that starts "
                                 f"with '-' goes after '--')")
            break
        if dest.startswith("!"):  # a switch
            setattr(args, dest[1:], True)
            i += 1
            continue
        if eq:
            value, i = inline, i + 1
        elif i + 1 < len(cmd):
            value, i = cmd[i + 1], i + 2
        else:
            break
        if dest == "env":
            args.env = (args.env or []) + [value]
        elif dest == "timeout_seconds":
            args.timeout_seconds = int(value)
        else:
            setattr(args, dest, value)
    return cmd[i:]


EXEC_FLAGS = {"--workdir": "workdir", "--env": "env", "--timeout-seconds": "timeout_seconds",
              "--ignore-exit-code": "!ignore_exit_code"}


def cmd_exec(args: argparse.Namespace, out: Out) -> int:
    client = create_client(args)
    cmd = split_leading_options(args, list(args.cmd), EXEC_FLAGS)
    env = parse_env(out, args.env)
    if not cmd:
        out.error("exec: no command given")
        return 2
    try:
        if out.json or args.local_test:
            # --json needs the whole result; local_test keeps 2.0.0's
            # auto-create and error-as-result rules.
            r = client.exec(args.session_id, cmd, workdir=args.workdir, env=env,
                            timeout_seconds=args.timeout_seconds)
            if out.json:
                out.emit(result_json(r))
            else:
                _print_result(r)
        else:
            r = _stream_exec(client, args.session_id, cmd, args.workdir, env,
                             args.timeout_seconds)
    except KeyboardInterrupt:
        raise
    except NoxRunnerError as e:
        return fail(out, "Execution failed", e)
    exit_code = int(r.get("exitCode", 0))
    if exit_code != 0 and not args.ignore_exit_code:
        return exit_code
    return 0


def _print_result(r: Dict[str, Any]) -> None:
    """Print a finished command's output, bytes as they came."""
    if isinstance(r, ExecResult):
        write_bytes(sys.stdout, r.stdout_bytes)
        err = r.stderr_bytes
        if r["stderr"] != err.decode("utf-8", errors="replace"):
            err = r["stderr"].encode("utf-8")  # the "timed out" note was added
        write_bytes(sys.stderr, err)
        return
    if r.get("stdout"):
        print(r["stdout"], end="")
    if r.get("stderr"):
        print(r["stderr"], end="", file=sys.stderr)


def _gzip_level(client: NoxRunnerClient, base_url: Optional[str]) -> int:
    """The core's rule for the archives it makes (noxrunner.h,
    "Compression"): $NOXRUNNER_GZIP_LEVEL, else stored (0) on this
    machine (local backend, loopback server), else 1."""
    lv = os.environ.get("NOXRUNNER_GZIP_LEVEL", "")
    if len(lv) == 1 and lv.isdigit():
        return int(lv)
    if lv == "none" or client.backend_name == "local":
        return 0
    host = urllib.parse.urlsplit(base_url or "").hostname or ""
    if host == "localhost" or host == "::1" or host.startswith("127."):
        return 0
    return 1


def _write_targz(files: Dict[str, Path], wfd: int, level: int, moved: List[int],
                 errors: List[BaseException]) -> None:
    """files as a tar.gz into wfd, read in chunks (never a whole file in
    memory); moved[0] counts the file bytes read. Closes wfd."""
    try:
        with os.fdopen(wfd, "wb") as raw, \
                gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=level, mtime=0) as gz, \
                tarfile.open(fileobj=gz, mode="w|") as tar:
            for name, path in files.items():
                with open(path, "rb") as f:
                    st = os.fstat(f.fileno())
                    ti = tarfile.TarInfo(name)
                    ti.size, ti.mode, ti.mtime = st.st_size, 0o644, int(st.st_mtime)
                    src: Any = _Counting(f, moved)
                    if not stat.S_ISREG(st.st_mode):
                        # A pipe (`<(cmd)`) or device has no size until read.
                        data = src.read()
                        ti.size, src = len(data), io.BytesIO(data)
                    tar.addfile(ti, src)
    except BaseException as e:  # reported by the caller, in its thread
        errors.append(e)


class _Counting(io.RawIOBase):
    """A file whose reads are counted into moved[0]."""

    def __init__(self, f: Any, moved: List[int]) -> None:
        super().__init__()
        self._f = f
        self._moved = moved

    def read(self, n: int = -1) -> bytes:
        data: bytes = self._f.read(n)
        self._moved[0] += len(data)
        return data


def upload_paths(client: NoxRunnerClient, sid: str, files: Dict[str, Path], dest: str,
                 level: int, moved: List[int]) -> None:
    """Upload local files (name in the sandbox -> path) streamed: a thread
    writes the tar.gz into a pipe that the core sends as it reads it, so
    memory stays flat whatever the size."""
    core = client._cb.core
    if client.backend_name == "local":
        # 2.0.0's local mode made the sandbox on first use; an upload cannot
        # be replayed from a pipe, so make it first.
        try:
            core.get(sid)
        except SandboxNotFoundError:
            core.create(sid)
    rfd, wfd = os.pipe()
    errors: List[BaseException] = []
    writer = threading.Thread(target=_write_targz, daemon=True,
                              args=(files, wfd, level, moved, errors))
    writer.start()
    core_err: Optional[NoxRunnerError] = None
    try:
        core.upload_targz_fd(sid, rfd, dest)
    except NoxRunnerError as e:
        core_err = e
    finally:
        os.close(rfd)  # a writer still writing gets EPIPE and stops
        writer.join()
    # A local file that could not be read is the cause of whatever the
    # core says; a broken pipe only follows the core's own failure.
    if errors and not (core_err is not None and isinstance(errors[0], BrokenPipeError)):
        raise errors[0]
    if core_err is not None:
        raise core_err


def cmd_upload(args: argparse.Namespace, out: Out) -> int:
    client = create_client(args)
    try:
        if args.dir:
            dir_path = Path(args.dir)
            if not dir_path.is_dir():
                out.error(f"Not a directory: {args.dir}")
                return 1
            total = _dir_size(dir_path)
            count = sum(len(f) for _r, _d, f in os.walk(dir_path))
            if count == 0:
                out.error("No files to upload")
                return 1
            out.info(f"Uploading {count} file(s)...")
            with Progress(out, "uploading", total):
                client.upload_dir(args.session_id, dir_path, dest=args.dest)
        else:
            files: Dict[str, Path] = {}
            for file_path in args.files:
                path = Path(file_path)
                if not path.exists():
                    out.error(f"File not found: {file_path}")
                    return 1
                if path.is_dir():
                    out.error(f"Is a directory (use --dir): {file_path}")
                    return 1
                files[path.name] = path  # the same name twice: the last one
            if not files:
                out.error("No files to upload")
                return 1
            count = len(files)
            out.info(f"Uploading {count} file(s)...")
            moved = [0]
            total = sum(p.stat().st_size for p in files.values())
            with Progress(out, "uploading", total, measure=lambda: moved[0]):
                upload_paths(client, args.session_id, files, args.dest,
                             _gzip_level(client, args.base_url), moved)
    except NoxRunnerError as e:
        return fail(out, "Upload failed", e)
    except OSError as e:
        return fail(out, "Upload failed", e)
    if out.json:
        out.emit({"ok": True, "files": count, "dest": args.dest})
    else:
        out.success(f"Uploaded {count} file(s) to {args.dest}")
    return 0


def cmd_download(args: argparse.Namespace, out: Out) -> int:
    client = create_client(args)
    try:
        out.info("Downloading files...")
        if args.output:
            # Straight into the file as it arrives; the size on disk is the
            # progress.
            with open(args.output, "wb") as f:
                fd = f.fileno()
                try:
                    with Progress(out, "downloading", measure=lambda: os.fstat(fd).st_size):
                        client._cb.core.download_fd(args.session_id, args.src, fd)
                except BaseException:
                    os.unlink(args.output)  # no half-written archive left behind
                    raise
                size = os.fstat(fd).st_size
            if out.json:
                out.emit({"ok": True, "output": args.output, "bytes": size})
            else:
                out.success(f"Downloaded to {args.output}")
        else:
            extract_dir = Path(args.extract or ".")
            with Progress(out, "downloading"):
                client.download_to_dir(args.session_id, extract_dir, src=args.src)
            if out.json:
                out.emit({"ok": True, "extracted": str(extract_dir)})
            else:
                out.success(f"Extracted to {extract_dir}")
    except (NoxRunnerError, OSError) as e:
        return fail(out, "Download failed", e)
    return 0


def cmd_touch(args: argparse.Namespace, out: Out) -> int:
    client = create_client(args)
    try:
        ok = client.touch(args.session_id)
    except NoxRunnerError as e:
        return fail(out, "Touch failed", e)
    if out.json:
        out.emit({"ok": ok})
    elif ok:
        out.success("TTL extended")
    else:
        out.error("Failed to extend TTL")
    return 0 if ok else 1


def cmd_delete(args: argparse.Namespace, out: Out) -> int:
    client = create_client(args)
    try:
        # The core's call, not delete_sandbox(): 2.0.0's local backend
        # answers an unknown sandbox with a bare False, and the user needs
        # the reason.
        client._cb.core.delete(args.session_id)
    except NoxRunnerError as e:
        return fail(out, "Delete failed", e)
    if out.json:
        out.emit({"ok": True})
    else:
        out.success("Sandbox deleted")
    return 0


def cmd_list(args: argparse.Namespace, out: Out) -> int:
    client = create_client(args)
    try:
        boxes = client.list_sandboxes()
    except NoxRunnerError as e:
        return fail(out, "List failed", e)
    if out.json:
        out.emit(boxes)
        return 0
    if not boxes:
        out.info("No sandboxes")
        return 0
    w = max(len("SESSION"), *(len(b["sessionId"]) for b in boxes))
    p = max(len("POD"), *(len(b["podName"]) for b in boxes))
    print(out.paint(f"{'SESSION':<{w}}  {'POD':<{p}}  EXPIRES", Colors.BOLD, sys.stdout))
    for b in sorted(boxes, key=lambda b: str(b["sessionId"])):
        print(f"{b['sessionId']:<{w}}  {b['podName']:<{p}}  {b['expiresAt']}")
    return 0


def cmd_info(args: argparse.Namespace, out: Out) -> int:
    client = create_client(args)
    doc: Dict[str, Any] = {
        "client": {"noxrunner": __version__, "core": core_version(),
                   "backend": client.backend_name},
    }
    if client.backend_name == "http":
        doc["client"]["baseUrl"] = args.base_url
    try:
        doc["backend"] = client.info()
    except NoxRunnerError as e:
        doc["backend"] = {"error": one_line(e), "code": e.code}
    try:
        doc["isolation"] = client.isolation
    except NoxRunnerError:
        pass
    if out.json:
        out.emit(doc)
        return 0
    c = doc["client"]
    print(f"noxrunner {c['noxrunner']} (core {c['core']}), backend: {c['backend']}"
          + (f" at {c['baseUrl']}" if c.get("baseUrl") else ""))
    if "isolation" in doc:
        print(f"isolation: {doc['isolation']}")
    for k, v in sorted(doc["backend"].items()):
        if k == "isolation" and v == doc.get("isolation"):
            continue
        print(f"{k}: {json.dumps(v) if not isinstance(v, str) else v}")
    return 0


def cmd_run(args: argparse.Namespace, out: Out) -> int:
    """create, upload a directory, run a command, download, delete."""
    client = create_client(args)
    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        out.error("run: no command given (noxrc run [options] -- CMD ...)")
        return 2
    sid = args.session or f"noxrc-run-{secrets.token_hex(4)}"
    env = parse_env(out, args.env)
    created = False
    try:
        client.create_sandbox(sid, ttl_seconds=args.ttl)
        created = True
        if args.dir:
            d = Path(args.dir)
            if not d.is_dir():
                out.error(f"Not a directory: {args.dir}")
                return 1
            with Progress(out, "uploading", _dir_size(d)):
                client.upload_dir(sid, d, dest="/workspace")
        if out.json:
            r = client.exec(sid, cmd, workdir=args.workdir, env=env,
                            timeout_seconds=args.timeout_seconds)
        else:
            r = _stream_exec(client, sid, cmd, args.workdir, env, args.timeout_seconds)
        if args.output:
            with Progress(out, "downloading"):
                client.download_to_dir(sid, Path(args.output), src=args.src)
        if out.json:
            doc = result_json(r)
            doc["sessionId"] = sid
            if args.output:
                doc["output"] = args.output
            out.emit(doc)
        return int(r.get("exitCode", 0))
    except NoxRunnerError as e:
        return fail(out, "Run failed", e)
    finally:
        if created and not args.keep:
            try:
                client.delete_sandbox(sid)
            except NoxRunnerError:
                pass
        elif created and args.keep and not out.json:
            out.info(f"Sandbox kept: {sid}")


# ---- interactive shell ------------------------------------------------------

SHELL_HELP = """Commands:
  exit, quit    - Exit shell
  help          - Show this help
  touch         - Extend TTL
  cd DIR        - Change the working directory (inside /workspace); the
                  directory also follows a cd inside a line (mkdir d && cd d)
  Anything else runs in the sandbox through sh -c (pipes, $VARS, globs work);
  Ctrl-C stops a running command."""


def _history_file() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"),
                                                            ".local", "state")
    return Path(base) / "noxrunner" / "noxrc_history"


def cmd_shell(args: argparse.Namespace, out: Out) -> int:
    client = create_client(args)
    sid = args.session_id
    cwd = args.workdir
    readline_mod: Any = None
    hist = _history_file()
    if _isatty(sys.stdin):
        try:
            import readline as readline_mod  # line editing and history
        except ImportError:  # pragma: no cover
            readline_mod = None
    if readline_mod is not None:
        try:
            readline_mod.read_history_file(str(hist))
        except (OSError, ValueError):
            pass
        readline_mod.set_history_length(1000)

    if args.local_test:
        # 2.0.0's local mode made the sandbox on first use; so does this.
        client.wait_for_pod_ready(sid, timeout=30)
    out.info(f"Interactive shell for session: {sid}")
    out.info("Type 'exit' or 'quit' to exit, 'help' for help")
    print()

    def prompt() -> str:
        text = f"noxrunner:{sid}:{cwd}$ "
        if out.use_color(sys.stdout):
            # \001/\002 tell readline the escapes take no room.
            return f"\001{Colors.CYAN}\002{text}\001{Colors.RESET}\002"
        return text

    try:
        while True:
            try:
                line = input(prompt())
            except EOFError:
                print()
                break
            except KeyboardInterrupt:
                print()
                continue
            line = line.strip()
            if not line:
                continue
            if line in ("exit", "quit"):
                break
            if line == "help":
                print(SHELL_HELP)
                continue
            if line == "touch":
                try:
                    if client.touch(sid):
                        out.success("TTL extended")
                except NoxRunnerError as e:
                    fail(out, "Touch failed", e)
                continue
            if _is_plain_cd(line):
                cwd = _shell_cd(client, out, sid, cwd, line[2:].strip(), args)
                continue
            tail = PwdTail()
            try:
                r = _stream_exec(client, sid, ["sh", "-c", tail.script(line)], cwd, None,
                                 args.timeout_seconds, stdout_filter=tail.feed)
                rest, new_cwd = tail.finish()
                write_bytes(sys.stdout, rest)
                cwd = new_cwd or cwd
                code = int(r.get("exitCode", 0))
                if code != 0:
                    out.warning(f"Command exited with code {code}")
            except KeyboardInterrupt:
                print()
                out.warning("Interrupted")
            except CanceledError:
                out.warning("Canceled")
            except SandboxNotFoundError as e:
                fail(out, "Execution failed", e)
            except NoxRunnerError as e:
                fail(out, "Execution failed", e)
    finally:
        if readline_mod is not None:
            try:
                hist.parent.mkdir(parents=True, exist_ok=True)
                readline_mod.write_history_file(str(hist))
            except OSError:
                pass
    return 0


def _is_plain_cd(line: str) -> bool:
    """`cd` or `cd DIR` alone (no other command, no shell syntax)."""
    if not (line == "cd" or line.startswith("cd ")):
        return False
    return re.search(r"[;&|<>()`$*?{}\\\n]", line) is None


class PwdTail:
    """The shell's directory after a line, read back from the sandbox: the
    line runs with a trailer that prints a marker and `pwd -P` at its end
    (so `mkdir d && cd d`, `cd a; ls` or any other way of changing
    directory is followed, with the shell's own rules); feed() passes the
    output on without the marker."""

    def __init__(self) -> None:
        self.marker = f"\036noxrc-pwd-{secrets.token_hex(6)}:".encode()
        self._held = b""

    def script(self, line: str) -> str:
        # The blank line ends a trailing backslash continuation or comment.
        return (f"{line}\n\n__noxrc_rc=$?; printf '%s%s\\036' '{self.marker.decode()}' "
                f'"$(pwd -P)"; exit "$__noxrc_rc"\n')

    def feed(self, data: bytes) -> bytes:
        buf = self._held + data
        i = buf.find(self.marker)
        if i < 0:
            # Hold back an end that may be the start of the marker.
            i = len(buf)
            for k in range(min(len(self.marker) - 1, len(buf)), 0, -1):
                if buf.endswith(self.marker[:k]):
                    i = len(buf) - k
                    break
        self._held = buf[i:]
        return buf[:i]

    def finish(self) -> Tuple[bytes, Optional[str]]:
        """(output still held back, the directory or None when the line
        did not get to the end: exit, a syntax error, a timeout)."""
        held, self._held = self._held, b""
        i = held.find(self.marker)
        if i < 0:
            return held, None
        rest = held[i + len(self.marker):]
        end = rest.find(b"\036")
        if end <= 0:
            return held, None
        return held[:i] + rest[end + 1:], rest[:end].decode("utf-8", errors="replace")


def _shell_cd(client: NoxRunnerClient, out: Out, sid: str, cwd: str, target: str,
              args: argparse.Namespace) -> str:
    """Resolve `cd target` inside the sandbox; the new directory if it exists."""
    try:
        parts = shlex.split(target) if target else []
    except ValueError as e:
        out.error(f"cd: {e}")
        return cwd
    dest = parts[0] if parts else "/workspace"
    try:
        r = client.exec(sid, ["sh", "-c", 'cd -- "$1" && pwd -P', "sh", dest], workdir=cwd,
                        timeout_seconds=args.timeout_seconds)
    except NoxRunnerError as e:
        fail(out, "cd failed", e)
        return cwd
    if r["exitCode"] != 0:
        msg = r["stderr"].strip() or f"no such directory: {dest}"
        out.error(f"cd: {msg.splitlines()[-1]}")
        return cwd
    return r["stdout"].strip() or cwd


# ---- parser -----------------------------------------------------------------

EPILOG = """
Examples:
  %(prog)s health
  %(prog)s create my-session
  %(prog)s exec my-session python3 --version
  %(prog)s upload my-session script.py data.txt
  %(prog)s download my-session --extract ./output
  %(prog)s shell my-session
  %(prog)s run --dir ./project --output ./results -- python3 main.py
  %(prog)s --json list

Environment Variables:
  NOXRUNNER_BASE_URL    Base URL of the NoxRunner (default: http://127.0.0.1:8080)
  NOXRUNNER_API_KEY     Bearer token for the server
  NOXRUNNER_HOME        Where local sandboxes live (--local-test)
  NO_COLOR              Disable colours

Local Testing Mode:
  --local-test runs sandboxes on this machine (isolated in namespaces when
  the host allows it; see `%(prog)s --local-test info`).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="noxrc", description="NoxRunner CLI Tool",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    parser.add_argument("--base-url", default=get_base_url(),
                        help="Base URL of the NoxRunner (default: from NOXRUNNER_BASE_URL env "
                             "or http://127.0.0.1:8080). Ignored if --local-test is set.")
    parser.add_argument("--local-test", action="store_true",
                        help="Use local sandboxes on this machine instead of a server")
    parser.add_argument("--timeout", type=int, default=30,
                        help="Request timeout in seconds (default: 30)")
    parser.add_argument("--verbose", action="store_true",
                        help="Verbose output (tracebacks and response bodies on errors)")
    parser.add_argument("--json", action="store_true", help="Machine-readable JSON output")
    parser.add_argument("--no-color", action="store_true", help="Disable colours")
    parser.add_argument("--version", action="version",
                        version=f"noxrc {__version__} (core {core_version()})")

    sub = parser.add_subparsers(dest="command", help="Command to execute")

    p = sub.add_parser("health", help="Check if manager is healthy")
    p.set_defaults(func=cmd_health)

    p = sub.add_parser("create", help="Create or ensure sandbox exists")
    p.add_argument("session_id", help="Session identifier")
    p.add_argument("--ttl", type=int, default=900, help="TTL in seconds (default: 900)")
    p.add_argument("--image", help="Container image")
    p.add_argument("--cpu", help="CPU limit")
    p.add_argument("--mem", help="Memory limit")
    p.add_argument("--storage", help="Ephemeral storage limit")
    p.add_argument("--wait", action="store_true", help="Wait for pod to be ready")
    p.add_argument("--wait-timeout", type=int, default=30,
                   help="Wait timeout in seconds (default: 30)")
    p.set_defaults(func=cmd_create)

    p = sub.add_parser("exec", help="Execute command in sandbox")
    p.add_argument("session_id", help="Session identifier")
    p.add_argument("cmd", nargs=argparse.REMAINDER,
                   help="Command to execute (after '--' when it starts with '-')")
    p.add_argument("--workdir", default="/workspace",
                   help="Working directory (default: /workspace)")
    p.add_argument("--env", action="append", help="Environment variable (KEY=VALUE)")
    p.add_argument("--timeout-seconds", type=int, default=30,
                   help="Command timeout (default: 30)")
    p.add_argument("--ignore-exit-code", action="store_true",
                   help="Ignore non-zero exit codes")
    p.set_defaults(func=cmd_exec, usage_error=p.error, print_help=p.print_help)

    p = sub.add_parser("upload", help="Upload files to sandbox")
    p.add_argument("session_id", help="Session identifier")
    p.add_argument("files", nargs="*", help="Files to upload")
    p.add_argument("--dir", help="Upload entire directory")
    p.add_argument("--dest", default="/workspace",
                   help="Destination directory (default: /workspace)")
    p.set_defaults(func=cmd_upload)

    p = sub.add_parser("download", help="Download files from sandbox")
    p.add_argument("session_id", help="Session identifier")
    p.add_argument("--src", default="/workspace", help="Source directory (default: /workspace)")
    p.add_argument("--output",
                   help="Output tar file (if not specified, extracts to current directory)")
    p.add_argument("--extract", help="Extract directory (default: current directory)")
    p.set_defaults(func=cmd_download)

    p = sub.add_parser("touch", help="Extend sandbox TTL")
    p.add_argument("session_id", help="Session identifier")
    p.set_defaults(func=cmd_touch)

    p = sub.add_parser("delete", help="Delete sandbox")
    p.add_argument("session_id", help="Session identifier")
    p.set_defaults(func=cmd_delete)

    p = sub.add_parser("shell", help="Interactive shell")
    p.add_argument("session_id", help="Session identifier")
    p.add_argument("--workdir", default="/workspace",
                   help="Working directory (default: /workspace)")
    p.add_argument("--timeout-seconds", type=int, default=30,
                   help="Command timeout (default: 30)")
    p.set_defaults(func=cmd_shell)

    p = sub.add_parser("run", help="Create a sandbox, upload, run, download, delete",
                       description="Create a sandbox, upload --dir into /workspace, run the "
                                   "command, download --src into --output, delete the "
                                   "sandbox. Exits with the command's exit code.")
    p.add_argument("--dir", help="Directory whose contents go to /workspace")
    p.add_argument("--output", help="Local directory to extract --src into afterwards")
    p.add_argument("--src", default="/workspace", help="What to download (default: /workspace)")
    p.add_argument("--session", help="Session id (default: a random one)")
    p.add_argument("--ttl", type=int, default=900, help="TTL in seconds (default: 900)")
    p.add_argument("--keep", action="store_true", help="Keep the sandbox afterwards")
    p.add_argument("--workdir", default="/workspace", help="Working directory")
    p.add_argument("--env", action="append", help="Environment variable (KEY=VALUE)")
    p.add_argument("--timeout-seconds", type=int, default=300,
                   help="Command timeout (default: 300)")
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="Command (after --)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("list", help="List live sandboxes")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("info", help="Show client, backend and isolation details")
    p.set_defaults(func=cmd_info)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out = Out(json_mode=args.json, color=False if args.no_color else None,
              verbose=args.verbose)
    if not args.command:
        parser.print_help()
        return 1
    func: Callable[[argparse.Namespace, Out], int] = args.func

    def one_line_warning(message: Any, category: Any, filename: str, lineno: int,
                         file: Any = None, line: Optional[str] = None) -> None:
        print(out.paint(f"⚠ {message}", Colors.YELLOW, sys.stderr), file=sys.stderr)
    warnings.showwarning = one_line_warning
    try:
        return func(args, out)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        out.error("Interrupted by user")
        return 130
    except BrokenPipeError:
        return 1
    except Exception as e:  # one clear line, the traceback only with --verbose
        return fail(out, "Error", e)


if __name__ == "__main__":
    sys.exit(main())
