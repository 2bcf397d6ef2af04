"""Parsing Kubernetes REST paths into (resource, namespace, name, subresource).

`/api/v1/namespaces/ns/pods/web-0/status`, `/apis/apps/v1/statefulsets`, the legacy
`/api/v1/watch/...` prefix, and the namespace object's own subresources (`/finalize`, `/status`),
following k8s.io/apiserver/pkg/endpoints/request/requestinfo.go.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubeproc.api import errors, resources
from kubeproc.api.resources import Resource


@dataclass(frozen=True)
class Target:
    resource: Resource
    namespace: str  # "" for cluster-scoped or all namespaces
    name: str  # "" for collections
    subresource: str
    legacy_watch: bool = False

    @property
    def is_collection(self) -> bool:
        return not self.name


def parse(path: str) -> Target | None:
    """None when the path is not a resource path (discovery, openapi, health...)."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api" and parts[1] == "v1":
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return None
    legacy_watch = False
    if rest[0] == "watch":
        legacy_watch, rest = True, rest[1:]
        if not rest:
            return None
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
        namespace, rest = rest[1], rest[2:]
    plural = rest[0]
    resource = resources.lookup(group, version, plural)
    if resource is None:
        gv = f"{group}/{version}" if group else version
        raise errors.NotFound(f"the server could not find the requested resource ({gv} {plural})",
                              kind=plural, group=group)
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    if len(rest) > 3 or (sub and sub not in resource.subresources):
        raise errors.NotFound("the server could not find the requested resource")
    if namespace and not resource.namespaced:
        raise errors.NotFound("the server could not find the requested resource")
    if resource.namespaced and name and not namespace:
        raise errors.NotFound("the server could not find the requested resource")
    return Target(resource, namespace, name, sub, legacy_watch)
