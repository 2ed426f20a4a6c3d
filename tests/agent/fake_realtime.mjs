// A stand-in for the OpenAI Realtime API (WebSocket, JSON events) for the
// agent-worker's realtime provider. It checks the client's events
// (session.update, input_audio_buffer.append, response.create/cancel), runs a
// crude server VAD over the appended audio, and answers with audio deltas
// (24 kHz pcm16, base64) faster than real time, transcripts and
// response.done. GET /_log returns what it received.
//   node tests/agent/fake_realtime.mjs <port> [api-key]
import http from 'node:http';
import crypto from 'node:crypto';

const port = Number(process.argv[2] || 0);
const key = process.argv[3] || 'test-key';
const log = { connects: 0, session: null, appends: 0, append_bytes: 0, odd_appends: 0,
              creates: [], cancels: 0, errors: [] };
const HEARD = 'what are your hours';
const REPLY = 'We are open nine to five.';

function frame(text) {
  const p = Buffer.from(text);
  let h;
  if (p.length < 126) h = Buffer.from([0x81, p.length]);
  else if (p.length < 65536) { h = Buffer.alloc(4); h[0] = 0x81; h[1] = 126; h.writeUInt16BE(p.length, 2); }
  else { h = Buffer.alloc(10); h[0] = 0x81; h[1] = 127; h.writeBigUInt64BE(BigInt(p.length), 2); }
  return Buffer.concat([h, p]);
}

