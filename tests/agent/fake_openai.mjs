// A stand-in for an OpenAI-compatible API, for the agent-worker's openai
// providers: checks each request's shape (400 with the reason when it is
// wrong), answers like the real service (SSE token stream with pauses, raw
// 24 kHz PCM speech) and keeps a log of what it was asked (GET /_requests).
//   node tests/agent/fake_openai.mjs <port> [api-key]
import http from 'node:http';

const port = Number(process.argv[2] || 0);
const key = process.argv[3] || 'test-key';
const log = [];
const REPLY = ['We are', ' open nine', ' to five.', ' Anything', ' else', ' today?'];
const PAUSE_BEFORE = 3;      // index of the token after which the stream pauses
const PAUSE_MS = 600;
const TRANSCRIPT = 'what are your hours';

function fail(res, code, why) {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { message: why, type: 'invalid_request_error' } }));
}

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

async function transcriptions(req, res, body, entry) {
  const ct = req.headers['content-type'] || '';
  const m = /boundary=(.+)$/.exec(ct);
  if (!ct.startsWith('multipart/form-data') || !m) return fail(res, 400, 'multipart/form-data expected');
  const text = body.toString('latin1');
  const file = /name="file"; filename="([^"]+)"\r\nContent-Type: ([^\r]+)\r\n\r\n/.exec(text);
  const model = /name="model"\r\n\r\n([^\r]+)\r\n/.exec(text);
  if (!file) return fail(res, 400, 'file part missing');
  if (!model) return fail(res, 400, 'model part missing');
  const start = file.index + file[0].length;
  const wav = body.subarray(start, start + 44);
  if (wav.toString('latin1', 0, 4) !== 'RIFF' || wav.toString('latin1', 8, 12) !== 'WAVE')
    return fail(res, 400, 'file is not a WAV');
  entry.model = model[1];
  entry.filename = file[1];
  entry.sample_rate = wav.readUInt32LE(24);
  entry.bits = wav.readUInt16LE(34);
  entry.bytes = wav.readUInt32LE(40);
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ text: TRANSCRIPT }));
}

async function chat(req, res, body, entry) {
  let j;
  try { j = JSON.parse(body.toString()); } catch { return fail(res, 400, 'body is not JSON'); }
  if (typeof j.model !== 'string') return fail(res, 400, 'model required');
  if (j.stream !== true) return fail(res, 400, 'stream must be true');
  if (!Array.isArray(j.messages) || j.messages.length === 0) return fail(res, 400, 'messages required');
  for (const m of j.messages)
    if (!['system', 'user', 'assistant'].includes(m.role) || typeof m.content !== 'string')
      return fail(res, 400, 'bad message');
  entry.model = j.model;
  entry.messages = j.messages;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const id = 'chatcmpl-fake';
  const send = (delta, finish) => res.write('data: ' + JSON.stringify({
    id, object: 'chat.completion.chunk', created: 0, model: j.model,
    choices: [{ index: 0, delta, finish_reason: finish }] }) + '\n\n');
  send({ role: 'assistant', content: '' }, null);
  for (let i = 0; i < REPLY.length; i++) {
    if (i === PAUSE_BEFORE) await new Promise((r) => setTimeout(r, PAUSE_MS));
    send({ content: REPLY[i] }, null);
    await new Promise((r) => setTimeout(r, 10));
  }
  send({}, 'stop');
  res.end('data: [DONE]\n\n');
}

async function speech(req, res, body, entry) {
  let j;
  try { j = JSON.parse(body.toString()); } catch { return fail(res, 400, 'body is not JSON'); }
  for (const f of ['model', 'input', 'voice'])
    if (typeof j[f] !== 'string' || !j[f]) return fail(res, 400, f + ' required');
  if (j.response_format !== 'pcm') return fail(res, 400, 'response_format must be pcm');
  entry.model = j.model;
  entry.input = j.input;
  entry.voice = j.voice;
  // 50 ms of a 440 Hz tone per character, 24 kHz, 16-bit little endian
  const n = j.input.length * 1200;
  const buf = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) buf.writeInt16LE(Math.round(8000 * Math.sin(2 * Math.PI * 440 * i / 24000)), 2 * i);
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  res.end(buf);
}

const server = http.createServer(async (req, res) => {
  const body = await readBody(req);
  if (req.method === 'GET' && req.url === '/_health') { res.writeHead(200); return res.end('ok'); }
  if (req.method === 'GET' && req.url === '/_requests') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify(log));
  }
  const entry = { method: req.method, path: req.url };
  log.push(entry);
  if (req.headers.authorization !== 'Bearer ' + key) { entry.status = 401; return fail(res, 401, 'bad key'); }
  if (req.method !== 'POST') return fail(res, 405, 'POST only');
  if (req.url === '/v1/audio/transcriptions') return transcriptions(req, res, body, entry);
  if (req.url === '/v1/chat/completions') return chat(req, res, body, entry);
  if (req.url === '/v1/audio/speech') return speech(req, res, body, entry);
  return fail(res, 404, 'no such endpoint');
});
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
