"""Service proxy benchmark: `sudo .venv/bin/python -m bench.proxy [--services 1000] [--endpoints 3]
[--changes 200]` (root: it loads an nftables table).

An in-process Registry over a temporary Store holds N ClusterIP Services, each with one
EndpointSlice of K ready endpoints; a ServiceProxy (no host setup) programs a private table
`kubeproc-b<hex>` from them. Measures the full sync (median of 5, and its parts: Python render,
libnftables parse/evaluate without commit, the whole apply), the latency from a slice update to
the table reflecting it (p50/p99/max), the script size and the kernel's object counts. Prints a
Markdown table for docs/benchmarks.md. The table is deleted at the end, even on error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from kubeproc.api import resources
from kubeproc.client.local import LocalClient
from kubeproc.proxy import ProxyConfig
from kubeproc.proxy.nft import Nft
from kubeproc.proxy.proxier import ServiceProxy
from kubeproc.proxy.rules import delete_script
from kubeproc.registry.registry import Registry, WriteOptions
from kubeproc.store.store import Store

NAMESPACE = resources.by_kind("", "Namespace")
SERVICE = resources.by_kind("", "Service")
SLICE = resources.by_kind("discovery.k8s.io", "EndpointSlice")
SERVICE_CIDR = "10.251.0.0/16"  # private: no other instance's ClusterIPs are captured by our hooks
POD_CIDR = "10.250.0.0/16"
NODE = "bench-node"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def pod_ip(i: int) -> str:
    """The i-th fake pod address in 10.250.0.0/16 (host parts 1..250 only)."""
    return f"10.250.{i // 250}.{i % 250 + 1}"


def service(i: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": f"svc-{i}", "namespace": "default"},
            "spec": {"selector": {"app": f"svc-{i}"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}


def endpoint(ip: str) -> dict[str, Any]:
    return {"addresses": [ip], "nodeName": NODE, "conditions": {"ready": True, "serving": True, "terminating": False}}


def endpoint_slice(i: int, ips: list[str]) -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"svc-{i}-bench", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": f"svc-{i}"}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [endpoint(ip) for ip in ips]}


class SyncWaiter:
    """Resolves waits for "the table reflects resourceVersion >= rv" from the on_sync hook."""

    def __init__(self, proxy: ServiceProxy) -> None:
        self.proxy = proxy
        self.waiting: list[tuple[int, asyncio.Future[float]]] = []
        proxy.on_sync = self._synced

    def _synced(self, rv: int) -> None:
        now = time.perf_counter()
        for target, fut in list(self.waiting):
            if rv >= target and not fut.done():
                fut.set_result(now)
        self.waiting = [(t, f) for t, f in self.waiting if not f.done()]

    async def until(self, rv: int, timeout: float = 10.0) -> float:
        if self.proxy.synced_rv >= rv:
            return time.perf_counter()
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting.append((rv, fut))
        return await asyncio.wait_for(fut, timeout)


def kernel_counts(table: str) -> dict[str, int]:
    out = subprocess.run(["nft", "-j", "list", "table", "ip", table], check=True, capture_output=True, text=True)
    counts = {"rule": 0, "chain": 0, "set": 0, "map": 0, "elements": 0}
    for item in json.loads(out.stdout)["nftables"]:
        for kind in ("rule", "chain", "set", "map"):
            if kind in item:
                counts[kind] += 1
                if kind in ("set", "map"):
                    counts["elements"] += len(item[kind].get("elem") or [])
    return counts


async def bench(args: argparse.Namespace, tmp: Path, cfg: ProxyConfig, rows: list[tuple[str, str]]) -> None:
    store = Store(str(tmp / "db"))
    reg = Registry(store, service_cidr=SERVICE_CIDR)
    store.start()
    try:
        client = LocalClient(reg, "bench")
        await reg.create(NAMESPACE, "", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}},
                         WriteOptions(field_manager="bench"))
        n, k = args.services, args.endpoints
        t = time.perf_counter()
        for i in range(n):
            await client.create(SERVICE, service(i))
            await client.create(SLICE, endpoint_slice(i, [pod_ip(i * k + j) for j in range(k)]))
        print(f"# created {n} Services and EndpointSlices in {time.perf_counter() - t:.1f} s")
        await measure(args, client, cfg, rows)
    finally:
        await store.close()


async def measure(args: argparse.Namespace, client: LocalClient, cfg: ProxyConfig,
                  rows: list[tuple[str, str]]) -> None:
    n, k = args.services, args.endpoints
    proxy = ServiceProxy(client, cfg, host_setup=False)
    waiter = SyncWaiter(proxy)
    t0 = time.perf_counter()
    task = asyncio.create_task(proxy.run())
    try:
        _, latest = client.list(SLICE)
        await waiter.until(latest, timeout=60)
        rows.append((f"first sync after start (list + full sync of {n}×{k})", ms(time.perf_counter() - t0)))
        next_ip = n * k  # fresh addresses for the flips

        async def flip(i: int) -> tuple[float, float]:
            """Give slice i a new first endpoint; (seconds to the sync, seconds of the write)."""
            nonlocal next_ip
            ips = [pod_ip(next_ip)] + [pod_ip(i * k + j) for j in range(1, k)]
            next_ip += 1
            t = time.perf_counter()
            obj = await client.mutate(SLICE, "default", f"svc-{i}-bench",
                                      lambda sl: {**sl, "endpoints": [endpoint(ip) for ip in ips]})
            wrote = time.perf_counter()
            done = await waiter.until(int(obj["metadata"]["resourceVersion"]))
            return done - t, wrote - t

        # (a) full syncs through the loop, then their parts measured directly
        fulls = []
        for r in range(5):
            proxy._need_full = True  # the next sync is a full one
            await flip(r % n)
            kind, seconds = proxy.sync_times[-1]
            assert kind == "full", kind
            fulls.append(seconds)
        rows.append((f"full sync of {n} Services × {k} endpoints (render + apply), median of 5",
                     f"{ms(statistics.median(fulls))} (min {ms(min(fulls))}, max {ms(max(fulls))})"))
        renders, applies, users, systems = [], [], [], []
        script = ""
        for _ in range(5):
            t = time.perf_counter()
            script, _states = proxy.plan_full()
            renders.append(time.perf_counter() - t)
            # the kernel commits inside the sendmsg() of this thread: its system time is the
            # kernel's share, its user time libnftables' parsing, evaluation and encoding
            r0, t = resource.getrusage(resource.RUSAGE_THREAD), time.perf_counter()
            proxy.nft.run(script)
            applies.append(time.perf_counter() - t)
            r1 = resource.getrusage(resource.RUSAGE_THREAD)
            users.append(r1.ru_utime - r0.ru_utime)
            systems.append(r1.ru_stime - r0.ru_stime)
        rows.append(("— Python render (`plan_full`), median of 5", ms(statistics.median(renders))))
        rows.append(("— apply (`Nft.run`, one transaction), median of 5", ms(statistics.median(applies))))
        rows.append(("— of the apply: libnftables user CPU / kernel (system) CPU, median of 5",
                     f"{ms(statistics.median(users))} / {ms(statistics.median(systems))}"))
        counts = kernel_counts(cfg.table)
        rows.append(("full script size", f"{len(script.encode()) / 1024:.0f} KiB, {script.count(chr(10))} commands"))
        rows.append(("kernel objects in the table", f"{counts['rule']} rules, {counts['chain']} chains, "
                     f"{counts['set']} sets, {counts['map']} maps, {counts['elements']} elements"))

        # (b) endpoint change → rule update
        lat, writes = [], []
        partial_before = len(proxy.sync_times)
        for c in range(args.changes):
            total, write = await flip((c * 7919) % n)  # spread over the Services
            lat.append(total)
            writes.append(write)
        partials = [s for kind, s in list(proxy.sync_times)[partial_before:] if kind == "partial"]
        rows.append((f"endpoint change → rules updated, p50 / p99 / max of {args.changes}",
                     f"{ms(statistics.median(lat))} / {ms(pct(lat, .99))} / {ms(max(lat))}"))
        rows.append(("— of which the durable slice write, p50 / p99",
                     f"{ms(statistics.median(writes))} / {ms(pct(writes, .99))}"))
        if partials:
            rows.append(("— partial sync (render + apply), p50 / p99",
                         f"{ms(statistics.median(partials))} / {ms(pct(partials, .99))}"))
    finally:
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception):
            pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--endpoints", type=int, default=3)
    ap.add_argument("--changes", type=int, default=200)
    args = ap.parse_args()
    if args.services * args.endpoints + args.changes + 5 > 250 * 256:
        ap.error("too many endpoints for 10.250.0.0/16")
    cfg = ProxyConfig(instance="b" + uuid.uuid4().hex[:6], pod_cidr=POD_CIDR, bridge="kpb0",
                      service_cidr=SERVICE_CIDR, node_name=NODE)
    tmp = Path(tempfile.mkdtemp(prefix="kp-bench-proxy-"))
    rows: list[tuple[str, str]] = []
    try:
        asyncio.run(bench(args, tmp, cfg, rows))
    finally:
        nft = Nft()
        try:
            nft.run(delete_script(cfg))
        finally:
            nft.close()
            shutil.rmtree(tmp, ignore_errors=True)
    print("| Service proxy measure | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
