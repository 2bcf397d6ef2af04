"""Pod IPAM (kubeproc/agent/network/ipam.py) and the instance naming of NetworkConfig:
gateway first, round-robin allocation, idempotence per pod uid, exhaustion as a typed error,
persistence across restarts, and kernel-name limits."""

from __future__ import annotations

import ipaddress
import json
import os

import pytest

from kubeproc.agent import podns
from kubeproc.agent.network import NetworkConfig
from kubeproc.agent.network.ipam import Ipam, IpamExhausted, gateway_of, next_free

A = ipaddress.IPv4Address
N = ipaddress.IPv4Network


@pytest.mark.parametrize(
    "cidr, used, last, want",
    [
        ("10.244.0.0/24", [], None, "10.244.0.2"),
        ("10.244.0.0/24", ["10.244.0.2"], "10.244.0.2", "10.244.0.3"),
        ("10.244.0.0/24", ["10.244.0.3"], "10.244.0.2", "10.244.0.4"),
        ("10.244.0.0/24", [], "10.244.0.9", "10.244.0.10"),
        ("10.244.0.0/24", ["10.244.0.2"], "10.244.0.254", "10.244.0.3"),
        ("10.244.0.0/24", [], "10.0.0.7", "10.244.0.2"),
        ("10.244.0.0/30", [], None, "10.244.0.2"),
        ("10.244.0.0/29", ["10.244.0.2", "10.244.0.3", "10.244.0.5", "10.244.0.6"], "10.244.0.3", "10.244.0.4"),
    ],
    ids=[
        "first-pod-gets-second-address",
        "next-after-last",
        "skips-used",
        "round-robin-not-lowest-free",
        "wraps-after-last-host-never-broadcast",
        "last-outside-range-restarts",
        "slash30-has-one-pod-address",
        "finds-the-only-hole",
    ],
)
def test_next_free(cidr: str, used: list[str], last: str | None, want: str) -> None:
    assert next_free(N(cidr), [A(u) for u in used], A(last) if last else None) == A(want)


@pytest.mark.parametrize(
    "cidr, used",
    [("10.244.0.0/30", ["10.244.0.2"]), ("10.244.0.0/29", [f"10.244.0.{i}" for i in range(2, 7)])],
    ids=["slash30-full", "slash29-full"],
)
def test_next_free_exhausted(cidr: str, used: list[str]) -> None:
    with pytest.raises(IpamExhausted, match=cidr.replace(".", r"\.")):
        next_free(N(cidr), [A(u) for u in used], None)


@pytest.mark.parametrize(
    "cidr, want", [("10.244.0.0/24", "10.244.0.1"), ("10.250.8.0/22", "10.250.8.1")], ids=["slash24", "slash22"]
)
def test_gateway_is_first_address(cidr: str, want: str) -> None:
    assert gateway_of(N(cidr)) == A(want)


@pytest.mark.parametrize(
    "cidr", ["10.244.0.0/31", "10.244.0.1/24", "fd00::/64", "nonsense"],
    ids=["too-small", "host-bits-set", "ipv6", "not-a-cidr"],
)
def test_bad_cidr_rejected(cidr: str) -> None:
    with pytest.raises(ValueError):
        Ipam(cidr, None)


def test_allocate_is_idempotent_and_release_frees(tmp_path) -> None:
    ipam = Ipam("10.244.0.0/29", str(tmp_path / "ipam.json"))
    assert [ipam.allocate(u) for u in ("a", "b", "a")] == [A("10.244.0.2"), A("10.244.0.3"), A("10.244.0.2")]
    ipam.release("a")
    ipam.release("missing")  # no-op
    assert ipam.get("a") is None and dict(ipam.allocations()) == {"b": A("10.244.0.3")}
    assert ipam.allocate("c") == A("10.244.0.4")  # round-robin: .2 is not reused at once


def test_allocations_survive_a_restart(tmp_path) -> None:
    path = str(tmp_path / "sub" / "ipam.json")
    first = Ipam("10.244.0.0/24", path)
    first.allocate("a"), first.allocate("b"), first.allocate("c")
    first.release("b")
    on_disk = json.loads(open(path).read())
    assert on_disk == {"cidr": "10.244.0.0/24", "last": "10.244.0.4",
                       "allocations": {"a": "10.244.0.2", "c": "10.244.0.4"}}
    again = Ipam("10.244.0.0/24", path)
    assert dict(again.allocations()) == {"a": A("10.244.0.2"), "c": A("10.244.0.4")}
    assert again.allocate("d") == A("10.244.0.5")
    assert [n for n in os.listdir(tmp_path / "sub")] == ["ipam.json"]  # no temp files left


