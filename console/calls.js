// Call a number, live events, the calls history and a call's page (record,
// timeline, transcript, recording, events).
import { api, authHeaders, errorFrom, listAll } from './api.js';
import { openEvents } from './sse.js';
import { timelineSvg } from './timeline.js';
import { clearErrors, field, fmtMs, fmtTime, h, input, jsonValue, select, showError, STATUSES, TERMINAL } from './ui.js';

function eventRow(e) {
  return h('tr', { class: `ev ev-${e.type}`, 'data-type': e.type, 'data-call': e.call_id },
    h('td', { class: 'mono' }, (e.ts || '').replace('T', ' ').replace('Z', '')),
    h('td', {}, h('span', { class: `tag t-${e.type}` }, e.type)),
    h('td', { class: 'mono' }, h('a', { href: `#/calls/${e.call_id}` }, (e.call_id || '').slice(0, 8))),
    h('td', { class: 'muted' }, e.source || ''),
    h('td', { class: 'mono data' }, e.data && Object.keys(e.data).length ? JSON.stringify(e.data) : ''));
}

function eventsTable() {
  const tbody = h('tbody');
  const table = h('table', { class: 'events' },
    h('thead', {}, h('tr', {}, ['Time (UTC)', 'Type', 'Call', 'Source', 'Data'].map((t) => h('th', {}, t)))), tbody);
  return {
    table,
    add(e) {
      tbody.prepend(eventRow(e));
      while (tbody.children.length > 500) tbody.lastChild.remove();
    },
    clear() { tbody.replaceChildren(); },
  };
}

function streamState(el) {
  return (s, err) => {
    el.dataset.state = s;
    el.textContent = { open: 'live', reconnecting: 'reconnecting…', dropped: 'too slow: dropped, reconnecting', error: `stopped: ${err ? err.message : ''}` }[s] || s;
  };
}

export async function viewEvents(main, rest) {
  const callIn = input({ placeholder: 'call id (all calls when empty)', value: rest || '' });
  const typeIn = input({ placeholder: 'types, comma-separated (e.g. call_hold,call_resume)' });
  const state = h('span', { class: 'stream-state' });
  const t = eventsTable();
  const form = h('form', { class: 'card form inline', id: 'events-filter' },
    field('Call', 'call_id', callIn), field('Type', 'type', typeIn),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Apply'), state));
  main.append(h('h1', {}, 'Live events'), form, h('div', { class: 'card' }, t.table));
  let sub = null;
  const start = () => {
    if (sub) sub.close();
    clearErrors(form);
    t.clear();
    const types = typeIn.value.split(/[\s,]+/).filter(Boolean);
    sub = openEvents({ callId: callIn.value.trim(), types }, (e) => t.add(e), (s, err) => {
      streamState(state)(s, err);
      if (s === 'error' && err) showError(form, err);
    });
  };
  form.addEventListener('submit', (ev) => { ev.preventDefault(); start(); });
  start();
  return () => sub && sub.close();
}

export async function viewOutbound(main) {
  const [assistants, trunks] = await Promise.all([listAll('/assistants', 'assistants'), listAll('/trunks', 'trunks')]);
  const c = {
    assistant: select(assistants.map((a) => [a.assistant_id, a.assistant_name])),
    trunk: select(trunks.map((t) => [t.trunk_id, `${t.trunk_name} (${t.trunk_type})`])),
    service: select([['exotel', 'Exotel'], ['twilio', 'Twilio']]),
    from: select([]),
    to: input({ placeholder: '+919876543210', inputmode: 'tel' }),
    meta: h('textarea', { rows: 3, spellcheck: 'false', placeholder: '{"name":"Asha"}' }),
  };
  const syncTrunk = () => {
    const t = trunks.find((x) => x.trunk_id === c.trunk.value);
    c.service.value = t ? t.trunk_type : 'exotel';
    c.from.replaceChildren(h('option', { value: '' }, '(the trunk\'s first number)'),
      ...((t && t.trunk_config && t.trunk_config.numbers) || []).map((n) => h('option', { value: n }, n)));
  };
  c.trunk.addEventListener('change', syncTrunk);
  syncTrunk();
  const state = h('span', { class: 'stream-state' });
  const placed = h('div', { class: 'placed' });
  const t = eventsTable();
  const form = h('form', { class: 'card form', id: 'outbound', novalidate: true },
    h('div', { class: 'grid2' },
      field('Assistant', 'assistant_id', c.assistant),
      field('Trunk', 'trunk_id', c.trunk),
      field('Provider', 'call_service', c.service, 'must match the trunk'),
      field('From', 'from_number', c.from),
      field('To (E.164)', 'to_number', c.to),
      field('Metadata (JSON, fills {{placeholders}})', 'metadata', c.meta)),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Place call')),
    h('p', { class: 'form-error', role: 'alert' }));
  main.append(...[h('h1', {}, 'Call a number'),
    !assistants.length || !trunks.length ? h('p', { class: 'error' }, 'Create an assistant and a trunk first.') : null,
    form, placed, h('div', { class: 'card' }, h('h3', {}, 'Events of this call ', state), t.table)].filter(Boolean));
  let sub = null;
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    try {
      const body = { assistant_id: c.assistant.value, trunk_id: c.trunk.value, to_number: c.to.value.trim(), call_service: c.service.value };
      if (c.from.value) body.from_number = c.from.value;
      const meta = jsonValue(c.meta, 'metadata');
      if (meta) body.metadata = meta;
      // listen before placing, so call_queued is not missed
      if (sub) sub.close();
      t.clear();
      let callId = null;
      const early = [];
      sub = openEvents({}, (e) => { if (!callId) early.push(e); else if (e.call_id === callId) t.add(e); }, streamState(state));
      await Promise.race([sub.ready, new Promise((r) => setTimeout(r, 3000))]);
      const d = await api('POST', '/call/outbound', body);
      callId = d.call_id;
      early.filter((e) => e.call_id === callId).forEach((e) => t.add(e));
      placed.replaceChildren(h('p', { class: 'card ok', id: 'placed-call', 'data-call': callId },
        `Call ${d.status}: `, h('a', { href: `#/calls/${callId}` }, callId), ` in room ${d.room_name}`));
    } catch (e) {
      if (sub) { sub.close(); sub = null; }
      showError(form, e);
    }
  });
  return () => sub && sub.close();
}

