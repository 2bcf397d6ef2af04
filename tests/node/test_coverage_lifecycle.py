"""Issue-3 coverage on real pods, part two: sidecar init containers, pod phases under each
restartPolicy, hostPath type checks, and the streaming verbs kubectl logs (-f, --since,
--all-containers, --limit-bytes), cp and attach. Upstream Kubernetes is the oracle."""

from __future__ import annotations

import datetime as dt
import json
import os


from tests.node.conftest import (KubectlLines, apply, container, container_status, get_pod, logs, phase, pod,
                                 wait_for)

SH = ("sh", "-c")
LOOP = "while true; do sleep 0.1; done"


def _exec(inst, ns, name, *cmd, check=True):
    return inst.kubectl("exec", "-n", ns, name, "--", *cmd, check=check)


def _events(inst, ns, name, reason):
    out = inst.kubectl("get", "events", "-n", ns, "--field-selector",
                       f"involvedObject.name={name},reason={reason}", "-o", "json").stdout
    return [e["message"] for e in json.loads(out)["items"]]


# --- sidecar (restartPolicy: Always init container) ------------------------------------------

def test_sidecar_starts_first_keeps_running_and_stops_last(node, ns, tmp_path):
    obs = tmp_path / "obs"
    obs.mkdir()
    vm = [{"name": "obs", "mountPath": "/obs"}]
    side = container("side", "busybox", *SH,
                     f'echo up > /obs/side-start; trap "echo side >> /obs/order; exit 0" TERM; {LOOP}',
                     restartPolicy="Always", volumeMounts=vm,
                     startupProbe={"exec": {"command": ["test", "-f", "/obs/side-start"]}, "periodSeconds": 1})
    # main's TERM handler is slow: if both got SIGTERM at once, "side" would be written first
    main = container("main", "busybox", *SH,
                     'test -f /obs/side-start && echo saw-sidecar > /obs/main-start; '
                     f'trap "sleep 0.5; echo main >> /obs/order; exit 0" TERM; {LOOP}', volumeMounts=vm)
    apply(node, ns, pod("sc", main, initContainers=[side],
                        volumes=[{"name": "obs", "hostPath": {"path": str(obs), "type": "Directory"}}]))
    node.kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/sc", "--timeout=30s")
    p = get_pod(node, ns, "sc")
    s, m = container_status(p, "side", init=True), container_status(p, "main")
    assert p["status"]["phase"] == "Running"
    assert (s["started"], s["ready"], list(s["state"])) == (True, True, ["running"])
    assert (m["ready"], list(m["state"])) == (True, ["running"])
    assert (obs / "main-start").read_text() == "saw-sidecar\n"  # the sidecar was up first
    node.kubectl("delete", "pod", "-n", ns, "sc", "--wait=false")
    wait_for(lambda: get_pod(node, ns, "sc") is None, what="pod gone")
    assert (obs / "order").read_text().split() == ["main", "side"]


# --- pod phases ------------------------------------------------------------------------------

def test_restart_policy_always_restarts_a_completed_container(node, ns):
    apply(node, ns, pod("done", container("c", "busybox", *SH, "echo ok; exit 0")))
    cs = wait_for(lambda: (lambda s: s if s.get("restartCount", 0) >= 1 else None)(
        container_status(get_pod(node, ns, "done"), "c")), what="a restart")
    term = cs["lastState"]["terminated"]
    assert (term["reason"], term["exitCode"]) == ("Completed", 0)
    assert phase(node, ns, "done") == "Running"  # an Always pod never reaches Succeeded


def test_restart_policy_on_failure_restarts_a_failed_container(node, ns):
    apply(node, ns, pod("flaky", container("c", "busybox", *SH, "exit 1"), restartPolicy="OnFailure"))
    cs = wait_for(lambda: (lambda s: s if s.get("restartCount", 0) >= 1 else None)(
        container_status(get_pod(node, ns, "flaky"), "c")), what="a restart")
    term = cs["lastState"]["terminated"]
    assert (term["reason"], term["exitCode"]) == ("Error", 1)
    assert phase(node, ns, "flaky") == "Running"


