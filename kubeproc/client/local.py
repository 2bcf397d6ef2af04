"""The in-process Client: the same semantics as the HTTP API, without the HTTP.

Controllers, the agent, dns and proxy use this (or an HTTP client with the same methods) and
never the store or the registry directly. Objects in and out are plain dicts, except watch
events' objects: decoded once per event and shared by every watcher, read-only (see WatchEvent).
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kubeproc.api import errors, frozen, jsoncodec, resources
from kubeproc.api.resources import Resource
from kubeproc.registry.registry import Registry, WriteOptions

if TYPE_CHECKING:
    from kubeproc.store.watch import Event, WatchHub

# How many recent events keep their decoded object: enough for watchers that keep up, a small
# fraction of the hub's resumable window (a watcher lagging further behind decodes again).
SHARED_DECODES = 2048

_Key = tuple[int, str, str, str]


class SharedDecodes:
    """The decoded objects of one hub's most recent events, shared by all its watch_all consumers.

    As client-go's SharedInformer: one object per event for every consumer, never mutated.
    """

    def __init__(self, capacity: int = SHARED_DECODES) -> None:
        self.capacity = capacity
        self._objs: OrderedDict[tuple[_Key, bool], dict[str, Any]] = OrderedDict()
        self._newest = 0  # highest resourceVersion kept so far

    def __len__(self) -> int:
        return len(self._objs)

    def lookup(self, key: _Key, check: bool) -> dict[str, Any] | None:
        return self._objs.get((key, check))

    def keep(self, key: _Key, check: bool, obj: dict[str, Any]) -> None:
        rv = key[0]
        # only recent events are kept: an old one would evict what watchers that keep up need
        if rv <= self._newest - self.capacity:
            return
        self._newest = max(self._newest, rv)
        self._objs[(key, check)] = obj
        while len(self._objs) > self.capacity:
            self._objs.popitem(last=False)


_shared: "weakref.WeakKeyDictionary[WatchHub, SharedDecodes]" = weakref.WeakKeyDictionary()


def shared_decodes(hub: "WatchHub") -> SharedDecodes:
    """The decode cache of `hub` (one per hub, so per store, whatever the LocalClient)."""
    cache = _shared.get(hub)
    if cache is None:
        cache = _shared[hub] = SharedDecodes()
    return cache


@dataclass
class WatchEvent:
    """One change seen by `LocalClient.watch_all`.

    `obj` is decoded lazily and SHARED: every watcher of the same event gets the identical
    object, which must be treated as read-only (as objects from a client-go informer cache).
    A caller that needs a changed version copies first (`copy.deepcopy`,
    `kubeproc.api.defaults.json_deepcopy`) or builds new dicts. With KUBEPROC_CHECK_SHARED=1
    (the test suite) the object is deeply frozen and any in-place change raises TypeError.
    """

    type: str
    resource: Resource
    data: bytes
    rv: int
    _obj: dict[str, Any] | None = None
    _shared: SharedDecodes | None = None
    _key: _Key | None = None

    @property
    def obj(self) -> dict[str, Any]:
        """The object, decoded on first use (most watchers skip most kinds); shared, read-only."""
        if self._obj is None:
            check, shared, key = frozen.checking(), self._shared, self._key
            obj = shared.lookup(key, check) if shared is not None and key is not None else None
            if obj is None:
                # decoded here (not in SharedDecodes) so bench/memory.py charges the reader
                obj = jsoncodec.loads(self.data)
                if check:
                    obj = frozen.freeze(obj)
                if shared is not None and key is not None:
                    shared.keep(key, check, obj)  # type: ignore[arg-type]
            self._obj = obj
        return self._obj  # type: ignore[return-value]

    @classmethod
    def of(cls, ev: "Event", resource: Resource, shared: SharedDecodes | None) -> "WatchEvent":
        return cls(ev.type, resource, ev.entry.data, ev.rv, None, shared,
                   (ev.rv, ev.resource, ev.namespace, ev.name))


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
        shared = shared_decodes(hub)
        watcher = hub.subscribe_all(since_rv)
        try:
            while True:
                ev = await watcher.queue.get()
                if ev is None:
                    return
                yield WatchEvent.of(ev, self._by_key[ev.resource], shared)
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
