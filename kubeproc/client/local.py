"""The in-process Client: the same semantics as the HTTP API, without the HTTP.

Controllers, the agent, dns and proxy use this (or an HTTP client with the same methods) and
never the store or the registry directly. Objects in and out are plain dicts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from kubeproc.api import errors, jsoncodec, resources
from kubeproc.api.resources import Resource
from kubeproc.registry.registry import Registry, WriteOptions


@dataclass
class WatchEvent:
    type: str
    resource: Resource
    data: bytes
    rv: int
    _obj: dict[str, Any] | None = None

    @property
    def obj(self) -> dict[str, Any]:
        """The object, decoded on first use: most watchers skip most kinds."""
        if self._obj is None:
            self._obj = jsoncodec.loads(self.data)
        return self._obj


class LocalClient:
    def __init__(self, registry: Registry, manager: str) -> None:
        self._reg = registry
        self.manager = manager
        self._by_key = {r.key: r for r in resources.RESOURCES}

    def _opts(self, subresource: str = "") -> WriteOptions:
        return WriteOptions(field_manager=self.manager, field_validation="Ignore",
                            subresource=subresource)

    def get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self._reg.get_obj(resource, namespace, name)
        except errors.NotFound:
            return None

    def list(self, resource: Resource, namespace: str | None = None,
             label_selector: str = "") -> tuple[list[dict[str, Any]], int]:
        result = self._reg.list(resource, namespace, label_selector)
        return [e.obj() for e in result.items], result.rv

    def list_all(self) -> tuple[list[tuple[Resource, dict[str, Any]]], int]:
        """Every stored object of every kind, with the resourceVersion of the snapshot."""
        rv = self._reg.store.resource_version
        out = []
        for r in resources.RESOURCES:
            for _, entry in self._reg.store.list(r.key, None):
                out.append((r, entry.obj()))
        return out, rv

    async def watch_all(self, since_rv: int) -> AsyncIterator[WatchEvent]:
        """Every change of every kind after `since_rv`, in resourceVersion order."""
        hub = self._reg.store.hub
        watcher = hub.subscribe_all(since_rv)
        try:
            while True:
                ev = await watcher.queue.get()
                if ev is None:
                    return
                yield WatchEvent(ev.type, self._by_key[ev.resource], ev.entry.data, ev.rv)
        finally:
            watcher.close()

    async def create(self, resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        ns = obj.get("metadata", {}).get("namespace", "") if resource.namespaced else ""
        return await self._reg.create(resource, ns, obj, self._opts())

    async def update(self, resource: Resource, obj: dict[str, Any],
                     subresource: str = "") -> dict[str, Any]:
        meta = obj["metadata"]
        ns = meta.get("namespace", "") if resource.namespaced else ""
        new, _ = await self._reg.update(resource, ns, meta["name"], obj, self._opts(subresource))
        return new

    async def mutate(self, resource: Resource, namespace: str, name: str, fn,
                     subresource: str = "") -> dict[str, Any]:
        """Read-modify-write of the latest stored object (no conflict possible)."""
        new, _ = await self._reg.patch_with(resource, namespace, name, fn, self._opts(subresource))
        return new

    async def delete(self, resource: Resource, namespace: str, name: str,
                     propagation: str | None = None, uid: str | None = None,
                     grace_period_seconds: int | None = None) -> None:
        options: dict[str, Any] = {}
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if propagation:
            options["propagationPolicy"] = propagation
        if uid:
            options["preconditions"] = {"uid": uid}
        await self._reg.delete(resource, namespace, name, options)
