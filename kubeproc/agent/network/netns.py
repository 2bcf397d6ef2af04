"""Named network namespaces without forking: per-thread `unshare`/`setns` and bind mounts.

Linux network namespaces are per thread, so namespace work runs in a dedicated short-lived
thread (`run_in_thread`) that unshares or enters a netns and dies with it; the kubeproc process
itself never changes namespace and never forks. A named netns is a bind mount of the thread's
`ns/net` onto `/run/netns/<name>`, exactly what `ip netns add` does, so `ip netns exec` works.
"""

from __future__ import annotations

import ctypes
import errno
import os
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MS_REC = 0x4000
MS_SHARED = 1 << 20
MNT_DETACH = 0x2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]

_shared_dirs: set[str] = set()
_shared_lock = threading.Lock()


def _check(ret: int, what: str, path: str = "") -> None:
    if ret != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}", path or None)


def run_in_thread(fn: Callable[[], T]) -> T:
    """Run `fn` in a fresh thread and return its result (or raise its exception). The thread
    may change its netns freely: it ends with `fn`, so no pool thread is ever left inside one."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # re-raised in the caller
            box["error"] = e

    t = threading.Thread(target=target, name="kubeproc-netns", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def ensure_dir(netns_dir: str) -> None:
    """Create the netns directory as a shared mount, as iproute2 does, so unmounting a netns
    there propagates to mount namespaces that copied it (else those copies keep it alive)."""
    with _shared_lock:
        if netns_dir in _shared_dirs:
            return
        os.makedirs(netns_dir, mode=0o755, exist_ok=True)
        d = netns_dir.encode()
        # Port of iproute2 ip/ipnetns.c netns_add(): make-shared, bind onto itself if needed.
        if _libc.mount(b"none", d, None, MS_SHARED | MS_REC, None) != 0:
            if ctypes.get_errno() != errno.EINVAL:
                _check(-1, "make netns dir shared", netns_dir)
            _check(_libc.mount(d, d, b"none", MS_BIND | MS_REC, None), "bind netns dir", netns_dir)
            _check(_libc.mount(b"none", d, None, MS_SHARED | MS_REC, None), "make netns dir shared", netns_dir)
        _shared_dirs.add(netns_dir)


def unshare_and_bind(path: str) -> None:
    """Move the calling thread into a new netns and bind it at `path` (call in `run_in_thread`)."""
    _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o444))
    source = f"/proc/self/task/{threading.get_native_id()}/ns/net".encode()
    _check(_libc.mount(source, path.encode(), b"none", MS_BIND, None), "bind-mount netns", path)


def enter(path: str) -> None:
    """Move the calling thread into the netns at `path` (call in `run_in_thread`)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(_libc.setns(fd, CLONE_NEWNET), "setns", path)
    finally:
        os.close(fd)


def is_mounted(path: str) -> bool:
    """True if `path` holds a netns (a bind mount: its device differs from its directory's)."""
    try:
        return os.stat(path).st_dev != os.stat(os.path.dirname(path)).st_dev
    except FileNotFoundError:
        return False


def remove(path: str) -> bool:
    """Unmount (lazily) and unlink a named netns; the kernel frees it, and the veths inside,
    once no process uses it. False if there was nothing to remove."""
    found = False
    p = path.encode()
    for _ in range(8):  # stacked mounts can only come from a racing `ip netns add`; bounded
        if _libc.umount2(p, MNT_DETACH) != 0:
            if ctypes.get_errno() in (errno.EINVAL, errno.ENOENT):
                break
            _check(-1, "umount netns", path)
        found = True
    try:
        os.unlink(path)
        found = True
    except FileNotFoundError:
        pass
    return found


def list_names(netns_dir: str, prefix: str) -> list[str]:
    """Names of the netns files in `netns_dir` that start with `prefix`."""
    try:
        return sorted(n for n in os.listdir(netns_dir) if n.startswith(prefix))
    except FileNotFoundError:
        return []
