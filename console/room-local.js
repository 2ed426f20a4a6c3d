// A browser member of callmesh's embedded local room (ROOM_BACKEND=local):
// the WebSocket that room-manager serves (services/room-manager/webmember.c).
// Plain ES module, no build step, no dependencies.
//
//   const call = await connectLocalRoom({ url, token, onLevel, onRemoteAudio });
//   call.mute(true); await call.hangup();
//
// Wire format (one WebSocket, `<url>?access_token=<token>`):
//   text, page → room-manager, first: {"type":"hello","send":"opus"|"pcm","receive":"opus"|"pcm"}
//   text, room-manager → page: {"type":"joined","room","identity"}
//                              {"type":"member","identity","joined":bool}
//                              {"type":"error","message"} (then it closes)
//   binary, page → room-manager: 1 type byte + one 20 ms frame at 48 kHz mono
//     0x01 PCM:  960 samples, 16-bit signed little-endian
//     0x02 Opus: one Opus packet (WebCodecs AudioEncoder)
//   binary, room-manager → page: type byte, sender SSRC (4 bytes, big-endian), frame.
// The room's other members come back one stream per SSRC (not mixed); each
// is scheduled on its own and the AudioContext sums them.

const RATE = 48000;
const FRAME = 960;                 // 20 ms
const MSG_PCM = 0x01;
const MSG_OPUS = 0x02;
const PLAYOUT_DELAY_S = 0.06;      // jitter allowance before the first frame plays
const PLAYOUT_MAX_AHEAD_S = 0.5;   // a stream further ahead than this drops frames

// Collects 128-sample render quanta into 20 ms frames on the audio thread.
const WORKLET = `
class Frames extends AudioWorkletProcessor {
  constructor() { super(); this.buf = new Float32Array(${FRAME}); this.n = 0; }
  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    if (!ch) return true;
    let i = 0;
    while (i < ch.length) {
      const k = Math.min(ch.length - i, ${FRAME} - this.n);
      this.buf.set(ch.subarray(i, i + k), this.n);
      this.n += k; i += k;
      if (this.n === ${FRAME}) { this.port.postMessage(this.buf.slice(0)); this.n = 0; }
    }
    return true;
  }
}
registerProcessor('callmesh-frames', Frames);
`;

// What the page encodes its microphone with when WebCodecs has Opus.
const ENCODER_CONFIG = { codec: 'opus', sampleRate: RATE, numberOfChannels: 1, bitrate: 32000, opus: { frameDuration: 20000 } };

async function opusEncoderSupported() {
  if (typeof AudioEncoder === 'undefined') return false;
  try {
    const r = await AudioEncoder.isConfigSupported(ENCODER_CONFIG);
    return !!r.supported;
  } catch { return false; }
}

async function opusDecoderSupported() {
  if (typeof AudioDecoder === 'undefined') return false;
  try {
    const r = await AudioDecoder.isConfigSupported({ codec: 'opus', sampleRate: RATE, numberOfChannels: 1 });
    return !!r.supported;
  } catch { return false; }
}

function rms(frame) {
  let e = 0;
  for (let i = 0; i < frame.length; i++) e += frame[i] * frame[i];
  return Math.sqrt(e / frame.length);
}

// Calls onFrame(Float32Array of FRAME samples) every 20 ms of `source`.
async function startCapture(ctx, source, onFrame) {
  const sink = ctx.createGain();
  sink.gain.value = 0;             // pulled by the graph, heard by no one
  sink.connect(ctx.destination);
  if (ctx.audioWorklet) {
    const url = URL.createObjectURL(new Blob([WORKLET], { type: 'application/javascript' }));
    try { await ctx.audioWorklet.addModule(url); } finally { URL.revokeObjectURL(url); }
    const node = new AudioWorkletNode(ctx, 'callmesh-frames', { numberOfInputs: 1, numberOfOutputs: 1, channelCount: 1, channelCountMode: 'explicit' });
    node.port.onmessage = (ev) => onFrame(ev.data);
    source.connect(node);
    node.connect(sink);
    return () => { node.port.onmessage = null; source.disconnect(); node.disconnect(); sink.disconnect(); };
  }
  // browsers without AudioWorklet: ScriptProcessor, re-cut into 20 ms frames
  const sp = ctx.createScriptProcessor(1024, 1, 1);
  const buf = new Float32Array(FRAME);
  let n = 0;
  sp.onaudioprocess = (ev) => {
    const ch = ev.inputBuffer.getChannelData(0);
    for (let i = 0; i < ch.length;) {
      const k = Math.min(ch.length - i, FRAME - n);
      buf.set(ch.subarray(i, i + k), n);
      n += k; i += k;
      if (n === FRAME) { onFrame(buf.slice(0)); n = 0; }
    }
  };
  source.connect(sp);
  sp.connect(sink);
  return () => { sp.onaudioprocess = null; source.disconnect(); sp.disconnect(); sink.disconnect(); };
}

