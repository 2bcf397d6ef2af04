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
        for t in self._timers:
            t.cancel()
        self._timers.clear()

    def __len__(self) -> int:
        return self._ready.qsize()