def test_restart_policy_never_one_of_two_failing_is_failed(node, ns):
    apply(node, ns, pod("mixed", container("ok", "busybox", *SH, "exit 0"),
                        container("bad", "busybox", *SH, "exit 2"), restartPolicy="Never"))
    wait_for(lambda: phase(node, ns, "mixed") in ("Succeeded", "Failed"), what="the pod to end")
    p = get_pod(node, ns, "mixed")
    assert p["status"]["phase"] == "Failed"
    ok = container_status(p, "ok")["state"]["terminated"]
    bad = container_status(p, "bad")["state"]["terminated"]
    assert (ok["reason"], ok["exitCode"], bad["reason"], bad["exitCode"]) == ("Completed", 0, "Error", 2)
    assert container_status(p, "bad")["restartCount"] == 0


# --- hostPath type -------------------------------------------------------------------------

def test_host_path_directory_type_check_is_failed_mount(node, ns, tmp_path):
    missing, afile = tmp_path / "missing", tmp_path / "afile"
    afile.write_text("x")
    for name, path in (("hp", missing), ("hpf", afile)):
        c = container("c", "busybox", "sleep", "1000", volumeMounts=[{"name": "v", "mountPath": "/v"}])
        apply(node, ns, pod(name, c, terminationGracePeriodSeconds=1,
                            volumes=[{"name": "v", "hostPath": {"path": str(path), "type": "Directory"}}]))
    # host_path.go typeMatchedOrError, wrapped as the operation executor's MountVolume.SetUp error
    msgs = wait_for(lambda: _events(node, ns, "hp", "FailedMount"), what="a FailedMount event")
    assert msgs[0] == f'MountVolume.SetUp failed for volume "v" : hostPath {missing} doesn\'t exist'
    msgs = wait_for(lambda: _events(node, ns, "hpf", "FailedMount"), what="a FailedMount event")
    assert msgs[0] == (f'MountVolume.SetUp failed for volume "v" : '
                       f"hostPath type check failed: {afile} is not a directory, it's a File")
    assert phase(node, ns, "hp") == "Pending"


def test_pod_waiting_on_a_volume_shows_container_creating(node, ns, tmp_path):
    c = container("c", "busybox", "sleep", "1000", volumeMounts=[{"name": "v", "mountPath": "/v"}])
    apply(node, ns, pod("hpw", c, terminationGracePeriodSeconds=1, volumes=[
        {"name": "v", "hostPath": {"path": str(tmp_path / "missing"), "type": "Directory"}}]))
    wait_for(lambda: _events(node, ns, "hpw", "FailedMount"), what="a FailedMount event")
    wait_for(lambda: container_status(get_pod(node, ns, "hpw"), "c"), timeout=5, what="a container status")
    p = get_pod(node, ns, "hpw")
    cs = container_status(p, "c")
    assert (cs["state"], cs["ready"], cs["restartCount"]) == ({"waiting": {"reason": "ContainerCreating"}}, False, 0)
    assert p["status"]["startTime"] and p["status"]["hostIP"]
    row = node.kubectl("get", "pod", "-n", ns, "hpw", "--no-headers").stdout.split()
    assert row[1:3] == ["0/1", "ContainerCreating"]


def test_host_path_directory_or_create_makes_it(node, ns, tmp_path):
    made = tmp_path / "made" / "deep"
    c = container("c", "busybox", *SH, "echo hi > /v/f", volumeMounts=[{"name": "v", "mountPath": "/v"}])
    apply(node, ns, pod("hpc", c, restartPolicy="Never",
                        volumes=[{"name": "v", "hostPath": {"path": str(made), "type": "DirectoryOrCreate"}}]))
    wait_for(lambda: phase(node, ns, "hpc") in ("Succeeded", "Failed"), what="the pod to end")
    assert phase(node, ns, "hpc") == "Succeeded"
    assert (made / "f").read_text() == "hi\n"
    assert oct(os.stat(made).st_mode & 0o777) == oct(0o755)  # hostutil MakeDir: 0755


# --- kubectl logs ----------------------------------------------------------------------------

