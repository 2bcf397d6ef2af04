"""`kubeproc up` refuses, with one sentence and before touching the host, a pod or service CIDR
that another interface routes (another instance, or the bridge a killed one left): otherwise the
host would send pod traffic to the wrong interface and every probe would fail silently."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import uuid

import pytest

from kubeproc.testing.instance import Instance, free_pod_cidr, free_port, free_service_cidr

from .conftest import AGENT_ARGS, leftovers


@pytest.mark.parametrize("flag, message", [
    ("--pod-cidr", "the pod CIDR {cidr} overlaps {cidr}, routed to {link}"),
    ("--service-cidr", "the service CIDR {cidr} is already routed to {link}"),
], ids=["pod-cidr-overlaps-a-route", "service-cidr-already-routed"])
def test_refuses_a_cidr_routed_elsewhere(tmp_path, flag: str, message: str) -> None:
    cidr = free_pod_cidr() if flag == "--pod-cidr" else free_service_cidr()
    net = ipaddress.ip_network(cidr)
    link = "kpt" + uuid.uuid4().hex[:8]
    subprocess.run(["ip", "link", "add", link, "type", "bridge"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", f"{net[1]}/{net.prefixlen}", "dev", link], check=True)
        subprocess.run(["ip", "link", "set", link, "up"], check=True)
        inst = Instance(str(tmp_path / "data"), free_port(), extra_args=AGENT_ARGS + (flag, cidr))
        with pytest.raises(RuntimeError, match="kubeproc exited"):
            inst.start()
        with open(os.path.join(inst.data_dir, "test-server.log")) as f:
            log = f.read()
        assert message.format(cidr=cidr, link=link) in log
        assert not leftovers(inst.data_dir)  # refused before making a bridge, table or netns
    finally:
        subprocess.run(["ip", "link", "del", link], check=False)
