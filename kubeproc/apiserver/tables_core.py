"""Tables for the core/v1 kinds other than Pod (which lives in `tables_pod`).

Columns and cells port kubernetes pkg/printers/internalversion/printers.go (AddHandlers and
the print* functions); descriptions are the upstream SwaggerDoc texts, read from the schema.
"""

from __future__ import annotations

from datetime import datetime

from kubeproc.apiserver.tables import (
    CONTAINERS_DOC, IMAGES_DOC, Printer, age, age_col, col, doc, format_labels,
    layout_containers, meta, name_col, since,
)
from kubeproc.apiserver.tables_pod import pod_columns, print_pod

_V1 = "io.k8s.api.core.v1."


def _name(obj: dict) -> str:
    return meta(obj).get("name", "")


# --- Namespace, ConfigMap, Secret, ServiceAccount ------------------------------------------

def _namespace_cols() -> list[dict]:
    return [name_col(), col("Status", "string", "The status of the namespace"), age_col()]


def _namespace_row(obj: dict, now: datetime) -> dict:
    phase = (obj.get("status") or {}).get("phase") or ""
    return {"cells": [_name(obj), phase, age(obj, now)]}


def _configmap_cols() -> list[dict]:
    return [name_col(), col("Data", "string", doc(_V1 + "ConfigMap", "data")), age_col()]


def _configmap_row(obj: dict, now: datetime) -> dict:
    count = len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
    return {"cells": [_name(obj), count, age(obj, now)]}


def _secret_cols() -> list[dict]:
    return [name_col(), col("Type", "string", doc(_V1 + "Secret", "type")),
            col("Data", "string", doc(_V1 + "Secret", "data")), age_col()]


def _secret_row(obj: dict, now: datetime) -> dict:
    return {"cells": [_name(obj), obj.get("type") or "", len(obj.get("data") or {}),
                      age(obj, now)]}


def _sa_cols() -> list[dict]:
    return [name_col(), col("Secrets", "string", doc(_V1 + "ServiceAccount", "secrets")),
            age_col()]


def _sa_row(obj: dict, now: datetime) -> dict:
    return {"cells": [_name(obj), len(obj.get("secrets") or []), age(obj, now)]}


# --- Service, Endpoints --------------------------------------------------------------------

def _service_cols() -> list[dict]:
    spec = _V1 + "ServiceSpec"
    return [name_col(), col("Type", "string", doc(spec, "type")),
            col("Cluster-IP", "string", doc(spec, "clusterIP")),
            col("External-IP", "string", doc(spec, "externalIPs")),
            col("Port(s)", "string", doc(spec, "ports")), age_col(),
            col("Selector", "string", doc(spec, "selector"), 1)]


def _lb_ingress(obj: dict) -> str:
    # printers.go loadBalancerStatusStringer (wide: never clipped): sorted, de-duplicated.
    ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    found = {i.get("ip") or i.get("hostname") for i in ingress} - {None, ""}
    return ",".join(sorted(found))


def _external_ip(obj: dict, svc_type: str) -> str:
    """printers.go getServiceExternalIP."""
    spec = obj.get("spec") or {}
    external = spec.get("externalIPs") or []
    if svc_type in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if svc_type == "LoadBalancer":
        lb = _lb_ingress(obj)
        if external:
            return ",".join((lb.split(",") if lb else []) + external)
        return lb or "<pending>"
    if svc_type == "ExternalName":
        return spec.get("externalName") or ""
    return "<unknown>"


def _port_string(ports: list[dict]) -> str:
    # printers.go makePortString: port[:nodePort]/protocol
    pieces = []
    for p in ports:
        proto = p.get("protocol") or "TCP"
        if int(p.get("nodePort") or 0) > 0:
            pieces.append(f"{p.get('port', 0)}:{p['nodePort']}/{proto}")
        else:
            pieces.append(f"{p.get('port', 0)}/{proto}")
    return ",".join(pieces)


def _service_row(obj: dict, now: datetime) -> dict:
    spec = obj.get("spec") or {}
    svc_type = spec.get("type") or "ClusterIP"  # v1 defaulting
    cluster_ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    return {"cells": [_name(obj), svc_type, cluster_ips[0] if cluster_ips else "<none>",
                      _external_ip(obj, svc_type),
                      _port_string(spec.get("ports") or []) or "<none>", age(obj, now),
                      format_labels(spec.get("selector"))]}


def _endpoints_cols() -> list[dict]:
    return [name_col(), col("Endpoints", "string", doc(_V1 + "Endpoints", "subsets")), age_col()]


