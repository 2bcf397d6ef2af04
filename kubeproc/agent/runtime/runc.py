"""`RuncRuntime`: the Runtime seam over the runc binary, one state root per kubeproc instance.

Every runc call is a spawned process (never a fork of kubeproc). `create` asks the shim zygote
(shim.py, one small child process) to fork a detached per-container shim, which runs `runc
create` and then owns the container's stdio and exit status; both live in the bundle directory
(shim.pid, exit.json), so a restarted agent adopts running containers with `list` + `wait_exit`
and loses no exit code.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from kubeproc.agent.runtime.protocol import ContainerNotFound, ContainerState, ExitStatus, RuntimeError_
from kubeproc.agent.runtime.shim import EXIT_FILE, INIT_PID_FILE, SHIM_PID_FILE, proc_stat

SHIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "shim.py")


def write_bundle(bundle_dir: str, config: dict[str, Any]) -> None:
    """Write config.json into `bundle_dir` (created if needed)."""
    os.makedirs(bundle_dir, exist_ok=True)
    tmp = os.path.join(bundle_dir, "config.json.tmp")
    with open(tmp, "w") as f:
        json.dump(config, f, indent=2)
    os.rename(tmp, os.path.join(bundle_dir, "config.json"))


def read_exit(bundle_dir: str) -> ExitStatus | None:
    """The exit status the shim recorded, or None if the container has not exited (or no shim saw it)."""
    try:
        with open(os.path.join(bundle_dir, EXIT_FILE)) as f:
            rec = json.load(f)
    except (FileNotFoundError, ValueError):
        return None
    return ExitStatus(exit_code=int(rec["exitCode"]), signal=int(rec.get("signal", 0)),
                      oom_killed=bool(rec.get("oomKilled")), finished_at=str(rec.get("finishedAt", "")))


def _cgroup_memory_files(cgroup_path: str) -> list[str]:
    """Where the kernel counts OOM kills of this cgroup: v1 memory.oom_control, v2 memory.events."""
    rel = cgroup_path.lstrip("/")
    if not rel:
        return []
    if os.path.isdir("/sys/fs/cgroup/memory"):
        return [os.path.join("/sys/fs/cgroup/memory", rel, "memory.oom_control")]
    return [os.path.join("/sys/fs/cgroup", rel, "memory.events")]


def shim_pid(bundle_dir: str) -> int:
    """The pid of the bundle's shim if it is still running, else 0. shim.pid holds "pid starttime":
    a recycled pid has another start time, so we never wait on (or signal) a stranger. An exited
    shim may linger as a zombie until the host's init reaps it: that counts as gone."""
    try:
        with open(os.path.join(bundle_dir, SHIM_PID_FILE)) as f:
            pid, started = (int(x) for x in f.read().split())
        state, start = proc_stat(pid)
        return pid if start == started and state not in ("Z", "X") else 0
    except (OSError, ValueError, IndexError):
        return 0


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


