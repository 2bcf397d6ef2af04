"""Pod volumes on the host (kubeproc.agent.volumes / projection): each plugin's directory,
content, modes, fsGroup ownership and the kubelet's error texts; refresh and teardown.
tmpfs (emptyDir medium Memory) needs root and is tested in tests/agent/test_volumes_runc.py."""

from __future__ import annotations

import base64
import os
import socket
import stat
from typing import Any

import pytest

from kubeproc.agent.volumes import (
    HostVolume,
    VolumeError,
    VolumeSources,
    refresh_pod_volumes,
    setup_pod_volumes,
    teardown_pod_volumes,
    tmpfs_size,
)

NS = "default"
GID = 4321 if os.geteuid() == 0 else os.getgid()  # chown to another group needs root


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


class World:
    """The objects the lead's lookups would return."""

    def __init__(self) -> None:
        self.cms: dict[str, dict[str, Any]] = {}
        self.secrets: dict[str, dict[str, Any]] = {}
        self.pvcs: dict[str, dict[str, Any]] = {}
        self.pvs: dict[str, dict[str, Any]] = {}
        self.token: str | None = "tok"
        self.paths: dict[str, str] = {}

    def sources(self, allocatable: dict[str, Any] | None = None) -> VolumeSources:
        return VolumeSources(
            config_map=lambda ns, n: self.cms.get(n) if ns == NS else None,
            secret=lambda ns, n: self.secrets.get(n) if ns == NS else None,
            pvc=lambda ns, n: self.pvcs.get(n) if ns == NS else None,
            pv=lambda n: self.pvs.get(n),
            service_account_token=lambda pod: self.token,
            pv_path=lambda pv: self.paths.get(pv["metadata"]["name"]),
            node_allocatable=allocatable or {"cpu": "4", "memory": "8Gi"},
        )


def pod(*volumes: dict[str, Any], fs_group: int | None = None, containers: list | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"volumes": list(volumes), "containers": containers or [{"name": "c"}]}
    if fs_group is not None:
        spec["securityContext"] = {"fsGroup": fs_group}
    return {"metadata": {"name": "p", "namespace": NS, "uid": "uid-1", "labels": {"b": "2", "a": "1"},
                         "annotations": {"x": "y"}}, "spec": spec}


def read(path: str) -> str:
    with open(path) as f:
        return f.read()


def mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def fail(p: dict[str, Any], pod_dir: str, w: World) -> VolumeError:
    with pytest.raises(VolumeError) as exc:
        setup_pod_volumes(p, pod_dir, w.sources(), "node-1")
    return exc.value


# ---- emptyDir --------------------------------------------------------------------------------

def test_empty_dir_is_0777_and_keeps_content(tmp_path) -> None:
    p = pod({"name": "scratch", "emptyDir": {}})
    vols = setup_pod_volumes(p, str(tmp_path), World().sources(), "node-1")
    path = str(tmp_path / "volumes/kubernetes.io~empty-dir/scratch")
    assert vols == {"scratch": HostVolume(path, False, "emptyDir")}
    assert mode(path) == 0o777
    (tmp_path / "volumes/kubernetes.io~empty-dir/scratch/f").write_text("kept")
    setup_pod_volumes(p, str(tmp_path), World().sources(), "node-1")
    assert read(path + "/f") == "kept"


def test_empty_dir_fs_group_is_setgid_group_writable(tmp_path) -> None:
    p = pod({"name": "d", "emptyDir": {}}, fs_group=GID)
    path = setup_pod_volumes(p, str(tmp_path), World().sources(), "n")["d"].path
    st = os.stat(path)
    assert (st.st_gid, stat.S_IMODE(st.st_mode)) == (GID, 0o2777)


def test_hugepages_medium_is_refused(tmp_path) -> None:
    err = fail(pod({"name": "h", "emptyDir": {"medium": "HugePages"}}), str(tmp_path), World())
    assert (err.reason, err.message) == ("FailedMount", 'MountVolume.SetUp failed for volume "h" : unsupported medium: HugePages')