def _host_port(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"  # net.JoinHostPort


def format_endpoints(obj: dict) -> str:
    """printers.go formatEndpoints (all ports): first 3 addresses, then "+ N more..."."""
    subsets = obj.get("subsets") or []
    if not subsets:
        return "<none>"
    shown: list[str] = []
    limit, more, count = 3, False, 0
    for ss in subsets:
        addresses = ss.get("addresses") or []
        ports = ss.get("ports") or []
        if not ports:  # headless services may have no ports
            count += len(addresses)
            for a in addresses:
                if len(shown) == limit:
                    more = True
                    break
                shown.append(a.get("ip", ""))
            continue
        for port in ports:
            count += len(addresses)
            for a in addresses:
                if len(shown) == limit:
                    more = True
                    break
                shown.append(_host_port(a.get("ip", ""), int(port.get("port") or 0)))
    text = ",".join(shown)
    return f"{text} + {count - limit} more..." if more else text


def _endpoints_row(obj: dict, now: datetime) -> dict:
    return {"cells": [_name(obj), format_endpoints(obj), age(obj, now)]}


# --- PersistentVolume(Claim) ---------------------------------------------------------------

_ACCESS_MODES = (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"),
                 ("ReadWriteMany", "RWX"), ("ReadWriteOncePod", "RWOP"))
_BETA_CLASS = "volume.beta.kubernetes.io/storage-class"


def access_modes(modes: list[str] | None) -> str:
    """core/helper GetAccessModesAsString: fixed order, duplicates dropped."""
    present = set(modes or [])
    return ",".join(short for full, short in _ACCESS_MODES if full in present)


def _storage_class(obj: dict) -> str:
    # core/helper GetPersistentVolume(Claim)Class: the beta annotation wins over the field.
    annotations = meta(obj).get("annotations") or {}
    if _BETA_CLASS in annotations:
        return annotations[_BETA_CLASS]
    return (obj.get("spec") or {}).get("storageClassName") or ""


def _storage(resources: dict | None) -> str:
    # resource.Quantity.String() of a missing quantity is "0"; stored ones are kept verbatim.
    value = (resources or {}).get("storage")
    return str(value) if value not in (None, "") else "0"


def _pv_cols() -> list[dict]:
    spec, st = _V1 + "PersistentVolumeSpec", _V1 + "PersistentVolumeStatus"
    return [name_col(), col("Capacity", "string", doc(spec, "capacity")),
            col("Access Modes", "string", doc(spec, "accessModes")),
            col("Reclaim Policy", "string", doc(spec, "persistentVolumeReclaimPolicy")),
            col("Status", "string", doc(st, "phase")),
            col("Claim", "string", doc(spec, "claimRef")),
            col("StorageClass", "string", "StorageClass of the pv"),
            col("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
            col("Reason", "string", doc(st, "reason")), age_col(),
            col("VolumeMode", "string", doc(spec, "volumeMode"), 1)]


def _pv_row(obj: dict, now: datetime) -> dict:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    ref = spec.get("claimRef")
    claim = f"{ref.get('namespace', '')}/{ref.get('name', '')}" if ref else ""
    phase = "Terminating" if meta(obj).get("deletionTimestamp") else status.get("phase") or ""
    sc = _storage_class(obj)
    return {"cells": [
        _name(obj), _storage(spec.get("capacity")), access_modes(spec.get("accessModes")),
        spec.get("persistentVolumeReclaimPolicy") or "", phase, claim, sc,
        spec.get("volumeAttributesClassName") or "<unset>", status.get("reason") or "",
        age(obj, now), spec.get("volumeMode") or "<unset>"]}


def _pvc_cols() -> list[dict]:
    spec, st = _V1 + "PersistentVolumeClaimSpec", _V1 + "PersistentVolumeClaimStatus"
    return [name_col(), col("Status", "string", doc(st, "phase")),
            col("Volume", "string", doc(spec, "volumeName")),
            col("Capacity", "string", doc(st, "capacity")),
            col("Access Modes", "string", doc(st, "accessModes")),
            col("StorageClass", "string", "StorageClass of the pvc"),
            col("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"),
            age_col(), col("VolumeMode", "string", doc(spec, "volumeMode"), 1)]


def _pvc_row(obj: dict, now: datetime) -> dict:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    phase = "Terminating" if meta(obj).get("deletionTimestamp") else status.get("phase") or ""
    capacity = modes = ""
    if spec.get("volumeName"):  # only a bound claim shows what it got
        modes = access_modes(status.get("accessModes"))
        capacity = _storage(status.get("capacity"))
    sc = _storage_class(obj)
    return {"cells": [
        _name(obj), phase, spec.get("volumeName") or "", capacity, modes, sc,
        spec.get("volumeAttributesClassName") or "<unset>", age(obj, now),
        spec.get("volumeMode") or "<unset>"]}


# --- Event ---------------------------------------------------------------------------------

def _event_cols() -> list[dict]:
    ev, ref = _V1 + "Event", _V1 + "ObjectReference"
    return [col("Last Seen", "string", doc(ev, "lastTimestamp")),
            col("Type", "string", doc(ev, "type")),
            col("Reason", "string", doc(ev, "reason")),
            col("Object", "string", doc(ev, "involvedObject")),
            col("Subobject", "string", doc(ref, "fieldPath"), 1),
            col("Source", "string", doc(ev, "source"), 1),
            col("Message", "string", doc(ev, "message")),
            col("First Seen", "string", doc(ev, "firstTimestamp"), 1),
            col("Count", "string", doc(ev, "count"), 1),
            name_col(priority=1)]


def _event_row(obj: dict, now: datetime) -> dict:
    """printers.go printEvent (wide)."""
    first = since(obj.get("firstTimestamp"), now)
    if not obj.get("firstTimestamp"):
        first = since(obj.get("eventTime"), now)
    last = since(obj.get("lastTimestamp"), now) if obj.get("lastTimestamp") else first
    count = int(obj.get("count") or 0)
    series = obj.get("series")
    if series is not None:
        last = since(series.get("lastObservedTime"), now)
        count = int(series.get("count") or 0)
    elif count == 0:
        count = 1  # singleton events of the events.k8s.io API carry no count
    involved = obj.get("involvedObject") or {}
    kind = (involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = obj.get("source") or {}
    component = source.get("component") or obj.get("reportingController") or ""
    host = source.get("host") or obj.get("reportingInstance") or ""
    return {"cells": [last, obj.get("type") or "", obj.get("reason") or "", target,
                      involved.get("fieldPath") or "",
                      f"{component}, {host}" if host else component,
                      (obj.get("message") or "").strip(), first, count, _name(obj)]}


# --- Node ----------------------------------------------------------------------------------

def _node_cols() -> list[dict]:
    info, st = _V1 + "NodeSystemInfo", _V1 + "NodeStatus"
    return [name_col(), col("Status", "string", "The status of the node"),
            col("Roles", "string", "The roles of the node"), age_col(),
            col("Version", "string", doc(info, "kubeletVersion")),
            col("Internal-IP", "string", doc(st, "addresses"), 1),
            col("External-IP", "string", doc(st, "addresses"), 1),
            col("OS-Image", "string", doc(info, "osImage"), 1),
            col("Kernel-Version", "string", doc(info, "kernelVersion"), 1),
            col("Container-Runtime", "string", doc(info, "containerRuntimeVersion"), 1)]


def _node_roles(labels: dict) -> str:
    # printers.go findNodeRoles: node-role.kubernetes.io/<role> keys and kubernetes.io/role.
    roles = set()
    for k, v in labels.items():
        if k.startswith("node-role.kubernetes.io/") and k[len("node-role.kubernetes.io/"):]:
            roles.add(k[len("node-role.kubernetes.io/"):])
        elif k == "kubernetes.io/role" and v:
            roles.add(v)
    return ",".join(sorted(roles)) or "<none>"


def _node_address(status: dict, kind: str) -> str:
    for a in status.get("addresses") or []:
        if a.get("type") == kind:
            return a.get("address", "")
    return "<none>"


def _node_row(obj: dict, now: datetime) -> dict:
    status = obj.get("status") or {}
    ready = None
    for c in status.get("conditions") or []:
        if c.get("type") == "Ready":
            ready = c  # a later duplicate overwrites, like upstream's condition map
    states = ["Unknown"] if ready is None else \
        ["Ready" if ready.get("status") == "True" else "NotReady"]
    if (obj.get("spec") or {}).get("unschedulable"):
        states.append("SchedulingDisabled")
    info = status.get("nodeInfo") or {}
    return {"cells": [
        _name(obj), ",".join(states), _node_roles(meta(obj).get("labels") or {}), age(obj, now),
        info.get("kubeletVersion") or "", _node_address(status, "InternalIP"),
        _node_address(status, "ExternalIP"), info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>"]}


# --- ReplicationController -----------------------------------------------------------------

def _rc_cols() -> list[dict]:
    spec, st = _V1 + "ReplicationControllerSpec", _V1 + "ReplicationControllerStatus"
    return [name_col(), col("Desired", "integer", doc(spec, "replicas")),
            col("Current", "integer", doc(st, "replicas")),
            col("Ready", "integer", doc(st, "readyReplicas")), age_col(),
            col("Containers", "string", CONTAINERS_DOC, 1),
            col("Images", "string", IMAGES_DOC, 1),
            col("Selector", "string", doc(spec, "selector"), 1)]


def _rc_row(obj: dict, now: datetime) -> dict:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    names, images = layout_containers(((spec.get("template") or {}).get("spec")))
    desired = spec.get("replicas")
    return {"cells": [
        _name(obj), int(1 if desired is None else desired),  # v1 defaulting: replicas=1
        int(status.get("replicas") or 0), int(status.get("readyReplicas") or 0), age(obj, now),
        names, images, format_labels(spec.get("selector"))]}


PRINTERS: dict[tuple[str, str], Printer] = {
    ("", "Namespace"): (_namespace_cols, _namespace_row),
    ("", "Pod"): (pod_columns, print_pod),
    ("", "Service"): (_service_cols, _service_row),
    ("", "Endpoints"): (_endpoints_cols, _endpoints_row),
    ("", "ConfigMap"): (_configmap_cols, _configmap_row),
    ("", "Secret"): (_secret_cols, _secret_row),
    ("", "ServiceAccount"): (_sa_cols, _sa_row),
    ("", "PersistentVolumeClaim"): (_pvc_cols, _pvc_row),
    ("", "PersistentVolume"): (_pv_cols, _pv_row),
    ("", "Event"): (_event_cols, _event_row),
    ("", "Node"): (_node_cols, _node_row),
    ("", "ReplicationController"): (_rc_cols, _rc_row),
}
