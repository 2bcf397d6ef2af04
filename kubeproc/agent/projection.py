"""What the kubelet projects into configMap, secret, downwardAPI and projected volumes.

Ports the payload builders (pkg/volume/configmap MakePayload, pkg/volume/secret MakePayload,
pkg/volume/downwardapi CollectData, pkg/volume/projected collectData) over dicts, and the fsGroup
ownership walk (pkg/volume/volume_linux.go SetVolumeOwnership). Errors are `ProjectionError`
whose text is the kubelet's (the caller wraps it as a FailedMount event).
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from collections.abc import Callable, Mapping
from typing import Any

from kubeproc.agent.atomicwriter import FileProjection
from kubeproc.agent.downward import (
    DownwardError,
    extract_field_path,
    merge_limits,
    container_resource_value,
)

DEFAULT_MODE = 0o644  # ConfigMap/Secret/DownwardAPI/Projected VolumeSourceDefaultMode

Getter = Callable[[str, str], "dict[str, Any] | None"]


class ProjectionError(Exception):
    """A payload the kubelet could not build; str() is upstream's error text."""


def _decode(raw: str) -> bytes:
    # stored Secrets carry base64 `data`; the apiserver rejects anything else
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProjectionError(f"illegal base64 data: {exc}") from exc


def _mode(item: Mapping[str, Any], default_mode: int) -> int:
    m = item.get("mode")
    return int(m) if m is not None else default_mode


def configmap_payload(items: list[dict[str, Any]] | None, cm: Mapping[str, Any], default_mode: int,
                      optional: bool) -> dict[str, FileProjection]:
    """configmap.go MakePayload: data then binaryData; `items` select and rename keys."""
    data: Mapping[str, str] = cm.get("data") or {}
    binary: Mapping[str, str] = cm.get("binaryData") or {}
    out: dict[str, FileProjection] = {}
    if not items:
        for k, v in data.items():
            out[k] = FileProjection(v.encode(), default_mode)
        for k, v in binary.items():
            out[k] = FileProjection(_decode(v), default_mode)
        return out
    for ktp in items:
        key = ktp.get("key") or ""
        if key in data:
            content = data[key].encode()
        elif key in binary:
            content = _decode(binary[key])
        elif optional:
            continue
        else:
            raise ProjectionError(f"configmap references non-existent config key: {key}")
        out[ktp.get("path") or ""] = FileProjection(content, _mode(ktp, default_mode))
    return out


def secret_payload(items: list[dict[str, Any]] | None, secret: Mapping[str, Any], default_mode: int,
                   optional: bool) -> dict[str, FileProjection]:
    """secret.go MakePayload over base64 `data` (stringData never reaches a stored object)."""
    data: Mapping[str, str] = secret.get("data") or {}
    out: dict[str, FileProjection] = {}
    if not items:
        for k, v in data.items():
            out[k] = FileProjection(_decode(v), default_mode)
        return out
    for ktp in items:
        key = ktp.get("key") or ""
        if key not in data:
            if optional:
                continue
            raise ProjectionError(f"references non-existent secret key: {key}")
        out[ktp.get("path") or ""] = FileProjection(_decode(data[key]), _mode(ktp, default_mode))
    return out


