"""The agent's side of the container monitor (monitor.py): start it, talk to it, wait on pids.

`MonitorClient` holds one unix-socket connection to the state root's monitor, bound to the event
loop that opened it; it starts the monitor when asked to and none is listening. Requests are
NUL-separated fields on one line, tagged with a sequence number; replies come back tagged, so
any number of requests (creates, exit waits) can be in flight on the one connection.
"""

from __future__ import annotations

import asyncio
import fcntl
import itertools
import os
import sys
from collections.abc import Callable

from kubeproc.agent.runtime.protocol import RuntimeError_

MONITOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "monitor.py")
ALREADY_RUNNING = 3  # monitor.py's exit code when another monitor holds the state root
CONNECT_RETRIES = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


class MonitorGone(Exception):
    """The monitor closed the connection (it exited or was killed) before replying."""


async def wait_pid(pid: int, timeout: float | None) -> None:
    """Wait until any process (not only a child) has exited, via a pidfd on the event loop."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    loop.add_reader(pidfd, lambda: done.done() or done.set_result(None))
    try:
        await asyncio.wait_for(done, timeout)
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)


def monitor_pids(state_root: str) -> list[int]:
    """Running monitors of this state root (normally at most one), found by their command line."""
    want = [MONITOR.encode(), state_root.rstrip("/").encode()]
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if all(w in args for w in want):
            out.append(int(pid))
    return out


class MonitorClient:
    def __init__(self, state_root: str, python: str = sys.executable) -> None:
        self.root = state_root.rstrip("/")
        self.sock_path = self.root + ".monitor.sock"
        self.log_path = self.root + ".monitor.log"
        self.python = python
        self.pid = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[str]] = {}
        self._seq = itertools.count(1)
        # called on the event loop when the monitor closes the connection on its own (it died)
        self.lost_listeners: list[Callable[[], None]] = []

    def connected(self) -> bool:
        return (self._writer is not None and self._loop is asyncio.get_running_loop()
                and self._reader_task is not None and not self._reader_task.done())

    async def connect(self, spawn: bool) -> bool:
        """Connect to the running monitor; with `spawn`, start one if none runs. False if there
        is none (and `spawn` is False); RuntimeError_ if it cannot be started."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (tests): the old connection is unusable
            self._forget()
            self._loop, self._lock = loop, asyncio.Lock()
        assert self._lock is not None
        async with self._lock:
            if self.connected():
                return True
            if await self._open():
                return True
            if not spawn:
                return False
            for _ in range(3):  # a monitor that was just exiting may refuse us once
                await self._start()
                for delay in CONNECT_RETRIES:
                    await asyncio.sleep(delay)
                    if await self._open():
                        return True
            raise RuntimeError_(f"cannot connect to the container monitor at {self.sock_path}; see {self.log_path}")

    async def _start(self) -> None:
        with open(self.log_path, "ab") as err:
            proc = await asyncio.create_subprocess_exec(
                self.python, "-I", "-S", MONITOR, self.root, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=err, start_new_session=True)
        rc = await proc.wait()  # the monitor forks into the background once it listens
        if rc not in (0, ALREADY_RUNNING):
            raise RuntimeError_(f"the container monitor exited with {rc}; see {self.log_path}")

    async def _open(self) -> bool:
        path, dirfd = self.sock_path, -1
        if len(path.encode()) >= 100:  # longer than sun_path allows: go through the directory's fd
            dirfd = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
            path = f"/proc/self/fd/{dirfd}/{os.path.basename(path)}"
        try:
            reader, writer = await asyncio.open_unix_connection(path)
        except (FileNotFoundError, ConnectionRefusedError):
            return False
        finally:
            if dirfd >= 0:
                os.close(dirfd)
        self._writer = writer
        self._reader_task = asyncio.get_running_loop().create_task(self._read(reader))
        try:
            rep = await asyncio.wait_for(self._send("hello"), 5)
            self.pid = int(rep.split()[1])
        except (MonitorGone, asyncio.TimeoutError, ValueError, IndexError, OSError):
            self._forget()
            return False
        return True

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while line := await reader.readline():
                seq, _, rep = line.decode(errors="replace").rstrip("\n").partition(" ")
                fut = self._pending.pop(seq, None)
                if fut is not None and not fut.done():
                    fut.set_result(rep)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(MonitorGone())
            self._pending.clear()
            if self._reader_task is asyncio.current_task():  # not our own close (_forget)
                for listener in self.lost_listeners:
                    listener()

    async def _send(self, *fields: str) -> str:
        seq = str(next(self._seq))
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending[seq] = fut
        assert self._writer is not None
        try:
            self._writer.write("\0".join((seq, *fields)).encode() + b"\n")
            await self._writer.drain()
            return await fut
        except (ConnectionError, BrokenPipeError) as e:
            raise MonitorGone() from e
        finally:
            self._pending.pop(seq, None)

    async def call(self, *fields: str, spawn: bool = True) -> str:
        """Send one request and return the reply (`WORD REST`); MonitorGone if it went away."""
        if not self.connected() and not await self.connect(spawn):
            raise MonitorGone()
        return await self._send(*fields)

    async def leave(self, shutdown: bool = False) -> None:
        """Disconnect. The monitor stays while containers run; if it says it is exiting (no
        container left and, unless `shutdown`, no other client) wait until it is gone."""
        if not self.connected():
            if not shutdown or not await self.connect(spawn=False):
                self._forget()
                self.remove_stale_socket()
                return
        pid = self.pid
        try:
            rep = await asyncio.wait_for(self._send("shutdown" if shutdown else "bye"), 10)
        except (MonitorGone, asyncio.TimeoutError):
            rep = ""
        await self._close()
        if rep == "exit" and pid:
            try:
                await wait_pid(pid, 5)
            except asyncio.TimeoutError:
                pass

    async def close(self) -> None:
        """Disconnect without `bye` (a short-lived connection, e.g. one attach session: the
        monitor forgets it; an attach session's stdin ends with it)."""
        await self._close()

    def remove_stale_socket(self) -> None:
        """Remove the socket a killed monitor left, if no monitor holds the state root's lock."""
        try:
            lock = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            lock = -1
        try:
            if lock >= 0:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.unlink(self.sock_path)
        except (BlockingIOError, FileNotFoundError):
            pass  # a monitor runs (or is starting), or there is nothing to remove
        finally:
            if lock >= 0:
                os.close(lock)

    async def _close(self) -> None:
        t = self._reader_task
        self._forget()  # closes the writer: the reader sees EOF and ends
        if t is not None:
            try:
                await t
            except asyncio.CancelledError:
                pass

    def _forget(self) -> None:
        """Drop the connection without talking (its event loop may be gone)."""
        w, self._writer = self._writer, None
        self._reader_task = None
        if w is not None and self._loop is not None and not self._loop.is_closed():
            try:
                w.close()
            except RuntimeError:
                pass
