// The page: keeps one list+watch per resource for the chosen namespace (five streams in all,
// under the browser's six connections per host), renders the view model, and sends actions.

import * as model from './model.js';
import { listWatch, call, HttpError } from './watch.js';

const state = model.createState();
let namespace = decodeURIComponent(location.hash.slice(1)) || 'default';
let scoped = null; // AbortController of the namespace's watches
const streams = {};

// resource -> path (namespaced ones get the namespace inserted)
const RESOURCES = {
  deployments: (ns) => `/apis/apps/v1/namespaces/${encodeURIComponent(ns)}/deployments`,
  statefulsets: (ns) => `/apis/apps/v1/namespaces/${encodeURIComponent(ns)}/statefulsets`,
  pods: (ns) => `/api/v1/namespaces/${encodeURIComponent(ns)}/pods`,
  events: (ns) => `/api/v1/namespaces/${encodeURIComponent(ns)}/events`,
};

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c))); // text, never HTML
  }
  return el;
}

let scheduled = false;
function render() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => { scheduled = false; draw(); });
}

function watch(resource, path, signal) {
  listWatch(path, {
    signal,
    onList: (items) => { model.applyList(state, resource, items); render(); },
    onEvent: (type, obj) => { if (model.applyEvent(state, resource, type, obj)) render(); },
    onState: (s, detail) => {
      streams[resource] = s;
      if (s === 'unauthorized') document.body.classList.add('logged-out');
      if (detail) console.info(resource, s, detail);
      render();
    },
  });
}

function switchNamespace(ns) {
  namespace = ns;
  location.hash = encodeURIComponent(ns);
  if (scoped) scoped.abort();
  scoped = new AbortController();
  state.timeline = [];
  for (const r of Object.keys(RESOURCES)) {
    state[r].clear();
    state.listed.delete(r);
    streams[r] = 'connecting';
    watch(r, RESOURCES[r](ns), scoped.signal);
  }
  render();
}

function notify(text, bad = false) {
  const el = document.getElementById('notice');
  el.textContent = text;
  el.className = bad ? 'bad' : '';
}

// Sends an action; a 409 (the object changed under a patch) is tried again, at most 3 times.
async function act(req, what) {
  for (let attempt = 1; ; attempt++) {
    try {
      await call(req);
      notify(`${what}: done`);
      return;
    } catch (err) {
      if (err instanceof HttpError && err.status === 409 && attempt < 3) continue;
      notify(`${what}: ${err.message}`, true);
      return;
    }
  }
}

const fmtTime = (t) => (t ? new Date(t).toLocaleTimeString([], { hour12: false }) + '.' + String(t % 1000).padStart(3, '0') : '');
const fmtGap = (g) => (g === null ? '' : g < 1000 ? `+${g} ms` : `+${(g / 1000).toFixed(1)} s`);

function podCardEl(c, kind) {
  return h('div', { class: `pod ${c.tone}` },
    h('div', { class: 'pod-head' },
      c.ordinal !== null ? h('span', { class: 'ordinal', title: 'StatefulSet ordinal' }, `#${c.ordinal}`) : null,
      h('span', { class: 'pod-name' }, c.name),
      h('button', { class: 'del', title: `delete pod ${c.name}`,
        onclick: () => act(model.deletePodRequest(c.namespace, c.name), `delete ${c.name}`) }, '✕')),
    h('dl', {},
      h('dt', {}, 'status'), h('dd', {}, `${c.status} (${c.phase})`),
      h('dt', {}, 'ready'), h('dd', {}, c.ready),
      h('dt', {}, 'restarts'), h('dd', {}, String(c.restarts)),
      h('dt', {}, 'IP'), h('dd', {}, c.ip || '—'),
      h('dt', {}, 'DNS'), h('dd', { class: 'mono' }, c.dns || (kind === 'Deployment' ? 'no stable name' : '—')),
      h('dt', {}, 'PVC'), h('dd', { class: 'mono' }, c.pvcs.length ? c.pvcs.join(', ') : '—')));
}

