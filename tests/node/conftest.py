"""Real pods: a kubeproc instance with its node agent, driven by the real kubectl.

Needs root and runc (skipped with the reason otherwise; CI runs as root). Every instance gets
its own data dir, port, bridge and pod CIDR; after it stops, the host must hold nothing of it
(`leftovers`), which the fixtures assert even when a test failed.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from typing import Any, Callable

import pytest

from kubeproc.agent.network import NetworkConfig
from kubeproc.agent.runtime.monitorclient import monitor_pids
from kubeproc.testing.instance import Instance, free_port, kubectl_binary

RUNC = "/usr/sbin/runc"
AGENT_ARGS = ("--backoff-seconds", "1")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = None
    if os.geteuid() != 0:
        reason = "tests/node run real pods: they need root (CI runs them as root)"
    elif not os.access(RUNC, os.X_OK):
        reason = f"tests/node run real pods: {RUNC} is missing (apt-get install runc)"
    if reason:
        here = os.path.dirname(os.path.abspath(__file__))
        for item in items:
            if str(item.fspath).startswith(here + os.sep):
                item.add_marker(pytest.mark.skip(reason=reason))


def leftovers(data_dir: str) -> list[str]:
    """What an instance with this data dir left on the host (empty once it stopped cleanly)."""
    tag = NetworkConfig.for_data_dir(data_dir).instance
    left = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    left += [f"netns {line.split()[0]}" for line in netns.splitlines() if f"kp-{tag}-" in line]
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    left += [f"link {line.split(':')[1].strip()}" for line in links.splitlines()
             if f"kp{tag}0" in line or f"kp{tag}svc" in line]
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    left += [f"nftables {line.strip()}" for line in tables.splitlines() if f"kubeproc-{tag}" in line]
    # the monitor holds the pods' namespaces: while it runs, their veths and IPC/UTS live on
    left += [f"container monitor {pid}" for pid in monitor_pids(os.path.join(data_dir, "runc"))]
    for ctrl in os.listdir("/sys/fs/cgroup"):
        if os.path.isdir(os.path.join("/sys/fs/cgroup", ctrl, f"kubeproc-{tag}")):
            left.append(f"cgroup {ctrl}/kubeproc-{tag}")
    runc_root = os.path.join(data_dir, "runc")
    if os.path.isdir(runc_root):
        left += [f"container {c}" for c in os.listdir(runc_root)]
    with open("/proc/self/mountinfo") as f:
        left += [f"mount {line.split()[4]}" for line in f if data_dir in line.split()[4]]
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    left += [f"process {line.strip()}" for line in ps.splitlines() if data_dir in line]
    return left


def start_instance(base: str, name: str, *extra: str) -> Instance:
    inst = Instance(os.path.join(base, name), free_port(), extra_args=AGENT_ARGS + extra)
    inst.start()
    return inst


@pytest.fixture(scope="session")
def node():
    base = tempfile.mkdtemp(prefix="kubeproc-node-")
    inst = start_instance(base, "data")
    try:
        yield inst
    finally:
        inst.stop(timeout=60)
        left = leftovers(inst.data_dir)
        shutil.rmtree(base, ignore_errors=True)
        assert not left, f"the instance left: {left}"


@pytest.fixture
def fresh_node():
    """Private instances for tests that kill or restart kubeproc; checked clean afterwards."""
    base = tempfile.mkdtemp(prefix="kubeproc-node-")
    made: list[Instance] = []

    def make(*extra: str) -> Instance:
        inst = start_instance(base, f"data{len(made)}", *extra)
        made.append(inst)
        return inst
    try:
        yield make
    finally:
        left = []
        for inst in made:
            inst.stop(timeout=60)
            left += leftovers(inst.data_dir)
        shutil.rmtree(base, ignore_errors=True)
        assert not left, f"the instances left: {left}"


@pytest.fixture
def ns(node):
    name = "n-" + uuid.uuid4().hex[:8]
    node.kubectl("create", "namespace", name)
    yield name
    node.kubectl("delete", "namespace", name, "--wait=false", check=False)


def wait_for(fn: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll `fn` until it returns something truthy; fail with its last value at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def apply(inst: Instance, ns: str, obj: dict[str, Any]) -> None:
    inst.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(obj))


def get_pod(inst: Instance, ns: str, name: str) -> dict[str, Any] | None:
    status, body = inst.request("GET", f"/api/v1/namespaces/{ns}/pods/{name}")
    return body if status == 200 else None


def pod(name: str, *containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": list(containers), "terminationGracePeriodSeconds": 5, **spec}}


def container(name: str, image: str = "busybox", *command: str, **kw: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "image": image, **kw}
    if command:
        c["command"] = list(command)
    return c


def phase(inst: Instance, ns: str, name: str) -> str:
    p = get_pod(inst, ns, name)
    return ((p or {}).get("status") or {}).get("phase", "")


def container_status(p: dict[str, Any] | None, name: str, init: bool = False) -> dict[str, Any]:
    key = "initContainerStatuses" if init else "containerStatuses"
    for cs in ((p or {}).get("status") or {}).get(key) or []:
        if cs["name"] == name:
            return cs
    return {}


def logs(inst: Instance, ns: str, name: str, *args: str) -> str:
    return inst.kubectl("logs", "-n", ns, name, *args).stdout


class KubectlLines:
    """A long-running kubectl child (`logs -f`, `attach`): its stdout lines arrive on a queue (read
    by a thread, never blocking); with `stdin=True` the test can `send` to it."""

    def __init__(self, inst: Instance, *args: str, stdin: bool = False) -> None:
        self.proc = subprocess.Popen([kubectl_binary(33), *args], env=inst.kubectl_env(),
                                     stdin=subprocess.PIPE if stdin else None,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def next(self, timeout: float = 20.0) -> str:
        return self.lines.get(timeout=timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
