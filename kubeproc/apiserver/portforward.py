"""`pods/portforward`: kubectl's port-forward, served as the apiserver + kubelet pair serve it.

kubectl >= 1.31 first asks for a WebSocket with subprotocol `SPDY/3.1+portforward.k8s.io` whose
binary messages carry a SPDY/3.1 byte stream (the apiserver's StreamTunnelingHandler); it falls
back to a plain `Upgrade: SPDY/3.1` POST. Either way the streams follow the kubelet's
httpStreamHandler: per forwarded connection an `error` and a `data` stream share a `requestID`;
the data stream is joined to `PodStreams.port_forward` and failures go to the error stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Mapping

from aiohttp import WSMsgType, web

from kubeproc.api import errors
from kubeproc.apiserver import spdy
from kubeproc.client.podstreams import PodStreams

log = logging.getLogger(__name__)

PROTOCOL = "portforward.k8s.io"
TUNNEL_PREFIX = "SPDY/3.1+"  # k8s.io/apimachinery/pkg/util/portforward constants
TUNNEL_PROTOCOL = TUNNEL_PREFIX + PROTOCOL
STREAM_CREATION_TIMEOUT = 30.0  # the CRI streaming server's default StreamCreationTimeout
CLOSE_GRACE = 1.0  # containerd's portForward: once one direction ends, the other gets 1s
_READ = 32 * 1024


async def serve_portforward(request: web.Request, streams: PodStreams,
                            pod: Mapping[str, Any]) -> web.StreamResponse:
    """Serve GET/POST .../pods/<name>/portforward for an already resolved `pod`."""
    _check_ports(request)
    headers = request.headers
    upgrade = headers.get("Upgrade", "").lower()
    if "upgrade" not in headers.get("Connection", "").lower():
        raise errors.BadRequest("Upgrade request required")
    if upgrade == "websocket":
        return await _serve_tunnelled(request, _Forwarder(streams, pod))
    if "spdy/3.1" in upgrade:
        return await _serve_spdy(request, _Forwarder(streams, pod))
    raise errors.BadRequest(f"unable to upgrade: unsupported upgrade protocol {upgrade!r}")


def _check_ports(request: web.Request) -> None:
    # PortForwardOptions.ports: the SPDY protocol names its port per stream, so these are only
    # checked (the kubelet reads them for its websocket-only v4 protocol)
    for raw in request.query.getall("ports", []):
        for part in raw.split(","):
            try:
                port = int(part.strip())
            except ValueError:
                raise errors.BadRequest(f'unable to parse "{part}" as a port') from None
            if not 0 < port < 65536:
                raise errors.BadRequest(f'port "{part}" must be > 0 and < 65536')


def _plain_error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """An http.Error-style reply, as the upgrade handlers upstream write them."""
    return web.Response(status=status, text=message + "\n", headers=headers,
                        content_type="text/plain")


async def _serve_tunnelled(request: web.Request, fwd: _Forwarder) -> web.StreamResponse:
    # proxy/streamtunnel.go: only SPDY/3.1+ subprotocols ending in .k8s.io are tunnelling offers
    offered = [p.strip() for h in request.headers.getall("Sec-WebSocket-Protocol", [])
               for p in h.split(",") if p.strip()]
    spdy_offers = [p[len(TUNNEL_PREFIX):] for p in offered
                   if p.startswith(TUNNEL_PREFIX) and p.endswith(".k8s.io")]
    if not spdy_offers:
        return _plain_error(400, "unable to upgrade: no tunneling spdy protocols provided")
    if PROTOCOL not in spdy_offers:
        return _negotiation_failed(spdy_offers)
    ws = web.WebSocketResponse(protocols=(TUNNEL_PROTOCOL,), max_msg_size=0)
    await ws.prepare(request)
    session = spdy.SpdySession(ws.send_bytes, fwd.on_stream)
    fwd.session = session

    async def frames() -> None:
        async for msg in ws:
            # TunnelingConnection: anything but a binary message is an invalid tunnel
            if msg.type != WSMsgType.BINARY or not await session.feed(msg.data):
                return

    try:
        await _run(session, frames)
    finally:
        await fwd.stop()
        with contextlib.suppress(Exception):
            await ws.close()
    return ws


def _negotiation_failed(client: list[str]) -> web.Response:
    # httpstream.Handshake's answer when no protocol is shared
    return _plain_error(403, f"unable to upgrade: unable to negotiate protocol: client supports "
                             f"[{' '.join(client)}], server accepts [{PROTOCOL}]",
                        {"X-Accepted-Stream-Protocol-Versions": PROTOCOL})


async def _serve_spdy(request: web.Request, fwd: _Forwarder) -> web.StreamResponse:
    client = [p.strip() for h in request.headers.getall("X-Stream-Protocol-Version", [])
              for p in h.split(",") if p.strip()]
    if not client:
        return _plain_error(400, "unable to upgrade: X-Stream-Protocol-Version is required")
    if PROTOCOL not in client:
        return _negotiation_failed(client)
    transport = request.transport
    if transport is None:
        raise ConnectionResetError("the client went away")
    # aiohttp only knows websocket/tcp upgrades: from here on the connection's bytes go to this
    # feeder, not to the HTTP parser (set before the 101 goes out, so no early frame is missed)
    feeder = _RawFeeder(transport)
    request.protocol.set_parser(feeder)  # type: ignore[arg-type]
    resp = web.StreamResponse(status=101, reason="Switching Protocols", headers={
        "Connection": "Upgrade", "Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": PROTOCOL})
    await resp.prepare(request)
    session = spdy.SpdySession(resp.write, fwd.on_stream)
    fwd.session = session

    async def frames() -> None:
        while (data := await feeder.get()) is not None:
            if not await session.feed(data):
                return

    try:
        await _run(session, frames)
    finally:
        await fwd.stop()
        resp.force_close()
        transport.close()
    return resp


class _RawFeeder:
    """Stands in for aiohttp's payload parser on an upgraded connection; pauses the transport
    while too much is queued (the websocket variant gets this from aiohttp)."""

    _HIGH, _LOW = 64, 16  # queued chunks

    def __init__(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._inbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._paused = False

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self._inbox.put_nowait(bytes(data))
        if not self._paused and self._inbox.qsize() >= self._HIGH:
            self._paused = True
            self._transport.pause_reading()  # type: ignore[attr-defined]
        return False, b""

    def feed_eof(self) -> None:
        self._inbox.put_nowait(None)

    async def get(self) -> bytes | None:
        data = await self._inbox.get()
        if self._paused and self._inbox.qsize() <= self._LOW:
            self._paused = False
            with contextlib.suppress(Exception):  # the transport may be closing
                self._transport.resume_reading()  # type: ignore[attr-defined]
        return data


async def _run(session: spdy.SpdySession, frames: Callable[[], Awaitable[None]]) -> None:
    """Feed the session until the peer leaves (EOF, GOAWAY) or breaks the protocol."""
    try:
        await frames()
    except spdy.ProtocolError as exc:
        log.info("port-forward: closing a connection that broke SPDY: %s", exc)
        with contextlib.suppress(Exception):
            await session.goaway(spdy.GOAWAY_PROTOCOL_ERROR)
    except (ConnectionError, spdy.StreamClosed):
        pass
    finally:
        session.shutdown()


class _Pair:
    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.data: spdy.SpdyStream | None = None
        self.error: spdy.SpdyStream | None = None
        self.timer: asyncio.TimerHandle | None = None


class _Forwarder:
    """The kubelet's httpStreamHandler for one connection: pairs streams, forwards each pair."""

    def __init__(self, streams: PodStreams, pod: Mapping[str, Any]) -> None:
        self._streams, self._pod = streams, pod
        self.session: spdy.SpdySession | None = None
        self._pairs: dict[str, _Pair] = {}
        self._tasks: set[asyncio.Task] = set()
        # the CRI streaming server names the pod by its sandbox id and passes no uid
        self._pod_ref = pod.get("metadata", {}).get("uid", "")

    def on_stream(self, stream: spdy.SpdyStream) -> bool:
        """httpStreamReceived's checks, then pairing (httpStreamHandler.run)."""
        reason = _rejection(stream)
        if reason is not None:
            log.info("port-forward: stream rejected: %s", reason)
            return False
        rid = _request_id(stream)
        pair = self._pairs.get(rid)
        if pair is None:
            pair = self._pairs[rid] = _Pair(rid)
            pair.timer = asyncio.get_running_loop().call_later(
                STREAM_CREATION_TIMEOUT, self._timed_out, pair)
        kind = stream.header("streamType")
        if getattr(pair, kind) is not None:
            self._spawn(self._print_error(
                pair, f"error processing stream for request {rid}: {kind} stream already assigned"))
            return True
        setattr(pair, kind, stream)
        if pair.data is not None and pair.error is not None:
            self._forget(pair)
            self._spawn(self._forward(pair.data, pair.error))
        return True

    def _forget(self, pair: _Pair) -> None:
        if pair.timer is not None:
            pair.timer.cancel()
        if self._pairs.get(pair.request_id) is pair:
            del self._pairs[pair.request_id]

    def _timed_out(self, pair: _Pair) -> None:
        self._forget(pair)
        self._spawn(self._print_error(
            pair, f"(conn={id(self.session):#x}, request={pair.request_id}) timed out waiting "
                  f"for streams"))

    async def _print_error(self, pair: _Pair, message: str) -> None:
        if pair.error is not None:
            with contextlib.suppress(ConnectionError):
                await pair.error.write(message.encode())

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _forward(self, data: spdy.SpdyStream, error: spdy.SpdyStream) -> None:
        """httpStreamHandler.portForward + the runtime's PortForward: join the data stream to a
        connection to the pod's port; report failures on the error stream; then finish both."""
        port = int(data.header("port"))
        try:
            try:
                reader, writer = await self._streams.port_forward(self._pod, port)
            except Exception as exc:  # StatusError, OSError, or whatever the node hit
                msg = f"error forwarding port {port} to pod {self._pod_ref}, uid : {exc}"
                log.info("port-forward: %s", msg)
                await error.write(msg.encode())
                return
            try:
                await _pump(data, reader, writer)
            finally:
                writer.close()
        except (ConnectionError, spdy.StreamClosed):
            pass
        except Exception:  # one broken forward must not go unnoticed, nor end the others
            log.exception("port-forward to port %d failed", port)
        finally:
            with contextlib.suppress(ConnectionError, spdy.StreamClosed):
                await data.close()
                await error.close()

    async def stop(self) -> None:
        """The connection ended: stop every forward (closing their pod connections)."""
        for pair in list(self._pairs.values()):
            self._forget(pair)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _pump(data: spdy.SpdyStream, reader: asyncio.StreamReader,
                writer: asyncio.StreamWriter) -> None:
    async def to_pod() -> None:
        while chunk := await data.read():
            writer.write(chunk)
            await writer.drain()
        if not data.was_reset and writer.can_write_eof():
            writer.write_eof()  # pass the client's half-close on to the pod

    async def from_pod() -> None:
        while chunk := await reader.read(_READ):
            await data.write(chunk)
        await data.close()  # the pod hung up: tell the client now, not after the grace

    tasks = [asyncio.ensure_future(to_pod()), asyncio.ensure_future(from_pod())]
    try:
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if pending:
            await asyncio.wait(pending, timeout=CLOSE_GRACE)
    finally:
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, Exception) and not isinstance(
                result, (ConnectionError, spdy.StreamClosed)):
            raise result


def _rejection(stream: spdy.SpdyStream) -> str | None:
    """httpStreamReceived: a valid port and stream type are required."""
    port = stream.header("port")
    if not port:
        return '"port" header is required'
    if not port.isdigit() or int(port) > 65535:
        return f'unable to parse "{port}" as a port'
    if int(port) < 1:
        return f'port "{port}" must be > 0'
    kind = stream.header("streamType")
    if not kind:
        return '"streamType" header is required'
    if kind not in ("error", "data"):
        return f'invalid stream type "{kind}"'
    return None


def _request_id(stream: spdy.SpdyStream) -> str:
    """The stream's requestID; clients too old to send one get the kubelet's guess from ids."""
    rid = stream.header("requestID")
    if rid:
        return rid
    offset = 0 if stream.header("streamType") == "error" else 2
    return str(stream.id - offset)
