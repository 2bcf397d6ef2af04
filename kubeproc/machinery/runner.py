"""The worker loop every controller runs: take a key, reconcile it, decide its retry.

Owning retries here (not in the controllers) follows controller-runtime: a reconcile returns
normally (done), raises NotFound (the object is gone: done), or raises any other error (retried
with backoff). An unexpected exception is logged and retried, never allowed to end the loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable

from kubeproc.api import errors
from kubeproc.machinery.queue import WorkQueue

log = logging.getLogger(__name__)


async def work(queue: WorkQueue, reconcile: Callable[[Hashable], Awaitable[None]], name: str) -> None:
    while True:
        key = await queue.get()
        try:
            await reconcile(key)
            queue.forget(key)
        except errors.NotFound:
            queue.forget(key)
        except errors.StatusError as exc:
            log.debug("%s: retrying %s: %s", name, key, exc)
            queue.retry(key)
        except Exception:  # a bug on one key must not stop the controller
            log.exception("%s: reconciling %s failed", name, key)
            queue.retry(key)
        finally:
            queue.done(key)


async def serve(watch: Awaitable[None], queue: WorkQueue,
                reconcile: Callable[[Hashable], Awaitable[None]], name: str, workers: int = 1) -> None:
    """A controller's main loop: its watch and `workers` work loops until one ends or all are
    cancelled; the queue is closed on the way out (pending delayed adds are dropped)."""
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(watch)
            for _ in range(workers):
                tg.create_task(work(queue, reconcile, name))
    finally:
        queue.close()
