"""gRPC probes on a real pod: a gRPC health server (grpcio) in the container; the readiness probe
passes while it serves and the liveness probe of an unknown service fails with the kubelet's
message and restarts the container."""

from __future__ import annotations

import json
import os
import sys

from tests.node.conftest import apply, container_status, get_pod, wait_for

# The container runs the host's python3 with this test environment's packages (grpcio) mounted
# from the host (a pod sees the host's root filesystem, not the mount this repository is on).
SITE = next(p for p in sys.path if p.endswith("site-packages") and "grpc" in os.listdir(p))
SERVER = """
import asyncio, grpc
from grpc_health.v1 import health, health_pb2_grpc
async def main():
    server = grpc.aio.server()
    servicer = health.aio.HealthServicer()
    await servicer.set("", 1)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    server.add_insecure_port("0.0.0.0:50051")
    await server.start()
    await server.wait_for_termination()
asyncio.run(main())
"""


def _pod(name: str, probe_kind: str, service: str) -> dict:
    grpc_action = {"port": 50051, **({"service": service} if service else {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {
        "terminationGracePeriodSeconds": 1,
        "volumes": [{"name": "site", "hostPath": {"path": SITE, "type": "Directory"}}],
        "containers": [{"name": "c", "image": "python", "command": ["python3", "-c", SERVER],
                        "env": [{"name": "PYTHONPATH", "value": "/site"}],
                        "volumeMounts": [{"name": "site", "mountPath": "/site", "readOnly": True}],
                        probe_kind: {"grpc": grpc_action, "periodSeconds": 1, "failureThreshold": 1,
                                     "timeoutSeconds": 1}}]}}


def test_grpc_readiness_probe_makes_the_pod_ready(node, ns):
    apply(node, ns, _pod("g", "readinessProbe", ""))
    wait_for(lambda: container_status(get_pod(node, ns, "g"), "c").get("ready"), 60, "the gRPC-probed pod Ready")


def test_grpc_liveness_probe_of_an_unknown_service_restarts(node, ns):
    apply(node, ns, _pod("u", "livenessProbe", "nope"))

    def unhealthy():
        events = json.loads(node.kubectl("get", "events", "-n", ns, "-o", "json").stdout)["items"]
        return [e["message"] for e in events if e["reason"] == "Unhealthy"
                and e["involvedObject"]["name"] == "u"]
    msgs = wait_for(unhealthy, 60, "an Unhealthy event")
    assert msgs[0].startswith("Liveness probe failed: error: health rpc probe failed: rpc error: code = NotFound"), msgs
    wait_for(lambda: container_status(get_pod(node, ns, "u"), "c").get("restartCount", 0) >= 1, 60, "a restart")