/**
 * Joins a local room as a browser member.
 * @param {object} o
 * @param {string} o.url     the `url` of POST /web_call/get_token (ws://…/room)
 * @param {string} o.token   its `token`
 * @param {MediaStream} [o.stream]  microphone; asked for with getUserMedia when absent
 * @param {(level:number)=>void} [o.onLevel]  microphone RMS (0..1) every 20 ms
 * @param {(frame:Float32Array, ssrc:number)=>void} [o.onRemoteAudio]  each 20 ms frame heard
 * @param {(identity:string, joined:boolean)=>void} [o.onMember]  others joining and leaving
 * @param {'opus'|'pcm'} [o.send]     default: opus when WebCodecs can encode it
 * @param {'opus'|'pcm'} [o.receive]  default: opus when WebCodecs can decode it
 * @returns {Promise<{room:string, identity:string, send:string, receive:string,
 *   remote:AnalyserNode, context:AudioContext, mute:(on:boolean)=>void,
 *   hangup:()=>Promise<void>, closed:Promise<{code:number, reason:string}>}>}
 *   rejects with an Error naming why the room could not be joined.
 */
export async function connectLocalRoom(o) {
  if (!o || typeof o.url !== 'string' || !/^wss?:\/\//.test(o.url)) throw new Error('url: must be the ws:// URL from get_token');
  if (typeof o.token !== 'string' || !o.token) throw new Error('token: missing');
  const send = o.send || ((await opusEncoderSupported()) ? 'opus' : 'pcm');
  const receive = o.receive || ((await opusDecoderSupported()) ? 'opus' : 'pcm');
  const ownStream = !o.stream;
  const stream = o.stream || await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, sampleRate: RATE, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
  });
  const ctx = new AudioContext({ sampleRate: RATE });
  await ctx.resume();

  const remote = ctx.createAnalyser();
  remote.fftSize = 2048;
  remote.connect(ctx.destination);

  const ws = new WebSocket(o.url + (o.url.includes('?') ? '&' : '?') + 'access_token=' + encodeURIComponent(o.token));
  ws.binaryType = 'arraybuffer';
  let muted = false, stopCapture = null, encoder = null, ts = 0, ended = false;
  const streams = new Map();       // ssrc → { next: playout time, decoder }

  const cleanup = () => {
    if (ended) return;
    ended = true;
    if (stopCapture) stopCapture();
    if (encoder && encoder.state !== 'closed') encoder.close();
    for (const s of streams.values()) if (s.decoder && s.decoder.state !== 'closed') s.decoder.close();
    streams.clear();
    if (ownStream) stream.getTracks().forEach((t) => t.stop());
    ctx.close().catch(() => {});
  };

  const play = (ssrc, frame) => {
    let s = streams.get(ssrc);
    if (!s) { s = { next: 0, decoder: null }; streams.set(ssrc, s); }
    if (o.onRemoteAudio) o.onRemoteAudio(frame, ssrc);
    const now = ctx.currentTime;
    if (s.next < now) s.next = now + PLAYOUT_DELAY_S;        // first frame, or after a pause
    if (s.next > now + PLAYOUT_MAX_AHEAD_S) return;           // far behind: drop, catch up
    const buf = ctx.createBuffer(1, frame.length, RATE);
    buf.copyToChannel(frame, 0);
    const src = ctx.createBufferSource();
    src.buffer = buf;
    src.connect(remote);
    src.start(s.next);
    s.next += frame.length / RATE;
  };

  const decoderFor = (ssrc) => {
    let s = streams.get(ssrc);
    if (!s) { s = { next: 0, decoder: null }; streams.set(ssrc, s); }
    if (!s.decoder) {
      s.decoder = new AudioDecoder({
        output: (data) => {
          const f = new Float32Array(data.numberOfFrames);
          data.copyTo(f, { planeIndex: 0, format: 'f32-planar' });
          data.close();
          play(ssrc, f);
        },
        error: () => { s.decoder = null; },
      });
      s.decoder.configure({ codec: 'opus', sampleRate: RATE, numberOfChannels: 1 });
      s.ts = 0;
    }
    return s;
  };

  const onBinary = (buf) => {
    const b = new Uint8Array(buf);
    if (b.length < 5) return;
    const ssrc = ((b[1] << 24) | (b[2] << 16) | (b[3] << 8) | b[4]) >>> 0;
    if (b[0] === MSG_PCM) {
      const n = (b.length - 5) >> 1, dv = new DataView(buf, 5), f = new Float32Array(n);
      for (let i = 0; i < n; i++) f[i] = dv.getInt16(2 * i, true) / 32768;
      play(ssrc, f);
    } else if (b[0] === MSG_OPUS) {
      const s = decoderFor(ssrc);
      if (!s.decoder) return;
      s.decoder.decode(new EncodedAudioChunk({ type: 'key', timestamp: s.ts, data: b.subarray(5) }));
      s.ts += 20000;
    }
  };

  const sendFrame = (frame) => {
    if (o.onLevel) o.onLevel(rms(frame));
    if (muted || ws.readyState !== WebSocket.OPEN) return;
    if (send === 'opus') {
      encoder.encode(new AudioData({ format: 'f32', sampleRate: RATE, numberOfFrames: FRAME, numberOfChannels: 1, timestamp: ts, data: frame }));
      ts += 20000;
      return;
    }
    const msg = new Uint8Array(1 + 2 * FRAME), dv = new DataView(msg.buffer);
    msg[0] = MSG_PCM;
    for (let i = 0; i < FRAME; i++) dv.setInt16(1 + 2 * i, Math.max(-32768, Math.min(32767, Math.round(frame[i] * 32767))), true);
    ws.send(msg);
  };

  let resolveClosed;
  const closed = new Promise((r) => { resolveClosed = r; });
  const joined = new Promise((resolve, reject) => {
    let lastError = null, isJoined = false;
    ws.onopen = () => ws.send(JSON.stringify({ type: 'hello', send, receive }));
    ws.onmessage = (ev) => {
      if (typeof ev.data !== 'string') { onBinary(ev.data); return; }
      let m;
      try { m = JSON.parse(ev.data); } catch { return; }
      if (m.type === 'joined') { isJoined = true; resolve(m); }
      else if (m.type === 'member' && o.onMember) o.onMember(m.identity, !!m.joined);
      else if (m.type === 'error') lastError = m.message;
    };
    ws.onclose = (ev) => {
      cleanup();
      resolveClosed({ code: ev.code, reason: lastError || ev.reason || '' });
      if (!isJoined)
        reject(new Error(lastError || ev.reason ||
          'room-manager refused the WebSocket (token expired or for a room that is not open) or is not reachable'));
    };
  });

  let m;
  try {
    m = await joined;
    if (send === 'opus') {
      encoder = new AudioEncoder({
        output: (chunk) => {
          if (ws.readyState !== WebSocket.OPEN) return;
          const msg = new Uint8Array(1 + chunk.byteLength);
          msg[0] = MSG_OPUS;
          chunk.copyTo(msg.subarray(1));
          ws.send(msg);
        },
        error: (e) => ws.close(1011, 'opus encoder: ' + e.message),
      });
      encoder.configure(ENCODER_CONFIG);
    }
    stopCapture = await startCapture(ctx, ctx.createMediaStreamSource(stream), sendFrame);
  } catch (e) {
    if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'setup failed');
    cleanup();
    throw e;
  }

  return {
    room: m.room,
    identity: m.identity,
    send,
    receive,
    remote,
    context: ctx,
    closed,
    mute(on) { muted = !!on; },
    hangup() {
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(1000, 'hangup');
      return closed.then(() => {});
    },
  };
}
