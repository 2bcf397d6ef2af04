"""`runc exec`: a process started in a running container, as an `ExecProcess` (pods/exec, probes).

Each session spawns `runc exec` in the foreground (never a fork of kubeproc), so runc relays the
process's stdio and exits with its exit code. TTY sessions give runc a host pty as its stdio:
runc puts it in raw mode, relays it to the container's console and copies its size on SIGWINCH.
A process that cannot be started fails like dockershim's exec did: exit code 126 and
`OCI runtime exec failed: ...: unknown` on stderr (runc's own message is held back).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import shutil
import signal
import struct
import tempfile
import termios
import tty as _tty
from collections.abc import Iterable

from kubeproc.client.podstreams import STDERR, STDOUT

START_FAILED = 126  # dockershim/docker's exit code for an exec that could not start
PROBE_OUTPUT_LIMIT = 10 * 1024  # pkg/probe/exec: maxReadLength
_CHUNK = 32 * 1024
_BACKLOG = 1 << 20  # unread output beyond which the pumps stop reading (backpressure)
_PID_POLL = 0.01
_KILL_GRACE = 1.0  # after a kill, how long output pipes may stay open


def _exec_dir(root: str) -> str:
    """Per-session scratch (pid file, runc log) beside the state root: runc treats every
    directory inside the root as a container."""
    base = root.rstrip("/") + ".exec"
    os.makedirs(base, mode=0o700, exist_ok=True)
    return tempfile.mkdtemp(prefix="x", dir=base)


def _start_error(log_file: str, held: bytes) -> str:
    """runc's reason for not starting the process: the last error in its JSON log, else its
    stderr (runc prints the same message there)."""
    msg = ""
    with contextlib.suppress(OSError):
        with open(log_file, encoding="utf-8", errors="replace") as f:
            for line in f:
                with contextlib.suppress(ValueError):
                    rec = json.loads(line)
                    if rec.get("level") in ("error", "fatal"):
                        msg = str(rec.get("msg", ""))
    if not msg:
        lines = held.decode(errors="replace").strip().splitlines()
        msg = lines[-1] if lines else "runc exec failed"
    return msg


class CrlfSquash:
    """Turns "\r\r\n" into "\r\n" in a chunked stream. runc's TTY relay translates newlines
    twice for output written before it cleared ONLCR on the container's pty (its host-side
    terminal translates too); a containerd node translates once."""

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, data: bytes) -> bytes:
        data = self._tail + data
        keep = len(data) - len(data.rstrip(b"\r"))
        keep = min(keep, 2)  # a trailing "\r" or "\r\r" may be completed by the next chunk
        data, self._tail = data[:len(data) - keep], data[len(data) - keep:]
        return data.replace(b"\r\r\n", b"\r\n")

    def flush(self) -> bytes:
        rest, self._tail = self._tail, b""
        return rest


class RuncExec:
    """One `runc exec` session; implements kubeproc.client.podstreams.ExecProcess."""

    def __init__(self, proc: asyncio.subprocess.Process, workdir: str, tty: bool,
                 master: int | None) -> None:
        self.proc = proc
        self.tty = tty
        self._workdir = workdir
        self._pid_file = os.path.join(workdir, "pid")
        self._log_file = os.path.join(workdir, "runc.log")
        self._master = master
        self._out: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        self._held: list[tuple[int, bytes]] = []
        self._started = False
        self._exit: int | None = None
        self._killed = False
        self._backlog = 0
        self._room = asyncio.Event()
        self._room.set()
        loop = asyncio.get_running_loop()
        pumps = ([loop.create_task(self._pump_fd(master))] if master is not None else
                 [loop.create_task(self._pump_stream(proc.stdout, STDOUT)),
                  loop.create_task(self._pump_stream(proc.stderr, STDERR))])
        self._pumps = pumps
        self._done = loop.create_task(self._supervise(pumps))

    # -- output ---------------------------------------------------------------------------
    def _check_started(self) -> bool:
        if not self._started and os.path.exists(self._pid_file):
            self._started = True  # runc writes the pid file once the process runs
            for item in self._held:
                self._out.put_nowait(item)
            self._held.clear()
        return self._started

    async def _emit(self, stream: int, data: bytes) -> None:
        if self._killed:
            return  # nobody reads any more
        self._backlog += len(data)
        if self._check_started():
            self._out.put_nowait((stream, data))
        else:
            # before the process runs only runc writes: hold it, it may be a start failure
            self._held.append((stream, data))
        if self._backlog > _BACKLOG:
            self._room.clear()
            await self._room.wait()

    async def _pump_stream(self, reader: asyncio.StreamReader | None, stream: int) -> None:
        if reader is None:
            return
        while data := await reader.read(_CHUNK):
            await self._emit(STDOUT if self.tty else stream, data)

    async def _pump_fd(self, fd: int) -> None:
        loop = asyncio.get_running_loop()
        squash = CrlfSquash()
        try:
            await self._pump_pty(loop, fd, squash)
        finally:
            if rest := squash.flush():
                await self._emit(STDOUT, rest)

    async def _pump_pty(self, loop: asyncio.AbstractEventLoop, fd: int, squash: "CrlfSquash") -> None:
        while True:
            ready = loop.create_future()
            loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
            try:
                await ready
            finally:
                loop.remove_reader(fd)
            try:
                data = os.read(fd, _CHUNK)
            except BlockingIOError:
                continue
            except OSError:  # EIO: every slave fd (runc) is closed
                return
            if not data:
                return
            if data := squash.feed(data):
                await self._emit(STDOUT, data)

    async def _watch_start(self) -> None:
        """Release held output once the process is running (it may write before the pid file
        exists), polling until runc exits."""
        while self.proc.returncode is None and not self._check_started():
            await asyncio.sleep(_PID_POLL)

    async def _supervise(self, pumps: list[asyncio.Task[None]]) -> None:
        watcher = asyncio.get_running_loop().create_task(self._watch_start())
        try:
            await asyncio.gather(*pumps, return_exceptions=True)  # keep the exit code regardless
            code = await self.proc.wait()
            if code < 0:  # runc itself was killed: report as a shell would
                code = 128 - code
            await watcher
            if not self._check_started() and not self._killed:
                held = b"".join(d for _, d in self._held)
                self._held.clear()
                msg = f"OCI runtime exec failed: {_start_error(self._log_file, held)}: unknown\r\n"
                self._out.put_nowait((STDOUT if self.tty else STDERR, msg.encode()))
                code = START_FAILED
            self._exit = code
        finally:
            watcher.cancel()
            self._out.put_nowait(None)
            if self._master is not None:
                asyncio.get_running_loop().remove_writer(self._master)  # a blocked write_stdin
                os.close(self._master)
                self._master = None
            shutil.rmtree(self._workdir, ignore_errors=True)

    async def read(self) -> tuple[int, bytes] | None:
        item = await self._out.get()
        if item is None:
            self._out.put_nowait(None)  # stay at the end for later calls
        else:
            self._backlog -= len(item[1])
            if self._backlog <= _BACKLOG:
                self._room.set()
        return item

    async def wait(self) -> int:
        await asyncio.shield(self._done)
        assert self._exit is not None
        return self._exit

    # -- input ----------------------------------------------------------------------------
    async def write_stdin(self, data: bytes) -> None:
        if self._master is not None:
            await self._write_fd(self._master, data)
            return
        w = self.proc.stdin
        if w is None or w.is_closing():
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            w.write(data)
            await w.drain()

    async def _write_fd(self, fd: int, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        view = memoryview(data)
        while view and self._master is not None:
            try:
                view = view[os.write(fd, view):]
                continue
            except BlockingIOError:
                pass
            except OSError:
                return  # the session ended
            ready = loop.create_future()
            loop.add_writer(fd, lambda: ready.done() or ready.set_result(None))
            try:  # the session may end (and the fd close) while the terminal is full
                await asyncio.wait({ready, self._done}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                if self._master is not None:  # else _supervise unregistered and closed it
                    loop.remove_writer(fd)
                ready.cancel()

    async def close_stdin(self) -> None:
        if self._master is not None:
            await self._write_fd(self._master, b"\x04")  # a terminal has no EOF but ^D
            return
        w = self.proc.stdin
        if w is not None and not w.is_closing():
            w.close()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await w.wait_closed()

    def resize(self, width: int, height: int) -> None:
        if self._master is None or self.proc.returncode is not None:
            return
        with contextlib.suppress(OSError):
            fcntl.ioctl(self._master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
            # runc copies its terminal's size to the container's on SIGWINCH; it has no
            # controlling terminal, so the kernel would not send it
            os.kill(self.proc.pid, signal.SIGWINCH)

    async def kill(self) -> None:
        self._killed = True
        self._room.set()  # unblock the pumps: output is dropped from now on
        if self.proc.returncode is None:
            pid = 0
            with contextlib.suppress(OSError, ValueError):
                with open(self._pid_file) as f:
                    pid = int(f.read().strip() or 0)
            # the process first: runc cannot forward SIGKILL, it would orphan the process
            if pid > 0:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                with contextlib.suppress(asyncio.TimeoutError):
                    # runc also waits for the output to close, which a background child may hold
                    await asyncio.wait_for(asyncio.shield(self.proc.wait()), _KILL_GRACE)
            if self.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
        await asyncio.shield(self.proc.wait())
        # a background child of the process may still hold its stdout: stop reading then
        await asyncio.wait({self._done}, timeout=_KILL_GRACE)
        for pump in self._pumps:
            pump.cancel()
        await asyncio.shield(self._done)


async def runc_exec(runc: str, root: str, container_id: str, argv: list[str], *,
                    env: Iterable[str] = (), cwd: str | None = None, stdin: bool,
                    tty: bool) -> RuncExec:
    """Start `argv` in the running container (its config.json's user, env and cwd unless `env`
    entries `K=V` / `cwd` override them). The process's exit code comes from `wait()`."""
    workdir = _exec_dir(root)
    args = [runc, "--root", root, "--log", os.path.join(workdir, "runc.log"), "--log-format", "json",
            "exec", "--pid-file", os.path.join(workdir, "pid")]
    if tty:
        args.append("--tty")
    for e in env:
        args += ["--env", e]
    if cwd:
        args += ["--cwd", cwd]
    args += [container_id, *argv]
    try:
        if tty:
            master, slave = os.openpty()
            try:
                # raw before runc starts (it sets raw itself, later): early input must not echo
                _tty.setraw(slave)
                os.set_blocking(master, False)
                proc = await asyncio.create_subprocess_exec(
                    *args, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
            except BaseException:
                os.close(master)
                raise
            finally:
                os.close(slave)  # only runc keeps it: the master reads EIO once runc is gone
            return RuncExec(proc, workdir, True, master)
        pipe = asyncio.subprocess.PIPE
        proc = await asyncio.create_subprocess_exec(
            *args, stdin=pipe if stdin else asyncio.subprocess.DEVNULL, stdout=pipe, stderr=pipe,
            start_new_session=True)
        return RuncExec(proc, workdir, False, None)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise


async def exec_sync(runc: str, root: str, container_id: str, argv: list[str],
                    timeout: float) -> tuple[int, bytes]:
    """Run `argv` in the container for an exec probe: (exit code, stdout then stderr, cut to
    10 KiB) like the kubelet's RunInContainer. `timeout` <= 0 means none; when it expires the
    process is killed and TimeoutError raised (the prober's 'command timed out'). Cancelling
    the call kills the process too."""
    proc = await runc_exec(runc, root, container_id, argv, stdin=False, tty=False)
    out = {STDOUT: bytearray(), STDERR: bytearray()}

    async def collect() -> int:
        while (item := await proc.read()) is not None:
            buf = out[item[0]]
            if len(buf) < PROBE_OUTPUT_LIMIT:
                buf += item[1][:PROBE_OUTPUT_LIMIT - len(buf)]
        return await proc.wait()

    try:
        code = await asyncio.wait_for(collect(), timeout if timeout > 0 else None)
    except asyncio.TimeoutError:
        await proc.kill()
        raise TimeoutError(f"command {argv!r} timed out") from None
    except asyncio.CancelledError:  # a caller's own deadline: the process must not outlive it
        await asyncio.shield(proc.kill())
        raise
    return code, bytes(out[STDOUT] + out[STDERR])[:PROBE_OUTPUT_LIMIT]
