"""Feeds the cluster DNS server from the API: Services, EndpointSlices and Namespaces.

`ClusterDNS.run()` starts the server, builds the record table from a list, then rebuilds it on
every relevant watch event, coalescing bursts (a rebuild at most every `coalesce` seconds, so
records follow a change well within 100 ms). The server stops when `run()` is cancelled.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kubeproc.api import resources
from kubeproc.client.local import LocalClient
from kubeproc.dns.resolver import Resolver
from kubeproc.dns.server import DNSServer, Forwarder, host_nameservers

log = logging.getLogger(__name__)
KINDS = {("", "Service"): "services", ("discovery.k8s.io", "EndpointSlice"): "slices",
         ("", "Namespace"): "namespaces"}


class ClusterDNS:
    def __init__(self, client: LocalClient, host: str, port: int = 53, zone: str = "cluster.local",
                 ttl: int = 5, coalesce: float = 0.01) -> None:
        self.client = client
        upstreams = [u for u in host_nameservers() if u != (host, port)]  # never forward to itself
        self.server = DNSServer(Resolver(zone, ttl), host, port, Forwarder(upstreams))
        self.coalesce = coalesce
        self._dirty = asyncio.Event()

    def _rebuild(self) -> None:
        objs: dict[str, list[dict[str, Any]]] = {}
        for (group, kind), key in KINDS.items():
            res = resources.by_kind(group, kind)
            objs[key] = self.client.list(res)[0] if res is not None else []
        self.server.update(objs["services"], objs["slices"],
                           [n["metadata"]["name"] for n in objs["namespaces"]])

    async def run(self) -> None:
        await self.server.start()
        log.info("cluster DNS on %s:%d", self.server.host, self.server.port)
        try:
            _, rv = self.client.list(resources.by_kind("", "Namespace"))
            self._rebuild()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._watch(rv))
                tg.create_task(self._rebuilds())
        finally:
            await self.server.stop()

    async def _watch(self, rv: int) -> None:
        async for ev in self.client.watch_all(rv):
            if (ev.resource.group, ev.resource.kind) in KINDS:
                self._dirty.set()

    async def _rebuilds(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(self.coalesce)
            self._dirty.clear()
            try:
                self._rebuild()
            except Exception:  # a bad object must not stop DNS: keep the previous table
                log.exception("rebuilding the DNS records")
