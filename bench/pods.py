"""Pod startup benchmark: `python -m bench.pods` (root; part of `make bench`).

Starts a private kubeproc with its node agent and measures, through the API and a watch:
- sequential startup latency: each pod is created after the previous one started; latency is
  creation request sent → the watch shows every container running (no probes);
- bursts: 100 and 500 pods created at once (32 concurrent clients) → all started;
- agent memory per running pod: kubeproc's RSS and the container monitor's private memory;
- where the time goes: the agent's per-step timings (KUBEPROC_TRACE) as medians, the slowest
  sequential pods' steps, and CPU per pod (kubeproc and its kernel share, the monitor with its
  runc children, the whole machine from /proc/stat).
Profiling aids: `--pyspy OUT` / `--pyspy-burst OUT` (py-spy, PYSPY=path) during the sequential
part / the big burst; BENCH_PERF=OUT records kubeproc with `perf record -g` during the burst (the whole machine
with BENCH_PERF_ALL=1);
`--settle S` waits S seconds before the big burst (ext4 without a journal slows inode allocation
for ~15 s after many deletions).
Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time

import aiohttp

from bench.api import api_session, pct, rss_mb
from bench.workloads import cpu_seconds, monitor_cpu, start_pyspy
from kubeproc.agent.runtime.monitorclient import monitor_pids
from kubeproc.testing.instance import Instance, free_port

NS = "bench"


def pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "bench"}},
            "spec": {"terminationGracePeriodSeconds": 0 + 1,
                     "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "100000"]}]}}


def started(obj: dict) -> bool:
    cs = (obj.get("status") or {}).get("containerStatuses") or []
    return bool(cs) and all("running" in (c.get("state") or {}) for c in cs)


class Bench:
    def __init__(self, inst: Instance) -> None:
        self.inst = inst
        self.session = api_session(inst, 32)
        self.started: dict[str, float] = {}
        self.bound: dict[str, float] = {}
        self.waiters: dict[str, asyncio.Future[float]] = {}
        self.watch_task: asyncio.Task | None = None

    async def watch(self) -> None:
        url = f"{self.inst.url}/api/v1/namespaces/{NS}/pods?watch=1&allowWatchBookmarks=false"
        async with self.session.get(url, timeout=aiohttp.ClientTimeout(total=None)) as resp:
            async for line in resp.content:
                ev = json.loads(line)
                obj = ev["object"]
                name = obj["metadata"]["name"]
                if name not in self.bound and (obj.get("spec") or {}).get("nodeName"):
                    self.bound[name] = time.perf_counter()
                if name not in self.started and started(obj):
                    t = time.perf_counter()
                    self.started[name] = t
                    fut = self.waiters.pop(name, None)
                    if fut is not None and not fut.done():
                        fut.set_result(t)

    async def create(self, name: str) -> float:
        t0 = time.perf_counter()
        async with self.session.post(f"{self.inst.url}/api/v1/namespaces/{NS}/pods",
                                     json=pod(name)) as resp:
            assert resp.status == 201, await resp.text()
        return t0

    async def until_started(self, name: str, timeout: float = 60) -> float:
        if name in self.started:
            return self.started[name]
        fut = asyncio.get_running_loop().create_future()
        self.waiters[name] = fut
        return await asyncio.wait_for(fut, timeout)

    async def delete_all(self) -> None:
        async with self.session.delete(f"{self.inst.url}/api/v1/namespaces/{NS}/pods") as resp:
            assert resp.status == 200, await resp.text()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            async with self.session.get(f"{self.inst.url}/api/v1/namespaces/{NS}/pods") as resp:
                if not (await resp.json())["items"]:
                    return
            await asyncio.sleep(0.2)
        raise RuntimeError("pods were not deleted within 120 s")

    async def sequential(self, n: int, prefix: str = "seq") -> list[float]:
        """Names never used before: a reused name would find the earlier pod's times."""
        out = []
        self.to_bind: list[float] = []
        for i in range(n):
            t0 = await self.create(f"{prefix}-{i}")
            out.append((await self.until_started(f"{prefix}-{i}") - t0) * 1000)
            self.to_bind.append((self.bound.get(f"{prefix}-{i}", t0) - t0) * 1000)
        return out

    async def burst(self, n: int, prefix: str) -> float:
        sem = asyncio.Semaphore(32)

        async def one(i: int) -> None:
            async with sem:
                await self.create(f"{prefix}-{i}")
        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        ends = await asyncio.gather(*(self.until_started(f"{prefix}-{i}", 120) for i in range(n)))
        return max(ends) - t0