class Conn {
  constructor(socket) {
    this.s = socket; this.buf = Buffer.alloc(0); this.parts = [];
    this.voiced = 0; this.silence = 0; this.speaking = false; this.resp = null; this.n = 0;
    socket.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this.parse(); });
    socket.on('error', () => {});
    socket.on('close', () => this.stop());
    this.send({ type: 'session.created', session: { id: 'sess_fake' } });
  }
  send(o) { if (!this.s.destroyed) this.s.write(frame(JSON.stringify(o))); }
  parse() {
    for (;;) {
      if (this.buf.length < 2) return;
      const b0 = this.buf[0], b1 = this.buf[1];
      let len = b1 & 0x7f, off = 2;
      if (len === 126) { if (this.buf.length < 4) return; len = this.buf.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (this.buf.length < 10) return; len = Number(this.buf.readBigUInt64BE(2)); off = 10; }
      const masked = (b1 & 0x80) !== 0;
      const need = off + (masked ? 4 : 0) + len;
      if (this.buf.length < need) return;
      let payload = this.buf.subarray(off + (masked ? 4 : 0), need);
      if (masked) {
        const m = this.buf.subarray(off, off + 4);
        payload = Buffer.from(payload.map((c, i) => c ^ m[i & 3]));
      } else log.errors.push('client frame not masked');
      this.buf = this.buf.subarray(need);
      const op = b0 & 0x0f;
      if (op === 8) { this.s.end(); return; }
      if (op === 9) { this.s.write(Buffer.concat([Buffer.from([0x8a, payload.length]), payload])); continue; }
      if (op === 1 || op === 0) {
        this.parts.push(payload);
        if (b0 & 0x80) { const t = Buffer.concat(this.parts).toString(); this.parts = []; this.event(t); }
      }
    }
  }
  event(text) {
    let e;
    try { e = JSON.parse(text); } catch { log.errors.push('not JSON'); return; }
    switch (e.type) {
      case 'session.update': {
        const s = e.session || {};
        if (s.input_audio_format !== 'pcm16' || s.output_audio_format !== 'pcm16')
          log.errors.push('audio formats must be pcm16');
        if (!s.turn_detection || s.turn_detection.type !== 'server_vad') log.errors.push('server_vad expected');
        if (typeof s.instructions !== 'string') log.errors.push('instructions missing');
        log.session = s;
        this.send({ type: 'session.updated', session: s });
        break;
      }
      case 'input_audio_buffer.append': {
        const pcm = Buffer.from(e.audio || '', 'base64');
        log.appends++; log.append_bytes += pcm.length;
        if (pcm.length % 2) log.odd_appends++;
        this.vad(pcm);
        break;
      }
      case 'response.create': {
        const instr = (e.response && e.response.instructions) || '';
        log.creates.push(instr);
        this.respond(instr.replace(/^Say exactly this and nothing else: /, '') || REPLY);
        break;
      }
      case 'response.cancel': {
        // like the API: a response_id names the response; without one,
        // whatever is in progress is cancelled
        log.cancels++;
        if (e.response_id !== undefined && typeof e.response_id !== 'string') log.errors.push('response_id must be a string');
        const hit = this.resp && (e.response_id === undefined || e.response_id === this.resp.id);
        if (hit) { const id = this.resp.id; this.stop(); this.send({ type: 'response.done', response: { id, status: 'cancelled' } }); }
        else if (e.response_id !== undefined) {
          log.stale_cancels = (log.stale_cancels || 0) + 1;
          this.send({ type: 'error', error: { type: 'invalid_request_error', code: 'response_cancel_not_active',
                                              message: 'response ' + e.response_id + ' is not in progress' } });
        }
        break;
      }
      default:
        log.errors.push('unknown event ' + e.type);
    }
  }
  vad(pcm) {
    for (let off = 0; off + 960 <= pcm.length; off += 960) {   // 20 ms at 24 kHz
      let acc = 0;
      for (let i = 0; i < 480; i++) { const v = pcm.readInt16LE(off + 2 * i); acc += v * v; }
      const loud = Math.sqrt(acc / 480) > 500;
      if (loud) { this.voiced += 20; this.silence = 0; } else if (this.speaking) this.silence += 20;
      if (!this.speaking && this.voiced >= 200) {
        this.speaking = true;
        this.send({ type: 'input_audio_buffer.speech_started', audio_start_ms: 0, item_id: 'item_in' });
      }
      if (this.speaking && this.silence >= 500) {
        this.speaking = false; this.voiced = 0; this.silence = 0;
        this.send({ type: 'input_audio_buffer.speech_stopped', item_id: 'item_in' });
        this.send({ type: 'input_audio_buffer.committed', item_id: 'item_in' });
        this.send({ type: 'conversation.item.input_audio_transcription.completed', item_id: 'item_in',
                    content_index: 0, transcript: HEARD });
        this.respond(REPLY);
      }
      if (!loud && !this.speaking) this.voiced = 0;
    }
  }
  respond(text) {
    this.stop();
    const id = 'resp_' + (++this.n);
    this.send({ type: 'response.created', response: { id, status: 'in_progress' } });
    const chunks = Math.max(1, Math.round(text.length * 0.8));   // 80 ms of audio per character
    let sent = 0;
    const tick = () => {
      if (!this.resp || this.resp.id !== id) return;
      if (sent < chunks) {
        const n = 2400, b = Buffer.alloc(n * 2);                   // 100 ms
        for (let i = 0; i < n; i++) b.writeInt16LE(Math.round(6000 * Math.sin(2 * Math.PI * 300 * (sent * n + i) / 24000)), 2 * i);
        this.send({ type: 'response.audio.delta', response_id: id, item_id: 'item_' + id, output_index: 0,
                    content_index: 0, delta: b.toString('base64') });
        sent++;
        this.resp.timer = setTimeout(tick, 40);
      } else {
        this.send({ type: 'response.audio_transcript.done', response_id: id, item_id: 'item_' + id, transcript: text });
        this.send({ type: 'response.done', response: { id, status: 'completed' } });
        this.resp = null;
      }
    };
    this.resp = { id, timer: setTimeout(tick, 20) };
  }
  stop() { if (this.resp) { clearTimeout(this.resp.timer); this.resp = null; } }
}

const server = http.createServer((req, res) => {
  if (req.url === '/_health') { res.writeHead(200); return res.end('ok'); }
  if (req.url === '/_log') { res.writeHead(200, { 'content-type': 'application/json' }); return res.end(JSON.stringify(log)); }
  res.writeHead(404); res.end();
});
server.on('upgrade', (req, socket) => {
  if (!req.url.startsWith('/v1/realtime?model=') || req.headers.authorization !== 'Bearer ' + key ||
      req.headers['openai-beta'] !== 'realtime=v1') {
    log.errors.push('bad upgrade ' + req.url + ' authorization ' + (req.headers.authorization ? 'present' : 'absent'));
    socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  log.connects++;
  const accept = crypto.createHash('sha1').update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  let h = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ' + accept + '\r\n';
  const proto = req.headers['sec-websocket-protocol'];
  if (proto) h += 'Sec-WebSocket-Protocol: ' + proto.split(',')[0].trim() + '\r\n';
  socket.write(h + '\r\n');
  new Conn(socket);
});
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
