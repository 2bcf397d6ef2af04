// The dashboard's view model: pure functions from API objects (as the watch delivers them) to
// what the page shows: pod cards grouped by owner, a timeline of pod transitions, recent events,
// and the request an action sends. No DOM, no network: tested with `node --test`.

export const TIMELINE_MAX = 400;
export const EVENTS_MAX = 60;

export function createState() {
  return {
    namespaces: new Map(), deployments: new Map(), statefulsets: new Map(),
    pods: new Map(), events: new Map(), timeline: [], seq: 0, listed: new Set(),
  };
}

export function keyOf(obj) {
  const m = obj.metadata || {};
  return m.namespace ? `${m.namespace}/${m.name}` : m.name;
}

function ms(timestamp) {
  const t = Date.parse(timestamp || '');
  return Number.isNaN(t) ? 0 : t;
}

// --- pods -----------------------------------------------------------------------------------

// kubectl's READY column: ready containers / containers (printers.go printPod)
export function readyCount(pod) {
  const statuses = (pod.status && pod.status.containerStatuses) || [];
  const total = ((pod.spec && pod.spec.containers) || []).length;
  return [statuses.filter((c) => c.ready).length, total];
}

export function isReady(pod) {
  const conds = (pod.status && pod.status.conditions) || [];
  return conds.some((c) => c.type === 'Ready' && c.status === 'True');
}

export function restarts(pod) {
  const st = pod.status || {};
  return [...(st.initContainerStatuses || []), ...(st.containerStatuses || [])]
    .reduce((n, c) => n + (c.restartCount || 0), 0);
}

function terminatedText(t, prefix) {
  if (t.reason) return prefix + t.reason;
  return t.signal ? `${prefix}Signal:${t.signal}` : `${prefix}ExitCode:${t.exitCode}`;
}

// kubectl's STATUS column (pkg/printers/internalversion/printers.go printPod), without sidecars
export function podStatusText(pod) {
  const st = pod.status || {};
  let reason = st.reason || st.phase || 'Pending';
  let initializing = false;
  const inits = st.initContainerStatuses || [];
  const initSpecs = (pod.spec && pod.spec.initContainers) || [];
  for (let i = 0; i < inits.length; i++) {
    const s = inits[i].state || {};
    if (s.terminated && s.terminated.exitCode === 0) continue;
    initializing = true;
    if (s.terminated) reason = terminatedText(s.terminated, 'Init:');
    else if (s.waiting && s.waiting.reason && s.waiting.reason !== 'PodInitializing') reason = `Init:${s.waiting.reason}`;
    else reason = `Init:${i}/${initSpecs.length}`;
    break;
  }
  if (!initializing) {
    let hasRunning = false;
    const cs = st.containerStatuses || [];
    for (let i = cs.length - 1; i >= 0; i--) {
      const s = cs[i].state || {};
      if (s.waiting && s.waiting.reason) reason = s.waiting.reason;
      else if (s.terminated) reason = terminatedText(s.terminated, '');
      else if (s.running && cs[i].ready) hasRunning = true;
    }
    if (reason === 'Completed' && hasRunning) reason = isReady(pod) ? 'Running' : 'NotReady';
  }
  const meta = pod.metadata || {};
  if (meta.deletionTimestamp && st.reason === 'NodeLost') return 'Unknown';
  if (meta.deletionTimestamp) return 'Terminating';
  return reason;
}

// a StatefulSet pod is `<set>-<ordinal>` (statefulset/stateful_set_utils.go getOrdinal)
export function ordinalOf(podName, setName) {
  if (!setName || !podName.startsWith(setName + '-')) return null;
  const rest = podName.slice(setName.length + 1);
  return /^(0|[1-9][0-9]*)$/.test(rest) ? Number(rest) : null;
}

export function controllerOf(obj) {
  const refs = (obj.metadata && obj.metadata.ownerReferences) || [];
  return refs.find((r) => r.controller) || null;
}

