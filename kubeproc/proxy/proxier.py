"""The proxy loop: follows Services and EndpointSlices and keeps the nftables table in step.

A full sync (the whole table in one transaction) at start and after any failed update; after
that each batch of changes (coalesced for `coalesce` seconds) rewrites only what the changed
Services contribute (pkg/proxy/nftables/proxier.go syncProxyRules does the same partial syncs).
After a sync that changed a UDP Service's frontends or serving endpoints, its stale conntrack
entries are deleted (conntrack.py, as syncProxyRules calls CleanStaleEntries).
`teardown()` removes the table. Timings of the last syncs are kept for the benchmark.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any, Callable

from kubeproc.api import resources
from kubeproc.client.local import LocalClient
from kubeproc.proxy import ProxyConfig, conntrack, hostnet, rules
from kubeproc.proxy.model import SERVICE_NAME_LABEL, ServicePort, service_ports
from kubeproc.proxy.nft import Nft, NftError

log = logging.getLogger(__name__)
SERVICES = resources.by_kind("", "Service")
SLICES = resources.by_kind("discovery.k8s.io", "EndpointSlice")

Key = tuple[str, str]  # (namespace, service name)


class ServiceProxy:
    def __init__(self, client: LocalClient, cfg: ProxyConfig, nft: Nft | None = None,
                 coalesce: float = 0.002, host_setup: bool = True,
                 cleaner: conntrack.Cleaner | None = None) -> None:
        self.client = client
        self.cfg = cfg
        self.nft = nft or Nft()
        self.coalesce = coalesce
        self.host_setup = host_setup
        self.services: dict[Key, dict[str, Any]] = {}
        self.slices: dict[Key, dict[str, Any]] = {}  # (ns, slice name) → slice
        self.slice_owner: dict[Key, Key] = {}  # (ns, slice name) → service key
        self.owner_slices: dict[Key, set[Key]] = {}  # service key → its slices' keys
        self.applied: dict[Key, rules.State] = {}
        self.udp: dict[Key, list[ServicePort]] = {}  # each Service's UDP ports, as last planned
        self.cleaner = cleaner or conntrack.Cleaner()
        self._cleaned: frozenset[tuple[Any, ...]] = frozenset()  # conntrack.signature last cleaned for
        self._dirty: set[Key] = set()
        self._wake = asyncio.Event()
        self._need_full = True
        self.synced_rv = 0  # resourceVersion of the last change the table reflects
        self.sync_times: deque[tuple[str, float]] = deque(maxlen=1000)  # ("full"|"partial", seconds)
        self.on_sync: Callable[[int], None] | None = None

    # ---- the cache ----------------------------------------------------------------------
    def _owner(self, sl: dict[str, Any]) -> Key | None:
        name = ((sl.get("metadata") or {}).get("labels") or {}).get(SERVICE_NAME_LABEL)
        return (sl["metadata"].get("namespace") or "", name) if name else None

    def _put_service(self, svc: dict[str, Any] | None, key: Key) -> None:
        if svc is None:
            self.services.pop(key, None)
        else:
            self.services[key] = svc
        self._dirty.add(key)

    def _put_slice(self, sl: dict[str, Any] | None, key: Key) -> None:
        old = self.slice_owner.pop(key, None)
        if old is not None:
            self._dirty.add(old)
            self.owner_slices[old].discard(key)
            if not self.owner_slices[old]:
                del self.owner_slices[old]
        self.slices.pop(key, None)
        if sl is not None:
            self.slices[key] = sl
            owner = self._owner(sl)
            if owner is not None:
                self.slice_owner[key] = owner
                self.owner_slices.setdefault(owner, set()).add(key)
                self._dirty.add(owner)

    def _state_of(self, key: Key, slices: list[dict[str, Any]] | None = None) -> rules.State:
        svc = self.services.get(key)
        if svc is None:
            self.udp.pop(key, None)
            return rules.State()
        if slices is None:
            slices = [self.slices[k] for k in sorted(self.owner_slices.get(key, ()))]
        ports = service_ports(svc, slices, self.cfg.node_name)
        udp = [sp for sp in ports if sp.protocol == "udp"]
        if udp:
            self.udp[key] = udp
        else:
            self.udp.pop(key, None)
        return rules.service_state(ports, self.cfg)

    def _slices_by_owner(self) -> dict[Key, list[dict[str, Any]]]:
        return {owner: [self.slices[k] for k in sorted(keys)] for owner, keys in self.owner_slices.items()}

    def force_full(self) -> None:
        """The next sync replaces the whole table (the benchmark, or a table edited by hand)."""
        self._need_full = True
        self._wake.set()

    # ---- syncs: planned on the event loop (the cache is only touched there), applied in a thread
    def plan_full(self) -> tuple[str, dict[Key, rules.State]]:
        """The script that replaces the table with every Service's contribution."""
        by_owner = self._slices_by_owner()
        self.udp = {}
        states = {key: self._state_of(key, by_owner.get(key, [])) for key in self.services}
        whole = rules.State()
        for st in states.values():
            whole.merge(st)
        self._dirty.clear()
        return rules.full_script(self.cfg, whole), states

    def plan_partial(self) -> tuple[str, dict[Key, rules.State]]:
        """The script that rewrites what the Services changed since the last sync contribute."""
        keys, self._dirty = self._dirty, set()
        old, new = rules.State(), rules.State()
        states = {}
        for key in keys:
            old.merge(self.applied.get(key, rules.State()))
            states[key] = self._state_of(key)
            new.merge(states[key])
        return rules.diff_script(self.cfg, old, new), states

    async def sync(self, rv: int) -> None:
        t0 = time.perf_counter()
        if self._need_full:
            kind, (script, states) = "full", self.plan_full()
        else:
            kind, (script, states) = "partial", self.plan_partial()
        udp = [sp for ports in self.udp.values() for sp in ports]
        clean = conntrack.signature(udp)
        if clean == self._cleaned:
            udp = []  # no UDP frontend or serving endpoint changed: nothing new is stale

        def apply() -> None:  # one hop to a thread for both
            if script:
                self.nft.run(script)
            if udp:
                try:
                    self.cleaner.clean(udp)
                except Exception:  # the rules are in place: a failed cleanup is retried next sync
                    log.warning("deleting stale UDP conntrack entries failed", exc_info=True)
                    return
            self._cleaned = clean
        try:
            if script or udp:
                await asyncio.to_thread(apply)
        except NftError as e:
            if kind == "full":
                raise
            # the table is not what we think (edited by hand, or a bug): start over
            log.warning("partial proxy sync failed, doing a full sync: %s", e)
            self._need_full = True
            return await self.sync(rv)
        if kind == "full":
            self.applied = states
            self._need_full = False
        else:
            for key, st in states.items():
                if st.chains or st.elements:
                    self.applied[key] = st
                else:
                    self.applied.pop(key, None)
        self.sync_times.append((kind, time.perf_counter() - t0))
        self.synced_rv = rv
        if self.on_sync is not None:
            self.on_sync(rv)

    # ---- the loop -----------------------------------------------------------------------
    async def run(self) -> None:
        if self.host_setup:
            await asyncio.to_thread(hostnet.ensure, self.cfg.bridge, self.cfg.service_cidr, self.cfg.gateway)
        svcs, rv = self.client.list(SERVICES)
        slices, rv2 = self.client.list(SLICES)
        rv = max(rv, rv2)
        for s in svcs:
            self._put_service(s, (s["metadata"]["namespace"], s["metadata"]["name"]))
        for sl in slices:
            self._put_slice(sl, (sl["metadata"]["namespace"], sl["metadata"]["name"]))
        self._latest_rv = rv
        await self.sync(rv)
        log.info("service proxy: table %s programmed with %d services", self.cfg.table, len(self.services))
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._watch(rv))
            tg.create_task(self._syncs())

    async def _watch(self, rv: int) -> None:
        async for ev in self.client.watch_all(rv):
            res = ev.resource
            if res is not SERVICES and res is not SLICES:
                continue
            obj = ev.obj
            key = (obj["metadata"].get("namespace") or "", obj["metadata"]["name"])
            gone = ev.type == "DELETED"
            if res is SERVICES:
                self._put_service(None if gone else obj, key)
            else:
                self._put_slice(None if gone else obj, key)
            self._latest_rv = ev.rv
            self._wake.set()

    async def _syncs(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.coalesce)
            self._wake.clear()
            try:
                await self.sync(self._latest_rv)
            except Exception:  # keep proxying what was programmed; retry on the next change
                log.exception("service proxy sync")
                self._need_full = True
                await asyncio.sleep(1.0)
                self._wake.set()

    def teardown(self) -> bool:
        """Remove the table and the interface holding the service CIDR route; turn forwarding
        back off if kubeproc turned it on and no other instance runs. Returns whether another
        instance runs (its table is there)."""
        self.nft.run(rules.delete_script(self.cfg))
        hostnet.remove(self.cfg.bridge)
        others = [line for line in self.nft.run("list tables ip").splitlines() if " kubeproc-" in line]
        hostnet.restore_forwarding(bool(others))
        return bool(others)