def test_logs_follow_streams_new_lines_and_ends_with_the_container(node, ns):
    c = container("c", "busybox", *SH, "echo before; while [ ! -f /tmp/go ]; do sleep 0.1; done; echo after")
    apply(node, ns, pod("fol", c, restartPolicy="Never", terminationGracePeriodSeconds=1))
    wait_for(lambda: "running" in container_status(get_pod(node, ns, "fol"), "c").get("state", {}),
             what="running")
    f = KubectlLines(node, "logs", "-f", "-n", ns, "fol")
    try:
        assert f.next() == "before"
        _exec(node, ns, "fol", "touch", "/tmp/go")
        assert f.next() == "after"
        assert f.proc.wait(20) == 0  # the stream ends when the container exits
    finally:
        f.stop()
    assert f.lines.empty()


def test_logs_since_all_containers_and_limit_bytes(node, ns):
    apply(node, ns, pod("two", container("a", "busybox", *SH, "echo hello world; echo second"),
                        container("b", "busybox", *SH, "echo from-b"), restartPolicy="Never"))
    wait_for(lambda: phase(node, ns, "two") == "Succeeded", what="the pod to finish")
    assert logs(node, ns, "two", "-c", "a", "--since=1h") == "hello world\nsecond\n"
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert logs(node, ns, "two", "-c", "a", f"--since-time={future}") == ""
    assert logs(node, ns, "two", "-c", "a", "--limit-bytes=5") == "hello"
    # kubectl walks a map of containers: the order of the containers' blocks is not fixed
    assert sorted(logs(node, ns, "two", "--all-containers").splitlines()) == [
        "from-b", "hello world", "second"]
    prefixed = logs(node, ns, "two", "--all-containers", "--prefix").splitlines()
    assert [ln for ln in prefixed if ln.startswith("[pod/two/a] ")] == [
        "[pod/two/a] hello world", "[pod/two/a] second"]
    assert [ln for ln in prefixed if ln.startswith("[pod/two/b] ")] == ["[pod/two/b] from-b"]
    assert len(prefixed) == 3


# --- kubectl cp ------------------------------------------------------------------------------

def test_kubectl_cp_to_and_from_a_pod(node, ns, tmp_path):
    apply(node, ns, pod("cp", container("c", "busybox", "sleep", "1000"), terminationGracePeriodSeconds=1))
    node.kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/cp", "--timeout=30s")
    src = tmp_path / "in.txt"
    src.write_text("payload\n")
    node.kubectl("cp", "-n", ns, str(src), "cp:/tmp/in.txt")
    assert _exec(node, ns, "cp", "cat", "/tmp/in.txt").stdout == "payload\n"
    _exec(node, ns, "cp", "sh", "-c", "mkdir -p /tmp/d/sub && echo one > /tmp/d/a && echo two > /tmp/d/sub/b")
    node.kubectl("cp", "-n", ns, "cp:/tmp/d", str(tmp_path / "d"))
    assert (tmp_path / "d" / "a").read_text() == "one\n"
    assert (tmp_path / "d" / "sub" / "b").read_text() == "two\n"


# --- kubectl attach --------------------------------------------------------------------------

def test_attach_prints_new_output(node, ns):
    script = "i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.2; done"
    apply(node, ns, pod("att", container("c", "busybox", *SH, script), terminationGracePeriodSeconds=1))
    wait_for(lambda: "tick5" in node.kubectl("logs", "-n", ns, "att", check=False).stdout,
             what="some output before attaching")
    a = KubectlLines(node, "attach", "-n", ns, "att", "-c", "c")
    try:
        got = [a.next() for _ in range(3)]
    finally:
        a.stop()
    nums = [int(x.removeprefix("tick")) for x in got]
    assert nums[0] >= 5, f"attach replays nothing already written: {got}"
    assert nums == [nums[0], nums[0] + 1, nums[0] + 2]


def test_attach_with_stdin_fails_clearly(node, ns):
    # stdin of non-TTY containers works (test_attach_stdin.py); a TTY needs a console: refused
    c = container("c", "busybox", *SH, f"echo up; {LOOP}", stdin=True, tty=True)
    apply(node, ns, pod("atti", c, terminationGracePeriodSeconds=1))
    node.kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/atti", "--timeout=30s")
    r = node.kubectl("attach", "-i", "-n", ns, "atti", "-c", "c", input="hi\n", check=False, timeout=20)
    assert r.returncode != 0
    assert "stdin" in r.stderr.lower()
