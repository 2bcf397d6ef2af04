"""gRPC probes (pkg/probe/grpc/grpc.go): the wire encoding, and the outcomes against a real
gRPC server (grpcio with the standard health servicer) in this process."""

from __future__ import annotations

import asyncio
import socket

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from kubeproc.agent import grpcprobe


@pytest.mark.parametrize("service,wire", [
    ("", b"\x00\x00\x00\x00\x00"),
    ("db", b"\x00\x00\x00\x00\x04\x0a\x02db"),
], ids=["empty-service-empty-message", "service-field-1"])
def test_encode_request(service: str, wire: bytes) -> None:
    assert grpcprobe.encode_request(service) == wire
    # the official message decodes it the same way
    assert health_pb2.HealthCheckRequest.FromString(wire[5:]).service == service


@pytest.mark.parametrize("status", [0, 1, 2, 3])
def test_decode_status_matches_protobuf(status: int) -> None:
    body = health_pb2.HealthCheckResponse(status=status).SerializeToString()
    assert grpcprobe.decode_status(b"\x00" + len(body).to_bytes(4, "big") + body) == status


@pytest.mark.parametrize("seconds,text", [(1, "1s"), (10, "10s"), (1.5, "1.5s"), (0.5, "500ms")])
def test_go_duration(seconds: float, text: str) -> None:
    assert grpcprobe.go_duration(seconds) == text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _serve(port: int, statuses: dict[str, int] | None):
    server = grpc.aio.server()
    if statuses is not None:
        servicer = health.aio.HealthServicer()
        for name, st in statuses.items():
            await servicer.set(name, st)
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return server


@pytest.mark.parametrize("statuses,service,ok,text", [
    ({"": 1}, "", True, "service healthy"),
    ({"db": 1}, "db", True, "service healthy"),
    ({"": 2}, "", False, 'service unhealthy (responded with "NOT_SERVING")'),
    # (grpcio's servicer sends NOT_FOUND without a message; grpc-go's says "unknown service")
    ({"": 1}, "nope", False, "error: health rpc probe failed: rpc error: code = NotFound desc = "),
    (None, "", False, "error: this server does not implement the grpc health protocol "
                      "(grpc.health.v1.Health): Method not found!"),
], ids=["serving", "named-service", "not-serving", "unknown-service", "no-health-service"])
def test_probe_against_a_real_grpc_server(statuses, service, ok, text) -> None:
    async def run():
        port = _free_port()
        server = await _serve(port, statuses)
        try:
            return await grpcprobe.probe("127.0.0.1", port, service, 2.0)
        finally:
            await server.stop(None)
    assert asyncio.run(run()) == (ok, text)


def test_probe_of_a_closed_port_times_out_dialling() -> None:
    port = _free_port()
    ok, text = asyncio.run(grpcprobe.probe("127.0.0.1", port, "", 0.5))
    assert not ok and text == f'timeout: failed to connect service "127.0.0.1:{port}" within 500ms: context deadline exceeded'


def test_probe_of_a_silent_server_times_out_the_rpc() -> None:
    async def run():
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            return await grpcprobe.probe("127.0.0.1", port, "", 0.5)
        finally:
            server.close()
    assert asyncio.run(run()) == (False, "timeout: health rpc did not complete within 500ms")
