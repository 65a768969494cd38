#!/usr/bin/env python3
"""Soak: drive noxrunnerd and the local backend for a long time with a mix of
clients and injected faults, then check that nothing leaked.

    python3 tests/soak/soak.py [--minutes 30] [--workers 6] [--json out.json]

Needs the noxrunner Python package of this repository (make soak installs it
into build/py-venv); noxrunnerd and the agent are the ones it ships, or
$NOXRUNNERD / $NOXRUNNER_AGENT. All traffic goes to 127.0.0.1.

Clients, each a thread looping until the time is up: execs of every output
size (with stdin, timeouts, env) over HTTP and locally; uploads and downloads
of 1 KiB to 24 MiB, checked byte for byte; streams read to the end or
canceled part-way. Faults, one every few seconds: a sandbox's agent killed
with SIGKILL, a client that sends half a request and vanishes, a client that
trickles header bytes, a client that stops reading a download, an archive
that is garbage, cut short or has a flipped bit.

Checked at the end (exit 1 when any fails): no sandbox, session directory,
agent process or cgroup of ours left; noxrunnerd's file descriptors and
threads back where they were after warm-up; its RSS flat after warm-up
(last third vs first third of the samples); the base directories' disk use
back to what it was; noxrunnerd exits 0 on SIGTERM. The figures are printed.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request

from noxrunner import NoxRunnerClient, NoxRunnerError, SandboxNotFoundError
from noxrunner import _core

EXPECTED = (NoxRunnerError,)  # faults make some calls fail; these are fine


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.unexpected = []

    def add(self, key, n=1):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + n

    def bad(self, what):
        with self.lock:
            self.unexpected.append(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    return {"rss_kb": int(fields["VmRSS"].split()[0]), "threads": int(fields["Threads"]),
            "fds": len(os.listdir(f"/proc/{pid}/fd"))}


def agents_under(base):
    """pids of nox-sandbox processes whose command line names base."""
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"nox-sandbox") and any(base.encode() in a for a in cmd):
            pids.append(int(p))
    return pids


SESSIONS = set()  # every session id the soak used: only their cgroups are ours


def ours(cgroup_dir):
    """A cgroup named for one of our sessions (nox-<sha256 of the id>[-<pid>]);
    other programs' sandboxes (tests running beside the soak) do not count."""
    name = os.path.basename(cgroup_dir)
    return any(name[4:].startswith(hashlib.sha256(s.encode()).hexdigest())
               for s in list(SESSIONS))


def cgroups():
    found = set()
    for root, dirs, _ in os.walk("/sys/fs/cgroup"):
        for d in dirs:
            if d.startswith("nox-"):
                found.add(os.path.join(root, d))
        dirs[:] = [d for d in dirs if not d.startswith("nox-")]
    return found


def sessions(base):
    return [d for d in os.listdir(base) if d.startswith("s-")] if os.path.isdir(base) else []


def disk_kb(base):
    out = subprocess.run(["du", "-sk", base], capture_output=True, text=True).stdout
    return int(out.split()[0]) if out else 0


# ---- clients ----------------------------------------------------------------

def exec_mix(c, sid, rnd, st):
    size = rnd.choice([0, 100, 64 << 10, 1 << 20, 3 << 20])
    r = c.exec(sid, ["sh", "-c", f"head -c {size} /dev/zero | tr '\\0' x; echo $FOO >&2"],
               env={"FOO": "bar"}, timeout_seconds=30)
    if r["exitCode"] != 0 or len(r["stdout"]) != min(size, 1 << 20):
        st.bad(f"exec {size}: exit {r['exitCode']}, {len(r['stdout'])} bytes")
    data = os.urandom(rnd.choice([0, 10, 100 << 10]))
    r = c.exec(sid, ["sha256sum"], stdin=data)
    if not r["stdout"].startswith(hashlib.sha256(data).hexdigest()):
        st.bad("stdin round trip differs")
    r = c.exec(sid, ["sh", "-c", "sleep 30 & sleep 30"], timeout_seconds=1)
    st.add("exec")


def transfer_mix(c, sid, rnd, st, scratch):
    size = rnd.choice([1 << 10, 256 << 10, 4 << 20, 24 << 20])
    blob = os.urandom(size)
    c.upload_files(sid, {"in/blob.bin": blob, "in/small.txt": "hi"})
    data = c.download_files(sid, "/workspace/in")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as t:
        got = t.extractfile("blob.bin").read()
    if got != blob:
        st.bad(f"download of {size} bytes differs")
    d = tempfile.mkdtemp(dir=scratch)
    try:
        # download_to_dir raises what went wrong (download_workspace, 2.0.0's
        # call, only says False): a killed agent's error is expected.
        c.download_to_dir(sid, d, "/workspace/in")
        if open(os.path.join(d, "blob.bin"), "rb").read() != blob:
            st.bad("download_to_dir content differs")
    finally:
        shutil.rmtree(d)
    c.exec(sid, ["rm", "-rf", "/workspace/in"])
    st.add("transfer")
    st.add("bytes", 2 * size)


