"""The closing table: the eight aspects of the two kinds of service, filled from measurements."""

from __future__ import annotations

from typing import Any

from kubeproc.demo.ui import ms, table


def rows(m: dict[str, Any]) -> list[list[str]]:
    back = m.get("redis_back") or {}
    lost = m.get("kv_lost") or {}
    victim, replacement = m.get("web_replacement") or ("?", "?")
    return [
        ["data", f"shared: all web pods mount {', '.join(m.get('web_claims') or ['?'])}",
         f"own: {', '.join(m.get('redis_claims') or ['?'])}; kept across a restart: "
         f"{'yes' if back.get('data_kept') else 'no'}"],
        ["results", f"{m.get('web_answering', '?')} pods answered 12 requests the same way",
         "roles: " + ", ".join(f"{p.rsplit('-', 1)[-1]}={r}" for p, r in (m.get("roles") or {}).items())],
        ["relationships", "none: no pod knows another",
         f"replicas follow {m.get('dns_name', '?')} ({m.get('replicas_connected', '?')} connected)"],
        ["impact of a loss", f"{victim} → {replacement}: a stranger, nothing else moved",
         f"same name{' and claim' if back.get('claim') else ''}, IP {back.get('old_ip', '?')} → "
         f"{back.get('new_ip', '?')}, replicas reconnected"],
        ["examples", "web servers (here: a Python HTTP server)",
         "databases, queues, coordination (here: Redis, a replicated KV store; ZooKeeper in examples/)"],
        ["resources", "Deployment → ReplicaSet → Pods, a ClusterIP Service",
         "StatefulSet → Pods, a headless Service, a PVC per pod"],
        ["creation", f"3 random names within {ms(m.get('web_spread', 0.0))}",
         "ordinals, each after the previous was Ready" if m.get("redis_in_order") else "not in order (unexpected)"],
        ["scale-down", f"2 pods stopped within {ms(m.get('web_scale_spread', 0.0))}; a store loses "
                       f"{lost.get('kvp', '?')} keys",
         ("-2 gone before -1 was touched" if m.get("redis_scale_ordered") else "order not kept (unexpected)")
         + f"; a store loses {lost.get('kv', '?')} keys"],
    ]


def render(m: dict[str, Any]) -> str:
    return table(rows(m), ["aspect", "stateless (Deployment web)", "stateful (StatefulSet test-redis-pod)"])
