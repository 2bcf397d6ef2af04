"""Pod volumes on the host, as the kubelet's volume plugins lay them out: which directory each
volume of a pod is, set up before its containers start, refreshed while it runs, removed after.

Plugins: emptyDir (a tmpfs for medium Memory: with mounts.py's staged subPath binds, the only
host mounts; `teardown_pod_volumes` removes both), configMap, secret,
downwardAPI and projected (AtomicWriter-managed, always read-only), hostPath (type checks),
persistentVolumeClaim and generic ephemeral volumes (the bound PV's host directory). Layout:
`<pod_dir>/volumes/kubernetes.io~<plugin>/<volume name>` (pkg/kubelet/kubelet_getters.go).
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from kubeproc.agent.atomicwriter import AtomicWriter, FileProjection, PayloadError
from kubeproc.agent.hostmount import is_mount_point, sys_mount, unmount_all_under
from kubeproc.agent.projection import (
    DEFAULT_MODE,
    ProjectionError,
    configmap_payload,
    downward_payload,
    projected_payload,
    secret_payload,
    set_volume_ownership,
)
from kubeproc.agent.runtime.rootfs import mounts_under
from kubeproc.api.quantity import QuantityError, parse_quantity

FAILED_MOUNT = "FailedMount"
CONFIG_ERROR = "CreateContainerConfigError"

PLUGIN_DIRS = {  # strings.EscapeQualifiedNameForDisk(plugin name)
    "emptyDir": "kubernetes.io~empty-dir",
    "configMap": "kubernetes.io~configmap",
    "secret": "kubernetes.io~secret",
    "downwardAPI": "kubernetes.io~downward-api",
    "projected": "kubernetes.io~projected",
}
PROJECTED_KINDS = ("configMap", "secret", "downwardAPI", "projected")
SUBPATHS_DIR = "volume-subpaths"  # kubelet_getters.go getPodVolumeSubpathsDir


class VolumeError(Exception):
    """A volume the kubelet cannot provide. `reason` is FailedMount (pod event) or
    CreateContainerConfigError (container Waiting reason); `message` is the user-facing text
    (for FailedMount: `MountVolume.SetUp failed for volume "v" : <detail>`); `detail` is the
    underlying cause (upstream logs it; for subPath errors it is not shown to users)."""

    def __init__(self, reason: str, message: str, volume: str = "", detail: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.volume = volume
        self.detail = detail or message


def _mount_failed(volume: str, detail: str) -> VolumeError:
    # operation_generator.go: GenerateError("MountVolume.SetUp failed", err)
    return VolumeError(FAILED_MOUNT, f'MountVolume.SetUp failed for volume "{volume}" : {detail}', volume, detail)


@dataclass(frozen=True)
class HostVolume:
    """Where a pod volume is on the host and whether every mount of it must be read-only."""

    path: str
    read_only: bool
    kind: str


@dataclass
class VolumeSources:
    """The lead's lookups (each returns None when the object does not exist)."""

    config_map: Callable[[str, str], dict[str, Any] | None]
    secret: Callable[[str, str], dict[str, Any] | None]
    pvc: Callable[[str, str], dict[str, Any] | None]
    pv: Callable[[str], dict[str, Any] | None]
    service_account_token: Callable[[Mapping[str, Any]], str | None]
    pv_path: Callable[[Mapping[str, Any]], str | None]
    node_allocatable: Mapping[str, Any] = field(default_factory=dict)  # for resourceFieldRef, tmpfs size


# ---- plugins ---------------------------------------------------------------------------------

def _volume_dir(pod_dir: str, kind: str, name: str) -> str:
    return os.path.join(pod_dir, "volumes", PLUGIN_DIRS[kind], name)


def _kind(volume: Mapping[str, Any]) -> str:
    for k in ("emptyDir", "configMap", "secret", "downwardAPI", "projected", "hostPath",
              "persistentVolumeClaim", "ephemeral"):
        if volume.get(k) is not None:
            return k
    return ""


def _fs_group(pod: Mapping[str, Any]) -> int | None:
    g = ((pod.get("spec") or {}).get("securityContext") or {}).get("fsGroup")
    return int(g) if g is not None else None


def _setup_dir(path: str) -> None:
    # empty_dir.go setupDir: 0777 whatever the umask
    os.makedirs(path, exist_ok=True)
    if stat.S_IMODE(os.lstat(path).st_mode) != 0o777:
        os.chmod(path, 0o777)


def _q(v: Any) -> Fraction | None:
    try:
        return parse_quantity(v) if v not in (None, "") else None
    except QuantityError:
        return None


