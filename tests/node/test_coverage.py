"""Issue-3 coverage on real pods, seen through kubectl as a user would: secret, downwardAPI,
projected and memory emptyDir volumes; env sources; securityContext; cgroup limits; DNS and
/etc/hosts. Upstream Kubernetes behaviour is the oracle (the comments name where it lives)."""

from __future__ import annotations

import base64
import json
import os


from kubeproc.agent.network import NetworkConfig
from tests.node.conftest import (apply, container, container_status, get_pod, logs, phase, pod,
                                 wait_for)

SH = ("sh", "-c")


def _exec(inst, ns, name, *cmd, check=True, c=None):
    args = ["exec", "-n", ns, name] + (["-c", c] if c else [])
    return inst.kubectl(*args, "--", *cmd, check=check)


def _sleeper(name, *mounts, **kw):
    """A long-running pod (fast to delete) with one busybox container `c` mounting `mounts`."""
    vms = [{"name": v, "mountPath": p} for v, p in mounts]
    return pod(name, container("c", "busybox", "sleep", "1000", volumeMounts=vms),
               terminationGracePeriodSeconds=1, **kw)


def _ready(inst, ns, name):
    inst.kubectl("wait", "-n", ns, "--for=condition=Ready", f"pod/{name}", "--timeout=30s")


def _run_to_end(inst, ns, name):
    try:
        wait_for(lambda: phase(inst, ns, name) in ("Succeeded", "Failed"), what=f"{name} to finish")
    except AssertionError as e:
        raise AssertionError(f"{e}; status: {json.dumps((get_pod(inst, ns, name) or {}).get('status'))}")
    assert phase(inst, ns, name) == "Succeeded", logs(inst, ns, name)
    return logs(inst, ns, name)


# --- secret volume ---------------------------------------------------------------------------

def test_secret_volume_items_modes_and_updates(node, ns):
    node.kubectl("create", "secret", "generic", "s", "-n", ns,
                 "--from-literal=user=admin", "--from-literal=pass=hunter2", "--from-literal=skip=x")
    vols = [{"name": "picked", "secret": {"secretName": "s", "defaultMode": 0o400, "items": [
                {"key": "user", "path": "sub/u.txt", "mode": 0o640}, {"key": "pass", "path": "p"}]}},
            {"name": "all", "secret": {"secretName": "s"}}]
    apply(node, ns, _sleeper("sec", ("picked", "/picked"), ("all", "/all"), volumes=vols))
    _ready(node, ns, "sec")
    # only the listed keys, at their paths (ls hides the ..data machinery)
    assert _exec(node, ns, "sec", "ls", "/picked").stdout.split() == ["p", "sub"]
    assert _exec(node, ns, "sec", "cat", "/picked/sub/u.txt").stdout == "admin"
    assert _exec(node, ns, "sec", "cat", "/picked/p").stdout == "hunter2"
    modes = _exec(node, ns, "sec", "stat", "-L", "-c", "%a", "/picked/sub/u.txt", "/picked/p").stdout
    assert modes.split() == ["640", "400"]  # item mode wins, else defaultMode
    assert _exec(node, ns, "sec", "ls", "/all").stdout.split() == ["pass", "skip", "user"]
    # secret volumes default to 0644 (SecretVolumeSourceDefaultMode)
    assert _exec(node, ns, "sec", "stat", "-L", "-c", "%a", "/all/user").stdout.strip() == "644"
    new = base64.b64encode(b"root").decode()
    node.kubectl("patch", "secret", "s", "-n", ns, "-p", json.dumps({"data": {"user": new}}))
    wait_for(lambda: _exec(node, ns, "sec", "cat", "/picked/sub/u.txt").stdout == "root",
             timeout=60, what="the secret update in the items volume")
    wait_for(lambda: _exec(node, ns, "sec", "cat", "/all/user").stdout == "root",
             timeout=60, what="the secret update in the whole volume")


# --- downwardAPI, projected, memory emptyDir -------------------------------------------------

