"""Turn one container of a pod into an OCI bundle: image, environment, identity, mounts, limits.

kuberuntime_container.go startContainer's first half (generateContainerConfig): the image is
resolved in the catalog, the environment built and `$(VAR)`s expanded, the securityContext and
resources applied, the sandbox files and volumes mounted. A failure is returned as the
container's Waiting (reason, message), as the kubelet reports it.
"""

from __future__ import annotations

import grp
import os
import pwd
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from kubeproc.agent import containers as ctr
from kubeproc.agent.envvars import EnvError, container_env
from kubeproc.agent.expansion import expand_command_and_args
from kubeproc.agent.runtime import bundle, catalog, rootfs
from kubeproc.agent.runtime.bundle import ContainerSpec, Mount

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class PodContext:
    """What every container of one pod shares."""

    pod_dir: str
    ip: str
    hostname: str
    netns: str
    ipcns: str
    utsns: str
    cgroup_parent: str  # "/kubeproc-<instance>/pod<uid>"


@dataclass(frozen=True)
class Failure:
    reason: str
    message: str


# The host's /etc/passwd and /etc/group play the image's: read through NSS on every container
# start they cost a few file reads on the event loop, so answers are kept for a few seconds.
_ACCOUNTS_TTL = 5.0
_accounts: dict[tuple[str, int], tuple[float, Any]] = {}


def _cached(kind: str, uid: int, look: Any) -> Any:
    now = time.monotonic()
    hit = _accounts.get((kind, uid))
    if hit is not None and now - hit[0] < _ACCOUNTS_TTL:
        return hit[1]
    value = look(uid)
    _accounts[(kind, uid)] = (now, value)
    return value


def _lookup_gid(uid: int) -> int | None:
    try:
        return pwd.getpwuid(uid).pw_gid
    except KeyError:
        return None


def _lookup_groups(uid: int) -> tuple[int, ...]:
    """containerd WithAdditionalGIDs: the user's groups from the image's /etc/group."""
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        return ()
    return tuple(g.gr_gid for g in grp.getgrall() if name in g.gr_mem)


def primary_gid(uid: int) -> int | None:
    return _cached("gid", uid, _lookup_gid)


def _user_groups(uid: int) -> tuple[int, ...]:
    return _cached("groups", uid, _lookup_groups)


def sandbox_mounts(pod_dir: str) -> tuple[Mount, ...]:
    """The kubelet's per-pod files (kubelet_pods.go makeMounts: /etc/hosts; CRI: resolv.conf,
    hostname), bound over the read-only host /etc."""
    return tuple(Mount(os.path.join(pod_dir, f), "/etc/" + f, ("rbind", "rw"))
                 for f in ("hosts", "resolv.conf", "hostname"))


def build_env(pod: Mapping[str, Any], container: Mapping[str, Any], *, lookups: Any,
              services: Sequence[Mapping[str, Any]] | None, node_name: str, host_ip: str,
              pod_ip: str, allocatable: Mapping[str, Any] | None) -> list[tuple[str, str]] | Failure:
    from kubeproc.agent.envvars import service_env
    ns = (pod.get("metadata") or {}).get("namespace") or "default"
    links = (pod.get("spec") or {}).get("enableServiceLinks", True) is not False
    svc = service_env(services, ns, links) if services is not None else None
    env = container_env(pod, container, configmaps=lookups.configmaps(ns),
                        secrets=lookups.secrets(ns), service_env=svc, node_name=node_name,
                        host_ip=host_ip, pod_ips=[pod_ip] if pod_ip else [],
                        node_allocatable=allocatable)
    if isinstance(env, EnvError):
        return Failure("CreateContainerConfigError", str(env))
    return list(env)


def container_spec(pod: Mapping[str, Any], container: Mapping[str, Any], *, cid: str,
                   attempt: int, ctx: PodContext, env: list[tuple[str, str]],
                   catalog_path: str | None, memory_capacity: int, pids_limit: int | None,
                   rootfs_dir: str, extra_mounts: Sequence[Mount] = ()) -> ContainerSpec | Failure:
    """The ContainerSpec to render, or the Failure the container waits with."""
    command, args = expand_command_and_args(container, env)
    resolved = catalog.resolve(container.get("image", ""), command or None, args or None,
                               catalog_path)
    if isinstance(resolved, catalog.ImagePullError):
        return Failure(resolved.reason, resolved.message)
    try:
        who = ctr.identity(pod, container, primary_gid)
    except ctr.ConfigError as e:
        return Failure("CreateContainerConfigError", str(e))
    full_env = dict(resolved.env)  # the image's ENV, under the container's (containerd WithEnv)
    full_env.setdefault("PATH", DEFAULT_PATH)
    full_env["HOSTNAME"] = ctx.hostname
    for k, v in env:
        full_env.pop(k, None)
        full_env[k] = v
    cwd = container.get("workingDir") or resolved.working_dir or "/"
    mounts = (rootfs.host_layout().binds + sandbox_mounts(ctx.pod_dir) + tuple(extra_mounts))
    meta = pod.get("metadata") or {}
    layout = rootfs.host_layout()
    return ContainerSpec(
        id=cid, rootfs=rootfs_dir, args=resolved.argv,
        env=tuple(f"{k}={v}" for k, v in full_env.items()), cwd=cwd,
        uid=who.uid, gid=who.gid,
        supplementary_groups=tuple(dict.fromkeys(who.groups + _user_groups(who.uid))),
        cap_add=who.cap_add, cap_drop=who.cap_drop, no_new_privileges=who.no_new_privileges,
        readonly_rootfs=who.readonly_rootfs, mounts=mounts,
        netns=ctx.netns, ipcns=ctx.ipcns, utsns=ctx.utsns,
        cgroup_path=f"{ctx.cgroup_parent}/{container['name']}-{attempt}",
        resources=ctr.resources(container, pids_limit),
        oom_score_adj=ctr.oom_score_adj(pod, container, memory_capacity),
        masked_paths=() if who.privileged else bundle.DEFAULT_MASKED_PATHS + layout.masked,
        readonly_paths=() if who.privileged else bundle.DEFAULT_READONLY_PATHS,
        annotations=(("io.kubeproc.pod.uid", meta.get("uid", "")),
                     ("io.kubeproc.pod.namespace", meta.get("namespace", "")),
                     ("io.kubeproc.pod.name", meta.get("name", "")),
                     ("io.kubeproc.container.name", container["name"]),
                     ("io.kubeproc.container.attempt", str(attempt))) + ctr.stdin_annotation(container))


def prepare_rootfs(spec: ContainerSpec) -> None:
    """A fresh writable layer with mount points for the working dir and every mount target: a
    directory, or an empty file where a file is bound (a subPath to one key of a ConfigMap)."""
    binds = [m for m in spec.mounts if m.type == "bind"]
    files = [m.destination for m in binds if os.path.isfile(m.source)]
    dirs = [m.destination for m in spec.mounts if m.destination not in files]
    rootfs.prepare(spec.rootfs, rootfs.host_layout(),
                   extra_dirs=(spec.cwd,) + tuple(dirs) + tuple(os.path.dirname(f) for f in files))
    ro = tuple(m.destination for m in rootfs.host_layout().binds)
    for f in files:
        norm = os.path.normpath("/" + f.lstrip("/"))
        if any(norm == r or norm.startswith(r + "/") for r in ro):
            continue  # under a read-only host dir: the file must exist there (/etc/hosts)
        target = os.path.join(spec.rootfs, norm.lstrip("/"))
        if not os.path.lexists(target):
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o644))
