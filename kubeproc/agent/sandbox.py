"""The files a kubelet writes for a pod sandbox: hostname, /etc/hosts and /etc/resolv.conf.

Pure functions over a pod dict (no I/O: the caller reads the host's resolv.conf / hosts and
writes the results). Ported from pkg/kubelet/kubelet_pods.go (hostname, managed hosts file),
pkg/kubelet/util/util.go (kernel hostname) and pkg/kubelet/network/dns/dns.go (GetPodDNS),
with the resolv.conf text laid out as containerd writes it from the CRI DNSConfig.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# kubelet_pods.go managedHostsHeader / managedHostsHeaderWithHostNetwork
HOSTS_HEADER = "# Kubernetes-managed hosts file.\n"
HOSTS_HEADER_HOST_NETWORK = "# Kubernetes-managed hosts file (host network).\n"

HOSTNAME_MAX_LEN = 63  # truncatePodHostnameIfNeeded
FQDN_MAX_LEN = 64  # util.go GetNodenameForKernel
MAX_DNS_NAMESERVERS = 3  # apis/core/validation MaxDNSNameservers
MAX_DNS_SEARCH_PATHS = 32  # MaxDNSSearchPathsExpanded (ExpandedDNSConfig is GA)
MAX_DNS_SEARCH_LIST_CHARS = 2048  # MaxDNSSearchListCharsExpanded
DNS1123_SUBDOMAIN_MAX_LEN = 253
DEFAULT_DNS_OPTIONS = ("ndots:5",)  # dns.go defaultDNSOptions

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)


class SandboxError(ValueError):
    """The pod's hostname/domain cannot be formed (the kubelet fails the sandbox with this text)."""


def _label_errors(value: str) -> list[str]:
    # apimachinery validation.IsDNS1123Label
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not _DNS1123_LABEL.fullmatch(value):
        errs.append(_LABEL_MSG)
    return errs


def _truncate_hostname(pod_name: str, hostname: str) -> str:
    # kubelet_pods.go truncatePodHostnameIfNeeded: cap at 63, never end with '-' or '.'.
    if len(hostname) <= HOSTNAME_MAX_LEN:
        return hostname
    truncated = hostname[:HOSTNAME_MAX_LEN].rstrip("-.")
    if not truncated:
        raise SandboxError(f"hostname for pod {pod_name!r} was invalid: {hostname!r}")
    return truncated


