"""runc executed from a sealed in-memory copy, so that each container start execs it once.

runc protects the host's runc binary from containers (CVE-2019-5736) by re-executing
`runc init` from a copy it cannot be overwritten through: runc 1.1 bind-mounts itself read-only
on the host for every container (three mount calls in the host's mount namespace) and execs the
binary a second time, unless it already runs from a fully sealed memfd, which its own check
accepts as safe (libcontainer/nsenter/cloned_binary.c, is_self_cloned: "an admin could
bind-mount a sealed memfd to /usr/bin/runc to allow re-use"). The container monitor keeps one
such copy (stdlib only: it runs with -I -S) and spawns `runc run` from it, as
/proc/self/fd/N. The copy is refreshed when the binary on disk changes (an upgrade), and the
binary itself is used when the kernel cannot seal a memfd.
"""

import fcntl
import os

SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE


class SealedCopies:
    """One sealed copy per executable path, as /proc/self/fd/N (valid in this process and in
    the children it spawns, before their exec closes the descriptor)."""

    def __init__(self) -> None:
        self.copies = {}  # path -> (fd, identity of the copied file: device, inode, size, times)

    def path(self, exe: str) -> str:
        try:
            st = os.stat(exe)
        except OSError:
            return exe  # the spawn reports it
        ident = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        old = self.copies.get(exe)
        if old is not None and old[1] == ident:
            return "/proc/self/fd/%d" % old[0]
        try:
            fd = copy_sealed(exe)
        except OSError:
            return exe
        if old is not None:
            os.close(old[0])
        self.copies[exe] = (fd, ident)
        return "/proc/self/fd/%d" % fd

    def close(self) -> None:
        for fd, _ in self.copies.values():
            os.close(fd)
        self.copies.clear()


def copy_sealed(exe: str) -> int:
    """A close-on-exec memfd holding `exe`'s bytes, executable, sealed against every change.
    Only for an ELF binary: a script run as /proc/self/fd/N would find its path closed."""
    with open(exe, "rb") as f:
        if f.read(4) != b"\x7fELF":
            raise OSError(f"{exe} is not an ELF binary")
        f.seek(0)
        fd = os.memfd_create(os.path.basename(exe), os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            _copy(f, fd)
            os.fchmod(fd, 0o700)
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, SEALS)
        except OSError:
            os.close(fd)
            raise
    return fd


def _copy(f, fd: int) -> None:
    while True:
        chunk = f.read(1 << 20)
        if not chunk:
            return
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view):]
