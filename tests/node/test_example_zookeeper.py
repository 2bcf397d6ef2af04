"""examples/zookeeper.yaml on real pods: a 3-server ZooKeeper ensemble (Debian's zookeeper 3.8
on the host standing in for the official image) forms a quorum with exactly one leader, replicates
a znode written through zk-0 to zk-2, and a deleted zk-1 comes back under the same name with the
same myid and PVC-backed data dir and rejoins as a follower. The catalog's `zookeeper` image with
no command runs a standalone server (as the official image does) and logs to the console.

The manifest is also checked against the official 1.33 schemas (it must run unchanged on a real
cluster). Needs the zookeeper package (/usr/share/zookeeper/bin) and java on the host.
"""

from __future__ import annotations

import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kubernetes_validate
import pytest
import yaml

from kubeproc.testing.instance import Instance
from tests.node.conftest import apply, container, get_pod, logs, pod, wait_for

MANIFEST = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "zookeeper.yaml")
ZK_BIN = "/usr/share/zookeeper/bin/zkServer.sh"
CONF = "/conf-zk/zoo.cfg"
PODS = ("zk-0", "zk-1", "zk-2")

needs_zookeeper = pytest.mark.skipif(
    not (os.access(ZK_BIN, os.X_OK) and shutil.which("java")),
    reason="needs Debian's zookeeper package and java on the host (scripts/install.sh)")


def _docs() -> list[dict[str, Any]]:
    with open(MANIFEST) as f:
        return [d for d in yaml.safe_load_all(f) if d]


@pytest.mark.parametrize("kind", ["Service/zk-hs", "Service/zk-cs", "StatefulSet/zk"])
def test_manifest_validates_against_the_official_schemas(kind: str) -> None:
    found = {f"{d['kind']}/{d['metadata']['name']}": d for d in _docs()}
    assert kind in found
    assert "namespace" not in found[kind]["metadata"]
    kubernetes_validate.validate(found[kind], "1.33", strict=True)


def _ready(inst: Instance, ns: str, name: str) -> dict[str, Any] | None:
    p = get_pod(inst, ns, name)
    if not p or p["metadata"].get("deletionTimestamp"):
        return None
    conds = {c["type"]: c["status"] for c in (p.get("status") or {}).get("conditions") or []}
    return p if conds.get("Ready") == "True" else None


def _replaced(inst: Instance, ns: str, name: str, old_uid: str) -> dict[str, Any] | None:
    p = _ready(inst, ns, name)
    return p if p and p["metadata"]["uid"] != old_uid else None


def _mode(inst: Instance, ns: str, name: str) -> str:
    """`zkServer.sh status` inside the pod: 'leader', 'follower', or '' when not serving."""
    r = inst.kubectl("exec", "-n", ns, name, "--", "zkServer.sh", "status", CONF, check=False)
    for line in r.stdout.splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return ""


def _modes(inst: Instance, ns: str) -> dict[str, str]:
    # one client JVM per pod, in parallel: each costs ~0.3 s of CPU
    with ThreadPoolExecutor(len(PODS)) as ex:
        return dict(zip(PODS, ex.map(lambda p: _mode(inst, ns, p), PODS)))


def _quorum(inst: Instance, ns: str) -> dict[str, str] | None:
    modes = _modes(inst, ns)
    return modes if sorted(modes.values()) == ["follower", "follower", "leader"] else None


def _zkcli(inst: Instance, ns: str, name: str, *cmd: str) -> str:
    r = inst.kubectl("exec", "-n", ns, name, "--", "zkCli.sh", "-server", "localhost:2181", *cmd)
    return r.stdout + r.stderr  # `create` reports "Created <path>" on stderr


def _sh(inst: Instance, ns: str, name: str, script: str) -> str:
    return inst.kubectl("exec", "-n", ns, name, "--", "sh", "-c", script).stdout


@needs_zookeeper
def test_ensemble_forms_replicates_and_a_deleted_server_rejoins(node: Instance, ns: str) -> None:
    start = time.monotonic()
    node.kubectl("apply", "-n", ns, "-f", MANIFEST)
    for name in PODS:  # OrderedReady: zk-1 exists only once zk-0 is Ready
        wait_for(lambda: _ready(node, ns, name), timeout=40, what=f"{name} Ready")
    modes = wait_for(lambda: _quorum(node, ns), timeout=30, what="one leader and two followers")
    formed = time.monotonic() - start
    print(f"\nzookeeper ensemble formed in {formed:.1f}s: {modes}")

    # rule: a write through one server is readable through another once committed
    assert "Created /kubeproc" in _zkcli(node, ns, "zk-0", "create", "/kubeproc", "ensemble-ok")
    assert "ensemble-ok" in _zkcli(node, ns, "zk-2", "get", "/kubeproc").splitlines()

    # rule: myid = ordinal + 1, in the PVC-backed data dir
    assert [_sh(node, ns, p, "cat /data/myid").strip() for p in PODS] == ["1", "2", "3"]
    old = get_pod(node, ns, "zk-1")
    assert old is not None
    claims = [v["persistentVolumeClaim"]["claimName"] for v in old["spec"]["volumes"]
              if "persistentVolumeClaim" in v]
    assert claims == ["datadir-zk-1"]
    old_files = set(_sh(node, ns, "zk-1", "ls /data/version-2").split())
    assert any(f.startswith("log.") for f in old_files), old_files

    # rule: a deleted member comes back with the same identity and storage and rejoins
    rejoin = time.monotonic()
    node.kubectl("delete", "pod", "-n", ns, "zk-1", "--wait=true")
    new = wait_for(lambda: _replaced(node, ns, "zk-1", old["metadata"]["uid"]), timeout=30,
                   what="a new zk-1 Ready")
    modes = wait_for(lambda: _quorum(node, ns), timeout=30, what="zk-1 back in the quorum")
    print(f"zk-1 rejoined in {time.monotonic() - rejoin:.1f}s: {modes}")
    # the two survivors elected a leader while zk-1 was gone; a leader with a quorum keeps it
    assert modes["zk-1"] == "follower"
    assert _sh(node, ns, "zk-1", "cat /data/myid").strip() == "2"
    assert old_files <= set(_sh(node, ns, "zk-1", "ls /data/version-2").split())
    assert [v["persistentVolumeClaim"]["claimName"] for v in new["spec"]["volumes"]
            if "persistentVolumeClaim" in v] == ["datadir-zk-1"]
    assert "ensemble-ok" in _zkcli(node, ns, "zk-1", "get", "/kubeproc").splitlines()


@needs_zookeeper
def test_catalog_default_command_runs_a_standalone_server(node: Instance, ns: str) -> None:
    # rule: images.yaml `zookeeper` = ENTRYPOINT zkServer.sh, CMD start-foreground, found on PATH
    probe = {"tcpSocket": {"port": 2181}, "periodSeconds": 1}
    apply(node, ns, pod("zk", container("zk", "zookeeper:3.8", readinessProbe=probe)))
    wait_for(lambda: _ready(node, ns, "zk"), timeout=30, what="standalone zk Ready")
    status = node.kubectl("exec", "-n", ns, "zk", "--", "zkServer.sh", "status", check=False)
    assert "Mode: standalone" in status.stdout, status.stdout + status.stderr
    # rule: the server logs to the console (kubectl logs), like the official image
    assert "binding to port" in logs(node, ns, "zk")
