"""bench/bench.py's verdicts judge what the target names and never say
"yes" for what was not measured (fabricated measurements, no benchmark
run): a missing baseline, a missing agent pid, an isolation level that
fell back, a binding overhead judged end to end."""

from __future__ import annotations

import importlib.util
import os
import types
from typing import Any, Dict, List

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def bench() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("nox_bench_py",
                                                  os.path.join(ROOT, "bench", "bench.py"))
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class FakeCtx:
    """What the row builders use of bench.Ctx: rows, skips, a profile."""

    def __init__(self, prof: Dict[str, Any]) -> None:
        self.prof = prof
        self.rows: List[Dict[str, Any]] = []
        self.skipped: List[Dict[str, str]] = []
        self.results: Dict[str, Any] = {}
        self.url = None

    def row(self, bench, impl, st, unit="us", vs=None, target="", met=None, note=""):  # type: ignore[no-untyped-def]
        r = {"bench": bench, "impl": impl, "stats": st, "unit": unit, "vs": vs or [],
             "target": target, "met": met, "note": note}
        self.rows.append(r)
        return r


def verdicts(bench: types.ModuleType, ctx: FakeCtx) -> Dict[str, str]:
    _, lines = bench.table(ctx)
    return {ln[1]: ln[7] for ln in lines}


def rounds(us: float, n: int = 3, **extra: Any) -> List[Dict[str, Any]]:
    return [dict({"samples_us": [us] * 5}, **extra) for _ in range(n)]


def test_binding_overhead_is_judged_end_to_end(bench: types.ModuleType) -> None:
    # 10 µs outside nox_exec in-process, yet 100 µs slower end to end.
    ctx = FakeCtx({})
    got = {"c": rounds(1000), "py": rounds(1100, outside_c_us=[10.0] * 5)}
    S = {k: bench.stats(bench.pool(v)) for k, v in got.items()}
    bench.binding_rows(ctx, "B", got, S, [])
    v = verdicts(bench, ctx)["NoxRunner Python binding"]
    assert v.startswith("NO"), v


def test_a_missing_baseline_is_not_measured_never_yes(bench: types.ModuleType) -> None:
    ctx = FakeCtx(dict(exec_n=1, exec_warmup=0, rounds=1))
    got = {"floor": rounds(500), "c": rounds(600, isolation="namespaces")}
    # bwrap and 2.0.0 could not run: their clauses are not measured.
    bench.interleaved_rounds = lambda ctx, what, impls, r: got  # type: ignore[attr-defined]
    ctx.nb = ctx.py = ctx.go = ctx.lua = lambda *a, **k: None  # type: ignore[attr-defined]
    ctx.home = lambda tag: "/nonexistent"  # type: ignore[attr-defined]
    ctx.agent = "/nonexistent"  # type: ignore[attr-defined]
    bench.bench_exec_local(ctx)
    v = verdicts(bench, ctx)["NoxRunner C (isolation namespaces)"]
    assert v != "yes" and "not measured" in v and "bwrap" in v and "2.0.0" in v, v


def test_a_fallback_to_no_isolation_is_not_faster_than_bwrap(bench: types.ModuleType) -> None:
    ctx = FakeCtx(dict(exec_n=1, exec_warmup=0, rounds=1))
    got = {"floor": rounds(500), "bwrap": rounds(5000), "py200": rounds(9000),
           "c": rounds(600, isolation="none")}
    bench.interleaved_rounds = lambda ctx, what, impls, r: got  # type: ignore[attr-defined]
    ctx.home = lambda tag: "/nonexistent"  # type: ignore[attr-defined]
    ctx.agent = "/nonexistent"  # type: ignore[attr-defined]
    bench.bench_exec_local(ctx)
    v = verdicts(bench, ctx)["NoxRunner C (isolation none)"]
    assert v != "yes" and "not measured" in v and "isolation is none" in v, v


def test_no_agent_found_is_not_measured(bench: types.ModuleType) -> None:
    ctx = FakeCtx(dict(many=2))
    ctx.args = types.SimpleNamespace(sandboxes=2)  # type: ignore[attr-defined]
    ctx.home = lambda tag: "/nonexistent"  # type: ignore[attr-defined]
    ctx.agent = "/nonexistent"  # type: ignore[attr-defined]
    r = {"count": 2, "created": 2, "responded": 2, "agents": 0, "processes": 0,
         "pss_kb_per_sandbox": 0.0, "rss_kb_per_sandbox": 0.0, "first_error": "",
         "create_us": [1.0, 1.0], "samples_us": [1.0, 1.0]}
    ctx.nb = lambda *a, **k: r  # type: ignore[attr-defined]
    bench.bench_many(ctx)
    v = verdicts(bench, ctx)["memory per idle sandbox"]
    assert v != "yes" and "not measured" in v, v
