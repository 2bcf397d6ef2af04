"""The object store and its watch hub (kubeproc.store.store, kubeproc.store.watch): staged vs
committed visibility, the global resourceVersion, watch replay / 410 Gone, predicate
transitions as the upstream watch cache reports them, and all-or-nothing commit failure.
Async code runs under asyncio.run inside plain test functions (no pytest-asyncio)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from kubeproc.api import errors
from kubeproc.store.store import Entry, Store
from kubeproc.store.watch import Watcher

RES = "configmaps"


def run(fn: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(fn())


def cm(name: str, **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns"}
    if labels:
        meta["labels"] = dict(labels)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}


async def opened(path: Path, window: int = 50000) -> Store:
    s = Store(str(path), window=window)
    s.start()
    return s


async def put(s: Store, name: str, **labels: str) -> Entry:
    entry = await s.stage(RES, "ns", name, cm(name, **labels))
    assert entry is not None
    return entry


def drain(w: Watcher) -> list[tuple[str, str, int]]:
    """(type, name, rv) of every queued event."""
    out = []
    while not w.queue.empty():
        item = w.queue.get_nowait()
        assert item is not None
        typ, entry = item
        out.append((typ, entry.obj()["metadata"]["name"], entry.rv))
    return out


# ---- visibility and resourceVersion --------------------------------------------------------
def test_staged_write_visible_to_current_not_get_until_committed(tmp_path: Path) -> None:
    async def body() -> None:
        s = await opened(tmp_path / "db")
        fut = s.stage(RES, "ns", "a", cm("a"))
        staged = s.current(RES, "ns", "a")
        assert staged is not None and staged.rv == 1
        assert s.get(RES, "ns", "a") is None
        assert s.resource_version == 0
        committed = await fut
        assert s.get(RES, "ns", "a") == committed == staged
        assert s.resource_version == 1
        assert s.current(RES, "ns", "a") == committed
        await s.close()
    run(body)


def test_staged_delete_hides_object_from_current_only(tmp_path: Path) -> None:
    async def body() -> None:
        s = await opened(tmp_path / "db")
        await put(s, "a")
        fut = s.stage(RES, "ns", "a", None)
        assert s.current(RES, "ns", "a") is None
        assert s.get(RES, "ns", "a") is not None
        assert await fut is None
        assert s.get(RES, "ns", "a") is None
        await s.close()
    run(body)


def test_stage_sets_resource_version_in_object(tmp_path: Path) -> None:
    async def body() -> None:
        s = await opened(tmp_path / "db")
        obj = cm("a")
        entry = await s.stage(RES, "ns", "a", obj)
        assert obj["metadata"]["resourceVersion"] == "1"
        assert entry is not None and entry.obj()["metadata"]["resourceVersion"] == "1"
        await s.close()
    run(body)


def test_resource_version_monotonic_across_writes_and_restart(tmp_path: Path) -> None:
    db = tmp_path / "db"

    async def first() -> list[int]:
        s = await opened(db)
        rvs = [(await put(s, "a")).rv, (await put(s, "b")).rv, (await put(s, "a", x="1")).rv]
        await s.stage(RES, "ns", "b", None)  # a deletion consumes a resourceVersion too
        rvs.append(s.resource_version)
        await s.close()
        return rvs

    async def second() -> tuple[int, int, Entry | None, Entry | None]:
        s = await opened(db)
        loaded_rv = s.resource_version
        a, b = s.get(RES, "ns", "a"), s.get(RES, "ns", "b")
        nxt = (await put(s, "c")).rv
        await s.close()
        return loaded_rv, nxt, a, b

    rvs = run(first)
    assert rvs == sorted(set(rvs)) and rvs == [1, 2, 3, 4]
    loaded_rv, nxt, a, b = run(second)
    assert loaded_rv == 4 and nxt == 5
    assert a is not None and a.rv == 3 and a.labels == {"x": "1"}
    assert b is None


def test_list_count_and_resources(tmp_path: Path) -> None:
    async def body() -> None:
        s = await opened(tmp_path / "db")
        await s.stage(RES, "b", "z", cm("z"))
        await s.stage(RES, "a", "y", cm("y"))
        await s.stage("secrets", "a", "s", cm("s"))
        assert [k for k, _ in s.list(RES, None)] == [("a", "y"), ("b", "z")]
        assert [k for k, _ in s.list(RES, "b")] == [("b", "z")]
        assert (s.count(RES), s.count(RES, "a"), s.count("pods")) == (2, 1, 0)
        assert sorted(s.resources()) == ["configmaps", "secrets"]
        await s.close()
    run(body)


# ---- watch ---------------------------------------------------------------------------------
def test_delete_publishes_deleted_with_new_rv(tmp_path: Path) -> None:
    async def body() -> None:
        s = await opened(tmp_path / "db")
        created = await put(s, "a", app="web")
        w = s.hub.subscribe(RES, None, None, None)
        await s.stage(RES, "ns", "a", None)
        typ, entry = w.queue.get_nowait()
        assert typ == "DELETED"
        assert entry.rv == created.rv + 1 == s.resource_version
        assert entry.obj()["metadata"]["resourceVersion"] == str(entry.rv)
        assert entry.labels == {"app": "web"}
        await s.close()
    run(body)


def test_watch_replays_from_resource_version_in_window(tmp_path: Path) -> None:
    async def body() -> None:
        s = await opened(tmp_path / "db")
        for name in "abcde":
            await put(s, name)
        w = s.hub.subscribe(RES, None, 2, None)
        assert drain(w) == [("ADDED", "c", 3), ("ADDED", "d", 4), ("ADDED", "e", 5)]
        await put(s, "c", v="2")
        assert drain(w) == [("MODIFIED", "c", 6)]
        await s.close()
    run(body)


@pytest.mark.parametrize("since,expected", [
    (3, [4, 5]),
    (5, []),
    (2, "gone"),
    (0, "gone"),
], ids=["oldest-resumable-replays-rest", "current-rv-replays-nothing", "just-below-window-gone",
        "far-below-window-gone"])
def test_window_boundary(tmp_path: Path, since: int, expected: Any) -> None:
    async def body() -> Any:
        s = await opened(tmp_path / "db", window=2)
        for name in "abcde":
            await put(s, name)
        assert s.hub.oldest_resumable() == 3
        try:
            w = s.hub.subscribe(RES, None, since, None)
        except errors.Gone as exc:
            assert exc.code == 410 and "too old resource version" in exc.message
            result: Any = "gone"
        else:
            result = [rv for _, _, rv in drain(w)]
        with pytest.raises(errors.Gone) if expected == "gone" else contextlib.nullcontext():
            s.hub.subscribe_all(since)
        await s.close()
        return result
    assert run(body) == expected


def test_restart_window_starts_at_loaded_rv(tmp_path: Path) -> None:
    db = tmp_path / "db"

    async def first() -> None:
        s = await opened(db)
        await put(s, "a")
        await put(s, "b")
        await s.close()

    async def second() -> None:
        s = await opened(db)
        with pytest.raises(errors.Gone):
            s.hub.subscribe(RES, None, 1, None)
        w = s.hub.subscribe(RES, None, 2, None)
        assert drain(w) == []
        await put(s, "c")
        assert drain(w) == [("ADDED", "c", 3)]
        await s.close()

    run(first)
    run(second)


def test_watch_filters_resource_and_namespace(tmp_path: Path) -> None:
    async def body() -> None:
        s = await opened(tmp_path / "db")
        w = s.hub.subscribe(RES, "ns", None, None)
        await s.stage(RES, "other", "x", cm("x"))
        await s.stage("secrets", "ns", "y", cm("y"))
        await put(s, "z")
        assert drain(w) == [("ADDED", "z", 3)]
        await s.close()
    run(body)


TRANSITIONS = [
    # (id, label changes applied in order (None deletes), expected events)
    ("added-matching", [{"app": "web"}], [("ADDED", 1)]),
    ("added-not-matching-hidden", [{"app": "db"}], []),
    ("modified-still-matching", [{"app": "web"}, {"app": "web", "v": "2"}],
     [("ADDED", 1), ("MODIFIED", 2)]),
    ("modified-stops-matching-is-deleted", [{"app": "web"}, {"app": "db"}],
     [("ADDED", 1), ("DELETED", 2)]),
    ("modified-starts-matching-is-added", [{"app": "db"}, {"app": "web"}], [("ADDED", 2)]),
    ("modified-never-matching-hidden", [{"app": "db"}, {"app": "db", "v": "2"}], []),
    ("deleted-matching", [{"app": "web"}, None], [("ADDED", 1), ("DELETED", 2)]),
    ("deleted-not-matching-hidden", [{"app": "db"}, None], []),
    ("flip-flop", [{"app": "web"}, {}, {"app": "web"}, None],
     [("ADDED", 1), ("DELETED", 2), ("ADDED", 3), ("DELETED", 4)]),
]


@pytest.mark.parametrize("changes,expected", [t[1:] for t in TRANSITIONS],
                         ids=[t[0] for t in TRANSITIONS])
def test_label_predicate_transitions(tmp_path: Path, changes: list, expected: list) -> None:
    async def body() -> list[tuple[str, int]]:
        s = await opened(tmp_path / "db")
        w = s.hub.subscribe(RES, None, None, lambda e: e.labels.get("app") == "web")
        for labels in changes:
            if labels is None:
                await s.stage(RES, "ns", "a", None)
            else:
                await put(s, "a", **labels)
        events = [(t, rv) for t, _, rv in drain(w)]
        await s.close()
        return events
    assert run(body) == expected


def test_several_staged_writes_commit_in_order(tmp_path: Path) -> None:
    async def body() -> None:
        s = await opened(tmp_path / "db")
        w = s.hub.subscribe(RES, None, None, None)
        futs = [s.stage(RES, "ns", "a", cm("a")), s.stage(RES, "ns", "a", cm("a", v="2")),
                s.stage(RES, "ns", "a", None), s.stage(RES, "ns", "a", cm("a", v="3"))]
        assert s.current(RES, "ns", "a").labels == {"v": "3"}
        await asyncio.gather(*futs)
        assert drain(w) == [("ADDED", "a", 1), ("MODIFIED", "a", 2), ("DELETED", "a", 3),
                            ("ADDED", "a", 4)]
        assert s.get(RES, "ns", "a").rv == 4
        await s.close()
    run(body)


# ---- commit failure ------------------------------------------------------------------------
def test_commit_failure_fails_futures_and_applies_nothing(tmp_path: Path) -> None:
    db = tmp_path / "db"

    async def body() -> None:
        s = await opened(db)
        await put(s, "keep")
        w = s.hub.subscribe(RES, None, None, None)

        def broken(rows: Any, rv: int) -> None:
            raise OSError("disk full")
        real = s._db.commit
        s._db.commit = broken  # type: ignore[method-assign]
        f1 = s.stage(RES, "ns", "a", cm("a"))
        f2 = s.stage(RES, "ns", "keep", None)
        results = await asyncio.gather(f1, f2, return_exceptions=True)
        for r in results:
            assert isinstance(r, errors.InternalError) and r.code == 500
            assert "disk full" in r.message
        assert s.get(RES, "ns", "a") is None and s.current(RES, "ns", "a") is None
        assert s.get(RES, "ns", "keep") is not None and s.current(RES, "ns", "keep") is not None
        assert s.resource_version == 1 and drain(w) == []
        s._db.commit = real  # type: ignore[method-assign]
        # the counter was resynced: the next write follows the last committed one
        assert (await put(s, "b")).rv == 2
        await s.close()

    async def reopen() -> None:
        s = await opened(db)
        assert s.resource_version == 2
        assert [k for k, _ in s.list(RES, None)] == [("ns", "b"), ("ns", "keep")]
        await s.close()

    run(body)
    run(reopen)


def test_commit_failure_with_closed_connection(tmp_path: Path) -> None:
    async def body() -> None:
        s = await opened(tmp_path / "db")
        s._db._conn.close()
        with pytest.raises(errors.InternalError):
            await s.stage(RES, "ns", "a", cm("a"))
        assert s.get(RES, "ns", "a") is None and s.resource_version == 0
        s._writer.cancel()
        s.hub.close_all()
        s._executor.shutdown()
    run(body)


def test_commit_failure_also_fails_writes_staged_during_the_commit(tmp_path: Path) -> None:
    async def body() -> None:
        s = await opened(tmp_path / "db")
        entered, release = threading.Event(), threading.Event()

        def slow_broken(rows: Any, rv: int) -> None:
            entered.set()
            release.wait(10)
            raise OSError("i/o error")
        s._db.commit = slow_broken  # type: ignore[method-assign]
        f1 = s.stage(RES, "ns", "a", cm("a"))
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(None, entered.wait, 10)
        # staged on top of the in-flight (doomed) write: must fail with it
        f2 = s.stage(RES, "ns", "a", cm("a", v="2"))
        assert s.current(RES, "ns", "a").rv == 2
        release.set()
        results = await asyncio.gather(f1, f2, return_exceptions=True)
        assert all(isinstance(r, errors.InternalError) for r in results)
        assert s.current(RES, "ns", "a") is None and s.resource_version == 0
        del s._db.commit  # back to the real method
        assert (await put(s, "a")).rv == 1
        await s.close()
    run(body)


def test_stops_matching_deleted_event_carries_previous_object_at_new_rv(tmp_path: Path) -> None:
    # cacher convertToWatchEvent: "return a delete event with the previous object content, but
    # with the event's resource version"
    async def body() -> None:
        s = await opened(tmp_path / "db")
        w = s.hub.subscribe(RES, None, None, lambda e: e.labels.get("app") == "web")
        await put(s, "a", app="web")
        await put(s, "a", app="db")
        w.queue.get_nowait()
        typ, entry = w.queue.get_nowait()
        obj = entry.obj()
        assert typ == "DELETED" and entry.rv == 2
        assert obj["metadata"]["labels"] == {"app": "web"}
        assert obj["metadata"]["resourceVersion"] == "2"
        assert entry.labels == {"app": "web"}
        # the committed object itself is untouched
        assert s.get(RES, "ns", "a").obj()["metadata"]["labels"] == {"app": "db"}
        await s.close()
    run(body)
