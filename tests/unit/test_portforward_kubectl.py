"""`kubectl port-forward` (the real binaries, 1.31-1.33) against `serve_portforward`.

An in-process HTTPS API server (make_app over a temporary Store, with a Running pod) runs in a
background thread; its portforward route hands a fake PodStreams to `serve_portforward`, which
connects "pod ports" to local echo/greeting/HTTP servers. Each kubectl first tries the
WebSocket-tunnelled SPDY and, with KUBECTL_PORT_FORWARD_WEBSOCKETS=false, plain SPDY/3.1.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import socket
import ssl
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from kubeproc.api import errors, resources
from kubeproc.apiserver import pki, portforward
from kubeproc.apiserver.app import make_app
from kubeproc.registry.registry import Registry, WriteOptions
from kubeproc.store.store import Store
from kubeproc.testing import instance

POD_PATH = "/api/v1/namespaces/default/pods/web/portforward"
ECHO, GREET, HTTP, CLOSED = 7000, 7001, 8080, 9999  # the "pod's" ports
MINORS = (31, 32, 33)


def _kubectl_or_skip(minor: int) -> str:
    try:
        return instance.kubectl_binary(minor)
    except RuntimeError as exc:
        pytest.skip(str(exc))


@dataclass
class Backend:
    """The pod side: local servers standing in for the pod's ports, and what they saw."""
    ports: dict[int, int] = field(default_factory=dict)
    closed: "asyncio.Queue[str]" = field(default_factory=asyncio.Queue)


class FakePodStreams:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    async def port_forward(self, pod: Any, port: int):
        assert pod["metadata"]["name"] == "web"
        # an unknown pod port goes to a closed local port: a real "connection refused"
        return await asyncio.open_connection("127.0.0.1", self.backend.ports.get(port, 1))


@dataclass
class Server:
    loop: asyncio.AbstractEventLoop
    url: str
    kubeconfig: str
    home: str
    backend: Backend
    upgrades: list[str]
    handlers: set

    def call(self, coro) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def closed_backend_conn(self) -> str:
        return self.call(asyncio.wait_for(self.backend.closed.get(), 10))

    def cancel_handlers(self) -> None:
        for task in list(self.handlers):
            self.loop.call_soon_threadsafe(task.cancel)


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, backend: Backend):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()
        await backend.closed.put("echo")


async def _greet(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"hello from the pod\n")
    await writer.drain()
    writer.close()


async def _start(tmp: Path, ready: Future) -> None:
    p = pki.ensure(str(tmp), [])
    store = Store(str(tmp / "db"))
    reg = Registry(store)
    store.start()
    opts = WriteOptions(field_manager="test")
    await reg.create(resources.by_kind("", "Namespace"), "",
                     {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}, opts)
    pod_res = resources.by_kind("", "Pod")
    pod = await reg.create(pod_res, "default", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}}, opts)
    pod["status"] = {"phase": "Running"}
    await reg.update(pod_res, "default", "web", pod,
                     WriteOptions(field_manager="test", subresource="status"))

    backend = Backend()
    for port, cb in ((ECHO, lambda r, w: _echo(r, w, backend)), (GREET, _greet)):
        srv = await asyncio.start_server(cb, "127.0.0.1", 0)
        backend.ports[port] = srv.sockets[0].getsockname()[1]
    async def index(_request: web.Request) -> web.Response:
        return web.Response(text="served by the pod")

    http_app = web.Application()
    http_app.router.add_get("/", index)
    http_runner = web.AppRunner(http_app)
    await http_runner.setup()
    http_site = web.TCPSite(http_runner, "127.0.0.1", 0)
    await http_site.start()
    backend.ports[HTTP] = http_runner.addresses[0][1]

    upgrades: list[str] = []
    handlers: set = set()
    streams = FakePodStreams(backend)

    async def route(request: web.Request) -> web.StreamResponse:
        upgrades.append(request.headers.get("Upgrade", ""))
        task = asyncio.current_task()
        handlers.add(task)
        try:
            obj = reg.get_obj(pod_res, "default", "web")
            return await portforward.serve_portforward(request, streams, obj)
        finally:
            handlers.discard(task)

    port = instance.free_port()
    app = make_app(reg, p.token, f"127.0.0.1:{port}", extra_routes={POD_PATH: route})
    sslctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    sslctx.load_cert_chain(p.cert, p.key)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=sslctx).start()

    with open(p.ca_cert, "rb") as f:
        ca = base64.b64encode(f.read()).decode()
    kubeconfig = tmp / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{port}",
                                               "certificate-authority-data": ca}}],
        "users": [{"name": "u", "user": {"token": p.token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u", "namespace": "default"}}],
        "current-context": "c"}))
    (tmp / "home").mkdir()
    ready.set_result(Server(asyncio.get_running_loop(), f"https://127.0.0.1:{port}",
                            str(kubeconfig), str(tmp / "home"), backend, upgrades, handlers))
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await http_runner.cleanup()
        await store.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    ready: Future = Future()
    loop = asyncio.new_event_loop()
    task_box: list[asyncio.Task] = []

    def main() -> None:
        asyncio.set_event_loop(loop)
        task_box.append(loop.create_task(_start(tmp_path_factory.mktemp("pf"), ready)))
        try:
            loop.run_until_complete(task_box[0])
        except BaseException as exc:  # surface start-up failures to the fixture
            if not ready.done():
                ready.set_exception(exc)

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    srv = ready.result(60)
    yield srv
    loop.call_soon_threadsafe(task_box[0].cancel)
    thread.join(10)


