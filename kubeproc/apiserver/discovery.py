"""Discovery documents: /version, /api, /apis and the per-group-version resource lists, in both
legacy and aggregated (apidiscovery.k8s.io v2/v2beta1) form.

Built from kubeproc/api/resources.py; shapes follow k8s.io/apiserver/pkg/endpoints/discovery
(legacy) and discovery/aggregated (v2).
"""

from __future__ import annotations

import hashlib
from typing import Any

from kubeproc import __version__
from kubeproc.api import resources, schema

_SUB_VERBS = {"status": ["get", "patch", "update"], "scale": ["get", "patch", "update"],
              "eviction": ["create"], "binding": ["create"], "log": ["get"], "finalize": ["update"],
              "exec": ["create", "get"], "attach": ["create", "get"], "portforward": ["create", "get"]}
_SUB_KIND = {"Scale": ("autoscaling", "v1"), "Eviction": ("policy", "v1"), "Binding": ("", "v1")}


def version_info() -> dict[str, str]:
    return {
        "major": schema.KUBE_MAJOR, "minor": schema.KUBE_MINOR,
        "gitVersion": f"v{schema.KUBE_MAJOR}.{schema.KUBE_MINOR}.0+kubeproc-{__version__}",
        "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
        "buildDate": "2026-11-25T00:00:00Z", "goVersion": "go1.24.0", "compiler": "gc",
        "platform": "linux/amd64",
    }


def _storage_hash(r: resources.Resource) -> str:
    digest = hashlib.sha256(f"{r.group}/{r.version}/{r.kind}".encode()).digest()
    import base64
    return base64.b64encode(digest[:8]).decode()


def _sub_kind(r: resources.Resource, sub: str) -> tuple[str, str, str]:
    kind = r.subresources[sub] or r.kind
    group, version = _SUB_KIND.get(kind, (r.group, r.version))
    return group, version, kind


def api_versions(server_address: str) -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                            "serverAddress": server_address}]}


def _groups() -> list[str]:
    return [g for g, _ in resources.group_versions() if g]


def _group_doc(group: str) -> dict[str, Any]:
    versions = [{"groupVersion": f"{group}/{v}", "version": v}
                for g, v in resources.group_versions() if g == group]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def api_group_list() -> dict[str, Any]:
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group_doc(g) for g in _groups()]}


def api_group(group: str) -> dict[str, Any] | None:
    if group not in _groups():
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(group)}


def resource_list(group: str, version: str) -> dict[str, Any] | None:
    items = [r for r in resources.RESOURCES if r.group == group and r.version == version]
    if not items:
        return None
    out = []
    for r in items:
        entry: dict[str, Any] = {"name": r.plural, "singularName": r.singular_name,
                                 "namespaced": r.namespaced, "kind": r.kind, "verbs": list(r.verbs)}
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        entry["storageVersionHash"] = _storage_hash(r)
        out.append(entry)
        for sub in r.subresources:
            g, v, k = _sub_kind(r, sub)
            sub_entry: dict[str, Any] = {"name": f"{r.plural}/{sub}", "singularName": "",
                                         "namespaced": r.namespaced, "kind": k,
                                         "verbs": _SUB_VERBS[sub]}
            if (g, v) != (r.group, r.version):
                sub_entry["group"], sub_entry["version"] = g, v
            out.append(sub_entry)
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}


def aggregated(core: bool, version: str) -> dict[str, Any]:
    """APIGroupDiscoveryList for /api (core) or /apis (all named groups)."""
    groups = [""] if core else _groups()
    items = []
    for group in groups:
        versions = []
        for g, v in resources.group_versions():
            if g != group:
                continue
            res = []
            for r in resources.RESOURCES:
                if r.group != g or r.version != v:
                    continue
                entry: dict[str, Any] = {
                    "resource": r.plural, "responseKind": {"group": r.group, "version": r.version,
                                                           "kind": r.kind},
                    "scope": "Namespaced" if r.namespaced else "Cluster",
                    "singularResource": r.singular_name, "verbs": list(r.verbs)}
                if r.short_names:
                    entry["shortNames"] = list(r.short_names)
                if r.categories:
                    entry["categories"] = list(r.categories)
                subs = []
                for sub in r.subresources:
                    sg, sv, sk = _sub_kind(r, sub)
                    subs.append({"subresource": sub,
                                 "responseKind": {"group": sg, "version": sv, "kind": sk},
                                 "verbs": _SUB_VERBS[sub]})
                if subs:
                    entry["subresources"] = subs
                res.append(entry)
            versions.append({"version": v, "resources": res, "freshness": "Current"})
        items.append({"metadata": {"name": group, "creationTimestamp": None}, "versions": versions})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": f"apidiscovery.k8s.io/{version}",
            "metadata": {}, "items": items}
