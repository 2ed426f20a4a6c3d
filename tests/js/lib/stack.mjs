// The whole embedded stack for a JS test, on free ports in a private
// directory: nats-server (JetStream), a private PostgreSQL (scripts/pg.sh),
// the bundled phone simulator (deploy/local/phone.sh, sipp) and the five
// service binaries from $CALLMESH_BUILD/bin. Everything is stopped by pid.
// With `livekit: true` the rooms are LiveKit's: the LiveKit test server
// (tests/livekit/fake.mjs) listens on $CALLMESH_NETNS_ADDR — WebRTC needs the
// network namespace of tests/netns/run.sh — and every service gets
// LIVEKIT_URL/KEY/SECRET (api-gateway the key and secret, for webhooks,
// which the server sends to its /livekit/webhook).
import { spawn, execFile } from 'node:child_process';
import { mkdirSync, openSync, rmSync, existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const BUILD = process.env.CALLMESH_BUILD || 'build';

// Ports below the kernel's ephemeral range (32768 and up), where no other
// connect() or listen(0) on the machine can take one before its user binds
// it, and apart from the RTP ranges tests give services (20000 and up); as
// tests/harness/procs.c, walked from a start of this process's own.
const PORT_LO = 10000, PORT_HI = 20000;
let nextPort = PORT_LO + Math.floor(Math.random() * (PORT_HI - PORT_LO));

function tryPort(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.unref();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export async function freePort() {
  for (let tries = 0; tries < PORT_HI - PORT_LO; tries++) {
    const port = nextPort;
    nextPort = nextPort + 1 < PORT_HI ? nextPort + 1 : PORT_LO;
    if (await tryPort(port)) return port;
  }
  throw new Error(`no free port in ${PORT_LO}-${PORT_HI - 1}`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(what, fn, timeoutMs = 30000, stepMs = 100) {
  const end = Date.now() + timeoutMs;
  let last;
  for (let i = 0; Date.now() < end && i < 100000; i++) {
    try { const v = await fn(); if (v) return v; } catch (e) { if (e.fatal) throw e; last = e; }
    await sleep(stepMs);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

const tcpOpen = (port) => new Promise((resolve) => {
  const s = net.connect(port, '127.0.0.1');
  s.on('connect', () => { s.destroy(); resolve(true); });
  s.on('error', () => resolve(false));
});

export const LK_KEY = 'devkey';
export const LK_SECRET = 'devsecret-for-the-console-livekit-test';

// Starts the LiveKit test server on `host`, port 0; resolves with its URL
// (http://host:port) once its ready file is written.
async function startLiveKit(startProc, dir, host, webhookUrl) {
  const ready = path.join(dir, 'livekit-ready');
  const p = startProc('livekit', process.execPath, [path.join(ROOT, 'tests/livekit/fake.mjs'), '--host', host, '--port', '0',
    '--key', LK_KEY, '--secret', LK_SECRET, '--ready-file', ready, '--webhook-url', webhookUrl], {});
  await waitFor('the LiveKit test server\'s ready file', () => {
    if (p.exitCode !== null) throw Object.assign(new Error(`the LiveKit test server exited ${p.exitCode} (log/livekit.log)`), { fatal: true });
    return existsSync(ready) && readFileSync(ready, 'utf8').trim();
  }, 20000);
  return readFileSync(ready, 'utf8').trim();
}

export async function startStack({ name = 'stack', env: extraEnv = {}, livekit = false } = {}) {
  const lkHost = process.env.CALLMESH_NETNS_ADDR;
  if (livekit && !lkHost) {
    throw new Error('the LiveKit stack needs a network namespace (WebRTC gathers no loopback candidates): '
      + 'run the test through tests/netns/run.sh');
  }
  const dir = path.join(ROOT, BUILD, 'js-stack', `${name}-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(path.join(dir, 'log'), { recursive: true });
  const procs = [];
  const st = { dir, procs, key: 'test-key-console-0001' };
  function startProc(label, cmd, args, env) {
    const fd = openSync(path.join(dir, 'log', `${label}.log`), 'a');
    const p = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', fd, fd] });
    procs.push({ label, p });
    return p;
  }
  // Stops everything by pid; returns each process's exit code ('signal'
  // when it died of one before we asked, 'killed' when SIGTERM was not enough).
  st.stop = async () => {
    const codes = {};
    for (const { label, p } of [...procs].reverse()) {
      if (p.exitCode !== null || p.signalCode !== null) { codes[label] = p.exitCode ?? 'signal'; continue; }
      p.kill('SIGTERM');
      const gone = await Promise.race([new Promise((r) => p.once('exit', () => r(true))), sleep(10000).then(() => false)]);
      if (!gone) p.kill('SIGKILL');
      codes[label] = gone ? p.exitCode : 'killed';
    }
    if (st.pgStarted) await run(path.join(ROOT, 'scripts/pg.sh'), ['stop', path.join(dir, 'pg')]).catch(() => {});
    return codes;
  };
  try {
    const natsPort = await freePort();
    startProc('nats-server', 'nats-server', ['-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', path.join(dir, 'nats')], {});
    await waitFor('nats-server', () => tcpOpen(natsPort), 20000);
    const pgPort = await freePort();
    await run(path.join(ROOT, 'scripts/pg.sh'), ['start', path.join(dir, 'pg'), String(pgPort)], { timeout: 90000 });
    st.pgStarted = true;
    const phonePort = await freePort();
    const phoneMedia = 20000 + 2 * Math.floor(Math.random() * 4000);
    startProc('phone', path.join(ROOT, 'deploy/local/phone.sh'), [String(phonePort)], {
      PHONE_DIR: path.join(dir, 'phone'), PHONE_LOG_DIR: path.join(dir, 'log'), PHONE_MEDIA_PORT: String(phoneMedia),
    });
    await waitFor('phone simulator', () => tcpOpen(phonePort), 20000);
    const apiPort = await freePort();
    const wsPort = await freePort(); // room-manager's browser members (ROOM_WS_ADDR), where it has them
    let lk = null;
    if (livekit) {
      const url = await startLiveKit(startProc, dir, lkHost, `http://127.0.0.1:${apiPort}/livekit/webhook`);
      lk = { url, key: LK_KEY, secret: LK_SECRET };
    }
    const lkEnv = lk ? { LIVEKIT_URL: lk.url, LIVEKIT_API_KEY: lk.key, LIVEKIT_API_SECRET: lk.secret } : {};
    const lkCreds = lk ? { LIVEKIT_API_KEY: lk.key, LIVEKIT_API_SECRET: lk.secret } : {};
    const sipPort = await freePort();
    const rtpBase = 40000 + 40 * Math.floor(Math.random() * 200);
    const rec = path.join(dir, 'recordings');
    mkdirSync(rec, { recursive: true });
    const common = { NATS_URL: `nats://127.0.0.1:${natsPort}`, LOG_FORMAT: 'kv', LOG_LEVEL: 'debug' };
    // test-only secrets (tests/harness/test.h has the same): sealed trunk passwords, signed webhooks
    const SECRETS_KEY = 'dGVzdC1vbmx5LXNlY3JldHMta2V5LTMyLWJ5dGVzISE=';
    const per = {
      'api-gateway': {
        DATABASE_URL: `postgresql://callmesh@127.0.0.1:${pgPort}/callmesh`, API_ADDR: `127.0.0.1:${apiPort}`, API_KEYS: st.key,
        MIGRATIONS_DIR: 'services/api-gateway/migrations', RECORDINGS_DIR: rec, CONSOLE_DIR: 'console',
        SECRETS_KEY, WEBHOOK_SIGNING_SECRET: 'test-only-webhook-signing-secret-0123456789',
        OUTBOUND_ALLOW_PRIVATE: 'true', ...lkCreds,
      },
      'room-manager': lk ? { ROOM_BACKEND: 'livekit', RECORDINGS_DIR: rec, ...lkEnv }
        : { ROOM_BACKEND: 'local', ROOM_WS_ADDR: `127.0.0.1:${wsPort}`, RECORDINGS_DIR: rec, RTP_PORT_MIN: String(rtpBase), RTP_PORT_MAX: String(rtpBase + 19) },
      'twilio-dialer': { ...lkEnv },
      'sip-bridge': { SECRETS_KEY, SIP_BIND: `127.0.0.1:${sipPort}`, MAX_CALLS: '4', RTP_PORT_MIN: String(rtpBase + 20), RTP_PORT_MAX: String(rtpBase + 39), ...lkEnv },
      'agent-worker': { ...lkEnv },
    };
    st.health = {};
    for (const [svc, env] of Object.entries(per)) {
      const hp = await freePort();
      st.health[svc] = hp;
      // CALLMESH_BIN_API_GATEWAY=… runs one service from another build (e.g. under ASan)
      const bin = process.env[`CALLMESH_BIN_${svc.toUpperCase().replace('-', '_')}`] || path.join(ROOT, BUILD, 'bin', svc);
      startProc(svc, bin, [], { ...common, HEALTH_ADDR: `127.0.0.1:${hp}`, ...env, ...(extraEnv[svc] || {}) });
    }
    for (const [svc, hp] of Object.entries(st.health)) {
      const proc = procs.find((x) => x.label === svc).p;
      await waitFor(`${svc} /readyz`, async () => {
        if (proc.exitCode !== null) throw Object.assign(new Error(`${svc} exited ${proc.exitCode}`), { fatal: true });
        return (await fetch(`http://127.0.0.1:${hp}/readyz`)).ok;
      }, 60000, 200);
    }
    Object.assign(st, { natsPort, pgPort, phonePort, apiPort, sipPort, recordings: rec, base: `http://127.0.0.1:${apiPort}`, livekit: lk });
    st.api = async (method, p, body, key = st.key) => {
      const res = await fetch(st.base + p, {
        method, headers: { Authorization: `Bearer ${key}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      const json = await res.json().catch(() => null);
      return { status: res.status, json, data: json && json.data };
    };
    return st;
  } catch (e) {
    await st.stop();
    for (const f of ['livekit', 'api-gateway', 'room-manager', 'sip-bridge', 'agent-worker']) {
      const lf = path.join(dir, 'log', `${f}.log`);
      if (existsSync(lf)) console.log(`--- ${f}.log (tail)\n${readFileSync(lf, 'utf8').split('\n').slice(-15).join('\n')}`);
    }
    throw e;
  }
}

// The demo's assistant and the trunk that points at this stack's phone simulator.
export async function seed(st) {
  const a = await st.api('POST', '/assistants', {
    assistant_name: 'Demo clinic front desk',
    assistant_prompt: 'You are the front desk of a small clinic. Be brief and polite.',
    assistant_mode: 'pipeline',
    assistant_start_instruction: 'Hello {{name}}, this is the clinic calling about your appointment.',
    assistant_interaction_config: { speaks_first: true, silence_timeout_s: 10, max_reprompts: 2, fillers_enabled: true },
    assistant_stt_config: { provider: 'local' },
    // the page's audio path is under test, not the recogniser: "your" catches the
    // runs where espeak's question through the browser is misheard around it
    assistant_llm_config: { provider: 'local', script: [{ match: 'hours', reply: 'We are open nine to five.' }, { match: 'what are your', reply: 'We are open nine to five.' }, { match: 'your', reply: 'We are open nine to five.' }] },
    assistant_tts_config: { provider: 'local' },
    assistant_end_call_url: null,
  });
  const t = await st.api('POST', '/trunks', {
    trunk_name: 'Local phone simulator', trunk_type: 'exotel',
    trunk_config: { sip_host: '127.0.0.1', sip_port: st.phonePort, transport: 'tcp', sip_domain: '127.0.0.1', username: 'dev', password: 'dev-password', numbers: ['+918044319240'] },
  });
  if (a.status !== 201 && a.status !== 200) throw new Error(`seed assistant: ${a.status} ${JSON.stringify(a.json)}`);
  if (t.status !== 201 && t.status !== 200) throw new Error(`seed trunk: ${t.status} ${JSON.stringify(t.json)}`);
  return { assistantId: a.data.assistant_id, trunkId: t.data.trunk_id };
}
