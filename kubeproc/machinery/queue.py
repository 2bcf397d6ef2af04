"""A keyed work queue: a key queued twice is processed once; failed keys come back later.

Mirrors client-go's workqueue contract: handlers only `add` keys; a key being processed and
added again is processed once more afterwards; `retry` re-adds with exponential backoff.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable


class WorkQueue:
    def __init__(self, base_delay: float = 0.005, max_delay: float = 5.0) -> None:
        self._ready: asyncio.Queue[Hashable] = asyncio.Queue()
        self._queued: set[Hashable] = set()
        self._processing: set[Hashable] = set()
        self._dirty: set[Hashable] = set()
        self._failures: dict[Hashable, int] = {}
        self._timers: set[asyncio.TimerHandle] = set()
        self._batched: dict[Hashable, asyncio.TimerHandle] = {}
        self._base, self._max = base_delay, max_delay

    def add(self, key: Hashable) -> None:
        if key in self._processing:
            self._dirty.add(key)
            return
        if key not in self._queued:
            self._queued.add(key)
            self._ready.put_nowait(key)

    def add_after(self, key: Hashable, delay: float) -> None:
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timers.discard(handle)  # fired timers must not pile up in the set
            self.add(key)
        handle = loop.call_later(delay, fire)
        self._timers.add(handle)

    def add_batched(self, key: Hashable, period: float) -> None:
        """`add` the key `period` seconds from now, once however often it is asked meanwhile;
        nothing if it is already queued (the run to come sees the change). Upstream batches pod
        updates so in the EndpointSlice controller (--endpointslice-updates-batch-period:
        pkg/controller/endpointslice/endpointslice_controller.go, updatePod)."""
        if period <= 0:
            self.add(key)
            return
        if key in self._batched or key in self._queued:
            return
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._batched.pop(key, None)
            self.add(key)
        self._batched[key] = loop.call_later(period, fire)

    async def get(self) -> Hashable:
        key = await self._ready.get()
        self._queued.discard(key)
        self._processing.add(key)
        return key

    def done(self, key: Hashable) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def forget(self, key: Hashable) -> None:
        self._failures.pop(key, None)

    def retry(self, key: Hashable) -> None:
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        self.add_after(key, min(self._base * (2 ** n), self._max))

    def close(self) -> None:
        for t in (*self._timers, *self._batched.values()):
            t.cancel()
        self._timers.clear()
        self._batched.clear()

    def __len__(self) -> int:
        return self._ready.qsize()
