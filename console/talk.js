// Talk to an assistant from the browser: POST /web_call/get_token, then the
// room — the embedded local room through ./room-local.js (a WebSocket
// member), or LiveKit through livekit-client — with the microphone asked for
// only when the person clicks. Shows the microphone level, plays and meters
// the agent's audio, and the live transcript of both speakers from the
// call's `transcript` events: the event stream's, and on LiveKit also the
// room's `call_events` data (whichever comes first; one event is shown once).
import { api, listAll } from './api.js';
import { openEvents } from './sse.js';
import { field, h, jsonValue, select, clearErrors, showError } from './ui.js';

// Which room the token is for: `backend` when the API says, else LiveKit for
// a server URL at its root (livekit-client adds /rtc), local otherwise.
export function pickBackend(d) {
  if (d.backend) return d.backend;
  try {
    const u = new URL(d.url);
    return u.pathname && u.pathname !== '/' ? 'local' : 'livekit';
  } catch { return 'local'; }
}

function meter(label, id) {
  const bar = h('div', { class: 'meter-bar' });
  const el = h('div', { class: 'meter', id }, h('span', { class: 'meter-label' }, label), h('div', { class: 'meter-track' }, bar));
  return { el, set(v) { bar.style.width = `${Math.min(100, Math.round(v * 100))}%`; } };
}

// RMS of an AnalyserNode's time domain, 0..1, polled on animation frames.
function analyse(ctx, source, onLevel) {
  const an = ctx.createAnalyser();
  an.fftSize = 1024;
  source.connect(an);
  const buf = new Float32Array(an.fftSize);
  let raf = 0;
  const tick = () => {
    an.getFloatTimeDomainData(buf);
    let s = 0;
    for (const v of buf) s += v * v;
    onLevel(Math.sqrt(s / buf.length));
    raf = requestAnimationFrame(tick);
  };
  tick();
  return () => { cancelAnimationFrame(raf); try { source.disconnect(an); } catch { /* gone */ } };
}

// The LiveKit room: the microphone published, the agent's audio attached to
// an <audio> element (Chromium feeds a remote WebRTC track to Web Audio only
// while an element plays it) and metered; the agent's copy of every call
// event arrives as data on topic `call_events` and goes to onEvent.
async function connectLiveKit({ url, token, stream, onRemoteStream, onEvent, onState }) {
  const lk = await import('./vendor/livekit-client.esm.mjs');
  const room = new lk.Room({ adaptiveStream: false, dynacast: false });
  room.on(lk.RoomEvent.Reconnecting, () => onState('reconnecting'));
  room.on(lk.RoomEvent.SignalReconnecting, () => onState('reconnecting'));
  room.on(lk.RoomEvent.Reconnected, () => onState('reconnected'));
  room.on(lk.RoomEvent.TrackSubscribed, (track) => {
    if (track.kind !== 'audio') return;
    const el = track.attach();
    el.dataset.remote = 'agent';
    document.body.append(el);
    onRemoteStream(new MediaStream([track.mediaStreamTrack]), el);
  });
  const dec = new TextDecoder();
  room.on(lk.RoomEvent.DataReceived, (payload, _participant, _kind, topic) => {
    if (topic !== 'call_events') return;
    let ev = null;
    try { ev = JSON.parse(dec.decode(payload)); } catch { return; }
    if (ev && typeof ev.type === 'string') onEvent(ev);
  });
  const closed = new Promise((resolve) => {
    room.once(lk.RoomEvent.Disconnected, (reason) => {
      const name = typeof reason === 'number' && lk.DisconnectReason ? lk.DisconnectReason[reason] : reason;
      resolve({ reason: name ? String(name).toLowerCase() : null });
    });
  });
  let pub;
  try {
    await room.connect(url, token);
    pub = await room.localParticipant.publishTrack(stream.getAudioTracks()[0], { source: lk.Track.Source.Microphone });
  } catch (e) {
    room.disconnect();
    throw e;
  }
  return {
    closed,
    mute(on) { return on ? pub.mute() : pub.unmute(); },
    hangup() { return room.disconnect(); },
    close() { room.disconnect(); document.querySelectorAll('audio[data-remote]').forEach((e) => e.remove()); },
  };
}