// Deployment pods belong to a ReplicaSet named `<deployment>-<pod-template-hash>`
// (deployment/sync.go getNewReplicaSet), so the Deployment follows from the pod alone.
export function podOwner(pod) {
  const ref = controllerOf(pod);
  if (!ref) return { kind: 'Pod', name: '' };
  if (ref.kind === 'ReplicaSet') {
    const hash = (pod.metadata.labels || {})['pod-template-hash'];
    if (hash && ref.name.endsWith('-' + hash)) {
      return { kind: 'Deployment', name: ref.name.slice(0, -hash.length - 1), replicaSet: ref.name, hash };
    }
  }
  return { kind: ref.kind, name: ref.name };
}

export function claimNames(pod) {
  return ((pod.spec && pod.spec.volumes) || [])
    .filter((v) => v.persistentVolumeClaim).map((v) => v.persistentVolumeClaim.claimName);
}

// the stable name a pod gets from a headless Service (dns/specification.md: hostname.subdomain)
export function dnsName(pod, set) {
  const spec = pod.spec || {};
  const ns = pod.metadata.namespace;
  if (spec.hostname && spec.subdomain) return `${spec.hostname}.${spec.subdomain}.${ns}.svc.cluster.local`;
  if (set && set.spec && set.spec.serviceName) return `${pod.metadata.name}.${set.spec.serviceName}.${ns}.svc.cluster.local`;
  return null;
}

export function podCard(pod, set = null) {
  const [ready, total] = readyCount(pod);
  const status = podStatusText(pod);
  let tone = 'pending';
  if (status === 'Terminating') tone = 'terminating';
  else if (status === 'Running' && isReady(pod)) tone = 'ready';
  else if (status === 'Running') tone = 'running';
  else if (status === 'Completed' || status === 'Succeeded') tone = 'done';
  else if (/Error|BackOff|Failed|ExitCode|Signal|Unknown|Err/.test(status)) tone = 'failed';
  return {
    key: keyOf(pod), name: pod.metadata.name, namespace: pod.metadata.namespace,
    ordinal: set ? ordinalOf(pod.metadata.name, set.metadata.name) : null,
    ip: (pod.status && pod.status.podIP) || '', dns: dnsName(pod, set), pvcs: claimNames(pod),
    phase: (pod.status && pod.status.phase) || 'Pending', status, tone,
    ready: `${ready}/${total}`, isReady: isReady(pod), restarts: restarts(pod),
    created: pod.metadata.creationTimestamp || '',
  };
}

function inNamespace(map, ns) {
  return [...map.values()].filter((o) => !ns || o.metadata.namespace === ns);
}

const byName = (a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0);

// Workloads of a namespace with their pods: Deployments (pods per ReplicaSet, newest set
// first, pods by creation) and StatefulSets (pods by ordinal), then pods nobody owns.
export function workloadViews(state, ns) {
  const pods = inNamespace(state.pods, ns);
  const views = [];
  const claimed = new Set();
  for (const d of inNamespace(state.deployments, ns).sort(byName)) {
    const mine = pods.filter((p) => {
      const o = podOwner(p);
      return o.kind === 'Deployment' && o.name === d.metadata.name;
    });
    const sets = new Map();
    for (const p of mine) {
      claimed.add(keyOf(p));
      const o = podOwner(p);
      if (!sets.has(o.replicaSet)) sets.set(o.replicaSet, []);
      sets.get(o.replicaSet).push(p);
    }
    const newest = (list) => Math.max(...list.map((p) => ms(p.metadata.creationTimestamp)));
    const groups = [...sets.entries()]
      .sort((a, b) => newest(b[1]) - newest(a[1]) || (a[0] < b[0] ? -1 : 1))
      .map(([rs, list]) => ({
        label: `ReplicaSet ${rs}`,
        pods: list.sort((a, b) => ms(a.metadata.creationTimestamp) - ms(b.metadata.creationTimestamp)
          || byName(a, b)).map((p) => podCard(p)),
      }));
    views.push(workloadHeader('Deployment', d, groups));
  }
  for (const s of inNamespace(state.statefulsets, ns).sort(byName)) {
    const mine = pods.filter((p) => {
      const ref = controllerOf(p);
      return ref && ref.kind === 'StatefulSet' && ref.name === s.metadata.name;
    });
    mine.forEach((p) => claimed.add(keyOf(p)));
    const cards = mine.map((p) => podCard(p, s))
      .sort((a, b) => (a.ordinal ?? Infinity) - (b.ordinal ?? Infinity) || (a.name < b.name ? -1 : 1));
    const view = workloadHeader('StatefulSet', s, [{ label: `Service ${s.spec.serviceName || '(none)'}`, pods: cards }]);
    view.serviceName = s.spec.serviceName || '';
    view.policy = s.spec.podManagementPolicy || 'OrderedReady';
    views.push(view);
  }
  const rest = pods.filter((p) => !claimed.has(keyOf(p))).sort(byName);
  if (rest.length) {
    views.push({ kind: 'Pods', name: 'other pods', namespace: ns, desired: null, ready: null,
      groups: [{ label: 'not owned by a Deployment or StatefulSet', pods: rest.map((p) => podCard(p)) }] });
  }
  return views;
}