class PortForward:
    """A running `kubectl port-forward pod/web :<port>...`; `local[port]` is its local port."""

    def __init__(self, server: Server, minor: int, ports: tuple[int, ...], websockets: bool):
        env = {"PATH": os.environ.get("PATH", ""), "HOME": server.home,
               "KUBECONFIG": server.kubeconfig}
        if not websockets:
            env["KUBECTL_PORT_FORWARD_WEBSOCKETS"] = "false"
        self.proc = subprocess.Popen(
            [_kubectl_or_skip(minor), "port-forward", "pod/web", "--address", "127.0.0.1",
             *[f":{p}" for p in ports]],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.local: dict[int, int] = {}
        assert self.proc.stdout is not None
        while len(self.local) < len(ports):
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"kubectl exited: {self.proc.wait(10)} {self.proc.stderr.read()}")
            m = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)", line)
            if m:
                self.local[int(m.group(2))] = int(m.group(1))

    def connect(self, port: int) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.local[port]), timeout=10)

    def wait(self) -> tuple[int, str]:
        code = self.proc.wait(20)
        assert self.proc.stderr is not None
        return code, self.proc.stderr.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def _recv_all(sock: socket.socket) -> bytes:
    buf = bytearray()
    while chunk := sock.recv(65536):
        buf += chunk
    return bytes(buf)


VARIANTS = [pytest.param(minor, ws, id=f"1.{minor}-{'websocket' if ws else 'spdy'}")
            for minor in MINORS for ws in (True, False)]


@pytest.mark.parametrize("minor,websockets", VARIANTS)
def test_forwarding_echoes_concurrent_connections_and_closes(server: Server, minor: int,
                                                             websockets: bool) -> None:
    pf = PortForward(server, minor, (ECHO, HTTP), websockets)
    try:
        # the variant kubectl settled on (the last portforward request it made)
        assert server.upgrades[-1].lower() == ("websocket" if websockets else "spdy/3.1")
        a, b = pf.connect(ECHO), pf.connect(ECHO)
        big = os.urandom(300_000)  # several SPDY DATA frames each way
        a.sendall(b"first:")
        b.sendall(b"second:" + big)
        a.sendall(big)
        assert _recv_exactly(b, 7 + len(big)) == b"second:" + big
        assert _recv_exactly(a, 6 + len(big)) == b"first:" + big
        # closing the local connection closes the pod's connection, and kubectl ours
        a.close()
        assert server.closed_backend_conn() == "echo"
        b.shutdown(socket.SHUT_WR)
        assert server.closed_backend_conn() == "echo"
        assert _recv_all(b) == b""
        b.close()
        # an HTTP exchange through the same kubectl afterwards
        with urllib.request.urlopen(f"http://127.0.0.1:{pf.local[HTTP]}/", timeout=10) as resp:
            assert resp.read() == b"served by the pod"
        assert pf.proc.poll() is None
    finally:
        pf.stop()


@pytest.mark.parametrize("minor,websockets", VARIANTS)
def test_pod_closing_ends_the_local_connection(server: Server, minor: int,
                                               websockets: bool) -> None:
    pf = PortForward(server, minor, (GREET,), websockets)
    try:
        with pf.connect(GREET) as s:
            assert _recv_all(s) == b"hello from the pod\n"
        with pf.connect(GREET) as s:  # kubectl keeps forwarding
            assert _recv_all(s) == b"hello from the pod\n"
        assert pf.proc.poll() is None
    finally:
        pf.stop()


