"""The real kubectl (1.31-1.33) against the pod streaming subresources: `kubectl logs` (options,
-f, -c, --all-containers, errors), `kubectl exec` (output, stderr, exit codes, `-i` with piped
stdin, `-it` under a pseudo-terminal) and `kubectl attach`, over HTTPS with the instance PKI.

The server is make_app + podstreams.add_routes in this process over a real Registry, with the
fake PodStreams of tests/unit/test_apiserver_podstreams.py standing in for the node agent;
kubectl runs as a child process on the same event loop.
"""

from __future__ import annotations

import asyncio
import base64
import fcntl
import os
import pty
import ssl
import struct
import termios
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from kubeproc.api import errors
from kubeproc.apiserver import pki
from kubeproc.testing.instance import free_port, kubectl_binary
from tests.unit.test_apiserver_podstreams import TOKEN, FakeStreams, serving

MINORS = (31, 32, 33)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> pki.Pki:
    return pki.ensure(str(tmp_path_factory.mktemp("pki")), [])


def _kubectl(minor: int) -> str:
    try:
        return kubectl_binary(minor)
    except RuntimeError as exc:
        pytest.skip(str(exc))


class Kubectl:
    def __init__(self, home: Path, port: int, p: pki.Pki) -> None:
        with open(p.ca_cert, "rb") as f:
            ca = base64.b64encode(f.read()).decode()
        self.kubeconfig = home / "kubeconfig"
        self.kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "t", "cluster": {"server": f"https://127.0.0.1:{port}",
                                                   "certificate-authority-data": ca}}],
            "users": [{"name": "t", "user": {"token": TOKEN}}],
            "contexts": [{"name": "t", "context": {"cluster": "t", "user": "t",
                                                   "namespace": "default"}}],
            "current-context": "t"}))
        self.env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home),
                    "KUBECONFIG": str(self.kubeconfig)}

    async def start(self, *args: str, minor: int = 33, stdin: Any = asyncio.subprocess.DEVNULL,
                    stdout: Any = asyncio.subprocess.PIPE,
                    stderr: Any = asyncio.subprocess.PIPE) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(_kubectl(minor), *args, stdin=stdin,
                                                    stdout=stdout, stderr=stderr, env=self.env)

    async def run(self, *args: str, minor: int = 33, input: bytes | None = None
                  ) -> tuple[int, str, str]:
        proc = await self.start(*args, minor=minor, stdin=asyncio.subprocess.PIPE
                                if input is not None else asyncio.subprocess.DEVNULL)
        out, err = await asyncio.wait_for(proc.communicate(input), 60)
        return proc.returncode or 0, out.decode(), err.decode()


def scenario(tmp: Path, p: pki.Pki, streams: FakeStreams,
             body: Callable[[Kubectl], Awaitable[Any]]) -> Any:
    """Serve over TLS on a free port and run `body` with a kubectl bound to that server."""
    async def main() -> Any:
        async with serving(tmp, streams) as (_, app):
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(p.cert, p.key)
            runner = web.AppRunner(app, access_log=None, handler_cancellation=True,
                                   shutdown_timeout=1.0)
            await runner.setup()
            port = free_port()
            site = web.TCPSite(runner, "127.0.0.1", port, ssl_context=ctx)
            await site.start()
            try:
                return await body(Kubectl(tmp, port, p))
            finally:
                await runner.cleanup()
    return asyncio.run(main())


# ---- kubectl logs ---------------------------------------------------------------------------

@pytest.mark.parametrize("minor", MINORS)
def test_logs_with_options(tmp_path: Path, tls: pki.Pki, minor: int) -> None:
    streams = FakeStreams()
    streams.logs_text["app"] = b"hello\nworld\n"

    async def body(k: Kubectl) -> Any:
        return await k.run("logs", "web", "--tail=5", "--timestamps", "--since=1h",
                           "--limit-bytes=100", minor=minor)
    code, out, err = scenario(tmp_path, tls, streams, body)
    assert (code, out) == (0, "hello\nworld\n"), err
    (_, container, opts), = streams.log_calls
    assert (container, opts.tail_lines, opts.timestamps, opts.since_seconds, opts.limit_bytes) == \
        ("app", 5, True, 3600, 100)


