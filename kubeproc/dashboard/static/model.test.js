// Tests of the pure view model: `node --test kubeproc/dashboard/static/model.test.js`
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as m from './model.js';

function pod(name, { ns = 'demo', owner = null, hash = null, phase = 'Running', ready = true, created = '2026-01-01T00:00:00Z',
  deleting = false, ip = '10.0.0.5', claims = [], statuses = null, hostname = '', subdomain = '', restarts = 0 } = {}) {
  const labels = hash ? { 'pod-template-hash': hash } : {};
  return {
    metadata: { name, namespace: ns, labels, creationTimestamp: created, resourceVersion: '1',
      ownerReferences: owner ? [{ kind: owner[0], name: owner[1], controller: true, apiVersion: 'apps/v1', uid: 'u' }] : undefined,
      deletionTimestamp: deleting ? '2026-01-01T00:01:00Z' : undefined },
    spec: { containers: [{ name: 'c' }], volumes: claims.map((c) => ({ name: c, persistentVolumeClaim: { claimName: c } })),
      hostname: hostname || undefined, subdomain: subdomain || undefined },
    status: { phase, podIP: ip, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
      containerStatuses: statuses || [{ name: 'c', ready, restartCount: restarts, state: phase === 'Running' ? { running: {} } : { waiting: { reason: 'ContainerCreating' } } }] },
  };
}

const sts = (name, serviceName = 'web-headless', ns = 'demo') => ({ metadata: { name, namespace: ns }, spec: { replicas: 3, serviceName }, status: { readyReplicas: 2, replicas: 3 } });
const deploy = (name, ns = 'demo') => ({ metadata: { name, namespace: ns }, spec: { replicas: 2 }, status: { readyReplicas: 1, replicas: 2 } });

for (const [id, name, set, want] of [
  ['ordinal of a set pod', 'web-2', 'web', 2],
  ['ordinal zero', 'web-0', 'web', 0],
  ['set name with a dash', 'my-db-11', 'my-db', 11],
  ['leading zero is no ordinal', 'web-01', 'web', null],
  ['other set prefix', 'webapp-1', 'web', null],
  ['not a number', 'web-abc', 'web', null],
]) test(`ordinalOf: ${id}`, () => assert.equal(m.ordinalOf(name, set), want));

for (const [id, p, want] of [
  ['running and ready', pod('a'), 'Running'],
  ['waiting reason wins', pod('a', { phase: 'Pending', ready: false }), 'ContainerCreating'],
  ['terminating', pod('a', { deleting: true }), 'Terminating'],
  ['crash loop', pod('a', { ready: false, statuses: [{ name: 'c', ready: false, restartCount: 3, state: { waiting: { reason: 'CrashLoopBackOff' } } }] }), 'CrashLoopBackOff'],
  ['exit code without reason', pod('a', { phase: 'Failed', ready: false, statuses: [{ name: 'c', ready: false, state: { terminated: { exitCode: 2 } } }] }), 'ExitCode:2'],
  ['completed', pod('a', { phase: 'Succeeded', ready: false, statuses: [{ name: 'c', ready: false, state: { terminated: { exitCode: 0, reason: 'Completed' } } }] }), 'Completed'],
  ['init container waiting', { ...pod('a', { phase: 'Pending', ready: false, statuses: [] }), spec: { containers: [{}], initContainers: [{}, {}] },
    status: { phase: 'Pending', initContainerStatuses: [{ state: { terminated: { exitCode: 0 } } }, { state: { running: {} } }] } }, 'Init:1/2'],
]) test(`podStatusText: ${id}`, () => assert.equal(m.podStatusText(p), want));

test('podOwner: a Deployment pod names its Deployment through the ReplicaSet and hash', () => {
  assert.deepEqual(m.podOwner(pod('api-7d9f-abcde', { owner: ['ReplicaSet', 'api-7d9f'], hash: '7d9f' })),
    { kind: 'Deployment', name: 'api', replicaSet: 'api-7d9f', hash: '7d9f' });
  assert.deepEqual(m.podOwner(pod('web-0', { owner: ['StatefulSet', 'web'] })), { kind: 'StatefulSet', name: 'web' });
  assert.deepEqual(m.podOwner(pod('lonely')), { kind: 'Pod', name: '' });
});

for (const [id, p, set, want] of [
  ['set pod via hostname and subdomain', pod('web-1', { hostname: 'web-1', subdomain: 'web-headless' }), null, 'web-1.web-headless.demo.svc.cluster.local'],
  ['set pod via serviceName', pod('web-1'), sts('web'), 'web-1.web-headless.demo.svc.cluster.local'],
  ['deployment pod has none', pod('api-x'), null, null],
]) test(`dnsName: ${id}`, () => assert.equal(m.dnsName(p, set), want));

