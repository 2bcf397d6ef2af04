// List-then-watch against the Kubernetes API, as client-go's reflector does: list, watch from
// the list's resourceVersion, follow bookmarks, re-watch when a stream ends, re-list on 410 Gone.

import { splitLines, watchUrl } from './model.js';

export class HttpError extends Error {
  constructor(status, text) { super(`${status}: ${text}`); this.status = status; }
}

async function checked(resp) {
  if (resp.ok) return resp;
  let text = resp.statusText;
  try { const s = await resp.json(); text = s.message || text; } catch { /* not a Status */ }
  throw new HttpError(resp.status, text);
}

// Runs until `signal` aborts. onList(items) after every (re)list, onEvent(type, obj) per event,
// onState('live' | 'relisting' | 'retrying' | 'unauthorized', detail).
export async function listWatch(path, { onList, onEvent, onState = () => {}, signal, fetchImpl = fetch }) {
  let rv = null;
  let delay = 500;
  while (!signal.aborted) {
    try {
      if (rv === null) {
        const list = await (await checked(await fetchImpl(path, { signal, headers: { Accept: 'application/json' } }))).json();
        rv = list.metadata.resourceVersion;
        onList(list.items || []);
      }
      const resp = await checked(await fetchImpl(watchUrl(path, rv), { signal }));
      onState('live');
      delay = 500;
      const reader = resp.body.getReader();
      const decoder = new TextDecoder();
      let pending = '';
      let gone = false;
      while (!gone) {
        const { value, done } = await reader.read();
        if (done) break; // the server ended the watch (timeout): watch again from rv
        let lines;
        [lines, pending] = splitLines(pending, decoder.decode(value, { stream: true }));
        for (const line of lines) {
          const ev = JSON.parse(line);
          if (ev.type === 'ERROR') {
            // 410: the resourceVersion is too old; anything else: start over as well
            gone = true;
            rv = null;
            onState('relisting', (ev.object && ev.object.message) || '');
            break;
          }
          if (ev.object && ev.object.metadata && ev.object.metadata.resourceVersion) rv = ev.object.metadata.resourceVersion;
          if (ev.type !== 'BOOKMARK') onEvent(ev.type, ev.object);
        }
      }
      if (gone) await reader.cancel().catch(() => {});
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof HttpError && err.status === 410) { rv = null; continue; }
      if (err instanceof HttpError && (err.status === 401 || err.status === 403)) {
        onState('unauthorized', err.message);
        return;
      }
      onState('retrying', String(err.message || err));
      await new Promise((resolve) => setTimeout(resolve, delay)); // back off, then resume from rv
      delay = Math.min(delay * 2, 10000);
    }
  }
}

// One API call (an action); resolves to the decoded body, rejects with HttpError.
export async function call(req, fetchImpl = fetch) {
  const resp = await checked(await fetchImpl(req.path, { method: req.method, headers: { Accept: 'application/json', ...req.headers }, body: req.body }));
  return resp.json();
}
