"""A real Registry over a temporary Store, driven from a private event loop, with namespace "d":
the fixture of the tests that create Services through the registry (allocation of ClusterIPs and
NodePorts)."""

from __future__ import annotations

import asyncio
from typing import Any, Iterator

from kubeproc.api import resources
from kubeproc.registry.registry import Registry, WriteOptions
from kubeproc.store.store import Store

SVC = resources.by_kind("", "Service")


def running_registry(path: str, **kwargs: Any) -> Iterator[tuple[Registry, asyncio.AbstractEventLoop]]:
    store = Store(path)
    loop = asyncio.new_event_loop()
    registry = Registry(store, **kwargs)

    async def start() -> None:
        store.start()
        await registry.create(resources.by_kind("", "Namespace"), "", {
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "d"}}, WriteOptions())
    loop.run_until_complete(start())
    yield registry, loop
    loop.run_until_complete(store.close())
    loop.close()


def create(reg: tuple[Registry, asyncio.AbstractEventLoop], obj: dict[str, Any]) -> dict[str, Any]:
    registry, loop = reg
    return loop.run_until_complete(registry.create(SVC, "d", obj, WriteOptions(field_manager="t")))
