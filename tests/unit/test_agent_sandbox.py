"""Pod sandbox files (kubeproc/agent/sandbox.py): hostname/FQDN, the managed /etc/hosts and
/etc/resolv.conf per dnsPolicy, with golden texts modelled on upstream's kubelet_pods_test.go
(TestManagedHostsFileContent, TestNodeHostsFileContent) and network/dns/dns_test.go."""

from __future__ import annotations

from typing import Any

import pytest

from kubeproc.agent.sandbox import (
    SandboxError,
    etc_hosts,
    hostname_for,
    merge_dns_options,
    parse_resolv_conf,
    pod_dns,
    resolv_conf,
)


def pod(name: str = "web-0", ns: str = "default", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns}, "spec": spec}


LONG = "a" * 62 + "-" + "b" * 10  # 73 chars: the 63-char cut ends in '-'

# ---- hostname ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "p, want",
    [
        (pod("web-0"), ("web-0", None)),
        (pod("web-0", hostname="db"), ("db", None)),
        (pod("web-0", ns="prod", subdomain="svc1"), ("web-0", "web-0.svc1.prod.svc.cluster.local")),
        (pod("x", ns="prod", hostname="h", subdomain="s"), ("h", "h.s.prod.svc.cluster.local")),
        (
            pod("x", ns="prod", hostname="h", subdomain="s", setHostnameAsFQDN=True),
            ("h.s.prod.svc.cluster.local", "h.s.prod.svc.cluster.local"),
        ),
        (pod("x", hostname="h", setHostnameAsFQDN=True), ("h", None)),
        (pod(LONG), ("a" * 62, None)),
        (pod("c" * 70), ("c" * 63, None)),
    ],
    ids=[
        "pod-name",
        "spec-hostname-wins",
        "subdomain-gives-fqdn",
        "hostname-and-subdomain",
        "set-hostname-as-fqdn",
        "fqdn-flag-without-subdomain-ignored",
        "truncated-to-63-trailing-dash-trimmed",
        "truncated-to-63",
    ],
)
def test_hostname_for(p: dict[str, Any], want: tuple[str, str | None]) -> None:
    assert hostname_for(p, "cluster.local") == want


@pytest.mark.parametrize(
    "p, message",
    [
        (
            pod("x", ns="a-namespace", hostname="h" * 30, subdomain="s" * 20, setHostnameAsFQDN=True),
            "failed to construct FQDN from pod hostname and cluster domain, FQDN "
            + "h" * 30 + "." + "s" * 20 + ".a-namespace.svc.cluster.local is too long "
            "(64 characters is the max, 81 characters requested)",
        ),
        (pod("x", hostname="Bad_Name"), "pod Hostname 'Bad_Name' is not a valid DNS label: a lowercase RFC 1123 label"),
        (pod("x", subdomain="-s"), "pod Subdomain '-s' is not a valid DNS label"),
    ],
    ids=["fqdn-over-64-chars", "invalid-hostname", "invalid-subdomain"],
)
def test_hostname_errors(p: dict[str, Any], message: str) -> None:
    with pytest.raises(SandboxError) as err:
        hostname_for(p, "cluster.local")
    assert str(err.value).startswith(message)


# ---- /etc/hosts -------------------------------------------------------------------------------

HEAD = (
    "# Kubernetes-managed hosts file.\n"
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "fe00::0\tip6-mcastprefix\n"
    "fe00::1\tip6-allnodes\n"
    "fe00::2\tip6-allrouters\n"
)
ALIASES = [
    {"ip": "123.45.67.89", "hostnames": ["foo", "bar", "baz"]},
    {"ip": "456.78.90.123", "hostnames": ["park", "doo", "boo"]},
]
FQDN = "podFoo.domainFoo"


