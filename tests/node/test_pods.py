"""Pods as real processes, checked with the real kubectl: Running/Ready, exec, logs, network,
hostname, restarts with back-off, OOM kills, image errors, environment, scheduling."""

from __future__ import annotations

import datetime as dt
import json

from tests.node.conftest import (apply, container, container_status, get_pod, logs, phase, pod,
                                 wait_for)

SH = ("sh", "-c")


def _t(s: str) -> dt.datetime:
    return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ")


def test_node_registered_ready(node):
    out = node.kubectl("get", "nodes", "-o", "json").stdout
    nodes = json.loads(out)["items"]
    assert len(nodes) == 1
    ready = {c["type"]: c["status"] for c in nodes[0]["status"]["conditions"]}["Ready"]
    assert ready == "True"
    lease = node.kubectl("get", "lease", "-n", "kube-node-lease", nodes[0]["metadata"]["name"],
                         "-o", "json").stdout
    assert json.loads(lease)["spec"]["holderIdentity"] == nodes[0]["metadata"]["name"]


def test_redis_pod_runs_answers_exec_and_logs(node, ns):
    apply(node, ns, pod("redis", container("redis", "redis:7")))
    node.kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/redis", "--timeout=30s")
    p = get_pod(node, ns, "redis")
    cs = container_status(p, "redis")
    assert cs["ready"] is True and "running" in cs["state"] and cs["restartCount"] == 0
    assert p["status"]["podIP"] and p["spec"]["nodeName"]
    out = node.kubectl("exec", "-n", ns, "redis", "--", "redis-cli", "ping").stdout
    assert out.strip() == "PONG"
    assert "Ready to accept connections" in wait_for(
        lambda: (lambda t: t if "Ready to accept" in t else "")(logs(node, ns, "redis")),
        what="redis log line")


def test_two_pods_have_own_ips_and_reach_each_other(node, ns):
    apply(node, ns, pod("server", container("redis", "redis:7")))
    node.kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/server", "--timeout=30s")
    ip = get_pod(node, ns, "server")["status"]["podIP"]
    apply(node, ns, pod("client", container("c", "redis:7", "redis-cli", "-h", ip, "ping"),
                        restartPolicy="Never"))
    wait_for(lambda: phase(node, ns, "client") == "Succeeded", what="client to finish")
    assert get_pod(node, ns, "client")["status"]["podIP"] != ip
    assert logs(node, ns, "client").strip() == "PONG"


def test_hostname_is_pod_name_and_fqdn_with_subdomain(node, ns):
    apply(node, ns, pod("plain", container("c", "busybox", *SH, "hostname"), restartPolicy="Never"))
    apply(node, ns, pod("named", container("c", "busybox", *SH, "hostname; hostname -f"),
                        restartPolicy="Never", hostname="web-0", subdomain="web"))
    wait_for(lambda: phase(node, ns, "plain") == "Succeeded" and phase(node, ns, "named") == "Succeeded",
             what="both pods to finish")
    assert logs(node, ns, "plain").strip() == "plain"
    assert logs(node, ns, "named").split() == ["web-0", f"web-0.web.{ns}.svc.cluster.local"]


def test_restart_policy_never_and_on_failure(node, ns):
    apply(node, ns, pod("never", container("c", "busybox", *SH, "exit 3"), restartPolicy="Never"))
    apply(node, ns, pod("onfail", container("c", "busybox", *SH, "exit 0"), restartPolicy="OnFailure"))
    wait_for(lambda: phase(node, ns, "never") == "Failed", what="Never pod to fail")
    wait_for(lambda: phase(node, ns, "onfail") == "Succeeded", what="OnFailure pod to succeed")
    term = container_status(get_pod(node, ns, "never"), "c")["state"]["terminated"]
    assert (term["exitCode"], term["reason"]) == (3, "Error")
    assert container_status(get_pod(node, ns, "onfail"), "c")["restartCount"] == 0


def test_always_restarts_with_doubling_backoff(node, ns):
    """Back-off base is 1 s in these tests (`--backoff-seconds 1`): restarts wait 1 s, 2 s, 4 s."""
    apply(node, ns, pod("crash", container("c", "busybox", *SH, "exit 1")))
    seen: dict[int, dict] = {}

    def restarts() -> bool:
        cs = container_status(get_pod(node, ns, "crash"), "c")
        n = cs.get("restartCount", 0)
        if "running" in cs.get("state", {}) or "terminated" in cs.get("state", {}):
            seen.setdefault(n, cs)
        if "waiting" in cs.get("state", {}):
            seen.setdefault(-1, cs)
        return n >= 3
    wait_for(restarts, timeout=40, what="three restarts")
    waiting = seen[-1]["state"]["waiting"]
    assert waiting["reason"] == "CrashLoopBackOff"
    assert "back-off" in waiting["message"]
    cs = container_status(get_pod(node, ns, "crash"), "c")
    last = cs["lastState"]["terminated"]
    assert last["exitCode"] == 1 and last["reason"] == "Error"


def test_memory_limit_oom_kills(node, ns):
    hog = container("hog", "python", "python3", "-c", "x = bytearray(300 * 1024 * 1024)",
                    resources={"limits": {"memory": "50Mi"}})
    apply(node, ns, pod("hog", hog, restartPolicy="Never"))
    wait_for(lambda: phase(node, ns, "hog") == "Failed", what="the pod to fail")
    term = container_status(get_pod(node, ns, "hog"), "hog")["state"]["terminated"]
    assert (term["reason"], term["exitCode"]) == ("OOMKilled", 137)