def stream_mix(c, sid, rnd, st):
    cancel = rnd.random() < 0.5
    n = 0
    with c.stream(sid, ["sh", "-c", "for i in $(seq 1 50); do echo line $i; sleep 0.01; done"]) as s:
        for _ in s:
            n += 1
            if cancel and n == 3:
                break
    st.add("stream_canceled" if cancel else "stream")


def client_loop(name, make_client, deadline, st, scratch, seed):
    rnd = random.Random(seed)
    c = make_client()
    k = 0
    while time.monotonic() < deadline:
        sid = f"soak-{name}-{k}"
        SESSIONS.add(sid)
        k += 1
        try:
            c.create_sandbox(sid, ttl_seconds=600)
            for _ in range(rnd.randint(1, 4)):
                rnd.choice([exec_mix, stream_mix])(c, sid, rnd, st) if rnd.random() < 0.7 \
                    else transfer_mix(c, sid, rnd, st, scratch)
        except EXPECTED as e:
            st.add("expected_errors")
            st.add("error:" + type(e).__name__)
        except Exception as e:  # noqa: BLE001 - anything else is a finding
            st.bad(f"{name}: {type(e).__name__}: {e}")
        finally:
            try:
                c.delete_sandbox(sid)
            except SandboxNotFoundError:
                st.add("delete_not_found")  # its agent was killed: at most one per kill
            except Exception as e:  # noqa: BLE001
                st.bad(f"{name}: delete {sid}: {e}")
    c.close()


# ---- faults -----------------------------------------------------------------

def raw(port, data, keep_s=0.0, trickle=False, read=False):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        if trickle:
            end = time.monotonic() + keep_s
            for b in data:
                if time.monotonic() > end:
                    break
                s.sendall(bytes([b]))
                time.sleep(0.5)
        else:
            s.sendall(data)
            if read:
                s.recv(4096)  # a little of the answer, then gone
            time.sleep(keep_s)


