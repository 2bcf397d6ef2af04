"""AgentStreams on the real kernel: port-forward into a pod netns (without the calling thread
ever leaving the host netns), its containerd-worded failures, and logs / exec / attach against
real runc containers laid out as the agent lays them out."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import pytest

from kubeproc.agent.runtime import bundle
from kubeproc.agent.streams import AgentStreams, ContainerRef, PortForwardError
from kubeproc.api import errors
from kubeproc.client.podstreams import STDERR, STDOUT, LogOptions

from .runtime.conftest import RUNC, Harness, harness_ctx

SERVER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1)
print("ready", flush=True)
c, _ = s.accept()
c.sendall(c.recv(100).upper())
c.close()
"""


def pod(uid: str = "uid-1", **spec) -> dict:
    return {"metadata": {"namespace": "ns", "name": "web", "uid": uid},
            "spec": {"containers": [{"name": "app"}], **spec}}


def host_netns() -> str:
    return os.readlink("/proc/thread-self/ns/net")


@pytest.fixture
def named_netns():
    name = f"kp-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)


def streams_for(netns_name: str) -> AgentStreams:
    return AgentStreams(RUNC, "/nonexistent", "/nonexistent", lambda uid, c: None,
                        lambda uid: f"/run/netns/{netns_name}")


def test_port_forward_reaches_localhost_inside_the_pod_netns(named_netns) -> None:
    port = 18000 + os.getpid() % 1000
    server = subprocess.Popen(["ip", "netns", "exec", named_netns, sys.executable, "-c", SERVER, str(port)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "ready"
        before = host_netns()

        async def go():
            with pytest.raises(ConnectionRefusedError):  # not listening in the host netns
                await asyncio.open_connection("127.0.0.1", port)
            reader, writer = await streams_for(named_netns).port_forward(pod(), port)
            writer.write(b"hello")
            await writer.drain()
            got = await reader.read()
            writer.close()
            return got
        assert asyncio.run(go()) == b"HELLO"
        assert host_netns() == before  # the connect ran in a thread of its own
        assert server.wait(10) == 0
    finally:
        server.kill()
        server.wait()


def test_port_forward_connection_refused_reports_like_containerd(named_netns) -> None:
    with pytest.raises(PortForwardError) as exc:
        asyncio.run(streams_for(named_netns).port_forward(pod(), 1))
    assert str(exc.value) == (
        f'failed to execute portforward in network namespace "/run/netns/{named_netns}": failed to '
        'connect to localhost:1 inside namespace "uid-1", IPv4: dial tcp4 127.0.0.1:1: connect: '
        'connection refused IPv6 dial tcp6 [::1]:1: connect: connection refused ')
    assert isinstance(exc.value, OSError)  # the apiserver reports OSErrors on the error stream


def test_port_forward_without_a_netns() -> None:
    with pytest.raises(PortForwardError, match='network namespace for sandbox "uid-1" is closed'):
        asyncio.run(streams_for(f"kp-missing-{uuid.uuid4().hex[:8]}").port_forward(pod(), 80))


# ---- real containers ---------------------------------------------------------------------------

@pytest.fixture
def harness():
    if not os.access(RUNC, os.X_OK):
        pytest.skip(f"{RUNC} is missing (apt-get install runc)")
    with harness_ctx() as h:
        yield h


class Node:
    """One container instance per name, logged where the agent logs it; `locate` reads `refs`."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.refs: dict[str, ContainerRef] = {}
        self.logs_root = os.path.join(h.data, "logs")
        self.streams = AgentStreams(RUNC, h.rt.root, self.logs_root, self.locate, lambda uid: "")

    def locate(self, uid: str, container: str) -> ContainerRef | None:
        return self.refs.get(container)

    async def start(self, name: str, args: tuple[str, ...], **kw) -> str:
        cid, bdir, _ = self.h.prepare(name, args, **kw)
        attempt = self.h.starts[cid]
        log = os.path.join(self.logs_root, "ns_web_uid-1", name, f"{attempt}.log")
        await self.h.rt.create(bdir, cid, log)
        await self.h.rt.start(cid)
        self.refs[name] = ContainerRef(cid, attempt, True)
        return cid

    async def finish(self, name: str) -> None:
        ref = self.refs[name]
        await self.h.rt.wait_exit(ref.container_id, 20)
        await self.h.rt.delete(ref.container_id)
        self.refs[name] = ContainerRef(ref.container_id, ref.attempt, False)


def test_exec_runs_in_the_running_instance_and_refuses_a_stopped_one(harness) -> None:
    node = Node(harness)

    async def go():
        await node.start("app", ("sleep", "1000"))
        proc = await node.streams.exec(pod(), "app", ["sh", "-c", "echo hi; echo oops >&2"], False, False)
        out = []
        while (item := await proc.read()) is not None:
            out.append(item)
        code = await proc.wait()
        with pytest.raises(errors.BadRequest, match="stdin of a container is not supported"):
            await node.streams.attach(pod(containers=[{"name": "app", "stdin": True, "tty": True}]),
                                      "app", True, True)
        await harness.rt.kill(node.refs["app"].container_id, 9)
        await node.finish("app")
        with pytest.raises(errors.BadRequest, match=r'^container not found \("app"\)$'):
            await node.streams.exec(pod(), "app", ["true"], False, False)
        with pytest.raises(errors.BadRequest, match=r'^container not found \("other"\)$'):
            await node.streams.attach(pod(), "other", False, False)
        return code, out
    code, out = harness.go(go())
    assert code == 0
    assert sorted(out) == [(STDOUT, b"hi\n"), (STDERR, b"oops\n")]


def test_logs_follow_attach_and_previous(harness, tmp_path) -> None:
    node = Node(harness)
    go_file = tmp_path / "go"
    mounts = (bundle.Mount(str(tmp_path), "/w", ("rbind", "ro")),)
    script = "echo one; while [ ! -e /w/go ]; do sleep 0.01; done; echo two >&2; echo three"

    async def go():
        await node.start("app", ("sh", "-c", "echo first-run"))
        await node.finish("app")
        await node.start("app", ("sh", "-c", script), mounts=mounts)
        follow = await node.streams.logs(pod(), "app", LogOptions(follow=True))
        first = await follow.__anext__()
        attached = await node.streams.attach(pod(), "app", False, False)
        go_file.write_text("")
        live = []
        while (item := await attached.read()) is not None:
            live.append(item)
            if len(live) == 2:
                break
        await node.finish("app")
        rest = [c async for c in follow]
        assert await attached.read() is None  # ends with the container
        assert await attached.wait() == 0
        previous = b"".join([c async for c in await node.streams.logs(pod(), "app", LogOptions(previous=True))])
        current = b"".join([c async for c in await node.streams.logs(pod(), "app", LogOptions(tail_lines=1))])
        return first, live, b"".join(rest), previous, current
    first, live, rest, previous, current = harness.go(go())
    assert first == b"one\n"
    # stdout and stderr are separate pipes into the shim: their order is not kept
    assert sorted(live) == [(STDOUT, b"three\n"), (STDERR, b"two\n")]
    assert sorted(rest.splitlines()) == [b"three", b"two"]
    assert previous == b"first-run\n"
    assert current == rest.splitlines(keepends=True)[-1]  # tail 1: the last line written
