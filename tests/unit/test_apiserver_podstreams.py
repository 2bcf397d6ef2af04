"""The apiserver's pod streaming subresources (kubeproc.apiserver.podstreams / remotecommand)
against upstream rules: container defaulting and validation (strategy.go validateContainer),
the kubelet's log pre-checks (validateContainerLogStatus), PodLogOptions validation, the exec
query, and the WebSocket channel protocol (v5/v4.channel.k8s.io: channel-prefixed frames, the
Status on channel 3, stdin CLOSE, resize). HTTP cases drive make_app + add_routes over a real
Registry with a fake PodStreams through aiohttp's test client; async code under asyncio.run.
Also holds `FakeStreams` and `serving()`, which the real-kubectl e2e test reuses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Mapping

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from kubeproc.api import errors, resources
from kubeproc.apiserver import podstreams, remotecommand
from kubeproc.apiserver.app import make_app
from kubeproc.client.podstreams import STDERR, STDOUT, LogOptions
from kubeproc.registry.registry import Registry, WriteOptions
from kubeproc.store.store import Store

POD = resources.by_kind("", "Pod")
NAMESPACE = resources.by_kind("", "Namespace")
TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BASE = "/api/v1/namespaces/default/pods"


# ---- fakes ----------------------------------------------------------------------------------

class FakeProcess:
    """A scripted ExecProcess; the command picks the script (see `_script`)."""

    def __init__(self, command: list[str], stdin: bool, tty: bool) -> None:
        self.command, self.stdin, self.tty = command, stdin, tty
        self.out: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        self.code = 0
        self.stdin_data = bytearray()
        self.stdin_closed = False
        self.sizes: list[tuple[int, int]] = []
        self.killed = asyncio.Event()
        self.stdin_failed = asyncio.Event()
        self.resized = asyncio.Event()
        self._script()

    def _script(self) -> None:
        cmd = self.command
        if cmd[:1] == ["echo"]:
            self.out.put_nowait((STDOUT, (" ".join(cmd[1:]) + "\n").encode()))
            self.out.put_nowait(None)
        elif cmd[:2] == ["sh", "-c"] and cmd[2].startswith("exit "):
            self.code = int(cmd[2].split()[1])
            self.out.put_nowait(None)
        elif cmd[:1] == ["mixed"]:
            self.out.put_nowait((STDOUT, b"to-out\n"))
            self.out.put_nowait((STDERR, b"to-err\n"))
            self.out.put_nowait(None)
        elif cmd[:1] == ["big"]:
            self.out.put_nowait((STDOUT, b"x" * 100_000))
            self.out.put_nowait(None)
        elif cmd[:1] == ["fail-midway"]:
            self.out.put_nowait((STDOUT, b"partial\n"))
            self.out.put_nowait((-1, b""))  # read() raises: the node lost the container
        # "cat" echoes stdin until EOF; "tty-info" answers the first resize; "hang" waits

    async def write_stdin(self, data: bytes) -> None:
        if self.command[:1] == ["true"]:  # it never reads its stdin
            self.stdin_failed.set()
            raise BrokenPipeError(32, "Broken pipe")
        self.stdin_data += data
        if self.command[:1] == ["cat"]:
            await self.out.put((STDOUT, data))

    async def close_stdin(self) -> None:
        self.stdin_closed = True
        if self.command[:1] == ["cat"]:
            await self.out.put(None)

    def resize(self, width: int, height: int) -> None:
        self.sizes.append((width, height))
        self.resized.set()
        if self.command[:1] == ["tty-info"] and len(self.sizes) == 1:
            self.out.put_nowait((STDERR, f"tty={self.tty} size={width}x{height}\r\n".encode()))
            self.out.put_nowait(None)

    async def read(self) -> tuple[int, bytes] | None:
        item = await self.out.get()
        if item is not None and item[0] == -1:
            raise errors.InternalError("the container vanished")
        return item

    async def wait(self) -> int:
        return self.code

    async def kill(self) -> None:
        self.killed.set()
        self.out.put_nowait(None)


class FakeStreams:
    """PodStreams with canned logs (per container; `follow` then drains `follow_queue`)."""

    def __init__(self) -> None:
        self.logs_text: dict[str, bytes] = {}
        self.follow_queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.log_calls: list[tuple[str, str, LogOptions]] = []
        self.log_error: errors.StatusError | None = None
        self.procs: list[FakeProcess] = []
        self.exec_error: errors.StatusError | None = None
        self.started = asyncio.Event()

    async def logs(self, pod: Mapping[str, Any], container: str,
                   opts: LogOptions) -> AsyncIterator[bytes]:
        self.log_calls.append((pod["metadata"]["name"], container, opts))
        if self.log_error is not None:
            raise self.log_error
        yield self.logs_text.get(container, b"")
        if opts.follow:
            while (chunk := await self.follow_queue.get()) is not None:
                yield chunk

    async def exec(self, pod: Mapping[str, Any], container: str, command: list[str],
                   stdin: bool, tty: bool) -> FakeProcess:
        if self.exec_error is not None:
            raise self.exec_error
        proc = FakeProcess(command, stdin, tty)
        self.procs.append(proc)
        self.started.set()
        return proc

    async def attach(self, pod: Mapping[str, Any], container: str, stdin: bool,
                     tty: bool) -> FakeProcess:
        proc = FakeProcess(["cat"] if stdin else ["echo", f"attached to {container}"], stdin, tty)
        self.procs.append(proc)
        return proc

    async def port_forward(self, pod: Mapping[str, Any], port: int):
        raise errors.BadRequest("not in this fake")


# ---- harness --------------------------------------------------------------------------------

def running(names: list[str]) -> dict[str, Any]:
    return {"phase": "Running", "containerStatuses": [
        {"name": n, "ready": True, "restartCount": 0, "image": "busybox", "imageID": "",
         "containerID": f"runc://{n}-0", "started": True,
         "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}} for n in names]}


def pod_object(name: str, containers: list[str], init: list[str] = (), node: str = "node-1"
               ) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": c, "image": "busybox"} for c in containers]}
    if init:
        spec["initContainers"] = [{"name": c, "image": "busybox"} for c in init]
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": spec}


async def add_pod(reg: Registry, name: str, containers: list[str], status: dict[str, Any] | None,
                  init: list[str] = (), node: str = "node-1") -> None:
    created = await reg.create(POD, "default", pod_object(name, containers, init, node),
                               WriteOptions(field_manager="test"))
    if status is not None:
        created["status"] = status
        await reg.update(POD, "default", name, created,
                         WriteOptions(field_manager="test", subresource="status"))


async def standard_pods(reg: Registry) -> None:
    await add_pod(reg, "web", ["app"], running(["app"]))
    duo = running(["a", "b"])
    duo["initContainerStatuses"] = [
        {"name": "setup", "ready": True, "restartCount": 0, "image": "busybox", "imageID": "",
         "containerID": "runc://setup-0", "state": {"terminated": {
             "exitCode": 0, "reason": "Completed", "containerID": "runc://setup-0"}}}]
    await add_pod(reg, "duo", ["a", "b"], duo, init=["setup"])
    await add_pod(reg, "pending", ["app"], {"phase": "Pending", "containerStatuses": [
        {"name": "app", "ready": False, "restartCount": 0, "image": "busybox", "imageID": "",
         "state": {"waiting": {"reason": "ContainerCreating"}}}]})
    await add_pod(reg, "unscheduled", ["app"], None, node="")
    await add_pod(reg, "done", ["app"], {"phase": "Succeeded"})


@contextlib.asynccontextmanager
async def serving(tmp: Path, streams: Any) -> AsyncIterator[tuple[Registry, Any]]:
    """make_app + add_routes over a fresh Registry holding `standard_pods`; yields the registry
    and the aiohttp app (not started)."""
    store = Store(str(tmp / "db"))
    reg = Registry(store)
    store.start()
    try:
        await reg.create(NAMESPACE, "", {"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": "default"}},
                         WriteOptions(field_manager="test"))
        await standard_pods(reg)
        app = make_app(reg, TOKEN, "127.0.0.1:0")
        podstreams.add_routes(app, reg, streams)
        yield reg, app
    finally:
        await store.close()


def with_client(tmp: Path, streams: Any,
                body: Callable[[TestClient], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        async with serving(tmp, streams) as (_, app):
            async with TestClient(TestServer(app)) as client:
                return await body(client)
    return asyncio.run(main())


async def ws_session(client: TestClient, url: str, send: list[bytes] = (),
                     protocols: tuple[str, ...] = (remotecommand.V5,)
                     ) -> tuple[str | None, list[tuple[int, bytes]]]:
    """Connect, send `send` frames, collect frames until the server closes."""
    async with client.ws_connect(url, headers=AUTH, protocols=protocols) as ws:
        for frame in send:
            await ws.send_bytes(frame)
        frames = []
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.BINARY:
                frames.append((msg.data[0], bytes(msg.data[1:])))
        return ws.protocol, frames


def joined(frames: list[tuple[int, bytes]], channel: int) -> bytes:
    return b"".join(d for c, d in frames if c == channel)


def final_status(frames: list[tuple[int, bytes]]) -> dict[str, Any]:
    err = [d for c, d in frames if c == remotecommand.ERROR and d]
    assert len(err) == 1, frames
    assert frames[-1][0] == remotecommand.ERROR, "the status must be the last frame"
    return json.loads(err[0])


# ---- pure rules -----------------------------------------------------------------------------

@pytest.mark.parametrize("pod,requested,want", [
    (pod_object("p", ["only"]), "", "only"),
    (pod_object("p", ["a", "b"], init=["i"]), "b", "b"),
    (pod_object("p", ["a", "b"], init=["i"]), "i", "i"),
    (pod_object("p", ["a", "b"], init=["i"]), "",
     "a container name must be specified for pod p, choose one of: [i a b]"),
    (pod_object("p", []), "", "a container name must be specified for pod p"),
    (pod_object("p", ["a"]), "zz", "container zz is not valid for pod p"),
], ids=["only-container-default", "named", "init-container-valid", "several-must-choose",
        "no-containers", "unknown-container"])
def test_resolve_container(pod: dict, requested: str, want: str) -> None:
    try:
        got = podstreams.resolve_container(pod, requested)
    except errors.BadRequest as exc:
        got = exc.message
    assert got == want


def _status(state: dict, last: dict | None = None, name: str = "c") -> dict:
    cs = {"name": name, "state": state}
    if last is not None:
        cs["lastState"] = last
    return {"metadata": {"name": "p"}, "status": {"containerStatuses": [cs]}}


TERM = {"terminated": {"exitCode": 1, "containerID": "runc://x"}}


@pytest.mark.parametrize("pod,previous,want", [
    (_status({"running": {}}), False, None),
    (_status({"waiting": {"reason": "ContainerCreating"}}), False,
     'container "c" in pod "p" is waiting to start: ContainerCreating'),
    (_status({"waiting": {"reason": "ErrImagePull"}}), False,
     'container "c" in pod "p" is waiting to start: image can\'t be pulled'),
    (_status({"waiting": {"reason": "ImagePullBackOff"}}), False,
     'container "c" in pod "p" is waiting to start: trying and failing to pull image'),
    (_status({"waiting": {"reason": "CrashLoopBackOff"}}, TERM), False, None),
    (_status({"running": {}}), True, 'previous terminated container "c" in pod "p" not found'),
    (_status({"running": {}}, TERM), True, None),
    (_status({"terminated": {"exitCode": 0, "containerID": "runc://y"}}), False, None),
    (_status({"terminated": {"exitCode": 137}}), False, 'container "c" in pod "p" is terminated'),
    (_status({}), False, 'container "c" in pod "p" is waiting to start - no logs yet'),
    (_status({"running": {}}, name="other"), False, 'container "c" in pod "p" is not available'),
], ids=["running", "waiting-reason", "err-image-pull", "image-pull-backoff",
        "crashloop-serves-last-attempt", "previous-missing", "previous-present",
        "terminated-with-id", "terminated-without-id", "no-state", "no-status"])
def test_check_log_status(pod: dict, previous: bool, want: str | None) -> None:
    try:
        podstreams.check_log_status(pod, "c", previous)
        got = None
    except errors.BadRequest as exc:
        got = exc.message
    assert got == want


@pytest.mark.parametrize("query,code,message", [
    ({"tailLines": "-1"}, 422,
     'PodLogOptions "p" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0'),
    ({"limitBytes": "0"}, 422,
     'PodLogOptions "p" is invalid: limitBytes: Invalid value: 0: must be greater than 0'),
    ({"sinceSeconds": "0"}, 422,
     'PodLogOptions "p" is invalid: sinceSeconds: Invalid value: 0: must be greater than 0'),
    ({"sinceSeconds": "5", "sinceTime": "2026-01-01T00:00:00Z"}, 422,
     'PodLogOptions "p" is invalid: : Forbidden: at most one of `sinceTime` or `sinceSeconds` '
     'may be specified'),
    ({"tailLines": "abc"}, 400, 'strconv.ParseInt: parsing "abc": invalid syntax'),
    ({"sinceTime": "yesterday"}, 400, None),
], ids=["negative-tail", "zero-limit-bytes", "zero-since-seconds", "both-since",
        "non-integer", "bad-time"])
def test_log_options_rejected(query: dict, code: int, message: str | None) -> None:
    with pytest.raises(errors.StatusError) as info:
        podstreams.parse_log_options(query, "p")
    assert info.value.code == code
    if message is not None:
        assert info.value.message == message


def test_log_options_decoded() -> None:
    container, opts = podstreams.parse_log_options(
        {"container": "c", "follow": "true", "previous": "1", "timestamps": "true",
         "tailLines": "10", "limitBytes": "500", "sinceTime": "2026-01-02T03:04:05Z"}, "p")
    assert container == "c"
    assert (opts.follow, opts.previous, opts.timestamps, opts.tail_lines, opts.limit_bytes) == \
        (True, True, True, 10, 500)
    assert opts.since_time is not None and opts.since_time.isoformat() == "2026-01-02T03:04:05+00:00"
    assert podstreams.parse_log_options({"follow": "false"}, "p")[1] == LogOptions()


class _Query(dict):
    def getall(self, key: str, default: list) -> list:
        v = self.get(key)
        return v if isinstance(v, list) else default


@pytest.mark.parametrize("query,want", [
    ({"command": ["ls", "-l"], "stdout": "true", "stderr": "true"},
     remotecommand.StreamOptions("", ("ls", "-l"), False, True, True, False)),
    ({"command": ["sh"], "container": "c", "stdin": "true", "stdout": "true", "tty": "true"},
     remotecommand.StreamOptions("c", ("sh",), True, True, False, True)),
    ({"command": ["x"], "stdout": "0", "stderr": "false", "stdin": "1"},
     remotecommand.StreamOptions("", ("x",), True, False, False, False)),
], ids=["repeated-command", "tty-has-no-stderr", "zero-and-false-are-false"])
def test_exec_options(query: dict, want: remotecommand.StreamOptions) -> None:
    assert remotecommand.parse_options(_Query(query), exec_=True) == want


@pytest.mark.parametrize("query,exec_,message", [
    ({"command": ["x"], "stdout": "false", "stderr": "false"}, True,
     "you must specify at least 1 of stdin, stdout, stderr"),
    ({"stdout": "true"}, True, "you must specify at least one command for the container"),
], ids=["no-streams", "no-command"])
def test_exec_options_rejected(query: dict, exec_: bool, message: str) -> None:
    with pytest.raises(errors.BadRequest, match=message.replace(",", ",")):
        remotecommand.parse_options(_Query(query), exec_=exec_)


@pytest.mark.parametrize("code,want", [
    (0, {"metadata": {}, "status": "Success"}),
    (3, {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
         "message": "command terminated with non-zero exit code: command terminated with exit code 3",
         "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}),
    (-9, "137"),
], ids=["zero-is-success", "non-zero-exit-code-cause", "signal-folds-to-128-plus"])
def test_exit_status(code: int, want: Any) -> None:
    got = remotecommand.exit_status(code)
    if isinstance(want, str):
        assert got["details"]["causes"][0]["message"] == want
    else:
        assert got == want


def test_resize_decoder_handles_split_and_batched_objects() -> None:
    dec = remotecommand.ResizeDecoder()
    assert dec.feed(b'{"Width":80,') == []
    assert dec.feed(b'"Height":24}\n{"Width":100,"Height":30}\n') == [(80, 24), (100, 30)]
    assert dec.feed(b'{"Width":-1,"Height":3}\n') == []


# ---- pods/log over HTTP ---------------------------------------------------------------------

def test_log_streams_text_with_options(tmp_path: Path) -> None:
    streams = FakeStreams()
    streams.logs_text["app"] = b"line one\nline two\n"

    async def body(client: TestClient) -> Any:
        r = await client.get(f"{BASE}/web/log?tailLines=2&timestamps=true", headers=AUTH)
        return r.status, r.headers.get("Content-Type"), r.headers.get("Transfer-Encoding"), \
            await r.read()
    status, ctype, te, data = with_client(tmp_path, streams, body)
    assert (status, ctype, te, data) == (200, "text/plain", "chunked", b"line one\nline two\n")
    assert streams.log_calls == [("web", "app", LogOptions(timestamps=True, tail_lines=2))]


def test_log_follow_streams_until_the_node_ends_it(tmp_path: Path) -> None:
    streams = FakeStreams()
    streams.logs_text["b"] = b"first\n"

    async def body(client: TestClient) -> Any:
        r = await client.get(f"{BASE}/duo/log?container=b&follow=true", headers=AUTH)
        got = [await r.content.readline()]
        await streams.follow_queue.put(b"second\n")
        got.append(await r.content.readline())
        await streams.follow_queue.put(None)
        got.append(await r.content.read())
        return r.status, got
    assert with_client(tmp_path, streams, body) == (200, [b"first\n", b"second\n", b""])


def _get_status(tmp: Path, streams: Any, url: str, method: str = "GET") -> tuple[int, dict]:
    async def body(client: TestClient) -> Any:
        r = await client.request(method, url, headers=AUTH)
        return r.status, await r.json()
    return with_client(tmp, streams, body)


@pytest.mark.parametrize("url,code,reason,message", [
    (f"{BASE}/duo/log", 400, "BadRequest",
     "a container name must be specified for pod duo, choose one of: [setup a b]"),
    (f"{BASE}/web/log?container=nope", 400, "BadRequest", "container nope is not valid for pod web"),
    (f"{BASE}/pending/log", 400, "BadRequest",
     'container "app" in pod "pending" is waiting to start: ContainerCreating'),
    (f"{BASE}/web/log?previous=true", 400, "BadRequest",
     'previous terminated container "app" in pod "web" not found'),
    (f"{BASE}/ghost/log", 404, "NotFound", 'pods "ghost" not found'),
    (f"{BASE}/web/log?tailLines=-3", 422, "Invalid",
     'PodLogOptions "web" is invalid: tailLines: Invalid value: -3: must be greater than or '
     'equal to 0'),
], ids=["must-choose-container", "unknown-container", "waiting-container", "no-previous",
        "missing-pod", "invalid-options"])
def test_log_errors(tmp_path: Path, url: str, code: int, reason: str, message: str) -> None:
    status, body = _get_status(tmp_path, FakeStreams(), url)
    assert (status, body["code"], body["reason"], body["message"]) == (code, code, reason, message)


def test_log_error_from_the_node_is_an_http_status(tmp_path: Path) -> None:
    streams = FakeStreams()
    streams.log_error = errors.BadRequest("from the node")
    status, body = _get_status(tmp_path, streams, f"{BASE}/web/log")
    assert (status, body["message"]) == (400, "from the node")


def test_log_of_unscheduled_pod_is_empty(tmp_path: Path) -> None:
    async def body(client: TestClient) -> Any:
        r = await client.get(f"{BASE}/unscheduled/log", headers=AUTH)
        return r.status, await r.read()
    assert with_client(tmp_path, FakeStreams(), body) == (200, b"")


@pytest.mark.parametrize("sub", ["log", "exec?command=ls", "attach", "portforward?ports=80"])
def test_without_a_node_agent_the_kubelet_is_unreachable(tmp_path: Path, sub: str) -> None:
    status, body = _get_status(tmp_path, None, f"{BASE}/web/{sub}")
    assert status == 500 and body["code"] == 500 and "reason" not in body
    assert "no node agent is running" in body["message"]


@pytest.mark.parametrize("method,url", [("POST", f"{BASE}/web/log"),
                                        ("PUT", f"{BASE}/web/exec?command=ls")],
                         ids=["log-is-get-only", "exec-is-get-or-post"])
def test_method_not_allowed(tmp_path: Path, method: str, url: str) -> None:
    assert _get_status(tmp_path, FakeStreams(), url, method)[0] == 405


def test_routes_keep_auth_and_the_catch_all(tmp_path: Path) -> None:
    async def body(client: TestClient) -> Any:
        noauth = await client.get(f"{BASE}/web/log")
        pod = await client.get(f"{BASE}/web", headers=AUTH)
        return noauth.status, pod.status, (await pod.json())["metadata"]["name"]
    assert with_client(tmp_path, FakeStreams(), body) == (401, 200, "web")


# ---- exec / attach over the WebSocket channel protocol --------------------------------------

def _exec_url(pod: str, *command: str, extra: str = "stdout=true&stderr=true") -> str:
    cmd = "&".join(f"command={c}" for c in command)
    return f"{BASE}/{pod}/exec?{cmd}&{extra}"


@pytest.mark.parametrize("protocol", [remotecommand.V5, remotecommand.V4])
def test_exec_output_then_success_status(tmp_path: Path, protocol: str) -> None:
    async def body(client: TestClient) -> Any:
        return await ws_session(client, _exec_url("web", "mixed"), protocols=(protocol, "x"))
    proto, frames = with_client(tmp_path, FakeStreams(), body)
    assert proto == protocol
    assert frames[0] == (STDOUT, b""), "an empty frame announces the connection"
    assert joined(frames, STDOUT) == b"to-out\n" and joined(frames, STDERR) == b"to-err\n"
    assert final_status(frames) == {"metadata": {}, "status": "Success"}


def test_exec_reports_the_exit_code(tmp_path: Path) -> None:
    async def body(client: TestClient) -> Any:
        return await ws_session(client, _exec_url("web", "sh", "-c", "exit%203"))
    status = final_status(with_client(tmp_path, FakeStreams(), body)[1])
    assert (status["reason"], status["details"]["causes"]) == \
        ("NonZeroExitCode", [{"reason": "ExitCode", "message": "3"}])


def test_exec_stdin_and_close_signal_end_the_process(tmp_path: Path) -> None:
    streams = FakeStreams()

    async def body(client: TestClient) -> Any:
        return await ws_session(client, _exec_url("web", "cat", extra="stdin=true&stdout=true"),
                                send=[b"\x00hello ", b"\x00world\n", b"\xff\x00"])
    _, frames = with_client(tmp_path, streams, body)
    assert joined(frames, STDOUT) == b"hello world\n"
    assert final_status(frames)["status"] == "Success"
    assert streams.procs[0].stdin_closed and streams.procs[0].stdin


def test_stdin_the_process_refuses_does_not_end_the_session(tmp_path: Path) -> None:
    streams = FakeStreams()

    async def body(client: TestClient) -> Any:
        session = asyncio.create_task(ws_session(
            client, _exec_url("web", "true", extra="stdin=true&stdout=true&tty=true"),
            send=[b"\x00ignored\n", b'\x04{"Width":1,"Height":2}']))
        await streams.started.wait()
        # the session still serves the client after the failed write: the resize gets through
        await asyncio.wait_for(streams.procs[0].resized.wait(), 10)
        streams.procs[0].out.put_nowait(None)  # now the process exits
        return await session
    _, frames = with_client(tmp_path, streams, body)
    assert final_status(frames)["status"] == "Success"
    assert streams.procs[0].stdin_failed.is_set() and not streams.procs[0].killed.is_set()


def test_exec_stdin_in_text_frames(tmp_path: Path) -> None:
    async def body(client: TestClient) -> Any:
        async with client.ws_connect(_exec_url("web", "cat", extra="stdin=true&stdout=true"),
                                     headers=AUTH, protocols=(remotecommand.V5,)) as ws:
            await ws.send_str("\x00typed\n")
            await ws.send_bytes(b"\xff\x00")
            return b"".join([m.data[1:] async for m in ws
                             if m.type == aiohttp.WSMsgType.BINARY and m.data[0] == STDOUT])
    assert with_client(tmp_path, FakeStreams(), body) == b"typed\n"


def test_exec_large_output_is_framed(tmp_path: Path) -> None:
    async def body(client: TestClient) -> Any:
        return await ws_session(client, _exec_url("web", "big"))
    _, frames = with_client(tmp_path, FakeStreams(), body)
    assert joined(frames, STDOUT) == b"x" * 100_000
    assert max(len(d) for c, d in frames) <= 32 * 1024


def test_exec_tty_merges_streams_and_forwards_resizes(tmp_path: Path) -> None:
    streams = FakeStreams()

    async def body(client: TestClient) -> Any:
        return await ws_session(client, _exec_url("web", "tty-info",
                                                  extra="stdin=true&stdout=true&tty=true"),
                                send=[b'\x04{"Width":120,"Height":40}\n'])
    _, frames = with_client(tmp_path, streams, body)
    assert joined(frames, STDOUT) == b"tty=True size=120x40\r\n"
    assert streams.procs[0].sizes == [(120, 40)]


def test_exec_error_from_the_node_goes_on_the_error_channel(tmp_path: Path) -> None:
    streams = FakeStreams()
    streams.exec_error = errors.BadRequest('container not found ("app")')

    async def body(client: TestClient) -> Any:
        return await ws_session(client, _exec_url("web", "ls"))
    status = final_status(with_client(tmp_path, streams, body)[1])
    assert (status["status"], status["reason"], status["message"]) == \
        ("Failure", "BadRequest", 'container not found ("app")')


def test_node_failure_midway_ends_with_a_failure_status(tmp_path: Path) -> None:
    streams = FakeStreams()

    async def body(client: TestClient) -> Any:
        return await ws_session(client, _exec_url("web", "fail-midway"))
    _, frames = with_client(tmp_path, streams, body)
    assert joined(frames, STDOUT) == b"partial\n"
    status = final_status(frames)
    assert (status["status"], status["reason"], status["message"]) == \
        ("Failure", "InternalError", "the container vanished")
    assert streams.procs[0].killed.is_set()


def test_client_going_away_kills_the_process(tmp_path: Path) -> None:
    streams = FakeStreams()

    async def body(client: TestClient) -> Any:
        async with client.ws_connect(_exec_url("web", "hang"), headers=AUTH,
                                     protocols=(remotecommand.V5,)) as ws:
            await ws.receive()  # the announcement frame: the session has started
        await asyncio.wait_for(streams.procs[0].killed.wait(), 10)
        return True
    assert with_client(tmp_path, streams, body)


def test_session_waits_for_the_pong_and_answers_heartbeats(tmp_path: Path) -> None:
    streams = FakeStreams()

    async def body(client: TestClient) -> Any:
        async with client.ws_connect(_exec_url("web", "hang"), headers=AUTH, autoping=False,
                                     protocols=(remotecommand.V5,)) as ws:
            ping = await ws.receive()
            started_before_pong = bool(streams.procs)
            await ws.pong(ping.data)
            announce = await ws.receive()
            await ws.ping(b"heartbeat")  # client-go's 5 s heartbeat
            pong = await ws.receive()
            return (ping.type, started_before_pong, announce.data, pong.type, pong.data)
    assert with_client(tmp_path, streams, body) == (
        aiohttp.WSMsgType.PING, False, bytes([STDOUT]), aiohttp.WSMsgType.PONG, b"heartbeat")


def test_attach_reports_success(tmp_path: Path) -> None:
    async def body(client: TestClient) -> Any:
        return await ws_session(client, f"{BASE}/duo/attach?container=b&stdout=true")
    _, frames = with_client(tmp_path, FakeStreams(), body)
    assert joined(frames, STDOUT) == b"attached to b\n"
    assert final_status(frames)["status"] == "Success"


@pytest.mark.parametrize("url,headers,code,message", [
    (_exec_url("web", "ls"), {}, 400, "Upgrade request required"),
    (_exec_url("web", "ls"), {"Connection": "Upgrade", "Upgrade": "SPDY/3.1"}, 400,
     "Unable to upgrade connection: SPDY is not supported"),
    (_exec_url("done", "ls"), {}, 400,
     "cannot exec into a container in a completed pod; current phase is Succeeded"),
    (_exec_url("unscheduled", "ls"), {}, 400, "pod unscheduled does not have a host assigned"),
    (_exec_url("duo", "ls"), {}, 400,
     "a container name must be specified for pod duo, choose one of: [setup a b]"),
    (f"{BASE}/web/exec?stdout=true", {}, 400,
     "you must specify at least one command for the container"),
    (f"{BASE}/ghost/exec?command=ls", {}, 404, 'pods "ghost" not found'),
], ids=["not-an-upgrade", "spdy-refused", "completed-pod", "no-host", "must-choose-container",
        "no-command", "missing-pod"])
def test_exec_refused_before_upgrade(tmp_path: Path, url: str, headers: dict, code: int,
                                     message: str) -> None:
    async def body(client: TestClient) -> Any:
        r = await client.post(url, headers={**AUTH, **headers})
        return r.status, await r.json()
    status, doc = with_client(tmp_path, FakeStreams(), body)
    assert status == code and doc["message"].startswith(message)


def test_exec_unknown_subprotocol_is_refused(tmp_path: Path) -> None:
    async def body(client: TestClient) -> Any:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await client.ws_connect(_exec_url("web", "ls"), headers=AUTH,
                                    protocols=("base64.channel.k8s.io",))
        return info.value.status
    assert with_client(tmp_path, FakeStreams(), body) == 400