@pytest.mark.parametrize("containers,empty_dir,allocatable,want", [
    ([{"name": "c"}], {}, {}, None),
    ([{"name": "c"}], {}, {"memory": "1Gi"}, 1 << 30),
    ([{"name": "c", "resources": {"limits": {"memory": "256Mi"}}}], {}, {"memory": "1Gi"}, 256 << 20),
    ([{"name": "c", "resources": {"limits": {"memory": "256Mi"}}}], {"sizeLimit": "64Mi"}, {"memory": "1Gi"}, 64 << 20),
    ([{"name": "c", "resources": {"limits": {"memory": "256Mi"}}}], {"sizeLimit": "2Gi"}, {"memory": "1Gi"}, 256 << 20),
    ([{"name": "c", "resources": {"limits": {"memory": "256Mi"}}}, {"name": "d"}], {}, {"memory": "1Gi"}, 1 << 30),
    ([{"name": "c", "resources": {"limits": {"memory": "100Mi"}}},
      {"name": "d", "resources": {"limits": {"memory": "100Mi"}}}], {}, {}, 200 << 20),
    ([{"name": "c"}], {"sizeLimit": "1Mi"}, {}, 1 << 20),
], ids=["kernel-default", "node-allocatable", "pod-limit", "size-limit-smaller", "size-limit-larger-ignored",
        "limit-not-declared-by-all", "sum-of-limits", "size-limit-only"])
def test_tmpfs_size_follows_calculate_empty_dir_memory_size(containers, empty_dir, allocatable, want) -> None:
    p = pod(containers=containers)
    assert tmpfs_size(p, empty_dir, allocatable) == want


# ---- configMap / secret ------------------------------------------------------------------------

def test_config_map_data_binary_data_and_default_mode(tmp_path) -> None:
    w = World()
    w.cms["cfg"] = {"data": {"a.conf": "A", "b": "B"}, "binaryData": {"bin": b64("\x00\x01")}}
    vols = setup_pod_volumes(pod({"name": "v", "configMap": {"name": "cfg"}}), str(tmp_path), w.sources(), "n")
    path = str(tmp_path / "volumes/kubernetes.io~configmap/v")
    assert vols["v"] == HostVolume(path, True, "configMap")
    assert sorted(n for n in os.listdir(path) if not n.startswith("..")) == ["a.conf", "b", "bin"]
    assert (read(path + "/a.conf"), read(path + "/b")) == ("A", "B")
    with open(path + "/bin", "rb") as f:
        assert f.read() == b"\x00\x01"
    assert mode(path + "/a.conf") == 0o644 and mode(path) == 0o777


def test_config_map_items_paths_and_modes(tmp_path) -> None:
    w = World()
    w.cms["cfg"] = {"data": {"a": "A", "b": "B", "c": "C"}}
    v = {"name": "v", "configMap": {"name": "cfg", "defaultMode": 0o440,
                                     "items": [{"key": "a", "path": "dir/a.txt", "mode": 0o600}, {"key": "b", "path": "b"}]}}
    path = setup_pod_volumes(pod(v), str(tmp_path), w.sources(), "n")["v"].path
    assert sorted(n for n in os.listdir(path) if not n.startswith("..")) == ["b", "dir"]
    assert read(path + "/dir/a.txt") == "A" and mode(path + "/dir/a.txt") == 0o600
    assert mode(path + "/b") == 0o440


