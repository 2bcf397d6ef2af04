"""Core (v1) kinds other than Pods and volumes: Service, ConfigMap, Secret, Namespace,
Event, ReplicationController, ServiceAccount, Endpoints, Node.

Ports ValidateService/ValidateServiceUpdate, ValidateConfigMap(Update), ValidateSecret(Update),
ValidateNamespace, legacyValidateEvent and ValidateReplicationControllerSpec of
pkg/apis/core/validation (events.go for Events). Fields upstream always defaults are
accepted when absent (the registry may not have run every defaulter).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
from typing import Any

from kubeproc.api.errors import Cause
from kubeproc.api.validation import names
from kubeproc.api.validation.containers import PROTOCOLS
from kubeproc.api.validation.fielderr import (
    GoRepr, as_dict, go_string_map, as_int, as_list, as_str, child, duplicate, forbidden, immutable,
    index, invalid, key, nonnegative, not_supported, required, too_long,
)
from kubeproc.api.validation.meta import validate_label_name, validate_labels
from kubeproc.api.validation.pods import validate_pod_template_spec
from kubeproc.api.validation.selectors import map_matches

MAX_SECRET_SIZE = 1024 * 1024  # core.MaxSecretSize, also the ConfigMap limit
SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
IP_MSG = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"


def _ip_errors(path: str, value: str) -> list[Cause]:
    # validation.IsValidIP (strict form)
    try:
        ip = ipaddress.ip_address(value)
    except ValueError:
        return [invalid(path, value, IP_MSG)]
    if str(ip) != value:
        return [invalid(path, value, f'must be in canonical form ("{ip}")')]
    return []


def _service_port_repr(p: dict[str, Any]) -> GoRepr:
    # %#v of the (protocol, port) key that ValidateService reports for duplicates
    return GoRepr(f'core.ServicePort{{Name:"", Protocol:"{as_str(p.get("protocol")) or "TCP"}", '
                  f'AppProtocol:(*string)(nil), Port:{as_int(p.get("port"))}, '
                  'TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}')


def _service_port(sp: dict[str, Any], require_name: bool, seen: set[str], path: str) -> list[Cause]:
    # validateServicePort
    out: list[Cause] = []
    name = as_str(sp.get("name"))
    if require_name and not name:
        out.append(required(child(path, "name")))
    elif name:
        out.extend(invalid(child(path, "name"), name, m) for m in names.is_dns1123_label(name))
        if name in seen:
            out.append(duplicate(child(path, "name"), name))
        seen.add(name)
    port = as_int(sp.get("port"))
    out.extend(invalid(child(path, "port"), port, m) for m in names.is_valid_port_num(port))
    proto = sp.get("protocol")
    if proto and proto not in PROTOCOLS:
        out.append(not_supported(child(path, "protocol"), proto, PROTOCOLS))
    tp = sp.get("targetPort")
    if isinstance(tp, str):
        out.extend(invalid(child(path, "targetPort"), tp, m) for m in names.is_valid_port_name(tp))
    elif tp is not None:
        out.extend(invalid(child(path, "targetPort"), as_int(tp), m) for m in names.is_valid_port_num(as_int(tp)))
    if sp.get("appProtocol") is not None:
        ap = as_str(sp.get("appProtocol"))
        out.extend(invalid(child(path, "appProtocol"), ap, m) for m in names.is_qualified_name(ap))
    return out


def validate_service(svc: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    out: list[Cause] = []
    spec = as_dict(svc.get("spec"))
    stype = as_str(spec.get("type")) or "ClusterIP"
    cluster_ips = [as_str(x) for x in as_list(spec.get("clusterIPs"))] or (
        [as_str(spec.get("clusterIP"))] if as_str(spec.get("clusterIP")) else [])
    headless = cluster_ips == ["None"]
    if old is not None:
        out.extend(_service_update(spec, as_dict(old.get("spec")), cluster_ips))
    ports = as_list(spec.get("ports"))
    if not ports and not headless and stype != "ExternalName":
        out.append(required("spec.ports"))
    if stype in ("LoadBalancer", "NodePort") and headless:
        out.append(invalid("spec.clusterIPs[0]", "None", f"may not be set to 'None' for {stype} services"))
    if stype == "ExternalName":
        if cluster_ips:
            out.append(forbidden("spec.clusterIPs", "may not be set for ExternalName services"))
        cname = as_str(spec.get("externalName")).removesuffix(".")
        if cname:
            out.extend(invalid("spec.externalName", cname, m) for m in names.is_dns1123_subdomain(cname))
        else:
            out.append(required("spec.externalName"))
    seen: set[str] = set()
    for i, p in enumerate(ports):
        out.extend(_service_port(as_dict(p), len(ports) > 1, seen, index("spec.ports", i)))
    if spec.get("selector") is not None:
        out.extend(validate_labels(spec.get("selector"), "spec.selector"))
    aff = spec.get("sessionAffinity")
    if aff and aff not in ("ClientIP", "None"):
        out.append(not_supported("spec.sessionAffinity", aff, ["ClientIP", "None"]))
    if stype != "ExternalName":
        for i, ip in enumerate(cluster_ips):
            if not (i == 0 and ip == "None"):
                out.extend(_ip_errors(index("spec.clusterIPs", i), ip))
    for i, ip in enumerate(as_list(spec.get("externalIPs"))):
        out.extend(_ip_errors(index("spec.externalIPs", i), as_str(ip)))
    if spec.get("type") and stype not in SERVICE_TYPES:
        out.append(not_supported("spec.type", stype, SERVICE_TYPES))
    node_ports: set[tuple[str, int]] = set()
    port_keys: set[tuple[str, int]] = set()
    for i, p in enumerate(ports):
        p, pp = as_dict(p), index("spec.ports", i)
        np_ = as_int(p.get("nodePort"))
        if np_ and stype == "ClusterIP":
            out.append(forbidden(child(pp, "nodePort"), "may not be used when `type` is 'ClusterIP'"))
        elif np_ and not 1 <= np_ <= 65535:
            # validation checks a port number; the configured range is the allocator's
            # (registry/nodeports.py, as pkg/registry/core/service/portallocator)
            out.append(invalid(child(pp, "nodePort"), np_, "must be between 1 and 65535, inclusive"))
        proto = as_str(p.get("protocol")) or "TCP"
        if np_:
            if (proto, np_) in node_ports:
                out.append(duplicate(child(pp, "nodePort"), np_))
            node_ports.add((proto, np_))
        pk = (proto, as_int(p.get("port")))
        if pk in port_keys:
            out.append(duplicate(pp, _service_port_repr(p)))
        port_keys.add(pk)
    itp = spec.get("internalTrafficPolicy")
    if itp is not None and itp not in ("Cluster", "Local"):
        out.append(not_supported("spec.internalTrafficPolicy", itp, ["Cluster", "Local"]))
    etp = spec.get("externalTrafficPolicy")
    if etp and etp not in ("Cluster", "Local"):
        out.append(not_supported("spec.externalTrafficPolicy", etp, ["Cluster", "Local"]))
    return out


def _service_update(spec: dict[str, Any], old_spec: dict[str, Any], new_ips: list[str]) -> list[Cause]:
    # validateUpgradeDowngradeClusterIPs: the primary clusterIP may not change once set
    if "ExternalName" in (spec.get("type"), old_spec.get("type")):
        return []
    old_ips = [as_str(x) for x in as_list(old_spec.get("clusterIPs"))] or (
        [as_str(old_spec.get("clusterIP"))] if as_str(old_spec.get("clusterIP")) else [])
    if not old_ips or not new_ips or old_ips == ["None"] == new_ips:
        return []  # an omitted clusterIP keeps the allocated one (upstream PrepareForUpdate)
    if new_ips[0] != old_ips[0]:
        return [invalid("spec.clusterIPs[0]", new_ips, "may not change once set")]
    return []


def _data_size_and_keys(data: Any, path: str, decode: bool) -> tuple[int, list[Cause]]:
    out: list[Cause] = []
    total = 0
    for k, v in as_dict(data).items():
        out.extend(invalid(key(path, k), k, m) for m in names.is_config_map_key(k))
        if decode:
            try:
                total += len(base64.b64decode(as_str(v), validate=True))
            except (binascii.Error, ValueError):
                total += len(as_str(v))
        else:
            total += len(as_str(v).encode())
    return total, out


def validate_config_map(cm: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    out: list[Cause] = []
    if old is not None and old.get("immutable") is True:
        if cm.get("immutable") is not True:
            out.append(forbidden("immutable", "field is immutable when `immutable` is set"))
        if cm.get("data") != old.get("data"):
            out.append(forbidden("data", "field is immutable when `immutable` is set"))
        if cm.get("binaryData") != old.get("binaryData"):
            out.append(forbidden("binaryData", "field is immutable when `immutable` is set"))
    size, errs = _data_size_and_keys(cm.get("data"), "data", False)
    out.extend(errs)
    for k in as_dict(cm.get("data")):
        if k in as_dict(cm.get("binaryData")):
            out.append(invalid(key("data", k), k, "duplicate of key present in binaryData"))
    bsize, errs = _data_size_and_keys(cm.get("binaryData"), "binaryData", True)
    out.extend(errs)
    if size + bsize > MAX_SECRET_SIZE:
        out.append(too_long("[]", MAX_SECRET_SIZE))
    return out


_SECRET_REQUIRED = {
    "kubernetes.io/dockercfg": [".dockercfg"],
    "kubernetes.io/dockerconfigjson": [".dockerconfigjson"],
    "kubernetes.io/ssh-auth": ["ssh-privatekey"],
    "kubernetes.io/tls": ["tls.crt", "tls.key"],
}


def validate_secret(secret: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    out: list[Cause] = []
    if old is not None:
        out.extend(immutable("type", as_str(secret.get("type")), as_str(old.get("type"))))
        if old.get("immutable") is True:
            if secret.get("immutable") is not True:
                out.append(forbidden("immutable", "field is immutable when `immutable` is set"))
            if secret.get("data") != old.get("data"):
                out.append(forbidden("data", "field is immutable when `immutable` is set"))
    data = dict(as_dict(secret.get("data")))
    # stringData is merged into data before validation upstream (v1 conversion).
    for k, v in as_dict(secret.get("stringData")).items():
        data[k] = base64.b64encode(as_str(v).encode()).decode()
    size, errs = _data_size_and_keys(data, "data", True)
    out.extend(errs)
    if size > MAX_SECRET_SIZE:
        out.append(too_long("data", MAX_SECRET_SIZE))
    stype = as_str(secret.get("type"))
    if stype == "kubernetes.io/service-account-token":
        ann = as_dict(as_dict(secret.get("metadata")).get("annotations"))
        if not as_str(ann.get("kubernetes.io/service-account.name")):
            out.append(required("metadata.annotations[kubernetes.io/service-account.name]"))
    elif stype == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            out.extend([required("data[username]"), required("data[password]")])
    for k in _SECRET_REQUIRED.get(stype, []):
        if k not in data or (k == "ssh-privatekey" and not data[k]):
            out.append(required(key("data", k)))
        elif k.startswith(".docker"):
            try:
                json.loads(base64.b64decode(as_str(data[k])) or b"")
            except (ValueError, binascii.Error) as e:
                out.append(invalid(key("data", k), "<secret contents redacted>", str(e)))
    return out


def validate_namespace(ns: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    out: list[Cause] = []
    if old is None:
        for f in as_list(as_dict(ns.get("spec")).get("finalizers")):
            f = as_str(f)
            out.extend(invalid("spec.finalizers", f, m) for m in names.is_qualified_name(f))
            if "/" not in f and f not in ("kubernetes", "orphan", "foregroundDeletion"):
                out.append(invalid("spec.finalizers", f,
                                   "name is neither a standard finalizer name nor is it fully qualified"))
    return out


def validate_event(ev: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    # events.go legacyValidateEvent (core/v1 Events)
    out: list[Cause] = []
    ns = as_str(as_dict(ev.get("metadata")).get("namespace"))
    inv_ns = as_str(as_dict(ev.get("involvedObject")).get("namespace"))
    mismatch = "does not match event.namespace"
    if not ev.get("eventTime"):
        if not inv_ns:
            if ns not in ("", "default"):
                out.append(invalid("involvedObject.namespace", inv_ns, mismatch))
        elif ns != inv_ns:
            out.append(invalid("involvedObject.namespace", inv_ns, mismatch))
    else:
        if not inv_ns and ns not in ("default", "kube-system"):
            out.append(invalid("involvedObject.namespace", inv_ns, mismatch))
        rc = as_str(ev.get("reportingComponent"))
        if not rc:
            out.append(required("reportingComponent"))
        out.extend(invalid("reportingComponent", rc, m) for m in names.is_qualified_name(rc))
        if not as_str(ev.get("reportingInstance")):
            out.append(required("reportingInstance"))
        if not as_str(ev.get("action")):
            out.append(required("action"))
    etype = as_str(ev.get("type"))
    if etype and etype not in ("Normal", "Warning"):
        out.append(invalid("type", etype, "has invalid value: " + etype))
    return out


def validate_replication_controller(rc: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    # ValidateReplicationControllerSpec / ValidatePodTemplateSpecForRC
    spec = as_dict(rc.get("spec"))
    out = nonnegative("spec.minReadySeconds", spec.get("minReadySeconds"))
    selector = as_dict(spec.get("selector"))
    if not selector:
        out.append(required("spec.selector"))
    out.extend(nonnegative("spec.replicas", spec.get("replicas")))
    template = spec.get("template")
    if template is None:
        out.append(required("spec.template"))
        return out
    labels = as_dict(as_dict(template).get("metadata")).get("labels")
    if selector and not map_matches(selector, labels):
        out.append(invalid("spec.template.metadata.labels", go_string_map(labels if isinstance(labels, dict) else None),
                           "`selector` does not match template `labels`"))
    out.extend(validate_pod_template_spec(template, "spec.template"))
    tspec = as_dict(as_dict(template).get("spec"))
    rp = tspec.get("restartPolicy")
    if rp and rp != "Always":
        out.append(not_supported("spec.template.spec.restartPolicy", rp, ["Always"]))
    if tspec.get("activeDeadlineSeconds") is not None:
        out.append(forbidden("spec.template.spec.activeDeadlineSeconds",
                             "activeDeadlineSeconds in ReplicationController is not Supported"))
    return out


def validate_endpoints(ep: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    out: list[Cause] = []
    for i, ss in enumerate(as_list(ep.get("subsets"))):
        ss, p = as_dict(ss), index("subsets", i)
        if not as_list(ss.get("addresses")) and not as_list(ss.get("notReadyAddresses")):
            out.append(required(p, "must specify `addresses` or `notReadyAddresses`"))
        for group in ("addresses", "notReadyAddresses"):
            for j, addr in enumerate(as_list(ss.get(group))):
                out.extend(_ip_errors(child(index(child(p, group), j), "ip"), as_str(as_dict(addr).get("ip"))))
        ports = as_list(ss.get("ports"))
        for j, port in enumerate(ports):
            port, pp = as_dict(port), index(child(p, "ports"), j)
            if len(ports) > 1 and not as_str(port.get("name")):
                out.append(required(child(pp, "name")))
            out.extend(invalid(child(pp, "port"), as_int(port.get("port")), m)
                       for m in names.is_valid_port_num(as_int(port.get("port"))))
    return out


def validate_node(node: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    out: list[Cause] = []
    for i, t in enumerate(as_list(as_dict(node.get("spec")).get("taints"))):
        t, p = as_dict(t), index("metadata.taints", i)  # upstream reports under metadata.taints
        out.extend(validate_label_name(as_str(t.get("key")), child(p, "key")))
        eff = as_str(t.get("effect"))
        if not eff:
            out.append(required(child(p, "effect")))
        elif eff not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            out.append(not_supported(child(p, "effect"), eff, ["NoSchedule", "PreferNoSchedule", "NoExecute"]))
    return out