def test_downward_api_volume_labels_follow_kubectl_label(node, ns):
    c = container("c", "busybox", "sleep", "1000", volumeMounts=[{"name": "info", "mountPath": "/info"}],
                  resources={"limits": {"memory": "64Mi"}})
    items = [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
             {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
             {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory",
                                                  "divisor": "1Mi"}}]
    spec = pod("dw", c, terminationGracePeriodSeconds=1,
               volumes=[{"name": "info", "downwardAPI": {"items": items}}])
    spec["metadata"]["labels"] = {"app": "web", "tier": "front"}
    apply(node, ns, spec)
    _ready(node, ns, "dw")
    # fieldpath.FormatMap: sorted key="value" lines, no trailing newline
    assert _exec(node, ns, "dw", "cat", "/info/labels").stdout == 'app="web"\ntier="front"'
    assert _exec(node, ns, "dw", "cat", "/info/name").stdout == "dw"
    assert _exec(node, ns, "dw", "cat", "/info/mem").stdout == "64"
    node.kubectl("label", "pod", "dw", "-n", ns, "tier=back", "zone=a", "--overwrite")
    wait_for(lambda: _exec(node, ns, "dw", "cat", "/info/labels").stdout
             == 'app="web"\ntier="back"\nzone="a"', timeout=10, what="labels file update")


