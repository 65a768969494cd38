"""Python driver of the NoxRunner benchmark suite.

Runs with either package named `noxrunner` on sys.path: our CFFI binding
(2.1.0) or the pure-Python 2.0.0 from PyPI. Only the 2.0.0 API is used,
so the same code times both. Prints one JSON object on stdout.

  bench_py.py exec   --n N --warmup W [--url U] [--base-dir D]
  bench_py.py create --n N --warmup W [--url U] [--base-dir D]
  bench_py.py xfer   --n N --warmup W [--url U] [--base-dir D] --src DIR --out DIR
"""
import argparse
import json
import os
import shutil
import sys
import time


def status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def make_client(args):
    # 2.0.0 prints a banner on stderr at every local exec; that cost is
    # part of its exec, but the text is not wanted in the bench output.
    sys.stderr = open(os.devnull, "w")
    import noxrunner

    version = getattr(noxrunner, "__version__", "?")
    if args.url:
        return noxrunner.NoxRunnerClient(args.url, timeout=600), version
    if args.base_dir and version != "2.0.0":
        return noxrunner.NoxRunnerClient(local_test=True, base_dir=args.base_dir), version
    c = noxrunner.NoxRunnerClient(local_test=True)
    if args.base_dir:  # 2.0.0: the backend's directory is a plain attribute
        from pathlib import Path

        c._backend.base_dir = Path(args.base_dir)
    return c, version


def isolation_of(c):
    return str(getattr(c, "isolation", "none (2.0.0 runs commands unisolated)"))


class _TimedLib:
    """Stands in for noxrunner._core.lib: times each nox_exec call, so the
    binding's own cost (everything outside the C call) is measured per
    call, in the same process, free of the machine's noise."""

    def __init__(self, lib):
        self._lib = lib
        self.inside_ns = 0

    def __getattr__(self, name):
        fn = getattr(self._lib, name)
        if name != "nox_exec":
            return fn

        def timed(*a):
            t0 = time.perf_counter_ns()
            try:
                return fn(*a)
            finally:
                self.inside_ns = time.perf_counter_ns() - t0
        return timed


def mode_exec(args):
    c, version = make_client(args)
    timed = None
    if args.split:
        import noxrunner._core as core

        timed = core.lib = _TimedLib(core.lib)
    sid = "bench-py-exec"
    c.create_sandbox(sid)
    c.wait_for_pod_ready(sid)
    for _ in range(args.warmup):
        r = c.exec(sid, ["true"])
        assert r["exitCode"] == 0, r
    samples, outside = [], []
    clock = time.perf_counter_ns
    for _ in range(args.n):
        t0 = clock()
        r = c.exec(sid, ["true"])
        dt = clock() - t0
        samples.append(dt / 1e3)
        if timed:
            outside.append((dt - timed.inside_ns) / 1e3)
        if r["exitCode"] != 0:
            raise SystemExit("exec failed: %r" % (r,))
    c.delete_sandbox(sid)
    out = {"version": version, "isolation": isolation_of(c), "samples_us": samples}
    if timed:
        out["outside_c_us"] = outside
    return out


def mode_create(args):
    c, version = make_client(args)
    total, create, delete = [], [], []
    clock = time.perf_counter_ns
    for i in range(-args.warmup, args.n):
        sid = "bench-py-create-%d" % (i + args.warmup)
        t0 = clock()
        c.create_sandbox(sid)
        t1 = clock()
        c.delete_sandbox(sid)
        t2 = clock()
        if i >= 0:
            create.append((t1 - t0) / 1e3)
            delete.append((t2 - t1) / 1e3)
            total.append((t2 - t0) / 1e3)
    return {"version": version, "samples_us": total, "create_us": create, "delete_us": delete}


def read_tree(src):
    """The 2.0.0 API uploads an in-memory dict of files."""
    files = {}
    for root, _dirs, names in os.walk(src):
        for n in names:
            p = os.path.join(root, n)
            with open(p, "rb") as f:
                files[os.path.relpath(p, src)] = f.read()
    return files


def tree_bytes(d):
    return sum(os.path.getsize(os.path.join(r, n)) for r, _, ns in os.walk(d) for n in ns)


def mode_xfer(args):
    c, version = make_client(args)
    sid = "bench-py-xfer"
    c.create_sandbox(sid)
    up, down, total = [], [], []
    clock = time.perf_counter_ns
    nbytes = tree_bytes(args.src)
    for i in range(-args.warmup, args.n):
        shutil.rmtree(args.out, ignore_errors=True)
        t0 = clock()
        files = read_tree(args.src)  # reading the files is part of the upload
        ok = c.upload_files(sid, files, "/workspace/data")
        del files
        t1 = clock()
        ok = c.download_workspace(sid, args.out, "/workspace/data") and ok
        t2 = clock()
        if not ok:
            raise SystemExit("transfer failed")
        if i >= 0:
            up.append((t1 - t0) / 1e3)
            down.append((t2 - t1) / 1e3)
            total.append((t2 - t0) / 1e3)
    got = tree_bytes(args.out)
    shutil.rmtree(args.out, ignore_errors=True)
    c.delete_sandbox(sid)
    if got != nbytes:
        raise SystemExit("downloaded %d bytes, uploaded %d" % (got, nbytes))
    return {"version": version, "bytes": nbytes, "vmhwm_kb": status_kb("VmHWM"),
            "samples_us": total, "upload_us": up, "download_us": down}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["exec", "create", "xfer"])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--url")
    ap.add_argument("--split", action="store_true",
                    help="ours only: also time the part of each call outside nox_exec")
    ap.add_argument("--base-dir")
    ap.add_argument("--src")
    ap.add_argument("--out")
    args = ap.parse_args()
    out = {"mode": args.mode, "backend": "http" if args.url else "local",
           "python": sys.version.split()[0]}
    out.update({"exec": mode_exec, "create": mode_create, "xfer": mode_xfer}[args.mode](args))
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