export async function viewCalls(main) {
  const assistants = await listAll('/assistants', 'assistants').catch(() => []);
  const c = {
    status: select([['', 'any'], ...STATUSES]),
    assistant: select([['', 'any'], ...assistants.map((a) => [a.assistant_id, a.assistant_name])]),
    after: input({ type: 'datetime-local' }),
    before: input({ type: 'datetime-local' }),
    limit: select(['20', '50', '100']),
  };
  const list = h('div', { class: 'card' });
  const pager = h('div', { class: 'pager' });
  const form = h('form', { class: 'card form inline', id: 'calls-filter' },
    field('Status', 'status', c.status), field('Assistant', 'assistant_id', c.assistant),
    field('Created after', 'created_after', c.after), field('Created before', 'created_before', c.before),
    field('Per page', 'limit', c.limit),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Filter')),
    h('p', { class: 'form-error', role: 'alert' }));
  main.append(h('h1', {}, 'Calls'), form, list, pager);
  const cursors = [null];
  async function load(page) {
    clearErrors(form);
    const q = new URLSearchParams();
    if (c.status.value) q.set('status', c.status.value);
    if (c.assistant.value) q.set('assistant_id', c.assistant.value);
    if (c.after.value) q.set('created_after', new Date(c.after.value).toISOString());
    if (c.before.value) q.set('created_before', new Date(c.before.value).toISOString());
    q.set('limit', c.limit.value);
    if (cursors[page]) q.set('cursor', cursors[page]);
    let d;
    try { d = await api('GET', `/calls?${q}`); } catch (e) { showError(form, e); return; }
    cursors[page + 1] = d.next_cursor || null;
    const names = Object.fromEntries(assistants.map((a) => [a.assistant_id, a.assistant_name]));
    const tbody = h('tbody');
    for (const r of d.calls || []) {
      tbody.append(h('tr', { class: 'link', 'data-id': r.call_id, onclick: () => { location.hash = `#/calls/${r.call_id}`; } },
        h('td', {}, fmtTime(r.created_at)), h('td', {}, r.kind), h('td', {}, r.provider || ''),
        h('td', {}, h('span', { class: `status s-${r.status}` }, r.status)),
        h('td', {}, r.to_number || ''), h('td', {}, names[r.assistant_id] || (r.assistant_id || '').slice(0, 8)),
        h('td', {}, fmtMs(r.duration_ms)), h('td', {}, r.hold_count ? `${r.hold_count} (${fmtMs(r.hold_ms)})` : ''),
        h('td', {}, r.end_reason || ''),
        h('td', { class: 'mono' }, h('a', { href: `#/calls/${r.call_id}` }, r.call_id.slice(0, 8)))));
    }
    list.replaceChildren((d.calls || []).length
      ? h('table', {}, h('thead', {}, h('tr', {}, ['Created', 'Kind', 'Provider', 'Status', 'To', 'Assistant', 'Duration', 'Holds', 'End', 'Id'].map((x) => h('th', {}, x)))), tbody)
      : h('p', { class: 'muted' }, 'No calls match.'));
    pager.replaceChildren(
      h('button', { type: 'button', disabled: page === 0, onclick: () => load(page - 1) }, '← Newer'),
      h('span', {}, ` page ${page + 1} `),
      h('button', { type: 'button', disabled: !d.next_cursor, onclick: () => load(page + 1) }, 'Older →'));
  }
  form.addEventListener('submit', (ev) => { ev.preventDefault(); cursors.length = 1; load(0); });
  await load(0);
}

