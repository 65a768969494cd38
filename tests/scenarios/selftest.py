#!/usr/bin/env python3
"""A scenario runner's self-test: every check it claims can fail.

    selftest.py RUNNER-COMMAND...

Plays tests/scenarios/expect_every_kind.json (which uses every expectation
kind of the format) and copies of it, each with one thing made wrong: one
expectation that does not hold, or one malformed step (an unknown key, an
expectation on an op that has none, message_contains without error, an
upload file with an unknown key or no files). The runner, started as
RUNNER-COMMAND with NOX_SCENARIOS pointing at a temporary directory of
these files and the local backend only, must pass the original and fail
every copy, naming it and the broken step ("step N"). Exit 0 when it does; otherwise the copies it let
through are printed.

The environment the runner needs (NOXRUNNERD, NOXRUNNER_AGENT, library
paths) is passed through.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import tempfile
from typing import Any, Callable, Dict, List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
BASE = "expect_every_kind"

Doc = Dict[str, Any]


def find(doc: Doc, op: str, pred: Callable[[Dict[str, Any]], bool] = lambda s: True) -> int:
    for i, s in enumerate(doc["steps"]):
        if s["op"] == op and pred(s):
            return i
    raise KeyError(op)


def main_exec(s: Dict[str, Any]) -> bool:
    return "stdout_contains" in s.get("expect", {}) and s["op"] == "exec"


def has(key: str) -> Callable[[Dict[str, Any]], bool]:
    return lambda s: key in s.get("expect", {})


def expect_set(op: str, pred: Callable[[Dict[str, Any]], bool], key: str,
               value: Any) -> Callable[[Doc], int]:
    def mutate(doc: Doc) -> int:
        i = find(doc, op, pred)
        doc["steps"][i].setdefault("expect", {})[key] = value
        return i
    return mutate


def step_edit(op: str, fn: Callable[[Dict[str, Any]], None]) -> Callable[[Doc], int]:
    def mutate(doc: Doc) -> int:
        i = find(doc, op)
        fn(doc["steps"][i])
        return i
    return mutate


def dl(key: str, value: Any) -> Callable[[Doc], int]:
    def mutate(doc: Doc) -> int:
        i = find(doc, "download")
        e = doc["steps"][i]["expect"]
        if isinstance(e.get(key), dict) and isinstance(value, dict):
            e[key] = {**e[key], **value}
        else:
            e[key] = value
        return i
    return mutate


MUTATIONS: List[Tuple[str, Callable[[Doc], int]]] = [
    # exec expectations that do not hold
    ("exit_code", expect_set("exec", main_exec, "exit_code", 1)),
    ("stdout", expect_set("exec", main_exec, "stdout", "alpha beta\nX")),
    ("stderr", expect_set("exec", main_exec, "stderr", "gamma\nX")),
    ("stdout_contains", expect_set("exec", main_exec, "stdout_contains", ["alpha", "zeta"])),
    ("stderr_contains", expect_set("exec", main_exec, "stderr_contains", "zeta")),
    ("stdout_not_contains", expect_set("exec", main_exec, "stdout_not_contains", "beta")),
    ("stdout_len", expect_set("exec", main_exec, "stdout_len", 12)),
    ("stdout_max_len", expect_set("exec", main_exec, "stdout_max_len", 10)),
    ("timed_out", expect_set("exec", main_exec, "timed_out", True)),
    ("stdout_truncated", expect_set("exec", main_exec, "stdout_truncated", True)),
    ("stderr_truncated", expect_set("exec", main_exec, "stderr_truncated", True)),
    ("duration_ms_max", expect_set("exec", main_exec, "duration_ms_max", 10)),
    ("exit_code_not", expect_set("exec", has("exit_code_not"), "exit_code_not", 3)),
    ("stdout_b64", expect_set("exec", has("stdout_b64"), "stdout_b64", "AQM=")),
    ("stderr_b64", expect_set("exec", has("stderr_b64"), "stderr_b64", "/g==")),
    ("timed_out_false", expect_set("exec", lambda s: s.get("timeout") == 1, "timed_out", False)),
    ("truncated_false", expect_set("exec", lambda s: "max_output" in s, "stdout_truncated", False)),
    ("stderr_truncated_false",
     expect_set("exec", lambda s: "max_output" in s, "stderr_truncated", False)),
    ("shell_stdout", expect_set("exec_shell", has("stdout"), "stdout", "43\n")),
    ("stream_min_chunks", expect_set("stream", has("min_chunks"), "min_chunks", 1000)),
    ("stream_stdout", expect_set("stream", has("stdout"), "stdout", "one\n")),
    # errors
    ("create_error", expect_set("create", lambda s: True, "error", "NOX_EINVAL")),
    ("error_code", expect_set("exec", has("error"), "error", "NOX_EINVAL")),
    ("message_contains", expect_set("exec", has("error"), "message_contains", "zzz-not-there")),
    # on a step that succeeds: a runner must reject it, not ignore it
    ("message_contains_without_error",
     expect_set("exec", main_exec, "message_contains", "alpha")),
    # downloads, judged in the archive itself
    ("files", dl("files", {"a.txt": "hellO"})),
    ("files_missing", dl("files", {"missing.txt": "x"})),
    ("files_b64", dl("files_b64", {"sub/b.bin": "AAED"})),
    ("modes_07777", dl("modes", {"sticky": "777"})),
    ("modes", dl("modes", {"a.txt": "644"})),
    ("dirs_file", dl("dirs", ["sub", "a.txt"])),
    ("dirs_missing", dl("dirs", ["nope"])),
    ("absent", dl("absent", ["a.txt"])),
    ("parallel_inner", step_edit("parallel", lambda s: s["step"]["expect"].update(
        {"stdout_contains": "zzz"}))),
    # malformed steps: rejected, never ignored
    ("expect_on_sleep", step_edit("sleep", lambda s: s.update({"expect": {"error": "NOX_EINVAL"}}))),
    ("expect_on_parallel",
     step_edit("parallel", lambda s: s.update({"expect": {"error": "NOX_EINVAL"}}))),
    ("unknown_expect_key", expect_set("exec", main_exec, "stdout_contain", "alpha")),
    ("unknown_download_key", dl("file", {"a.txt": "hello"})),
    ("unknown_field", step_edit("touch", lambda s: s.update({"sesion": "$S"}))),
    ("upload_file_key", step_edit("upload", lambda s: s["files"][0].update({"mdoe": 420}))),
    ("upload_no_files", step_edit("upload", lambda s: s.pop("files"))),
]


def write_variants(src: Doc, out: str) -> List[Tuple[str, int]]:
    """The copies written to out: (name, index of the broken step)."""
    names = []
    with open(os.path.join(out, BASE + ".json"), "w", encoding="utf-8") as fh:
        json.dump({**src, "backends": ["local"]}, fh)
    for tag, mutate in MUTATIONS:
        doc = copy.deepcopy(src)
        i = mutate(doc)
        name = f"{BASE}__{tag}"
        # The steps after the broken one are not needed to show it fails.
        doc["steps"] = doc["steps"][: i + 1]
        doc["name"] = name
        doc["backends"] = ["local"]
        with open(os.path.join(out, name + ".json"), "w", encoding="utf-8") as fh:
            json.dump(doc, fh)
        names.append((name, i))
    return names


def main(argv: List[str]) -> int:
    if not argv:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    with open(os.path.join(HERE, BASE + ".json"), encoding="utf-8") as fh:
        src = json.load(fh)
    with tempfile.TemporaryDirectory(prefix="nox-selftest-") as tmp:
        names = write_variants(src, tmp)
        env = dict(os.environ, NOX_SCENARIOS=tmp, NOX_SCENARIO_BACKEND="local",
                   NOX_BACKENDS="local")
        p = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=600)
    out = p.stdout.decode("utf-8", "replace")
    lines = out.splitlines()
    bad = []
    summary = [m for m in (re.search(r"(\w+)-local: (\d+) passed, (\d+) failed", ln)
                           for ln in lines) if m]
    if not summary:
        bad.append("no summary line \"<lang>-local: N passed, N failed\"")
    else:
        passed, failed = int(summary[-1].group(2)), int(summary[-1].group(3))
        if (passed, failed) != (1, len(names)):
            bad.append(f"summary {passed} passed, {failed} failed; expected 1 passed, "
                       f"{len(names)} failed")
    # Failed at the broken step (runners name it "step N", 0-based), not
    # at an earlier one that fails for another reason.
    for name, i in names:
        if not any("FAIL" in ln and re.search(re.escape(name) + r"\b", ln) and
                   re.search(rf"\bstep {i}\b", ln) for ln in lines):
            bad.append(f"{name}: not reported as failed at step {i}")
    if any("FAIL" in ln and re.search(re.escape(BASE) + r"(?!__)\b", ln) for ln in lines):
        bad.append(f"{BASE} itself failed")
    if bad:
        print(out)
        for b in bad:
            print(f"selftest: {b}")
        print(f"selftest: {' '.join(argv)}: FAILED")
        return 1
    print(f"selftest: {' '.join(argv)}: the original passed, all {len(names)} broken copies "
          "failed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
