"""Workload controller benchmark: `python -m bench.workloads` (root).

Starts a private kubeproc with its node agent and measures, through the API and one pod watch:
- StatefulSet startup: a 3-replica OrderedReady set with a local-path volumeClaimTemplate and a
  tcpSocket readiness probe (periodSeconds 1): create request sent → the watch shows all three
  pods Ready; median of N runs (set, claims, volumes and revisions deleted and gone between runs);
- Deployment scaling: a busybox Deployment patched 0 → 500 (until the watch shows 500 pods
  Running) and 500 → 0 (until no pod exists), in pods/s, with the CPU seconds per pod spent by
  kubeproc (its own and its reaped children's, e.g. runc) and by the container monitor.
Prints a Markdown table for docs/benchmarks.md. `--runs 0` skips the StatefulSet part;
`--pyspy OUT` records kubeproc with py-spy (PYSPY=path) during the measured Deployment cycle.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from typing import Any, Callable

import aiohttp

from bench.api import api_session
from kubeproc.agent.network import NetworkConfig
from kubeproc.testing.instance import Instance, free_port

NS = "bench"
APPS = f"/apis/apps/v1/namespaces/{NS}"
CORE = f"/api/v1/namespaces/{NS}"
TICKS = os.sysconf("SC_CLK_TCK")


def headless_service() -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"clusterIP": "None", "selector": {"app": "web"},
                     "ports": [{"name": "redis", "port": 6379}]}}


def statefulset() -> dict:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
            "spec": {"replicas": 3, "serviceName": "web", "podManagementPolicy": "OrderedReady",
                     "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                         "terminationGracePeriodSeconds": 1,
                         "containers": [{
                             "name": "redis", "image": "redis:7",
                             "ports": [{"name": "redis", "containerPort": 6379}],
                             "readinessProbe": {"tcpSocket": {"port": 6379}, "periodSeconds": 1},
                             "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
                     "volumeClaimTemplates": [{
                         "metadata": {"name": "data"},
                         "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "local-path",
                                  "resources": {"requests": {"storage": "64Mi"}}}}]}}


def deployment() -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "sleep"},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "sleep"}},
                     "template": {"metadata": {"labels": {"app": "sleep"}}, "spec": {
                         "terminationGracePeriodSeconds": 1,
                         "containers": [{"name": "c", "image": "busybox",
                                         "command": ["sleep", "100000"]}]}}}}


def is_ready(obj: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or ())


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(utime+stime, cutime+cstime) of a process in seconds, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3); utime..cstime are fields 14..17
    own = (int(fields[11]) + int(fields[12])) / TICKS
    children = (int(fields[13]) + int(fields[14])) / TICKS
    return own, children


def monitor_pids(data_dir: str) -> list[int]:
    """This instance's container monitor (`monitor.py <data>/runc`) processes."""
    runc_root = os.path.join(data_dir, "runc").encode()
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if any(a.endswith(b"/monitor.py") for a in args) and runc_root in args:
            out.append(int(pid))
    return out


def monitor_cpu(data_dir: str) -> float:
    total = 0.0
    for pid in monitor_pids(data_dir):
        try:
            total += sum(cpu_seconds(pid))
        except OSError:
            pass
    return total


