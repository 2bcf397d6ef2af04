"""`AgentStreams`: the node side of `PodStreams` (the kubelet's streaming API) for runc pods.

Logs are the CRI files under `logs_root/<ns>_<name>_<uid>/<container>/<attempt>.log`; exec is
`runc exec` in the container's latest instance; attach follows that instance's log for output and
feeds stdin (`stdin: true` containers) to the pipe the container monitor keeps (`AttachStdin`);
port-forward connects to localhost inside the pod's netns from a short-lived thread that entered
it, so kubeproc never forks and no other thread changes namespace.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import os
import re
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kubeproc.agent.logs import read_logs, read_records
from kubeproc.agent.network import netns
from kubeproc.agent.runtime.exec import RuncExec, runc_exec
from kubeproc.agent.runtime.monitorclient import MonitorClient, MonitorGone
from kubeproc.api import errors
from kubeproc.client.podstreams import STDOUT, LogOptions

CONNECT_TIMEOUT = 10.0
STDIN_CHUNK = 32 * 1024  # bytes per `stdin` request to the monitor (one line, base64)
_LOG_RE = re.compile(r"^(\d+)\.log(\..+)?$")  # <attempt>.log and rotated <attempt>.log.<suffix>


@dataclass(frozen=True)
class ContainerRef:
    """The latest instance of a pod's container, as the agent knows it."""

    container_id: str
    attempt: int
    running: bool


class PortForwardError(OSError):
    """The pod's port could not be reached; the message is the runtime's (containerd
    sandbox_portforward_linux.go), the apiserver prefixes 'error forwarding port ...'."""


def _meta(pod: Mapping[str, Any]) -> tuple[str, str, str]:
    m = pod.get("metadata") or {}
    return str(m.get("namespace") or ""), str(m.get("name") or ""), str(m.get("uid") or "")


def waiting_reason(pod: Mapping[str, Any], container: str) -> str:
    """The container's waiting reason from the pod status (ContainerCreating if unknown)."""
    st = pod.get("status") or {}
    for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        for cs in st.get(key) or []:
            if cs.get("name") == container:
                reason = ((cs.get("state") or {}).get("waiting") or {}).get("reason")
                if reason:
                    return str(reason)
    return "ContainerCreating"


def log_files(container_dir: str) -> dict[int, list[str]]:
    """attempt -> its log files, rotated ones (oldest first) before the live `<attempt>.log`."""
    found: dict[int, list[tuple[int, str, str]]] = {}
    try:
        names = os.listdir(container_dir)
    except FileNotFoundError:
        return {}
    for name in names:
        m = _LOG_RE.match(name)
        if m:
            # rotated suffixes are timestamps (sortable); the live file sorts last
            key = (1, "", name) if m.group(2) is None else (0, m.group(2), name)
            found.setdefault(int(m.group(1)), []).append(key)
    return {a: [os.path.join(container_dir, n) for _, _, n in sorted(keys)] for a, keys in found.items()}


