"""Containers and volumes of a PodSpec: names, images, ports, env, mounts, resources, probes.

Ports validateContainers/validateContainerCommon, validateContainerPorts, ValidateEnv,
ValidateEnvFrom, ValidateVolumeMounts, ValidateVolumes/validateVolumeSource,
validateResourceRequirements and validateProbe/validateHandler of
pkg/apis/core/validation/validation.go. Fields that upstream always defaults (protocol,
imagePullPolicy, terminationMessagePolicy) are accepted when absent.
"""

from __future__ import annotations

from typing import Any

from kubeproc.api import quantity
from kubeproc.api.errors import Cause
from kubeproc.api.validation import names
from kubeproc.api.validation.fielderr import (
    NEGATIVE, as_dict, as_int, as_list, as_str, child, duplicate, forbidden, index, invalid, key,
    nonnegative, not_found, not_supported, required,
)

PROTOCOLS = ["SCTP", "TCP", "UDP"]  # sets.List(supportedPortProtocols)
PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
FILE_MODE_MSG = "must be a number between 0 and 0777 (octal), both inclusive"
# validateVolumeSource checks sources in this order; the second path name is upstream's own
# (including its "downwarAPI" and "cephFS" spellings) for the "more than 1" error.
VOLUME_SOURCES = [
    ("emptyDir", "emptyDir"), ("hostPath", "hostPath"), ("gitRepo", "gitRepo"),
    ("gcePersistentDisk", "gcePersistentDisk"), ("awsElasticBlockStore", "awsElasticBlockStore"),
    ("secret", "secret"), ("nfs", "nfs"), ("iscsi", "iscsi"), ("glusterfs", "glusterfs"),
    ("flocker", "flocker"), ("persistentVolumeClaim", "persistentVolumeClaim"), ("rbd", "rbd"),
    ("cinder", "cinder"), ("cephfs", "cephFS"), ("quobyte", "quobyte"),
    ("downwardAPI", "downwarAPI"), ("fc", "fc"), ("flexVolume", "flexVolume"),
    ("configMap", "configMap"), ("azureFile", "azureFile"), ("vsphereVolume", "vsphereVolume"),
    ("photonPersistentDisk", "photonPersistentDisk"), ("portworxVolume", "portworxVolume"),
    ("azureDisk", "azureDisk"), ("storageos", "storageos"), ("projected", "projected"),
    ("scaleIO", "scaleIO"), ("csi", "csi"), ("ephemeral", "ephemeral"), ("image", "image"),
]
_STANDARD_CONTAINER_RESOURCES = {"cpu", "memory", "ephemeral-storage"}


def _file_mode(path: str, mode: Any) -> list[Cause]:
    if isinstance(mode, int) and not 0 <= mode <= 0o777:
        return [invalid(path, mode, FILE_MODE_MSG)]
    return []


