"""A container's volumeMounts as OCI bind mounts, with subPath / subPathExpr made safe.

Ports kubelet_pods.go makeMounts (errors, read-only rule, subPathExpr expansion via
kubecontainer.ExpandContainerVolumeMounts) and pkg/volume/util/subpath/subpath_linux.go
(doSafeMakeDir, safeOpenSubPath, doBindSubPath): a subPath is resolved, checked to stay inside
the volume, opened component by component with O_NOFOLLOW, and, when `pod_dir` is given,
bind-mounted through /proc/self/fd/N onto `<pod_dir>/volume-subpaths/<volume>/<container>/<i>`
(a host mount, removed by volumes.teardown_pod_volumes), so a container swapping a directory
for a symlink after the check cannot redirect runc's later mount. Without `pod_dir` the checked
real path is returned and that window stays open.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from typing import Any

from kubeproc.agent.expansion import expand
from kubeproc.agent.runtime.bundle import Mount
from kubeproc.agent.hostmount import MS_BIND, is_mount_point, sys_mount, sys_umount
from kubeproc.agent.volumes import CONFIG_ERROR, SUBPATHS_DIR, HostVolume, VolumeError

_PROPAGATION = {  # containerd CRI: mountPropagation → bind propagation option
    None: "rprivate", "": "rprivate", "None": "rprivate",
    "HostToContainer": "rslave", "Bidirectional": "rshared",
}


class SubPathError(Exception):
    """Why a subPath was refused (upstream logs this; users see a generic message)."""


def expand_subpath_expr(expr: str, env: Mapping[str, str]) -> str:
    """kubecontainer.ExpandContainerVolumeMounts: unknown or empty variables are an error."""
    missing: set[str] = set()

    def lookup(name: str) -> str:
        value = env.get(name)
        if not value:
            missing.add(name)
        return value or ""

    out = expand(expr, lookup)
    if missing:
        raise SubPathError("missing value for " + ", ".join(sorted(missing)))
    return out


def within(path: str, base: str) -> bool:
    """subpath.PathWithinBase on cleaned absolute paths."""
    rel = os.path.relpath(path, base)
    return rel != ".." and not rel.startswith("../")


def safe_open(path: str, base: str) -> int:
    """subpath_linux.go doSafeOpen: an O_PATH fd of `path`, opened from `base` one component at
    a time without following any symlink. Both must be real (symlink-free) paths."""
    if not within(path, base):
        raise SubPathError(f"path {path} is not within {base}")
    fd = os.open(base, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    current = base
    try:
        rel = os.path.relpath(path, base)
        for seg in ([] if rel == "." else rel.split("/")):
            current = os.path.join(current, seg)
            child = os.open(seg, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = child
            if stat.S_ISLNK(os.fstat(fd).st_mode):
                raise SubPathError(f"unexpected symlink found {current}")
        return fd
    except BaseException:
        os.close(fd)
        raise


def safe_make_dir(sub: str, base: str, perm: int) -> None:
    """subpath_linux.go doSafeMakeDir: create base/sub, refusing any existing prefix that
    resolves outside base; new directories are made by mkdirat + O_NOFOLLOW open, so a
    concurrent swap to a symlink cannot redirect them."""
    base_real = os.path.realpath(base)
    parts = os.path.normpath(sub).split("/")
    n = 0  # the longest existing prefix (findExistingPrefix)
    while n < len(parts) and os.path.lexists(os.path.join(base, *parts[: n + 1])):
        n += 1
    existing = os.path.realpath(os.path.join(base, *parts[:n]))
    if not within(existing, base_real):
        raise SubPathError(f"path {existing} is outside of allowed base {base_real}")
    if n == len(parts):
        if not os.path.isdir(existing):
            raise SubPathError(f"mkdir {existing}: not a directory")
        return
    fd = safe_open(existing, base_real)
    current = existing
    try:
        for seg in parts[n:]:
            current = os.path.join(current, seg)
            os.mkdir(seg, perm, dir_fd=fd)
            child = os.open(seg, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = child
            os.fchmod(fd, perm & 0o777)  # mkdirat's mode was masked by the umask
    finally:
        os.close(fd)


def _bind_target(pod_dir: str, volume: str, container: str, index: int, is_dir: bool) -> str:
    # subpath_linux.go getSubpathBindTarget + the mount point creation of doBindSubPath
    target = os.path.join(pod_dir, SUBPATHS_DIR, volume, container, str(index))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if is_mount_point(target):  # a previous attempt's bind: the subPath may have changed since
        sys_umount(target)
    if os.path.lexists(target) and os.path.isdir(target) != is_dir:
        (os.rmdir if os.path.isdir(target) else os.unlink)(target)
    if is_dir:
        os.makedirs(target, 0o750, exist_ok=True)
    elif not os.path.lexists(target):
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o640))
    return target


def prepare_subpath(volume_path: str, sub: str, pod_dir: str | None, volume: str, container: str,
                    index: int) -> str:
    """subpath_linux.go doBindSubPath: the mount source for base/sub (see the module doc)."""
    vol_real = os.path.realpath(volume_path)
    path_real = os.path.realpath(os.path.join(volume_path, sub))
    if not within(path_real, vol_real):
        raise SubPathError(f'subpath "{path_real}" not within volume path "{vol_real}"')
    try:
        fd = safe_open(path_real, vol_real)
    except OSError as exc:
        raise SubPathError(f"error opening subpath {path_real}: {exc}") from None
    try:
        if pod_dir is None:
            return path_real
        target = _bind_target(pod_dir, volume, container, index, stat.S_ISDIR(os.fstat(fd).st_mode))
        sys_mount(f"/proc/self/fd/{fd}", target, None, MS_BIND, None)
        return target
    finally:
        os.close(fd)


def container_mounts(pod: Mapping[str, Any], container: Mapping[str, Any], volumes: Mapping[str, HostVolume],
                     env: Mapping[str, str], pod_dir: str | None = None) -> list[Mount]:
    """kubelet_pods.go makeMounts: one bind Mount per volumeMount, in order. `env` is the
    container's final environment (for subPathExpr). Raises VolumeError with reason
    CreateContainerConfigError and the kubelet's message."""
    cname = container.get("name") or ""
    out: list[Mount] = []
    for i, vm in enumerate(container.get("volumeMounts") or []):
        name = vm.get("name") or ""
        hv = volumes.get(name)
        if hv is None:
            raise VolumeError(CONFIG_ERROR, f'cannot find volume "{name}" to mount into container "{cname}"', name)
        sub = vm.get("subPath") or ""
        if vm.get("subPathExpr"):
            try:
                sub = expand_subpath_expr(vm["subPathExpr"], env)
            except SubPathError as exc:
                raise VolumeError(CONFIG_ERROR, str(exc), name) from None
        source = hv.path
        if sub:
            if sub.startswith("/"):
                raise VolumeError(CONFIG_ERROR, f"error SubPath `{sub}` must not be an absolute path", name)
            if ".." in sub.split("/"):  # validation.ValidatePathNoBacksteps
                raise VolumeError(CONFIG_ERROR, f"unable to provision SubPath `{sub}`: must not contain '..'", name)
            full = os.path.join(hv.path, sub)
            if not os.path.exists(full):
                try:  # created now with the volume root's mode, so fsGroup members can write it
                    safe_make_dir(sub, hv.path, stat.S_IMODE(os.stat(hv.path).st_mode))
                except (SubPathError, OSError) as exc:
                    raise VolumeError(CONFIG_ERROR, f'failed to create subPath directory for volumeMount "{name}" '
                                      f'of container "{cname}"', name, str(exc)) from None
            try:
                source = prepare_subpath(hv.path, sub, pod_dir, name, cname, i)
            except (SubPathError, OSError) as exc:
                raise VolumeError(CONFIG_ERROR, f'failed to prepare subPath for volumeMount "{name}" of container '
                                  f'"{cname}"', name, str(exc)) from None
        options = ["rbind", _PROPAGATION.get(vm.get("mountPropagation"), "rprivate")]
        if vm.get("readOnly") or hv.read_only:
            options.append("ro")
        out.append(Mount(source, vm.get("mountPath") or "", tuple(options)))
    return out