def test_projected_volume_merges_sources_and_follows_labels(node, ns):
    node.kubectl("create", "configmap", "cfg", "-n", ns, "--from-literal=color=blue")
    node.kubectl("create", "secret", "generic", "sec", "-n", ns, "--from-literal=token=t0k")
    sources = [{"configMap": {"name": "cfg"}},
               {"secret": {"name": "sec", "items": [{"key": "token", "path": "creds/token", "mode": 0o600}]}},
               {"downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}}]
    spec = _sleeper("proj", ("all", "/all"),
                    volumes=[{"name": "all", "projected": {"sources": sources, "defaultMode": 0o440}}])
    spec["metadata"]["labels"] = {"app": "web"}
    apply(node, ns, spec)
    _ready(node, ns, "proj")
    assert _exec(node, ns, "proj", "ls", "/all").stdout.split() == ["color", "creds", "labels"]
    assert _exec(node, ns, "proj", "cat", "/all/color", "/all/creds/token").stdout == "bluet0k"
    modes = _exec(node, ns, "proj", "stat", "-L", "-c", "%a", "/all/color", "/all/creds/token").stdout
    assert modes.split() == ["440", "600"]
    node.kubectl("patch", "configmap", "cfg", "-n", ns, "-p", '{"data":{"color":"red"}}')
    wait_for(lambda: _exec(node, ns, "proj", "cat", "/all/color").stdout == "red",
             timeout=60, what="projected configMap update")
    # a label change alone (no ConfigMap/Secret event to piggy-back on) must reach the file too
    node.kubectl("label", "pod", "proj", "-n", ns, "app=api", "--overwrite")
    wait_for(lambda: _exec(node, ns, "proj", "cat", "/all/labels").stdout == 'app="api"',
             timeout=10, what="projected labels update")


def test_memory_emptydir_is_tmpfs_of_size_limit(node, ns):
    spec = _sleeper("mem", ("cache", "/cache"),
                    volumes=[{"name": "cache", "emptyDir": {"medium": "Memory", "sizeLimit": "8Mi"}}])
    apply(node, ns, spec)
    _ready(node, ns, "mem")
    df = _exec(node, ns, "mem", "df", "-k", "/cache").stdout.splitlines()[-1].split()
    assert (df[0], df[1]) == ("tmpfs", "8192")  # SizeMemoryBackedVolumes: tmpfs size = sizeLimit
    r = _exec(node, ns, "mem", "sh", "-c", "dd if=/dev/zero of=/cache/big bs=1M count=10", check=False)
    assert r.returncode != 0 and "No space left on device" in r.stderr


# --- env -------------------------------------------------------------------------------------

def test_env_from_with_prefix_secret_key_ref_and_resource_field(node, ns):
    node.kubectl("create", "configmap", "cfg", "-n", ns, "--from-literal=COLOR=blue", "--from-literal=SIZE=L")
    node.kubectl("create", "secret", "generic", "sec", "-n", ns, "--from-literal=PASS=hunter2")
    env = [{"name": "USER_PASS", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "PASS"}}},
           {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory"}}},
           {"name": "MEM_MI", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
           {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
           {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
           {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}}]
    script = 'echo "$CFG_COLOR $CFG_SIZE $S_PASS $USER_PASS $MEM $MEM_MI $APP $NODE $SA"'
    c = container("c", "busybox", *SH, script, env=env,
                  envFrom=[{"prefix": "CFG_", "configMapRef": {"name": "cfg"}},
                           {"prefix": "S_", "secretRef": {"name": "sec"}}],
                  resources={"limits": {"memory": "64Mi"}})
    spec = pod("env", c, restartPolicy="Never")
    spec["metadata"]["labels"] = {"app": "web"}
    apply(node, ns, spec)
    out = _run_to_end(node, ns, "env").split()
    p = get_pod(node, ns, "env")
    assert p["spec"]["serviceAccountName"] == "default"
    assert out == ["blue", "L", "hunter2", "hunter2", str(64 * 1024 * 1024), "64", "web",
                   p["spec"]["nodeName"], "default"]


def test_env_field_ref_whole_labels_map_is_rejected(node, ns):
    """metadata.labels without a subscript is a volume-only path (validation.go validEnvDownwardAPIFieldPathExpressions)."""
    c = container("c", "busybox", "true",
                  env=[{"name": "L", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels"}}}])
    r = node.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(pod("bad", c)), check=False)
    assert r.returncode != 0
    assert 'spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Unsupported value: "metadata.labels"' \
        in r.stderr


# --- securityContext -------------------------------------------------------------------------

def test_capabilities_and_no_new_privileges(node, ns):
    show = "grep -E '^(CapEff|NoNewPrivs):' /proc/self/status | tr -s '\\t' ' '"
    dropped = container("c", "busybox", *SH, show, securityContext={
        "capabilities": {"drop": ["ALL"]}, "allowPrivilegeEscalation": False})
    net_admin = container("c", "busybox", *SH, show, securityContext={
        "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]}})
    default = container("c", "busybox", *SH, show)
    for name, c in (("dropped", dropped), ("netadmin", net_admin), ("default", default)):
        apply(node, ns, pod(name, c, restartPolicy="Never"))
    assert _run_to_end(node, ns, "dropped").splitlines() == ["CapEff: 0000000000000000", "NoNewPrivs: 1"]
    assert _run_to_end(node, ns, "netadmin").splitlines()[0] == "CapEff: 0000000000001000"
    # the containerd default capability set (oci.DefaultCapabilities), privilege escalation allowed
    assert _run_to_end(node, ns, "default").splitlines() == ["CapEff: 00000000a80425fb", "NoNewPrivs: 0"]


def test_fs_group_owns_emptydir_and_groups_in_id(node, ns):
    script = "id -u; id -g; id -G; stat -c '%g %a' /data; touch /data/f; stat -c '%u %g' /data/f"
    c = container("c", "busybox", *SH, script, volumeMounts=[{"name": "data", "mountPath": "/data"}])
    apply(node, ns, pod("fsg", c, restartPolicy="Never", volumes=[{"name": "data", "emptyDir": {}}],
                        securityContext={"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000,
                                         "supplementalGroups": [4000, 5000]}))
    lines = _run_to_end(node, ns, "fsg").splitlines()
    assert lines[:2] == ["1000", "3000"]
    assert sorted(lines[2].split()) == ["2000", "3000", "4000", "5000"]
    # volume.SetVolumeOwnership: group fsGroup, setgid and group rwx on the emptyDir
    assert lines[3] == "2000 2777"
    assert lines[4] == "1000 2000"  # new files inherit the group through setgid


# --- resources -------------------------------------------------------------------------------

def _host_cgroup(inst, p, ctrl, cname="c", attempt=0):
    tag = NetworkConfig.for_data_dir(inst.data_dir).instance
    return os.path.join("/sys/fs/cgroup", ctrl, f"kubeproc-{tag}", f"pod{p['metadata']['uid']}",
                        f"{cname}-{attempt}")


def test_cpu_and_memory_limits_in_cgroups(node, ns):
    # Burstable (cpu request below the limit): a Guaranteed pod is the next test's subject
    c = container("c", "busybox", "sleep", "1000",
                  resources={"limits": {"cpu": "250m", "memory": "64Mi"}, "requests": {"cpu": "100m"}})
    apply(node, ns, pod("lim", c, terminationGracePeriodSeconds=1))
    _ready(node, ns, "lim")
    # the container sees its own cgroup at /sys/fs/cgroup/<controller> (runc's cgroup mount)
    inside = _exec(node, ns, "lim", "cat", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
                   "/sys/fs/cgroup/cpu/cpu.cfs_period_us",
                   "/sys/fs/cgroup/memory/memory.limit_in_bytes").stdout.split()
    assert inside == ["25000", "100000", str(64 * 1024 * 1024)]  # MilliCPUToQuota
    p = get_pod(node, ns, "lim")
    with open(os.path.join(_host_cgroup(node, p, "cpu"), "cpu.cfs_quota_us")) as f:
        assert f.read().strip() == "25000"
    with open(os.path.join(_host_cgroup(node, p, "memory"), "memory.limit_in_bytes")) as f:
        assert f.read().strip() == str(64 * 1024 * 1024)


def _has_cap_sys_resource() -> bool:
    with open("/proc/self/status") as f:
        eff = next(ln for ln in f if ln.startswith("CapEff:")).split()[1]
    return bool(int(eff, 16) & (1 << 24))


def test_guaranteed_pod_runs(node, ns):
    c = container("c", "busybox", "sleep", "1000", resources={"limits": {"cpu": "250m", "memory": "64Mi"}})
    apply(node, ns, pod("guar", c, terminationGracePeriodSeconds=1))
    wait_for(lambda: container_status(get_pod(node, ns, "guar"), "c").get("ready"), timeout=10,
             what="the Guaranteed pod ready")
    p = get_pod(node, ns, "guar")
    assert p["status"]["qosClass"] == "Guaranteed"
    # -997 for Guaranteed (qos/policy.go); a host without CAP_SYS_RESOURCE cannot lower the
    # score below the agent's own, so it is clamped there (containerd restrict_oom_score_adj)
    with open("/proc/self/oom_score_adj") as f:
        floor = int(f.read())
    want = -997 if _has_cap_sys_resource() else max(-997, floor)
    assert _exec(node, ns, "guar", "cat", "/proc/1/oom_score_adj").stdout.strip() == str(want)


# --- DNS and /etc/hosts ----------------------------------------------------------------------

def test_dns_policy_none_with_dns_config_exact_resolv_conf(node, ns):
    dns = {"nameservers": ["192.0.2.1"], "searches": ["ns1.svc.cluster-domain.example", "my.dns.search.suffix"],
           "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}
    apply(node, ns, pod("dns", container("c", "busybox", "cat", "/etc/resolv.conf"),
                        restartPolicy="Never", dnsPolicy="None", dnsConfig=dns))
    assert _run_to_end(node, ns, "dns") == ("search ns1.svc.cluster-domain.example my.dns.search.suffix\n"
                                            "nameserver 192.0.2.1\n"
                                            "options ndots:2 edns0\n")


def test_dns_policy_default_uses_the_node_resolv_conf(node, ns):
    apply(node, ns, pod("dflt", container("c", "busybox", "cat", "/etc/resolv.conf"),
                        restartPolicy="Never", dnsPolicy="Default"))
    out = _run_to_end(node, ns, "dflt")
    with open("/etc/resolv.conf") as f:
        host = f.read()
    want = [ln.split()[1] for ln in host.splitlines() if ln.startswith("nameserver")]
    assert [ln.split()[1] for ln in out.splitlines() if ln.startswith("nameserver")] == want
    assert "svc.cluster.local" not in out


def test_host_aliases_in_etc_hosts(node, ns):
    aliases = [{"ip": "127.0.0.1", "hostnames": ["foo.local", "bar.local"]},
               {"ip": "10.1.2.3", "hostnames": ["foo.remote", "bar.remote"]}]
    apply(node, ns, pod("ha", container("c", "busybox", "cat", "/etc/hosts"),
                        restartPolicy="Never", hostAliases=aliases))
    out = _run_to_end(node, ns, "ha")
    ip = get_pod(node, ns, "ha")["status"]["podIP"]
    # kubelet_pods.go managedHostsFileContent + hostsEntriesFromHostAliases
    assert out == ("# Kubernetes-managed hosts file.\n"
                   "127.0.0.1\tlocalhost\n"
                   "::1\tlocalhost ip6-localhost ip6-loopback\n"
                   "fe00::0\tip6-localnet\n"
                   "fe00::0\tip6-mcastprefix\n"
                   "fe00::1\tip6-allnodes\n"
                   "fe00::2\tip6-allrouters\n"
                   f"{ip}\tha\n"
                   "\n# Entries added by HostAliases.\n"
                   "127.0.0.1\tfoo.local\tbar.local\n"
                   "10.1.2.3\tfoo.remote\tbar.remote\n")


def test_set_hostname_as_fqdn(node, ns):
    apply(node, ns, pod("fq", container("c", "busybox", "hostname"), restartPolicy="Never",
                        hostname="web-0", subdomain="web", setHostnameAsFQDN=True))
    assert _run_to_end(node, ns, "fq").strip() == f"web-0.web.{ns}.svc.cluster.local"
