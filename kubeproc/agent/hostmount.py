"""Host mounts the agent makes itself: mount(2) / umount2(2) through ctypes (no fork of
kubeproc, no mount binary), and mountinfo queries. Used for Memory emptyDir tmpfs and staged
subPath binds; everything mounted here lives under a pod directory and is unmounted by
volumes.teardown_pod_volumes.
"""

from __future__ import annotations

import ctypes
import functools
import os

from kubeproc.agent.runtime.rootfs import mounts_under

MS_BIND = 4096
MNT_DETACH = 2


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL:
    # the process's own symbols include libc's; find_library would spawn ldconfig
    return ctypes.CDLL(None, use_errno=True)


def sys_mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    """mount(2); raises OSError."""
    libc = _libc()
    if libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None,
                  ctypes.c_ulong(flags), data.encode() if data else None) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"mount {source} on {target}: {os.strerror(e)}")


def sys_umount(target: str) -> None:
    """umount2(target, MNT_DETACH); raises OSError."""
    if _libc().umount2(target.encode(), MNT_DETACH) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"umount {target}: {os.strerror(e)}")


def is_mount_point(path: str) -> bool:
    """Whether `path` itself is a mount point in this mount namespace."""
    return os.path.realpath(path) in mounts_under(path)


def unmount_all_under(path: str) -> None:
    """Unmount everything at or below `path`, deepest first (stacked mounts included)."""
    for _ in range(64):  # a mount point can carry several stacked mounts
        found = sorted(mounts_under(path), key=len, reverse=True)
        if not found:
            return
        for mp in found:
            try:
                sys_umount(mp)
            except OSError:
                pass  # gone already (a parent's lazy unmount took it); re-read mountinfo