function workloadEl(w) {
  const actions = w.desired === null ? [] : [
    h('button', { title: 'scale down', disabled: w.desired === 0 ? '' : null,
      onclick: () => act(model.scaleRequest(w.kind, w.namespace, w.name, Math.max(0, w.desired - 1)), `scale ${w.name}`) }, '−'),
    h('span', { class: 'replicas' }, `${w.ready}/${w.desired} ready`),
    h('button', { title: 'scale up',
      onclick: () => act(model.scaleRequest(w.kind, w.namespace, w.name, w.desired + 1), `scale ${w.name}`) }, '+'),
    h('button', { onclick: () => act(model.restartRequest(w.kind, w.namespace, w.name), `restart ${w.name}`) }, 'rollout restart'),
  ];
  const note = w.kind === 'StatefulSet' ? `${w.policy}, stable names via Service ${w.serviceName || '(none)'}`
    : w.kind === 'Deployment' ? 'interchangeable pods with random names' : '';
  return h('section', { class: `workload ${w.kind.toLowerCase()}` },
    h('header', {}, h('span', { class: 'kind' }, w.kind), h('h2', {}, w.name), h('span', { class: 'note' }, note),
      h('span', { class: 'actions' }, actions)),
    w.groups.map((g) => h('div', { class: 'group' }, h('div', { class: 'group-label' }, g.label),
      h('div', { class: 'pods' }, g.pods.length ? g.pods.map((c) => podCardEl(c, w.kind)) : h('em', {}, 'no pods')))));
}

const MARK = { created: '＋', ready: '✓', unready: '✗', terminating: '⌛', deleted: '✕', phase: '→' };

function draw() {
  const sel = document.getElementById('namespace');
  const names = [...state.namespaces.values()].map((n) => n.metadata.name).sort();
  if (!names.includes(namespace)) names.unshift(namespace);
  sel.replaceChildren(...names.map((n) => h('option', { value: n, selected: n === namespace ? '' : null }, n)));
  document.getElementById('streams').replaceChildren(
    ...Object.entries(streams).map(([r, s]) => h('span', { class: `stream ${s}`, title: s }, r)));
  const views = model.workloadViews(state, namespace);
  document.getElementById('workloads').replaceChildren(...(views.length ? views.map(workloadEl)
    : [h('p', { class: 'empty' }, `No Deployments, StatefulSets or pods in ${namespace}.`)]));
  document.getElementById('timeline').replaceChildren(...model.timelineView(state, namespace).map((e) =>
    h('li', { class: e.what },
      h('span', { class: 'time' }, fmtTime(e.at)), h('span', { class: 'gap' }, fmtGap(e.gapMs)),
      h('span', { class: 'mark' }, MARK[e.what] || '•'),
      h('span', { class: 'what' }, e.what === 'phase' ? e.detail : e.what),
      h('span', { class: 'who' }, e.pod), h('span', { class: 'owner' }, e.owner))));
  document.getElementById('events').replaceChildren(...model.eventRows(state, namespace).map((e) =>
    h('li', { class: e.type.toLowerCase() },
      h('span', { class: 'time' }, fmtTime(e.at)), h('span', { class: 'reason' }, e.reason),
      h('span', { class: 'object' }, e.object), h('span', { class: 'message' }, e.message),
      e.count > 1 ? h('span', { class: 'count' }, `×${e.count}`) : null)));
}

document.getElementById('namespace').addEventListener('change', (ev) => switchNamespace(ev.target.value));
window.addEventListener('hashchange', () => {
  const ns = decodeURIComponent(location.hash.slice(1));
  if (ns && ns !== namespace) switchNamespace(ns);
});
streams.namespaces = 'connecting';
watch('namespaces', '/api/v1/namespaces', new AbortController().signal);
switchNamespace(namespace);
