// The timeline picture of a call, from its record and events: ringing,
// answer, the connected span, each hold period, the agent's speaking and
// listening, DTMF digits, and the end with its reason. Pure functions (no
// DOM): buildTimeline() gives the spans, timelineSvg() the SVG text.

const ms = (ts) => (ts ? Date.parse(ts) : NaN);

export function buildTimeline(rec) {
  const evs = (rec.events || []).map((e) => ({ ...e, t: ms(e.ts) })).filter((e) => !Number.isNaN(e.t))
    .sort((a, b) => a.t - b.t);
  const first = (type) => evs.find((e) => e.type === type);
  const created = ms(rec.created_at);
  const t0 = Math.min(...[created, ...evs.map((e) => e.t)].filter((x) => !Number.isNaN(x)));
  const endEv = evs.find((e) => e.type === 'call_ended' || e.type === 'call_failed');
  const ended = ms(rec.ended_at);
  const live = !endEv && Number.isNaN(ended);
  let t1 = endEv ? endEv.t : (!live ? ended : Math.max(Date.now(), evs.length ? evs[evs.length - 1].t : t0));
  if (!(t1 > t0)) t1 = t0 + 1000;

  const ringEv = first('call_ringing') || first('call_dialing');
  const answerEv = first('call_answered');
  const answeredAt = answerEv ? answerEv.t : (rec.kind === 'web' ? (first('agent_joined') || {}).t : NaN);
  const spans = [];
  if (ringEv) spans.push({ lane: 'call', kind: 'ringing', from: ringEv.t, to: answerEv ? answerEv.t : t1 });
  if (answeredAt && !Number.isNaN(answeredAt)) spans.push({ lane: 'call', kind: 'connected', from: answeredAt, to: t1 });

  const holds = [];
  let holdFrom = null;
  let speakFrom = null;
  let listenFrom = null;
  const closeSpeak = (t) => { if (speakFrom !== null) { spans.push({ lane: 'agent', kind: 'speaking', from: speakFrom, to: t }); speakFrom = null; } };
  const closeListen = (t) => { if (listenFrom !== null) { spans.push({ lane: 'agent', kind: 'listening', from: listenFrom, to: t }); listenFrom = null; } };
  const marks = [];
  let agentUp = false; // the agent has started: it listens whenever it is not speaking or on hold
  for (const e of evs) {
    switch (e.type) {
      case 'call_hold': if (holdFrom === null) holdFrom = e.t; closeSpeak(e.t); closeListen(e.t); break;
      case 'call_resume':
        if (holdFrom !== null) { holds.push({ from: holdFrom, to: e.t }); holdFrom = null; }
        if (agentUp && speakFrom === null && listenFrom === null) listenFrom = e.t;
        break;
      case 'agent_ready': agentUp = true; break;
      case 'agent_speaking': agentUp = true; closeListen(e.t); if (speakFrom === null) speakFrom = e.t; break;
      case 'agent_listening': closeSpeak(e.t); if (listenFrom === null && holdFrom === null) listenFrom = e.t; break;
      case 'call_dtmf': marks.push({ kind: 'dtmf', t: e.t, label: String((e.data || {}).digit ?? '?') }); break;
      case 'call_answered': marks.push({ kind: 'answer', t: e.t, label: 'answered' }); break;
      default: break;
    }
  }
  if (holdFrom !== null) holds.push({ from: holdFrom, to: t1, open: true });
  closeSpeak(t1);
  closeListen(t1);
  for (const h of holds) spans.push({ lane: 'call', kind: 'hold', from: h.from, to: h.to, ms: h.to - h.from });
  const endData = (endEv && endEv.data) || {};
  const end = {
    live,
    t: t1,
    type: endEv ? endEv.type : null,
    reason: endData.reason || endData.status || rec.end_reason || rec.status || '',
    by: endData.by || '',
  };
  return { t0, t1, spans, holds, marks, end };
}

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const COLORS = {
  ringing: '#f5b94a', connected: '#8fd19e', hold: '#9aa4b2', speaking: '#3b82f6', listening: '#cfe0fb',
};