def pod_memory_limit(pod: Mapping[str, Any]) -> Fraction | None:
    """cm.ResourceConfigForPod's memory: max(sum of app limits, largest init limit), only when
    every container declares a memory limit."""
    spec = pod.get("spec") or {}
    app = [_q(((c.get("resources") or {}).get("limits") or {}).get("memory")) for c in spec.get("containers") or []]
    init = [_q(((c.get("resources") or {}).get("limits") or {}).get("memory")) for c in spec.get("initContainers") or []]
    if not app or any(v is None for v in app + init):
        return None
    return max([sum(v for v in app if v is not None)] + [v for v in init if v is not None])


def tmpfs_size(pod: Mapping[str, Any], empty_dir: Mapping[str, Any], allocatable: Mapping[str, Any]) -> int | None:
    """empty_dir.go calculateEmptyDirMemorySize: node allocatable memory, lowered to the pod's
    memory limit, lowered to sizeLimit (each only when positive and smaller)."""
    size = _q(allocatable.get("memory"))
    for cand in (pod_memory_limit(pod), _q(empty_dir.get("sizeLimit"))):
        if cand is not None and cand > 0 and (size is None or cand <= size):
            size = cand
    return int(size) if size is not None and size > 0 else None


def _empty_dir(pod: Mapping[str, Any], vol: Mapping[str, Any], pod_dir: str, src: VolumeSources) -> HostVolume:
    path = _volume_dir(pod_dir, "emptyDir", vol["name"])
    ed = vol.get("emptyDir") or {}
    medium = ed.get("medium") or ""
    if medium not in ("", "Memory"):  # HugePages media need hugetlbfs: not supported here
        raise _mount_failed(vol["name"], f"unsupported medium: {medium}")
    _setup_dir(path)
    # empty_dir.go setupTmpfs: the tmpfs root keeps the kernel's 1777
    if medium == "Memory" and not is_mount_point(path):
        size = tmpfs_size(pod, ed, src.node_allocatable)
        sys_mount("tmpfs", path, "tmpfs", 0, f"size={size}" if size else None)
    set_volume_ownership(path, _fs_group(pod), read_only=False)
    return HostVolume(path, False, "emptyDir")


def _payload(kind: str, pod: Mapping[str, Any], vol: Mapping[str, Any], src: VolumeSources) -> dict[str, FileProjection]:
    ns = (pod.get("metadata") or {}).get("namespace") or ""
    spec = vol[kind]
    mode = spec.get("defaultMode")
    mode = DEFAULT_MODE if mode is None else int(mode)
    if kind == "configMap":
        optional = bool(spec.get("optional"))
        cm = src.config_map(ns, spec.get("name") or "")
        if cm is None and not optional:
            raise ProjectionError(f'configmap "{spec.get("name") or ""}" not found')
        return configmap_payload(spec.get("items"), cm or {}, mode, optional)
    if kind == "secret":
        optional = bool(spec.get("optional"))
        sec = src.secret(ns, spec.get("secretName") or "")
        if sec is None and not optional:
            raise ProjectionError(f'secret "{spec.get("secretName") or ""}" not found')
        return secret_payload(spec.get("items"), sec or {}, mode, optional)
    if kind == "downwardAPI":
        return downward_payload(spec.get("items"), pod, mode, src.node_allocatable)
    return projected_payload(spec, pod, config_map=src.config_map, secret=src.secret,
                             token=lambda p, _t: src.service_account_token(p),
                             node_allocatable=src.node_allocatable)


def _projected(pod: Mapping[str, Any], vol: Mapping[str, Any], pod_dir: str, src: VolumeSources,
               kind: str) -> tuple[HostVolume, bool]:
    """configMap/secret/downwardAPI/projected: build the payload first (so a failure leaves
    the previous content in place, as upstream), then write it atomically."""
    name = vol["name"]
    try:
        payload = _payload(kind, pod, vol, src)
    except ProjectionError as exc:
        raise _mount_failed(name, str(exc)) from None
    path = _volume_dir(pod_dir, kind, name)
    _setup_dir(path)
    fs_group = _fs_group(pod)

    def set_perms(_ts: str) -> None:
        set_volume_ownership(path, fs_group, read_only=True)

    try:
        changed = AtomicWriter(path).write(payload, set_perms if fs_group is not None else None)
    except PayloadError as exc:
        raise _mount_failed(name, str(exc)) from None
    return HostVolume(path, True, kind), changed


_HOST_TYPES = {  # hostutil GetFileType names, by stat format
    stat.S_IFDIR: "Directory", stat.S_IFREG: "File", stat.S_IFSOCK: "Socket",
    stat.S_IFCHR: "CharDevice", stat.S_IFBLK: "BlockDevice",
}