class Bench:
    def __init__(self, inst: Instance) -> None:
        self.inst = inst
        self.session = api_session(inst, 32)
        self.pods: dict[str, dict] = {}  # the watch's view of the namespace's pods
        self.changed = asyncio.Event()
        self.marks: dict[str, dict[str, float]] = {}  # pod uid -> first time seen/running/ready
        self.watch_task: asyncio.Task | None = None
        self.unhealthy = 0  # Unhealthy (probe failed) events in the namespace after a set run

    async def call(self, method: str, path: str, body: Any = None,
                   content_type: str = "application/json", ok: tuple[int, ...] = (200, 201, 202)) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        async with self.session.request(method, self.inst.url + path, data=data,
                                        headers={"Content-Type": content_type}) as resp:
            out = await resp.json(content_type=None)
            if resp.status not in ok:
                raise RuntimeError(f"{method} {path}: {resp.status} {out}")
            return out

    async def watch(self) -> None:
        """List+watch the namespace's pods forever, re-listing if the stream ends."""
        while True:
            listed = await self.call("GET", f"{CORE}/pods")
            self.pods = {p["metadata"]["name"]: p for p in listed["items"]}
            self.changed.set()
            rv = listed["metadata"]["resourceVersion"]
            url = f"{self.inst.url}{CORE}/pods?watch=1&resourceVersion={rv}&allowWatchBookmarks=false"
            async with self.session.get(url, timeout=aiohttp.ClientTimeout(total=None)) as resp:
                async for line in resp.content:
                    ev = json.loads(line)
                    obj = ev["object"]
                    if ev["type"] == "ERROR":
                        break
                    name = obj["metadata"]["name"]
                    if ev["type"] == "DELETED":
                        self.pods.pop(name, None)
                    else:
                        self.pods[name] = obj
                        self.mark(obj)
                    self.changed.set()

    def mark(self, obj: dict) -> None:
        marks = self.marks.setdefault(obj["metadata"]["uid"], {"seen": time.perf_counter()})
        cs = (obj.get("status") or {}).get("containerStatuses") or []
        if "bound" not in marks and (obj.get("spec") or {}).get("nodeName"):
            marks["bound"] = time.perf_counter()
        if "running" not in marks and cs and all("running" in (c.get("state") or {}) for c in cs):
            marks["running"] = time.perf_counter()
        if "ready" not in marks and is_ready(obj):
            marks["ready"] = time.perf_counter()

    async def until(self, cond: Callable[[dict[str, dict]], bool], timeout: float, what: str) -> float:
        """Wait until `cond(pods)` holds; returns the perf_counter time the watch showed it."""
        deadline = time.perf_counter() + timeout
        while not cond(self.pods):
            self.changed.clear()
            left = deadline - time.perf_counter()
            if left <= 0:
                raise RuntimeError(f"timed out waiting for {what}")
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except asyncio.TimeoutError:
                pass
        return time.perf_counter()

    async def until_api(self, fn: Callable[[], Any], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not await fn():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            await asyncio.sleep(0.1)

    # --- StatefulSet ---------------------------------------------------------------------

    async def sts_once(self, steps: dict[str, list[float]] | None = None) -> float:
        names = ["web-0", "web-1", "web-2"]
        t0 = time.perf_counter()
        await self.call("POST", f"{APPS}/statefulsets", statefulset())
        t1 = await self.until(lambda pods: all(
            n in pods and is_ready(pods[n]) and not pods[n]["metadata"].get("deletionTimestamp")
            for n in names), 60, "web-0..2 Ready")
        if steps is not None:  # where each pod's time goes, as the watch saw it
            prev = t0
            for n in names:
                m = self.marks[self.pods[n]["metadata"]["uid"]]
                bound, running = m.get("bound", m["seen"]), m.get("running", m["ready"])
                for step, a, b in (("previous Ready (or create) → pod seen", prev, m["seen"]),
                                   ("seen → bound", m["seen"], bound),
                                   ("bound → container running", bound, running),
                                   ("running → Ready", running, m["ready"])):
                    steps.setdefault(step, []).append((b - a) * 1000)
                prev = m["ready"]
        events = await self.call("GET", f"{CORE}/events?fieldSelector=reason%3DUnhealthy")
        self.unhealthy = len(events["items"])
        await self.sts_delete()
        return t1 - t0

    async def sts_delete(self) -> None:
        await self.call("DELETE", f"{APPS}/statefulsets/web")
        await self.until(lambda pods: not any(n.startswith("web-") for n in pods), 60, "set's pods gone")
        await self.call("DELETE", f"{CORE}/persistentvolumeclaims")

        async def gone() -> bool:
            claims = await self.call("GET", f"{CORE}/persistentvolumeclaims")
            volumes = await self.call("GET", "/api/v1/persistentvolumes")
            revisions = await self.call("GET", f"{APPS}/controllerrevisions")
            sets = await self.call("GET", f"{APPS}/statefulsets")
            return not (claims["items"] or volumes["items"] or revisions["items"] or sets["items"])
        await self.until_api(gone, 60, "set, claims, volumes and revisions gone")

    # --- Deployment ----------------------------------------------------------------------

    async def scale(self, replicas: int) -> None:
        await self.call("PATCH", f"{APPS}/deployments/sleep", {"spec": {"replicas": replicas}},
                        content_type="application/merge-patch+json")

    def cpu(self) -> tuple[float, float, float, list[int]]:
        """(kubeproc, its reaped children, the container monitor: CPU s; /proc/stat's cpu line)."""
        own, children = cpu_seconds(self.inst.proc.pid)
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
        return own, children, monitor_cpu(self.inst.data_dir), ticks

    async def deployment_cycle(self, n: int) -> dict[str, float]:
        def running(pods: dict[str, dict]) -> int:
            return sum(1 for name, p in pods.items() if name.startswith("sleep-")
                       and (p.get("status") or {}).get("phase") == "Running"
                       and not p["metadata"].get("deletionTimestamp"))
        cpu0 = self.cpu()
        t0 = time.perf_counter()
        marks = {p: 0.0 for p in (10, 50, 90)}  # % of n Running -> seconds after t0

        def all_running(pods: dict[str, dict]) -> bool:
            k = running(pods)
            for p in marks:
                if not marks[p] and k * 100 >= p * n:
                    marks[p] = time.perf_counter() - t0
            return k >= n
        await self.scale(n)
        t1 = await self.until(all_running, 300, f"{n} pods Running")
        cpu1 = self.cpu()
        t2 = time.perf_counter()
        await self.scale(0)
        t3 = await self.until(lambda pods: not any(k.startswith("sleep-") for k in pods), 300, "no pods")
        cpu2 = self.cpu()
        return {"up_s": t1 - t0, "down_s": t3 - t2,
                "up_own": cpu1[0] - cpu0[0], "up_children": cpu1[1] - cpu0[1], "up_monitor": cpu1[2] - cpu0[2],
                "down_own": cpu2[0] - cpu1[0], "down_children": cpu2[1] - cpu1[1],
                "down_monitor": cpu2[2] - cpu1[2],
                **machine_cpu("up", cpu0[3], cpu1[3]), **machine_cpu("down", cpu1[3], cpu2[3]),
                **{f"up_{p}": t for p, t in marks.items()}}


def machine_cpu(way: str, before: list[int], after: list[int]) -> dict[str, float]:
    """The whole machine's busy CPU seconds and idle share between two /proc/stat cpu lines."""
    ticks = [b - a for a, b in zip(before, after)]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return {f"{way}_machine": (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK"),
            f"{way}_idle": idle / max(sum(ticks), 1) * 100}


def start_pyspy(out: str, pid: int) -> subprocess.Popen:
    """py-spy (PYSPY, default `py-spy` on PATH) sampling kubeproc at 200 Hz into `out`
    (collapsed stacks, one line per stack, thread ids shown) during the measured cycle."""
    exe = os.environ.get("PYSPY", "py-spy")
    return subprocess.Popen([exe, "record", "-r", "200", "-t", "-f", "raw", "-o", out,
                             "-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def left_behind(data_dir: str) -> list[str]:
    """The instance's bridge and container monitor (holding pods' namespaces) if still there."""
    left = [f"monitor {pid}" for pid in monitor_pids(data_dir)]
    bridge = NetworkConfig.for_data_dir(data_dir).bridge
    return left + ([f"bridge {bridge}"] if os.path.exists(f"/sys/class/net/{bridge}") else [])


async def run(args: argparse.Namespace) -> None:
    base = tempfile.mkdtemp(prefix="kubeproc-bench-workloads-")
    # the kubelet's default of 110 pods (and a /24) would refuse 500 pods
    inst = Instance(os.path.join(base, "data"), free_port(),
                    extra_args=("--max-pods", "600", "--pod-cidr", "10.250.0.0/22"))
    inst.start()
    b = Bench(inst)
    sts_times: list[float] = []
    steps: dict[str, list[float]] = {}
    dep: dict[str, float] = {}
    try:
        inst.kubectl("create", "namespace", NS)
        b.watch_task = asyncio.get_running_loop().create_task(b.watch())
        await b.until(lambda pods: True, 5, "watch")
        await b.call("POST", f"{CORE}/services", headless_service())
        if args.runs:
            await b.sts_once()  # warm-up: images, imports, the monitor
        for _ in range(args.runs):
            sts_times.append(await b.sts_once(steps))
        await b.call("POST", f"{APPS}/deployments", deployment())
        await b.deployment_cycle(min(args.pods, 20))  # warm-up
        spy = start_pyspy(args.pyspy, inst.proc.pid) if args.pyspy else None
        try:
            dep = await b.deployment_cycle(args.pods)
        finally:
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
                spy.wait(timeout=60)
        await b.call("DELETE", f"{APPS}/deployments/sleep")
    finally:
        if b.watch_task:
            b.watch_task.cancel()
        await b.session.close()
        inst.stop(timeout=120)
        left = left_behind(inst.data_dir)
        shutil.rmtree(base, ignore_errors=True)
    report(sts_times, steps, dep, args.pods, b.unhealthy)
    if left:
        raise SystemExit(f"the instance left behind: {left}")


def report(sts_times: list[float], steps: dict[str, list[float]], dep: dict[str, float], n: int,
           unhealthy: int) -> None:
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                         capture_output=True, text=True).stdout.strip()
    print(f"machine: {os.cpu_count()} cores, {cpu}, {platform.platform()}")
    print("| measure | result | target |\n|---|---|---|")
    if sts_times:  # `--runs 0` skips the StatefulSet part
        print(f"| StatefulSet 3 replicas OrderedReady + local-path claims + tcp readiness, create → all Ready, "
              f"median of {len(sts_times)} | {statistics.median(sts_times):.2f} s "
              f"(runs: {', '.join(f'{t:.2f}' for t in sts_times)}) | <= 1 s |")
        print("| where a set member's time goes (median ms per pod) | " +
              ", ".join(f"{k} {statistics.median(v):.0f}" for k, v in steps.items()) +
              f"; Unhealthy events over all {len(sts_times) + 1} runs: {unhealthy} | |")
    if not dep:
        return
    print(f"| Deployment scale 0 → {n}, until {n} Running (watch) | {n / dep['up_s']:.0f} pods/s "
          f"({dep['up_s']:.2f} s) | >= 50 pods/s |")
    print(f"| — Running after (s): 10 % {dep['up_10']:.2f}, 50 % {dep['up_50']:.2f}, 90 % "
          f"{dep['up_90']:.2f}, all {dep['up_s']:.2f} | | |")
    print(f"| Deployment scale {n} → 0, until no pod exists | {n / dep['down_s']:.0f} pods/s "
          f"({dep['down_s']:.2f} s) | >= 50 pods/s |")
    for way in ("up", "down"):
        print(f"| CPU per pod, scale {way}: kubeproc / its children (runc…) / monitor / whole machine | "
              f"{dep[f'{way}_own'] / n * 1000:.1f} / {dep[f'{way}_children'] / n * 1000:.1f} / "
              f"{dep[f'{way}_monitor'] / n * 1000:.1f} / {dep[f'{way}_machine'] / n * 1000:.1f} ms "
              f"(machine idle {dep[f'{way}_idle']:.0f} %) | |")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=5, help="StatefulSet runs (median)")
    p.add_argument("--pods", type=int, default=500, help="Deployment scale target")
    p.add_argument("--pyspy", metavar="OUT", help="profile kubeproc during the measured "
                   "Deployment cycle with py-spy (collapsed stacks to OUT)")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