@pytest.mark.parametrize("volume,objects,detail", [
    ({"configMap": {"name": "nope"}}, {}, 'configmap "nope" not found'),
    ({"secret": {"secretName": "nope"}}, {}, 'secret "nope" not found'),
    ({"configMap": {"name": "cfg", "items": [{"key": "zz", "path": "z"}]}}, {"cfg": {"data": {"a": "A"}}},
     "configmap references non-existent config key: zz"),
    ({"secret": {"secretName": "s", "items": [{"key": "zz", "path": "z"}]}}, {"s": {"data": {"a": b64("A")}}},
     "references non-existent secret key: zz"),
    ({"configMap": {"name": "cfg", "items": [{"key": "a", "path": "../x"}]}}, {"cfg": {"data": {"a": "A"}}},
     "invalid path: must not contain '..': ../x"),
], ids=["configmap-not-found", "secret-not-found", "configmap-missing-key", "secret-missing-key", "item-path-escape"])
def test_config_map_and_secret_errors(tmp_path, volume, objects, detail) -> None:
    w = World()
    w.cms.update(objects)
    w.secrets.update(objects)
    err = fail(pod({"name": "v", **volume}), str(tmp_path), w)
    assert (err.reason, err.volume, err.detail) == ("FailedMount", "v", detail)
    assert err.message == f'MountVolume.SetUp failed for volume "v" : {detail}'


@pytest.mark.parametrize("volume", [
    {"configMap": {"name": "nope", "optional": True}},
    {"secret": {"secretName": "nope", "optional": True}},
    {"configMap": {"name": "cfg", "optional": True, "items": [{"key": "zz", "path": "z"}]}},
], ids=["optional-configmap", "optional-secret", "optional-missing-key"])
def test_optional_sources_give_an_empty_volume(tmp_path, volume) -> None:
    w = World()
    w.cms["cfg"] = {"data": {"a": "A"}}
    path = setup_pod_volumes(pod({"name": "v", **volume}), str(tmp_path), w.sources(), "n")["v"].path
    assert [n for n in os.listdir(path) if not n.startswith("..")] == []
    assert os.path.islink(path + "/..data")


def test_secret_values_are_decoded_with_mode_0644(tmp_path) -> None:
    w = World()
    w.secrets["s"] = {"data": {"password": b64("hunter2"), "user": b64("root")}}
    vols = setup_pod_volumes(pod({"name": "v", "secret": {"secretName": "s"}}), str(tmp_path), w.sources(), "n")
    path = vols["v"].path
    assert vols["v"].read_only and path.endswith("volumes/kubernetes.io~secret/v")
    assert (read(path + "/password"), read(path + "/user")) == ("hunter2", "root")
    assert mode(path + "/password") == 0o644


def test_fs_group_makes_projected_files_group_readable(tmp_path) -> None:
    w = World()
    w.secrets["s"] = {"data": {"k": b64("v")}}
    p = pod({"name": "v", "secret": {"secretName": "s", "defaultMode": 0o400}}, fs_group=GID)
    path = setup_pod_volumes(p, str(tmp_path), w.sources(), "n")["v"].path
    real = os.path.realpath(path + "/k")
    assert (os.stat(real).st_gid, mode(real)) == (GID, 0o440)
    ts = os.path.realpath(path + "/..data")
    assert (os.stat(ts).st_gid, stat.S_IMODE(os.stat(ts).st_mode)) == (GID, 0o2755)


# ---- downwardAPI / projected -------------------------------------------------------------------

