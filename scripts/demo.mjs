// The demo call of `make run`: seeds a dev assistant and an Exotel trunk that
// points at the bundled phone simulator (deploy/local/phone.sh), places one
// outbound call, prints its events as they happen and then its stored record.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

const api = `http://${process.env.API_ADDR || '127.0.0.1:8080'}`;
const key = (process.env.API_KEYS || 'dev-key-callmesh').split(',')[0].trim();
const build = process.env.BUILD || 'build';
const phonePort = Number(process.env.PHONE_PORT || 5070);
const deadlineMs = Number(process.env.DEMO_TIMEOUT_S || 90) * 1000;
const terminal = new Set(['completed', 'busy', 'no_answer', 'rejected', 'cancelled',
  'unreachable', 'timeout', 'failed']);

async function call(method, path, body) {
  const res = await fetch(api + path, {
    method,
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) {
    const e = json.error || {};
    throw new Error(`${method} ${path}: ${res.status} ${e.code || ''} ${e.field || ''} ${json.message || ''}`);
  }
  return json.data;
}

async function findOrCreate(listPath, nameField, name, create) {
  const list = await call('GET', `${listPath}?limit=100`);
  const items = list[listPath.slice(1)] || [];
  const found = items.find((x) => x[nameField] === name);
  return found || create();
}

// The demo assistant is the phone simulator's counterpart: its script answers
// the simulator's question (deploy/local/caller-audio.sh), and
// tests/unit/test_agent_phone.c hears that audio against this same file.
const demoAssistant = JSON.parse(readFileSync(new URL('../deploy/local/demo-assistant.json', import.meta.url), 'utf8'));
const assistant = await findOrCreate('/assistants', 'assistant_name', demoAssistant.assistant_name, () =>
  call('POST', '/assistants', demoAssistant));
const trunk = await findOrCreate('/trunks', 'trunk_name', 'Local phone simulator', () =>
  call('POST', '/trunks', {
    trunk_name: 'Local phone simulator',
    trunk_type: 'exotel',
    trunk_config: { sip_host: '127.0.0.1', sip_port: phonePort, transport: 'tcp', sip_domain: '127.0.0.1',
      username: 'dev', password: 'dev-password', numbers: ['+918044319240'] },
  }));
const assistantId = assistant.assistant_id;
const trunkId = trunk.trunk_id;
console.log(`demo: assistant ${assistantId}, trunk ${trunkId} -> phone simulator on 127.0.0.1:${phonePort}`);

// Subscribe before placing the call so that call_queued is not missed.
const events = spawn(`${build}/bin/callmesh-events`, ['calls.>'], { stdio: ['ignore', 'pipe', 'inherit'] });
let callId = null;
const early = [];
let buf = '';
events.stdout.on('data', (chunk) => {
  buf += chunk;
  let nl;
  while ((nl = buf.indexOf('\n')) >= 0) {
    const line = buf.slice(0, nl);
    buf = buf.slice(nl + 1);
    if (!callId) { early.push(line); continue; }
    if (line.includes(callId)) printEvent(line);
  }
});
function printEvent(line) {
  const sp = line.indexOf(' ');
  try {
    const ev = JSON.parse(line.slice(sp + 1));
    console.log(`event: ${ev.ts} ${ev.type.padEnd(18)} ${ev.source.padEnd(28)} ${JSON.stringify(ev.data)}`);
  } catch { console.log(`event: ${line}`); }
}
await new Promise((r) => setTimeout(r, 300)); // let the subscription reach the server

let exitCode = 0;
try {
  const placed = await call('POST', '/call/outbound', {
    assistant_id: assistantId, trunk_id: trunkId, to_number: '+919876543210',
    call_service: 'exotel', metadata: { name: 'Asha' },
  });
  callId = placed.call_id;
  console.log(`demo: call ${callId} queued in room ${placed.room_name}`);
  early.filter((l) => l.includes(callId)).forEach(printEvent);

  const t0 = Date.now();
  let record;
  for (;;) {
    record = await call('GET', `/calls/${callId}`);
    if (terminal.has(record.status) || Date.now() - t0 > deadlineMs) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  await new Promise((r) => setTimeout(r, 1500)); // last events (recording, webhook) still arriving
  record = await call('GET', `/calls/${callId}`);
  console.log('\ndemo: stored call record');
  const { transcripts = [], events: evs = [], ...columns } = record;
  for (const [k, v] of Object.entries(columns)) console.log(`  ${k.padEnd(16)} ${typeof v === 'object' ? JSON.stringify(v) : v}`);
  console.log(`  transcript (${transcripts.length} lines)`);
  for (const t of transcripts) console.log(`    [${t.timestamp}] ${t.speaker}: ${t.text}`);
  console.log(`  events (${evs.length}): ${evs.map((e) => e.type).join(', ')}`);
  if (!terminal.has(record.status)) { console.log(`demo: call still ${record.status} after ${deadlineMs / 1000} s`); exitCode = 1; }
} catch (e) {
  console.error(`demo: ${e.message}`);
  exitCode = 1;
} finally {
  events.kill('SIGTERM');
}
process.exit(exitCode);
