// Opens tests/js/room-local/page.html in headless Chromium (playwright-core,
// Debian's /usr/bin/chromium) with a WAV file as the fake microphone, joins
// the local room at --url with --token, and prints the page's findings as one
// line "RESULT {json}". Driven by tests/integration/test_room_ws.c, which
// runs nats-server, room-manager and the RTP peer the page talks to.
//   node tests/js/room_local_page.mjs --url ws://… --token … --wav f.wav [--send pcm] [--receive pcm]
// With --api http://… --key K --assistant ID instead of --url/--token, the
// page is loaded first and then this script asks api-gateway for the web
// call (POST /web_call/get_token) and prints its reply as "TOKEN {json}"
// before handing url and token to the page (so the page is in the room as
// soon as possible after the agent is dispatched).
// Optional: --listen_ms, --loud_rms, --loud_windows, --mute_ms (see the page).
import { chromium } from 'playwright-core';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const args = {};
for (let i = 2; i + 1 < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const k of args.api ? ['key', 'assistant', 'wav'] : ['url', 'token', 'wav'])
  if (!args[k]) { console.error(`--${k}: missing`); process.exit(2); }

// the page and the module, nothing else
const files = {
  '/page.html': ['tests/js/room-local/page.html', 'text/html'],
  '/console/room-local.js': ['console/room-local.js', 'text/javascript'],
};
const server = createServer(async (req, res) => {
  const f = files[new URL(req.url, 'http://x').pathname];
  if (!f) { res.writeHead(req.url === '/favicon.ico' ? 204 : 404).end(); return; }
  res.writeHead(200, { 'content-type': f[1] }).end(await readFile(path.join(root, f[0])));
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const port = server.address().port;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
         `--use-file-for-fake-audio-capture=${args.wav}`, '--autoplay-policy=no-user-gesture-required',
         '--no-sandbox'],
});
let code = 1;
try {
  const page = await browser.newPage();
  page.on('console', (m) => console.error('page:', m.text()));
  page.on('pageerror', (e) => console.error('page error:', e.message));
  const q = new URLSearchParams({ listen_ms: args.listen_ms || '15000' });
  for (const k of ['url', 'token', 'send', 'receive', 'loud_rms', 'loud_windows', 'mute_ms'])
    if (args[k]) q.set(k, args[k]);
  await page.goto(`http://127.0.0.1:${port}/page.html?${q}`);
  if (args.api) {
    await page.waitForFunction(() => window.ready === true, null, { timeout: 10000 });
    const r = await fetch(`${args.api}/web_call/get_token`, {
      method: 'POST',
      headers: { authorization: `Bearer ${args.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ assistant_id: args.assistant }),
    });
    const body = await r.json();
    console.log('TOKEN ' + JSON.stringify({ status: r.status, ...body }));
    if (r.status !== 200) throw new Error(`get_token: ${r.status} ${body.message}`);
    await page.evaluate(([u, t]) => window.join(u, t), [body.data.url, body.data.token]);
  }
  await page.waitForFunction(() => window.result !== null, null, { timeout: 40000 });
  console.log('RESULT ' + JSON.stringify(await page.evaluate(() => window.result)));
  code = 0;
} catch (e) {
  console.error('room_local_page:', e.message);
} finally {
  await browser.close();
  server.close();
}
process.exit(code);