test('podCard: name, ordinal, IP, DNS, PVC, phase, readiness, restarts', () => {
  const card = m.podCard(pod('web-1', { claims: ['data-web-1'], restarts: 2 }), sts('web'));
  assert.deepEqual([card.name, card.ordinal, card.ip, card.dns, card.pvcs, card.phase, card.ready, card.restarts, card.tone],
    ['web-1', 1, '10.0.0.5', 'web-1.web-headless.demo.svc.cluster.local', ['data-web-1'], 'Running', '1/1', 2, 'ready']);
});

test('workloadViews: StatefulSet pods by ordinal, Deployment pods per ReplicaSet (newest set first), other pods last', () => {
  const s = m.createState();
  m.applyList(s, 'statefulsets', [sts('web')]);
  m.applyList(s, 'deployments', [deploy('api')]);
  m.applyList(s, 'pods', [
    pod('web-10', { owner: ['StatefulSet', 'web'] }), pod('web-2', { owner: ['StatefulSet', 'web'] }), pod('web-0', { owner: ['StatefulSet', 'web'] }),
    pod('api-old-aaaaa', { owner: ['ReplicaSet', 'api-old'], hash: 'old', created: '2026-01-01T00:00:00Z' }),
    pod('api-new-bbbbb', { owner: ['ReplicaSet', 'api-new'], hash: 'new', created: '2026-01-01T00:05:00Z' }),
    pod('lonely'), pod('elsewhere', { ns: 'other' }),
  ]);
  const views = m.workloadViews(s, 'demo');
  assert.deepEqual(views.map((v) => `${v.kind}/${v.name}`), ['Deployment/api', 'StatefulSet/web', 'Pods/other pods']);
  assert.deepEqual(views[0].groups.map((g) => g.label), ['ReplicaSet api-new', 'ReplicaSet api-old']);
  assert.deepEqual(views[1].groups[0].pods.map((c) => c.ordinal), [0, 2, 10]);
  assert.deepEqual([views[1].desired, views[1].ready, views[1].policy], [3, 2, 'OrderedReady']);
  assert.deepEqual(views[2].groups[0].pods.map((c) => c.name), ['lonely']);
});

for (const [id, before, after, want] of [
  ['created', null, pod('a', { phase: 'Pending', ready: false }), ['created']],
  ['created already ready', null, pod('a'), ['created', 'phase', 'ready']],
  ['became ready', pod('a', { ready: false }), pod('a'), ['ready']],
  ['lost readiness', pod('a'), pod('a', { ready: false }), ['unready']],
  ['graceful deletion began', pod('a'), pod('a', { deleting: true }), ['terminating']],
  ['deleted', pod('a'), null, ['deleted']],
  ['nothing changed', pod('a'), pod('a'), []],
]) test(`podTransitions: ${id}`, () => assert.deepEqual(m.podTransitions(before, after).map((c) => c.what), want));

test('applyEvent + timelineView: ordered creations are visible newest first with gaps', () => {
  const s = m.createState();
  m.applyList(s, 'pods', []);
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  m.applyEvent(s, 'pods', 'ADDED', pod('web-0', { owner: ['StatefulSet', 'web'], phase: 'Pending', ready: false }), t0);
  m.applyEvent(s, 'pods', 'MODIFIED', pod('web-0', { owner: ['StatefulSet', 'web'], ready: true }), t0 + 1500);
  m.applyEvent(s, 'pods', 'ADDED', pod('web-1', { owner: ['StatefulSet', 'web'], phase: 'Pending', ready: false }), t0 + 1600);
  m.applyEvent(s, 'pods', 'DELETED', pod('web-1', { owner: ['StatefulSet', 'web'], phase: 'Pending', ready: false }), t0 + 2000);
  const tl = m.timelineView(s, 'demo');
  assert.deepEqual(tl.map((e) => `${e.what}:${e.pod}`), ['deleted:web-1', 'created:web-1', 'ready:web-0', 'phase:web-0', 'created:web-0']);
  assert.deepEqual(tl.map((e) => e.gapMs), [400, 100, 0, 1500, null]);
  assert.equal(tl[0].ordinal, 1);
  assert.equal(tl[0].owner, 'StatefulSet/web');
  assert.equal(s.pods.size, 1);
});