def test_logs_container_flags(tmp_path: Path, tls: pki.Pki) -> None:
    streams = FakeStreams()
    streams.logs_text.update({"a": b"from a\n", "b": b"from b\n", "setup": b"from setup\n"})

    async def body(k: Kubectl) -> Any:
        return (await k.run("logs", "duo", "-c", "b"),
                await k.run("logs", "duo", "--all-containers", "--prefix"))
    (c1, out1, _), (c2, out2, err2) = scenario(tmp_path, tls, streams, body)
    assert (c1, out1) == (0, "from b\n")
    assert c2 == 0, err2
    # kubectl keeps the per-container requests in a Go map: the order is not fixed
    assert sorted(out2.splitlines()) == ["[pod/duo/a] from a", "[pod/duo/b] from b",
                                         "[pod/duo/setup] from setup"]


def test_logs_follow_streams_live(tmp_path: Path, tls: pki.Pki) -> None:
    streams = FakeStreams()
    streams.logs_text["app"] = b"first\n"

    async def body(k: Kubectl) -> Any:
        proc = await k.start("logs", "-f", "web")
        assert proc.stdout is not None
        lines = [await asyncio.wait_for(proc.stdout.readline(), 30)]
        await streams.follow_queue.put(b"second\n")
        lines.append(await asyncio.wait_for(proc.stdout.readline(), 30))
        await streams.follow_queue.put(None)  # the container exited
        rest, _ = await asyncio.wait_for(proc.communicate(), 30)
        return lines, rest, proc.returncode
    assert scenario(tmp_path, tls, streams, body) == ([b"first\n", b"second\n"], b"", 0)


@pytest.mark.parametrize("args,want", [
    (("logs", "pending"), 'Error from server (BadRequest): container "app" in pod "pending" is '
                          'waiting to start: ContainerCreating'),
    (("logs", "web", "-p"), 'Error from server (BadRequest): previous terminated container "app" '
                            'in pod "web" not found'),
    # kubectl checks a named container itself (polymorphichelpers/logsforobject.go)
    (("logs", "web", "-c", "nope"), "error: container nope is not valid for pod web"),
], ids=["waiting", "no-previous", "unknown-container"])
def test_logs_errors(tmp_path: Path, tls: pki.Pki, args: tuple[str, ...], want: str) -> None:
    async def body(k: Kubectl) -> Any:
        return await k.run(*args)
    code, _, err = scenario(tmp_path, tls, FakeStreams(), body)
    assert code == 1 and err.strip() == want


# ---- kubectl exec / attach ------------------------------------------------------------------

@pytest.mark.parametrize("minor", MINORS)
def test_exec_output_and_exit_codes(tmp_path: Path, tls: pki.Pki, minor: int) -> None:
    async def body(k: Kubectl) -> Any:
        return (await k.run("exec", "web", "--", "echo", "hi", "there", minor=minor),
                await k.run("exec", "web", "--", "mixed", minor=minor),
                await k.run("exec", "web", "--", "sh", "-c", "exit 3", minor=minor))
    ok, mixed, failed = scenario(tmp_path, tls, FakeStreams(), body)
    assert ok == (0, "hi there\n", "")
    assert mixed == (0, "to-out\n", "to-err\n")
    assert failed[0] == 3 and failed[2].strip() == "command terminated with exit code 3"


@pytest.mark.parametrize("minor", MINORS)
def test_exec_stdin_from_a_pipe(tmp_path: Path, tls: pki.Pki, minor: int) -> None:
    streams = FakeStreams()

    async def body(k: Kubectl) -> Any:
        return await k.run("exec", "-i", "web", "--", "cat", minor=minor, input=b"hi\n")
    assert scenario(tmp_path, tls, streams, body) == (0, "hi\n", "")
    assert streams.procs[0].stdin_closed