@pytest.mark.parametrize(
    "content", ["{not json", json.dumps({"cidr": "10.9.0.0/24", "allocations": {"a": "10.9.0.2"}})],
    ids=["torn-file-starts-empty", "changed-cidr-drops-old-allocations"],
)
def test_unusable_state_file_starts_empty(tmp_path, content: str) -> None:
    path = tmp_path / "ipam.json"
    path.write_text(content)
    ipam = Ipam("10.244.0.0/24", str(path))
    assert dict(ipam.allocations()) == {} and ipam.allocate("a") == A("10.244.0.2")


def test_exhaustion_persists_nothing(tmp_path) -> None:
    ipam = Ipam("10.244.0.0/30", str(tmp_path / "ipam.json"))
    ipam.allocate("a")
    with pytest.raises(IpamExhausted):
        ipam.allocate("b")
    assert dict(Ipam("10.244.0.0/30", str(tmp_path / "ipam.json")).allocations()) == {"a": A("10.244.0.2")}


def test_release_all_removes_the_file(tmp_path) -> None:
    path = tmp_path / "ipam.json"
    ipam = Ipam("10.244.0.0/24", str(path))
    ipam.allocate("a")
    ipam.release_all()
    assert not path.exists() and dict(ipam.allocations()) == {}


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"instance": "Upper"}, "instance tag"),
        ({"instance": "toolongtag"}, "instance tag"),
        ({"pod_cidr": "10.0.0.0/31"}, "prefix length"),
        ({"bridge": "a-name-longer-than-15"}, "bridge name"),
    ],
    ids=["tag-lowercase", "tag-max-8", "cidr-too-small", "bridge-max-15-chars"],
)
def test_config_rejects(kwargs: dict[str, str], error: str) -> None:
    args = {"instance": "abc123", "pod_cidr": "10.244.0.0/24", "state_dir": "/tmp/x", **kwargs}
    with pytest.raises(ValueError, match=error):
        NetworkConfig(**args)


def test_config_names_fit_kernel_limits_and_differ_per_instance(tmp_path) -> None:
    one = NetworkConfig.for_data_dir(str(tmp_path / "one"))
    two = NetworkConfig.for_data_dir(str(tmp_path / "two"))
    uid = "0f3c9a7e-1b2d-4c5e-8f90-123456789abc"
    assert one.bridge == f"kp{one.instance}0" and len(one.bridge) <= 15
    assert len(one.veth_name(uid)) == 15 and one.veth_name(uid).startswith("veth")
    assert podns.key(uid, "net") == uid + ".net"
    assert one.ipam_path == str(tmp_path / "one" / "network" / "ipam.json")
    assert (one.bridge, one.veth_name(uid)) != (two.bridge, two.veth_name(uid))
    assert one == NetworkConfig.for_data_dir(str(tmp_path / "one"))  # deterministic
    assert one.network.prefixlen == 24 and str(one.network).startswith("10.244.")


@pytest.mark.parametrize("uid", ["", "../etc", "a/b", ".hidden", "a b", "a=1", "a\0b", "a\nb"],
                         ids=["empty", "dotdot", "slash", "dot", "space", "equals", "nul", "newline"])
def test_namespace_keys_refuse_uids_that_would_break_the_monitor_protocol(uid: str) -> None:
    with pytest.raises(ValueError):
        podns.key(uid, "net")


def test_fake_network_satisfies_the_protocol_contract() -> None:
    from kubeproc.agent.network import Network
    from kubeproc.testing.fake_network import FakeNetwork

    fake = FakeNetwork("10.244.0.0/30")
    net: Network = fake
    a = net.setup_pod("a", "/proc/1/fd/3")
    assert net.setup_pod("a", "/proc/1/fd/3") == a and a.ip == "10.244.0.2" and a.gateway == "10.244.0.1"
    with pytest.raises(IpamExhausted):
        net.setup_pod("b", "/proc/1/fd/4")
    net.teardown_pod("a")
    net.teardown_pod("a")
    assert net.list_pods() == {} and net.setup_pod("b", "/proc/1/fd/4").ip == "10.244.0.2"