test('applyList: the first list seeds history from creation times; a re-list records what changed meanwhile', () => {
  const s = m.createState();
  m.applyList(s, 'pods', [pod('b', { created: '2026-01-01T00:00:02Z' }), pod('a', { created: '2026-01-01T00:00:01Z' })]);
  assert.deepEqual(m.timelineView(s, 'demo').map((e) => `${e.what}:${e.pod}`), ['created:b', 'created:a']);
  m.applyList(s, 'pods', [pod('b', { deleting: true }), pod('c')], Date.parse('2026-01-01T00:10:00Z'));
  assert.deepEqual(m.timelineView(s, 'demo').slice(0, 5).map((e) => `${e.what}:${e.pod}`).sort(),
    ['created:c', 'deleted:a', 'phase:c', 'ready:c', 'terminating:b']);
  assert.deepEqual([...s.pods.keys()].sort(), ['demo/b', 'demo/c']);
});

test('applyEvent ignores bookmarks and unknown resources', () => {
  const s = m.createState();
  assert.equal(m.applyEvent(s, 'pods', 'BOOKMARK', { metadata: { resourceVersion: '5' } }), false);
  assert.equal(m.applyEvent(s, 'nodes', 'ADDED', pod('x')), false);
});

test('eventRows: newest first, with the involved object', () => {
  const s = m.createState();
  const ev = (name, t, reason) => ({ metadata: { name, namespace: 'demo', creationTimestamp: t }, lastTimestamp: t, reason, type: 'Normal',
    involvedObject: { kind: 'StatefulSet', name: 'web' }, message: `create Pod ${name}`, count: 1 });
  m.applyList(s, 'events', [ev('e1', '2026-01-01T00:00:01Z', 'SuccessfulCreate'), ev('e2', '2026-01-01T00:00:03Z', 'SuccessfulDelete')]);
  assert.deepEqual(m.eventRows(s, 'demo').map((r) => [r.reason, r.object]), [['SuccessfulDelete', 'StatefulSet/web'], ['SuccessfulCreate', 'StatefulSet/web']]);
});

for (const [id, req, want] of [
  ['scale a StatefulSet', m.scaleRequest('StatefulSet', 'demo', 'web', 3),
    { method: 'PATCH', path: '/apis/apps/v1/namespaces/demo/statefulsets/web/scale', headers: { 'Content-Type': 'application/merge-patch+json' }, body: '{"spec":{"replicas":3}}' }],
  ['scale a Deployment to zero', m.scaleRequest('Deployment', 'demo', 'api', 0),
    { method: 'PATCH', path: '/apis/apps/v1/namespaces/demo/deployments/api/scale', headers: { 'Content-Type': 'application/merge-patch+json' }, body: '{"spec":{"replicas":0}}' }],
  ['delete a pod', m.deletePodRequest('demo', 'web-0'), { method: 'DELETE', path: '/api/v1/namespaces/demo/pods/web-0', headers: {}, body: undefined }],
]) test(`action: ${id}`, () => assert.deepEqual(req, want));

test('action: rollout restart patches the template annotation as kubectl does', () => {
  const req = m.restartRequest('Deployment', 'demo', 'api', new Date('2026-01-02T03:04:05Z'));
  assert.equal(req.path, '/apis/apps/v1/namespaces/demo/deployments/api');
  assert.equal(req.headers['Content-Type'], 'application/strategic-merge-patch+json');
  const at = JSON.parse(req.body).spec.template.metadata.annotations['kubectl.kubernetes.io/restartedAt'];
  assert.match(at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$/);
  assert.equal(Date.parse(at), Date.parse('2026-01-02T03:04:05Z'));
});

test('action: a negative replica count or a pod kind is refused', () => {
  assert.throws(() => m.scaleRequest('StatefulSet', 'demo', 'web', -1));
  assert.throws(() => m.scaleRequest('Pod', 'demo', 'web', 1));
});

for (const [id, pending, chunk, lines, rest] of [
  ['whole lines', '', '{"a":1}\n{"b":2}\n', ['{"a":1}', '{"b":2}'], ''],
  ['a line split across chunks', '{"a"', ':1}\n{"b"', ['{"a":1}'], '{"b"'],
  ['no newline yet', '', '{"a":', [], '{"a":'],
]) test(`splitLines: ${id}`, () => assert.deepEqual(m.splitLines(pending, chunk), [lines, rest]));

test('watchUrl: watch from the list resourceVersion with bookmarks', () => {
  assert.equal(m.watchUrl('/api/v1/namespaces/demo/pods', '42'),
    '/api/v1/namespaces/demo/pods?watch=1&allowWatchBookmarks=true&resourceVersion=42');
});