function workloadHeader(kind, obj, groups) {
  const spec = obj.spec || {};
  const st = obj.status || {};
  return {
    kind, name: obj.metadata.name, namespace: obj.metadata.namespace,
    desired: spec.replicas ?? 1, ready: st.readyReplicas || 0, current: st.replicas || 0,
    updated: st.updatedReplicas || 0, groups,
  };
}

// --- timeline -------------------------------------------------------------------------------

// What changed for a pod between two observations (null: absent), oldest change first.
export function podTransitions(before, after) {
  if (!before && !after) return [];
  if (!after) return [{ what: 'deleted' }];
  const out = [];
  if (!before) out.push({ what: 'created' });
  const oldPhase = before ? (before.status || {}).phase : undefined;
  const phase = (after.status || {}).phase;
  if (phase && phase !== 'Pending' && phase !== oldPhase) out.push({ what: 'phase', detail: phase });
  const wasReady = before ? isReady(before) : false;
  if (isReady(after) !== wasReady) out.push({ what: isReady(after) ? 'ready' : 'unready' });
  if (after.metadata.deletionTimestamp && !(before && before.metadata.deletionTimestamp)) out.push({ what: 'terminating' });
  return out;
}

function timelineEntry(state, pod, change, at) {
  const owner = podOwner(pod);
  const ordinal = owner.kind === 'StatefulSet' ? ordinalOf(pod.metadata.name, owner.name) : null;
  return { seq: ++state.seq, at, what: change.what, detail: change.detail || '',
    namespace: pod.metadata.namespace, pod: pod.metadata.name, owner: owner.kind === 'Pod' ? '' : `${owner.kind}/${owner.name}`, ordinal };
}

function record(state, pod, changes, at) {
  for (const c of changes) state.timeline.push(timelineEntry(state, pod, c, at));
  if (state.timeline.length > TIMELINE_MAX) state.timeline.splice(0, state.timeline.length - TIMELINE_MAX);
}

// --- applying the list and the watch --------------------------------------------------------

// A (re)list replaces a collection. For pods, the first list seeds the timeline with creation
// times (history the page did not see); a re-list (after 410 Gone) records what changed meanwhile.
export function applyList(state, resource, items, now = Date.now()) {
  const map = state[resource];
  const first = !state.listed.has(resource);
  const fresh = new Map(items.map((o) => [keyOf(o), o]));
  if (resource === 'pods') {
    if (first) {
      const seeded = [...fresh.values()].sort((a, b) => ms(a.metadata.creationTimestamp) - ms(b.metadata.creationTimestamp));
      for (const p of seeded) record(state, p, [{ what: 'created', detail: 'before this page' }], ms(p.metadata.creationTimestamp));
    } else {
      for (const [k, old] of map) if (!fresh.has(k)) record(state, old, podTransitions(old, null), now);
      for (const [k, p] of fresh) record(state, p, podTransitions(map.get(k) || null, p), now);
    }
  }
  map.clear();
  for (const [k, o] of fresh) map.set(k, o);
  state.listed.add(resource);
}