@pytest.mark.parametrize(
    "ips, hostname, fqdn, aliases, want",
    [
        (["123.45.67.89"], "podFoo", None, [], HEAD + "123.45.67.89\tpodFoo\n"),
        (["203.0.113.1"], "podFoo", FQDN, [], HEAD + "203.0.113.1\tpodFoo.domainFoo\tpodFoo\n"),
        (
            ["203.0.113.1"],
            "podFoo",
            FQDN,
            ALIASES[:1],
            HEAD + "203.0.113.1\tpodFoo.domainFoo\tpodFoo\n\n# Entries added by HostAliases.\n123.45.67.89\tfoo\tbar\tbaz\n",
        ),
        (
            ["203.0.113.1"],
            "podFoo",
            FQDN,
            ALIASES,
            HEAD
            + "203.0.113.1\tpodFoo.domainFoo\tpodFoo\n\n# Entries added by HostAliases.\n"
            "123.45.67.89\tfoo\tbar\tbaz\n456.78.90.123\tpark\tdoo\tboo\n",
        ),
        (
            ["203.0.113.1", "fd00::6"],
            "podFoo",
            FQDN,
            [],
            HEAD + "203.0.113.1\tpodFoo.domainFoo\tpodFoo\nfd00::6\tpodFoo.domainFoo\tpodFoo\n",
        ),
        (["10.0.0.5"], FQDN, FQDN, [], HEAD + "10.0.0.5\tpodFoo.domainFoo\tpodFoo\n"),
        ([], "podFoo", None, [], HEAD),
    ],
    ids=[
        "ip-and-hostname",
        "ip-fqdn-hostname",
        "host-aliases-section",
        "host-aliases-one-line-per-ip",
        "dual-stack-one-line-per-ip",
        "hostname-as-fqdn-still-writes-short-name",
        "no-pod-ip",
    ],
)
def test_etc_hosts(ips: list[str], hostname: str, fqdn: str | None, aliases: list[dict[str, Any]], want: str) -> None:
    assert etc_hosts(pod(), ips, aliases, hostname, fqdn) == want


def test_etc_hosts_host_network_uses_node_file() -> None:
    node = "127.0.0.1\tlocalhost\n10.1.2.3\tnode1\n"
    got = etc_hosts(pod(hostNetwork=True), ["10.1.2.3"], ALIASES[:1], "node1", None, host_hosts=node)
    assert got == (
        "# Kubernetes-managed hosts file (host network).\n"
        + node
        + "\n# Entries added by HostAliases.\n123.45.67.89\tfoo\tbar\tbaz\n"
    )


def test_hostname_feeds_etc_hosts() -> None:
    p = pod("web-0", ns="prod", subdomain="web", setHostnameAsFQDN=True)
    hostname, fqdn = hostname_for(p, "cluster.local")
    assert etc_hosts(p, ["10.244.0.7"], None, hostname, fqdn).endswith(
        "10.244.0.7\tweb-0.web.prod.svc.cluster.local\tweb-0\n"
    )


# ---- resolv.conf ------------------------------------------------------------------------------

HOST = "# host file\nnameserver 8.8.8.8\nnameserver 1.1.1.1\nsearch corp.example. lab.example\noptions edns0 timeout:2\n"
CDNS = ["10.96.0.10"]


@pytest.mark.parametrize(
    "p, cluster_dns, want",
    [
        (
            pod(ns="prod"),
            CDNS,
            "search prod.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\n"
            "nameserver 10.96.0.10\noptions ndots:5\n",
        ),
        (
            pod(ns="prod", dnsPolicy="ClusterFirst"),
            [],
            "search corp.example lab.example\nnameserver 8.8.8.8\nnameserver 1.1.1.1\noptions edns0 timeout:2\n",
        ),
        (
            pod(ns="prod", dnsPolicy="ClusterFirst", hostNetwork=True),
            CDNS,
            "search corp.example lab.example\nnameserver 8.8.8.8\nnameserver 1.1.1.1\noptions edns0 timeout:2\n",
        ),
        (
            pod(ns="prod", dnsPolicy="ClusterFirstWithHostNet", hostNetwork=True),
            CDNS,
            "search prod.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\n"
            "nameserver 10.96.0.10\noptions ndots:5\n",
        ),
        (
            pod(dnsPolicy="Default"),
            CDNS,
            "search corp.example lab.example\nnameserver 8.8.8.8\nnameserver 1.1.1.1\noptions edns0 timeout:2\n",
        ),
        (pod(dnsPolicy="None"), CDNS, None),
        (
            pod(
                dnsPolicy="None",
                dnsConfig={
                    "nameservers": ["203.0.113.1"],
                    "searches": ["my.dns.search.suffix"],
                    "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}],
                },
            ),
            CDNS,
            "search my.dns.search.suffix\nnameserver 203.0.113.1\noptions ndots:2 edns0\n",
        ),
        (
            pod(dnsPolicy="Default", dnsConfig={"nameservers": ["9.9.9.9", "8.8.4.4"]}),
            CDNS,
            "search corp.example lab.example\nnameserver 8.8.8.8\nnameserver 1.1.1.1\nnameserver 9.9.9.9\n"
            "options edns0 timeout:2\n",
        ),
    ],
    ids=[
        "cluster-first",
        "cluster-first-without-cluster-dns-falls-back-to-host",
        "cluster-first-on-host-network-is-default",
        "cluster-first-with-host-net",
        "default-is-host-config",
        "none-without-config-copies-host-file",
        "none-with-dns-config",
        "nameservers-capped-at-three",
    ],
)
def test_resolv_conf(p: dict[str, Any], cluster_dns: list[str], want: str | None) -> None:
    assert resolv_conf(p, cluster_dns, "cluster.local", HOST) == want


