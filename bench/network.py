"""Pod network benchmark: `sudo .venv/bin/python -m bench.network` (root).

Measures, on a private bridge and CIDR: bridge setup, per-pod setup (a new netns, as the
sandbox makes it, then the network in it) and teardown (the netns released, the IP freed) as
p50/p99 of N sequential pods, an idempotent re-setup of an existing pod, N pods set up from 8
threads at once, and `teardown_all` (which waits for the kernel to drop every veth). Prints a
Markdown table for docs/benchmarks.md. Everything created is removed, even on failure.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import shutil
import statistics
import tempfile
import time
import uuid

from kubeproc.agent.network import NetworkConfig, netns
from kubeproc.agent.network.linux import LinuxNetwork


class Pods:
    """Each pod's netns made in a thread and held by an fd here (the agent's monitor holds it)."""

    def __init__(self, net: LinuxNetwork) -> None:
        self.net, self.fds = net, {}

    def setup(self, uid: str) -> None:
        if uid not in self.fds:
            self.fds[uid] = netns.run_in_thread(netns.unshare_and_open)
        self.net.setup_pod(uid, f"/proc/{os.getpid()}/fd/{self.fds[uid]}")

    def teardown(self, uid: str) -> None:
        os.close(self.fds.pop(uid))
        self.net.teardown_pod(uid)

    def release_all(self) -> None:
        for uid in list(self.fds):
            os.close(self.fds.pop(uid))


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=50, help="pods per phase")
    ap.add_argument("--cidr", default="10.250.200.0/22")
    args = ap.parse_args()
    state = tempfile.mkdtemp(prefix="kp-bench-net-")
    net = LinuxNetwork(NetworkConfig(instance="b" + uuid.uuid4().hex[:7], pod_cidr=args.cidr, state_dir=state))
    pods = Pods(net)
    rows: list[tuple[str, str]] = []
    try:
        t = time.perf_counter()
        net.ensure_bridge()
        rows.append(("bridge setup", ms(time.perf_counter() - t)))
        setup, teardown = [], []
        for i in range(args.n):
            t = time.perf_counter()
            pods.setup(f"seq-{i}")
            setup.append(time.perf_counter() - t)
        t = time.perf_counter()
        pods.setup("seq-0")
        rows.append(("re-setup of an existing pod (adoption)", ms(time.perf_counter() - t)))
        for i in range(args.n):
            t = time.perf_counter()
            pods.teardown(f"seq-{i}")
            teardown.append(time.perf_counter() - t)
        rows.append((f"pod setup, p50 / p99 of {args.n}", f"{ms(statistics.median(setup))} / {ms(pct(setup, .99))}"))
        rows.append((f"pod teardown, p50 / p99 of {args.n}",
                     f"{ms(statistics.median(teardown))} / {ms(pct(teardown, .99))}"))
        t = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(pods.setup, [f"par-{i}" for i in range(args.n)]))
        rows.append((f"{args.n} pods set up from 8 threads", ms(time.perf_counter() - t)))
        t = time.perf_counter()
        pods.release_all()
        net.teardown_all()
        rows.append((f"teardown_all with {args.n} pods (waits for veths to go)", ms(time.perf_counter() - t)))
    finally:
        try:
            pods.release_all()
            net.teardown_all()
        finally:
            shutil.rmtree(state, ignore_errors=True)
    print("| pod network operation | time |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