export async function viewTalk(main, rest) {
  const assistants = await listAll('/assistants', 'assistants');
  const pick = select(assistants.map((a) => [a.assistant_id, a.assistant_name]));
  if (rest && assistants.some((a) => a.assistant_id === rest)) pick.value = rest;
  const meta = h('textarea', { rows: 2, spellcheck: 'false', placeholder: '{"name":"Asha"}' });
  const startBtn = h('button', { type: 'submit', id: 'talk-start' }, 'Start talking');
  const muteBtn = h('button', { type: 'button', id: 'talk-mute', disabled: true }, 'Mute');
  const hangBtn = h('button', { type: 'button', id: 'talk-hangup', class: 'danger', disabled: true }, 'Hang up');
  const status = h('p', { class: 'talk-status', id: 'talk-status', role: 'status' }, 'Pick an assistant and press Start: the browser then asks for the microphone.');
  const callLine = h('p', { class: 'muted', id: 'talk-call' });
  const mic = meter('you', 'mic-level');
  const agent = meter('agent', 'agent-level');
  const transcript = h('ol', { class: 'transcript live', id: 'talk-transcript' });
  const form = h('form', { class: 'card form', id: 'talk-form', novalidate: true },
    h('div', { class: 'grid2' }, field('Assistant', 'assistant_id', pick), field('Metadata (JSON)', 'metadata', meta)),
    h('div', { class: 'actions' }, startBtn, muteBtn, hangBtn),
    h('p', { class: 'form-error', role: 'alert' }));
  main.append(...[h('h1', {}, 'Talk to an assistant'),
    assistants.length ? null : h('p', { class: 'error' }, 'No assistants yet: create one under Assistants.'),
    form,
    h('section', { class: 'card talk' }, status, callLine, h('div', { class: 'meters' }, mic.el, agent.el),
      h('h2', {}, 'Transcript'), transcript)].filter(Boolean));

  // what the tests read: the agent audio's peak level and the call id
  const probe = (window.__callmesh = { agentPeak: 0, micPeak: 0, callId: null, backend: null, tokenBackend: null, url: null, dataEvents: 0, roomStates: [] });
  let session = null;
  const stops = [];
  let ctx = null;
  let stream = null;
  let sub = null;
  let muted = false;
  const partial = new Map();

  function say(speaker, text, final) {
    let li = partial.get(speaker);
    if (!li) {
      li = h('li', { class: `say ${speaker}` }, h('span', { class: 'who' }, speaker === 'agent' ? 'agent' : 'you'), h('span', { class: 'what' }));
      transcript.append(li);
      partial.set(speaker, li);
    }
    li.querySelector('.what').textContent = text;
    li.classList.toggle('partial', !final);
    if (final) partial.delete(speaker);
    li.scrollIntoView({ block: 'nearest' });
  }

  function onRemoteStream(ms, el) {
    if (el) el.play().catch(() => {});
    stops.push(analyse(ctx, ctx.createMediaStreamSource(ms), (v) => { agent.set(v * 4); probe.agentPeak = Math.max(probe.agentPeak, v); }));
  }

  async function end(reason) {
    if (sub) { sub.close(); sub = null; }
    if (session) {
      const s = session;
      session = null;
      try { await s.hangup(); } catch { /* already gone */ }
      if (typeof s.close === 'function') { try { s.close(); } catch { /* gone */ } }
    }
    stops.splice(0).forEach((f) => f());
    if (stream) { stream.getTracks().forEach((t) => t.stop()); stream = null; }
    if (ctx) { ctx.close().catch(() => {}); ctx = null; }
    startBtn.disabled = false; muteBtn.disabled = true; hangBtn.disabled = true;
    mic.set(0); agent.set(0);
    if (reason) status.textContent = reason;
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    startBtn.disabled = true;
    transcript.replaceChildren();
    partial.clear();
    try {
      const body = { assistant_id: pick.value };
      const m = jsonValue(meta, 'metadata');
      if (m) body.metadata = m;
      status.textContent = 'Asking for the microphone…';
      stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true } });
      ctx = new AudioContext();
      stops.push(analyse(ctx, ctx.createMediaStreamSource(stream), (v) => { mic.set(v * 4); probe.micPeak = Math.max(probe.micPeak, v); }));
      status.textContent = 'Starting the call…';
      // subscribed before the call exists (filtered by its id once known):
      // whatever the agent says first is in the transcript however soon it starts
      let callId = null;
      const early = [];
      const seen = new Set();
      const onEv = (e) => {
        if (e.id) {
          if (seen.has(e.id)) return;
          seen.add(e.id);
        }
        if (e.type === 'transcript') say(e.data.speaker, e.data.text, e.data.final !== false);
        else if (e.type === 'agent_speaking') status.textContent = 'Agent speaking…';
        else if (e.type === 'agent_listening') status.textContent = 'Agent listening…';
        else end(`Call ended (${(e.data || {}).reason || (e.data || {}).status || e.type}).`);
      };
      const types = ['transcript', 'call_ended', 'call_failed', 'agent_speaking', 'agent_listening'];
      sub = openEvents({ types }, (e) => {
        if (!callId) early.push(e);
        else if (e.call_id === callId) onEv(e);
      });
      await Promise.race([sub.ready, new Promise((r) => setTimeout(r, 3000))]);
      const d = await api('POST', '/web_call/get_token', body);
      probe.callId = callId = d.call_id;
      probe.tokenBackend = d.backend === undefined ? null : d.backend;
      probe.url = d.url;
      early.splice(0).filter((e) => e.call_id === callId).forEach(onEv);
      const backend = pickBackend(d);
      probe.backend = backend;
      if (backend === 'livekit') {
        session = await connectLiveKit({
          url: d.url, token: d.token, stream, onRemoteStream,
          onState: (what) => {
            probe.roomStates.push(what);
            if (session) status.textContent = what === 'reconnecting' ? 'Connection to LiveKit lost: reconnecting…' : 'Reconnected.';
          },
          onEvent: (e) => {
            if (e.call_id !== callId) return;
            probe.dataEvents++;
            if (types.includes(e.type)) onEv(e);
          },
        });
      } else {
        let mod;
        try { mod = await import('./room-local.js'); } catch (e) {
          throw Object.assign(new Error(`the local room member (room-local.js) is not available: ${e.message}`), { field: null });
        }
        session = await mod.connectLocalRoom({
          url: d.url, token: d.token, stream,
          onLevel: (v) => { if (typeof v === 'number') mic.set(v * 4); },
          // room-local.js plays the room itself and hands each 20 ms frame
          // it heard (Float32Array) for metering
          onRemoteAudio: (x) => {
            let level = null;
            if (x instanceof Float32Array && x.length) {
              let sum = 0;
              for (const v of x) sum += v * v;
              level = Math.sqrt(sum / x.length);
            } else if (typeof x === 'number') {
              level = x;
            } else if (x instanceof MediaStream) {
              const el = new Audio(); el.srcObject = x; el.dataset.remote = 'agent'; onRemoteStream(x, el);
            }
            if (level !== null) { agent.set(level * 4); probe.agentPeak = Math.max(probe.agentPeak, level); }
          },
        });
      }
      const mine = session;
      if (mine.closed && typeof mine.closed.then === 'function') {
        mine.closed.then((c) => { if (session === mine) end(`The room closed the connection${c && c.reason ? ` (${c.reason})` : ''}.`); });
      }
      status.textContent = 'Connected. Speak when you like.';
      callLine.replaceChildren(`${backend === 'livekit' ? 'LiveKit' : 'local'} room ${d.room_name} — call `, h('a', { href: `#/calls/${d.call_id}` }, d.call_id));
      muteBtn.disabled = false; hangBtn.disabled = false;
    } catch (e) {
      await end();
      status.textContent = 'Not connected.';
      showError(form, e);
    }
  });
  muteBtn.addEventListener('click', async () => {
    muted = !muted;
    if (session) await session.mute(muted);
    muteBtn.textContent = muted ? 'Unmute' : 'Mute';
    muteBtn.classList.toggle('on', muted);
  });
  hangBtn.addEventListener('click', async () => {
    const id = probe.callId;
    if (id) api('POST', `/calls/${id}/hangup`, {}).catch(() => {});
    await end('Hung up.');
  });
  return () => { end(); };
}
