"""The object store: committed objects in memory, durable in SQLite, one global resourceVersion.

Writes are staged synchronously (so a read-check-write in the registry is atomic on the event
loop), grouped into one transaction per batch by a writer task, and become visible to readers
and watchers only once committed. Objects are kept as JSON bytes plus their labels and
selectable fields, so lists and gets never re-encode. It knows nothing of kinds or validation.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from dataclasses import dataclass, field
from typing import Any

from kubeproc.api import errors, jsoncodec
from kubeproc.store.db import Row, StoreDB
from kubeproc.store.watch import Event, WatchHub

Key = tuple[str, str, str]  # (resource, namespace, name)


@dataclass(frozen=True)
class Entry:
    rv: int
    data: bytes
    labels: dict[str, str] = field(default_factory=dict)
    fields: dict[str, str] = field(default_factory=dict)

    def obj(self) -> dict[str, Any]:
        return jsoncodec.loads(self.data)


@dataclass
class _Pending:
    key: Key
    rv: int
    entry: Entry | None  # None: deletion
    old: Entry | None
    future: asyncio.Future[Entry | None]


class Store:
    def __init__(self, path: str, window: int = 50000) -> None:
        self._db = StoreDB(path)
        self._objects: dict[str, dict[tuple[str, str], Entry]] = {}
        self._overlay: dict[Key, _Pending] = {}
        self._batch: list[_Pending] = []
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="store")
        rv, rows = self._db.load()
        for row in rows:
            assert row.data is not None
            obj = jsoncodec.loads(row.data)
            self._objects.setdefault(row.resource, {})[(row.namespace, row.name)] = Entry(
                row.rv, row.data, _labels(obj), {})
        self._rv = rv
        self._committed_rv = rv
        self.hub = WatchHub(start_rv=rv, window=window)
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self.field_indexer: Any = None  # callable(resource, obj) -> dict, set by the registry

    # ---- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._write_loop(), name="store-writer")
        if self.field_indexer is not None:
            for resource, objs in self._objects.items():
                for k, e in objs.items():
                    objs[k] = Entry(e.rv, e.data, e.labels, self.field_indexer(resource, e.obj()))

    async def close(self) -> None:
        while self._batch or self._overlay:
            self._wake.set()
            await asyncio.sleep(0.001)
        if self._writer:
            self._writer.cancel()
            try:
                await self._writer
            except asyncio.CancelledError:
                pass
        self.hub.close_all()
        await asyncio.get_running_loop().run_in_executor(self._executor, self._db.close)
        self._executor.shutdown()

    # ---- reads (committed state) -----------------------------------------------------
    @property
    def resource_version(self) -> int:
        return self._committed_rv

    def get(self, resource: str, namespace: str, name: str) -> Entry | None:
        return self._objects.get(resource, {}).get((namespace, name))

    def list(self, resource: str, namespace: str | None) -> list[tuple[tuple[str, str], Entry]]:
        objs = self._objects.get(resource, {})
        if namespace:
            items = [(k, e) for k, e in objs.items() if k[0] == namespace]
        else:
            items = list(objs.items())
        items.sort(key=lambda kv: kv[0])
        return items

    def count(self, resource: str, namespace: str | None = None) -> int:
        objs = self._objects.get(resource, {})
        if not namespace:
            return len(objs)
        return sum(1 for k in objs if k[0] == namespace)

    def resources(self) -> list[str]:
        return [r for r, objs in self._objects.items() if objs]

    # ---- write path ------------------------------------------------------------------
    def current(self, resource: str, namespace: str, name: str) -> Entry | None:
        """Latest state including staged writes: the base for compare-and-swap."""
        pending = self._overlay.get((resource, namespace, name))
        if pending is not None:
            return pending.entry
        return self.get(resource, namespace, name)

    def stage(self, resource: str, namespace: str, name: str,
              obj: dict[str, Any] | None) -> asyncio.Future[Entry | None]:
        """Assign the next resourceVersion and queue the write; await the result for durability.

        `obj` None deletes. The caller has already checked preconditions against `current()`
        without awaiting in between. The object's metadata.resourceVersion is set here.
        """
        key = (resource, namespace, name)
        old = self.current(resource, namespace, name)
        self._rv += 1
        entry: Entry | None = None
        if obj is not None:
            obj.setdefault("metadata", {})["resourceVersion"] = str(self._rv)
            data = jsoncodec.dumps(obj)
            fields = self.field_indexer(resource, obj) if self.field_indexer else {}
            entry = Entry(self._rv, data, _labels(obj), fields)
        pending = _Pending(key, self._rv, entry, old, asyncio.get_running_loop().create_future())
        # a deletion event carries the deleted object at the deletion's resourceVersion
        if entry is None and old is not None:
            gone = jsoncodec.loads(old.data)
            gone.setdefault("metadata", {})["resourceVersion"] = str(self._rv)
            pending.old = Entry(self._rv, jsoncodec.dumps(gone),
                                old.labels, old.fields)
        self._overlay[key] = pending
        self._batch.append(pending)
        self._wake.set()
        return pending.future

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._batch = self._batch, []
            if not batch:
                continue
            rows = [Row(p.key[0], p.key[1], p.key[2], p.rv, p.entry.data if p.entry else None)
                    for p in batch]
            top = batch[-1].rv
            try:
                await loop.run_in_executor(self._executor, self._db.commit, rows, top)
            except Exception as exc:  # disk full, I/O error: nothing of this batch is applied
                self._fail_all(batch, exc)
                continue
            self._committed_rv = max(self._committed_rv, top)
            for p in batch:
                self._apply(p)

    def _apply(self, p: _Pending) -> None:
        resource, namespace, name = p.key
        objs = self._objects.setdefault(resource, {})
        if p.entry is None:
            objs.pop((namespace, name), None)
            if p.old is not None:
                self.hub.publish(Event("DELETED", resource, namespace, name, p.old.rv, p.old, p.old))
        else:
            objs[(namespace, name)] = p.entry
            kind = "ADDED" if p.old is None else "MODIFIED"
            self.hub.publish(Event(kind, resource, namespace, name, p.entry.rv, p.entry, p.old))
        if self._overlay.get(p.key) is p:
            del self._overlay[p.key]
        if not p.future.done():
            p.future.set_result(p.entry)

    def _fail_all(self, batch: list[_Pending], exc: Exception) -> None:
        # Later staged writes may build on the failed ones: fail them too and resync the counter.
        failed = batch + self._batch
        self._batch = []
        self._overlay.clear()
        self._rv = self._committed_rv
        for p in failed:
            if not p.future.done():
                p.future.set_exception(errors.InternalError(f"storage write failed: {exc}"))

    def integrity_check(self) -> str:
        return self._db.integrity_check()


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels if isinstance(labels, dict) else {}