@pytest.mark.parametrize("minor,websockets", VARIANTS)
def test_forward_error_is_reported_and_kubectl_exits(server: Server, minor: int,
                                                     websockets: bool) -> None:
    pf = PortForward(server, minor, (CLOSED,), websockets)
    try:
        with pf.connect(CLOSED) as s:
            assert _recv_all(s) == b""
        code, stderr = pf.wait()
        assert code != 0
        assert "error forwarding port 9999 to pod" in stderr
        assert "lost connection to pod" in stderr
    finally:
        pf.stop()


@pytest.mark.parametrize("minor,websockets", VARIANTS)
def test_kubectl_exits_when_the_server_closes(server: Server, minor: int,
                                              websockets: bool) -> None:
    pf = PortForward(server, minor, (ECHO,), websockets)
    try:
        with pf.connect(ECHO) as s:
            s.sendall(b"ping")
            assert _recv_exactly(s, 4) == b"ping"
            server.cancel_handlers()  # what the server's shutdown does to open handlers
            code, stderr = pf.wait()
        assert code != 0
        assert "lost connection to pod" in stderr
    finally:
        pf.stop()


@pytest.mark.parametrize("query,headers,status,text", [
    ("", {}, 400, "Upgrade request required"),
    ("?ports=abc", {"Connection": "Upgrade", "Upgrade": "SPDY/3.1"}, 400,
     'unable to parse \\"abc\\" as a port'),
    ("?ports=0", {"Connection": "Upgrade", "Upgrade": "SPDY/3.1"}, 400, "must be > 0"),
    ("", {"Connection": "Upgrade", "Upgrade": "SPDY/3.1"}, 400,
     "X-Stream-Protocol-Version is required"),
    ("", {"Connection": "Upgrade", "Upgrade": "SPDY/3.1",
          "X-Stream-Protocol-Version": "v4.channel.k8s.io"}, 403,
     "unable to negotiate protocol: client supports [v4.channel.k8s.io], "
     "server accepts [portforward.k8s.io]"),
    ("", {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
          "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
          "Sec-WebSocket-Protocol": "v4.channel.k8s.io"}, 400,
     "no tunneling spdy protocols provided"),
    ("", {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
          "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
          "Sec-WebSocket-Protocol": "SPDY/3.1+channel.k8s.io"}, 403,
     "client supports [channel.k8s.io]"),
], ids=["not-an-upgrade", "ports-not-a-number", "ports-zero", "spdy-without-protocol-header",
        "spdy-protocol-not-shared", "websocket-without-tunnel-protocol",
        "websocket-tunnel-of-another-protocol"])
def test_requests_that_cannot_upgrade_are_refused(server: Server, query: str,
                                                  headers: dict[str, str], status: int,
                                                  text: str) -> None:
    import http.client
    with open(server.kubeconfig) as f:
        cfg = yaml.safe_load(f)
    ctx = ssl.create_default_context(cadata=base64.b64decode(
        cfg["clusters"][0]["cluster"]["certificate-authority-data"]).decode())
    conn = http.client.HTTPSConnection(server.url.removeprefix("https://"), context=ctx,
                                       timeout=10)
    conn.request("POST", POD_PATH + query, headers={
        "Authorization": f"Bearer {cfg['users'][0]['user']['token']}", **headers})
    resp = conn.getresponse()
    body = resp.read().decode()
    conn.close()
    assert resp.status == status, body
    assert text in body


@pytest.mark.parametrize("headers,reason", [
    ({"streamtype": ["data"], "port": ["80"]}, None),
    ({"streamtype": ["error"], "port": ["65535"]}, None),
    ({"streamtype": ["data"]}, '"port" header is required'),
    ({"streamtype": ["data"], "port": ["http"]}, 'unable to parse "http" as a port'),
    ({"streamtype": ["data"], "port": ["70000"]}, 'unable to parse "70000" as a port'),
    ({"streamtype": ["data"], "port": ["0"]}, 'port "0" must be > 0'),
    ({"port": ["80"]}, '"streamType" header is required'),
    ({"streamtype": ["resize"], "port": ["80"]}, 'invalid stream type "resize"'),
], ids=["data", "error", "no-port", "port-not-a-number", "port-too-large", "port-zero",
        "no-stream-type", "unknown-stream-type"])
