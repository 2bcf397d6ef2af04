"""The keyed work queue (kubeproc.machinery.queue.WorkQueue) against client-go's workqueue
contract: dedup of queued keys, a key re-added while processing comes back once after `done`,
`retry` backs off exponentially up to a cap and `forget` resets it. No sleeps: timers are either
inspected or awaited through the queue with generous timeouts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from kubeproc.machinery.queue import WorkQueue


def run(fn: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(fn())


async def drain(q: WorkQueue) -> list:
    """Take every ready key, marking each done."""
    out = []
    while len(q):
        key = await q.get()
        out.append(key)
        q.done(key)
    return out


@pytest.mark.parametrize("adds,expected", [
    (["a"], ["a"]),
    (["a", "a", "a"], ["a"]),
    (["a", "b", "a", "c", "b"], ["a", "b", "c"]),
    ([("ns", "x"), ("ns", "x"), ("ns", "y")], [("ns", "x"), ("ns", "y")]),
], ids=["single", "duplicate-collapses", "fifo-first-add-wins", "tuple-keys"])
def test_dedup(adds: list, expected: list) -> None:
    async def body() -> list:
        q = WorkQueue()
        for k in adds:
            q.add(k)
        assert len(q) == len(expected)
        return await drain(q)
    assert run(body) == expected


def test_readd_while_processing_comes_back_once_after_done() -> None:
    async def body() -> None:
        q = WorkQueue()
        q.add("a")
        key = await q.get()
        q.add("a")
        q.add("a")
        assert len(q) == 0  # not handed to a second worker while processing
        q.done(key)
        assert len(q) == 1
        assert await drain(q) == ["a"]
        assert len(q) == 0
    run(body)


def test_done_without_readd_does_not_requeue() -> None:
    async def body() -> None:
        q = WorkQueue()
        q.add("a")
        q.done(await q.get())
        assert len(q) == 0
    run(body)


def test_add_after_processing_started_on_other_key_is_independent() -> None:
    async def body() -> None:
        q = WorkQueue()
        q.add("a")
        a = await q.get()
        q.add("b")
        assert len(q) == 1
        q.done(a)
        assert await drain(q) == ["b"]
    run(body)


def recorded_delays(q: WorkQueue) -> list[float]:
    delays: list[float] = []
    q.add_after = lambda key, delay: delays.append(delay)  # type: ignore[method-assign]
    return delays


@pytest.mark.parametrize("retries,expected", [
    (1, [0.01]),
    (4, [0.01, 0.02, 0.04, 0.08]),
    (7, [0.01, 0.02, 0.04, 0.08, 0.16, 0.25, 0.25]),
], ids=["first-retry-base-delay", "doubles-each-failure", "capped-at-max-delay"])
def test_retry_backoff(retries: int, expected: list[float]) -> None:
    q = WorkQueue(base_delay=0.01, max_delay=0.25)
    delays = recorded_delays(q)
    for _ in range(retries):
        q.retry("k")
    assert delays == pytest.approx(expected)
    assert all(a <= b for a, b in zip(delays, delays[1:]))
    assert q._failures["k"] == retries


def test_forget_resets_backoff_per_key() -> None:
    q = WorkQueue(base_delay=0.01, max_delay=1.0)
    delays = recorded_delays(q)
    q.retry("k")
    q.retry("k")
    q.retry("other")
    q.forget("k")
    q.retry("k")
    assert delays == pytest.approx([0.01, 0.02, 0.01, 0.01])
    assert q._failures == {"k": 1, "other": 1}


def test_retry_readds_key_after_delay() -> None:
    async def body() -> None:
        q = WorkQueue(base_delay=0.001)
        q.add("k")
        key = await q.get()
        q.retry(key)
        q.done(key)
        assert await asyncio.wait_for(q.get(), timeout=5) == "k"
    run(body)


def test_fired_timers_are_not_kept() -> None:
    async def body() -> None:
        q = WorkQueue()
        for i in range(3):
            q.add_after(i, 0)
        for _ in range(3):
            q.done(await asyncio.wait_for(q.get(), timeout=5))
        assert q._timers == set()
    run(body)


def test_close_cancels_pending_timers() -> None:
    async def body() -> None:
        q = WorkQueue()
        q.add_after("k", 3600)
        (handle,) = q._timers
        q.close()
        assert handle.cancelled() and q._timers == set() and len(q) == 0
    run(body)


def test_add_batched_adds_once_after_the_period() -> None:
    async def body() -> None:
        q = WorkQueue()
        for _ in range(5):
            q.add_batched("rs", 0.05)
        assert len(q) == 0 and list(q._batched) == ["rs"]  # one timer, however many asks
        key = await asyncio.wait_for(q.get(), timeout=5)
        assert key == "rs" and q._batched == {}
        q.done(key)
        assert len(q) == 0
    run(body)


def test_add_batched_is_nothing_for_a_queued_key_and_immediate_without_a_period() -> None:
    async def body() -> None:
        q = WorkQueue()
        q.add("a")
        q.add_batched("a", 10.0)  # the queued run will see the change
        assert q._batched == {}
        q.add_batched("b", 0)
        assert await drain(q) == ["a", "b"]
    run(body)


def test_close_cancels_batched_adds() -> None:
    async def body() -> None:
        q = WorkQueue()
        q.add_batched("a", 10.0)
        (handle,) = q._batched.values()
        q.close()
        assert handle.cancelled() and q._batched == {} and len(q) == 0
    run(body)