// One watch event (ADDED, MODIFIED, DELETED); returns whether anything changed.
export function applyEvent(state, resource, type, obj, now = Date.now()) {
  const map = state[resource];
  if (!map || !obj || !obj.metadata) return false;
  const k = keyOf(obj);
  const before = map.get(k) || null;
  if (type === 'DELETED') map.delete(k);
  else if (type === 'ADDED' || type === 'MODIFIED') map.set(k, obj);
  else return false;
  if (resource === 'pods') record(state, obj, podTransitions(before, type === 'DELETED' ? null : obj), now);
  if (resource === 'events' && map.size > EVENTS_MAX * 4) {
    const oldest = [...map.values()].sort((a, b) => eventTime(a) - eventTime(b)).slice(0, map.size - EVENTS_MAX * 2);
    for (const e of oldest) map.delete(keyOf(e));
  }
  return true;
}

// Newest first, each with the gap to the entry before it: ordered starts are visible as steps.
export function timelineView(state, ns, limit = 80) {
  const mine = state.timeline.filter((e) => !ns || e.namespace === ns)
    .sort((a, b) => a.at - b.at || a.seq - b.seq);
  const out = mine.map((e, i) => ({ ...e, gapMs: i ? e.at - mine[i - 1].at : null }));
  return out.reverse().slice(0, limit);
}

// --- events ---------------------------------------------------------------------------------

export function eventTime(e) {
  return ms(e.lastTimestamp) || ms(e.eventTime) || ms(e.firstTimestamp) || ms(e.metadata.creationTimestamp);
}

export function eventRows(state, ns, limit = EVENTS_MAX) {
  return inNamespace(state.events, ns).sort((a, b) => eventTime(b) - eventTime(a)).slice(0, limit)
    .map((e) => ({
      key: keyOf(e), at: eventTime(e), type: e.type || 'Normal', reason: e.reason || '',
      object: e.involvedObject ? `${e.involvedObject.kind}/${e.involvedObject.name}` : '',
      message: e.message || '', count: e.count || 1,
    }));
}

// --- actions --------------------------------------------------------------------------------

const PLURAL = { Deployment: 'deployments', StatefulSet: 'statefulsets' };

function workloadPath(kind, ns, name) {
  const plural = PLURAL[kind];
  if (!plural) throw new Error(`cannot act on ${kind}`);
  return `/apis/apps/v1/namespaces/${encodeURIComponent(ns)}/${plural}/${encodeURIComponent(name)}`;
}

export function scaleRequest(kind, ns, name, replicas) {
  if (!Number.isInteger(replicas) || replicas < 0) throw new Error(`bad replica count ${replicas}`);
  return { method: 'PATCH', path: workloadPath(kind, ns, name) + '/scale',
    headers: { 'Content-Type': 'application/merge-patch+json' },
    body: JSON.stringify({ spec: { replicas } }) };
}

// RFC 3339 with the local offset, as Go's time.Now().Format(time.RFC3339)
export function rfc3339(date) {
  const pad = (n) => String(n).padStart(2, '0');
  const off = -date.getTimezoneOffset();
  const zone = off === 0 ? 'Z' : `${off > 0 ? '+' : '-'}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:` +
    `${pad(date.getMinutes())}:${pad(date.getSeconds())}${zone}`;
}

// `kubectl rollout restart` (polymorphichelpers/objectrestarter.go): a strategic merge patch
// setting the template annotation kubectl.kubernetes.io/restartedAt to now
export function restartRequest(kind, ns, name, date = new Date()) {
  const patch = { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': rfc3339(date) } } } } };
  return { method: 'PATCH', path: workloadPath(kind, ns, name),
    headers: { 'Content-Type': 'application/strategic-merge-patch+json' }, body: JSON.stringify(patch) };
}

export function deletePodRequest(ns, name) {
  return { method: 'DELETE', path: `/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(name)}`,
    headers: {}, body: undefined };
}

// --- the watch stream -----------------------------------------------------------------------

// Split line-delimited JSON arriving in arbitrary chunks: complete lines and the unfinished rest.
export function splitLines(pending, chunk) {
  const parts = (pending + chunk).split('\n');
  const rest = parts.pop();
  return [parts.filter((l) => l.trim() !== ''), rest];
}

export function watchUrl(path, resourceVersion) {
  const sep = path.includes('?') ? '&' : '?';
  return `${path}${sep}watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(resourceVersion)}`;
}