def test_stream_headers_are_checked_like_the_kubelet(headers, reason) -> None:
    from kubeproc.apiserver import spdy
    stream = spdy.SpdyStream(None, 1, headers)  # type: ignore[arg-type]
    assert portforward._rejection(stream) == reason


@pytest.mark.parametrize("stream_id,headers,request_id", [
    (5, {"streamtype": ["data"], "requestid": ["42"]}, "42"),
    (5, {"streamtype": ["error"]}, "5"),
    (7, {"streamtype": ["data"]}, "5"),
], ids=["header", "old-client-error-stream", "old-client-data-stream"])
def test_request_id_falls_back_to_stream_ids(stream_id, headers, request_id) -> None:
    from kubeproc.apiserver import spdy
    stream = spdy.SpdyStream(None, stream_id, headers)  # type: ignore[arg-type]
    assert portforward._request_id(stream) == request_id


class _Client:
    """A SPDY client end wired straight to a `_Forwarder` (no HTTP), for pairing rules."""

    def __init__(self, streams: Any) -> None:
        from kubeproc.apiserver import spdy
        self.spdy = spdy
        self.enc, self.dec = spdy.FrameEncoder(), spdy.FrameDecoder()
        self.got: list[Any] = []

        async def send(data: bytes) -> None:
            self.got += self.dec.feed(data)

        self.fwd = portforward._Forwarder(streams, {"metadata": {"name": "web", "uid": "u-1"}})
        self.session = spdy.SpdySession(send, self.fwd.on_stream)
        self.fwd.session = self.session

    async def open(self, sid: int, kind: str, port: int = 80, rid: str = "0") -> None:
        await self.session.feed(self.enc.encode(self.spdy.SynStream(
            sid, {"streamtype": [kind], "port": [str(port)], "requestid": [rid]})))

    def data(self, sid: int) -> bytes:
        return b"".join(f.data for f in self.got if isinstance(f, self.spdy.Data)
                        and f.stream_id == sid)

    def finished(self, sid: int) -> bool:
        return any(isinstance(f, self.spdy.Data) and f.stream_id == sid and f.flags & 1
                   for f in self.got)


class _RefusingStreams:
    def __init__(self, exc: Exception | None = None) -> None:
        self.exc = exc or ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 80)")

    async def port_forward(self, pod: Any, port: int):
        raise self.exc


@pytest.mark.parametrize("exc,message", [
    (ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 80)"),
     "[Errno 111] Connect call failed ('127.0.0.1', 80)"),
    (errors.BadRequest('pod "web" has no network namespace'),
     'pod "web" has no network namespace'),
], ids=["connection-refused", "status-error-from-the-node"])
def test_a_failed_dial_is_written_to_the_error_stream_and_both_streams_finish(
        exc: Exception, message: str) -> None:
    async def go() -> None:
        c = _Client(_RefusingStreams(exc))
        await c.open(1, "error")
        await c.open(3, "data")
        while c.fwd._tasks:
            await asyncio.gather(*c.fwd._tasks)
        assert c.data(1) == f"error forwarding port 80 to pod u-1, uid : {message}".encode()
        assert c.finished(1) and c.finished(3)
    asyncio.run(go())


def test_a_second_stream_of_the_same_kind_is_an_error_on_the_pair() -> None:
    async def go() -> None:
        c = _Client(_RefusingStreams())
        await c.open(1, "error", rid="7")
        await c.open(3, "error", rid="7")
        while c.fwd._tasks:
            await asyncio.gather(*c.fwd._tasks)
        assert c.data(1) == b"error processing stream for request 7: error stream already assigned"
        await c.fwd.stop()
    asyncio.run(go())


def test_a_pair_left_incomplete_times_out(monkeypatch) -> None:
    monkeypatch.setattr(portforward, "STREAM_CREATION_TIMEOUT", 0)

    async def go() -> None:
        c = _Client(_RefusingStreams())
        await c.open(1, "error", rid="3")
        while not c.fwd._tasks:  # the timer fires on the next loop iteration
            await asyncio.sleep(0)
        await asyncio.gather(*c.fwd._tasks)
        assert c.data(1).endswith(b", request=3) timed out waiting for streams")
        assert c.fwd._pairs == {}
    asyncio.run(go())
