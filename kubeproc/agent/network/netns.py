"""Network namespaces without forking: per-thread `unshare`/`setns`.

Linux network namespaces are per thread, so namespace work runs in a dedicated short-lived
thread (`run_in_thread`) that unshares or enters a netns and dies with it; the kubeproc process
itself never changes namespace and never forks. A new netns outlives its thread through an fd
that a NamespaceHolder keeps (agent/nsholder.py), not a bind mount under /run/netns.
"""

from __future__ import annotations

import _thread
import asyncio
import ctypes
import os
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

CLONE_NEWNET = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]


def check(ret: int, what: str, path: str = "") -> None:
    """Raise OSError with errno's text if a libc call returned non-zero."""
    if ret != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}", path or None)


def run_in_thread(fn: Callable[[], T]) -> T:
    """Run `fn` in a fresh thread and return its result (or raise its exception). The thread
    may change its netns freely: it ends with `fn`, so no pool thread is ever left inside one."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # re-raised in the caller
            box["error"] = e

    t = threading.Thread(target=target, name="kubeproc-netns", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


async def run_in_thread_async(fn: Callable[[], T], discard: Callable[[T], None] = lambda _: None) -> T:
    """`run_in_thread` without blocking the event loop or a pool thread while it runs.
    `discard` disposes of a result that arrives after the caller was cancelled (fds, sockets)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[T] = loop.create_future()

    def settle(value: T | None, error: BaseException | None) -> None:
        if done.cancelled():
            if error is None:
                discard(value)  # type: ignore[arg-type]
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(value)  # type: ignore[arg-type]

    def target() -> None:
        try:
            value, error = fn(), None
        except BaseException as e:  # re-raised in the caller
            value, error = None, e
        loop.call_soon_threadsafe(settle, value, error)

    # not threading.Thread: its start() blocks the event loop until the new thread has run
    # (it needs the GIL and a CPU: ~8 % of the loop's time in a 500-pod burst)
    _thread.start_new_thread(target, ())
    return await done


def unshare_and_open() -> int:
    """Move the calling thread into a new netns (call in `run_in_thread`) and return an fd that
    keeps it alive once the thread is gone (close-on-exec; give it to a NamespaceHolder)."""
    check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
    return open_own("net")


def open_own(kind: str) -> int:
    """An fd of the calling thread's namespace of `kind` (net, ipc, uts)."""
    return os.open(f"/proc/self/task/{threading.get_native_id()}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC)


def enter(path: str) -> None:
    """Move the calling thread into the netns at `path` (call in `run_in_thread`)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        check(_libc.setns(fd, CLONE_NEWNET), "setns", path)
    finally:
        os.close(fd)