def test_cluster_first_merges_dns_config() -> None:
    # dns_test.go TestGetPodDNSCustom "ClusterFirst with dnsConfig": duplicates dropped,
    # ndots overridden in place, new options appended.
    p = pod(
        ns="testNS",
        dnsConfig={
            "nameservers": ["203.0.113.1", "10.96.0.10"],
            "searches": ["testNS.svc.kubernetes.io", "my.domain"],
            "options": [{"name": "ndots", "value": "3"}, {"name": "debug"}],
        },
    )
    got = resolv_conf(p, CDNS, "kubernetes.io", "nameserver 8.8.8.8\nsearch host.domain\n")
    assert got == (
        "search testNS.svc.kubernetes.io svc.kubernetes.io kubernetes.io host.domain my.domain\n"
        "nameserver 10.96.0.10\nnameserver 203.0.113.1\noptions ndots:3 debug\n"
    )


def test_missing_cluster_dns_warns() -> None:
    cfg = pod_dns(pod(), [], "cluster.local", HOST)
    assert cfg.warnings == [
        'kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. '
        'Falling back to "Default" policy.'
    ]


def test_nameserver_limit_warning() -> None:
    cfg = pod_dns(pod(dnsPolicy="Default", dnsConfig={"nameservers": ["9.9.9.9", "8.8.4.4"]}), CDNS, "cluster.local", HOST)
    assert cfg.servers == ["8.8.8.8", "1.1.1.1", "9.9.9.9"]
    assert cfg.warnings == [
        "Nameserver limits were exceeded, some nameservers have been omitted, "
        "the applied nameserver line is: 8.8.8.8 1.1.1.1 9.9.9.9"
    ]


@pytest.mark.parametrize(
    "searches, want_len, warn",
    [
        ([f"d{i}.example" for i in range(29)], 32, False),
        ([f"d{i}.example" for i in range(40)], 32, True),
        (["a" * 254, "ok.example"], 4, True),
        ([("%03d" % i) + "y" * 96 for i in range(29)], 3 + 20, True),
    ],
    ids=["32-paths-fit", "over-32-paths-cut", "path-over-253-dropped", "line-over-2048-chars-cut-from-end"],
)
def test_search_limits(searches: list[str], want_len: int, warn: bool) -> None:
    cfg = pod_dns(pod(ns="n", dnsConfig={"searches": searches}), CDNS, "cl", "")
    assert len(cfg.searches) == want_len
    assert len(" ".join(cfg.searches)) <= 2048
    assert cfg.searches[:3] == ["n.svc.cl", "svc.cl", "cl"]
    assert bool(cfg.warnings) is warn
    if warn:
        assert cfg.warnings[0].endswith("the applied search line is: " + " ".join(cfg.searches))


@pytest.mark.parametrize(
    "text, want",
    [
        ("nameserver 1.2.3.4\nnameserver 5.6.7.8\n", (["1.2.3.4", "5.6.7.8"], [], [])),
        ("search a b\nsearch c.\n", ([], ["c"], [])),
        ("  # comment\noptions ndots:2 rotate\noptions edns0 ndots:3\n", ([], [], ["ndots:3", "rotate", "edns0"])),
        ("search .\n", ([], ["."], [])),
        ("nameserver\n\n  search   x.y  \n", ([], ["x.y"], [])),
    ],
    ids=[
        "nameservers-accumulate",
        "last-search-wins-trailing-dot-trimmed",
        "options-lines-merge",
        "search-root-dot-kept",
        "blank-and-bare",
    ],
)
def test_parse_resolv_conf(text: str, want: tuple[list[str], list[str], list[str]]) -> None:
    assert parse_resolv_conf(text) == want


@pytest.mark.parametrize(
    "existing, pod_opts, want",
    [
        (["ndots:5"], [{"name": "ndots", "value": "2"}], ["ndots:2"]),
        (["ndots:5", "edns0"], [{"name": "single-request"}], ["ndots:5", "edns0", "single-request"]),
        (["timeout:2"], [{"name": "timeout"}], ["timeout"]),
    ],
    ids=["pod-value-overrides", "new-options-appended", "option-without-value"],
)
def test_merge_dns_options(existing: list[str], pod_opts: list[dict[str, Any]], want: list[str]) -> None:
    assert merge_dns_options(existing, pod_opts) == want
