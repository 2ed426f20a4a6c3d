// GET /events read with fetch() so the bearer key travels in the
// Authorization header (EventSource cannot send one, and a key in a URL ends
// up in logs and history). Parses text/event-stream; reconnects with backoff
// until closed; a 4xx answer stops it and is reported. `ready` resolves
// (true) once the server has the subscription, so nothing after it is missed.
import { authHeaders, errorFrom } from './api.js';

export function openEvents({ callId = '', types = [] } = {}, onEvent, onState = () => {}) {
  let closed = false;
  let ctrl = null;
  let markReady;
  const ready = new Promise((r) => { markReady = r; }); // the first time the stream is open
  let delay = 500;
  const q = new URLSearchParams();
  if (callId) q.set('call_id', callId);
  if (types.length) q.set('type', types.join(','));
  const url = `/events${q.toString() ? `?${q}` : ''}`;

  async function once() {
    ctrl = new AbortController();
    const res = await fetch(url, { headers: authHeaders({ Accept: 'text/event-stream' }), signal: ctrl.signal });
    if (!res.ok) {
      const err = await errorFrom(res);
      err.fatal = res.status >= 400 && res.status < 500;
      throw err;
    }
    onState('open');
    markReady(true);
    delay = 500;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let sep;
      while ((sep = buf.search(/\r?\n\r?\n/)) >= 0) {
        const block = buf.slice(0, sep);
        buf = buf.slice(sep).replace(/^\r?\n\r?\n/, '');
        let name = 'message';
        const data = [];
        for (const line of block.split(/\r?\n/)) {
          if (line.startsWith(':')) continue;
          const i = line.indexOf(':');
          const field = i < 0 ? line : line.slice(0, i);
          const val = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
          if (field === 'event') name = val;
          else if (field === 'data') data.push(val);
        }
        if (!data.length) continue;
        if (name === 'dropped') { onState('dropped'); continue; }
        try { onEvent(JSON.parse(data.join('\n'))); } catch { /* not an event */ }
      }
    }
  }

  (async () => {
    while (!closed) {
      try {
        await once();
        if (!closed) onState('reconnecting');
      } catch (e) {
        if (closed) break;
        if (e.fatal) { onState('error', e); markReady(false); return; }
        onState('reconnecting', e);
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 8000);
    }
  })();

  return { ready, close() { closed = true; markReady(false); if (ctrl) ctrl.abort(); } };
}
