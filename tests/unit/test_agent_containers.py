"""securityContext → process identity, resources → cgroup limits, QoS → OOM score (pure)."""

from __future__ import annotations

import pytest

from kubeproc.agent import containers as c

MEM = 8 * 1024 ** 3


def _pod(*containers, **psc):
    return {"metadata": {"name": "p", "namespace": "d", "uid": "u"},
            "spec": {"securityContext": psc, "containers": list(containers)}}


def _c(res=None, **sc):
    return {"name": "a", "securityContext": sc, "resources": res or {}}


@pytest.mark.parametrize("pod_sc,sc,want", [
    ({}, {}, (0, 0, ())),
    ({"runAsUser": 1000}, {}, (1000, 1000, ())),  # primary gid from the passwd lookup
    ({"runAsUser": 1000}, {"runAsUser": 2000, "runAsGroup": 7}, (2000, 7, ())),
    ({"fsGroup": 9, "supplementalGroups": [9, 10]}, {}, (0, 0, (9, 10))),
], ids=["root-default", "pod-user", "container-wins", "fsgroup-joins-supplemental"])
def test_identity_user_and_groups(pod_sc, sc, want):
    who = c.identity(_pod(_c(**sc), **pod_sc), _c(**sc), primary_gid=lambda uid: uid or None)
    assert (who.uid, who.gid, who.groups) == want


@pytest.mark.parametrize("sc,msg", [
    ({"runAsNonRoot": True}, "image will run as root"),
    ({"runAsNonRoot": True, "runAsUser": 0}, "runAsUser breaks non-root policy"),
], ids=["no-user", "explicit-root"])
def test_run_as_non_root_refuses_root(sc, msg):
    with pytest.raises(c.ConfigError, match=msg):
        c.identity(_pod(_c(**sc)), _c(**sc))


@pytest.mark.parametrize("sc,want", [
    ({}, ((), (), False, False)),
    ({"capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}}, (("NET_ADMIN",), ("ALL",), False, False)),
    ({"allowPrivilegeEscalation": False}, ((), (), True, False)),
    ({"allowPrivilegeEscalation": True}, ((), (), False, False)),
    ({"privileged": True, "capabilities": {"drop": ["ALL"]}}, (("ALL",), (), False, True)),
], ids=["defaults", "caps", "no-escalation", "escalation-allowed", "privileged-has-all"])
def test_identity_capabilities(sc, want):
    who = c.identity(_pod(_c(**sc)), _c(**sc))
    assert (who.cap_add, who.cap_drop, who.no_new_privileges, who.privileged) == want


@pytest.mark.parametrize("res,want", [
    ({}, (None, None, 2)),
    ({"limits": {"memory": "64Mi", "cpu": "500m"}, "requests": {"cpu": "250m"}}, (64 << 20, 50_000, 256)),
    ({"limits": {"cpu": "1m"}}, (None, 1_000, 2)),  # quota floor 1 ms, shares floor 2
    ({"requests": {"cpu": "2"}}, (None, None, 2048)),
], ids=["none", "limits", "floors", "request-only"])
def test_resources(res, want):
    r = c.resources(_c(res))
    assert (r.memory_limit, r.cpu_quota, r.cpu_shares) == want


@pytest.mark.parametrize("res,qos,adj", [
    ({}, "BestEffort", 1000),
    ({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}, "Guaranteed", -997),
    ({"requests": {"memory": "4Gi"}}, "Burstable", 500),
    ({"requests": {"cpu": "1"}}, "Burstable", 999),
], ids=["best-effort", "guaranteed", "burstable-half-memory", "burstable-no-memory"])
def test_qos_and_oom_score(res, qos, adj):
    p = _pod(_c(res))
    assert c.qos_class(p) == qos
    assert c.oom_score_adj(p, _c(res), MEM) == adj
