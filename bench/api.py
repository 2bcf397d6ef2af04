"""API server benchmark: `python -m bench.api` (or `make bench`).

Starts a private kubeproc and measures, over HTTPS with 32 concurrent clients: GET rate, durable
CREATE rate, mutating p99 latency, watch delivery latency after the write is acknowledged, idle
RSS with an empty store, and RSS and list latency with 10,000 stored pods. Prints a Markdown
table for docs/benchmarks.md. Traffic goes to 127.0.0.1 only and every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import ssl
import statistics
import sys
import tempfile
import time

import aiohttp

from kubeproc.testing.instance import Instance, free_port

CONCURRENCY = 32


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "bench", "tier": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                                     "ports": [{"containerPort": 80}],
                                     "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}


def api_session(inst: Instance, limit: int) -> aiohttp.ClientSession:
    """An HTTPS session to the instance's API with its CA and admin token, `limit` connections."""
    ctx = ssl.create_default_context(cafile=inst.ca)
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx, limit=limit),
                                 headers={"Authorization": f"Bearer {inst.token}"})


class Client:
    def __init__(self, inst: Instance) -> None:
        self.inst = inst
        self.session = api_session(inst, CONCURRENCY)

    async def close(self) -> None:
        await self.session.close()

    async def get(self, path: str) -> tuple[int, bytes]:
        async with self.session.get(self.inst.url + path) as r:
            return r.status, await r.read()

    async def post(self, path: str, body: dict) -> tuple[int, dict]:
        async with self.session.post(self.inst.url + path, json=body) as r:
            return r.status, await r.json()

    async def patch(self, path: str, body: dict) -> tuple[int, dict]:
        async with self.session.patch(self.inst.url + path, data=json.dumps(body),
                                      headers={"Content-Type": "application/merge-patch+json"}) as r:
            return r.status, await r.json()


async def run_clients(seconds: float, worker, rate: float | None = None) -> tuple[int, list[float]]:
    """Run `worker(client, i)` from CONCURRENCY clients for `seconds`; returns (count, latencies).

    Without `rate` each client sends as soon as its previous answer arrives (saturation).
    With `rate` the clients share an offered load of `rate` requests/s, each on its own
    schedule (a late client sends at once), so latency is measured below saturation.
    """
    latencies: list[float] = []
    start = time.perf_counter()

    async def loop(w: int) -> None:
        i = 0
        while True:
            if rate is None:
                if time.perf_counter() - start >= seconds:
                    return
            else:
                due = start + (i + w / CONCURRENCY) * CONCURRENCY / rate
                if due - start >= seconds:
                    return
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            t0 = time.perf_counter()
            await worker(w, i)
            latencies.append(time.perf_counter() - t0)
            i += 1
    await asyncio.gather(*(loop(w) for w in range(CONCURRENCY)))
    return len(latencies), latencies


async def bench(inst: Instance, seconds: float, pods: int) -> dict[str, str]:
    res: dict[str, str] = {}
    pid = inst.proc.pid
    await asyncio.sleep(1.0)
    res["idle RSS, empty store"] = f"{rss_mb(pid):.1f} MB"
    c = Client(inst)
    try:
        await c.post("/api/v1/namespaces/default/configmaps",
                     {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "probe"},
                      "data": {"k": "v" * 1000}})

        async def get_one(w: int, i: int) -> None:
            status, _ = await c.get("/api/v1/namespaces/default/configmaps/probe")
            assert status == 200
        n, lat = await run_clients(seconds, get_one)
        res["GET (32 clients)"] = f"{n / seconds:,.0f}/s, p50 {statistics.median(lat)*1e3:.1f} ms, p99 {pct(lat, .99)*1e3:.1f} ms"

        async def create_one(w: int, i: int) -> None:
            status, body = await c.post("/api/v1/namespaces/default/pods", pod(f"c-{w}-{i}"))
            assert status == 201, body
        n, lat = await run_clients(seconds, create_one)
        res["durable CREATE of a pod (32 clients)"] = (f"{n / seconds:,.0f}/s, p50 {statistics.median(lat)*1e3:.1f} ms, "
                                                       f"p99 {pct(lat, .99)*1e3:.1f} ms")

        async def create_paced(w: int, i: int) -> None:
            status, body = await c.post("/api/v1/namespaces/default/pods", pod(f"r-{w}-{i}"))
            assert status == 201, body
        n, lat = await run_clients(seconds, create_paced, rate=500)
        res["durable CREATE at 500/s offered (32 clients)"] = (
            f"{n / seconds:,.0f}/s, p50 {statistics.median(lat)*1e3:.1f} ms, p99 {pct(lat, .99)*1e3:.1f} ms")

        async def patch_one(w: int, i: int) -> None:
            status, body = await c.patch(f"/api/v1/namespaces/default/pods/c-{w}-0",
                                         {"metadata": {"labels": {"n": str(i)}}})
            assert status == 200, body
        n, lat = await run_clients(seconds, patch_one)
        res["PATCH (32 clients)"] = (f"{n / seconds:,.0f}/s, p50 {statistics.median(lat)*1e3:.1f} ms, "
                                     f"p99 {pct(lat, .99)*1e3:.1f} ms")
        n, lat = await run_clients(seconds, patch_one, rate=500)
        res["PATCH at 500/s offered (32 clients)"] = (
            f"{n / seconds:,.0f}/s, p50 {statistics.median(lat)*1e3:.1f} ms, p99 {pct(lat, .99)*1e3:.1f} ms")
        res["watch delivery after ack"] = await watch_latency(c)
        res.update(await many_pods(c, inst, pods))
    finally:
        await c.close()
    return res


