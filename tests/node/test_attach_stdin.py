"""`kubectl attach -i` / `kubectl run -i --rm` against real containers with `stdin: true`: the
session's input reaches the container's stdin pipe (kept by the container monitor), stdinOnce
closes it after the first session, and a container without stdin drops the input (containerd
container_io.go Attach). Upstream Kubernetes is the oracle."""

from __future__ import annotations



from .conftest import KubectlLines, apply, container, container_status, get_pod, logs, pod, wait_for


def _Attach(inst, ns: str, name: str) -> KubectlLines:
    """`kubectl attach -i` fed through a pipe."""
    return KubectlLines(inst, "attach", "-i", "-n", ns, name, "-c", "c", stdin=True)


def _running(inst, ns: str, name: str) -> dict:
    return container_status(get_pod(inst, ns, name), "c").get("state", {}).get("running")


def test_run_i_rm_feeds_stdin_and_deletes_the_pod(node, ns):
    r = node.kubectl("run", "-i", "--rm", "--restart=Never", "-n", ns, "cat", "--image=busybox",
                     "--", "sh", "-c", "read x; echo got:$x", input="hello\n", timeout=90)
    assert "got:hello" in r.stdout.splitlines()
    wait_for(lambda: get_pod(node, ns, "cat") is None, what="the pod to be deleted")


def test_attach_i_feeds_two_sessions_to_a_stdin_container(node, ns):
    apply(node, ns, pod("cat", container("c", "busybox", "cat", stdin=True),
                        terminationGracePeriodSeconds=1))
    wait_for(lambda: _running(node, ns, "cat"), what="cat to run")
    for word in ("one", "two"):
        a = _Attach(node, ns, "cat")
        try:
            a.send(word + "\n")
            assert a.next() == word
        finally:
            a.stop()
    # the sessions' ends did not close stdin: cat still runs and took both lines
    assert _running(node, ns, "cat")
    assert container_status(get_pod(node, ns, "cat"), "c")["restartCount"] == 0
    assert logs(node, ns, "cat") == "one\ntwo\n"


def _start_reader(node, ns: str, name: str) -> None:
    """A stdinOnce container that echoes each line it reads, then "eof"."""
    script = "while read x; do echo got:$x; done; echo eof"
    apply(node, ns, pod(name, container("c", "busybox", "sh", "-c", script, stdin=True, stdinOnce=True),
                        restartPolicy="Never", terminationGracePeriodSeconds=1))
    wait_for(lambda: _running(node, ns, name), what="the container to run")


def test_stdin_once_closes_stdin_after_the_first_session(node, ns):
    _start_reader(node, ns, "once")
    # the whole input, then EOF: kubectl sends the stdin CLOSE signal, the container sees EOF
    r = node.kubectl("attach", "-i", "-n", ns, "once", "-c", "c", input="first\n", timeout=60)
    assert r.stdout.splitlines()[-2:] == ["got:first", "eof"]
    wait_for(lambda: container_status(get_pod(node, ns, "once"), "c").get("state", {}).get("terminated"),
             what="the container to exit on EOF")
    assert logs(node, ns, "once") == "got:first\neof\n"


def test_stdin_once_session_killed_midway_closes_stdin(node, ns):
    _start_reader(node, ns, "kill")
    a = _Attach(node, ns, "kill")
    try:
        a.send("a\n")
        assert a.next() == "got:a"
    finally:
        a.stop()  # the session ends without EOF on stdin: upstream closes stdinOnce stdin anyway
    wait_for(lambda: container_status(get_pod(node, ns, "kill"), "c").get("state", {}).get("terminated"),
             what="the container to exit on EOF")
    assert logs(node, ns, "kill") == "got:a\neof\n"


def test_attach_i_to_a_container_without_stdin_drops_the_input(node, ns):
    script = "read x; echo read:$x; while true; do echo tick; sleep 0.2; done"
    apply(node, ns, pod("nostdin", container("c", "busybox", "sh", "-c", script),
                        terminationGracePeriodSeconds=1))
    wait_for(lambda: "read:" in node.kubectl("logs", "-n", ns, "nostdin", check=False).stdout,
             what="read to hit /dev/null's EOF")
    a = _Attach(node, ns, "nostdin")
    try:
        a.send("ignored\n")
        assert a.next() == "tick"  # not refused: the session goes on, output only
    finally:
        a.stop()
    assert logs(node, ns, "nostdin").splitlines()[0] == "read:"
    assert "ignored" not in logs(node, ns, "nostdin")