export function timelineSvg(rec, { width = 960 } = {}) {
  const tl = buildTimeline(rec);
  const left = 86;
  const right = 24;
  const plot = width - left - right;
  const lanes = { call: 46, agent: 96 };
  const laneH = 26;
  const height = 180;
  const dur = tl.t1 - tl.t0;
  const x = (t) => left + ((t - tl.t0) / dur) * plot;
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" class="timeline" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="call timeline">`);
  out.push('<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#9aa4b2"/><line x1="0" y1="0" x2="0" y2="6" stroke="#6b7280" stroke-width="3"/></pattern></defs>');
  out.push(`<text x="8" y="${lanes.call + 17}" class="lane">call</text><text x="8" y="${lanes.agent + 17}" class="lane">agent</text>`);
  for (const y of Object.values(lanes)) out.push(`<rect x="${left}" y="${y}" width="${plot}" height="${laneH}" fill="#f3f4f6"/>`);
  const order = { ringing: 0, connected: 1, listening: 2, speaking: 3, hold: 4 };
  for (const h of tl.holds) { // the agent is paused while the call is held
    out.push(`<rect class="agent-hold" x="${x(h.from).toFixed(1)}" y="${lanes.agent}" width="${Math.max(1.5, x(h.to) - x(h.from)).toFixed(1)}" height="${laneH}" fill="#e5e7eb"/>`);
  }
  for (const s of [...tl.spans].sort((a, b) => order[a.kind] - order[b.kind])) {
    const x0 = x(s.from);
    const w = Math.max(1.5, x(s.to) - x0);
    const y = lanes[s.lane];
    const fill = s.kind === 'hold' ? 'url(#hatch)' : COLORS[s.kind];
    const extra = s.kind === 'hold' ? ` data-ms="${Math.round(s.ms)}"` : '';
    const secs = ((s.to - s.from) / 1000).toFixed(1);
    out.push(`<rect class="span ${s.kind}"${extra} x="${x0.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${laneH}" fill="${fill}"><title>${s.kind} ${secs} s</title></rect>`);
    if (s.kind === 'hold' && w > 40) out.push(`<text class="span-label" x="${(x0 + w / 2).toFixed(1)}" y="${y + 17}" text-anchor="middle">hold ${secs} s</text>`);
  }
  for (const m of tl.marks) {
    const mx = x(m.t).toFixed(1);
    if (m.kind === 'dtmf') {
      out.push(`<g class="dtmf" data-digit="${esc(m.label)}"><path d="M${mx} ${lanes.call - 12} l6 6 l-6 6 l-6 -6 z" fill="#7c3aed"/><text x="${mx}" y="${lanes.call - 14}" text-anchor="middle" class="mark">${esc(m.label)}</text></g>`);
    } else if (m.kind === 'answer') {
      out.push(`<line x1="${mx}" x2="${mx}" y1="${lanes.call - 4}" y2="${lanes.call + laneH + 4}" stroke="#15803d" stroke-width="2"/><text x="${mx}" y="${lanes.call - 6}" text-anchor="middle" class="mark">answered</text>`);
    }
  }
  const ex = x(tl.end.t).toFixed(1);
  if (tl.end.live) {
    out.push(`<g class="now"><line x1="${ex}" x2="${ex}" y1="${lanes.call - 4}" y2="${lanes.agent + laneH + 4}" stroke="#6b7280" stroke-width="2" stroke-dasharray="4 3"/>`
      + `<text x="${ex}" y="${lanes.agent + laneH + 18}" text-anchor="end" class="mark">now: ${esc(rec.status || 'live')}</text></g>`);
  } else out.push(`<g class="end" data-reason="${esc(tl.end.reason)}"><line x1="${ex}" x2="${ex}" y1="${lanes.call - 4}" y2="${lanes.agent + laneH + 4}" stroke="#b91c1c" stroke-width="2"/>`
    + `<text x="${ex}" y="${lanes.agent + laneH + 18}" text-anchor="end" class="mark end-label">end: ${esc(tl.end.reason)}${tl.end.by ? ` (${esc(tl.end.by)})` : ''}</text></g>`);
  // the axis: seconds from the first event
  const step = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600].find((s) => dur / 1000 / s <= 12) || 1200;
  const axisY = height - 14;
  for (let s = 0; s * 1000 <= dur; s += step) {
    const tx = x(tl.t0 + s * 1000).toFixed(1);
    out.push(`<line x1="${tx}" x2="${tx}" y1="${axisY - 12}" y2="${axisY - 8}" stroke="#6b7280"/><text x="${tx}" y="${axisY + 2}" text-anchor="middle" class="tick">${s}s</text>`);
  }
  const legend = [['ringing', 'ringing'], ['connected', 'connected'], ['hold', 'on hold'], ['speaking', 'agent speaking'], ['listening', 'agent listening']];
  let lx = left;
  for (const [k, label] of legend) {
    out.push(`<rect x="${lx}" y="6" width="10" height="10" fill="${k === 'hold' ? 'url(#hatch)' : COLORS[k]}"/><text x="${lx + 14}" y="15" class="legend">${label}</text>`);
    lx += 24 + label.length * 6.5;
  }
  out.push('</svg>');
  return out.join('');
}