def test_downward_api_fields_and_resources(tmp_path) -> None:
    items = [
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
        {"path": "x", "fieldRef": {"fieldPath": "metadata.annotations['x']"}},
        {"path": "cpu", "resourceFieldRef": {"containerName": "c", "resource": "limits.cpu", "divisor": "1m"}},
        {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory", "divisor": "1Mi"}, "mode": 0o400},
    ]
    p = pod({"name": "info", "downwardAPI": {"items": items}},
            containers=[{"name": "c", "resources": {"limits": {"memory": "64Mi"}}}])
    vols = setup_pod_volumes(p, str(tmp_path), World().sources({"cpu": "2", "memory": "1Gi"}), "n")
    path = vols["info"].path
    assert vols["info"].kind == "downwardAPI" and path.endswith("kubernetes.io~downward-api/info")
    assert read(path + "/labels") == 'a="1"\nb="2"'
    assert (read(path + "/name"), read(path + "/x")) == ("p", "y")
    assert read(path + "/cpu") == "2000"  # no limit: the node's allocatable
    assert read(path + "/mem") == "64" and mode(path + "/mem") == 0o400


def test_downward_api_unknown_container(tmp_path) -> None:
    items = [{"path": "cpu", "resourceFieldRef": {"containerName": "ghost", "resource": "limits.cpu"}}]
    err = fail(pod({"name": "info", "downwardAPI": {"items": items}}), str(tmp_path), World())
    assert err.detail == "container ghost not found"


def test_projected_merges_sources(tmp_path) -> None:
    w = World()
    w.cms["cfg"] = {"data": {"a": "A", "shared": "from-cm"}}
    w.secrets["s"] = {"data": {"b": b64("B"), "shared": b64("from-secret")}}
    sources = [{"configMap": {"name": "cfg"}}, {"secret": {"name": "s"}},
               {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
               {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}}]
    vols = setup_pod_volumes(pod({"name": "proj", "projected": {"sources": sources, "defaultMode": 0o444}}),
                             str(tmp_path), w.sources(), "n")
    path = vols["proj"].path
    assert vols["proj"].read_only and path.endswith("kubernetes.io~projected/proj")
    got = {n: read(os.path.join(path, n)) for n in os.listdir(path) if not n.startswith("..")}
    assert got == {"a": "A", "b": "B", "shared": "from-secret", "ns": NS, "token": "tok"}
    assert mode(path + "/token") == 0o444


def test_projected_token_is_0640_with_fs_group_and_omitted_without_token(tmp_path) -> None:
    w = World()
    src = {"sources": [{"serviceAccountToken": {"path": "token"}}]}
    path = setup_pod_volumes(pod({"name": "t", "projected": src}, fs_group=GID), str(tmp_path), w.sources(), "n")["t"].path
    assert mode(os.path.realpath(path + "/token")) == 0o640
    w.token = None
    assert refresh_pod_volumes(pod({"name": "t", "projected": src}), str(tmp_path), w.sources(), "n") is True
    assert not os.path.lexists(path + "/token")


def test_projected_errors_are_aggregated(tmp_path) -> None:
    src = {"sources": [{"configMap": {"name": "c1"}}, {"secret": {"name": "s1"}}]}
    err = fail(pod({"name": "v", "projected": src}), str(tmp_path), World())
    assert err.detail == '[configmap "c1" not found, secret "s1" not found]'


# ---- hostPath --------------------------------------------------------------------------------

@pytest.fixture
def host(tmp_path):
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("f")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    yield tmp_path
    sock.close()


@pytest.mark.parametrize("rel,type_,detail", [
    ("dir", "Directory", None),
    ("file", "File", None),
    ("sock", "Socket", None),
    ("missing", "", None),
    ("file", "Directory", "hostPath type check failed: {p} is not a directory, it's a File"),
    ("dir", "File", "hostPath type check failed: {p} is not a file, it's a Directory"),
    ("dir", "Socket", "hostPath type check failed: {p} is not a socket file, it's a Directory"),
    ("file", "CharDevice", "hostPath type check failed: {p} is not a character device, it's a File"),
    ("file", "BlockDevice", "hostPath type check failed: {p} is not a block device, it's a File"),
    ("missing", "Directory", "hostPath {p} doesn't exist"),
    ("file", "DirectoryOrCreate", "hostPath type check failed: {p} is not a directory, it's a File"),
    ("dir", "FileOrCreate", "hostPath type check failed: {p} is not a file, it's a Directory"),
    ("dir", "Weird", "Weird is an invalid volume type"),
    ("dir/../file", "", "invalid HostPath `{p}`: must not contain '..'"),
], ids=["dir", "file", "socket", "unset-missing-ok", "file-not-dir", "dir-not-file", "dir-not-socket",
        "not-chardev", "not-blockdev", "missing", "or-create-wrong-type", "file-or-create-wrong-type",
        "invalid-type", "backsteps"])
def test_host_path_type_checks(host, rel, type_, detail) -> None:
    p = str(host / rel)
    v = {"name": "h", "hostPath": {"path": p, "type": type_}}
    if detail is None:
        assert setup_pod_volumes(pod(v), str(host / "pod"), World().sources(), "n") == {"h": HostVolume(p, False, "hostPath")}
    else:
        assert fail(pod(v), str(host / "pod"), World()).detail == detail.format(p=p)


def test_host_path_or_create(tmp_path) -> None:
    d, f = str(tmp_path / "a/b"), str(tmp_path / "f")
    old = os.umask(0)
    try:
        setup_pod_volumes(pod({"name": "d", "hostPath": {"path": d, "type": "DirectoryOrCreate"}},
                              {"name": "f", "hostPath": {"path": f, "type": "FileOrCreate"}}), str(tmp_path / "pod"), World().sources(), "n")
    finally:
        os.umask(old)
    assert os.path.isdir(d) and mode(d) == 0o755
    assert os.path.isfile(f) and mode(f) == 0o644 and read(f) == ""


# ---- persistentVolumeClaim -----------------------------------------------------------------------

def bound(w: World, tmp_path, claim: str = "data", pv: str = "pv-1", **pv_spec: Any) -> str:
    path = tmp_path / "pvs" / pv
    path.mkdir(parents=True)
    w.pvcs[claim] = {"metadata": {"name": claim, "uid": "pvc-uid"}, "spec": {"volumeName": pv}, "status": {"phase": "Bound"}}
    w.pvs[pv] = {"metadata": {"name": pv}, "spec": {"claimRef": {"name": claim, "uid": "pvc-uid"}, "local": {"path": str(path)}, **pv_spec}}
    w.paths[pv] = str(path)
    return str(path)


def test_pvc_is_the_bound_pv_directory(tmp_path) -> None:
    w = World()
    path = bound(w, tmp_path)
    v = {"name": "d", "persistentVolumeClaim": {"claimName": "data", "readOnly": True}}
    assert setup_pod_volumes(pod(v), str(tmp_path / "pod"), w.sources(), "n") == {
        "d": HostVolume(path, True, "persistentVolumeClaim")}


def test_ephemeral_volume_uses_the_pods_claim(tmp_path) -> None:
    w = World()
    path = bound(w, tmp_path, claim="p-scratch")
    w.pvcs["p-scratch"]["metadata"]["ownerReferences"] = [{"uid": "uid-1", "controller": True, "kind": "Pod", "name": "p"}]
    v = {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}}
    assert setup_pod_volumes(pod(v), str(tmp_path / "pod"), w.sources(), "n")["scratch"] == HostVolume(path, False, "persistentVolumeClaim")
    w.pvcs["p-scratch"]["metadata"]["ownerReferences"] = []
    assert fail(pod(v), str(tmp_path / "pod"), w).detail == "PVC default/p-scratch was not created for pod default/p (pod is not owner)"


