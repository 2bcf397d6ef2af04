"""Who keeps a pod's namespaces alive between its containers: the `NamespaceHolder` seam.

A pod's network, IPC and UTS namespaces outlive each container (the pause container's job).
Bind mounts would hold them, but every container's mount namespace starts as a copy of the
host's mount table, which runc then reads several times: with 3 mounts per pod each start got
slower the more pods ran. A holder keeps an open fd per namespace instead, named by a
`/proc/PID/fd/N` path that runc, setns and nsenter open like any namespace file.
`MonitorHolder` keeps them in the container monitor, so they survive kubeproc's restart (kill
-9) as the containers do.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol


class NamespaceHolder(Protocol):
    """Call the async methods on the agent's event loop."""

    async def load(self) -> None:
        """Learn what is already held (at the agent's start)."""

    async def hold(self, fds: Mapping[str, int]) -> dict[str, str]:
        """Keep each namespace (an fd the caller still owns and closes) under its key, replacing
        what the key held; all or nothing. Returns key -> path."""

    def path(self, key: str) -> str | None:
        """The held namespace's path; None if it is not held (or its holder died)."""

    async def release(self, keys: Iterable[str]) -> None:
        """Stop holding these keys (unknown keys are ignored)."""

    def keys(self) -> set[str]:
        """Every key held."""

    def on_lost(self, listener: Callable[[], None]) -> None:
        """Call `listener` (on the event loop) when held namespaces may have gone at once."""


class Pinner(Protocol):
    """What `MonitorHolder` needs from the runtime (RuncRuntime: the monitor's pin requests)."""

    async def pin(self, paths: Mapping[str, str]) -> tuple[int, dict[str, int]]: ...

    async def unpin(self, keys: Iterable[str]) -> None: ...

    async def pinned(self) -> tuple[int, dict[str, int]]: ...

    def on_monitor_lost(self, listener: Callable[[], None]) -> None: ...


class _Table:
    """key -> (path, device, inode): a path is only answered while it still names the namespace
    it was held as (a holder that died and whose pid or fd number came back names another)."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[str, int, int]] = {}
        self._lock = threading.Lock()

    def put(self, key: str, path: str, fd: int) -> None:
        st = os.fstat(fd)
        with self._lock:
            self._held[key] = (path, st.st_dev, st.st_ino)

    def get(self, key: str, verify: bool = True) -> str | None:
        """The path held as `key`; with `verify`, only if a stat shows it still names the same
        namespace (else the entry is dropped)."""
        with self._lock:
            entry = self._held.get(key)
        if entry is None:
            return None
        path, dev, ino = entry
        if not verify:
            return path
        try:
            st = os.stat(path)
        except OSError:
            st = None
        if st is None or (st.st_dev, st.st_ino) != (dev, ino):
            with self._lock:
                if self._held.get(key) == entry:
                    del self._held[key]
            return None
        return path

    def drop(self, keys: Iterable[str]) -> None:
        with self._lock:
            for k in keys:
                self._held.pop(k, None)

    def keys(self) -> set[str]:
        with self._lock:
            return set(self._held)


class MonitorHolder:
    """Namespaces held by the container monitor (one request per hold or release)."""

    def __init__(self, pinner: Pinner) -> None:
        self._pinner = pinner
        self._table = _Table()
        # While the connection to the monitor that pinned them holds, the paths are its fds and
        # only our unpin frees them: no stat needed (one per namespace and pod sync, ~60 us each
        # in /proc of a monitor with 1,500 fds). Once the monitor was lost, every answer is
        # checked (its pid and fd numbers may come back naming something else).
        self._verify = False
        pinner.on_monitor_lost(self._lost)

    def _lost(self) -> None:
        self._verify = True

    async def load(self) -> None:
        pid, pins = await self._pinner.pinned()
        stale = []
        for key, n in pins.items():
            path = f"/proc/{pid}/fd/{n}"
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                stale.append(key)
                continue
            try:
                self._table.put(key, path, fd)
            finally:
                os.close(fd)
        if stale:
            await self._pinner.unpin(stale)

    async def hold(self, fds: Mapping[str, int]) -> dict[str, str]:
        me = os.getpid()
        pid, nums = await self._pinner.pin({k: f"/proc/{me}/fd/{fd}" for k, fd in fds.items()})
        out = {}
        for key, fd in fds.items():
            out[key] = f"/proc/{pid}/fd/{nums[key]}"
            self._table.put(key, out[key], fd)
        return out

    def path(self, key: str) -> str | None:
        return self._table.get(key, self._verify)

    async def release(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        if keys:
            self._table.drop(keys)
            await self._pinner.unpin(keys)

    def keys(self) -> set[str]:
        return self._table.keys()

    def on_lost(self, listener: Callable[[], None]) -> None:
        self._pinner.on_monitor_lost(listener)
