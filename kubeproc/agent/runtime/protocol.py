"""The `Runtime` seam the agent drives (runc in production, a fake in unit tests).

A container is created from a bundle directory holding `config.json`; its stdout/stderr go to a
CRI-format log file and its exit status survives the agent's restart. State and exit
information are plain frozen dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class ExitStatus:
    """How a container's init process ended. `exit_code` is 128+signal when killed by a signal."""

    exit_code: int
    signal: int = 0
    oom_killed: bool = False
    finished_at: str = ""  # RFC 3339 with nanoseconds, UTC
    unknown: bool = False  # the exit was not observed (monitor gone): report like the kubelet, 137/Error


@dataclass(frozen=True)
class ContainerState:
    """One container as the runtime sees it. status: created | running | paused | stopped."""

    id: str
    status: str
    pid: int
    bundle: str
    created: str = ""
    exit: ExitStatus | None = None


class RuntimeError_(Exception):
    """A runtime operation failed; the message is the runtime's own error text."""


class ContainerNotFound(RuntimeError_):
    """No container with that id exists in this runtime's state."""


class Runtime(Protocol):
    async def create(self, bundle_dir: str, id: str, log_path: str) -> int:
        """Create the container (not yet running) with stdio going to `log_path`; return its pid."""

    async def start(self, id: str) -> None:
        """Run the created container's process."""

    async def run(self, bundle_dir: str, id: str, log_path: str, prepared: bool = False) -> int:
        """create + start in one step; return the running container's pid. `prepared`: the
        caller already ran `prepare(bundle_dir, log_path)` (in a thread, with the bundle)."""

    def prepare(self, bundle_dir: str, log_path: str) -> None:
        """File system work before a create (blocking: call it off the event loop)."""

    async def state(self, id: str) -> ContainerState:
        """Current state; raises ContainerNotFound."""

    async def kill(self, id: str, signal: int, all: bool = False) -> None:
        """Send `signal` to the container's init process (all processes with all=True)."""

    async def delete(self, id: str, force: bool = False) -> None:
        """Remove a stopped container (force: kill it first); idempotent."""

    async def list(self) -> list[ContainerState]:
        """Every container in this runtime's state (after an agent restart: what to adopt)."""

    async def wait_exit(self, id: str, timeout: float | None = None) -> ExitStatus:
        """Wait until the container has exited and its log is complete; raises TimeoutError."""

    async def close(self) -> None:
        """Release the runtime's own helpers; running containers are not touched."""
