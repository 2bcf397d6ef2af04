"""A container's environment, as the kubelet builds it (kubelet_pods.go makeEnvironmentVariables).

Sources: service link variables (pkg/kubelet/envvars FromServices, see `service_env`), the
container's `envFrom` (ConfigMaps and Secrets, with prefix), then its `env` (literal values with
`$(VAR)` expansion, or `valueFrom` field/resource/ConfigMap/Secret references). Pure: the caller
passes the ConfigMaps/Secrets of the pod's namespace, the service env and the node facts.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from typing import Any

from kubeproc.agent.downward import DownwardError, pod_field_value, resource_field_value
from kubeproc.agent.expansion import expand, mapping_for

__all__ = ["EnvError", "EnvList", "container_env", "expand", "service_env"]

# apimachinery validation.IsEnvVarName (the pre-RelaxedEnvironmentVariableValidation rule).
_ENV_VAR_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")


class EnvError(Exception):
    """The environment cannot be built; str() is the kubelet's error text (the container is
    left Waiting with reason CreateContainerConfigError and this message)."""


class EnvList(list[tuple[str, str]]):
    """The (name, value) pairs in order, plus the Warning events the kubelet would record
    (`warnings`: (reason, message) pairs)."""

    warnings: list[tuple[str, str]]

    def __init__(self, items: Sequence[tuple[str, str]] = (), warnings: Sequence[tuple[str, str]] = ()):
        super().__init__(items)
        self.warnings = list(warnings)


def _secret_value(raw: str) -> str:
    # Stored Secrets carry base64 `data`; the kubelet passes the decoded bytes as a string.
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8", errors="surrogateescape")
    except (binascii.Error, ValueError):
        # The apiserver rejects non-base64 data, so this is a malformed fixture; keep it as is
        # rather than failing the pod worker.
        return raw


class _Sources:
    """The ConfigMaps/Secrets of the pod's namespace, with upstream's not-found errors."""

    def __init__(self, namespace: str, configmaps: Mapping[str, Mapping[str, Any]], secrets: Mapping[str, Mapping[str, Any]]):
        self.ns = namespace
        self.configmaps = configmaps
        self.secrets = secrets

    def configmap(self, name: str) -> dict[str, str] | None:
        obj = self.configmaps.get(name)
        # binaryData never reaches env upstream (makeEnvironmentVariables reads .Data only)
        return None if obj is None else dict(obj.get("data") or {})

    def secret(self, name: str) -> dict[str, str] | None:
        obj = self.secrets.get(name)
        if obj is None:
            return None
        return {k: _secret_value(v) for k, v in (obj.get("data") or {}).items()}


def container_env(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    *,
    configmaps: Mapping[str, Mapping[str, Any]],
    secrets: Mapping[str, Mapping[str, Any]],
    service_env: Mapping[str, str] | None,
    node_name: str,
    host_ip: str | Sequence[str],
    pod_ips: Sequence[str],
    node_allocatable: Mapping[str, Any] | None = None,
    relaxed_names: bool = True,
) -> EnvList | EnvError:
    """The container's environment, or the EnvError the kubelet would fail the container with.

    configmaps/secrets: the objects of the pod's namespace by name (Secrets with base64
    `data`). service_env: what `service_env()` yields (None: no services known). host_ip: the
    node IP(s) for status.hostIP(s). node_allocatable: node status.allocatable, used as the
    limit of resourceFieldRef when the container sets none. node_name is the node's name,
    used for spec.nodeName when the pod object does not carry it yet.
    relaxed_names: RelaxedEnvironmentVariableValidation (on by default in 1.33); off, envFrom
    keys that are not valid env names are skipped with an InvalidEnvironmentVariableNames
    warning, as kubelets did before RelaxedEnvironmentVariableValidation.

    Order: service variables not overridden, then envFrom/env in definition order (a later
    definition of a name replaces the earlier one at its new position). Upstream emits a Go map
    in random order; only the values and precedence are upstream's.
    """
    meta = pod.get("metadata") or {}
    ns = meta.get("namespace") or "default"
    svc = dict(service_env or {})
    sources = _Sources(ns, configmaps, secrets)
    host_ips = [h for h in ([host_ip] if isinstance(host_ip, str) else host_ip) if h]
    if not (pod.get("spec") or {}).get("nodeName") and node_name:
        pod = {**pod, "spec": {**(pod.get("spec") or {}), "nodeName": node_name}}
    tmp: dict[str, str] = {}
    warnings: list[tuple[str, str]] = []

    def put(name: str, value: str) -> None:
        tmp.pop(name, None)
        tmp[name] = value

    # Env overrides EnvFrom: process EnvFrom first.
    for env_from in container.get("envFrom") or []:
        prefix = env_from.get("prefix") or ""
        if env_from.get("configMapRef") is not None:
            ref, kind, label = env_from["configMapRef"], "configMap", "configmap"
            data = sources.configmap(ref.get("name") or "")
        elif env_from.get("secretRef") is not None:
            ref, kind, label = env_from["secretRef"], "secret", "secret"
            data = sources.secret(ref.get("name") or "")
        else:
            continue
        name = ref.get("name") or ""
        if data is None:
            if ref.get("optional") is True:
                continue
            # the kubelet's watch-based managers report NotFound for Resource("configmap"/"secret")
            return EnvError(f'{label} "{name}" not found')
        invalid = []
        for key, value in data.items():
            key = prefix + key
            if not relaxed_names and not _ENV_VAR_NAME.fullmatch(key):
                invalid.append(key)
                continue
            put(key, value)
        if invalid:
            warnings.append(
                (
                    "InvalidEnvironmentVariableNames",
                    f"Keys [{', '.join(sorted(invalid))}] from the EnvFrom {kind} {ns}/{name} were skipped "
                    "since they are considered invalid environment variable names.",
                )
            )

    mapping = mapping_for(tmp, svc)
    for env in container.get("env") or []:
        value = env.get("value") or ""
        value_from = env.get("valueFrom")
        if value:
            value = expand(value, mapping)
        elif value_from:
            try:
                resolved = _value_from(value_from, pod, container, sources, host_ips, pod_ips, node_allocatable or {})
            except (DownwardError, EnvError) as exc:
                return exc if isinstance(exc, EnvError) else EnvError(str(exc))
            if resolved is None:  # optional reference that is missing: variable skipped
                continue
            value = resolved
        put(env.get("name") or "", value)

    result = [(k, v) for k, v in svc.items() if k not in tmp]
    result.extend(tmp.items())
    return EnvList(result, warnings)


def _value_from(
    value_from: Mapping[str, Any],
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    sources: _Sources,
    host_ips: Sequence[str],
    pod_ips: Sequence[str],
    node_allocatable: Mapping[str, Any],
) -> str | None:
    if value_from.get("fieldRef") is not None:
        return pod_field_value(value_from["fieldRef"], pod, pod_ips=pod_ips, host_ips=host_ips)
    if value_from.get("resourceFieldRef") is not None:
        return resource_field_value(value_from["resourceFieldRef"], pod, container, node_allocatable)
    for field, label, kind, load in (
        ("configMapKeyRef", "configmap", "ConfigMap", sources.configmap),
        ("secretKeyRef", "secret", "Secret", sources.secret),
    ):
        ref = value_from.get(field)
        if ref is None:
            continue
        name, key = ref.get("name") or "", ref.get("key") or ""
        optional = ref.get("optional") is True
        data = load(name)
        if data is None:
            if optional:
                return None
            raise EnvError(f'{label} "{name}" not found')
        if key not in data:
            if optional:
                return None
            raise EnvError(f"couldn't find key {key} in {kind} {sources.ns}/{name}")
        return data[key]
    return ""  # an empty valueFrom (or fileKeyRef, feature off) yields an empty value


# ---- service links (pkg/kubelet/envvars/envvars.go) -----------------------------------------


def _env_name(name: str) -> str:
    # envvars.go makeEnvVariableName
    return name.replace("-", "_").upper()


def _host_port(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"  # net.JoinHostPort


def _from_service(service: Mapping[str, Any]) -> list[tuple[str, str]]:
    spec = service.get("spec") or {}
    ip = spec.get("clusterIP") or ""
    ports = spec.get("ports") or []
    if ip in ("", "None") or not ports:  # v1helper.IsServiceIPSet
        return []
    prefix = _env_name((service.get("metadata") or {}).get("name") or "")
    out = [(f"{prefix}_SERVICE_HOST", ip), (f"{prefix}_SERVICE_PORT", str(ports[0].get("port")))]
    for p in ports:  # every named port
        if p.get("name"):
            out.append((f"{prefix}_SERVICE_PORT_{_env_name(p['name'])}", str(p.get("port"))))
    # makeLinkVariables: Docker-link-compatible variables
    for i, p in enumerate(ports):
        proto = (p.get("protocol") or "TCP").lower()
        url = f"{proto}://{_host_port(ip, p.get('port'))}"
        if i == 0:
            out.append((f"{prefix}_PORT", url))
        pp = f"{prefix}_PORT_{p.get('port')}_{proto.upper()}"
        out += [(pp, url), (f"{pp}_PROTO", proto), (f"{pp}_PORT", str(p.get("port"))), (f"{pp}_ADDR", ip)]
    return out


def service_env(services: Sequence[Mapping[str, Any]], namespace: str, enable_service_links: bool) -> dict[str, str]:
    """kubelet_pods.go getServiceEnvVarMap: `kubernetes` of `default` always, the pod
    namespace's services when enableServiceLinks; services without a cluster IP are ignored."""
    chosen: dict[str, Mapping[str, Any]] = {}
    for s in services:
        meta = s.get("metadata") or {}
        name, ns = meta.get("name") or "", meta.get("namespace") or ""
        if not _from_service(s):
            continue
        if ns == "default" and name == "kubernetes":
            chosen.setdefault(name, s)
        elif ns == namespace and enable_service_links:
            chosen[name] = s
    out: dict[str, str] = {}
    for name in sorted(chosen):
        out.update(_from_service(chosen[name]))
    return out
