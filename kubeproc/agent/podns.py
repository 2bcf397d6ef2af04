"""A pod's namespaces: network, IPC and UTS, made once per pod and kept by a NamespaceHolder.

What RunPodSandbox does with a pause container: the namespaces are created in one short-lived
thread (no fork) by one `unshare`, the hostname is set there (and the pod's network configured,
the caller's `inside`), and the holder keeps them as
`<pod uid>.net|ipc|uts`, the paths every container's config.json joins and the network is
configured in (network/linux.py). A hostNetwork pod gets no netns of its own. Removing them
releases the holder's fds; the kernel frees them with the pod's last container.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import re
from collections.abc import Callable
from typing import TypeVar

from kubeproc.agent.network import netns
from kubeproc.agent.nsholder import NamespaceHolder

CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
KINDS = ("net", "ipc", "uts")
T = TypeVar("T")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.unshare.argtypes = [ctypes.c_int]
# keys travel in the container monitor's line protocol: no separators, as a uid never has
_UID_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,252}$")


def key(pod_uid: str, kind: str) -> str:
    if not _UID_RE.match(pod_uid):
        raise ValueError(f"invalid pod uid {pod_uid!r}")
    return f"{pod_uid}.{kind}"


def kinds(host_network: bool) -> tuple[str, ...]:
    return KINDS[1:] if host_network else KINDS


def held(holder: NamespaceHolder, pod_uid: str, host_network: bool) -> dict[str, str] | None:
    """kind -> path if every namespace the pod needs is held, else None."""
    out = {}
    for kind in kinds(host_network):
        p = holder.path(key(pod_uid, kind))
        if p is None:
            return None
        out[kind] = p
    return out


def _make(hostname: str, host_network: bool) -> dict[str, int]:
    """In a throwaway thread: new namespaces, the hostname, an fd of each."""
    flags = CLONE_NEWIPC | CLONE_NEWUTS | (0 if host_network else netns.CLONE_NEWNET)
    netns.check(_libc.unshare(flags), "unshare(net|ipc|uts)")
    name = hostname.encode()
    netns.check(_libc.sethostname(name, len(name)), "sethostname", hostname)
    fds: dict[str, int] = {}
    try:
        for kind in kinds(host_network):
            fds[kind] = netns.open_own(kind)
    except OSError:
        _close_all(fds)
        raise
    return fds


def _close_all(fds: dict[str, int]) -> None:
    for fd in fds.values():
        os.close(fd)


async def create(holder: NamespaceHolder, pod_uid: str, hostname: str, host_network: bool,
                 inside: Callable[[], T] | None = None) -> tuple[dict[str, str], T | None]:
    """The pod's namespaces (kept if all are held, else made anew): kind -> path, and what
    `inside` returned. `inside` runs in the thread that made them, still in them (the pod's
    network is configured there, no other thread enters the netns); it is not run when the
    namespaces were held already (None is returned)."""
    have = held(holder, pod_uid, host_network)
    if have is not None:
        return have, None

    def make() -> tuple[dict[str, int], T | None]:
        fds = _make(hostname, host_network)
        try:
            return fds, inside() if inside is not None else None
        except BaseException:
            _close_all(fds)
            raise
    fds, value = await netns.run_in_thread_async(make, discard=lambda r: _close_all(r[0]))
    try:
        got = await holder.hold({key(pod_uid, k): fd for k, fd in fds.items()})
    finally:
        _close_all(fds)
    return {k: got[key(pod_uid, k)] for k in fds}, value


async def remove(holder: NamespaceHolder, pod_uid: str) -> None:
    await holder.release(key(pod_uid, k) for k in KINDS)


def list_pods(holder: NamespaceHolder) -> set[str]:
    """Pod uids with namespaces held."""
    out = set()
    for k in holder.keys():
        stem, _, kind = k.rpartition(".")
        if kind in KINDS:
            out.add(stem)
    return out


async def remove_all(holder: NamespaceHolder) -> None:
    await asyncio.gather(*(remove(holder, uid) for uid in list_pods(holder)))