def pod_hostname_and_domain(pod: Mapping[str, Any], cluster_domain: str) -> tuple[str, str]:
    """kubelet_pods.go GeneratePodHostNameAndDomain: (short hostname, domain or "")."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    name = meta.get("name") or ""
    hostname = name
    if spec.get("hostname"):
        errs = _label_errors(spec["hostname"])
        if errs:
            raise SandboxError(f"pod Hostname {spec['hostname']!r} is not a valid DNS label: {';'.join(errs)}")
        hostname = spec["hostname"]
    hostname = _truncate_hostname(name, hostname)
    domain = ""
    if spec.get("subdomain"):
        errs = _label_errors(spec["subdomain"])
        if errs:
            raise SandboxError(f"pod Subdomain {spec['subdomain']!r} is not a valid DNS label: {';'.join(errs)}")
        domain = f"{spec['subdomain']}.{meta.get('namespace') or 'default'}.svc.{cluster_domain}"
    return hostname, domain


def hostname_for(pod: Mapping[str, Any], cluster_domain: str = "cluster.local") -> tuple[str, str | None]:
    """(the kernel hostname of the pod's UTS namespace, its FQDN or None without subdomain).

    With `setHostnameAsFQDN: true` (and a subdomain) the kernel hostname is the FQDN, which
    must fit 64 characters (util.go GetNodenameForKernel). Raises SandboxError.
    """
    hostname, domain = pod_hostname_and_domain(pod, cluster_domain)
    if not domain:
        return hostname, None
    fqdn = f"{hostname}.{domain}"
    if (pod.get("spec") or {}).get("setHostnameAsFQDN") is True:
        if len(fqdn) > FQDN_MAX_LEN:
            raise SandboxError(
                f"failed to construct FQDN from pod hostname and cluster domain, FQDN {fqdn} is too long "
                f"({FQDN_MAX_LEN} characters is the max, {len(fqdn)} characters requested)"
            )
        return fqdn, fqdn
    return hostname, fqdn


def _host_alias_entries(host_aliases: Sequence[Mapping[str, Any]] | None) -> str:
    # kubelet_pods.go hostsEntriesFromHostAliases: one line per alias entry, names tab-separated.
    if not host_aliases:
        return ""
    lines = ["\n# Entries added by HostAliases.\n"]
    for alias in host_aliases:
        lines.append(f"{alias.get('ip', '')}\t" + "\t".join(alias.get("hostnames") or []) + "\n")
    return "".join(lines)


def etc_hosts(
    pod: Mapping[str, Any],
    pod_ips: Sequence[str],
    host_aliases: Sequence[Mapping[str, Any]] | None,
    hostname: str,
    fqdn: str | None,
    *,
    host_hosts: str | None = None,
) -> str:
    """The pod's /etc/hosts (kubelet_pods.go managedHostsFileContent / nodeHostsFileContent).

    hostname/fqdn are hostname_for's result (a hostname equal to the FQDN is shortened back
    to its first label, as the kubelet writes the short name). A hostNetwork pod gets the
    node's hosts file (host_hosts, read by the caller) under the host-network header.
    """
    if (pod.get("spec") or {}).get("hostNetwork") and host_hosts is not None:
        return HOSTS_HEADER_HOST_NETWORK + host_hosts + _host_alias_entries(host_aliases)
    short = hostname.split(".", 1)[0] if fqdn and hostname == fqdn else hostname
    parts = [
        HOSTS_HEADER,
        "127.0.0.1\tlocalhost\n",
        "::1\tlocalhost ip6-localhost ip6-loopback\n",
        "fe00::0\tip6-localnet\n",
        "fe00::0\tip6-mcastprefix\n",
        "fe00::1\tip6-allnodes\n",
        "fe00::2\tip6-allrouters\n",
    ]
    for ip in pod_ips:
        parts.append(f"{ip}\t{fqdn}\t{short}\n" if fqdn else f"{ip}\t{short}\n")
    parts.append(_host_alias_entries(host_aliases))
    return "".join(parts)


# ---- DNS -------------------------------------------------------------------------------------


@dataclass
class DNSConfig:
    """The CRI DNSConfig the kubelet hands the runtime, plus the warning events it would emit."""

    servers: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def parse_resolv_conf(text: str) -> tuple[list[str], list[str], list[str]]:
    """dns.go parseResolvConf: nameservers accumulate; the last search line wins; options lines
    merge (a later `name[:value]` replaces the same name: appendOptions, first-seen order)."""
    servers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    for line in text.split("\n"):
        trimmed = line.strip()
        if trimmed.startswith("#"):
            continue
        fields = trimmed.split()
        if not fields:
            continue
        if fields[0] == "nameserver" and len(fields) >= 2:
            servers.append(fields[1])
        elif fields[0] == "search":
            # the same domain with and without a trailing dot counts once; "." stays verbatim
            searches = [s[:-1] if s.endswith(".") and s != "." else s for s in fields[1:]]
        elif fields[0] == "options":
            merged = {o.split(":", 1)[0]: o for o in options}
            for o in fields[1:]:
                merged[o.split(":", 1)[0]] = o
            options = list(merged.values())
    return servers, searches, options


def _omit_duplicates(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))


def merge_dns_options(existing: Sequence[str], pod_options: Sequence[Mapping[str, Any]]) -> list[str]:
    """dns.go mergeDNSOptions: pod options override same-named ones; `name` or `name:value`.

    Upstream returns Go map order (random); here: first-seen order, overrides in place.
    """
    merged: dict[str, str] = {}
    for op in existing:
        name, sep, value = op.partition(":")
        merged[name] = value if sep else ""
    for op in pod_options:
        value = op.get("value")
        merged[op.get("name", "")] = value if value is not None else ""
    return [f"{k}:{v}" if v != "" else k for k, v in merged.items()]


def _fit_search(searches: list[str], warnings: list[str]) -> list[str]:
    # dns.go formDNSSearchFitsLimits: at most 32 paths, none over 253 chars, line <= 2048 chars.
    exceeded = False
    if len(searches) > MAX_DNS_SEARCH_PATHS:
        searches = searches[:MAX_DNS_SEARCH_PATHS]
        exceeded = True
    kept = [s for s in searches if len(s) <= DNS1123_SUBDOMAIN_MAX_LEN]
    exceeded = exceeded or len(kept) != len(searches)
    searches = kept
    line_len = len(" ".join(searches))
    if line_len > MAX_DNS_SEARCH_LIST_CHARS:
        cut_len = cut_num = 0
        for s in reversed(searches):
            cut_len += len(s) + 1
            cut_num += 1
            if line_len - cut_len <= MAX_DNS_SEARCH_LIST_CHARS:
                break
        searches = searches[: len(searches) - cut_num]
        exceeded = True
    if exceeded:
        warnings.append(
            "Search Line limits were exceeded, some search paths have been omitted, "
            f"the applied search line is: {' '.join(searches)}"
        )
    return searches


def _fit_servers(servers: list[str], warnings: list[str]) -> list[str]:
    # dns.go formDNSNameserversFitsLimits
    if len(servers) > MAX_DNS_NAMESERVERS:
        servers = servers[:MAX_DNS_NAMESERVERS]
        warnings.append(
            "Nameserver limits were exceeded, some nameservers have been omitted, "
            f"the applied nameserver line is: {' '.join(servers)}"
        )
    return servers


def pod_dns(pod: Mapping[str, Any], cluster_dns: Sequence[str], cluster_domain: str, host_resolv: str) -> DNSConfig:
    """dns.go GetPodDNS: the pod's DNS servers, searches and options for its dnsPolicy."""
    spec = pod.get("spec") or {}
    meta = pod.get("metadata") or {}
    servers, searches, options = parse_resolv_conf(host_resolv)
    cfg = DNSConfig(servers, searches, options)
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    # dns.go getPodDNSType: ClusterFirst on the host network falls back to Default;
    # an unknown policy is treated as ClusterFirst.
    if policy == "None":
        kind = "none"
    elif policy == "Default" or (policy == "ClusterFirst" and spec.get("hostNetwork")):
        kind = "host"
    else:
        kind = "cluster"
    if kind == "none":
        cfg = DNSConfig()
    elif kind == "cluster":
        if cluster_dns:
            cfg.servers = list(cluster_dns)
            if cluster_domain:  # generateSearchesForDNSClusterFirst
                ns = meta.get("namespace") or "default"
                head = [f"{ns}.svc.{cluster_domain}", f"svc.{cluster_domain}", cluster_domain]
                cfg.searches = _omit_duplicates(head + cfg.searches)
            cfg.options = list(DEFAULT_DNS_OPTIONS)
        else:
            # No cluster DNS: the kubelet warns (node and pod events) and uses the host's config.
            cfg.warnings.append(
                'kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" '
                'policy. Falling back to "Default" policy.'
            )
    dns_config = spec.get("dnsConfig")
    if dns_config:  # appendDNSConfig
        cfg.servers = _omit_duplicates(cfg.servers + list(dns_config.get("nameservers") or []))
        cfg.searches = _omit_duplicates(cfg.searches + list(dns_config.get("searches") or []))
        cfg.options = merge_dns_options(cfg.options, dns_config.get("options") or [])
    cfg.servers = _fit_servers(cfg.servers, cfg.warnings)
    cfg.searches = _fit_search(cfg.searches, cfg.warnings)
    return cfg


