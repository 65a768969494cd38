#!/usr/bin/env python3
"""NoxRunner benchmark suite: runs every measurement and its baselines in
one invocation, prints one table (median, p90, ratio against each
baseline, target, met?) and writes bench/results/latest.json and
bench/results/latest.md.

bench/run.sh builds and installs what this needs, then calls
    bench.py --quick|--full --tools DIR
where DIR holds nox_bench, bench-go, the Lua module, the venvs and the
staged install (see run.sh). Nothing here asserts on time: targets are
reported, never enforced.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

PROFILES = {
    # rounds: the exec groups run every implementation once per round,
    # interleaved, so a noisy neighbour hits all of them alike.
    "quick": dict(rounds=6, exec_n=100, exec_warmup=20, create_n=20, create_warmup=3,
                  small_n=3, small_warmup=1, big_mb=[100], big_n=2, big_warmup=1,
                  threads=[1, 2, 64], thread_execs=640, thread_passes=2, http_threads=[1, 2, 16],
                  many=50),
    "full": dict(rounds=10, exec_n=300, exec_warmup=50, create_n=100, create_warmup=10,
                 small_n=10, small_warmup=2, big_mb=[100, 1024], big_n=3, big_warmup=1,
                 threads=[1, 2, 4, 8, 16, 32, 64], thread_execs=2000, thread_passes=3,
                 http_threads=[1, 2, 4, 16, 64], many=500),
}


# ---- statistics ---------------------------------------------------------

def quantile(xs, q):
    s = sorted(xs)
    if not s:
        return float("nan")
    pos = (len(s) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def stats(samples):
    return {"n": len(samples), "median": quantile(samples, 0.5), "p90": quantile(samples, 0.9),
            "min": min(samples) if samples else float("nan"),
            "mean": sum(samples) / len(samples) if samples else float("nan")}


def fmt_us(us):
    if us != us:
        return "-"
    if us < 10_000:
        return "%.0f µs" % us
    if us < 10_000_000:
        return "%.1f ms" % (us / 1e3)
    return "%.2f s" % (us / 1e6)


# ---- machine -------------------------------------------------------------

def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = "%.1f GiB" % (int(line.split()[1]) / 1048576)
    try:
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "core",
                                "server", "bindings"], capture_output=True, text=True).stdout
        commit += " (core/bindings modified)" if dirty.strip() else ""
    except OSError:
        commit = "?"
    return {"hostname": platform.node(), "nproc": os.cpu_count(), "cpu": cpu, "memory": mem,
            "kernel": platform.release(), "loadavg_start": os.getloadavg(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "python": platform.python_version(), "commit": commit}


# ---- running things -------------------------------------------------------

class Ctx:
    def __init__(self, args, prof):
        self.args = args
        self.prof = prof
        t = args.tools
        self.nox_bench = os.path.join(t, "nox_bench")
        self.bench_go = os.path.join(t, "bench-go")
        self.lua_dir = os.path.join(t, "lua")
        self.py_ours = os.path.join(t, "venv-ours", "bin", "python")
        self.py_200 = os.path.join(t, "venv-200", "bin", "python")
        self.stage = os.path.join(t, "stage")
        self.agent = os.path.join(self.stage, "libexec", "noxrunner", "nox-sandbox")
        self.noxrunnerd = os.path.join(self.stage, "bin", "noxrunnerd")
        self.mcp = os.path.join(self.stage, "bin", "noxrunner-mcp")
        # Short: unix socket paths of sandboxes live under it.
        self.tmp = tempfile.mkdtemp(prefix="nb-", dir="/tmp")
        self.data = tempfile.mkdtemp(prefix="nox-bench-data-", dir=args.data_dir)
        self.results = {}   # name -> raw result dicts
        self.rows = []      # table rows
        self.skipped = []   # (what, why)
        self.server = None
        self.url = None

    def home(self, tag):
        d = os.path.join(self.tmp, tag)
        os.makedirs(d, exist_ok=True)
        return d

    def run_json(self, what, cmd, env=None, cwd=None, timeout=3600):
        e = dict(os.environ)
        e.update(env or {})
        t0 = time.time()
        p = subprocess.run(cmd, capture_output=True, text=True, env=e, cwd=cwd or self.tmp,
                           timeout=timeout)
        if p.returncode != 0:
            why = (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1]
            raise RuntimeError("%s failed: %s" % (what, why))
        out = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
        r = json.loads(out[-1])
        r["wall_seconds"] = round(time.time() - t0, 3)
        return r

    def nb(self, mode, *opts, what=None):
        return self.run_json(what or "nox_bench " + mode,
                             [self.nox_bench, mode] + [str(o) for o in opts])

    def py(self, which, mode, *opts):
        exe = self.py_ours if which == "ours" else self.py_200
        return self.run_json("python (%s) %s" % (which, mode),
                             [exe, os.path.join(HERE, "drivers", "py", "bench_py.py"), mode]
                             + [str(o) for o in opts], env={"NOXRUNNER_AGENT": self.agent})

    def go(self, *opts):
        return self.run_json("go driver", [self.bench_go] + [str(o) for o in opts])

    def lua(self, *opts):
        env = {"LUA_PATH": os.path.join(self.lua_dir, "?.lua") + ";;",
               "LUA_CPATH": os.path.join(self.lua_dir, "?.so") + ";;"}
        return self.run_json("lua driver", ["lua5.4", os.path.join(HERE, "drivers", "lua",
                                                                     "bench_lua.lua")]
                             + [str(o) for o in opts], env=env)

    def skip(self, what, why):
        print("  skipped: %s: %s" % (what, why), flush=True)
        self.skipped.append({"what": what, "why": str(why)})

    def row(self, bench, impl, st, unit="us", vs=None, target="", met=None, note=""):
        r = {"bench": bench, "impl": impl, "stats": st, "unit": unit, "vs": vs or [],
             "target": target, "met": met, "note": note}
        self.rows.append(r)
        return r

    # -- noxrunnerd --------------------------------------------------------
    def start_server(self):
        home = self.home("srv")
        self.server = subprocess.Popen(
            [self.noxrunnerd, "--port", "0", "--quiet", "--base-dir", home, "--agent", self.agent,
             "--max-upload-bytes", "8G", "--max-execs-per-sandbox", "128"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.server.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError("noxrunnerd did not start: %r" % line)
        self.url = line.split("listening on", 1)[1].strip()

    def stop_server(self):
        if self.server:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(30)
            except subprocess.TimeoutExpired:
                self.server.kill()
            self.server = None


def pool(results):
    out = []
    for r in results:
        out.extend(r["samples_us"])
    return out


def pool_key(results, key):
    out = []
    for r in results:
        out.extend(r.get(key, []))
    return out


def paired_overhead(got, k, base="c"):
    """Binding overhead as the median over rounds of (median of the
    binding's round - median of C's round in the same round): rounds run
    back to back, so drift of the machine's load cancels out better than
    in the difference of pooled medians. Returns (estimate, [per round])."""
    diffs = [quantile(a["samples_us"], 0.5) - quantile(b["samples_us"], 0.5)
             for a, b in zip(got.get(k, []), got.get(base, []))]
    return (quantile(diffs, 0.5) if diffs else float("nan")), diffs


def clause(value, test):
    """A target clause's verdict: None (not measured) when its figure is
    missing, else test(value)."""
    return None if value is None or value != value else bool(test(value))


def attempt(ctx, what, fn):
    try:
        return fn()
    except Exception as e:  # a baseline that cannot run here is reported, not fatal
        ctx.skip(what, e)
        return None


# ---- exec round trips ------------------------------------------------------


def interleaved_rounds(ctx, what, impls, rounds):
    """Run every implementation once per round, in turn, so machine noise
    hits them alike; an implementation that fails once is dropped."""
    got = {k: [] for k in impls}
    dead = set()
    for rnd in range(rounds):
        for k, fn in impls.items():
            if k in dead:
                continue
            print("  %s: round %d/%d: %s" % (what, rnd + 1, rounds, k), flush=True)
            r = attempt(ctx, "%s via %s" % (what, k), fn)
            if r is None:
                dead.add(k)
            else:
                got[k].append(r)
    return got


def binding_rows(ctx, B, got, S, extra_bases):
    if "c_stream" in S and "c" in S:
        d, diffs = paired_overhead(got, "c_stream")
        ctx.row(B, "NoxRunner C, streaming API (start/next)", S["c_stream"],
                vs=[("C", S["c_stream"]["median"] / S["c"]["median"])],
                note="reference for Go (its Exec streams): %+.0f µs vs nox_exec" % d)
    for k, name in (("py", "Python binding"), ("go", "Go binding"), ("lua", "Lua binding")):
        if k in S and "c" in S:
            over, diffs = paired_overhead(got, k)
            vs = [("C", S[k]["median"] / S["c"]["median"])]
            extra = ""
            met = [("overhead <50 µs end to end (is %+.0f µs)" % over, over < 50)]
            if k == "go" and "c_stream" in S:
                o2, _ = paired_overhead(got, "go", "c_stream")
                extra = "; %+.0f µs over the C streaming API it uses" % o2
            split = pool_key(got.get(k, []), "outside_c_us")
            if split:
                # For reading only: the target names the end-to-end
                # difference (paired by round), and that is what is judged.
                inproc = quantile(split, 0.5)
                extra += ("; in-process: %.1f µs of each call is outside nox_exec (median, p90 "
                          "%.1f), for reference" % (inproc, quantile(split, 0.9)))
            if over != over:
                met = [("overhead <50 µs (no paired rounds)", None)]
            for b in extra_bases:
                if b in S:
                    vs.append(("2.0.0", S[k]["median"] / S[b]["median"]))
            ctx.row(B, "NoxRunner %s" % name, S[k], vs=vs, target="overhead <50 µs over C",
                    met=met,
                    note="overhead %+.0f µs (per round: %s)%s" % (
                        over, " ".join("%+.0f" % d for d in diffs), extra))


def bench_exec_local(ctx):
    p = ctx.prof
    n, w = p["exec_n"], p["exec_warmup"]
    ws = ctx.home("bwrap-ws")
    impls = {
        "floor": lambda: ctx.nb("spawn", "--n", n, "--warmup", w),
        "floor_pipes": lambda: ctx.nb("spawn", "--n", n, "--warmup", w, "--pipes", 1),
        "c": lambda: ctx.nb("exec", "--n", n, "--warmup", w, "--home", ctx.home("c"),
                            "--agent", ctx.agent),
        "c_stream": lambda: ctx.nb("exec-stream", "--n", n, "--warmup", w, "--home",
                                   ctx.home("cs"), "--agent", ctx.agent),
        "bwrap": lambda: ctx.nb("bwrap", "--n", n, "--warmup", w, "--ws", ws),
        "py200": lambda: ctx.py("200", "exec", "--n", n, "--warmup", w, "--base-dir",
                                ctx.home("py200")),
        "py": lambda: ctx.py("ours", "exec", "--n", n, "--warmup", w, "--base-dir",
                             ctx.home("py"), "--split"),
        "go": lambda: ctx.go("-n", n, "-warmup", w, "-home", ctx.home("go"), "-agent", ctx.agent),
        "lua": lambda: ctx.lua(n, w, "local", ctx.home("lua"), ctx.agent),
    }
    got = interleaved_rounds(ctx, "local exec", impls, p["rounds"])
    ctx.results["exec_local"] = got
    S = {k: stats(pool(v)) for k, v in got.items() if v}
    B = "local exec `true` (ready sandbox)"

    def ratio(k, base):
        if k in S and base in S:
            return S[k]["median"] / S[base]["median"]
        return None

    if "floor" in S:
        ctx.row(B, "posix_spawn+wait (floor)", S["floor"], note="baseline")
    if "floor_pipes" in S:
        ctx.row(B, "posix_spawn+pipes+read+wait", S["floor_pipes"],
                vs=[("floor", ratio("floor_pipes", "floor"))], note="reference: output captured")
    if "bwrap" in S:
        ctx.row(B, "bwrap per command", S["bwrap"], vs=[("floor", ratio("bwrap", "floor"))],
                note="baseline")
    if "py200" in S:
        ctx.row(B, "noxrunner 2.0.0 local (unisolated)", S["py200"],
                vs=[("floor", ratio("py200", "floor"))], note="baseline")
    if "c" in S:
        iso = got["c"][0].get("isolation")
        vs = [("floor", ratio("c", "floor")), ("floor+pipes", ratio("c", "floor_pipes")),
              ("bwrap", ratio("c", "bwrap")),
              ("2.0.0", ratio("c", "py200"))]
        # Every clause of the target is listed: one whose baseline is
        # missing is "not measured" (None), never dropped. The bwrap clause
        # compares isolated with isolated: it needs the namespaces level in
        # force (a fallback to "none" is not "faster than bwrap").
        parts = [("1.3x floor", clause(ratio("c", "floor"), lambda r: r <= 1.3))]
        if iso != "namespaces":
            parts.append(("<1x bwrap (isolation is %s, not namespaces)" % iso, None))
        else:
            parts.append(("<1x bwrap", clause(ratio("c", "bwrap"), lambda r: r < 1.0)))
        parts.append(("<1x 2.0.0", clause(ratio("c", "py200"), lambda r: r < 1.0)))
        ctx.row(B, "NoxRunner C (isolation %s)" % iso, S["c"], vs=vs,
                target="<=1.3x floor, <1x bwrap, <1x 2.0.0", met=parts)
    binding_rows(ctx, B, got, S, [])


def bench_exec_http(ctx):
    p = ctx.prof
    n, w = p["exec_n"], p["exec_warmup"]
    url = ctx.url
    impls = {
        "floor": lambda: ctx.nb("spawn", "--n", n, "--warmup", w),
        "c": lambda: ctx.nb("exec", "--n", n, "--warmup", w, "--url", url),
        "c_stream": lambda: ctx.nb("exec-stream", "--n", n, "--warmup", w, "--url", url),
        "curl": lambda: ctx.nb("exec-curl", "--n", n, "--warmup", w, "--url", url),
        "raw": lambda: ctx.nb("exec-raw", "--n", n, "--warmup", w, "--url", url),
        "py200": lambda: ctx.py("200", "exec", "--n", n, "--warmup", w, "--url", url),
        "py": lambda: ctx.py("ours", "exec", "--n", n, "--warmup", w, "--url", url, "--split"),
        "go": lambda: ctx.go("-n", n, "-warmup", w, "-url", url),
        "lua": lambda: ctx.lua(n, w, "http", url),
    }
    got = interleaved_rounds(ctx, "HTTP exec", impls, p["rounds"])
    ctx.results["exec_http"] = got
    S = {k: stats(pool(v)) for k, v in got.items() if v}
    B = "HTTP exec `true` via noxrunnerd (loopback)"
    if "py200" in S:
        ctx.row(B, "noxrunner 2.0.0 HTTP client", S["py200"], note="baseline")
    if "c" in S:
        vs = []
        mets = [("floor+0.5 ms", None), ("1.5x vs 2.0.0", None)]  # until measured
        if "floor" in S:
            extra = S["c"]["median"] - S["floor"]["median"]
            vs.append(("floor", S["c"]["median"] / S["floor"]["median"]))
            mets[0] = ("floor+0.5 ms", extra <= 500)
        if "py200" in S:
            speedup = S["py200"]["median"] / S["c"]["median"]
            vs.append(("2.0.0", S["c"]["median"] / S["py200"]["median"]))
            mets[1] = ("1.5x vs 2.0.0", speedup >= 1.5)
        note = ""
        if "floor" in S:
            note = "floor %+.0f µs" % (S["c"]["median"] - S["floor"]["median"])
        ctx.row(B, "NoxRunner C client", S["c"], vs=vs,
                target="<= floor+0.5 ms; >=1.5x faster than 2.0.0",
                met=mets, note=note)
    # What the same request costs through the plainest libcurl loop and
    # through no HTTP library at all: the reach of any client built on
    # libcurl (as ours is), and of any client, against this server here.
    for k, name, what in (("curl", "reference: minimal libcurl loop, one handle",
                           "the plainest libcurl client"),
                          ("raw", "reference: hand-written HTTP/1.1 on one socket",
                           "no HTTP library at all")):
        if k not in S:
            continue
        vs = []
        if "py200" in S:
            vs.append(("2.0.0", S[k]["median"] / S["py200"]["median"]))
        if "c" in S:
            vs.append(("C", S[k]["median"] / S["c"]["median"]))
        note = "same request, same server; %s" % what
        if "py200" in S:
            note += ": %.2fx faster than 2.0.0" % (S["py200"]["median"] / S[k]["median"])
        if "c" in S:
            d, _ = paired_overhead(got, "c", k)
            note += "; the C client: %+.0f µs against it (paired by round)" % d
        ctx.row(B, name, S[k], vs=vs, note=note)
    binding_rows(ctx, B, got, S, ["py200"])


# ---- MCP: exec through noxrunner-mcp over stdio ------------------------------

MCP_RSS_FLAT_KB = 256  # over 1,000 calls: a leak of 256 bytes a call would show


def bench_mcp(ctx):
    """One nox_bench mcp-exec run: it interleaves, by round, exec tool calls
    through noxrunner-mcp (a C client on its stdin/stdout) with nox_exec()
    on the same local home, and reads the server's VmRSS before and after
    1,000 calls. The overhead judged is the median over rounds of (MCP
    round median - C round median)."""
    p = ctx.prof
    r = attempt(ctx, "exec via noxrunner-mcp", lambda: ctx.nb(
        "mcp-exec", "--mcp", ctx.mcp, "--n", p["exec_n"], "--warmup", p["exec_warmup"],
        "--rounds", p["rounds"], "--rss-calls", 1000, "--home", ctx.home("mcp"),
        "--agent", ctx.agent))
    if not r:
        return
    ctx.results["mcp_exec"] = r
    c, m = r["impls"]["c"], r["impls"]["mcp"]
    sc, sm = stats(c["samples_us"]), stats(m["samples_us"])
    over = m["overhead_us"]
    diffs = [a - b for a, b in zip(m["round_medians_us"], c["round_medians_us"])]
    ping = ""
    if "mcp_ping" in r["impls"]:  # the pipes' floor, for reading the overhead
        ping = "; a ping round trip on the same pipes: %.0f µs (median)" % quantile(
            r["impls"]["mcp_ping"]["samples_us"], 0.5)
    B = "MCP `exec` tool call of `true` via noxrunner-mcp (stdio, local)"
    ctx.row(B, "NoxRunner C nox_exec (same home, same run)", sc, note="baseline")
    ctx.row(B, "noxrunner-mcp, C client on its pipes", sm,
            vs=[("C", sm["median"] / sc["median"])], target="overhead <100 µs over nox_exec",
            met=[("overhead <100 µs (is %+.0f µs)" % over, clause(over, lambda v: v < 100))],
            note="overhead %+.0f µs paired by round (per round: %s)%s" % (
                over, " ".join("%+.0f" % d for d in diffs), ping))
    before, after = m["rss_kb_before"], m["rss_kb_after"]
    grew = after - before if before > 0 and after > 0 else float("nan")
    ctx.row("noxrunner-mcp RSS over %d exec calls" % r["rss_calls"], "noxrunner-mcp",
            {"n": r["rss_calls"], "median": float("nan"), "p90": float("nan")}, unit="none",
            target="flat: grows < %d kB" % MCP_RSS_FLAT_KB,
            met=[("flat (grew %+d kB)" % grew if grew == grew else "flat",
                  clause(grew, lambda v: v < MCP_RSS_FLAT_KB))],
            note="VmRSS %d kB after warm-up, %d kB after %d calls" % (
                before, after, r["rss_calls"]))


# ---- create + delete ------------------------------------------------------

def bench_create(ctx):
    p = ctx.prof
    n, w = p["create_n"], p["create_warmup"]
    B = "create + delete a sandbox"
    got = {}
    got["c"] = attempt(ctx, "create via C local", lambda: ctx.nb(
        "create", "--n", n, "--warmup", w, "--home", ctx.home("create-c"), "--agent", ctx.agent))
    got["c_http"] = attempt(ctx, "create via C HTTP", lambda: ctx.nb(
        "create", "--n", n, "--warmup", w, "--url", ctx.url)) if ctx.url else None
    # The same from a caller holding 1 GB (a big Python or Go program).
    got["c_big"] = attempt(ctx, "create via C local from a 1 GB process", lambda: ctx.nb(
        "create", "--n", n, "--warmup", w, "--home", ctx.home("create-big"), "--agent",
        ctx.agent, "--ballast-mb", 1024))
    got["py200"] = attempt(ctx, "create via 2.0.0 local", lambda: ctx.py(
        "200", "create", "--n", n, "--warmup", w, "--base-dir", ctx.home("create-200")))
    ctx.results["create"] = got
    if got["py200"]:
        ctx.row(B, "noxrunner 2.0.0 local (mkdir/rmtree)", stats(got["py200"]["samples_us"]),
                note="baseline, no process")
    for k, name in (("c", "NoxRunner C local"),
                    ("c_big", "NoxRunner C local, caller holding 1 GB"),
                    ("c_http", "NoxRunner C via noxrunnerd")):
        r = got.get(k)
        if not r:
            continue
        st = stats(r["samples_us"])
        c, d = stats(r["create_us"]), stats(r["delete_us"])
        vs = [("2.0.0", st["median"] / stats(got["py200"]["samples_us"])["median"])] \
            if got["py200"] else []
        ctx.row(B, name, st, vs=vs, target="median < 20 ms", met=st["median"] < 20_000,
                note="create %s + delete %s" % (fmt_us(c["median"]), fmt_us(d["median"])))


# ---- transfers -------------------------------------------------------------

def make_small(ctx):
    """20 MB in 200 files, 100 KB each, in 10 directories: base64 text of
    random bytes (compresses about 4:3, like source and data files)."""
    d = os.path.join(ctx.data, "small")
    import base64
    for i in range(200):
        sub = os.path.join(d, "dir%02d" % (i % 10))
        os.makedirs(sub, exist_ok=True)
        raw = os.urandom(75 * 1024)
        with open(os.path.join(sub, "file%03d.txt" % i), "wb") as f:
            f.write(base64.b64encode(raw)[:100 * 1024 - 1] + b"\n")
    return d


def make_big(ctx, mb):
    """One file of mb MiB of zeros, sparse on disk (made with truncate)."""
    d = os.path.join(ctx.data, "big%d" % mb)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "blob.bin"), "wb") as f:
        f.truncate(mb << 20)
    return d


def tar_roundtrip(ctx, src, n, warmup, gzip=True):
    """By hand: tar cf | tar xf into a second directory and back again
    (pack, unpack, pack, unpack), as upload + download do. gzip=False is
    the same work as ours (the local and loopback paths move a plain tar);
    gzip=True (czf | xzf) compresses both ways: more work, a reference."""
    z = "z" if gzip else ""
    mid = os.path.join(ctx.tmp, "tar-mid")
    dst = os.path.join(ctx.tmp, "tar-dst")
    samples, one_way = [], []
    for i in range(-warmup, n):
        for d in (mid, dst):
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
        t0 = time.perf_counter_ns()
        subprocess.run("tar c%sf - -C '%s' . | tar x%sf - -C '%s'" % (z, src, z, mid),
                       shell=True, check=True)
        t1 = time.perf_counter_ns()
        subprocess.run("tar c%sf - -C '%s' . | tar x%sf - -C '%s'" % (z, mid, z, dst),
                       shell=True, check=True)
        t2 = time.perf_counter_ns()
        if i >= 0:
            samples.append((t2 - t0) / 1e3)
            one_way.append((t1 - t0) / 1e3)
    shutil.rmtree(mid, ignore_errors=True)
    shutil.rmtree(dst, ignore_errors=True)
    # tar c(z)f alone, into a pipe: the packing half, for reference.
    czf = []
    for i in range(-warmup, n):
        t0 = time.perf_counter_ns()
        # through a pipe: GNU tar skips reading the files when the archive is /dev/null
        subprocess.run("tar c%sf - -C '%s' . | wc -c >/dev/null" % (z, src), shell=True,
                       check=True)
        if i >= 0:
            czf.append((time.perf_counter_ns() - t0) / 1e3)
    return {"samples_us": samples, "one_way_us": one_way, "czf_only_us": czf}


def bench_xfer(ctx, label, src, nbytes, n, warmup):
    out = os.path.join(ctx.tmp, "xfer-out")
    B = "upload + download %s" % label
    got = {}
    got["c"] = attempt(ctx, B + " via C local", lambda: ctx.nb(
        "xfer", "--n", n, "--warmup", warmup, "--home", ctx.home("xfer-c"), "--agent", ctx.agent,
        "--src", src, "--out", out))
    if ctx.url:
        got["c_http"] = attempt(ctx, B + " via C HTTP", lambda: ctx.nb(
            "xfer", "--n", n, "--warmup", warmup, "--url", ctx.url, "--src", src, "--out", out))
    got["tar"] = attempt(ctx, B + " via tar (plain)", lambda: tar_roundtrip(
        ctx, src, n, warmup, gzip=False))
    got["tar_gz"] = attempt(ctx, B + " via tar (gzip)", lambda: tar_roundtrip(
        ctx, src, n, warmup, gzip=True))
    # The baselines get the warm-up and sample count ours get.
    got["py200"] = attempt(ctx, B + " via 2.0.0 local", lambda: ctx.py(
        "200", "xfer", "--n", n, "--warmup", warmup, "--base-dir",
        ctx.home("xfer-200"), "--src", src, "--out", out))
    if ctx.url:
        got["py200_http"] = attempt(ctx, B + " via 2.0.0 HTTP", lambda: ctx.py(
            "200", "xfer", "--n", n, "--warmup", warmup, "--url", ctx.url, "--src", src,
            "--out", out))
    ctx.results["xfer " + label] = got
    S = {k: stats(v["samples_us"]) for k, v in got.items() if v}
    mb = nbytes / 1e6

    def thr(k):
        return mb / (S[k]["median"] / 1e6)

    if "tar" in S:
        ctx.row(B, "tar cf | tar xf, there and back", S["tar"],
                note="baseline: the same work as ours (a plain tar), %.0f MB/s; tar cf alone %s" % (
                    thr("tar"), fmt_us(stats(got["tar"]["czf_only_us"])["median"])))
    if "tar_gz" in S:
        ctx.row(B, "tar czf | tar xzf, there and back", S["tar_gz"],
                note="reference: compresses both ways (more work than ours), %.0f MB/s; "
                     "tar czf alone %s" % (
                         thr("tar_gz"), fmt_us(stats(got["tar_gz"]["czf_only_us"])["median"])))
    for k, name in (("py200", "noxrunner 2.0.0 local"), ("py200_http", "noxrunner 2.0.0 HTTP")):
        if k in S:
            ctx.row(B, name, S[k], note="baseline, %.0f MB/s (up %s, down %s), peak RSS %.0f MB" % (
                thr(k), fmt_us(stats(got[k]["upload_us"])["median"]),
                fmt_us(stats(got[k]["download_us"])["median"]), got[k]["vmhwm_kb"] / 1024))
    for k, name, base in (("c", "NoxRunner C local", "py200"),
                          ("c_http", "NoxRunner C via noxrunnerd", "py200_http")):
        if k not in S:
            continue
        vs = []
        mets = [("5x vs 2.0.0", None), ("80% of plain tar round trip", None)]  # until measured
        if base in S:
            vs.append(("2.0.0", S[k]["median"] / S[base]["median"]))
            mets[0] = ("5x vs 2.0.0 (is %.2fx)" % (S[base]["median"] / S[k]["median"]),
                       S[base]["median"] / S[k]["median"] >= 5)
        if "tar" in S:
            vs.append(("plain tar round trip", S[k]["median"] / S["tar"]["median"]))
            vs.append(("tar cf alone", S[k]["median"] / stats(got["tar"]["czf_only_us"])["median"]))
            mets[1] = ("80%% of plain tar round trip (is %.0f%%)" % (
                100 * S["tar"]["median"] / S[k]["median"]), S["tar"]["median"] / S[k]["median"] >= 0.8)
        if "tar_gz" in S:
            vs.append(("tar.gz round trip", S[k]["median"] / S["tar_gz"]["median"]))
        up, down = stats(got[k]["upload_us"]), stats(got[k]["download_us"])
        ctx.row(B, name, S[k], vs=vs,
                target=">=5x faster than 2.0.0; >=80% of plain tar throughput (round trip)",
                met=mets,
                note="%.0f MB/s (up %s, down %s), peak RSS %.1f MB" % (
                    thr(k), fmt_us(up["median"]), fmt_us(down["median"]),
                    got[k]["vmhwm_kb"] / 1024))
    return got


def bench_transfers(ctx):
    p = ctx.prof
    small = make_small(ctx)
    bench_xfer(ctx, "20 MB in 200 files", small, 200 * 100 * 1024, p["small_n"],
               p["small_warmup"])
    shutil.rmtree(small, ignore_errors=True)
    peaks = {}
    for mb in p["big_mb"]:
        big = make_big(ctx, mb)
        label = "one %s file" % ("%d GB" % (mb // 1024) if mb >= 1024 else "%d MB" % mb)
        got = bench_xfer(ctx, label, big, mb << 20, p["big_n"], p["big_warmup"])
        shutil.rmtree(big, ignore_errors=True)
        peaks[mb] = {k: (v or {}).get("vmhwm_kb") for k, v in got.items()
                     if not k.startswith("tar")}
    ctx.results["xfer_peak_kb"] = peaks
    sizes = sorted(peaks)
    for k, name in (("c", "NoxRunner C local"), ("c_http", "NoxRunner C via noxrunnerd"),
                    ("py200", "noxrunner 2.0.0 local"), ("py200_http", "noxrunner 2.0.0 HTTP")):
        vals = [(mb, peaks[mb].get(k)) for mb in sizes if peaks[mb].get(k)]
        if not vals:
            continue
        desc = ", ".join("%s: %.1f MB" % ("%d MB" % mb if mb < 1024 else "%d GB" % (mb // 1024),
                                          kb / 1024) for mb, kb in vals)
        st = {"n": len(vals), "median": float("nan"), "p90": float("nan")}
        met = None
        target = ""
        if k.startswith("c"):
            target = "independent of data size"
            if len(vals) > 1:
                met = vals[-1][1] <= vals[0][1] * 1.25 + 4096
            else:
                desc += " (one size only in --quick)"
        ctx.row("peak RSS of the transferring process", name, st, unit="none", target=target,
                met=met, note=desc)


# ---- threads ---------------------------------------------------------------

def bench_threads(ctx):
    p = ctx.prof
    ncpu = os.cpu_count() or 1
    for backend in ("local", "http"):
        if backend == "http" and not ctx.url:
            continue
        levels = p["threads"] if backend == "local" else p["http_threads"]
        # Throughput under a shared machine's interference: every level
        # runs once per pass, passes interleaved; the best pass per level
        # is reported (errors are summed over all passes).
        res, errors = {}, {}
        for ps in range(p["thread_passes"]):
            for t in levels:
                per = max(5, p["thread_execs"] // t)
                print("  threads (%s): pass %d/%d: %d threads x %d execs" % (
                    backend, ps + 1, p["thread_passes"], t, per), flush=True)
                if backend == "local":
                    opts = ["--home", ctx.home("thr"), "--agent", ctx.agent]
                    sbx = 1
                else:
                    # the server caps concurrent execs per sandbox; spread over sandboxes
                    opts = ["--url", ctx.url]
                    sbx = max(1, t // 16)
                r = attempt(ctx, "%d threads %s" % (t, backend), lambda: ctx.nb(
                    "threads", "--threads", t, "--n", per, "--warmup", 5, "--sandboxes", sbx,
                    *opts))
                if r:
                    errors[t] = errors.get(t, 0) + r["errors"]
                    if t not in res or r["execs_per_sec"] > res[t]["execs_per_sec"]:
                        res[t] = r
        for t in res:
            res[t]["errors_all_passes"] = errors[t]
        ctx.results["threads_" + backend] = res
        if 1 not in res:
            continue
        base = res[1]["execs_per_sec"]
        B = "%s exec `true`, T threads sharing one client" % (
            "local" if backend == "local" else "HTTP")
        for t, r in sorted(res.items()):
            st = stats(r["samples_us"])
            scale = r["execs_per_sec"] / base
            note = "%.0f execs/s (best of %d passes), %.2fx of 1 thread, %d errors%s" % (
                r["execs_per_sec"], p["thread_passes"], scale, r["errors_all_passes"],
                (" (" + r["first_error"] + ")") if r["errors"] else "")
            target, met = "", None
            if t > 1:
                want = 0.75 * min(t, ncpu)
                target = "no errors; >= %.2fx of 1 thread (0.75 x min(T, %d cores))" % (
                    want, ncpu)
                met = [("errors", r["errors_all_passes"] == 0), ("scaling", scale >= want)]
            ctx.row(B, "%d threads, %d sandbox(es)" % (t, r["sandboxes"]), st,
                    target=target, met=met, note=note)


# ---- many sandboxes ----------------------------------------------------------

def bench_many(ctx):
    count = ctx.args.sandboxes or ctx.prof["many"]
    print("  %d live sandboxes" % count, flush=True)
    r = attempt(ctx, "%d sandboxes" % count, lambda: ctx.nb(
        "many", "--count", count, "--home", ctx.home("many"), "--agent", ctx.agent))
    ctx.results["many"] = r
    if not r:
        return
    B = "%d live sandboxes on this machine" % count
    ok = r["responded"] == count and r["created"] == count
    ctx.row(B, "exec `true` in each, all alive", stats(r["samples_us"]),
            target="all %d respond" % count, met=[("all respond", ok)],
            note="%d/%d created, %d responded, create median %s%s" % (
                r["created"], count, r["responded"], fmt_us(stats(r["create_us"])["median"]),
                (", first error: " + r["first_error"]) if r["first_error"] else ""))
    pss = r.get("pss_kb_per_sandbox")
    if not r.get("agents") or pss is None:
        # No agent pid found: nothing was measured, which is not 0 kB.
        met = [("PSS < 2 MB (no agent process found)", None)]
        note = "no agent process found under the sandboxes' home: not measured"
    else:
        met = [("PSS < 2 MB", pss < 2048)]
        note = "PSS %.0f kB (RSS %.0f kB) per sandbox over %d agents, %d processes" % (
            pss, r["rss_kb_per_sandbox"], r["agents"], r["processes"])
        if r["agents"] < r["created"]:
            note += " (agents found for %d of %d sandboxes)" % (r["agents"], r["created"])
    ctx.row(B, "memory per idle sandbox", {"n": r.get("agents") or 0, "median": float("nan"),
                                           "p90": float("nan")}, unit="none",
            target="PSS < 2 MB", met=met, note=note)


# ---- output -------------------------------------------------------------------

def vs_text(vs):
    return ", ".join("%.2fx %s" % (v, k) for k, v in vs if v is not None)


def table(ctx):
    head = ["benchmark", "implementation", "n", "median", "p90", "ratio (median) vs baseline",
            "target", "met?", "notes"]
    lines = []
    for r in ctx.rows:
        st = r["stats"]
        if r["unit"] == "none":
            med = p90 = "-"
        else:
            med, p90 = fmt_us(st["median"]), fmt_us(st["p90"])
        m = r["met"]
        if isinstance(m, list):  # [(clause, ok or None)]: name the clauses missed
            missed = [c for c, ok in m if ok is False]
            unmeasured = [c for c, ok in m if ok is None]
            parts = []
            if missed:
                parts.append("NO: " + "; ".join(missed))
            if unmeasured:  # a missing baseline is never a "yes"
                parts.append("not measured: " + "; ".join(unmeasured))
            met = " / ".join(parts) if parts else "yes"
        else:
            met = {True: "yes", False: "NO", None: "-" if not r["target"] else "n/a"}[m]
        lines.append([r["bench"], r["impl"], str(st.get("n", "")), med, p90, vs_text(r["vs"]),
                      r["target"], met, r["note"]])
    return head, lines


LEGEND = ("Ratios are this row's median time / the baseline's median time, measured in this "
          "run: below 1 is faster. met? names the clauses of the target that were missed, and "
          "those not measured (a baseline that could not run here): \"yes\" only when every "
          "clause was measured and met.")


def render_text(head, lines):
    cols = list(zip(head, *lines)) if lines else [(h,) for h in head]
    # The notes column can be long; keep it last and unpadded.
    widths = [max(len(x) for x in c) for c in cols[:-1]]
    out = []

    def fmt(row):
        return "  ".join(x.ljust(w) for x, w in zip(row[:-1], widths)) + "  " + row[-1]

    out.append(fmt(head))
    out.append("  ".join("-" * w for w in widths) + "  " + "-" * 5)
    prev = None
    for ln in lines:
        row = list(ln)
        if row[0] == prev:
            row[0] = ""
        else:
            prev = row[0]
        out.append(fmt(row))
    return "\n".join(out)


def render_md(m, head, lines, ctx):
    out = ["# NoxRunner benchmarks (%s)" % ctx.args.profile, "",
           "Machine: %s, %s cores, %s, kernel %s, load average at start %s; %s; commit %s" % (
               m["hostname"], m["nproc"], m["cpu"], m["kernel"],
               " ".join("%.2f" % x for x in m["loadavg_start"]), m["date"], m["commit"]), "",
           LEGEND, "",
           "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for ln in lines:
        out.append("| " + " | ".join(x.replace("|", "\\|") for x in ln) + " |")
    if ctx.skipped:
        out += ["", "Not measured:", ""]
        out += ["- %s: %s" % (s["what"], s["why"]) for s in ctx.skipped]
    return "\n".join(out) + "\n"


def no_nan(x):
    """NaN (a statistic that does not apply) as null: strict JSON."""
    if isinstance(x, float) and x != x:
        return None
    if isinstance(x, dict):
        return {k: no_nan(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [no_nan(v) for v in x]
    return x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", dest="profile", action="store_const", const="quick")
    ap.add_argument("--full", dest="profile", action="store_const", const="full")
    ap.add_argument("--tools", required=True)
    ap.add_argument("--sandboxes", type=int, help="live sandboxes to hold (default 500, 50 quick)")
    ap.add_argument("--data-dir", default="/tmp", help="where test data is generated")
    ap.add_argument("--only", help="comma list: exec,http,mcp,create,xfer,threads,many")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    args = ap.parse_args()
    args.profile = args.profile or "full"
    prof = PROFILES[args.profile]
    only = set(args.only.split(",")) if args.only else None
    m = machine()
    print("NoxRunner bench (%s) on %s: %s cores, %s, %s, kernel %s, load average %s" % (
        args.profile, m["hostname"], m["nproc"], m["cpu"], m["memory"], m["kernel"],
        " ".join("%.2f" % x for x in m["loadavg_start"])), flush=True)
    ctx = Ctx(args, prof)
    t0 = time.time()
    try:
        steps = [("exec", bench_exec_local), ("http", bench_exec_http),
                 ("mcp", bench_mcp), ("create", bench_create), ("xfer", bench_transfers),
                 ("threads", bench_threads), ("many", bench_many)]
        need_server = not only or only & {"http", "create", "xfer", "threads"}
        if need_server:
            attempt(ctx, "noxrunnerd", ctx.start_server)
        for name, fn in steps:
            if only and name not in only:
                continue
            if name == "http" and not ctx.url:
                continue
            print("== %s" % name, flush=True)
            fn(ctx)
    finally:
        ctx.stop_server()
        shutil.rmtree(ctx.data, ignore_errors=True)
        shutil.rmtree(ctx.tmp, ignore_errors=True)
    m["loadavg_end"] = os.getloadavg()
    m["seconds"] = round(time.time() - t0, 1)
    head, lines = table(ctx)
    print()
    print("Machine: %s cores, %s, kernel %s, load average %s at start, %s at end; %s; commit %s" % (
        m["nproc"], m["cpu"], m["kernel"], " ".join("%.2f" % x for x in m["loadavg_start"]),
        " ".join("%.2f" % x for x in m["loadavg_end"]), m["date"], m["commit"]))
    print(LEGEND)
    print(render_text(head, lines))
    for s in ctx.skipped:
        print("not measured: %s: %s" % (s["what"], s["why"]))
    os.makedirs(args.out, exist_ok=True)
    doc = {"profile": args.profile, "machine": m, "rows": ctx.rows, "skipped": ctx.skipped,
           "raw": ctx.results}
    with open(os.path.join(args.out, "latest.json"), "w") as f:
        json.dump(no_nan(doc), f, indent=1, default=str)
    with open(os.path.join(args.out, "latest.md"), "w") as f:
        f.write(render_md(m, head, lines, ctx))
    print("\nwrote %s and latest.md (%.0f s)" % (os.path.join(args.out, "latest.json"),
                                                  m["seconds"]))


if __name__ == "__main__":
    main()