def _type_matched(path: str, expected: str, description: str) -> None:
    # host_path.go typeMatchedOrError
    try:
        st = os.stat(path)
    except OSError:
        raise ProjectionError(f"hostPath {path} doesn't exist") from None
    actual = _HOST_TYPES.get(stat.S_IFMT(st.st_mode))
    if actual is None:
        raise ProjectionError(f"hostPath type check failed, {path} is not a {description}, unable to determine its type: "
                              "only recognise file, directory, socket, block device and character device")
    if actual != expected:
        raise ProjectionError(f"hostPath type check failed: {path} is not a {description}, it's a {actual}")


def check_host_path(path: str, path_type: str) -> None:
    """host_path.go SetUp + checkType (raises ProjectionError with upstream's text)."""
    if ".." in path.split("/"):  # validation.ValidatePathNoBacksteps
        raise ProjectionError(f"invalid HostPath `{path}`: must not contain '..'")
    exists = os.path.exists(path)
    if path_type == "":
        return
    if path_type == "DirectoryOrCreate":
        if not exists:
            os.makedirs(path, 0o755, exist_ok=True)
            return
        path_type = "Directory"
    if path_type == "FileOrCreate":
        if not exists:
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
            return
        path_type = "File"
    desc = {"Directory": "directory", "File": "file", "Socket": "socket file",
            "CharDevice": "character device", "BlockDevice": "block device"}.get(path_type)
    if desc is None:
        raise ProjectionError(f"{path_type} is an invalid volume type")
    _type_matched(path, path_type, desc)


def _host_path(vol: Mapping[str, Any]) -> HostVolume:
    hp = vol["hostPath"]
    path = hp.get("path") or ""
    try:
        check_host_path(path, hp.get("type") or "")
    except (ProjectionError, OSError) as exc:
        raise _mount_failed(vol["name"], str(exc)) from None
    return HostVolume(path, False, "hostPath")