def _unbound(w):
    w.pvcs["data"]["status"]["phase"] = "Pending"
    w.pvcs["data"]["spec"]["volumeName"] = ""


@pytest.mark.parametrize("mutate,detail", [
    (lambda w: w.pvcs.pop("data"), 'error processing PVC default/data: failed to fetch PVC from API server: '
                                   'persistentvolumeclaims "data" not found'),
    (_unbound, 'error processing PVC default/data: PVC default/data has non-bound phase ("Pending") or empty '
               'pvc.Spec.VolumeName ("")'),
    (lambda w: w.pvs.pop("pv-1"), 'error processing PVC default/data: failed to fetch PV "pv-1" from API server: '
                                  'persistentvolumes "pv-1" not found'),
    (lambda w: w.pvs["pv-1"]["spec"]["claimRef"].update(uid="other"),
     'error processing PVC default/data: found PV object "pv-1" but its pv.Spec.ClaimRef.UID ("other") does not '
     'point to claim.UID ("pvc-uid")'),
    (lambda w: w.pvcs["data"]["metadata"].update(deletionTimestamp="2024-01-01T00:00:00Z"),
     "can't start pod because PVC default/data is being deleted"),
    (lambda w: w.paths.clear(), "no volume plugin matched"),
    (lambda w: w.pvs["pv-1"]["spec"].update(nodeAffinity={"required": {"nodeSelectorTerms": [{"matchExpressions": [
        {"key": "kubernetes.io/hostname", "operator": "In", "values": ["elsewhere"]}]}]}}),
     "no matching NodeSelectorTerms"),
], ids=["pvc-missing", "pvc-unbound", "pv-missing", "claimref-uid-mismatch", "pvc-deleting", "no-path", "node-affinity"])
def test_pvc_errors(tmp_path, mutate, detail) -> None:
    w = World()
    bound(w, tmp_path)
    mutate(w)
    err = fail(pod({"name": "d", "persistentVolumeClaim": {"claimName": "data"}}), str(tmp_path / "pod"), w)
    assert (err.reason, err.detail) == ("FailedMount", detail)


