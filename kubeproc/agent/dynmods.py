"""The cgroup2 mount option `favordynmods`: container starts that do not wait for RCU.

Every container start moves runc's init into its cgroups (a write to `cgroup.procs` in each
hierarchy). The kernel guards task migrations with one global per-CPU rwsem whose writer waits
for an RCU grace period (~10 ms on this machine: `synchronize_rcu` under `percpu_down_write`
from `cgroup_procs_write_start`) unless a writer held it a moment before; so each pod started
on a quiet host waited ~10 ms inside `runc run`. With `favordynmods` (Linux >= 6.1; see
Documentation/admin-guide/cgroup-v2.rst) the rwsem stays in its slow mode: migrations do not
wait, and forks and exits take a slightly dearer read lock. The option belongs to the cgroup2
superblock but the rwsem is global, so on a hybrid host (cgroup v1 controllers, cgroup2 at
/sys/fs/cgroup/unified) setting it on the cgroup2 mount is enough.

kubeproc sets it when the node starts (unless `kubeproc up --no-favordynmods`), as the kubelet
sets the kernel tunables it relies on (pkg/kubelet/cm/container_manager_linux.go,
setupKernelTunables). Since Linux 6.18 (commit 0568f89d4fb8, "cgroup: replace global
percpu_rwsem with per threadgroup resem when writing to cgroup.procs") turning it on is one-way
until reboot: the kernel keeps the per-threadgroup locking, and turning it off again only
half-undoes it (a later fix makes that a no-op), so kubeproc never turns it off there. On older
kernels the last instance to stop turns it back off if it was off (`RECORD` notes that). It is a
speed-up, not a requirement: when the kernel lacks the option or kubeproc runs in a cgroup
namespace, nothing changes.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

from kubeproc.agent.hostmount import sys_mount

OPTION = "favordynmods"
RECORD = "/run/kubeproc/cgroup-favordynmods.was-off"  # shared by every instance on the host
MOUNTINFO = "/proc/self/mountinfo"
ONE_WAY_SINCE = (6, 18)  # per-threadgroup rwsem: favordynmods stays on until reboot

MS_REMOUNT = 32
# per-mount flags a legacy remount would otherwise clear (mount(2): "MS_REMOUNT ... flags")
MOUNT_FLAGS = {"ro": 1, "nosuid": 2, "nodev": 4, "noexec": 8, "noatime": 1024,
               "nodiratime": 2048, "relatime": 1 << 21, "strictatime": 1 << 24}


@dataclass(frozen=True)
class Cgroup2Mount:
    path: str
    mount_options: tuple[str, ...]  # this mount's own (rw, nosuid, relatime, ...)
    super_options: tuple[str, ...]  # the superblock's (rw, nsdelegate, favordynmods, ...)

    @property
    def favored(self) -> bool:
        return OPTION in self.super_options


def _unescape(path: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo
    out, i = [], 0
    while i < len(path):
        if path[i] == "\\" and path[i + 1:i + 4].isdigit():
            out.append(chr(int(path[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(path[i])
            i += 1
    return "".join(out)


def find_cgroup2(mountinfo: str) -> Cgroup2Mount | None:
    """The first mount of the cgroup2 hierarchy's root in `mountinfo` text (proc(5) format:
    `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS`)."""
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 6 or len(tail) < 3 or tail[0] != "cgroup2" or fields[3] != "/":
            continue
        return Cgroup2Mount(_unescape(fields[4]), tuple(fields[5].split(",")), tuple(tail[2].split(",")))
    return None


def remount_args(m: Cgroup2Mount, super_options: tuple[str, ...]) -> tuple[int, str]:
    """(flags, data) for mount(2) to give `m`'s superblock `super_options`, keeping the mount's
    own flags. cgroup2 resets every option a remount does not name, so all of them are named."""
    flags = MS_REMOUNT
    for o in m.mount_options:
        flags |= MOUNT_FLAGS.get(o, 0)
    return flags, ",".join(o for o in super_options if o not in ("rw", "ro"))


def reversible(release: str) -> bool:
    """Whether a kernel of this `uname -r` release can turn favordynmods off again cleanly."""
    m = re.match(r"(\d+)\.(\d+)", release)
    return m is not None and (int(m.group(1)), int(m.group(2))) < ONE_WAY_SINCE


def current(mountinfo_path: str = MOUNTINFO) -> Cgroup2Mount | None:
    with open(mountinfo_path) as f:
        return find_cgroup2(f.read())


def _remount(m: Cgroup2Mount, super_options: tuple[str, ...]) -> None:
    flags, data = remount_args(m, super_options)
    sys_mount("cgroup2", m.path, None, flags, data)


def favor(record: str = RECORD, release: str | None = None) -> str:
    """Turn `favordynmods` on. Where the kernel can turn it off again, note in `record` that it
    was off so that the last instance to stop does. Returns what happened, in words (for the
    log); never raises for a kernel or host that cannot have it."""
    m = current()
    if m is None:
        return "no cgroup2 mount: cgroup migrations keep waiting for RCU"
    if m.favored:
        return f"{OPTION} already set on {m.path}"
    undo = reversible(release or os.uname().release)
    try:
        if undo:
            os.makedirs(os.path.dirname(record), exist_ok=True)
            with open(record, "w") as f:
                json.dump({"path": m.path, "super_options": list(m.super_options)}, f)
        _remount(m, m.super_options + (OPTION,))
    except OSError as e:
        _forget(record)
        return f"{OPTION} not set on {m.path} ({e.strerror or e}): pods start ~10 ms slower"
    after = current()
    if after is None or not after.favored:  # e.g. a cgroup namespace: the kernel ignores it
        _forget(record)
        return f"{OPTION} not taken by {m.path}: pods start ~10 ms slower"
    if undo:
        return f"{OPTION} set on {m.path} (turned off again when the last instance stops)"
    return f"{OPTION} set on {m.path} (this kernel keeps it until reboot)"


def restore(others_running: bool, record: str = RECORD) -> None:
    """Turn `favordynmods` off again if kubeproc turned it on, unless another instance still
    runs (then the last one to stop does it). Raises OSError if the remount fails."""
    try:
        with open(record) as f:
            before = tuple(json.load(f).get("super_options") or ())
    except (OSError, ValueError):
        return
    if others_running:
        return
    m = current()
    if m is not None and m.favored and OPTION not in before:
        _remount(m, tuple(o for o in m.super_options if o != OPTION))
    _forget(record)


def _forget(record: str) -> None:
    try:
        os.unlink(record)
    except FileNotFoundError:
        pass