def bad_archive(rnd):
    good = io.BytesIO()
    with tarfile.open(fileobj=good, mode="w") as t:
        info = tarfile.TarInfo("f.bin")
        blob = os.urandom(200 << 10)
        info.size = len(blob)
        t.addfile(info, io.BytesIO(blob))
    gz = bytearray(gzip.compress(good.getvalue(), 0, mtime=0))
    kind = rnd.choice(["garbage", "cut", "flip"])
    if kind == "garbage":
        return kind, os.urandom(rnd.randint(1, 100000))
    if kind == "cut":
        return kind, bytes(gz[:rnd.randint(1, len(gz) - 1)])
    gz[len(gz) // 2] ^= 0x04
    return kind, bytes(gz)


def fault_loop(port, server_base, local_base, deadline, st, seed):
    rnd = random.Random(seed)
    url = f"http://127.0.0.1:{port}"
    sid = "soak-faults"
    SESSIONS.add(sid)
    c = NoxRunnerClient(url)
    while time.monotonic() < deadline:
        kind = rnd.choice(["kill_agent", "half_request", "trickle", "stop_reading", "archive"])
        try:
            if kind == "kill_agent":
                pids = agents_under(rnd.choice([server_base, local_base]))
                if pids:
                    os.kill(rnd.choice(pids), signal.SIGKILL)
            elif kind == "half_request":
                raw(port, b"POST /v1/sandboxes/x/exec HTTP/1.1\r\nHost: a\r\nContent-Length: 100"
                          b"\r\n\r\n{\"cmd\":", keep_s=0.2)
            elif kind == "trickle":
                raw(port, b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"y" * 40, keep_s=5,
                    trickle=True)
            elif kind == "stop_reading":
                c.create_sandbox(sid, ttl_seconds=600)
                c.upload_files(sid, {"big.bin": os.urandom(8 << 20)})
                raw(port, f"GET /v1/sandboxes/{sid}/files/download HTTP/1.1\r\nHost: a\r\n\r\n"
                    .encode(), read=True)
            else:
                c.create_sandbox(sid, ttl_seconds=600)
                what, body = bad_archive(rnd)
                req = urllib.request.Request(f"{url}/v1/sandboxes/{sid}/files/upload", data=body,
                                             method="POST",
                                             headers={"Content-Type": "application/gzip"})
                try:
                    urllib.request.urlopen(req, timeout=30)
                    st.bad(f"bad archive ({what}) accepted")
                except urllib.error.HTTPError as e:
                    if e.code != 400:
                        st.bad(f"bad archive ({what}): HTTP {e.code}")
            st.add("fault:" + kind)
        except (OSError, NoxRunnerError) as e:
            st.add("fault_error:" + type(e).__name__)
        time.sleep(rnd.uniform(0.5, 3))
    try:
        c.delete_sandbox(sid)
    except NoxRunnerError:
        pass
    c.close()


# ---- the run ----------------------------------------------------------------

def sample_loop(pid, deadline, samples, period):
    while time.monotonic() < deadline:
        try:
            samples.append((time.monotonic(), proc_status(pid)))
        except OSError:
            return
        time.sleep(period)


def settle(check, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end and not check():
        time.sleep(0.5)
    return check()


def run(args):
    work = tempfile.mkdtemp(prefix="nox-soak-")
    server_base, local_base = os.path.join(work, "srv"), os.path.join(work, "local")
    scratch = os.path.join(work, "scratch")
    for d in (server_base, local_base, scratch):
        os.makedirs(d)
    os.environ["NOXRUNNER_HOME"] = local_base
    server = os.environ.get("NOXRUNNERD") or _core.server_path()
    port = free_port()
    env = dict(os.environ, NOXRUNNER_HOME=server_base)
    env.setdefault("NOXRUNNER_AGENT", _core.agent_path() or "")
    log = open(os.path.join(work, "server.log"), "w")
    srv = subprocess.Popen([server, "--port", str(port), "--max-upload-bytes", "64M"],
                           env=env, stdout=log, stderr=log)
    cg_before = cgroups()
    if not settle(lambda: NoxRunnerClient(f"http://127.0.0.1:{port}").health_check(), 10):
        sys.exit("soak: noxrunnerd did not start")
    st = Stats()
    start = time.monotonic()
    deadline = start + args.minutes * 60
    warm = start + min(60, args.minutes * 60 / 5)
    samples = []
    threads = [threading.Thread(target=sample_loop, args=(srv.pid, deadline, samples, 5))]
    for i in range(args.workers):
        http = i % 2 == 0
        make = (lambda: NoxRunnerClient(f"http://127.0.0.1:{port}")) if http \
            else (lambda: NoxRunnerClient(local_test=True))
        threads.append(threading.Thread(target=client_loop, args=(
            f"{'http' if http else 'local'}{i}", make, deadline, st, scratch, i)))
    threads.append(threading.Thread(target=fault_loop, args=(
        port, server_base, local_base, deadline, st, 99)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return finish(args, work, srv, port, server_base, local_base, cg_before, st, samples,
                  warm, log)


def finish(args, work, srv, port, server_base, local_base, cg_before, st, samples, warm, log):
    checks = {}
    after_warm = [s for t, s in samples if t >= warm]
    third = max(1, len(after_warm) // 3)
    first = sorted(s["rss_kb"] for s in after_warm[:third])
    last = sorted(s["rss_kb"] for s in after_warm[-third:])
    rss_first, rss_last = first[len(first) // 2], last[len(last) // 2]
    checks["rss flat after warm-up (last third within 20% or 8 MB of the first)"] = \
        rss_last <= max(rss_first * 1.2, rss_first + 8192)
    base_fds = min(s["fds"] for s in after_warm[:third])
    base_threads = min(s["threads"] for s in after_warm[:third])
    now = {}
    checks["server fds back to the warm-up level"] = settle(
        lambda: now.update(proc_status(srv.pid)) or now["fds"] <= base_fds)
    checks["server threads back to the warm-up level"] = now["threads"] <= base_threads
    checks["no session directory left"] = settle(
        lambda: not sessions(server_base) and not sessions(local_base))
    checks["no agent process left"] = settle(
        lambda: not agents_under(server_base) and not agents_under(local_base))
    leaked_cg = {c for c in cgroups() - cg_before if ours(c)}
    checks["no cgroup left"] = not leaked_cg
    du = disk_kb(server_base) + disk_kb(local_base)
    checks["base directories empty again (<= 64 kB)"] = du <= 64
    checks["no unexpected failure"] = not st.unexpected
    checks["sandboxes gone before delete only where an agent was killed"] = \
        st.counts.get("delete_not_found", 0) <= st.counts.get("fault:kill_agent", 0)
    srv.send_signal(signal.SIGTERM)
    checks["noxrunnerd exits 0 on SIGTERM"] = srv.wait(30) == 0
    log.close()
    report = {
        "minutes": args.minutes, "workers": args.workers, "counts": st.counts,
        "unexpected": st.unexpected[:50], "rss_kb_first_third": rss_first,
        "rss_kb_last_third": rss_last, "fds_warm": base_fds, "fds_end": now.get("fds"),
        "threads_warm": base_threads, "threads_end": now.get("threads"),
        "leaked_cgroups": sorted(leaked_cg)[:20], "disk_kb_end": du,
        "samples": len(samples), "checks": checks,
    }
    for k in sorted(st.counts):
        print(f"soak: {k:28} {st.counts[k]}")
    print(f"soak: server RSS {rss_first} kB -> {rss_last} kB (median of first/last third "
          f"after warm-up), fds {base_fds} -> {now.get('fds')}, threads {base_threads} -> "
          f"{now.get('threads')}, {len(samples)} samples")
    for u in st.unexpected[:20]:
        print(f"soak: unexpected: {u}")
    for c in sorted(leaked_cg)[:20]:
        print(f"soak: leaked cgroup {c}")
    ok = all(checks.values())
    for k, v in checks.items():
        print(f"soak: {'ok  ' if v else 'FAIL'} {k}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    if ok:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"soak: kept {work} (server.log inside)")
    print(f"soak: {'passed' if ok else 'FAILED'}")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--workers", type=int, default=6)
    ap.add_argument("--json")
    sys.exit(run(ap.parse_args()))


if __name__ == "__main__":
    main()
