"""The table of API resources kubeproc serves: group, version, kind, plural, scope, verbs.

Discovery, OpenAPI, routing and the registry all read this one table. Names, short names and
categories are those of a real cluster (`kubectl api-resources`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    # subresource name -> kind served there ("" means same kind as the parent)
    subresources: dict[str, str] = field(default_factory=dict)
    singular: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def key(self) -> str:
        """The resource's key in the store: `plural` or `group/plural`."""
        return f"{self.group}/{self.plural}" if self.group else self.plural

    @property
    def group_resource(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


_STATUS = {"status": ""}
_SCALE_STATUS = {"status": "", "scale": "Scale"}

RESOURCES: tuple[Resource, ...] = (
    # core/v1
    Resource("", "v1", "Namespace", "namespaces", False, ("ns",),
             verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
             subresources={"status": "", "finalize": ""}),
    Resource("", "v1", "Pod", "pods", True, ("po",), ("all",),
             subresources={"status": "", "log": "", "eviction": "Eviction", "binding": "Binding",
                           "exec": "PodExecOptions", "attach": "PodAttachOptions",
                           "portforward": "PodPortForwardOptions"}),
    Resource("", "v1", "Service", "services", True, ("svc",), ("all",),
             verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
             subresources=_STATUS),
    Resource("", "v1", "Endpoints", "endpoints", True, ("ep",), singular="endpoints"),
    Resource("", "v1", "ConfigMap", "configmaps", True, ("cm",)),
    Resource("", "v1", "Secret", "secrets", True),
    Resource("", "v1", "ServiceAccount", "serviceaccounts", True, ("sa",)),
    Resource("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, ("pvc",),
             subresources=_STATUS),
    Resource("", "v1", "PersistentVolume", "persistentvolumes", False, ("pv",),
             subresources=_STATUS),
    Resource("", "v1", "Event", "events", True, ("ev",)),
    Resource("", "v1", "Node", "nodes", False, ("no",), subresources=_STATUS),
    Resource("", "v1", "ReplicationController", "replicationcontrollers", True, ("rc",), ("all",),
             subresources=_SCALE_STATUS),
    # apps/v1
    Resource("apps", "v1", "Deployment", "deployments", True, ("deploy",), ("all",),
             subresources=_SCALE_STATUS),
    Resource("apps", "v1", "ReplicaSet", "replicasets", True, ("rs",), ("all",),
             subresources=_SCALE_STATUS),
    Resource("apps", "v1", "StatefulSet", "statefulsets", True, ("sts",), ("all",),
             subresources=_SCALE_STATUS),
    Resource("apps", "v1", "ControllerRevision", "controllerrevisions", True),
    # discovery.k8s.io/v1
    Resource("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True),
    # policy/v1
    Resource("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, ("pdb",),
             subresources=_STATUS),
    # storage.k8s.io/v1
    Resource("storage.k8s.io", "v1", "StorageClass", "storageclasses", False, ("sc",)),
    # coordination.k8s.io/v1
    Resource("coordination.k8s.io", "v1", "Lease", "leases", True),
    # authorization.k8s.io/v1
    Resource("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews",
             False, verbs=("create",)),
)

_BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
_BY_KIND = {(r.group, r.kind): r for r in RESOURCES}


def lookup(group: str, version: str, plural: str) -> Resource | None:
    return _BY_PATH.get((group, version, plural))


def by_kind(group: str, kind: str) -> Resource | None:
    return _BY_KIND.get((group, kind))


def by_api_version(api_version: str, kind: str) -> Resource | None:
    group, _, version = api_version.rpartition("/")
    res = _BY_KIND.get((group, kind))
    return res if res and res.version == version else None


def group_versions() -> list[tuple[str, str]]:
    """Distinct (group, version) pairs in table order, core first."""
    seen: list[tuple[str, str]] = []
    for r in RESOURCES:
        if (r.group, r.version) not in seen:
            seen.append((r.group, r.version))
    return seen
