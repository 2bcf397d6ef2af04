"""In-memory `Network` for unit and component tests of the agent: real IPAM, no kernel.

Behaves like `LinuxNetwork` as seen through the protocol (idempotent setup, no-op teardown of
a missing pod, typed exhaustion error) and records the calls so tests can assert on them.
"""

from __future__ import annotations

from kubeproc.agent.network import NetworkConfig, PodNetwork
from kubeproc.agent.network.ipam import Ipam


class FakeNetwork:
    def __init__(self, pod_cidr: str = "10.244.0.0/24", instance: str = "fake") -> None:
        self.config = NetworkConfig(instance=instance, pod_cidr=pod_cidr, state_dir="/nonexistent")
        self.ipam = Ipam(pod_cidr, None)
        self.bridge_up = False
        self.pods: dict[str, PodNetwork] = {}
        self.calls: list[tuple[str, str]] = []

    def ensure_bridge(self) -> None:
        self.calls.append(("ensure_bridge", ""))
        self.bridge_up = True

    def setup_pod(self, pod_uid: str, netns_path: str) -> PodNetwork:
        self.calls.append(("setup_pod", pod_uid))
        if pod_uid not in self.pods:
            ip = self.ipam.allocate(pod_uid)
            self.pods[pod_uid] = PodNetwork(
                pod_uid=pod_uid, netns_path=netns_path, ip=str(ip),
                prefixlen=self.config.network.prefixlen, gateway=str(self.ipam.gateway),
                veth_host=self.config.veth_name(pod_uid),
            )
        return self.pods[pod_uid]

    def setup_pod_here(self, pod_uid: str) -> PodNetwork:
        return self.setup_pod(pod_uid, "")

    def teardown_pod(self, pod_uid: str) -> None:
        self.calls.append(("teardown_pod", pod_uid))
        self.pods.pop(pod_uid, None)
        self.ipam.release(pod_uid)

    def list_pods(self) -> dict[str, PodNetwork]:
        return dict(sorted(self.pods.items()))

    def teardown_all(self) -> None:
        self.calls.append(("teardown_all", ""))
        self.pods.clear()
        self.ipam.release_all()
        self.bridge_up = False
