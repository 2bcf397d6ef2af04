"""Volumes on real pods (configMap updates, emptyDir shared by containers, subPath escapes)
and the streaming verbs: exec exit codes and stdin, logs flags, port-forward."""

from __future__ import annotations

import socket
import subprocess

from tests.node.conftest import apply, container, container_status, get_pod, logs, pod, wait_for

SH = ("sh", "-c")


def _exec(inst, ns, name, *cmd, input=None, check=True, c=None):
    args = ["exec", "-n", ns, name] + (["-c", c] if c else []) + (["-i"] if input is not None else [])
    return inst.kubectl(*args, "--", *cmd, input=input, check=check)


def test_configmap_volume_follows_updates(node, ns):
    node.kubectl("create", "configmap", "cfg", "-n", ns, "--from-literal=color=blue")
    c = container("c", "busybox", "sleep", "1000", volumeMounts=[{"name": "cfg", "mountPath": "/cfg"}])
    apply(node, ns, pod("cm", c, terminationGracePeriodSeconds=1,
                        volumes=[{"name": "cfg", "configMap": {"name": "cfg"}}]))
    node.kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/cm", "--timeout=30s")
    assert _exec(node, ns, "cm", "cat", "/cfg/color").stdout == "blue"
    node.kubectl("patch", "configmap", "cfg", "-n", ns, "-p", '{"data":{"color":"green"}}')
    wait_for(lambda: _exec(node, ns, "cm", "cat", "/cfg/color").stdout == "green", what="update")


def test_containers_of_a_pod_share_emptydir_localhost_and_ipc(node, ns):
    vm = [{"name": "shared", "mountPath": "/shared"}]
    a = container("a", "redis", volumeMounts=vm)
    b = container("b", "busybox", "sleep", "1000", volumeMounts=vm)
    apply(node, ns, pod("duo", a, b, terminationGracePeriodSeconds=1,
                        volumes=[{"name": "shared", "emptyDir": {}}]))
    node.kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/duo", "--timeout=30s")
    _exec(node, ns, "duo", "sh", "-c", "echo hi > /shared/x", c="a")
    assert _exec(node, ns, "duo", "cat", "/shared/x", c="b").stdout == "hi\n"
    assert _exec(node, ns, "duo", "redis-cli", "-h", "127.0.0.1", "ping", c="b").stdout.strip() == "PONG"
    ipc = [_exec(node, ns, "duo", "readlink", "/proc/self/ns/ipc", c=x).stdout for x in ("a", "b")]
    assert ipc[0] == ipc[1]


def test_subpath_symlink_escape_fails_the_container(node, ns):
    # an init container plants a symlink to / in the emptyDir; the main container mounts it by subPath
    init = container("plant", "busybox", *SH, "ln -s / /vol/escape",
                     volumeMounts=[{"name": "v", "mountPath": "/vol"}])
    main = container("c", "busybox", "sleep", "1000",
                     volumeMounts=[{"name": "v", "mountPath": "/host", "subPath": "escape"}])
    apply(node, ns, pod("escape", main, initContainers=[init], volumes=[{"name": "v", "emptyDir": {}}]))
    waiting = wait_for(lambda: container_status(get_pod(node, ns, "escape"), "c").get("state", {})
                       .get("waiting", {}).get("reason") == "CreateContainerConfigError" and
                       container_status(get_pod(node, ns, "escape"), "c")["state"]["waiting"],
                       what="the container refused")
    assert "subPath" in waiting["message"]
    assert "running" not in container_status(get_pod(node, ns, "escape"), "c").get("state", {})


def test_exec_exit_codes_and_stdin(node, ns):
    apply(node, ns, pod("box", container("c", "busybox", "sleep", "1000"), terminationGracePeriodSeconds=1))
    node.kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/box", "--timeout=30s")
    assert _exec(node, ns, "box", "sh", "-c", "exit 3", check=False).returncode == 3
    assert _exec(node, ns, "box", "cat", input="hello\n").stdout == "hello\n"
    r = _exec(node, ns, "box", "no-such-binary", check=False)
    assert r.returncode != 0 and "executable file not found" in r.stderr


def test_logs_previous_tail_and_timestamps(node, ns):
    c = container("c", "busybox", *SH, "echo one; echo two; echo three; exit 1")
    apply(node, ns, pod("chatty", c))
    wait_for(lambda: container_status(get_pod(node, ns, "chatty"), "c").get("restartCount", 0) >= 1,
             what="a restart")
    assert logs(node, ns, "chatty", "--previous").split() == ["one", "two", "three"]
    assert logs(node, ns, "chatty", "--previous", "--tail=1").split() == ["three"]
    stamped = logs(node, ns, "chatty", "--previous", "--timestamps").splitlines()
    assert stamped[0].endswith(" one") and stamped[0][:4].isdigit() and "T" in stamped[0].split()[0]


def test_port_forward_reaches_the_pod(node, ns):
    apply(node, ns, pod("pf", container("c", "redis:7"), terminationGracePeriodSeconds=1))
    node.kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/pf", "--timeout=30s")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from kubeproc.testing.instance import kubectl_binary
    proc = subprocess.Popen([kubectl_binary(33), "port-forward", "-n", ns, "pod/pf", f"{port}:6379"],
                            env=node.kubectl_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        def ping() -> bytes:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                    s.sendall(b"PING\r\n")
                    return s.recv(100)
            except OSError:
                return b""
        assert wait_for(ping, what="PONG through port-forward") == b"+PONG\r\n"
    finally:
        proc.terminate()
        proc.wait(10)