async function loadRecording(id, audio, note) {
  const res = await fetch(`/calls/${id}/recording`, { headers: authHeaders() });
  if (!res.ok) { note.textContent = (await errorFrom(res)).message; return; }
  const blob = await res.blob();
  if (audio.dataset.url) URL.revokeObjectURL(audio.dataset.url);
  audio.dataset.url = URL.createObjectURL(blob);
  audio.src = audio.dataset.url;
  note.textContent = `${(blob.size / 1024).toFixed(0)} KiB, ${blob.type}`;
}

export async function viewCall(main, id) {
  const wrap = h('div', { class: 'call-page', 'data-call': id });
  main.append(wrap);
  let rec = null;
  let recordingShown = null;
  const audio = h('audio', { controls: true, preload: 'metadata', id: 'recording' });
  const audioNote = h('span', { class: 'muted' });
  async function refresh() {
    try { rec = await api('GET', `/calls/${id}`); } catch (e) { wrap.replaceChildren(h('p', { class: 'error' }, e.message)); return; }
    const fields = [
      ['Status', h('span', { class: `status s-${rec.status}` }, rec.status)], ['Kind', rec.kind], ['Provider', rec.provider],
      ['From', rec.from_number], ['To', rec.to_number], ['Room', rec.room], ['Created', fmtTime(rec.created_at)],
      ['Answered', fmtTime(rec.answered_at)], ['Agent ready', fmtTime(rec.agent_ready_at)], ['Ended', fmtTime(rec.ended_at)],
      ['Duration', fmtMs(rec.duration_ms)], ['Holds', `${rec.hold_count ?? 0} (${fmtMs(rec.hold_ms ?? 0)})`],
      ['End reason', rec.end_reason], ['SIP', rec.sip_code ? `${rec.sip_code} ${rec.sip_reason || ''}` : ''],
      ['Metadata', rec.metadata && Object.keys(rec.metadata).length ? JSON.stringify(rec.metadata) : ''],
      ['Recording file', rec.recording_path],
    ];
    const dl = h('dl', { class: 'record', id: 'record' });
    for (const [k, v] of fields) dl.append(h('dt', {}, k), h('dd', { 'data-key': k }, v ?? ''));
    const tl = h('div', { class: 'timeline-wrap', id: 'timeline', html: timelineSvg(rec) });
    const tr = h('ol', { class: 'transcript', id: 'transcript' });
    for (const t of rec.transcripts || []) {
      tr.append(h('li', { class: `say ${t.speaker}` }, h('span', { class: 'who' }, t.speaker), h('span', { class: 'what' }, t.text),
        h('time', {}, (t.timestamp || '').slice(11, 19))));
    }
    const et = eventsTable();
    for (const e of rec.events || []) et.add({ ...e, call_id: id });
    const live = !TERMINAL.has(rec.status);
    wrap.replaceChildren(
      h('div', { class: 'title-row' }, h('h1', {}, `Call ${id.slice(0, 8)}`), h('span', { class: 'mono muted' }, id),
        live ? h('button', { type: 'button', class: 'danger', onclick: async () => { try { await api('POST', `/calls/${id}/hangup`, {}); } catch (e) { alert(e.message); } } }, 'Hang up') : null),
      h('div', { class: 'cols' },
        h('section', { class: 'card' }, h('h2', {}, 'Record'), dl),
        h('section', { class: 'card' }, h('h2', {}, 'Transcript'),
          (rec.transcripts || []).length ? tr : h('p', { class: 'muted' }, 'No transcript (yet).'),
          h('h2', {}, 'Recording'), rec.recording_path ? h('div', {}, audio, h('br'), audioNote) : h('p', { class: 'muted' }, 'No recording (yet).'))),
      h('section', { class: 'card' }, h('h2', {}, 'Timeline'), tl),
      h('section', { class: 'card' }, h('h2', {}, `Events (${(rec.events || []).length})`), et.table));
    if (rec.recording_path && recordingShown !== rec.recording_path) {
      recordingShown = rec.recording_path;
      loadRecording(id, audio, audioNote).catch((e) => { audioNote.textContent = e.message; });
    }
  }
  await refresh();
  // a live call's timeline grows with the clock, not only with its events
  const tick = setInterval(() => { if (rec && !TERMINAL.has(rec.status)) refresh(); }, 5000);
  let timer = null;
  const sub = openEvents({ callId: id }, () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300); // a burst of events, one reload
  });
  return () => { sub.close(); clearTimeout(timer); clearInterval(tick); if (audio.dataset.url) URL.revokeObjectURL(audio.dataset.url); };
}
