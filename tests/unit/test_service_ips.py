"""ClusterIP allocation on Service create (storage alloc.go + ipallocator), through the registry."""

from __future__ import annotations

import ipaddress
import random

import pytest

from kubeproc.api import errors, resources
from kubeproc.registry.serviceips import ServiceIPs
from tests.unit.service_registry import create, running_registry

SVC = resources.by_kind("", "Service")


def _svc(name: str, **spec) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "d"},
            "spec": {"ports": [{"port": 80}], **spec}}


@pytest.fixture
def reg(tmp_path):
    yield from running_registry(str(tmp_path / "db"))


_create = create


def test_allocates_from_the_upper_band_and_never_twice(reg):
    ips = {_create(reg, _svc(f"s{i}"))["spec"]["clusterIP"] for i in range(50)}
    assert len(ips) == 50
    for ip in ips:
        addr = ipaddress.ip_address(ip)
        assert addr in ipaddress.ip_network("10.96.0.0/16") and int(addr) - int(ipaddress.ip_address("10.96.0.0")) > 256


@pytest.mark.parametrize("spec,want", [
    ({"clusterIP": "None"}, "None"),
    ({"type": "ExternalName", "externalName": "example.com"}, None),
    ({"clusterIP": "10.96.0.10"}, "10.96.0.10"),
], ids=["headless", "external-name", "asked-for"])
def test_special_cases(reg, spec, want):
    assert _create(reg, _svc("x", **spec))["spec"].get("clusterIP") == want


@pytest.mark.parametrize("ip,msg", [
    ("10.97.0.1", "is not in the valid range. The range of valid IPs is 10.96.0.0/16"),
    ("10.96.0.10", "provided IP is already allocated"),
], ids=["out-of-range", "taken"])
def test_refusals_are_422_with_the_field(reg, ip, msg):
    _create(reg, _svc("dns", clusterIP="10.96.0.10"))
    with pytest.raises(errors.Invalid) as e:
        _create(reg, _svc("other", clusterIP=ip))
    assert e.value.code == 422 and msg in str(e.value)
    assert f'spec.clusterIPs: Invalid value: []string{{"{ip}"}}' in str(e.value)


def test_pick_falls_back_to_the_lower_band_when_the_upper_is_full():
    ips = ServiceIPs("10.0.0.0/28", rand=random.Random(1))  # 14 usable, static band 16 -> all "lower"
    got = set()
    for i in range(14):
        spec: dict = {}
        ips.allocate(f"s{i}", spec, got)
        got.add(spec["clusterIP"])
    assert len(got) == 14
    with pytest.raises(errors.StatusError):
        ips.allocate("full", {}, got)