def test_unknown_volume_type(tmp_path) -> None:
    err = fail(pod({"name": "n", "nfs": {"server": "x", "path": "/"}}), str(tmp_path), World())
    assert err.message == 'MountVolume.SetUp failed for volume "n" : no volume plugin matched'


# ---- refresh / teardown --------------------------------------------------------------------------

def test_refresh_updates_changed_content_only(tmp_path) -> None:
    w = World()
    w.cms["cfg"] = {"data": {"a": "1", "b": "x"}}
    p = pod({"name": "v", "configMap": {"name": "cfg"}}, {"name": "e", "emptyDir": {}})
    path = setup_pod_volumes(p, str(tmp_path), w.sources(), "n")["v"].path
    assert refresh_pod_volumes(p, str(tmp_path), w.sources(), "n") is False
    w.cms["cfg"] = {"data": {"a": "2"}}
    assert refresh_pod_volumes(p, str(tmp_path), w.sources(), "n") is True
    assert read(path + "/a") == "2" and not os.path.lexists(path + "/b")


def test_refresh_keeps_content_when_the_source_disappears(tmp_path) -> None:
    w = World()
    w.cms["cfg"] = {"data": {"a": "1"}}
    p = pod({"name": "v", "configMap": {"name": "cfg"}})
    path = setup_pod_volumes(p, str(tmp_path), w.sources(), "n")["v"].path
    del w.cms["cfg"]
    errors: list[VolumeError] = []
    assert refresh_pod_volumes(p, str(tmp_path), w.sources(), "n", errors) is False
    assert [e.message for e in errors] == ['MountVolume.SetUp failed for volume "v" : configmap "cfg" not found']
    assert read(path + "/a") == "1"


def test_teardown_removes_the_volumes(tmp_path) -> None:
    w = World()
    w.cms["cfg"] = {"data": {"a": "1"}}
    setup_pod_volumes(pod({"name": "v", "configMap": {"name": "cfg"}}, {"name": "e", "emptyDir": {}}),
                      str(tmp_path), w.sources(), "n")
    (tmp_path / "hosts").write_text("sandbox file, not ours")
    teardown_pod_volumes(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["hosts"]
    teardown_pod_volumes(str(tmp_path))  # idempotent


def test_os_errors_become_failed_mount(tmp_path) -> None:
    (tmp_path / "file").write_text("")
    bad = str(tmp_path / "file/sub")  # DirectoryOrCreate under a regular file: mkdir fails
    err = fail(pod({"name": "h", "hostPath": {"path": bad, "type": "DirectoryOrCreate"}}), str(tmp_path / "pod"), World())
    assert err.reason == "FailedMount" and err.detail == f"[Errno 20] Not a directory: '{bad}'"
