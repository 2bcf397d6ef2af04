"""Real-runc fixtures: a private runc state root, cgroup parent and data dir per test, torn down
even when the test fails, and checked to leave no container, mount or cgroup behind. The
directory is skipped, with the reason, if not root or runc is missing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import uuid
from typing import Any, Callable, Iterator

import pytest

from kubeproc.agent.runtime import bundle, rootfs
from kubeproc.agent.runtime.runc import RuncRuntime, monitor_pids, write_bundle

RUNC = "/usr/sbin/runc"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CGROUP_ROOT = "/sys/fs/cgroup"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = None
    if os.geteuid() != 0:
        reason = "tests/agent run real containers: they need root (CI runs them as root)"
    elif not os.access(RUNC, os.X_OK):
        reason = f"tests/agent run real containers: {RUNC} is missing (apt-get install runc)"
    if reason:
        here = os.path.dirname(os.path.abspath(__file__))
        for item in items:
            if str(item.fspath).startswith(here + os.sep):
                item.add_marker(pytest.mark.skip(reason=reason))


def cgroup_dirs(parent: str) -> list[str]:
    """Every controller directory of a cgroup parent that still exists (v1 hierarchies + unified)."""
    out = []
    for ctrl in os.listdir(CGROUP_ROOT):
        p = os.path.join(CGROUP_ROOT, ctrl, parent.lstrip("/"))
        if os.path.isdir(p):
            out.append(p)
    return out


class Harness:
    """Creates containers with fresh writable layers under one temporary data dir."""

    def __init__(self) -> None:
        self.tag = uuid.uuid4().hex[:8]
        self.data = tempfile.mkdtemp(prefix="kubeproc-agent-")
        self.rt = RuncRuntime(os.path.join(self.data, "runc"))
        self.cgroup_parent = f"/kubeproc-test-{self.tag}"
        self.layout = rootfs.host_layout()
        self.ids: set[str] = set()
        self.starts: dict[str, int] = {}
        self.loop = asyncio.new_event_loop()  # one loop per test: the monitor connection is bound to it

    def go(self, coro: Any) -> Any:
        """Run a coroutine on this test's event loop."""
        return self.loop.run_until_complete(coro)

    def cid(self, name: str) -> str:
        return f"kp-{self.tag}-{name}"

    def bundle_dir(self, cid: str, restart: int) -> str:
        return os.path.join(self.data, "pods", "uid-" + self.tag, cid, str(restart))

    def prepare(self, name: str, args: tuple[str, ...], **kw: Any) -> tuple[str, str, str]:
        """Lay out rootfs + bundle for the next start of container `name`.
        Returns (container id, bundle dir, log path)."""
        cid = self.cid(name)
        restart = self.starts.get(cid, -1) + 1
        self.starts[cid] = restart
        bdir = self.bundle_dir(cid, restart)
        rf = os.path.join(bdir, "rootfs")
        rootfs.prepare(rf, self.layout, extra_dirs=(kw.get("cwd", "/"),))
        spec = bundle.ContainerSpec(
            id=cid, rootfs=rf, args=args, env=kw.pop("env", (PATH_ENV,)),
            mounts=self.layout.binds + tuple(kw.pop("mounts", ())),
            masked_paths=bundle.DEFAULT_MASKED_PATHS + self.layout.masked,
            cgroup_path=f"{self.cgroup_parent}/{cid}", **kw)
        write_bundle(bdir, bundle.render(spec))
        log = os.path.join(self.data, "logs", cid, f"{restart}.log")
        self.ids.add(cid)
        return cid, bdir, log

    async def create(self, name: str, args: tuple[str, ...], **kw: Any) -> tuple[str, str, str]:
        """`prepare`, then runc create through the monitor."""
        cid, bdir, log = self.prepare(name, args, **kw)
        await self.rt.create(bdir, cid, log)
        return cid, bdir, log

    async def run(self, name: str, args: tuple[str, ...], timeout: float = 20, **kw: Any):
        """Create, start and wait for a container; returns (exit status, log text)."""
        cid, _, log = await self.create(name, args, **kw)
        await self.rt.start(cid)
        ex = await self.rt.wait_exit(cid, timeout)
        with open(log) as f:
            text = f.read()
        await self.rt.delete(cid)
        return ex, text

    def bundles(self) -> list[str]:
        return [self.bundle_dir(cid, r) for cid in sorted(self.ids) for r in range(self.starts[cid] + 1)]

    async def cleanup(self) -> None:
        for cid in sorted(self.ids):
            await self.rt.delete(cid, force=True)  # idempotent
        # no container left: the monitor exits (and this waits until it is gone)
        await self.rt.shutdown_monitor()
        for d in cgroup_dirs(self.cgroup_parent):
            os.rmdir(d)  # empty once runc deleted the containers
        for bdir in self.bundles():
            rootfs.remove(os.path.join(bdir, "rootfs"))

    def leftovers(self) -> list[str]:
        """Anything this harness created that still exists on the host (should be empty)."""
        left = [f"mount {m}" for m in rootfs.mounts_under(self.data)]
        left += [f"cgroup {d}" for d in cgroup_dirs(self.cgroup_parent)]
        runc_root = self.rt.root
        if os.path.isdir(runc_root):
            left += [f"runc state {c}" for c in os.listdir(runc_root)]
        left += [f"monitor process {pid}" for pid in monitor_pids(runc_root)]
        if os.path.exists(runc_root + ".monitor.sock"):
            left.append("monitor socket")
        return left


@contextlib.contextmanager
def harness_ctx(before_remove: Callable[[str], None] = lambda data: None) -> Iterator[Harness]:
    """A Harness cleaned up (and checked for leaks) even when the test fails; `before_remove`
    runs on the data dir before it is deleted (e.g. unmount what a failed test left)."""
    h = Harness()
    try:
        yield h
    finally:
        try:
            h.go(h.cleanup())
        finally:
            h.loop.close()
            left = h.leftovers()
            before_remove(h.data)
            shutil.rmtree(h.data, ignore_errors=True)
        assert not left, f"leaked: {left}"


@pytest.fixture
def harness():
    with harness_ctx() as h:
        yield h
