"""Can this machine run pods? One clear sentence naming what is missing and how to install it."""

from __future__ import annotations

import os
import shutil

RUNC = "/usr/sbin/runc"


def runc_path() -> str | None:
    if os.access(RUNC, os.X_OK):
        return RUNC
    return shutil.which("runc")


def problem() -> str | None:
    """None when pods can run here, else the sentence `kubeproc up` refuses with."""
    if os.geteuid() != 0:
        return ("running pods needs root (network namespaces, veths, runc): run "
                "`sudo kubeproc up`, or `kubeproc up --no-agent` for the API alone")
    if runc_path() is None:
        return "runc is not installed: run `apt-get install -y runc` (Debian/Ubuntu)"
    for ns in ("net", "ipc", "uts", "pid", "mnt"):
        if not os.path.exists(f"/proc/self/ns/{ns}"):
            return f"this kernel has no {ns} namespaces (CONFIG_{ns.upper()}_NS): pods cannot run here"
    if not os.path.isdir("/sys/fs/cgroup") or not os.listdir("/sys/fs/cgroup"):
        return "no cgroup filesystem is mounted at /sys/fs/cgroup: mount cgroups (systemd does) to run pods"
    if not os.path.exists("/proc/sys/net/bridge") and not os.path.isdir("/sys/module/bridge"):
        # the module autoloads when the first bridge is created; only a kernel without it fails
        if not any(os.path.exists(p) for p in ("/lib/modules/" + os.uname().release + "/kernel/net/bridge",)):
            return "this kernel has no bridge support (CONFIG_BRIDGE): pods cannot be networked"
    return None
