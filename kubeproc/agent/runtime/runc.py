"""`RuncRuntime`: the Runtime seam over the runc binary, one state root per kubeproc instance.

Every runc call is a spawned process (never a fork of kubeproc). `create` asks the state root's
container monitor (monitor.py: one detached process for all containers, started on first use) to
run `runc create`; the monitor then owns the container's stdio (CRI log, rotated by size) and
records its exit in the bundle (exit.json). Once connected, the monitor also runs the short
commands (state, list, delete: monitorcmd.py) and signals a container's init itself (kill). It outlives kubeproc, so a restarted agent adopts
running containers with `list` + `wait_exit` and loses no exit code. A bundle annotated with
STDIN_ANNOTATION gets a stdin pipe the monitor keeps (fed by `AgentStreams.attach`).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kubeproc.agent.runtime.bundle import STDIN_ANNOTATION, STDIN_MODES
from kubeproc.agent.runtime.monitor import CREATE_LOG, INIT_PID_FILE
from kubeproc.agent.runtime.monitorcmd import decode_reply
from kubeproc.agent.runtime.monitorfiles import EXIT_FILE
from kubeproc.agent.runtime.monitorclient import MonitorClient, MonitorGone, monitor_pids, wait_pid
from kubeproc.agent.runtime import topdir
from kubeproc.agent.runtime.protocol import ContainerNotFound, ContainerState, ExitStatus, RuntimeError_

__all__ = ["RuncRuntime", "read_exit", "write_bundle", "wait_pid", "monitor_pids"]
LIVE_STATES = ("running", "created", "paused")
LOG_MAX_SIZE = 10 * 1024 * 1024  # the kubelet's containerLogMaxSize default (10Mi)
LOG_MAX_FILES = 5  # the kubelet's containerLogMaxFiles default


def write_bundle(bundle_dir: str, config: dict[str, Any]) -> None:
    """Write config.json into `bundle_dir` (created if needed)."""
    os.makedirs(bundle_dir, exist_ok=True)
    tmp = os.path.join(bundle_dir, "config.json.tmp")
    with open(tmp, "w") as f:
        # compact: json's C encoder is only used without indent (~1 ms less per container start)
        f.write(json.dumps(config, separators=(",", ":")))
    os.rename(tmp, os.path.join(bundle_dir, "config.json"))


def read_exit(bundle_dir: str) -> ExitStatus | None:
    """The exit status the monitor recorded, or None if the container has not exited (or no monitor saw it)."""
    try:
        with open(os.path.join(bundle_dir, EXIT_FILE)) as f:
            rec = json.load(f)
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None
    return ExitStatus(exit_code=int(rec["exitCode"]), signal=int(rec.get("signal", 0)),
                      oom_killed=bool(rec.get("oomKilled")), finished_at=str(rec.get("finishedAt", "")))


def _prepare_create(bundle_dir: str, log_path: str) -> tuple[str, str]:
    """Before a create: the bundle's cgroupsPath and stdin mode (STDIN_ANNOTATION), stale
    records of an earlier instance removed, the log directory made."""
    with open(os.path.join(bundle_dir, "config.json")) as f:
        config = json.load(f)
    cgroup_path = config.get("linux", {}).get("cgroupsPath", "")
    stdin = (config.get("annotations") or {}).get(STDIN_ANNOTATION, "")
    for stale in (EXIT_FILE, INIT_PID_FILE, CREATE_LOG):
        try:
            os.unlink(os.path.join(bundle_dir, stale))
        except FileNotFoundError:
            pass
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    return cgroup_path, stdin if stdin in STDIN_MODES else ""


def _cgroup_memory_files(cgroup_path: str) -> list[str]:
    """Where the kernel counts OOM kills of this cgroup: v1 memory.oom_control, v2 memory.events."""
    rel = cgroup_path.lstrip("/")
    if not rel:
        return []
    if os.path.isdir("/sys/fs/cgroup/memory"):
        return [os.path.join("/sys/fs/cgroup/memory", rel, "memory.oom_control")]
    return [os.path.join("/sys/fs/cgroup", rel, "memory.events")]


class RuncRuntime:
    """Containers through `runc --root <state_root>`; runc's own log goes to `<state_root>.log`.

    Talks to the state root's monitor over `<state_root>.monitor.sock` (one connection, bound to
    the event loop of its first use). `close()` disconnects and leaves the monitor to the running
    containers; it exits by itself once none is left and no client is connected.
    `log_max_size` / `log_max_files` are the kubelet's containerLogMaxSize / containerLogMaxFiles.
    """

    def __init__(self, state_root: str, runc: str = "/usr/sbin/runc", python: str = sys.executable,
                 create_timeout: float = 30.0, log_max_size: int = LOG_MAX_SIZE,
                 log_max_files: int = LOG_MAX_FILES) -> None:
        self.root = state_root
        self.runc = runc
        self.python = python
        self.create_timeout = create_timeout
        self.log_max_size = log_max_size
        self.log_max_files = log_max_files
        self.runc_log = state_root.rstrip("/") + ".log"
        self._bundles: dict[str, str] = {}
        self._creating: set[str] = set()
        self._prepared: dict[str, tuple[str, str]] = {}  # bundle -> prepare()'s answer, until run
        os.makedirs(state_root, mode=0o700, exist_ok=True)
        topdir.make_top(state_root)  # each container's state directory elsewhere on the disk
        self.monitor = MonitorClient(state_root, python)

    async def close(self) -> None:
        """Disconnect from the monitor (running containers and the monitor carry on)."""
        await self.monitor.leave()

    async def shutdown_monitor(self) -> None:
        """Ask the monitor to exit now that no container runs (kubeproc down); it stays, and this
        returns, if containers are still running. Also disconnects, like `close()`."""
        await self.monitor.leave(shutdown=True)

    async def _runc(self, *args: str) -> bytes:
        argv = (self.runc, "--root", self.root, "--log", self.runc_log, "--log-format", "json", *args)
        rc, out, err = await self._via_monitor(argv) or await self._spawn(argv)
        if rc != 0:
            msg = err.decode(errors="replace").strip() or f"runc {args[0]} exited with {rc}"
            if "does not exist" in msg or "not exist" in msg:
                raise ContainerNotFound(msg)
            raise RuntimeError_(msg)
        return out

    async def _via_monitor(self, argv: tuple[str, ...]) -> tuple[int, bytes, bytes] | None:
        """Run a short runc command in the monitor, when connected: spawning from kubeproc's
        busy event loop (vfork + a child-watcher thread each) is what it can least afford.
        None if there is no monitor to ask, or it is an older one without the `runc` request."""
        if not self.monitor.connected():
            return None
        try:
            rep = await self.monitor.call("runc", *argv, spawn=False)
        except MonitorGone:
            return None
        word, _, rest = rep.partition(" ")
        if word != "done":
            return None
        return decode_reply(rest)

    async def _spawn(self, argv: tuple[str, ...]) -> tuple[int, bytes, bytes]:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        return proc.returncode or 0, out, err

    async def create(self, bundle_dir: str, id: str, log_path: str) -> int:
        return await self._create(bundle_dir, id, log_path, "create")

    async def run(self, bundle_dir: str, id: str, log_path: str, prepared: bool = False) -> int:
        """create + start in one runc process (`runc run --detach`)."""
        return await self._create(bundle_dir, id, log_path, "run", prepared)

    def prepare(self, bundle_dir: str, log_path: str) -> None:
        """`_prepare_create` ahead of `run(..., prepared=True)`, in the caller's thread (the agent
        does it with the bundle: one hop to a thread less on a pod's start path)."""
        bundle_dir, log_path = os.path.abspath(bundle_dir), os.path.abspath(log_path)
        self._prepared[bundle_dir] = _prepare_create(bundle_dir, log_path)

    async def _create(self, bundle_dir: str, id: str, log_path: str, mode: str,
                      prepared: bool = False) -> int:
        bundle_dir = os.path.abspath(bundle_dir)
        log_path = os.path.abspath(log_path)
        ready = self._prepared.pop(bundle_dir, None) if prepared else None
        if ready is None:
            # file system calls: off the event loop (they stall it when the disk is busy)
            ready = await asyncio.to_thread(_prepare_create, bundle_dir, log_path)
        cgroup_path, stdin = ready
        if id in self._creating:
            raise RuntimeError_(f"container {id} is already being created")
        self._creating.add(id)
        try:
            rep = await asyncio.wait_for(self.monitor.call(
                "create", id, bundle_dir, log_path, self.runc, self.root,
                ":".join(_cgroup_memory_files(cgroup_path)), str(self.log_max_size), str(self.log_max_files),
                mode, stdin),
                self.create_timeout)
        except asyncio.TimeoutError:
            raise RuntimeError_(f"the container monitor did not create {id} within {self.create_timeout}s") from None
        except MonitorGone:
            raise RuntimeError_(f"the container monitor exited while creating {id}; "
                                f"see {self.monitor.log_path}") from None
        finally:
            self._creating.discard(id)
        word, _, rest = rep.partition(" ")
        if word != "ok":
            raise RuntimeError_(rest or "runc create failed")
        self._bundles[id] = bundle_dir
        return int(rest)

    async def start(self, id: str) -> None:
        await self._runc("start", id)

    # ---- pods' namespaces, held by the monitor (nsholder.MonitorHolder) ----
    async def pin(self, paths: Mapping[str, str]) -> tuple[int, dict[str, int]]:
        """The monitor opens each path and holds it; returns its pid and key -> its fd."""
        args = [x for kv in paths.items() for x in kv]
        try:
            rep = await self.monitor.call("pin", *args)
        except MonitorGone:
            raise RuntimeError_(f"the container monitor exited; see {self.monitor.log_path}") from None
        word, _, rest = rep.partition(" ")
        if word != "ok":
            raise RuntimeError_(rest)
        pid, *fds = rest.split()
        return int(pid), dict(zip(paths, map(int, fds)))

    def on_monitor_lost(self, listener: Callable[[], None]) -> None:
        """Call `listener` on the event loop when the monitor dies (and what it held with it)."""
        self.monitor.lost_listeners.append(listener)

    async def unpin(self, keys: Iterable[str]) -> None:
        try:
            await self.monitor.call("unpin", *keys, spawn=False)
        except MonitorGone:
            pass  # nobody holds them any more

    async def pinned(self) -> tuple[int, dict[str, int]]:
        """What the running monitor holds (nothing if none runs)."""
        try:
            rep = await self.monitor.call("pins", spawn=False)
        except MonitorGone:
            return 0, {}
        word, _, rest = rep.partition(" ")
        if word != "ok":
            return 0, {}
        pid, *pairs = rest.split()
        return int(pid), {k: int(v) for k, _, v in (p.partition("=") for p in pairs)}


    def _state(self, rec: dict[str, Any]) -> ContainerState:
        bundle = rec.get("bundle", "")
        self._bundles[rec["id"]] = bundle
        return ContainerState(id=rec["id"], status=rec.get("status", ""), pid=int(rec.get("pid") or 0),
                              bundle=bundle, created=rec.get("created", ""),
                              exit=read_exit(bundle) if bundle else None)

    async def state(self, id: str) -> ContainerState:
        return self._state(json.loads(await self._runc("state", id)))

    async def kill(self, id: str, signal: int, all: bool = False) -> None:
        if not all and self.monitor.connected():  # the monitor signals its own child: no runc
            try:
                rep = await self.monitor.call("signal", id, str(int(signal)), spawn=False)
            except MonitorGone:
                rep = ""
            if rep == "ok":
                return
            if rep == "exited":
                raise RuntimeError_("container not running")
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
        return await asyncio.wait_for(self._wait_exit(id), timeout)

    async def _wait_exit(self, id: str) -> ExitStatus:
        bundle = self._bundles.get(id) or (await self.state(id)).bundle
        ex = read_exit(bundle)
        if ex is not None:
            return ex
        try:
            # replies once exit.json is written and the output drained ("unknown": not its child)
            await self.monitor.call("wait", id, spawn=False)
        except MonitorGone:
            pass  # no monitor (it was killed): nobody will record this exit
        ex = read_exit(bundle)
        if ex is not None:
            return ex
        try:
            st = await self.state(id)
            if st.status in LIVE_STATES and st.pid:
                await wait_pid(st.pid, None)
        except ContainerNotFound:
            pass
        ex = read_exit(bundle)
        # no monitor saw the exit: like the kubelet when the runtime lost the status
        return ex if ex is not None else ExitStatus(exit_code=137, signal=0, unknown=True)