def _pv_matches_node(pv: Mapping[str, Any], node_name: str) -> bool:
    # util.CheckNodeAffinity, for the one label kubeproc's node surely has: kubernetes.io/hostname
    terms = ((((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {})
             .get("nodeSelectorTerms") or [])
    if not terms:
        return True
    for term in terms:
        ok = True
        for expr in term.get("matchExpressions") or []:
            if expr.get("key") != "kubernetes.io/hostname":
                continue  # other labels are not known here: assume they match
            values = expr.get("values") or []
            op = expr.get("operator")
            if (op == "In" and node_name not in values) or (op == "NotIn" and node_name in values):
                ok = False
        if ok:
            return True
    return False


def _claim(pod: Mapping[str, Any], vol: Mapping[str, Any], src: VolumeSources, node_name: str) -> HostVolume:
    """desired_state_of_world_populator.go getPVCExtractPV/getPVSpec, then the PV's directory."""
    meta = pod.get("metadata") or {}
    ns, name = meta.get("namespace") or "", vol["name"]
    if vol.get("ephemeral") is not None:  # generic ephemeral: the PVC is <pod>-<volume>
        claim, read_only = f"{meta.get('name')}-{name}", False
    else:
        claim = vol["persistentVolumeClaim"].get("claimName") or ""
        read_only = bool(vol["persistentVolumeClaim"].get("readOnly"))
    prefix = f"error processing PVC {ns}/{claim}: "
    pvc = src.pvc(ns, claim)
    if pvc is None:
        raise _mount_failed(name, prefix + f'failed to fetch PVC from API server: persistentvolumeclaims "{claim}" not found')
    if vol.get("ephemeral") is not None and not any(
            r.get("uid") == meta.get("uid") and r.get("controller")
            for r in (pvc.get("metadata") or {}).get("ownerReferences") or []):
        raise _mount_failed(name, f"PVC {ns}/{claim} was not created for pod {ns}/{meta.get('name')} (pod is not owner)")
    if (pvc.get("metadata") or {}).get("deletionTimestamp"):
        raise _mount_failed(name, f"can't start pod because PVC {ns}/{claim} is being deleted")
    phase = (pvc.get("status") or {}).get("phase") or ""
    pv_name = (pvc.get("spec") or {}).get("volumeName") or ""
    if phase != "Bound" or not pv_name:
        raise _mount_failed(name, prefix + f'PVC {ns}/{claim} has non-bound phase ("{phase}") or empty pvc.Spec.VolumeName ("{pv_name}")')
    pv = src.pv(pv_name)
    if pv is None:
        raise _mount_failed(name, prefix + f'failed to fetch PV "{pv_name}" from API server: persistentvolumes "{pv_name}" not found')
    ref = (pv.get("spec") or {}).get("claimRef")
    if not ref:
        raise _mount_failed(name, prefix + f'found PV object "{pv_name}" but it has a nil pv.Spec.ClaimRef indicating it is not yet bound to the claim')
    pvc_uid = (pvc.get("metadata") or {}).get("uid") or ""
    if ref.get("uid") != pvc_uid:
        raise _mount_failed(name, prefix + f'found PV object "{pv_name}" but its pv.Spec.ClaimRef.UID ("{ref.get("uid") or ""}") does not point to claim.UID ("{pvc_uid}")')
    if not _pv_matches_node(pv, node_name):
        raise VolumeError(FAILED_MOUNT, f'MountVolume.NodeAffinity check failed for volume "{name}" : '
                          "no matching NodeSelectorTerms", name, "no matching NodeSelectorTerms")
    path = src.pv_path(pv)
    if not path:
        raise _mount_failed(name, "no volume plugin matched")
    pv_spec = pv.get("spec") or {}
    if pv_spec.get("hostPath") is not None:
        try:
            check_host_path(path, pv_spec["hostPath"].get("type") or "")
        except (ProjectionError, OSError) as exc:
            raise _mount_failed(name, str(exc)) from None
    elif not os.path.isdir(path):  # local.go SetUpAt: the path must exist
        raise _mount_failed(name, f"lstat {path}: no such file or directory")
    elif not read_only:  # local volumes (not hostPath) get fsGroup ownership
        policy = ((pod.get("spec") or {}).get("securityContext") or {}).get("fsGroupChangePolicy")
        set_volume_ownership(path, _fs_group(pod), False, policy)
    return HostVolume(path, read_only, "persistentVolumeClaim")


def _setup_one(pod: Mapping[str, Any], vol: Mapping[str, Any], pod_dir: str, src: VolumeSources,
               node_name: str) -> tuple[HostVolume, bool]:
    try:
        return _setup_kind(pod, vol, pod_dir, src, node_name)
    except OSError as exc:  # EPERM/ENOSPC/... while creating or mounting: a failed SetUp
        raise _mount_failed(vol.get("name") or "", str(exc)) from None


def _setup_kind(pod: Mapping[str, Any], vol: Mapping[str, Any], pod_dir: str, src: VolumeSources,
                node_name: str) -> tuple[HostVolume, bool]:
    kind = _kind(vol)
    if kind == "emptyDir":
        return _empty_dir(pod, vol, pod_dir, src), False
    if kind in PROJECTED_KINDS:
        return _projected(pod, vol, pod_dir, src, kind)
    if kind == "hostPath":
        return _host_path(vol), False
    if kind in ("persistentVolumeClaim", "ephemeral"):
        return _claim(pod, vol, src, node_name), False
    raise _mount_failed(vol.get("name") or "", "no volume plugin matched")


# ---- the agent's entry points ----------------------------------------------------------------

def setup_pod_volumes(pod: Mapping[str, Any], pod_dir: str, src: VolumeSources,
                      node_name: str) -> dict[str, HostVolume]:
    """Set up every volume of the pod (idempotent: existing emptyDir content and tmpfs mounts
    are kept, projected content is updated). Raises VolumeError (reason FailedMount) for the
    first volume that cannot be provided."""
    out: dict[str, HostVolume] = {}
    for vol in (pod.get("spec") or {}).get("volumes") or []:
        out[vol["name"]], _ = _setup_one(pod, vol, pod_dir, src, node_name)
    return out


def refresh_pod_volumes(pod: Mapping[str, Any], pod_dir: str, src: VolumeSources, node_name: str,
                        errors: list[VolumeError] | None = None) -> bool:
    """Re-project configMap/secret/downwardAPI/projected volumes (the kubelet's periodic
    remount). True if any content changed. A volume that fails keeps its previous content;
    its VolumeError is appended to `errors` (when given) for a FailedMount event."""
    changed = False
    for vol in (pod.get("spec") or {}).get("volumes") or []:
        if _kind(vol) not in PROJECTED_KINDS:
            continue
        try:
            _, c = _setup_one(pod, vol, pod_dir, src, node_name)
        except VolumeError as exc:
            if errors is not None:
                errors.append(exc)
            continue
        changed = changed or c
    return changed


def teardown_pod_volumes(pod_dir: str) -> None:
    """Unmount the pod's tmpfs volumes and subPath binds, then remove `volumes/` and
    `volume-subpaths/`. Never deletes through a mount: if something is still mounted
    (umount failed) it raises RuntimeError and removes nothing."""
    for sub in ("volumes", SUBPATHS_DIR):
        path = os.path.join(pod_dir, sub)
        if not os.path.lexists(path):
            continue
        unmount_all_under(path)
        left = mounts_under(path)
        if left:
            raise RuntimeError(f"refusing to remove {path}: still mounted: {left}")
        shutil.rmtree(path)
