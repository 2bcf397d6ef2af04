"""Probes and lifecycle hooks against real sockets and processes on this host.

A real aiohttp server plays the container's HTTP endpoint, a freed port plays a closed one, and
the injected exec_sync really runs the argv as a host subprocess (the runc one is the agent's).
ProbeManager runs with time_scale=0.05 (periodSeconds 1 → 50 ms): the test-only speed knob.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any, Awaitable, Callable

import pytest
from aiohttp import web

from kubeproc.agent.hooks import run_handler
from kubeproc.agent.podstatus import Probes
from kubeproc.agent.probes import ProbeManager

SCALE = 0.05
POD = {"metadata": {"name": "p", "namespace": "ns", "uid": "uid-1"}}


class Recorder:
    """on_change / on_event sink plus the subprocesses exec_sync started."""

    def __init__(self) -> None:
        self.changes: list[str] = []
        self.events: list[tuple[str, str, str, str]] = []
        self.execs: list[list[str]] = []
        self.pids: list[int] = []

    def on_change(self, uid: str) -> None:
        self.changes.append(uid)

    def on_event(self, uid: str, name: str, reason: str, message: str) -> None:
        self.events.append((uid, name, reason, message))

    async def exec_sync(self, cid: str, argv: list[str], timeout: float) -> tuple[int, bytes]:
        self.execs.append(argv)
        proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.STDOUT)
        self.pids.append(proc.pid)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout or None)
        except BaseException:
            proc.kill()  # timed out or cancelled: the command must not outlive the probe
            await proc.wait()
            raise
        return proc.returncode or 0, out


async def until(pred: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached before the deadline")
        await asyncio.sleep(0.01)


class Server:
    """A tiny HTTP server: /health answers `status`; requests are recorded."""

    def __init__(self) -> None:
        self.status = 200
        self.requests: list[web.Request] = []
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self.runner, sock).start()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request)
        if request.path == "/away":  # a redirect to another host name
            raise web.HTTPFound(f"http://localhost:{self.port}/health")
        if request.path == "/hop":  # a redirect on the same host
            raise web.HTTPFound("/health")
        return web.Response(status=self.status, text="body")

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def with_server(fn: Callable[[Server, Recorder, ProbeManager], Awaitable[None]]) -> None:
    async def main() -> None:
        srv, rec = Server(), Recorder()
        await srv.start()
        mgr = ProbeManager(rec.exec_sync, rec.on_change, rec.on_event, time_scale=SCALE)
        try:
            await fn(srv, rec, mgr)
        finally:
            await mgr.stop_all()
            await srv.stop()
    asyncio.run(main())


def container(**probes: Any) -> dict[str, Any]:
    return {"name": "c", "ports": [{"name": "web", "containerPort": 1}], **probes}


def test_http_readiness_flips_to_failure_after_threshold() -> None:
    async def body(srv: Server, rec: Recorder, mgr: ProbeManager) -> None:
        spec = container(readinessProbe={"httpGet": {"path": "/health", "port": srv.port},
                                         "periodSeconds": 1, "failureThreshold": 3})
        mgr.start(POD, spec, "cid", "127.0.0.1", None)
        assert mgr.results("cid") == Probes(readiness="failure")  # initial value: not ready
        await until(lambda: mgr.results("cid").readiness == "success")
        assert rec.changes == ["uid-1"]
        seen = srv.requests[0]
        assert (seen.headers["User-Agent"], seen.headers["Accept"]) == ("kube-probe/1.33", "*/*")
        srv.status = 500
        before = len(srv.requests)
        await until(lambda: mgr.results("cid").readiness == "failure")
        # failureThreshold 3: it took at least three failing probes to flip
        assert len(srv.requests) - before >= 3
        assert rec.changes == ["uid-1", "uid-1"]
        assert ("uid-1", "c", "Unhealthy",
                "Readiness probe failed: HTTP probe failed with statuscode: 500") in rec.events
    with_server(body)


def test_http_redirects_same_host_followed_other_host_warning() -> None:
    async def body(srv: Server, rec: Recorder, mgr: ProbeManager) -> None:
        srv.status = 503
        spec = container(readinessProbe={"httpGet": {"path": "/hop", "port": srv.port},
                                         "periodSeconds": 1, "failureThreshold": 1},
                         livenessProbe={"httpGet": {"path": "/away", "port": srv.port},
                                        "periodSeconds": 1, "failureThreshold": 1})
        mgr.start(POD, spec, "cid", "127.0.0.1", None)
        await until(lambda: any(e[2] == "ProbeWarning" for e in rec.events))
        warn = next(e for e in rec.events if e[2] == "ProbeWarning")
        assert warn[3].startswith("Liveness probe warning: Probe terminated redirects, Response body:")
        assert mgr.results("cid").liveness == "success"  # a warning counts as success
        await until(lambda: any("statuscode: 503" in e[3] for e in rec.events))
        assert mgr.results("cid").readiness == "failure"
        assert all(r.headers.get("Host", "").startswith("127.0.0.1") for r in srv.requests)
    with_server(body)


def test_tcp_open_port_ready_closed_port_fails_liveness() -> None:
    async def body(srv: Server, rec: Recorder, mgr: ProbeManager) -> None:
        closed = free_port()
        spec = container(readinessProbe={"tcpSocket": {"port": srv.port}, "periodSeconds": 1},
                         livenessProbe={"tcpSocket": {"port": closed}, "periodSeconds": 1,
                                        "failureThreshold": 2})
        mgr.start(POD, spec, "cid", "127.0.0.1", None)
        await until(lambda: mgr.results("cid") == Probes(readiness="success", liveness="failure"))
        msg = f"Liveness probe failed: dial tcp 127.0.0.1:{closed}: connect: connection refused"
        assert ("uid-1", "c", "Unhealthy", msg) in rec.events
        assert sum(e[3] == msg for e in rec.events) == 2  # failureThreshold 2, then on hold
    with_server(body)


def test_exec_probe_timeout_fails_and_kills_the_command() -> None:
    async def body(srv: Server, rec: Recorder, mgr: ProbeManager) -> None:
        spec = container(livenessProbe={"exec": {"command": ["sleep", "30"]}, "periodSeconds": 1,
                                        "timeoutSeconds": 1, "failureThreshold": 1})
        mgr.start(POD, spec, "cid", "127.0.0.1", None)
        await until(lambda: mgr.results("cid").liveness == "failure")
        assert ("uid-1", "c", "Unhealthy", 'Liveness probe failed: command "sleep 30" timed out') in rec.events
        await until(lambda: all(not os.path.exists(f"/proc/{p}") for p in rec.pids))
    with_server(body)


def test_startup_gates_readiness_and_liveness(tmp_path) -> None:
    async def body(srv: Server, rec: Recorder, mgr: ProbeManager) -> None:
        flag = os.path.join(str(tmp_path), "started")
        spec = container(
            env=[{"name": "FLAG", "value": flag}],
            startupProbe={"exec": {"command": ["test", "-f", "$(FLAG)"]}, "periodSeconds": 1,
                          "failureThreshold": 1000},
            readinessProbe={"exec": {"command": ["true"]}, "periodSeconds": 1},
            livenessProbe={"exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 1})
        mgr.start(POD, spec, "cid", "127.0.0.1", None)
        await until(lambda: len(rec.execs) >= 3)
        assert all(argv == ["test", "-f", flag] for argv in rec.execs)  # others wait for startup
        assert mgr.results("cid") == Probes(readiness="failure", liveness="success", startup="unknown")
        open(flag, "w").close()
        await until(lambda: mgr.results("cid").readiness == "success")
        assert mgr.results("cid").startup == "success"
        await until(lambda: mgr.results("cid").liveness == "failure")
        n = sum(argv[0] == "test" for argv in rec.execs)
        await until(lambda: sum(argv == ["true"] for argv in rec.execs) >= 4)
        assert sum(argv[0] == "test" for argv in rec.execs) == n  # startup stopped once started
        assert sum(argv == ["false"] for argv in rec.execs) == 1  # liveness failed: on hold
    with_server(body)


def test_initial_delay_and_terminating_pod() -> None:
    async def body(srv: Server, rec: Recorder, mgr: ProbeManager) -> None:
        spec = container(livenessProbe={"exec": {"command": ["false"]}, "periodSeconds": 1,
                                        "initialDelaySeconds": 1000},
                         readinessProbe={"httpGet": {"port": srv.port, "path": "/health"},
                                         "periodSeconds": 1})
        mgr.start(POD, spec, "cid", "127.0.0.1", None)
        await until(lambda: mgr.results("cid").readiness == "success")
        assert rec.execs == []  # initial delay not over
        srv.status = 500
        mgr.stop_liveness_and_startup("uid-1")
        assert mgr.results("cid").liveness == "success"
        await until(lambda: mgr.results("cid").readiness == "failure")  # readiness goes on
        mgr.stop("cid")
        assert mgr.results("cid") == Probes()
    with_server(body)


def test_named_port_missing_is_an_error_event_not_a_result() -> None:
    async def body(srv: Server, rec: Recorder, mgr: ProbeManager) -> None:
        spec = container(readinessProbe={"httpGet": {"port": "http"}, "periodSeconds": 1})
        mgr.start(POD, spec, "cid", "127.0.0.1", None)
        await until(lambda: len(rec.events) >= 2)
        assert rec.events[0][3] == ('Readiness probe errored and resulted in unknown state: '
                                    'strconv.Atoi: parsing "http": invalid syntax')
        assert mgr.results("cid").readiness == "failure" and rec.changes == []
    with_server(body)


# -- lifecycle hooks ------------------------------------------------------------------------

def hook(handler: dict[str, Any], rec: Recorder, timeout: float | None = 5,
         spec: dict[str, Any] | None = None) -> Awaitable[str | None]:
    return run_handler(handler, exec_sync=rec.exec_sync, container_id="cid", pod=POD,
                       pod_ip="127.0.0.1", container_spec=spec or container(), timeout=timeout)


def test_http_hook_records_request_and_ignores_status() -> None:
    async def body(srv: Server, rec: Recorder, mgr: ProbeManager) -> None:
        srv.status = 500  # handlers.go: only transport errors fail an HTTP hook
        handler = {"httpGet": {"path": "/hook", "port": srv.port,
                               "httpHeaders": [{"name": "X-Hook", "value": "poststart"}]}}
        assert await hook(handler, rec) is None
        req = srv.requests[-1]
        assert (req.method, req.path, req.headers["User-Agent"], req.headers["X-Hook"]) == (
            "GET", "/hook", "kube-lifecycle/1.33", "poststart")
        closed = free_port()
        msg = await hook({"httpGet": {"path": "/x", "port": closed}}, rec)
        assert msg == ('HTTP lifecycle hook (/x) for Container "c" in Pod "p_ns(uid-1)" failed - '
                       f'error: Get "http://127.0.0.1:{closed}/x": dial tcp 127.0.0.1:{closed}: '
                       'connect: connection refused')
    with_server(body)


@pytest.mark.parametrize("handler,timeout,want", [
    ({"exec": {"command": ["sh", "-c", "echo done"]}}, 5, None),
    ({"exec": {"command": ["sh", "-c", "echo oops; exit 3"]}}, 5,
     'Exec lifecycle hook ([sh -c echo oops; exit 3]) for Container "c" in Pod "p_ns(uid-1)" '
     "failed - error: command 'sh -c echo oops; exit 3' exited with 3: oops\n, message: \"oops\\n\""),
    ({"sleep": {"seconds": 0}}, 5, None),
    ({"sleep": {"seconds": 30}}, 0.05,
     'Sleep lifecycle hook (30) for Container "c" in Pod "p_ns(uid-1)" failed - error: '
     "container terminated before sleep hook finished"),
    ({"exec": {"command": ["sleep", "30"]}}, 0.1,
     'Exec lifecycle hook ([sleep 30]) for Container "c" in Pod "p_ns(uid-1)" failed - error: '
     'command "sleep 30" timed out, message: ""'),
], ids=["exec-ok", "exec-nonzero-message", "sleep-ok", "sleep-cut-by-timeout", "exec-timeout"])
def test_exec_and_sleep_hooks(handler: dict[str, Any], timeout: float, want: str | None) -> None:
    rec = Recorder()
    assert asyncio.run(hook(handler, rec, timeout)) == want


def self_signed(tmp: str) -> Any:
    """A server TLS context with a throwaway self-signed certificate for 127.0.0.1."""
    import datetime
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "probe-test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False).sign(key, hashes.SHA256()))
    cert_path, key_path = os.path.join(tmp, "tls.crt"), os.path.join(tmp, "tls.key")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_path, key_path)
    return ctx


def test_https_probe_skips_verification_and_hook_falls_back_to_http(tmp_path) -> None:
    async def body(srv: Server, rec: Recorder, mgr: ProbeManager) -> None:
        async def ok(request: web.Request) -> web.Response:
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_get("/tls", ok)
        runner = web.AppRunner(app)
        await runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(runner, sock, ssl_context=self_signed(str(tmp_path))).start()
        try:
            spec = container(readinessProbe={"httpGet": {"path": "/tls", "port": sock.getsockname()[1],
                                                         "scheme": "HTTPS"}, "periodSeconds": 1})
            mgr.start(POD, spec, "cid", "127.0.0.1", None)
            await until(lambda: mgr.results("cid").readiness == "success")
        finally:
            await runner.cleanup()
        events: list[tuple[str, str]] = []
        msg = await run_handler({"httpGet": {"path": "/h", "port": srv.port, "scheme": "HTTPS"}},
                                exec_sync=rec.exec_sync, container_id="cid", pod=POD,
                                pod_ip="127.0.0.1", container_spec=container(), timeout=5,
                                on_pod_event=lambda r, m: events.append((r, m)))
        assert msg is None and srv.requests[-1].path == "/h"
        assert events == [("LifecycleHTTPFallback", f"request to HTTPS lifecycle hook 127.0.0.1:{srv.port} "
                                                    "got HTTP response, retry with HTTP succeeded")]
    with_server(body)