def render_resolv_conf(cfg: DNSConfig) -> str | None:
    """resolv.conf as containerd writes it from a CRI DNSConfig: search, nameserver, options.

    None when the config is empty: containerd then copies the host's /etc/resolv.conf.
    """
    out = []
    if cfg.searches:
        out.append("search " + " ".join(cfg.searches) + "\n")
    for server in cfg.servers:
        out.append(f"nameserver {server}\n")
    if cfg.options:
        out.append("options " + " ".join(cfg.options) + "\n")
    return "".join(out) or None


def resolv_conf(
    pod: Mapping[str, Any], cluster_dns: list[str], cluster_domain: str, host_resolv: str
) -> str | None:
    """The pod's /etc/resolv.conf text; None means "use the host's file unchanged".

    host_resolv is the text of the host's /etc/resolv.conf (the caller reads it). For the
    warning events the kubelet would emit, call pod_dns() and read .warnings.
    """
    return render_resolv_conf(pod_dns(pod, cluster_dns, cluster_domain, host_resolv))


def read_host_files(host_resolv: str, host_network: bool) -> tuple[str, str | None]:
    """The node's resolv.conf ("" if unreadable) and, for a hostNetwork pod, its /etc/hosts
    (None otherwise): what the pod's own files are made from."""
    try:
        with open(host_resolv) as f:
            resolv = f.read()
    except OSError:
        resolv = ""
    hosts = None
    if host_network:
        try:
            with open("/etc/hosts") as f:
                hosts = f.read()
        except OSError:
            hosts = ""
    return resolv, hosts


def write_pod_files(pod_dir: str, files: dict[str, str]) -> None:
    """Write each file (hosts, resolv.conf, hostname) into the pod directory atomically."""
    for name, text in files.items():
        tmp = os.path.join(pod_dir, name + ".tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, os.path.join(pod_dir, name))
