"""Benchmark the cluster DNS server: qps and latency percentiles for cluster names.

Starts kubeproc.dns.server in a child process (its own core) with S ClusterIP
Services, then drives it from this process with N concurrent UDP clients, each
keeping one query outstanding (closed loop). With `--server HOST:PORT` it drives a running
kubeproc's DNS instead (the address `kubeproc status` prints, or the kube-dns ClusterIP:53),
asking for `--name` (default kubernetes.default.svc.cluster.local). Usage:
    python -m bench.dns [--clients 32] [--seconds 5] [--services 1000] [--server H:P [--name N]]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import random
import selectors
import socket
import struct
import time


def services(n: int) -> list[dict]:
    return [{"metadata": {"name": f"svc-{i}", "namespace": "default"},
             "spec": {"clusterIP": f"10.96.{i // 250}.{i % 250 + 1}", "ports": [{"name": "http", "port": 80}]}}
            for i in range(n)]


def serve(n: int, ready: "mp.synchronize.Event", port_box: "mp.sharedctypes.Synchronized") -> None:
    from kubeproc.dns.resolver import Resolver
    from kubeproc.dns.server import DNSServer, Forwarder

    async def main() -> None:
        resolver = Resolver()
        resolver.update(services(n), [])
        srv = DNSServer(resolver, "127.0.0.1", 0, Forwarder([]))
        await srv.start()
        port_box.value = srv.port
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def query(name: str, qid: int) -> bytes:
    wire = b"".join(bytes((len(p),)) + p.encode() for p in name.split(".")) + b"\x00"
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + wire + b"\x00\x01\x00\x01"


def drive(host: str, port: int, clients: int, seconds: float, names: list[str]) -> list[float]:
    sel = selectors.DefaultSelector()
    socks = []
    sent: dict[socket.socket, float] = {}
    for _ in range(clients):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect((host, port))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
    lat: list[float] = []
    deadline = time.perf_counter() + seconds
    for s in socks:
        sent[s] = time.perf_counter()
        s.send(query(random.choice(names), random.getrandbits(16)))
    while True:
        now = time.perf_counter()
        if now >= deadline:
            break
        for key, _ in sel.select(timeout=1.0):
            s = key.fileobj
            s.recv(4096)
            t = time.perf_counter()
            lat.append(t - sent[s])
            sent[s] = t
            s.send(query(random.choice(names), random.getrandbits(16)))
    for s in socks:
        s.close()
    return lat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--server", help="HOST:PORT of a running server (default: start one)")
    ap.add_argument("--name", default="kubernetes.default.svc.cluster.local")
    args = ap.parse_args()
    if args.server:
        host, _, port = args.server.rpartition(":")
        drive(host, int(port), args.clients, 0.5, [args.name])
        lat = sorted(drive(host, int(port), args.clients, args.seconds, [args.name]))
    else:
        names = [f"svc-{i}.default.svc.cluster.local" for i in range(args.services)]
        ready, port_box = mp.Event(), mp.Value("i", 0)
        proc = mp.Process(target=serve, args=(args.services, ready, port_box), daemon=True)
        proc.start()
        try:
            assert ready.wait(30), "server did not start"
            drive("127.0.0.1", port_box.value, args.clients, 0.5, names)  # warm the answer cache
            lat = sorted(drive("127.0.0.1", port_box.value, args.clients, args.seconds, names))
        finally:
            proc.terminate()
            proc.join()
    q = len(lat) / args.seconds

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000

    print(f"clients={args.clients} server={args.server or 'own process'} services={args.services} queries={len(lat)} qps={q:,.0f} "
          f"p50={pct(0.50):.3f}ms p99={pct(0.99):.3f}ms max={lat[-1] * 1000:.3f}ms")


if __name__ == "__main__":
    main()
