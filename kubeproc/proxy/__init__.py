"""The node's Service proxy: Service virtual IPs and NodePorts forwarded by nftables.

As kube-proxy's nftables mode (pkg/proxy/nftables): `model.py` turns Services and
EndpointSlices into service ports (pure), `rules.py` turns those into the instance's own
nftables table and the changes between two states (pure), `nft.py` applies a script through
libnftables in one atomic transaction, `hostnet.py` owns the host settings the proxy needs
(service CIDR route, forwarding on the bridge), and `proxier.py` is the loop that follows the API.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass


@dataclass(frozen=True)
class ProxyConfig:
    """What names and bounds one instance's rules: the nftables table (`kubeproc-<instance>`),
    the pod CIDR (traffic from outside it to a ClusterIP is masqueraded, as kube-proxy's
    --cluster-cidr), the bridge (pods' egress leaves through other interfaces masqueraded), the
    service CIDR (routed to the bridge so the host reaches ClusterIPs) and the node name (an
    endpoint is local when its nodeName is this)."""

    instance: str
    pod_cidr: str
    bridge: str
    service_cidr: str
    node_name: str
    bridge_nf: bool = True  # bridged traffic passes the host's netfilter hooks (br_netfilter)

    @property
    def table(self) -> str:
        return f"kubeproc-{self.instance}"

    @property
    def gateway(self) -> str:
        return str(next(ipaddress.ip_network(self.pod_cidr).hosts()))
