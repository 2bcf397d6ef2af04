"""gRPC probes: one `grpc.health.v1.Health/Check` call over plaintext HTTP/2 (the h2 library).

Ports pkg/probe/grpc/grpc.go: connect (retrying until the timeout, as grpc-go's blocking dial
does), send HealthCheckRequest{service}, and map the outcome to the kubelet's result texts:
"service healthy"; "service unhealthy (responded with "NOT_SERVING")"; Unimplemented, deadline
and other RPC errors; connection timeouts. The two protobuf messages have one field each, so
they are encoded here by hand.
"""

from __future__ import annotations

import asyncio
import struct
import time
import urllib.parse

import h2.config
import h2.connection
import h2.events

PATH = "/grpc.health.v1.Health/Check"
STATUS_NAMES = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}
# google.golang.org/grpc/codes String(): the names grpc-go prints in "rpc error: code = ..."
CODE_NAMES = {0: "OK", 1: "Canceled", 2: "Unknown", 3: "InvalidArgument", 4: "DeadlineExceeded",
              5: "NotFound", 6: "AlreadyExists", 7: "PermissionDenied", 8: "ResourceExhausted",
              9: "FailedPrecondition", 10: "Aborted", 11: "OutOfRange", 12: "Unimplemented",
              13: "Internal", 14: "Unavailable", 15: "DataLoss", 16: "Unauthenticated"}


def go_duration(seconds: float) -> str:
    """time.Duration's String() for whole seconds and milliseconds ("1s", "1.5s", "500ms")."""
    if seconds >= 1:
        return f"{seconds:g}s"
    return f"{seconds * 1000:g}ms"


def encode_request(service: str) -> bytes:
    """A length-prefixed gRPC message holding HealthCheckRequest{service: 1}."""
    raw = service.encode()
    body = b"" if not raw else b"\x0a" + _varint(len(raw)) + raw
    return b"\x00" + struct.pack(">I", len(body)) + body


def decode_status(payload: bytes) -> int:
    """HealthCheckResponse.status (field 1, varint) from a gRPC message; 0 if absent."""
    if len(payload) < 5:
        raise ValueError("short gRPC message")
    (length,) = struct.unpack(">I", payload[1:5])
    msg, i, status = payload[5:5 + length], 0, 0
    while i < len(msg):
        key, i = _read_varint(msg, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(msg, i)
            if field == 1:
                status = value
        elif wire == 2:
            n, i = _read_varint(msg, i)
            i += n
        else:
            raise ValueError(f"unexpected wire type {wire}")
    return status


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


async def probe(host: str, port: int, service: str, timeout: float, version: str = "1.33") -> tuple[bool, str]:
    """(healthy, the kubelet's message) for one gRPC health check within `timeout` seconds."""
    addr = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    deadline = time.monotonic() + timeout
    writer = None
    try:
        while True:  # grpc.WithBlock(): keep dialling until connected or out of time
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port),
                                                        max(0.001, deadline - time.monotonic()))
                break
            except (OSError, asyncio.TimeoutError):
                if time.monotonic() >= deadline:
                    return False, (f"timeout: failed to connect service {addr!r} within "
                                   f"{go_duration(timeout)}: context deadline exceeded").replace("'", '"')
                await asyncio.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        try:
            return await asyncio.wait_for(_call(reader, writer, addr, service, version),
                                          max(0.001, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            return False, f"timeout: health rpc did not complete within {go_duration(timeout)}"
    finally:
        if writer is not None:
            writer.close()


async def _call(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, addr: str, service: str,
                version: str) -> tuple[bool, str]:
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, [(":method", "POST"), (":scheme", "http"), (":path", PATH),
                            (":authority", addr), ("content-type", "application/grpc"), ("te", "trailers"),
                            ("user-agent", f"kube-probe/{version}")])
    conn.send_data(sid, encode_request(service), end_stream=True)
    writer.write(conn.data_to_send())
    await writer.drain()
    headers: dict[str, str] = {}
    body = bytearray()
    while True:
        data = await reader.read(65536)
        if not data:
            return False, "error: health rpc probe failed: rpc error: code = Unavailable desc = connection closed"
        for ev in conn.receive_data(data):
            if isinstance(ev, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
                headers.update({k: v for k, v in ev.headers})
            elif isinstance(ev, h2.events.DataReceived):
                body += ev.data
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamReset):
                return False, "error: health rpc probe failed: rpc error: code = Internal desc = stream reset"
            elif isinstance(ev, h2.events.StreamEnded):
                return _result(headers, bytes(body))
        pending = conn.data_to_send()
        if pending:
            writer.write(pending)
            await writer.drain()


def _result(headers: dict[str, str], body: bytes) -> tuple[bool, str]:
    code = int(headers.get("grpc-status", "2" if headers.get(":status") != "200" else "0"))
    if code != 0:
        message = urllib.parse.unquote(headers.get("grpc-message", ""))  # percent-encoded on the wire
        if code == 12:
            return False, ("error: this server does not implement the grpc health protocol "
                           f"(grpc.health.v1.Health): {message}")
        if code == 4:
            return False, "error: health rpc probe failed: rpc error: code = DeadlineExceeded desc = " + message
        return False, f"error: health rpc probe failed: rpc error: code = {CODE_NAMES.get(code, code)} desc = {message}"
    status = decode_status(body)
    if status != 1:
        return False, f'service unhealthy (responded with "{STATUS_NAMES.get(status, status)}")'
    return True, "service healthy"
