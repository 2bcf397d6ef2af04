"""Graceful deletion, adoption across kill -9, and a clean host after `kubeproc down`."""

from __future__ import annotations

import json
import os
import subprocess
import time

from kubeproc.agent.network import NetworkConfig
from kubeproc.agent.runtime.monitorclient import monitor_pids
from tests.node.conftest import (apply, container, container_status, get_pod, leftovers, pod,
                                 wait_for)

SH = ("sh", "-c")
TRAP = 'trap "echo bye; exit 0" TERM; while true; do sleep 0.1; done'


def _gone(inst, ns, name):
    return lambda: get_pod(inst, ns, name) is None


def test_deletion_sends_sigterm_then_sigkill_after_grace(node, ns):
    apply(node, ns, pod("polite", container("c", "busybox", *SH, TRAP)))
    apply(node, ns, pod("stubborn", container("c", "busybox", "sleep", "1000"),
                        terminationGracePeriodSeconds=2))
    for name in ("polite", "stubborn"):
        node.kubectl("wait", "-n", ns, "--for=condition=Ready", f"pod/{name}", "--timeout=30s")
    t0 = time.monotonic()
    node.kubectl("delete", "pod", "-n", ns, "polite", "--wait=false")
    wait_for(_gone(node, ns, "polite"), what="polite pod gone")
    polite = time.monotonic() - t0
    t0 = time.monotonic()
    node.kubectl("delete", "pod", "-n", ns, "stubborn", "--wait=false")
    p = get_pod(node, ns, "stubborn")
    assert p is not None and p["metadata"]["deletionTimestamp"], "the object stays while it stops"
    wait_for(_gone(node, ns, "stubborn"), what="stubborn pod gone")
    stubborn = time.monotonic() - t0
    assert polite < 2.0, "a container that exits on SIGTERM is gone at once"
    assert stubborn >= 1.9, "sleep as pid 1 ignores SIGTERM: SIGKILL comes after the grace period"


def _runc_state(inst, cid: str) -> str:
    out = subprocess.run(["runc", "--root", os.path.join(inst.data_dir, "runc"), "state", cid],
                         capture_output=True, text=True)
    return json.loads(out.stdout)["status"] if out.returncode == 0 else ""


def test_kill9_then_restart_adopts_running_pods(fresh_node):
    inst = fresh_node()
    inst.kubectl("create", "namespace", "a")
    apply(inst, "a", pod("keep", container("redis", "redis:7")))
    inst.kubectl("wait", "-n", "a", "--for=condition=Ready", "pod/keep", "--timeout=30s")
    before = container_status(get_pod(inst, "a", "keep"), "redis")
    cid = before["containerID"].split("://", 1)[1]
    inst.kill9()
    assert _runc_state(inst, cid) == "running", "pods keep running without kubeproc"
    inst.start()
    wait_for(lambda: container_status(get_pod(inst, "a", "keep"), "redis").get("ready"),
             what="adopted pod ready")
    # a few syncs later the pod is still the same container
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        after = container_status(get_pod(inst, "a", "keep"), "redis")
        assert after["containerID"] == before["containerID"]
        assert after["restartCount"] == 0
        time.sleep(0.2)
    assert _runc_state(inst, cid) == "running"


def test_stop_leaves_host_clean(fresh_node):
    inst = fresh_node()
    inst.kubectl("create", "namespace", "a")
    apply(inst, "a", pod("r", container("redis", "redis:7")))
    mem = {"name": "m", "emptyDir": {"medium": "Memory", "sizeLimit": "4Mi"}}
    apply(inst, "a", pod("s", container("c", "busybox", "sleep", "1000",
                                        volumeMounts=[{"name": "m", "mountPath": "/m"}]),
                         terminationGracePeriodSeconds=1, volumes=[mem]))
    for name in ("r", "s"):
        inst.kubectl("wait", "-n", "a", "--for=condition=Ready", f"pod/{name}", "--timeout=30s")
    netcfg = NetworkConfig.for_data_dir(inst.data_dir)
    veths = [netcfg.veth_name(get_pod(inst, "a", name)["metadata"]["uid"]) for name in ("r", "s")]
    assert all(os.path.exists(f"/sys/class/net/{v}") for v in veths)
    inst.stop(timeout=60)
    assert not any(os.path.exists(f"/sys/class/net/{v}") for v in veths)
    assert leftovers(inst.data_dir) == []


def test_force_deleted_pod_is_stopped_and_cleaned(node, ns):
    apply(node, ns, pod("forced", container("c", "busybox", "sleep", "1000"), terminationGracePeriodSeconds=2))
    node.kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/forced", "--timeout=30s")
    p = get_pod(node, ns, "forced")
    uid, cid = p["metadata"]["uid"], container_status(p, "c")["containerID"].split("://", 1)[1]
    node.kubectl("delete", "pod", "-n", ns, "forced", "--force", "--grace-period=0")
    assert get_pod(node, ns, "forced") is None  # gone from the API at once
    veth = NetworkConfig.for_data_dir(node.data_dir).veth_name(uid)
    wait_for(lambda: _runc_state(node, cid) == "" and not os.path.exists(f"/sys/class/net/{veth}")
             and not os.path.exists(os.path.join(node.data_dir, "pods", uid)),
             what="the container, netns (its veth) and pod directory removed")


def test_pod_max_pids_limits_processes(fresh_node):
    inst = fresh_node("--pod-max-pids", "16")
    inst.kubectl("create", "namespace", "a")
    script = "for i in $(seq 40); do sleep 30 & done; echo all-forked"
    apply(inst, "a", pod("forky", container("c", "busybox", *SH, script), restartPolicy="Never",
                         terminationGracePeriodSeconds=1))
    wait_for(lambda: (get_pod(inst, "a", "forky") or {}).get("status", {}).get("phase") in
             ("Succeeded", "Failed"), what="the pod to finish")
    out = inst.kubectl("logs", "-n", "a", "forky").stdout
    assert "fork" in out.lower() and "all-forked" not in out, out  # the shell hit the limit


def test_a_killed_container_monitor_gives_the_pod_a_new_sandbox(node, ns):
    # The monitor holds the pod's namespaces (the pause container's job): when it dies the
    # sandbox is gone, and like the kubelet the agent kills the pod's containers, makes a new
    # sandbox (event SandboxChanged) and starts them again.
    apply(node, ns, pod("phoenix", container("c", "busybox", "sleep", "1000"),
                        terminationGracePeriodSeconds=1))
    node.kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/phoenix", "--timeout=30s")
    before = container_status(get_pod(node, ns, "phoenix"), "c")
    for pid in monitor_pids(os.path.join(node.data_dir, "runc")):
        os.kill(pid, 9)
    wait_for(lambda: container_status(get_pod(node, ns, "phoenix"), "c").get("restartCount") == 1
             and container_status(get_pod(node, ns, "phoenix"), "c").get("ready"),
             what="the pod running again in a new sandbox")
    after = container_status(get_pod(node, ns, "phoenix"), "c")
    assert after["containerID"] != before["containerID"]
    assert node.kubectl("exec", "-n", ns, "phoenix", "--", "hostname").stdout.strip() == "phoenix"
    events = node.kubectl("get", "events", "-n", ns, "--field-selector",
                          "involvedObject.name=phoenix,reason=SandboxChanged", "-o", "name").stdout
    assert events.strip(), "a SandboxChanged event"