def _key_to_paths(items: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    for i, kp in enumerate(as_list(items)):
        kp, p = as_dict(kp), index(path, i)
        if not as_str(kp.get("key")):
            out.append(required(child(p, "key")))
        if not as_str(kp.get("path")):
            out.append(required(child(p, "path")))
        out.extend(_file_mode(child(p, "mode"), kp.get("mode")))
    return out


def _volume_source(vol: dict[str, Any], path: str) -> list[Cause]:
    out: list[Cause] = []
    count = 0
    for field_name, err_name in VOLUME_SOURCES:
        src = vol.get(field_name)
        if src is None:
            continue
        if count:
            out.append(forbidden(child(path, err_name), "may not specify more than 1 volume type"))
            continue
        count += 1
        src, p = as_dict(src), child(path, field_name)
        if field_name == "hostPath" and not as_str(src.get("path")):
            out.append(required(child(p, "path")))
        elif field_name == "secret":
            if not as_str(src.get("secretName")):
                out.append(required(child(p, "secretName")))
            out.extend(_file_mode(child(p, "defaultMode"), src.get("defaultMode")))
            out.extend(_key_to_paths(src.get("items"), child(p, "items")))
        elif field_name == "configMap":
            if not as_str(src.get("name")):
                out.append(required(child(p, "name")))
            out.extend(_file_mode(child(p, "defaultMode"), src.get("defaultMode")))
            out.extend(_key_to_paths(src.get("items"), child(p, "items")))
        elif field_name == "persistentVolumeClaim" and not as_str(src.get("claimName")):
            out.append(required(child(p, "claimName")))
        elif field_name == "nfs":
            if not as_str(src.get("server")):
                out.append(required(child(p, "server")))
            if not as_str(src.get("path")):
                out.append(required(child(p, "path")))
            if not as_str(src.get("path")).startswith("/"):
                out.append(invalid(child(p, "path"), as_str(src.get("path")), "must be an absolute path"))
        elif field_name == "emptyDir" and src.get("sizeLimit") is not None:
            if quantity.is_quantity(src["sizeLimit"]) and quantity.parse_quantity(src["sizeLimit"]) < 0:
                out.append(forbidden(child(p, "sizeLimit"), "SizeLimit field must be a valid resource quantity"))
    if count == 0:
        out.append(required(path, "must specify a volume type"))
    return out


def validate_volumes(volumes: Any, path: str) -> tuple[set[str], list[Cause]]:
    """ValidateVolumes: returns the names usable by volumeMounts and the errors."""
    out: list[Cause] = []
    known: set[str] = set()
    for i, vol in enumerate(as_list(volumes)):
        vol, p = as_dict(vol), index(path, i)
        errs = _volume_source(vol, p)
        name = as_str(vol.get("name"))
        if not name:
            errs.append(required(child(p, "name")))
        else:
            errs.extend(invalid(child(p, "name"), name, m) for m in names.is_dns1123_label(name))
        if name in known:
            errs.append(duplicate(child(p, "name"), name))
        if errs:
            out.extend(errs)
        else:
            known.add(name)
    return known, out


def _ports(ports: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    seen: set[str] = set()
    for i, port in enumerate(as_list(ports)):
        port, p = as_dict(port), index(path, i)
        name = as_str(port.get("name"))
        if name:
            msgs = names.is_valid_port_name(name)
            if msgs:
                out.extend(invalid(child(p, "name"), name, m) for m in msgs)
            elif name in seen:
                out.append(duplicate(child(p, "name"), name))
            else:
                seen.add(name)
        cport = as_int(port.get("containerPort"))
        if cport == 0:
            out.append(required(child(p, "containerPort")))
        else:
            out.extend(invalid(child(p, "containerPort"), cport, m) for m in names.is_valid_port_num(cport))
        hport = as_int(port.get("hostPort"))
        if hport:
            out.extend(invalid(child(p, "hostPort"), hport, m) for m in names.is_valid_port_num(hport))
        proto = port.get("protocol")
        if proto and proto not in PROTOCOLS:
            out.append(not_supported(child(p, "protocol"), proto, PROTOCOLS))
    return out


def host_port_conflicts(containers: Any, path: str, seen: set[str] | None = None) -> list[Cause]:
    # AccumulateUniqueHostPorts
    seen = set() if seen is None else seen
    out: list[Cause] = []
    for ci, ctr in enumerate(as_list(containers)):
        for pi, port in enumerate(as_list(as_dict(ctr).get("ports"))):
            port = as_dict(port)
            hport = as_int(port.get("hostPort"))
            if not hport:
                continue
            sig = f"{as_str(port.get('protocol')) or 'TCP'}/{as_str(port.get('hostIP'))}/{hport}"
            if sig in seen:
                out.append(duplicate(child(index(child(index(path, ci), "ports"), pi), "hostPort"), sig))
            seen.add(sig)
    return out


def _env(env: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    for i, ev in enumerate(as_list(env)):
        ev, p = as_dict(ev), index(path, i)
        name = as_str(ev.get("name"))
        if not name:
            out.append(required(child(p, "name")))
        else:
            out.extend(invalid(child(p, "name"), name, m) for m in names.is_relaxed_env_var_name(name))
        vf = ev.get("valueFrom")
        if vf is None:
            continue
        vf, vp = as_dict(vf), child(p, "valueFrom")
        sources = [s for s in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef")
                   if vf.get(s) is not None]
        for s in ("configMapKeyRef", "secretKeyRef"):
            if s in sources:
                ref, rp = as_dict(vf[s]), child(vp, s)
                rname = as_str(ref.get("name"))
                out.extend(invalid(child(rp, "name"), rname, m) for m in names.is_dns1123_subdomain(rname))
                k = as_str(ref.get("key"))
                if not k:
                    out.append(required(child(rp, "key")))
                else:
                    out.extend(invalid(child(rp, "key"), k, m) for m in names.is_config_map_key(k))
        if "fieldRef" in sources:
            out.extend(_env_field_ref(as_dict(vf["fieldRef"]), child(vp, "fieldRef")))
        if not sources:
            out.append(invalid(vp, "", "must specify one of: `fieldRef`, `resourceFieldRef`, "
                                       "`configMapKeyRef` or `secretKeyRef`"))
        elif as_str(ev.get("value")):
            out.append(invalid(vp, "", "may not be specified when `value` is not empty"))
        elif len(sources) > 1:
            out.append(invalid(vp, "", "may not have more than one field specified at a time"))
    return out


# validation.go validEnvDownwardAPIFieldPathExpressions (sorted, as sets.List prints them)
ENV_FIELD_PATHS = ["metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
                   "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP",
                   "status.podIPs"]
# pkg/apis/core/pods/helpers.go ConvertDownwardAPIFieldLabel: what v1 knows at all
_CONVERTIBLE = set(ENV_FIELD_PATHS) | {"metadata.annotations", "metadata.labels",
                                      "spec.restartPolicy", "spec.schedulerName", "status.phase"}


def _env_field_ref(ref: dict, path: str) -> list[Cause]:
    """validation.go validateObjectFieldSelector for env (apiVersion is defaulted to v1)."""
    fp = as_str(ref.get("fieldPath"))
    if not fp:
        return [required(child(path, "fieldPath"))]
    base, sub = fp, None
    if fp.endswith("']") and "['" in fp:  # fieldpath.SplitMaybeSubscriptedPath
        base, sub = fp[:fp.index("['")], fp[fp.index("['") + 2:-2]
    if sub is not None and base not in ("metadata.annotations", "metadata.labels"):
        return [invalid(child(path, "fieldPath"), fp, "error converting fieldPath: field label "
                                                      f"does not support subscript: {fp}")]
    if base not in _CONVERTIBLE:
        return [invalid(child(path, "fieldPath"), fp,
                        f"error converting fieldPath: field label not supported: {fp}")]
    if sub is not None:
        key = sub.lower() if base == "metadata.annotations" else sub
        return [invalid(path, key, m) for m in names.is_qualified_name(key)]
    if base not in ENV_FIELD_PATHS:
        return [not_supported(child(path, "fieldPath"), base, ENV_FIELD_PATHS)]
    return []


def _env_from(env_from: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    for i, ef in enumerate(as_list(env_from)):
        ef, p = as_dict(ef), index(path, i)
        prefix = as_str(ef.get("prefix"))
        if prefix:
            out.extend(invalid(child(p, "prefix"), prefix, m) for m in names.is_relaxed_env_var_name(prefix))
        sources = [s for s in ("configMapRef", "secretRef") if ef.get(s) is not None]
        for s in sources:
            rname = as_str(as_dict(ef[s]).get("name"))
            if not rname:
                out.append(required(child(p, s, "name")))
            else:
                out.extend(invalid(child(p, s, "name"), rname, m)
                           for m in names.name_is_dns_subdomain(rname, True))
        if not sources:
            out.append(invalid(path, "", "must specify one of: `configMapRef` or `secretRef`"))
        elif len(sources) > 1:
            out.append(invalid(path, "", "may not have more than one field specified at a time"))
    return out


def _mounts(mounts: Any, volumes: set[str], path: str) -> list[Cause]:
    out: list[Cause] = []
    points: set[str] = set()
    for i, m in enumerate(as_list(mounts)):
        m, p = as_dict(m), index(path, i)
        name, mpath = as_str(m.get("name")), as_str(m.get("mountPath"))
        if not name:
            out.append(required(child(p, "name")))
        if name not in volumes:
            out.append(not_found(child(p, "name"), name))
        if not mpath:
            out.append(required(child(p, "mountPath")))
        if mpath in points:
            out.append(invalid(child(p, "mountPath"), mpath, "must be unique"))
        points.add(mpath)
    return out


def _resource_name(name: str, path: str) -> list[Cause]:
    # validateContainerResourceName
    out = [invalid(path, name, m) for m in names.is_qualified_name(name)]
    if "/" not in name:
        if name not in _STANDARD_CONTAINER_RESOURCES and not name.startswith("hugepages-"):
            out.append(invalid(path, name, "must be a standard resource for containers"))
    return out


def _overcommit_allowed(name: str) -> bool:
    native = "/" not in name or name.startswith("kubernetes.io/")
    return native and not name.startswith("hugepages-")


def validate_resources(res: Any, path: str) -> list[Cause]:
    """validateResourceRequirements for a container's resources."""
    res = as_dict(res)
    out: list[Cause] = []
    lim_path, req_path = child(path, "limits"), child(path, "requests")
    limits, requests = as_dict(res.get("limits")), as_dict(res.get("requests"))
    parsed: dict[str, Any] = {}
    for section, sp in ((limits, lim_path), (requests, req_path)):
        for name in sorted(section):
            kp = key(sp, name)
            out.extend(_resource_name(name, kp))
            if quantity.is_quantity(section[name]):
                v = quantity.parse_quantity(section[name])
                if v < 0:
                    out.append(invalid(kp, quantity.format_quantity(section[name]), NEGATIVE))
                parsed[f"{sp}/{name}"] = v
    for name in sorted(requests):
        req = parsed.get(f"{req_path}/{name}")
        if req is None:
            continue
        shown = quantity.format_quantity(requests[name])
        if name in limits:
            lim = parsed.get(f"{lim_path}/{name}")
            if lim is None:
                continue
            lim_s = quantity.format_quantity(limits[name])
            if req != lim and not _overcommit_allowed(name):
                out.append(invalid(req_path, shown, f"must be equal to {name} limit of {lim_s}"))
            elif req > lim:
                out.append(invalid(req_path, shown, f"must be less than or equal to {name} limit of {lim_s}"))
        elif not _overcommit_allowed(name):
            out.append(required(lim_path, "Limit must be set for non overcommitable resources"))
    return out


def _port_num_or_name(port: Any, path: str) -> list[Cause]:
    if isinstance(port, str):
        return [invalid(path, port, m) for m in names.is_valid_port_name(port)]
    return [invalid(path, as_int(port), m) for m in names.is_valid_port_num(as_int(port))]


def _handler(h: dict[str, Any], path: str, kinds: tuple[str, ...]) -> list[Cause]:
    out: list[Cause] = []
    count = 0
    for kind in kinds:
        if h.get(kind) is None:
            continue
        if count:
            out.append(forbidden(child(path, kind), "may not specify more than 1 handler type"))
            continue
        count += 1
        spec, p = as_dict(h[kind]), child(path, kind)
        if kind == "exec" and not as_list(spec.get("command")):
            out.append(required(child(p, "command")))
        elif kind in ("httpGet", "tcpSocket"):
            out.extend(_port_num_or_name(spec.get("port"), child(p, "port")))
        elif kind == "grpc":
            out.extend(_port_num_or_name(as_int(spec.get("port")), child(p, "port")))
    if count == 0:
        out.append(required(path, "must specify a handler type"))
    return out


def _probe(probe: Any, path: str, liveness_or_startup: bool) -> list[Cause]:
    if probe is None:
        return []
    probe = as_dict(probe)
    out = _handler(probe, path, ("exec", "httpGet", "tcpSocket", "grpc"))
    for f in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold",
              "failureThreshold"):
        out.extend(nonnegative(child(path, f), probe.get(f)))
    if liveness_or_startup and probe.get("successThreshold", 1) != 1:
        out.append(invalid(child(path, "successThreshold"), probe.get("successThreshold"), "must be 1"))
    return out


def _common(ctr: dict[str, Any], volumes: set[str], path: str) -> list[Cause]:
    # validateContainerCommon
    out: list[Cause] = []
    name = as_str(ctr.get("name"))
    if not name:
        out.append(required(child(path, "name")))
    else:
        out.extend(invalid(child(path, "name"), name, m) for m in names.is_dns1123_label(name))
    if not as_str(ctr.get("image")):
        out.append(required(child(path, "image")))
    tmp = ctr.get("terminationMessagePolicy")
    if tmp and tmp not in ("File", "FallbackToLogsOnError"):
        out.append(not_supported(child(path, "terminationMessagePolicy"), tmp, ["File", "FallbackToLogsOnError"]))
    out.extend(_ports(ctr.get("ports"), child(path, "ports")))
    out.extend(_env(ctr.get("env"), child(path, "env")))
    out.extend(_env_from(ctr.get("envFrom"), child(path, "envFrom")))
    out.extend(_mounts(ctr.get("volumeMounts"), volumes, child(path, "volumeMounts")))
    pull = ctr.get("imagePullPolicy")
    if pull and pull not in PULL_POLICIES:
        out.append(not_supported(child(path, "imagePullPolicy"), pull, PULL_POLICIES))
    out.extend(validate_resources(ctr.get("resources"), child(path, "resources")))
    return out


def validate_containers(containers: Any, volumes: set[str], path: str) -> list[Cause]:
    """validateContainers: regular containers of a pod spec."""
    items = as_list(containers)
    if not items:
        return [required(path)]
    out: list[Cause] = []
    seen: set[str] = set()
    for i, ctr in enumerate(items):
        ctr, p = as_dict(ctr), index(path, i)
        out.extend(_common(ctr, volumes, p))
        name = as_str(ctr.get("name"))
        if name in seen:
            out.append(duplicate(child(p, "name"), name))
        seen.add(name)
        if ctr.get("lifecycle") is not None:
            lc = as_dict(ctr["lifecycle"])
            for hook in ("postStart", "preStop"):
                if lc.get(hook) is not None:
                    out.extend(_handler(as_dict(lc[hook]), child(p, "lifecycle", hook),
                                        ("exec", "httpGet", "tcpSocket", "sleep")))
        out.extend(_probe(ctr.get("livenessProbe"), child(p, "livenessProbe"), True))
        out.extend(_probe(ctr.get("readinessProbe"), child(p, "readinessProbe"), False))
        out.extend(_probe(ctr.get("startupProbe"), child(p, "startupProbe"), True))
        if ctr.get("restartPolicy") is not None:
            out.append(forbidden(child(p, "restartPolicy"), "may not be set for non-init containers"))
    out.extend(host_port_conflicts(items, path))
    return out


def validate_init_containers(containers: Any, regular: Any, volumes: set[str], path: str) -> list[Cause]:
    """validateInitContainers (names unique across regular and init containers)."""
    out: list[Cause] = []
    seen = {as_str(as_dict(c).get("name")) for c in as_list(regular)}
    for i, ctr in enumerate(as_list(containers)):
        ctr, p = as_dict(ctr), index(path, i)
        out.extend(_common(ctr, volumes, p))
        policy = ctr.get("restartPolicy")
        if policy is not None and policy != "Always":
            out.append(not_supported(child(p, "restartPolicy"), policy, ["Always"]))
        name = as_str(ctr.get("name"))
        if name in seen:
            out.append(duplicate(child(p, "name"), name))
        elif name:
            seen.add(name)
        out.extend(host_port_conflicts([ctr], path))
        if policy != "Always":
            for f in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe"):
                if ctr.get(f) is not None:
                    out.append(forbidden(child(p, f), "may not be set for init containers without restartPolicy=Always"))
    return out