def test_exec_tty_under_a_pseudo_terminal(tmp_path: Path, tls: pki.Pki) -> None:
    streams = FakeStreams()

    async def body(k: Kubectl) -> Any:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
        proc = await k.start("exec", "-it", "web", "--", "tty-info", stdin=slave, stdout=slave,
                             stderr=slave)
        os.close(slave)

        def read_all() -> bytes:
            data = b""
            while True:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the child side is gone
                    return data
                if not chunk:
                    return data
                data += chunk
        out = await asyncio.wait_for(asyncio.to_thread(read_all), 60)
        await asyncio.wait_for(proc.wait(), 30)
        os.close(master)
        return proc.returncode, out
    code, out = scenario(tmp_path, tls, streams, body)
    assert code == 0, out
    assert b"tty=True size=101x33" in out
    assert streams.procs[0].tty and streams.procs[0].sizes[0] == (101, 33)


def test_exec_errors(tmp_path: Path, tls: pki.Pki) -> None:
    streams = FakeStreams()

    async def body(k: Kubectl) -> Any:
        bad = await k.run("exec", "web", "-c", "nope", "--", "ls")
        streams.exec_error = errors.BadRequest('container not found ("app")')
        node = await k.run("exec", "web", "--", "ls")
        return bad, node
    bad, node = scenario(tmp_path, tls, streams, body)
    assert bad[0] == 1 and "container nope is not valid for pod web" in bad[2]
    assert node[0] == 1 and node[2].strip() == 'error: container not found ("app")'


def test_attach(tmp_path: Path, tls: pki.Pki) -> None:
    async def body(k: Kubectl) -> Any:
        return await k.run("attach", "duo", "-c", "b")
    code, out, err = scenario(tmp_path, tls, FakeStreams(), body)
    assert (code, out) == (0, "attached to b\n"), err


# ---- the official Python client (kubernetes.stream, v5 then v4) ------------------------------

def test_python_client_exec_and_logs(tmp_path: Path, tls: pki.Pki) -> None:
    from kubernetes import client
    from kubernetes.stream import stream

    streams = FakeStreams()
    streams.logs_text["app"] = b"log line\n"

    def calls(port: int) -> Any:
        cfg = client.Configuration()
        cfg.host = f"https://127.0.0.1:{port}"
        cfg.ssl_ca_cert = tls.ca_cert
        cfg.api_key = {"authorization": f"Bearer {TOKEN}"}
        with client.ApiClient(cfg) as api_client:
            core = client.CoreV1Api(api_client)
            out = stream(core.connect_get_namespaced_pod_exec, "web", "default",
                         command=["echo", "hi"], stderr=True, stdin=False, stdout=True, tty=False)
            resp = stream(core.connect_get_namespaced_pod_exec, "web", "default",
                          command=["cat"], stderr=True, stdin=True, stdout=True, tty=False,
                          _preload_content=False)
            resp.write_stdin("piped\n")  # a str goes out as a text frame
            got = ""
            for _ in range(50):  # bounded: update() returns after at most 1s without data
                resp.update(timeout=1)
                got += resp.read_stdout() if resp.peek_stdout() else ""
                if "piped" in got:
                    break
            resp.close()
            failing = stream(core.connect_get_namespaced_pod_exec, "web", "default",
                             command=["sh", "-c", "exit 7"], stderr=True, stdin=False, stdout=True,
                             tty=False, _preload_content=False)
            failing.run_forever(timeout=10)
            logs = core.read_namespaced_pod_log("web", "default", tail_lines=1)
            return out, got, failing.returncode, logs

    async def body(k: Kubectl) -> Any:
        port = int(yaml.safe_load(k.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
                   .rsplit(":", 1)[1])
        return await asyncio.wait_for(asyncio.to_thread(calls, port), 60)
    assert scenario(tmp_path, tls, streams, body) == ("hi\n", "piped\n", 7, "log line\n")