class AgentStreams:
    """PodStreams over runc containers. `locate(pod uid, container name)` returns the latest
    instance (None if the container never got one); `netns_path(pod uid)` the pod's netns path
    (None if no netns is held for it)."""

    def __init__(self, runc: str, runc_root: str, logs_root: str,
                 locate: Callable[[str, str], ContainerRef | None],
                 netns_path: Callable[[str], str | None]) -> None:
        self.runc = runc
        self.runc_root = runc_root
        self.logs_root = logs_root
        self.locate = locate
        self.netns_path = netns_path

    def container_log_dir(self, pod: Mapping[str, Any], container: str) -> str:
        ns, name, uid = _meta(pod)
        return os.path.join(self.logs_root, f"{ns}_{name}_{uid}", container)

    # ---- logs ----------------------------------------------------------------------------
    async def logs(self, pod: Mapping[str, Any], container: str,
                   opts: LogOptions) -> AsyncIterator[bytes]:
        """Validates now (BadRequest as kubelet_pods.go validateContainerLogStatus words it) and
        returns the iterator of log chunks."""
        _, name, uid = _meta(pod)
        ref = self.locate(uid, container)
        files = log_files(self.container_log_dir(pod, container))
        current = ref.attempt if ref is not None else max(files, default=None)
        if opts.previous:
            older = [a for a in files if current is not None and a < current]
            if not older:
                raise errors.BadRequest(
                    f'previous terminated container "{container}" in pod "{name}" not found')
            paths = files[max(older)]
            return read_logs(paths, opts, lambda: False)
        if current is None:
            raise errors.BadRequest(f'container "{container}" in pod "{name}" is waiting to start: '
                                    f"{waiting_reason(pod, container)}")
        attempt = current

        def still_running() -> bool:
            r = self.locate(uid, container)
            return r is not None and r.attempt == attempt and r.running

        return read_logs(files.get(attempt, []), opts, still_running)

    # ---- exec / attach -------------------------------------------------------------------
    def _running(self, pod: Mapping[str, Any], container: str) -> ContainerRef:
        _, _, uid = _meta(pod)
        ref = self.locate(uid, container)
        if ref is None or not ref.running:
            # kubelet_pods.go GetExec/GetAttach: only running containers are found
            raise errors.BadRequest(f'container not found ("{container}")')
        return ref

    async def exec(self, pod: Mapping[str, Any], container: str, command: list[str],
                   stdin: bool, tty: bool) -> RuncExec:
        ref = self._running(pod, container)
        return await runc_exec(self.runc, self.runc_root, ref.container_id, list(command),
                               stdin=stdin, tty=tty)

    async def attach(self, pod: Mapping[str, Any], container: str, stdin: bool,
                     tty: bool) -> "LogAttach":
        """The container's output from now on (read from its log) and, with `stdin`, input to
        the container's stdin pipe. A container without `stdin: true` has none: the session's
        stdin is dropped (containerd container_io.go Attach); a TTY container's is refused."""
        ref = self._running(pod, container)
        spec = pod.get("spec") or {}
        feed: AttachStdin | None = None
        for c in (spec.get("containers") or []) + (spec.get("initContainers") or []) + (
                spec.get("ephemeralContainers") or []):
            if c.get("name") == container and c.get("stdin") and stdin:
                if c.get("tty"):
                    raise errors.BadRequest(
                        "attaching a terminal (tty: true) to the stdin of a container is not supported "
                        "by kubeproc yet: it needs a console (runc --console-socket)")
                feed = await AttachStdin.open(self.runc_root, ref.container_id)
        _, _, uid = _meta(pod)
        paths = log_files(self.container_log_dir(pod, container)).get(ref.attempt, [])[-1:]

        def still_running() -> bool:
            r = self.locate(uid, container)
            return r is not None and r.attempt == ref.attempt and r.running
        return LogAttach(paths, still_running, tty, feed)

    # ---- port-forward --------------------------------------------------------------------
    async def port_forward(self, pod: Mapping[str, Any],
                           port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        _, _, uid = _meta(pod)
        host = bool((pod.get("spec") or {}).get("hostNetwork"))
        path = "" if host else self.netns_path(uid)
        if path is None:
            raise PortForwardError(f'network namespace for sandbox "{uid}" is closed')
        sock = await netns.run_in_thread_async(lambda: connect_in_netns(path, port, uid),
                                               discard=socket.socket.close)
        try:
            return await asyncio.open_connection(sock=sock)
        except BaseException:
            sock.close()
            raise


def _go_errno(e: OSError) -> str:
    """An errno as Go's syscall.Errno prints it (lower case strerror)."""
    text = os.strerror(e.errno) if e.errno else str(e)
    return text[:1].lower() + text[1:]


def _dial(family: int, addr: str, port: int) -> tuple[socket.socket | None, str]:
    sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    sock.settimeout(CONNECT_TIMEOUT)
    try:
        sock.connect((addr, port))
    except OSError as e:
        sock.close()
        net, shown = ("tcp4", f"{addr}:{port}") if family == socket.AF_INET else ("tcp6", f"[{addr}]:{port}")
        if isinstance(e, TimeoutError) or e.errno == errno.ETIMEDOUT:
            return None, f"dial {net} {shown}: i/o timeout"
        return None, f"dial {net} {shown}: connect: {_go_errno(e)}"
    sock.setblocking(False)
    return sock, ""


def connect_in_netns(path: str, port: int, sandbox: str) -> socket.socket:
    """Connect to localhost:port, IPv4 then IPv6, from the calling thread after moving it into
    the netns at `path` ("" = stay: host network). Call in a thread that ends afterwards."""
    if path:
        try:
            netns.enter(path)
        except FileNotFoundError:
            raise PortForwardError(f'network namespace for sandbox "{sandbox}" is closed') from None
    # containerd sandbox_portforward_linux.go: tcp4 first, then tcp6, both failures reported
    sock, err4 = _dial(socket.AF_INET, "127.0.0.1", port)
    if sock is not None:
        return sock
    sock, err6 = _dial(socket.AF_INET6, "::1", port)
    if sock is not None:
        return sock
    raise PortForwardError(
        f'failed to execute portforward in network namespace "{path or "host"}": failed to connect to '
        f'localhost:{port} inside namespace "{sandbox}", IPv4: {err4} IPv6 {err6} ')


class AttachStdin:
    """One attach session's stdin, written to the container's stdin pipe by the monitor over a
    connection of its own: `stdinattach` opens the session, each write is answered once it is
    in the pipe (flow control), and `stdinend` or the connection closing ends the session, which
    closes a stdinOnce container's stdin (the monitor does that: it outlives a kubeproc crash)."""

    def __init__(self, client: MonitorClient, cid: str) -> None:
        self._client, self._cid = client, cid
        self._ended = False
        self._closed = False

    @classmethod
    async def open(cls, runc_root: str, cid: str) -> AttachStdin | None:
        """The session's stdin, or None when there is nothing to write to: no monitor, no pipe
        (the container started without stdin), or a stdinOnce stdin an earlier session closed
        (containerd then drops the input too)."""
        client = MonitorClient(runc_root)
        try:
            if await client.connect(spawn=False):
                if await client.call("stdinattach", cid, spawn=False) == "ok":
                    return cls(client, cid)
        except MonitorGone:
            pass
        await client.close()
        return None

    async def write(self, data: bytes) -> None:
        """Write all of `data`; OSError(EPIPE) once the container's stdin is closed."""
        for i in range(0, len(data), STDIN_CHUNK):
            if self._ended or self._closed:
                raise OSError(errno.EPIPE, "the container's stdin is closed")
            chunk = base64.b64encode(data[i:i + STDIN_CHUNK]).decode() or "="
            try:
                rep = await self._client.call("stdin", self._cid, chunk, spawn=False)
            except MonitorGone:
                rep = "gone"
            if rep != "ok":
                self._ended = True
                raise OSError(errno.EPIPE, "the container's stdin is closed")

    async def end(self) -> None:
        """The client's stdin reached EOF: a stdinOnce container's stdin closes, others stay open."""
        if self._ended or self._closed:
            return
        self._ended = True
        try:
            await self._client.call("stdinend", self._cid, spawn=False)
        except MonitorGone:
            pass

    async def close(self) -> None:
        """End the session and disconnect; idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._client.close()  # the monitor ends the session with the connection


class LogAttach:
    """An ExecProcess over the container's log from its current end, ending when the container
    stops (then `wait()` is 0), with the session's stdin (`feed`) if it has one."""

    def __init__(self, paths: list[str], still_running: Callable[[], bool], tty: bool,
                 feed: AttachStdin | None = None) -> None:
        self._tty = tty
        self._feed = feed
        # bounded: a slow client slows the reading of the file, not memory
        self._out: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue(maxsize=64)
        self._ended = False
        self._task = asyncio.get_running_loop().create_task(self._follow(paths, still_running))

    async def _follow(self, paths: list[str], still_running: Callable[[], bool]) -> None:
        try:
            records = read_records(paths, 0, True, still_running, join=False)
            try:
                async for batch in records:
                    for _ts, stream, data in batch:
                        await self._out.put((STDOUT if self._tty else stream, data))
            finally:
                await records.aclose()
        finally:
            self._ended = True
            if not self._out.full():  # wakes a reader waiting on an empty queue
                self._out.put_nowait(None)
            if self._feed is not None:  # the container stopped or the session ended
                await self._feed.close()

    async def write_stdin(self, data: bytes) -> None:
        if self._feed is not None:
            await self._feed.write(data)

    async def close_stdin(self) -> None:
        if self._feed is not None:
            await self._feed.end()

    def resize(self, width: int, height: int) -> None:
        return None

    async def read(self) -> tuple[int, bytes] | None:
        if self._ended and self._out.empty():
            return None
        return await self._out.get()

    async def wait(self) -> int:
        await asyncio.wait({self._task})  # never raises: a killed session ends too
        return 0

    async def kill(self) -> None:
        self._task.cancel()
        await asyncio.wait({self._task})
