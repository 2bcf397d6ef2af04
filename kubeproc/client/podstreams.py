"""The `PodStreams` seam: what the apiserver asks of the node (the kubelet's streaming API).

`pods/log`, `pods/exec`, `pods/attach` and `pods/portforward` are served by the apiserver's HTTP
adapter, which resolves the pod and the container (defaulting, 400s for bad names) and then
calls this protocol; the agent implements it. Errors are `kubeproc.api.errors.StatusError`s
(e.g. BadRequest 'previous terminated container "c" in pod "p" not found').
"""

from __future__ import annotations

import asyncio
import datetime as _dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Mapping, Protocol

STDOUT, STDERR = 1, 2


@dataclass(frozen=True)
class LogOptions:
    """PodLogOptions (core/v1) after validation; `since_time` is timezone-aware UTC."""

    follow: bool = False
    previous: bool = False
    since_seconds: int | None = None
    since_time: _dt.datetime | None = None
    timestamps: bool = False
    tail_lines: int | None = None
    limit_bytes: int | None = None


class ExecProcess(Protocol):
    """A process started in a container (exec) or the container's own stdio (attach)."""

    async def write_stdin(self, data: bytes) -> None:
        """Feed stdin (ignored when the session has no stdin)."""

    async def close_stdin(self) -> None:
        """Send EOF on stdin."""

    def resize(self, width: int, height: int) -> None:
        """Set the terminal size (tty sessions only; otherwise a no-op)."""

    async def read(self) -> tuple[int, bytes] | None:
        """The next output chunk as (STDOUT | STDERR, data); None once all output is drained.
        A tty session reports everything on STDOUT."""

    async def wait(self) -> int:
        """The exit code (after output is drained)."""

    async def kill(self) -> None:
        """End the process (client went away); idempotent."""


class PodStreams(Protocol):
    async def logs(self, pod: Mapping[str, Any], container: str,
                   opts: LogOptions) -> AsyncIterator[bytes]:
        """The container's log as the kubelet serves it (CRI records decoded to raw lines,
        `timestamps` prefixes the RFC 3339 nano time). With `follow`, ends when the container
        exits."""

    async def exec(self, pod: Mapping[str, Any], container: str, command: list[str],
                   stdin: bool, tty: bool) -> ExecProcess:
        """Start `command` in the running container; NotFound/BadRequest if it is not running;
        a command that cannot be started yields a process that fails like the kubelet's
        (exit code 126/127 with the runtime's message on stderr)."""

    async def attach(self, pod: Mapping[str, Any], container: str, stdin: bool,
                     tty: bool) -> ExecProcess:
        """Attach to the container's own output (and stdin if the container has `stdin: true`)."""

    async def port_forward(self, pod: Mapping[str, Any],
                           port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to `localhost:port` inside the pod's network namespace."""