def cpu_snapshot(inst: Instance) -> tuple[float, float, float, list[int], float]:
    """(kubeproc CPU s, monitor + its children CPU s, this process's CPU s, /proc/stat cpu line,
    kubeproc's system CPU s)."""
    with open("/proc/stat") as f:
        total = [int(x) for x in f.readline().split()[1:]]
    t = os.times()
    with open(f"/proc/{inst.proc.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    sys_s = int(fields[12]) / os.sysconf("SC_CLK_TCK")  # kubeproc's system time (stime)
    return cpu_seconds(inst.proc.pid)[0], monitor_cpu(inst.data_dir), t.user + t.system, total, sys_s


def cpu_delta(a: tuple, b: tuple, pods: int) -> dict[str, float]:
    ticks = [y - x for x, y in zip(a[3], b[3])]
    idle = (ticks[3] + ticks[4]) / max(sum(ticks), 1) * 100  # idle + iowait
    per = 1000 / max(pods, 1)
    busy = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
    return {"kubeproc": (b[0] - a[0]) * per, "monitor": (b[1] - a[1]) * per,
            "bench": (b[2] - a[2]) * per, "idle": idle, "machine": busy * per,
            "kubeproc_sys": (b[4] - a[4]) * per}


def shim_private_kb(data_dir: str) -> tuple[int, int]:
    """(number of container monitor processes, their total private memory in KiB) of this
    instance: one `monitor.py <data>/runc` owns every container's stdio and exit status."""
    total, count = 0, 0
    for pid in monitor_pids(os.path.join(data_dir, "runc")):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                text = f.read()
        except OSError:
            continue
        total += sum(int(m) for m in re.findall(r"Private_(?:Clean|Dirty):\s+(\d+)", text))
        count += 1
    return count, total


_TRACE = re.compile(r"trace pod=(\S+) step=(\S+) ms=([\d.]+)")


def trace_count(log_path: str) -> int:
    with open(log_path, errors="replace") as f:
        return sum(1 for line in f if _TRACE.search(line))


def trace_medians(log_path: str, skip: int = 0) -> dict[str, float]:
    """Median of each traced step, over the trace lines after the first `skip`."""
    steps: dict[str, list[float]] = {}
    with open(log_path, errors="replace") as f:
        lines = [m for m in map(_TRACE.search, f) if m][skip:]
    for m in lines:
        steps.setdefault(m.group(2), []).append(float(m.group(3)))
    return {k: statistics.median(v) for k, v in steps.items()}


def trace_of(log_path: str, pods: set[str]) -> dict[str, dict[str, float]]:
    """The traced steps of each of `pods` (the slowest ones, to see where outliers lose time)."""
    out: dict[str, dict[str, float]] = {}
    with open(log_path, errors="replace") as f:
        for m in map(_TRACE.search, f):
            if m and m.group(1) in pods:
                out.setdefault(m.group(1), {})[m.group(2)] = float(m.group(3))
    return out


async def run(args: argparse.Namespace) -> None:
    base = tempfile.mkdtemp(prefix="kubeproc-bench-pods-")
    os.environ["KUBEPROC_TRACE"] = "1"
    # the kubelet's default of 110 pods (and a /24) would refuse the burst of 500
    inst = Instance(os.path.join(base, "data"), free_port(),
                    extra_args=("--max-pods", "600", "--pod-cidr", "10.250.0.0/22"))
    inst.start()
    b = Bench(inst)
    try:
        inst.kubectl("create", "namespace", NS)
        b.watch_task = asyncio.get_running_loop().create_task(b.watch())
        await asyncio.sleep(0.2)  # the watch is open before the first create
        await b.sequential(5, "warm")  # warm-up: imports, first bundle, the monitor
        await b.delete_all()
        log_path = os.path.join(inst.data_dir, "test-server.log")
        skip = trace_count(log_path)
        spy = start_pyspy(args.pyspy, inst.proc.pid) if args.pyspy else None
        cpu0 = cpu_seconds(inst.proc.pid)[0], monitor_cpu(inst.data_dir)
        seq = await b.sequential(args.sequential)
        cpu1 = cpu_seconds(inst.proc.pid)[0], monitor_cpu(inst.data_dir)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        last = f"seq-{args.sequential - 1}"
        deadline = time.monotonic() + 5  # the agent logs its trace lines in batches
        while not trace_of(log_path, {last}).get(last, {}).get("status_write") and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        steps = trace_medians(log_path, skip)
        slow = sorted(range(len(seq)), key=lambda i: seq[i])[-3:]
        slowest = trace_of(log_path, {f"seq-{i}" for i in slow})
        for i in reversed(slow):
            name = f"seq-{i}"
            print(f"slow: {name} {seq[i]:.1f} ms (bound after {b.to_bind[i]:.1f}): " + ", ".join(
                f"{k} {v:.1f}" for k, v in sorted(slowest.get(name, {}).items())))
        steps["scheduled (create → bound, seen by watch)"] = statistics.median(b.to_bind)
        steps["kubeproc CPU per pod"] = (cpu1[0] - cpu0[0]) * 1000 / args.sequential
        steps["monitor + runc CPU per pod"] = (cpu1[1] - cpu0[1]) * 1000 / args.sequential
        await b.delete_all()
        if not args.bursts:
            return report(seq, steps, None)
        burst100 = await b.burst(100, "b100")
        idle = rss_mb(inst.proc.pid)
        shims, shim_kb = shim_private_kb(inst.data_dir)
        await b.delete_all()
        rss0 = rss_mb(inst.proc.pid)
        if args.settle:
            # ext4 without a journal (this machine's root fs) skips inodes freed in the last
            # ~15 s on every inode allocation (ialloc.c recently_deleted): let them age
            await asyncio.sleep(args.settle)
        spy = start_pyspy(args.pyspy_burst, inst.proc.pid) if args.pyspy_burst else None
        if os.environ.get("BENCH_PERF"):
            who = ["-a"] if os.environ.get("BENCH_PERF_ALL") else ["-p", str(inst.proc.pid)]
            spy = subprocess.Popen(["perf", "record", "-g", "-F", "499", "-o", os.environ["BENCH_PERF"], *who],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        c0 = cpu_snapshot(inst)
        burst500 = await b.burst(args.burst, "b500") if args.burst else 0.0
        burst_cpu = cpu_delta(c0, cpu_snapshot(inst), args.burst)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        rss500 = rss_mb(inst.proc.pid)
        await b.delete_all()
    finally:
        if b.watch_task:
            b.watch_task.cancel()
        await b.session.close()
        inst.stop(timeout=120)
        shutil.rmtree(base, ignore_errors=True)
    report(seq, steps, {"burst100": burst100, "burst": args.burst, "burstN": burst500,
                        "rss_per_pod_kb": (rss500 - rss0) * 1024 / max(args.burst, 1),
                        "shims": shims, "shim_kb": shim_kb, "rss100": idle, "cpu": burst_cpu})


def report(seq: list[float], steps: dict[str, float], bursts: dict | None) -> None:
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                         capture_output=True, text=True).stdout.strip()
    print(f"machine: {os.cpu_count()} cores, {cpu}, {platform.platform()}")
    print("| measure | result | target |\n|---|---|---|")
    print(f"| sequential startup p50 ({len(seq)} pods) | {statistics.median(seq):.1f} ms | <= 40 ms |")
    print(f"| sequential startup p99 | {pct(seq, 0.99):.1f} ms | <= 100 ms |")
    if bursts:
        print(f"| burst of 100, all started | {bursts['burst100']:.2f} s | <= 2 s |")
        if bursts["burst"]:
            print(f"| burst of {bursts['burst']}, all started | {bursts['burstN']:.2f} s | <= 10 s |")
            print(f"| kubeproc RSS growth with {bursts['burst']} pods running | "
                  f"{bursts['rss_per_pod_kb']:.0f} KB/pod | <= 100 KB/pod |")
        print(f"| container monitors, private memory | {bursts['shim_kb'] / max(bursts['shims'], 1):.0f} KB "
              f"per process ({bursts['shims']} processes, 100 pods running) | |")
        print(f"| kubeproc RSS with 100 pods running | {bursts['rss100']:.0f} MB | |")
        if bursts["burst"]:
            c = bursts["cpu"]
            print(f"\nCPU during the burst of {bursts['burst']}, per pod: kubeproc {c['kubeproc']:.1f} ms "
                  f"(of which in the kernel {c['kubeproc_sys']:.1f} ms), "
                  f"monitor + runc {c['monitor']:.1f} ms, this benchmark {c['bench']:.1f} ms, "
                  f"the whole machine {c['machine']:.1f} ms (kernel threads and everything else "
                  f"included); the machine was idle {c['idle']:.0f} % of the time")
    print("\nwhere a sequential pod's start goes (median ms): " +
          ", ".join(f"{k} {v:.1f}" for k, v in sorted(steps.items())))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sequential", type=int, default=100)
    p.add_argument("--burst", type=int, default=500)
    p.add_argument("--pyspy", metavar="OUT", help="profile kubeproc with py-spy during the "
                   "sequential part (collapsed stacks into OUT)")
    p.add_argument("--pyspy-burst", metavar="OUT", help="the same during the big burst")
    p.add_argument("--settle", type=float, default=0.0, metavar="S",
                   help="wait S seconds after deleting the first burst's pods before the big burst")
    p.add_argument("--no-bursts", dest="bursts", action="store_false",
                   help="sequential startup only")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
