"""The endpoints of the `kube-system/kube-dns` Service: the node's DNS server.

In a cluster they are CoreDNS pods; here the server runs inside kubeproc on the bridge's gateway
address, so the node writes one EndpointSlice (and the legacy Endpoints) naming that address.
The Service proxy then sends the kube-dns ClusterIP (what pods' resolv.conf names) there.
"""

from __future__ import annotations

from typing import Any

from kubeproc.api import errors, resources
from kubeproc.client.local import LocalClient

NAMESPACE, SERVICE = "kube-system", "kube-dns"
SLICE_NAME = "kube-dns-node"
MANAGED_BY = "kubeproc-cluster-dns"
PORTS = (("dns", "UDP"), ("dns-tcp", "TCP"))


def endpoint_slice(ip: str, node_name: str, port: int) -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": SLICE_NAME, "namespace": NAMESPACE,
                         "labels": {"kubernetes.io/service-name": SERVICE,
                                    "endpointslice.kubernetes.io/managed-by": MANAGED_BY}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [ip], "nodeName": node_name,
                           "conditions": {"ready": True, "serving": True, "terminating": False}}],
            "ports": [{"name": n, "protocol": p, "port": port} for n, p in PORTS]}


def endpoints(ip: str, node_name: str, port: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": SERVICE, "namespace": NAMESPACE, "labels": {"k8s-app": "kube-dns"}},
            "subsets": [{"addresses": [{"ip": ip, "nodeName": node_name}],
                         "ports": [{"name": n, "protocol": p, "port": port} for n, p in PORTS]}]}


async def publish(client: LocalClient, ip: str, node_name: str, port: int = 53) -> None:
    """Create or replace both objects (the address may change with the pod CIDR)."""
    for group, kind, obj in (("discovery.k8s.io", "EndpointSlice", endpoint_slice(ip, node_name, port)),
                             ("", "Endpoints", endpoints(ip, node_name, port))):
        res = resources.by_kind(group, kind)
        assert res is not None
        if client.get(res, NAMESPACE, obj["metadata"]["name"]) is None:
            try:
                await client.create(res, obj)
                continue
            except errors.AlreadyExists:
                pass

        def replace(old: dict[str, Any], new: dict[str, Any] = obj) -> dict[str, Any]:
            return {**new, "metadata": {**old["metadata"], "labels": new["metadata"]["labels"]}}
        await client.mutate(res, NAMESPACE, obj["metadata"]["name"], replace)


def cluster_ip(client: LocalClient) -> str:
    """The kube-dns Service's ClusterIP, "" when there is none."""
    res = resources.by_kind("", "Service")
    assert res is not None
    svc = client.get(res, NAMESPACE, SERVICE) or {}
    ip = (svc.get("spec") or {}).get("clusterIP") or ""
    return "" if ip == "None" else ip