def _find_container(pod: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    spec = pod.get("spec") or {}
    for c in list(spec.get("containers") or []) + list(spec.get("initContainers") or []):
        if c.get("name") == name:
            return c
    raise ProjectionError(f"container {name} not found")


def downward_payload(items: list[dict[str, Any]] | None, pod: Mapping[str, Any], default_mode: int,
                     node_allocatable: Mapping[str, Any]) -> dict[str, FileProjection]:
    """downwardapi.go CollectData: fieldRef (metadata only, as API validation allows) and
    resourceFieldRef (ExtractResourceValueByContainerNameAndNodeAllocatable). All item errors
    are reported together, as upstream's aggregate ("[a, b]" for several)."""
    out: dict[str, FileProjection] = {}
    errors: list[str] = []
    for item in items or []:
        path = os.path.normpath(item.get("path") or "")
        content = b""
        try:
            if item.get("fieldRef"):
                content = extract_field_path(pod, item["fieldRef"].get("fieldPath") or "").encode()
            elif item.get("resourceFieldRef"):
                ref = item["resourceFieldRef"]
                target = merge_limits(_find_container(pod, ref.get("containerName") or ""), node_allocatable)
                content = container_resource_value(ref, target).encode()
        except (DownwardError, ProjectionError) as exc:
            errors.append(str(exc))
        out[path] = FileProjection(content, _mode(item, default_mode))
    if errors:
        raise ProjectionError(errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]")
    return out


def projected_payload(
    source: Mapping[str, Any],
    pod: Mapping[str, Any],
    *,
    config_map: Getter,
    secret: Getter,
    token: Callable[[Mapping[str, Any], Mapping[str, Any]], str | None],
    node_allocatable: Mapping[str, Any],
) -> dict[str, FileProjection]:
    """projected.go collectData: sources merged in order (a later path wins); per-source
    errors aggregated. serviceAccountToken files are 0600 when the pod has an fsGroup (the
    ownership walk then makes them 0640); `token(pod, source)` returning None omits the file."""
    ns = (pod.get("metadata") or {}).get("namespace") or ""
    default_mode = source.get("defaultMode")
    default_mode = DEFAULT_MODE if default_mode is None else int(default_mode)
    fs_group = ((pod.get("spec") or {}).get("securityContext") or {}).get("fsGroup")
    out: dict[str, FileProjection] = {}
    errors: list[str] = []
    for src in source.get("sources") or []:
        try:
            if src.get("secret") is not None:
                s = src["secret"]
                optional = bool(s.get("optional"))
                obj = secret(ns, s.get("name") or "")
                if obj is None:
                    if not optional:
                        raise ProjectionError(f'secret "{s.get("name") or ""}" not found')
                    obj = {}
                out.update(secret_payload(s.get("items"), obj, default_mode, optional))
            elif src.get("configMap") is not None:
                c = src["configMap"]
                optional = bool(c.get("optional"))
                obj = config_map(ns, c.get("name") or "")
                if obj is None:
                    if not optional:
                        raise ProjectionError(f'configmap "{c.get("name") or ""}" not found')
                    obj = {}
                out.update(configmap_payload(c.get("items"), obj, default_mode, optional))
            elif src.get("downwardAPI") is not None:
                out.update(downward_payload(src["downwardAPI"].get("items"), pod, default_mode, node_allocatable))
            elif src.get("serviceAccountToken") is not None:
                t = src["serviceAccountToken"]
                value = token(pod, t)
                if value is not None:
                    mode = 0o600 if fs_group is not None else default_mode
                    out[t.get("path") or ""] = FileProjection(value.encode(), mode)
            # clusterTrustBundle / podCertificate: not served by kubeproc; nothing projected
        except ProjectionError as exc:
            errors.append(str(exc))
    if errors:
        raise ProjectionError(errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]")
    return out


# volume_linux.go masks
_RW_MASK = 0o660
_RO_MASK = 0o440
_EXEC_MASK = 0o110


def _change_permission(path: str, fs_group: int, read_only: bool) -> None:
    # volume_linux.go changeFilePermission: lchown the group; chmod (not through symlinks)
    st = os.lstat(path)
    try:
        os.lchown(path, -1, fs_group)
    except OSError:
        pass  # upstream logs and carries on
    if stat.S_ISLNK(st.st_mode):
        return
    mask = _RO_MASK if read_only else _RW_MASK
    if stat.S_ISDIR(st.st_mode):
        mask |= stat.S_ISGID | _EXEC_MASK
    try:
        os.chmod(path, stat.S_IMODE(st.st_mode) | mask)
    except OSError:
        pass


def _needs_change(root: str, fs_group: int, read_only: bool) -> bool:
    # volume_linux.go requiresPermissionChange (fsGroupChangePolicy: OnRootMismatch)
    st = os.stat(root)
    if st.st_gid != fs_group or not stat.S_ISDIR(st.st_mode):
        return True
    want = (_RO_MASK if read_only else _RW_MASK) | _EXEC_MASK
    return (stat.S_IMODE(st.st_mode) & want) != want or not st.st_mode & stat.S_ISGID


def set_volume_ownership(root: str, fs_group: int | None, read_only: bool,
                         change_policy: str | None = None) -> None:
    """volume_linux.go SetVolumeOwnership: group `fs_group` and group read (+write unless
    read-only, +x and setgid on directories) over the tree, not following symlinks."""
    if fs_group is None:
        return
    if change_policy == "OnRootMismatch" and not _needs_change(root, fs_group, read_only):
        return
    _change_permission(root, fs_group, read_only)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            _change_permission(os.path.join(dirpath, name), fs_group, read_only)