class RuncRuntime:
    """Containers through `runc --root <state_root>`; runc's own log goes to `<state_root>.log`.

    Owns one shim zygote (a child process, started on first `create`, bound to the event loop
    of that call); `close()` ends it. Running containers and their shims never depend on it.
    """

    def __init__(self, state_root: str, runc: str = "/usr/sbin/runc", python: str = sys.executable,
                 create_timeout: float = 30.0) -> None:
        self.root = state_root
        self.runc = runc
        self.python = python
        self.create_timeout = create_timeout
        self.runc_log = state_root.rstrip("/") + ".log"
        self._bundles: dict[str, str] = {}
        self._zygote: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[bytes]] = {}
        os.makedirs(state_root, mode=0o700, exist_ok=True)

    async def _shim_zygote(self) -> asyncio.subprocess.Process:
        z = self._zygote
        if z is not None and z.returncode is None and self._reader is not None and not self._reader.done():
            return z
        with open(self.root.rstrip("/") + ".zygote.log", "ab") as err:
            z = await asyncio.create_subprocess_exec(
                self.python, "-I", "-S", SHIM, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=err, start_new_session=True)
        self._zygote = z
        self._reader = asyncio.get_running_loop().create_task(self._read_reports(z))
        return z

    async def _read_reports(self, z: asyncio.subprocess.Process) -> None:
        assert z.stdout is not None
        while line := await z.stdout.readline():
            cid, _, rep = line.rstrip(b"\n").partition(b" ")
            fut = self._pending.pop(cid.decode(), None)
            if fut is not None and not fut.done():
                fut.set_result(rep)
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(RuntimeError_("the shim zygote exited; see " + self.root.rstrip("/") + ".zygote.log"))
        self._pending.clear()

    async def close(self) -> None:
        """End the shim zygote (running containers and their shims carry on)."""
        z, self._zygote = self._zygote, None
        if z is not None and z.returncode is None:
            assert z.stdin is not None
            z.stdin.close()
            await z.wait()
        if self._reader is not None:
            await self._reader
            self._reader = None

    async def _runc(self, *args: str) -> bytes:
        proc = await asyncio.create_subprocess_exec(
            self.runc, "--root", self.root, "--log", self.runc_log, "--log-format", "json", *args,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        if proc.returncode != 0:
            msg = err.decode(errors="replace").strip() or f"runc {args[0]} exited with {proc.returncode}"
            if "does not exist" in msg or "not exist" in msg:
                raise ContainerNotFound(msg)
            raise RuntimeError_(msg)
        return out

    async def create(self, bundle_dir: str, id: str, log_path: str) -> int:
        bundle_dir = os.path.abspath(bundle_dir)
        with open(os.path.join(bundle_dir, "config.json")) as f:
            cgroup_path = json.load(f).get("linux", {}).get("cgroupsPath", "")
        for stale in (EXIT_FILE, SHIM_PID_FILE, INIT_PID_FILE):
            try:
                os.unlink(os.path.join(bundle_dir, stale))
            except FileNotFoundError:
                pass
        os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
        argv = [self.runc, self.root, self.runc_log, bundle_dir, id, os.path.abspath(log_path),
                ":".join(_cgroup_memory_files(cgroup_path))]
        if id in self._pending:
            raise RuntimeError_(f"container {id} is already being created")
        z = await self._shim_zygote()
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[id] = fut
        assert z.stdin is not None
        z.stdin.write("\0".join(argv).encode() + b"\n")
        try:
            await z.stdin.drain()
            line = await asyncio.wait_for(fut, self.create_timeout)
        except asyncio.TimeoutError:
            raise RuntimeError_(f"shim for {id} did not report within {self.create_timeout}s") from None
        finally:
            self._pending.pop(id, None)
        rep = json.loads(line)
        if not rep.get("ok"):
            raise RuntimeError_(rep.get("error") or "runc create failed")
        self._bundles[id] = bundle_dir
        return int(rep["pid"])

    async def start(self, id: str) -> None:
        await self._runc("start", id)

    def _state(self, rec: dict[str, Any]) -> ContainerState:
        bundle = rec.get("bundle", "")
        self._bundles[rec["id"]] = bundle
        return ContainerState(id=rec["id"], status=rec.get("status", ""), pid=int(rec.get("pid") or 0),
                              bundle=bundle, created=rec.get("created", ""),
                              exit=read_exit(bundle) if bundle else None)

    async def state(self, id: str) -> ContainerState:
        return self._state(json.loads(await self._runc("state", id)))

    async def kill(self, id: str, signal: int, all: bool = False) -> None:
        await self._runc("kill", *(["--all"] if all else []), id, str(int(signal)))

    async def delete(self, id: str, force: bool = False) -> None:
        try:
            await self._runc("delete", *(["--force"] if force else []), id)
        except ContainerNotFound:
            pass
        self._bundles.pop(id, None)

    async def list(self) -> list[ContainerState]:
        recs = json.loads(await self._runc("list", "--format", "json") or b"null") or []
        return [self._state(r) for r in recs]

    async def wait_exit(self, id: str, timeout: float | None = None) -> ExitStatus:
        bundle = self._bundles.get(id) or (await self.state(id)).bundle
        pid = shim_pid(bundle)
        if pid:
            # the shim exits after the exit file is written and the log is drained
            await wait_pid(pid, timeout)
        else:
            st = await self.state(id)
            if st.status in ("running", "created", "paused") and st.pid:
                await wait_pid(st.pid, timeout)
        ex = read_exit(bundle)
        # no shim saw the exit (it was killed): like the kubelet when the runtime lost the status
        return ex if ex is not None else ExitStatus(exit_code=137, signal=0, unknown=True)
