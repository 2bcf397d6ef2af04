"""LocalClient.watch_all shares one decoded object per event among all watchers (as client-go's
SharedInformer): watchers through different clients get the identical object; checking mode
(KUBEPROC_CHECK_SHARED=1) makes it raise on mutation; only recent events stay decoded, and a
watcher lagging behind the cache decodes again and still gets the right object.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from kubeproc.api import frozen, resources
from kubeproc.api.frozen import FrozenDict
from kubeproc.client import local
from kubeproc.client.local import LocalClient, SharedDecodes, WatchEvent, shared_decodes
from kubeproc.registry.registry import Registry
from tests.unit.test_events import cluster

CM = resources.by_kind("", "ConfigMap")


def configmap(name: str, value: str = "1") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default"}, "data": {"k": value}}


async def take(client: LocalClient, since: int, n: int) -> list[WatchEvent]:
    """The first `n` configmap events after `since` (other kinds skipped, never decoded)."""
    out: list[WatchEvent] = []
    gen = client.watch_all(since)
    try:
        async for ev in gen:
            if ev.resource is CM:
                out.append(ev)
                if len(out) == n:
                    break
    finally:
        await gen.aclose()
    return out


async def churn(reg: Registry) -> int:
    """Create, update, delete one configmap; returns the rv before it all."""
    assert CM is not None
    client = LocalClient(reg, "writer")
    start = reg.store.resource_version
    await client.create(CM, configmap("a"))
    await client.mutate(CM, "default", "a", lambda o: {**o, "data": {"k": "2"}})
    await client.delete(CM, "default", "a")
    return start


def run_churn(tmp: Path, body: Any) -> None:
    async def main() -> None:
        async with cluster(tmp) as reg:
            await body(reg, await churn(reg))
    asyncio.run(main())


@pytest.mark.parametrize("check", ["1", "0"], ids=["checking", "plain"])
def test_watchers_of_different_clients_get_the_identical_object(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, check: str) -> None:
    monkeypatch.setenv(frozen.CHECK_ENV, check)

    async def body(reg: Registry, start: int) -> None:
        first = await take(LocalClient(reg, "scheduler"), start, 3)
        second = await take(LocalClient(reg, "gc"), start, 3)
        assert [e.type for e in first] == ["ADDED", "MODIFIED", "DELETED"]
        for a, b in zip(first, second):
            assert a.obj is b.obj
        assert [e.obj["data"]["k"] for e in first] == ["1", "2", "2"]
        # the deletion event carries the deleted object at the deletion's resourceVersion
        assert [int(e.obj["metadata"]["resourceVersion"]) for e in first] == [e.rv for e in first]
        assert first[2].obj is not first[1].obj
        assert (type(first[0].obj) is FrozenDict) is (check == "1")
    run_churn(tmp_path, body)


@pytest.mark.parametrize("mutate", [
    lambda o: o.__setitem__("data", {}),
    lambda o: o["metadata"].setdefault("labels", {}),
    lambda o: o["metadata"].pop("name"),
    lambda o: o["data"].update(k="x"),
], ids=["set-top", "setdefault-nested", "pop-nested", "update-nested"])
def test_checking_mode_raises_on_mutation_and_keeps_the_object(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mutate: Any) -> None:
    monkeypatch.setenv(frozen.CHECK_ENV, "1")

    async def body(reg: Registry, start: int) -> None:
        ev = (await take(LocalClient(reg, "x"), start, 1))[0]
        with pytest.raises(TypeError, match="shared watch object is read-only: copy it first"):
            mutate(ev.obj)
        again = (await take(LocalClient(reg, "y"), start, 1))[0]
        assert again.obj is ev.obj
        assert again.obj["metadata"]["name"] == "a" and again.obj["data"] == {"k": "1"}
    run_churn(tmp_path, body)


def test_plain_mode_hands_out_plain_dicts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(frozen.CHECK_ENV, raising=False)

    async def body(reg: Registry, start: int) -> None:
        ev = (await take(LocalClient(reg, "x"), start, 1))[0]
        assert type(ev.obj) is dict and type(ev.obj["metadata"]) is dict
    run_churn(tmp_path, body)


def test_lagging_watcher_decodes_again_and_gets_correct_objects(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(frozen.CHECK_ENV, "1")

    async def main() -> None:
        assert CM is not None
        async with cluster(tmp_path) as reg:
            small = SharedDecodes(capacity=3)
            local._shared[reg.store.hub] = small
            writer = LocalClient(reg, "writer")
            start = reg.store.resource_version
            for i in range(8):
                await writer.create(CM, configmap(f"c{i}", str(i)))
            live = await take(LocalClient(reg, "live"), start, 8)
            objs = [e.obj for e in live]  # decodes all 8; the cache keeps the newest 3
            assert len(small) == 3
            late = await take(LocalClient(reg, "late"), start, 8)
            assert [e.obj["metadata"]["name"] for e in late] == [f"c{i}" for i in range(8)]
            assert [e.obj["data"]["k"] for e in late] == [str(i) for i in range(8)]
            same = [a.obj is b for a, b in zip(late, objs)]
            assert same == [False] * 5 + [True] * 3
            assert len(small) == 3  # old events decoded again did not evict recent ones
    asyncio.run(main())


@pytest.mark.parametrize("rvs,kept", [
    ([1, 2, 3, 4, 5], [3, 4, 5]),
    ([10, 11, 12, 5], [10, 11, 12]),  # far behind the newest: not kept
    ([10, 11, 12, 9], [10, 11, 12]),  # exactly capacity behind the newest: not kept
    ([10, 12, 13, 11], [12, 13, 11]),  # within capacity of the newest: kept, oldest out
], ids=["bounded", "old-skipped", "edge-skipped", "recent-kept"])
def test_cache_keeps_only_recent_events(rvs: list[int], kept: list[int]) -> None:
    cache = SharedDecodes(capacity=3)
    for rv in rvs:
        cache.keep((rv, "r", "ns", str(rv)), False, {"rv": rv})
    assert [rv for rv in rvs if cache.lookup((rv, "r", "ns", str(rv)), False) is not None] == kept
    assert len(cache) == len(kept)


def test_cache_is_per_hub(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()

    async def main() -> None:
        async with cluster(tmp_path / "one") as a, cluster(tmp_path / "two") as b:
            assert shared_decodes(a.store.hub) is shared_decodes(a.store.hub)
            assert shared_decodes(a.store.hub) is not shared_decodes(b.store.hub)
    asyncio.run(main())


def test_event_built_without_a_cache_decodes_by_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    assert CM is not None
    monkeypatch.setenv(frozen.CHECK_ENV, "1")
    ev = WatchEvent("ADDED", CM, b'{"metadata":{"name":"a"}}', 5)
    assert ev.obj == {"metadata": {"name": "a"}} and ev.obj is ev.obj
    with pytest.raises(TypeError):
        ev.obj["metadata"]["name"] = "b"
