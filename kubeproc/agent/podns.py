"""A pod's shared IPC and UTS namespaces, held by bind mounts (the pause container's job).

Containers of one pod share IPC and the hostname as they share the network: the namespaces are
created once per pod in a short-lived thread (no fork), the hostname is set there, and both are
bound to files `/run/kubeproc/<instance>-<uid>.ipc|uts` that each container's config.json joins by
path. Teardown unmounts and unlinks them; `list_pods` finds what a crashed instance left.
"""

from __future__ import annotations

import ctypes
import os
import threading

from kubeproc.agent.network import netns

CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
RUN_DIR = "/run/kubeproc"
KINDS = ("ipc", "uts")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]


def path(instance: str, pod_uid: str, kind: str, run_dir: str = RUN_DIR) -> str:
    return os.path.join(run_dir, f"{instance}-{pod_uid}.{kind}")


def create(instance: str, pod_uid: str, hostname: str, run_dir: str = RUN_DIR) -> dict[str, str]:
    """Create (or keep) the pod's ipc and uts namespaces; returns {"ipc": path, "uts": path}."""
    netns.ensure_dir(run_dir)  # shared, like /run/netns, so unmounts propagate
    paths = {k: path(instance, pod_uid, k, run_dir) for k in KINDS}
    if all(netns.is_mounted(p) for p in paths.values()):
        return paths
    for p in paths.values():
        netns.remove(p)

    def make() -> None:
        netns._check(netns._libc.unshare(CLONE_NEWIPC | CLONE_NEWUTS), "unshare(ipc|uts)")
        name = hostname.encode()
        netns._check(_libc.sethostname(name, len(name)), "sethostname", hostname)
        tid = threading.get_native_id()
        for kind, p in paths.items():
            os.close(os.open(p, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o444))
            src = f"/proc/self/task/{tid}/ns/{kind}".encode()
            netns._check(netns._libc.mount(src, p.encode(), b"none", netns.MS_BIND, None),
                         f"bind-mount {kind} namespace", p)

    netns.run_in_thread(make)
    return paths


def remove(instance: str, pod_uid: str, run_dir: str = RUN_DIR) -> None:
    for kind in KINDS:
        netns.remove(path(instance, pod_uid, kind, run_dir))


def list_pods(instance: str, run_dir: str = RUN_DIR) -> set[str]:
    """Pod uids with namespace files of this instance."""
    out = set()
    for n in netns.list_names(run_dir, instance + "-"):
        stem, _, kind = n.rpartition(".")
        if kind in KINDS:
            out.add(stem[len(instance) + 1:])
    return out


def remove_all(instance: str, run_dir: str = RUN_DIR) -> None:
    """Every pod's namespaces of this instance (the shared directory stays, as /run/netns does)."""
    for uid in list_pods(instance, run_dir):
        remove(instance, uid, run_dir)
