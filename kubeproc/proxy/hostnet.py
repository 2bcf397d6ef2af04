"""Host settings the Service proxy needs, all tied to the instance bridge so they go with it.

- An interface `kp<instance>svc` holding the route of the service CIDR (source: the bridge's
  gateway address), as kube-proxy's IPVS mode has the dummy kube-ipvs0 (it is an empty bridge:
  this kernel may lack the dummy driver; a bridge without ports works the same): the host reaches
  ClusterIPs without relying on a default route, and a pod's packet to a ClusterIP leaves by
  another interface than it came in, so the host sends no ICMP redirect (whose rate limit would
  also swallow the port-unreachable that refuses a connection to a Service without endpoints).
- IPv4 forwarding (`net.ipv4.ip_forward`, which kubeadm requires and Docker sets): pods reach
  Services through the bridge, and the replies to their masqueraded connections to the outside
  world arrive on the host's other interfaces. If kubeproc turned it on, the last instance to
  stop turns it off again (`FORWARD_RECORD` notes that it was off).
- Whether bridged traffic passes netfilter (br_netfilter's `bridge-nf-call-iptables`), which
  decides how pod-to-Service traffic between two pods of the bridge gets its replies un-DNATed.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os

from pyroute2 import IPRoute

BRIDGE_NF = "/proc/sys/net/bridge/bridge-nf-call-iptables"
IP_FORWARD = "/proc/sys/net/ipv4/ip_forward"
FORWARD_RECORD = "/run/kubeproc/ip_forward.was-off"  # shared by every instance on the host


class HostNetError(Exception):
    """A host setting could not be applied; the message names it."""


def dummy_name(bridge: str) -> str:
    """`kp<instance>svc` for the bridge `kp<instance>0`."""
    return bridge[:-1] + "svc" if bridge.endswith("0") else bridge[:12] + "svc"


def _routes_elsewhere(ours: str) -> list[tuple[ipaddress.IPv4Network, str]]:
    """(destination, interface name) of the host's IPv4 routes, the default route and those
    through the interface `ours` left out."""
    out = []
    with IPRoute() as ipr:
        for route in ipr.get_routes(family=2):
            dst, length = route.get_attr("RTA_DST"), route["dst_len"]
            if not dst or not length:  # the default route
                continue
            oif = route.get_attr("RTA_OIF")
            links = ipr.get_links(oif) if oif else []
            name = links[0].get_attr("IFLA_IFNAME") if links else str(oif)
            if name != ours:
                out.append((ipaddress.ip_network(f"{dst}/{length}", strict=False), name))
    return out


def check_free(bridge: str, service_cidr: str) -> None:
    """Raise when an interface other than ours routes the service CIDR (another instance)."""
    services = ipaddress.ip_network(service_cidr, strict=False)
    for net, name in _routes_elsewhere(dummy_name(bridge)):
        if net == services:
            raise HostNetError(f"the service CIDR {service_cidr} is already routed to {name} "
                               "(another kubeproc instance?): pass --service-cidr with another range")


def check_pod_cidr_free(bridge: str, pod_cidr: str) -> None:
    """Raise when a route on an interface other than our bridge overlaps the pod CIDR (another
    instance, or the leftover bridge of a killed one): pods would be unreachable from the host,
    and every probe would fail, with nothing saying why."""
    pods = ipaddress.ip_network(pod_cidr, strict=False)
    for net, name in _routes_elsewhere(bridge):
        if net.overlaps(pods):
            raise HostNetError(
                f"the pod CIDR {pod_cidr} overlaps {net}, routed to {name} (another "
                f"kubeproc instance, or what a killed one left: `kubeproc down` with its data "
                f"dir, or `ip link del {name}`): pass --pod-cidr with another range")


def ensure(bridge: str, service_cidr: str, gateway: str) -> None:
    """The holder interface with the service CIDR route, and forwarding on the bridge; idempotent. Refuses
    when another interface already routes the service CIDR (another instance uses it)."""
    path = f"/proc/sys/net/ipv4/conf/{bridge}/forwarding"
    try:
        with open(path, "w") as f:
            f.write("1")
    except OSError as e:
        raise HostNetError(f"enabling forwarding on {bridge} ({path}): {e}") from e
    dummy = dummy_name(bridge)
    with IPRoute() as ipr:
        try:
            if not ipr.link_lookup(ifname=dummy):
                ipr.link("add", ifname=dummy, kind="bridge")
            index = ipr.link_lookup(ifname=dummy)[0]
            ipr.link("set", index=index, state="up")
            check_free(bridge, service_cidr)
            ipr.route("replace", dst=service_cidr, oif=index, prefsrc=gateway, scope=253)  # link
        except HostNetError:
            raise
        except Exception as e:  # pyroute2 NetlinkError
            raise HostNetError(f"routing {service_cidr} through {dummy}: {e}") from e


def remove(bridge: str) -> None:
    """Delete the holder interface (its route goes with it)."""
    with IPRoute() as ipr:
        links = ipr.link_lookup(ifname=dummy_name(bridge))
        if links:
            try:
                ipr.link("del", index=links[0])
            except Exception as e:
                if getattr(e, "code", None) != errno.ENODEV:
                    raise HostNetError(f"removing {dummy_name(bridge)}: {e}") from e


def bridge_netfilter() -> bool:
    """True when bridged IPv4 traffic passes netfilter; turns it on when br_netfilter is loaded
    but off (as kubeadm's preflight requires it on)."""
    try:
        with open(BRIDGE_NF) as f:
            if f.read().strip() == "1":
                return True
        with open(BRIDGE_NF, "w") as f:
            f.write("1")
        return True
    except OSError:
        return os.path.exists(BRIDGE_NF) and open(BRIDGE_NF).read().strip() == "1"


def enable_forwarding(record: str = FORWARD_RECORD) -> None:
    """Turn IPv4 forwarding on; if it was off, note that in `record` so it can be restored."""
    try:
        with open(IP_FORWARD) as f:
            if f.read().strip() == "1":
                return
        os.makedirs(os.path.dirname(record), exist_ok=True)
        with open(record, "w") as f:
            json.dump({"ip_forward": "0"}, f)
        with open(IP_FORWARD, "w") as f:
            f.write("1")
    except OSError as e:
        raise HostNetError(f"enabling IPv4 forwarding ({IP_FORWARD}): {e}") from e


def restore_forwarding(others_running: bool, record: str = FORWARD_RECORD) -> None:
    """Put forwarding back off if kubeproc turned it on, unless another instance still runs
    (then the last one to stop does it)."""
    try:
        with open(record) as f:
            before = json.load(f).get("ip_forward")
    except (OSError, ValueError):
        return
    if others_running:
        return
    try:
        if before == "0":
            with open(IP_FORWARD, "w") as f:
                f.write("0")
        os.unlink(record)
    except OSError as e:
        raise HostNetError(f"restoring IPv4 forwarding: {e}") from e
