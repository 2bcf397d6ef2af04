"""Watch fan-out with a window of recent events for resuming from a resourceVersion.

The hub keeps the last `window` committed events. A watch that starts from a resourceVersion
inside the window replays what followed it; older ones get 410 Gone, as etcd compaction makes
upstream answer. Filtering (namespace, label and field selectors) is a predicate per watcher;
an object that stops matching is reported as DELETED, one that starts matching as ADDED,
following k8s.io/apiserver/pkg/storage/cacher (watchCacheEvent filtering).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kubeproc.api import errors, jsoncodec

if TYPE_CHECKING:
    from kubeproc.store.store import Entry

# Slow consumers are cut off (the client re-lists), as the upstream watch cache does.
MAX_QUEUED = 100_000


@dataclass(frozen=True)
class Event:
    type: str  # ADDED | MODIFIED | DELETED
    resource: str
    namespace: str
    name: str
    rv: int
    entry: "Entry"  # the object after the change (for DELETED: the last state, new rv)
    old: "Entry | None"


Predicate = Callable[["Entry"], bool]


class Watcher:
    def __init__(self, hub: "WatchHub", resource: str, namespace: str | None,
                 predicate: Predicate | None) -> None:
        self._hub = hub
        self.resource = resource
        self.namespace = namespace
        self.predicate = predicate
        self.queue: asyncio.Queue[tuple[str, "Entry"] | None] = asyncio.Queue()
        self.overflowed = False

    def offer(self, ev: Event) -> None:
        if ev.resource != self.resource or (self.namespace and ev.namespace != self.namespace):
            return
        item = self._translate(ev)
        if item is None:
            return
        if self.queue.qsize() >= MAX_QUEUED:
            self.overflowed = True
            self.queue.put_nowait(None)
            self._hub.unsubscribe(self)
            return
        self.queue.put_nowait(item)

    def _translate(self, ev: Event) -> tuple[str, "Entry"] | None:
        pred = self.predicate
        if pred is None:
            return ev.type, ev.entry
        if ev.type == "ADDED":
            return (ev.type, ev.entry) if pred(ev.entry) else None
        if ev.type == "DELETED":
            return (ev.type, ev.entry) if pred(ev.entry) else None
        now, before = pred(ev.entry), ev.old is not None and pred(ev.old)
        if now and before:
            return "MODIFIED", ev.entry
        if now:
            return "ADDED", ev.entry
        if before:
            # cacher convertToWatchEvent: the object as it last matched, at this event's rv
            assert ev.old is not None
            return "DELETED", _at_rv(ev.old, ev.rv)
        return None

    def close(self) -> None:
        self._hub.unsubscribe(self)
        self.queue.put_nowait(None)


def _at_rv(entry: "Entry", rv: int) -> "Entry":
    obj = jsoncodec.loads(entry.data)
    obj.setdefault("metadata", {})["resourceVersion"] = str(rv)
    return dataclasses.replace(entry, rv=rv, data=jsoncodec.dumps(obj))


class AllWatcher:
    def __init__(self, hub: "WatchHub") -> None:
        self._hub = hub
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue()

    def offer(self, ev: Event) -> None:
        self.queue.put_nowait(ev)

    def close(self) -> None:
        self._hub.unsubscribe(self)  # type: ignore[arg-type]
        self.queue.put_nowait(None)


class WatchHub:
    def __init__(self, start_rv: int, window: int) -> None:
        self._events: deque[Event] = deque(maxlen=window)
        self._start_rv = start_rv  # events after this rv are all in the window
        self._watchers: set[Watcher] = set()
        self.listeners: list[Callable[[Event], Any]] = []  # in-process subscribers (no filter)

    def publish(self, ev: Event) -> None:
        if len(self._events) == self._events.maxlen:
            self._start_rv = self._events[0].rv
        self._events.append(ev)
        for w in list(self._watchers):
            w.offer(ev)

    def oldest_resumable(self) -> int:
        return self._start_rv

    def subscribe(self, resource: str, namespace: str | None, since_rv: int | None,
                  predicate: Predicate | None) -> Watcher:
        """A watcher that first receives window events after `since_rv` (if given), then live ones."""
        if since_rv is not None and since_rv < self._start_rv:
            raise errors.Gone(f"too old resource version: {since_rv} ({self._start_rv})")
        w = Watcher(self, resource, namespace, predicate)
        if since_rv is not None:
            for ev in self._events:
                if ev.rv > since_rv:
                    w.offer(ev)
        self._watchers.add(w)
        return w

    def subscribe_all(self, since_rv: int) -> "AllWatcher":
        """Raw events of every resource after `since_rv`, for in-process controllers."""
        if since_rv < self._start_rv:
            raise errors.Gone(f"too old resource version: {since_rv} ({self._start_rv})")
        w = AllWatcher(self)
        for ev in self._events:
            if ev.rv > since_rv:
                w.offer(ev)
        self._watchers.add(w)  # type: ignore[arg-type]
        return w

    def unsubscribe(self, w: Watcher) -> None:
        self._watchers.discard(w)

    def close_all(self) -> None:
        for w in list(self._watchers):
            w.close()