def test_unknown_image_waits_with_err_image_pull(node, ns):
    apply(node, ns, pod("nosuch", container("c", "example.com/no-such-image:1")))
    cs = wait_for(lambda: container_status(get_pod(node, ns, "nosuch"), "c").get("state", {}).get("waiting"),
                  what="a waiting state")
    wait_for(lambda: container_status(get_pod(node, ns, "nosuch"), "c")["state"]["waiting"].get("reason")
             == "ErrImagePull", what="ErrImagePull")
    msg = container_status(get_pod(node, ns, "nosuch"), "c")["state"]["waiting"]["message"]
    assert "images.yaml" in msg and "command" in msg, cs


def test_environment_downward_api_and_expansion(node, ns):
    node.kubectl("create", "configmap", "cfg", "-n", ns, "--from-literal=color=blue")
    c = container("c", "busybox", *SH, 'echo "$POD_NAME $POD_IP $COLOR $(GREETING)"',
                  env=[{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                       {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                       {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "color"}}},
                       {"name": "GREETING", "value": "hello"}])
    apply(node, ns, pod("env", c, restartPolicy="Never"))
    wait_for(lambda: phase(node, ns, "env") == "Succeeded", what="env pod")
    ip = get_pod(node, ns, "env")["status"]["podIP"]
    assert logs(node, ns, "env").strip() == f"env {ip} blue hello"


def test_missing_configmap_is_create_container_config_error(node, ns):
    c = container("c", "busybox", *SH, "true",
                  env=[{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k"}}}])
    apply(node, ns, pod("noconf", c))
    wait_for(lambda: container_status(get_pod(node, ns, "noconf"), "c").get("state", {})
             .get("waiting", {}).get("reason") == "CreateContainerConfigError", what="config error")
    msg = container_status(get_pod(node, ns, "noconf"), "c")["state"]["waiting"]["message"]
    assert msg == 'configmap "absent" not found'


def test_security_context_user_and_read_only_root(node, ns):
    c = container("c", "busybox", *SH, "id -u; id -g; touch /x 2>/dev/null && echo writable || echo ro",
                  securityContext={"runAsUser": 1000, "runAsGroup": 3000, "readOnlyRootFilesystem": True})
    apply(node, ns, pod("sec", c, restartPolicy="Never"))
    wait_for(lambda: phase(node, ns, "sec") == "Succeeded", what="sec pod")
    assert logs(node, ns, "sec").split() == ["1000", "3000", "ro"]
    c = container("c", "busybox", *SH, "true", securityContext={"runAsNonRoot": True})
    apply(node, ns, pod("nonroot", c))
    wait_for(lambda: container_status(get_pod(node, ns, "nonroot"), "c").get("state", {})
             .get("waiting", {}).get("reason") == "CreateContainerConfigError", what="non-root refusal")


def test_init_containers_run_in_order_before_main(node, ns):
    spec = pod("init", container("main", "busybox", *SH, "echo main"), restartPolicy="Never",
               initContainers=[container("one", "busybox", *SH, "echo one"),
                               container("two", "busybox", *SH, "echo two")])
    apply(node, ns, spec)
    wait_for(lambda: phase(node, ns, "init") == "Succeeded", what="init pod")
    p = get_pod(node, ns, "init")
    one = container_status(p, "one", init=True)["state"]["terminated"]
    two = container_status(p, "two", init=True)["state"]["terminated"]
    main = container_status(p, "main")["state"]["terminated"]
    assert one["reason"] == two["reason"] == main["reason"] == "Completed"
    assert _t(one["finishedAt"]) <= _t(two["startedAt"]) and _t(two["finishedAt"]) <= _t(main["startedAt"])
    assert logs(node, ns, "init", "-c", "two").strip() == "two"


def test_requests_that_do_not_fit_stay_pending_with_failed_scheduling(node, ns):
    big = container("c", "busybox", *SH, "true", resources={"requests": {"cpu": "1000"}})
    apply(node, ns, pod("huge", big))

    def event() -> str:
        out = node.kubectl("get", "events", "-n", ns, "--field-selector",
                           "involvedObject.name=huge,reason=FailedScheduling", "-o", "json").stdout
        items = json.loads(out)["items"]
        return items[0]["message"] if items else ""
    msg = wait_for(event, what="a FailedScheduling event")
    assert "Insufficient cpu" in msg and msg.startswith("0/1 nodes are available")
    p = get_pod(node, ns, "huge")
    assert p["status"]["phase"] == "Pending" and not p["spec"].get("nodeName")
    cond = {c["type"]: c for c in p["status"]["conditions"]}["PodScheduled"]
    assert (cond["status"], cond["reason"]) == ("False", "Unschedulable")


def test_node_selector_mismatch_is_unschedulable(node, ns):
    apply(node, ns, pod("sel", container("c", "busybox", *SH, "true"), nodeSelector={"disk": "ssd"}))
    wait_for(lambda: any(c.get("reason") == "Unschedulable" for c in
                         ((get_pod(node, ns, "sel") or {}).get("status") or {}).get("conditions") or []),
             what="Unschedulable")


def test_host_network_pod_shares_the_node_network_and_hostname(node, ns):
    import socket
    apply(node, ns, pod("hostnet", container("c", "busybox", *SH, "hostname; cat /proc/net/dev | grep -c kp"),
                        restartPolicy="Never", hostNetwork=True))
    wait_for(lambda: phase(node, ns, "hostnet") == "Succeeded", what="hostNetwork pod")
    out = logs(node, ns, "hostnet").split()
    assert out[0] == socket.gethostname()
    assert int(out[1]) >= 1, "the host's bridges and veths are visible: same network namespace"
    p = get_pod(node, ns, "hostnet")
    assert p["status"]["podIP"] == p["status"]["hostIP"]
