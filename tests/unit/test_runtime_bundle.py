"""kubeproc.agent.runtime.bundle: config.json renders compared to golden files, plus the
capability rule. Regenerate the golden files with KUBEPROC_UPDATE_GOLDEN=1 (then review the diff)."""

from __future__ import annotations

import json
import os
import pathlib

import pytest

from kubeproc.agent.runtime import bundle
from kubeproc.agent.runtime.bundle import ContainerSpec, Mount, Resources

GOLDEN = pathlib.Path(__file__).parent / "golden" / "oci"
UPDATE = os.environ.get("KUBEPROC_UPDATE_GOLDEN") == "1"
HOST = (Mount("/usr", "/usr", ("bind", "ro", "nosuid", "nodev")), Mount("/etc", "/etc", ("bind", "ro", "nosuid", "nodev")))

CASES = {
    "minimal": ContainerSpec(id="c1", rootfs="/data/pods/u/c1/0/rootfs", args=("sh",)),
    "pod-container": ContainerSpec(
        id="u-web", rootfs="/data/pods/u/web/2/rootfs", args=("redis-server", "--port", "6379"),
        env=("PATH=/usr/bin:/bin", "POD_NAME=web-0"), cwd="/data", hostname="web-0",
        mounts=HOST + (Mount("/data/pods/u/etc-hosts", "/etc/hosts", ("rbind", "rw")),
                       Mount("/data/volumes/ns/pvc", "/data", ("rbind", "ro")),
                       Mount("/data/pods/u/shm", "/dev/shm", ("rbind", "rw"))),
        netns="/var/run/netns/kp-u", ipcns="/var/run/ipcns/kp-u", utsns="/var/run/utsns/kp-u",
        cgroup_path="/kubeproc-abc/u/u-web",
        resources=Resources(memory_limit=256 << 20, cpu_quota=50000, cpu_period=100000, cpu_shares=512, pids_limit=1024),
        masked_paths=bundle.DEFAULT_MASKED_PATHS + ("/etc/shadow",),
        annotations=(("io.kubernetes.pod.name", "web-0"),),
    ),
    "restricted": ContainerSpec(
        id="r", rootfs="/r", args=("app",), uid=1000, gid=3000, supplementary_groups=(2000, 4000),
        cap_drop=("ALL",), cap_add=("NET_BIND_SERVICE",), no_new_privileges=True, readonly_rootfs=True,
        oom_score_adj=1000, resources=Resources(cpu_period=50000),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_render_matches_golden(name: str) -> None:
    text = bundle.dumps(bundle.render(CASES[name]))
    path = GOLDEN / f"{name}.json"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"{path} missing: run with KUBEPROC_UPDATE_GOLDEN=1"
    assert text == path.read_text()


def test_namespaces_pid_and_mount_always_new() -> None:
    ns = bundle.render(CASES["pod-container"])["linux"]["namespaces"]
    assert ns == [{"type": "pid"}, {"type": "network", "path": "/var/run/netns/kp-u"},
                  {"type": "ipc", "path": "/var/run/ipcns/kp-u"}, {"type": "uts", "path": "/var/run/utsns/kp-u"},
                  {"type": "mount"}]


def test_own_mount_replaces_default_at_same_destination() -> None:
    mounts = bundle.render(CASES["pod-container"])["mounts"]
    shm = [m for m in mounts if m["destination"] == "/dev/shm"]
    assert shm == [{"destination": "/dev/shm", "type": "bind", "source": "/data/pods/u/shm", "options": ["rbind", "rw"]}]


def test_render_does_not_share_mutable_state() -> None:
    a = bundle.render(CASES["minimal"])
    a["process"]["capabilities"]["bounding"].append("CAP_SYS_ADMIN")
    assert "CAP_SYS_ADMIN" not in bundle.render(CASES["minimal"])["process"]["capabilities"]["bounding"]
    json.dumps(a)


D = list(bundle.DEFAULT_CAPS)


@pytest.mark.parametrize("add,drop,want", [
    ((), (), D),
    (("NET_ADMIN",), (), D + ["CAP_NET_ADMIN"]),
    (("CAP_NET_ADMIN", "net_admin"), (), D + ["CAP_NET_ADMIN"]),
    ((), ("NET_RAW", "CAP_MKNOD"), [c for c in D if c not in ("CAP_NET_RAW", "CAP_MKNOD")]),
    (("NET_BIND_SERVICE",), ("ALL",), ["CAP_NET_BIND_SERVICE"]),
    (("ALL",), ("CHOWN",), [c for c in bundle.ALL_CAPS if c != "CAP_CHOWN"]),
    (("ALL",), ("ALL",), []),
    (("SYS_TIME",), ("SYS_TIME",), D),
], ids=["default-set", "add-one", "add-prefixed-deduplicated", "drop-two", "drop-all-add-one",
        "add-all-drop-one", "add-all-drop-all-is-empty", "drop-wins-over-add"])
def test_capabilities(add, drop, want) -> None:
    assert bundle.capabilities(add, drop) == want
