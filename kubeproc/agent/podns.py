"""A pod's shared IPC and UTS namespaces (the pause container's job), held by a NamespaceHolder.

Containers of one pod share IPC and the hostname as they share the network: the namespaces are
created once per pod in a short-lived thread (no fork), the hostname is set there, and the
holder keeps them as `<pod uid>.ipc` / `<pod uid>.uts`, paths each container's config.json
joins. Removing them releases the holder's fds; the kernel frees them with the last container.
"""

from __future__ import annotations

import ctypes
import os

from kubeproc.agent.network import NET_SUFFIX, net_key, netns
from kubeproc.agent.nsholder import NamespaceHolder

CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
KINDS = ("ipc", "uts")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.unshare.argtypes = [ctypes.c_int]


def key(pod_uid: str, kind: str) -> str:
    return net_key(pod_uid).removesuffix(NET_SUFFIX) + "." + kind  # the uid checked as for the netns


def paths(holder: NamespaceHolder, pod_uid: str) -> dict[str, str] | None:
    """{"ipc": path, "uts": path} if both are held, else None."""
    out = {k: holder.path(key(pod_uid, k)) for k in KINDS}
    return None if None in out.values() else out  # type: ignore[return-value]


def create(holder: NamespaceHolder, pod_uid: str, hostname: str) -> dict[str, str]:
    """Create (or keep) the pod's ipc and uts namespaces; returns {"ipc": path, "uts": path}.
    Blocking (the holder's request): call it off the event loop."""
    held = paths(holder, pod_uid)
    if held is not None:
        return held

    def make() -> dict[str, int]:
        netns.check(_libc.unshare(CLONE_NEWIPC | CLONE_NEWUTS), "unshare(ipc|uts)")
        name = hostname.encode()
        netns.check(_libc.sethostname(name, len(name)), "sethostname", hostname)
        fds: dict[str, int] = {}
        try:
            for kind in KINDS:
                fds[kind] = netns.open_own(kind)
        except OSError:
            for fd in fds.values():
                os.close(fd)
            raise
        return fds

    fds = netns.run_in_thread(make)
    try:
        got = holder.hold({key(pod_uid, k): fd for k, fd in fds.items()})
    finally:
        for fd in fds.values():
            os.close(fd)
    return {k: got[key(pod_uid, k)] for k in KINDS}


def remove(holder: NamespaceHolder, pod_uid: str) -> None:
    holder.release(key(pod_uid, k) for k in KINDS)


def list_pods(holder: NamespaceHolder) -> set[str]:
    """Pod uids with ipc/uts namespaces held."""
    out = set()
    for k in holder.keys():
        stem, _, kind = k.rpartition(".")
        if kind in KINDS:
            out.add(stem)
    return out


def remove_all(holder: NamespaceHolder) -> None:
    for uid in list_pods(holder):
        remove(holder, uid)
