"""kill -9 during a stream of writes: every acknowledged write survives, the resourceVersion
resumes where it was, and the database passes an integrity check."""

from __future__ import annotations

import os
import sqlite3
import threading

from kubeproc.testing.instance import wait_for


def test_acknowledged_writes_survive_kill9(fresh_instance):
    inst = fresh_instance()
    inst.start()
    acked: dict[str, int] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def writer(worker: int) -> None:
        i = 0
        while not stop.is_set() and i < 2000:
            name = f"w{worker}-{i}"
            try:
                code, body = inst.request("POST", "/api/v1/namespaces/default/configmaps",
                                          {"apiVersion": "v1", "kind": "ConfigMap",
                                           "metadata": {"name": name}, "data": {"i": str(i)}},
                                          timeout=5)
            except OSError:
                return  # the server died mid-request: not acknowledged
            if code == 201:
                with lock:
                    acked[name] = int(body["metadata"]["resourceVersion"])
            i += 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    wait_for(lambda: len(acked) >= 300, timeout=60, what="300 acknowledged writes")
    inst.kill9()
    stop.set()
    for t in threads:
        t.join()
    assert acked

    inst.start()
    code, body = inst.request("GET", "/api/v1/namespaces/default/configmaps")
    assert code == 200
    stored = {i["metadata"]["name"]: int(i["metadata"]["resourceVersion"]) for i in body["items"]}
    missing = sorted(set(acked) - set(stored))
    assert not missing, f"{len(missing)} acknowledged writes lost: {missing[:5]}"
    for name, rv in acked.items():
        assert stored[name] == rv
    listed_rv = int(body["metadata"]["resourceVersion"])
    assert listed_rv >= max(acked.values())
    code, body = inst.request("POST", "/api/v1/namespaces/default/configmaps",
                              {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "after"}})
    assert code == 201 and int(body["metadata"]["resourceVersion"]) > listed_rv
    inst.stop()
    conn = sqlite3.connect(os.path.join(inst.data_dir, "kubeproc.db"))
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def test_restart_resumes_from_the_same_resource_version(fresh_instance):
    a = fresh_instance()
    a.start()
    code, body = a.request("POST", "/api/v1/namespaces/default/configmaps",
                           {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "keep"}})
    assert code == 201
    rv = int(body["metadata"]["resourceVersion"])
    a.stop()
    a.start()
    code, body = a.request("GET", "/api/v1/namespaces/default/configmaps/keep")
    assert code == 200 and int(body["metadata"]["resourceVersion"]) == rv
    # the watch window starts at the restart: older resourceVersions are answered 410 Gone,
    # carried by an ERROR event as upstream does
    code, resp = a.request("GET", f"/api/v1/configmaps?watch=1&resourceVersion={rv - 1}&timeoutSeconds=1")
    assert code == 200 and isinstance(resp, dict) and resp["type"] == "ERROR", resp
    assert resp["object"]["code"] == 410 and resp["object"]["reason"] == "Expired"
    code, body = a.request("GET", "/api/v1/configmaps")
    code, resp = a.request("GET", "/api/v1/configmaps?watch=1&timeoutSeconds=1&resourceVersion="
                           + body["metadata"]["resourceVersion"])
    assert code == 200 and resp == ""  # resumable from the current version: no events, clean end
