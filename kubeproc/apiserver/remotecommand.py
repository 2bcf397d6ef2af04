"""The WebSocket side of `pods/exec` and `pods/attach`: the remote-command channel protocol.

Owns the request options (PodExecOptions / PodAttachOptions from the query), the upgrade and
subprotocol negotiation (v5.channel.k8s.io as kubectl >= 1.30 speaks it, v4.channel.k8s.io for
older WebSocket clients), and one session: channel-prefixed binary frames pumped between the
client and an `ExecProcess`, ending with a metav1.Status on the error channel and a close frame.
Upstream: k8s.io/apiserver/pkg/util/proxy/{streamtranslator,websocket}.go (server) and
k8s.io/client-go/tools/remotecommand/{websocket,v4,v5}.go (client).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Mapping

from aiohttp import WSMessage, WSMsgType, web

from kubeproc.api import errors
from kubeproc.client.podstreams import STDERR, STDOUT, ExecProcess

log = logging.getLogger(__name__)

# k8s.io/apimachinery/pkg/util/remotecommand/constants.go
V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
PROTOCOLS = (V5, V4)
STDIN, ERROR, RESIZE, CLOSE = 0, 3, 4, 255
NON_ZERO_EXIT = "NonZeroExitCode"
EXIT_CODE_CAUSE = "ExitCode"

# How long to wait for the client's close frame after ours: the client reads everything still
# buffered before it answers (upstream websocket.go finish waits up to finishTimeout).
CLOSE_WAIT = 60.0
READY_WAIT = 2.0  # the longest the session waits for the client's first pong
_ENDED = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)
_MAX_FRAME = 32 * 1024  # client-go reads with a 32 KiB buffer; keep frames to that size


@dataclass(frozen=True)
class StreamOptions:
    """PodExecOptions / PodAttachOptions after query decoding."""

    container: str = ""
    command: tuple[str, ...] = ()
    stdin: bool = False
    stdout: bool = True
    stderr: bool = True
    tty: bool = False


def _flag(query: Mapping[str, str], key: str, default: bool) -> bool:
    # runtime Convert_Slice_string_To_bool: "0"/"false" are false, any other value is true;
    # stdout/stderr default to true (core/v1 SetDefaults_PodExecOptions/PodAttachOptions)
    if key not in query:
        return default
    value = query[key]
    return not (value == "0" or value.lower() == "false")


def parse_options(query: Any, exec_: bool) -> StreamOptions:
    """Decode the query; the kubelet's checks (remotecommand/httpstream.go NewOptions) run here,
    before the upgrade, so a bad request is a plain HTTP 400."""
    command = tuple(query.getall("command", [])) if exec_ else ()
    opts = StreamOptions(container=query.get("container", ""), command=command,
                         stdin=_flag(query, "stdin", False), stdout=_flag(query, "stdout", True),
                         stderr=_flag(query, "stderr", True), tty=_flag(query, "tty", False))
    if not (opts.stdin or opts.stdout or opts.stderr):
        raise errors.BadRequest("you must specify at least 1 of stdin, stdout, stderr")
    if exec_ and not command:
        raise errors.BadRequest("you must specify at least one command for the container")
    if opts.tty and opts.stderr:
        # httpstream.go NewOptions: a tty has no separate stderr
        opts = StreamOptions(opts.container, opts.command, opts.stdin, opts.stdout, False, True)
    return opts


# ---- statuses on the error channel -----------------------------------------------------------

def success_status() -> dict[str, Any]:
    # streamtranslator.go: metav1.Status{Status: Success} marshalled as is
    return {"metadata": {}, "status": "Success"}


def exit_status(code: int) -> dict[str, Any]:
    """Success for 0; otherwise streamtranslator.go codeExitToStatusError (the client parses the
    ExitCode cause as a uint8, so the code is folded into 0..255 as a shell would)."""
    if code == 0:
        return success_status()
    rc = (128 - code if code < 0 else code) & 0xFF
    return {"metadata": {}, "status": "Failure",
            "message": f"command terminated with non-zero exit code: "
                       f"command terminated with exit code {rc}",
            "reason": NON_ZERO_EXIT,
            "details": {"causes": [{"reason": EXIT_CODE_CAUSE, "message": str(rc)}]}}


def error_status(exc: errors.StatusError) -> dict[str, Any]:
    status = exc.to_status()
    status.pop("kind", None)
    status.pop("apiVersion", None)
    return status


# ---- terminal resize -------------------------------------------------------------------------

class ResizeDecoder:
    """The resize channel carries a stream of JSON objects {"Width": w, "Height": h}
    (client-go v3.go handleResizes uses a json.Encoder; frames need not align with objects)."""

    def __init__(self) -> None:
        self._buf = ""
        self._json = json.JSONDecoder()

    def feed(self, data: bytes) -> list[tuple[int, int]]:
        self._buf += data.decode("utf-8", errors="replace")
        sizes: list[tuple[int, int]] = []
        while True:
            text = self._buf.lstrip()
            if not text:
                self._buf = ""
                return sizes
            try:
                obj, end = self._json.raw_decode(text)
            except ValueError:
                self._buf = text
                return sizes  # incomplete: wait for the rest
            self._buf = text[end:]
            if isinstance(obj, dict):
                w, h = obj.get("Width"), obj.get("Height")
                if isinstance(w, int) and isinstance(h, int) and w >= 0 and h >= 0:
                    sizes.append((w, h))


# ---- the session -----------------------------------------------------------------------------

def _check_upgrade(request: web.Request) -> None:
    upgrade = request.headers.get("Upgrade", "").lower()
    if upgrade.startswith("spdy"):
        # kubectl only falls back to SPDY when the WebSocket upgrade failed; we speak no SPDY
        raise errors.BadRequest("Unable to upgrade connection: SPDY is not supported by this "
                                f"server; use a WebSocket client ({V5})")
    if upgrade != "websocket":
        # UpgradeAwareProxyHandler with UpgradeRequired
        raise errors.BadRequest("Upgrade request required")


async def serve(request: web.Request, opts: StreamOptions,
                start: Callable[[], Awaitable[ExecProcess]],
                report_exit: bool) -> web.StreamResponse:
    """Upgrade to a WebSocket, start the process, pump its streams, report how it ended.

    `start` runs after the upgrade, as the apiserver's stream translator reaches the kubelet only
    then: a StatusError from it is reported on the error channel (kubectl prints `error: <msg>`).
    `report_exit` is True for exec (exit code on the error channel); attach reports Success."""
    _check_upgrade(request)
    ws = web.WebSocketResponse(protocols=PROTOCOLS, compress=False, timeout=CLOSE_WAIT,
                               autoping=False, max_msg_size=0)
    ready = ws.can_prepare(request)
    if not ready.ok:
        raise errors.BadRequest("Upgrade request required")
    if ready.protocol is None:
        asked = request.headers.get("Sec-WebSocket-Protocol", "")
        wanted = [p.strip() for p in asked.split(",") if p.strip()]
        raise errors.BadRequest(f"requested protocol(s) are not supported: [{' '.join(wanted)}]; "
                                f"supports [{' '.join(PROTOCOLS)}]")
    await ws.prepare(request)
    early = await _client_ready(ws)
    if early is None:
        return ws  # the client left before anything started
    try:
        proc = await start()
    except errors.StatusError as exc:
        await _finish(ws, error_status(exc))
        return ws
    except Exception as exc:  # an agent failure must still end the session properly
        log.exception("starting the remote command failed")
        await _finish(ws, error_status(errors.InternalError(f"Internal error occurred: {exc}")))
        return ws
    # websocket.go createWebSocketStreams: an empty frame on the lowest writable channel tells
    # the client the connection is established
    first = STDOUT if opts.stdout else STDERR if opts.stderr else ERROR
    await ws.send_bytes(bytes([first]))
    status = await _Session(ws, proc, opts, ws.ws_protocol == V5).run(report_exit, early)
    if status is not None:
        await _finish(ws, status)
    return ws


async def _client_ready(ws: web.WebSocketResponse) -> list[WSMessage] | None:
    """Hold every frame until the client has answered a ping (at most READY_WAIT).

    client-go before 1.34 (tools/remotecommand/websocket.go) starts its read loop before it has
    created its streams and drops, logging "Unknown stream id", a frame that arrives in between;
    its read loop answers pings, and a round trip far outlasts creating the streams. Returns
    the data frames the client sent meanwhile (stdin, the first resize), or None if it left."""
    early: list[WSMessage] = []
    with contextlib.suppress(ConnectionError, RuntimeError):
        await ws.ping(b"ready")
    try:
        async with asyncio.timeout(READY_WAIT):
            while True:
                msg = await ws.receive()
                if msg.type == WSMsgType.PONG:
                    return early
                if msg.type == WSMsgType.PING:
                    await ws.pong(msg.data)
                elif msg.type in _ENDED:
                    return None
                else:
                    early.append(msg)
    except TimeoutError:
        return early  # a client that does not read yet: go on without the barrier


async def _finish(ws: web.WebSocketResponse, status: dict[str, Any]) -> None:
    """websocket.go finish: the status, then a close frame; wait for the client's close."""
    with contextlib.suppress(ConnectionError, RuntimeError):
        await ws.send_bytes(bytes([ERROR]) + json.dumps(status, separators=(",", ":")).encode())
    with contextlib.suppress(ConnectionError, RuntimeError):
        await ws.close()