async def watch_latency(c: Client, writes: int = 500) -> str:
    """Write sequentially; for each write, time from its acknowledgement to its watch event."""
    _, body = await c.post("/api/v1/namespaces/default/configmaps",
                           {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "watched"}})
    arrived: dict[str, float] = {}
    start_rv = body["metadata"]["resourceVersion"]
    ready = asyncio.Event()

    async def watcher() -> None:
        url = (c.inst.url + "/api/v1/namespaces/default/configmaps?watch=1&fieldSelector="
               f"metadata.name%3Dwatched&resourceVersion={start_rv}&timeoutSeconds=60")
        async with c.session.get(url) as r:
            ready.set()
            async for line in r.content:
                ev = json.loads(line)
                arrived[ev["object"]["metadata"]["resourceVersion"]] = time.perf_counter()
                if len(arrived) >= writes:
                    return
    task = asyncio.create_task(watcher())
    await ready.wait()
    acked: dict[str, float] = {}
    for i in range(writes):
        _, obj = await c.patch("/api/v1/namespaces/default/configmaps/watched", {"data": {"i": str(i)}})
        acked[obj["metadata"]["resourceVersion"]] = time.perf_counter()
    await asyncio.wait_for(task, 30)
    delays = [max(0.0, arrived[rv] - t) for rv, t in acked.items() if rv in arrived]
    return f"p50 {statistics.median(delays)*1e3:.2f} ms, p99 {pct(delays, .99)*1e3:.2f} ms ({len(delays)} events)"


async def many_pods(c: Client, inst: Instance, total: int) -> dict[str, str]:
    _, body = await c.get("/api/v1/pods?limit=1")
    have = json.loads(body)["metadata"].get("remainingItemCount", 0) + 1
    todo = max(0, total - have)
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        async with sem:
            status, b = await c.post("/api/v1/namespaces/default/pods", pod(f"p-{i}"))
            assert status == 201, b
    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(todo)))
    fill = time.perf_counter() - t0
    await asyncio.sleep(1.0)
    stored = have + todo
    filled = f", filled at {todo / fill:,.0f} creates/s" if todo else ""
    out = {f"RSS with {stored:,} stored pods": f"{rss_mb(inst.proc.pid):.0f} MB{filled}"}
    lat = []
    for _ in range(5):
        t = time.perf_counter()
        status, data = await c.get("/api/v1/pods")
        lat.append(time.perf_counter() - t)
        assert status == 200
    out[f"LIST all {stored:,} pods (JSON, {len(data) / 1e6:.1f} MB)"] = f"median {statistics.median(lat)*1e3:.0f} ms"
    lat = []
    for _ in range(5):
        t = time.perf_counter()
        status, _ = await c.get("/api/v1/pods?labelSelector=app%3Dbench&limit=500")
        lat.append(time.perf_counter() - t)
    out["LIST 500 pods with a label selector (limit=500)"] = f"median {statistics.median(lat)*1e3:.0f} ms"
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--pods", type=int, default=10000,
                        help="at least this many pods are stored for the RSS and LIST figures")
    args = parser.parse_args()
    base = tempfile.mkdtemp(prefix="kubeproc-bench-")
    inst = Instance(os.path.join(base, "data"), free_port(), extra_args=("--no-agent",))
    inst.start()
    try:
        results = asyncio.run(bench(inst, args.seconds, args.pods))
    finally:
        inst.stop()
        shutil.rmtree(base, ignore_errors=True)
    print(f"machine: {os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}")
    print("| measure | result |\n|---|---|")
    for k, v in results.items():
        print(f"| {k} | {v} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