class _Session:
    def __init__(self, ws: web.WebSocketResponse, proc: ExecProcess, opts: StreamOptions,
                 v5: bool) -> None:
        self.ws = ws
        self.proc = proc
        self.opts = opts
        self.v5 = v5

    async def run(self, report_exit: bool, early: list[WSMessage]) -> dict[str, Any] | None:
        """The final status once output is drained; None when the client went away first."""
        reader = asyncio.create_task(self._input(early))
        writer = asyncio.create_task(self._output())
        finished = False
        try:
            done, _ = await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
            if writer not in done:
                return None  # the client closed or vanished: end the process
            try:
                writer.result()
                code = await self.proc.wait()
                finished = True
                return exit_status(code) if report_exit else success_status()
            except (ConnectionError, RuntimeError):
                return None  # writing to a closed WebSocket
            except errors.StatusError as exc:
                return error_status(exc)
            except Exception as exc:  # the agent failed midway: the client still gets a Status
                log.exception("remote command session failed")
                return error_status(errors.InternalError(f"Internal error occurred: {exc}"))
        finally:
            for task in (reader, writer):
                task.cancel()
            await asyncio.gather(reader, writer, return_exceptions=True)
            if not finished:
                with contextlib.suppress(Exception):
                    await self.proc.kill()

    async def _output(self) -> None:
        while True:
            item = await self.proc.read()
            if item is None:
                return
            channel, data = item
            if self.opts.tty:
                channel = STDOUT  # a tty merges the streams
            if (channel == STDOUT and not self.opts.stdout) or \
                    (channel == STDERR and not self.opts.stderr) or not data:
                continue
            for i in range(0, len(data), _MAX_FRAME):
                await self.ws.send_bytes(bytes([channel]) + data[i:i + _MAX_FRAME])

    async def _input(self, early: list[WSMessage]) -> None:
        """Until the client closes: stdin, resizes and (v5) the CLOSE signal for stdin."""
        resize = ResizeDecoder()
        stdin_open = self.opts.stdin
        while True:
            msg = early.pop(0) if early else await self.ws.receive()
            if msg.type in _ENDED:
                return
            if msg.type == WSMsgType.PING:
                await self.ws.pong(msg.data)  # client-go pings every 5 s and wants pongs
                continue
            if msg.type == WSMsgType.TEXT:
                # wsstream reads text frames like binary ones (the Python client sends str stdin
                # as text): the first byte is still the channel
                data = msg.data.encode("utf-8")
            elif msg.type == WSMsgType.BINARY:
                data = bytes(msg.data)
            else:
                continue
            if not data:
                continue
            channel, payload = data[0], data[1:]
            if channel == STDIN and stdin_open:
                if payload:
                    stdin_open = await self._stdin(self.proc.write_stdin(payload))
            elif channel == RESIZE and self.opts.tty:
                for width, height in resize.feed(payload):
                    self.proc.resize(width, height)
            elif channel == CLOSE and self.v5 and payload[:1] == bytes([STDIN]) and stdin_open:
                # v5: the client's stdin reached EOF
                await self._stdin(self.proc.close_stdin())
                stdin_open = False

    async def _stdin(self, op: Awaitable[None]) -> bool:
        """Run a stdin operation; False once the process no longer takes input (it exited or
        closed its stdin): what the client sends after that is dropped, the session goes on."""
        try:
            await op
            return True
        except (OSError, errors.StatusError):
            return False
