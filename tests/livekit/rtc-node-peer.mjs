// A participant made with LiveKit's own Node SDK (@livekit/rtc-node, from
// tests/js/node_modules), for tests of callmesh's LiveKit room backend: it
// joins, publishes a tone, listens to one participant's audio for a while and
// prints what it heard as one JSON line, then leaves.
//
//   LK_URL=ws://… LK_TOKEN=<jwt> node tests/livekit/rtc-node-peer.mjs \
//       --listen <identity> --freq <Hz it expects> --tone <Hz it sends> --seconds <n>
//
// Output (stdout, last line):
//   {"heard":"<identity>","frames":N,"loud":N,"share":x}
// frames: 10 ms frames received from <identity>; loud: those whose RMS is
// above 800 (a tenth of the test tone's amplitude); share: the part of the
// loud frames' energy at --freq (Goertzel, 0..1). Exit 0 once measured, 1 on
// any failure (message on stderr), bounded by --seconds + 20 s.
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(resolve(here, "..", "js"), "package.json"));
const rtc = await import(require.resolve("@livekit/rtc-node"));

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}
const url = process.env.LK_URL, token = process.env.LK_TOKEN;
const listenTo = arg("listen"), freq = Number(arg("freq", "0")), tone = Number(arg("tone", "0"));
const seconds = Number(arg("seconds", "4"));
if (!url || !token || !listenTo || !(freq > 0) || !(tone > 0) || !(seconds > 0)) {
  console.error("usage: LK_URL=… LK_TOKEN=… rtc-node-peer.mjs --listen ID --freq HZ --tone HZ --seconds N");
  process.exit(2);
}
const guard = setTimeout(() => {
  console.error(`rtc-node-peer: not done after ${seconds + 20} s`);
  process.exit(1);
}, (seconds + 20) * 1000);

const RATE = 48000, AMPL = 8000;

function goertzelPower(x, f) {
  const w = (2 * Math.PI * f) / RATE, c = 2 * Math.cos(w);
  let s1 = 0, s2 = 0;
  for (let i = 0; i < x.length; i++) {
    const s0 = x[i] / 32768 + c * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return s1 * s1 + s2 * s2 - c * s1 * s2;
}

async function main() {
  const room = new rtc.Room();
  let track = null;
  room.on(rtc.RoomEvent.TrackSubscribed, (t, _pub, p) => {
    if (p.identity === listenTo && t.kind === rtc.TrackKind.KIND_AUDIO) track = t;
  });
  await room.connect(url, token, { autoSubscribe: true, dynacast: false });

  const source = new rtc.AudioSource(RATE, 1, 200);
  const local = rtc.LocalAudioTrack.createAudioTrack("tone", source);
  const opts = new rtc.TrackPublishOptions();
  opts.source = rtc.TrackSource.SOURCE_MICROPHONE;
  await room.localParticipant.publishTrack(local, opts);
  let sending = true;
  const sender = (async () => {
    let n = 0;
    for (let k = 0; sending && k < 100 * (seconds + 30); k++) {
      const data = new Int16Array(480);
      for (let i = 0; i < 480; i++, n++) data[i] = Math.round(AMPL * Math.sin((2 * Math.PI * tone * n) / RATE));
      await source.captureFrame(new rtc.AudioFrame(data, RATE, 1, 480));
    }
  })();

  for (let i = 0; !track && i < 200; i++) await new Promise((r) => setTimeout(r, 50));
  if (!track) throw new Error(`no audio track of ${listenTo} within 10 s`);
  const stream = new rtc.AudioStream(track, RATE, 1);
  let frames = 0, loud = 0, pAt = 0, energy = 0;
  const end = Date.now() + seconds * 1000;
  const reader = stream[Symbol.asyncIterator]();
  while (Date.now() < end) {
    const { value: frame, done } = await reader.next();
    if (done) break;
    frames++;
    let e = 0;
    for (const v of frame.data) e += v * v;
    if (Math.sqrt(e / frame.data.length) > AMPL / 10) {
      loud++;
      pAt += (2 * goertzelPower(frame.data, freq)) / frame.data.length;
      energy += e / (32768 * 32768);
    }
  }
  sending = false;
  await sender;
  await reader.return?.();
  await room.disconnect();
  console.log(JSON.stringify({ heard: listenTo, frames, loud, share: energy > 0 ? pAt / energy : 0 }));
}

main()
  .then(async () => {
    clearTimeout(guard);
    await rtc.dispose?.();
    process.exit(0);
  })
  .catch((e) => {
    console.error(`rtc-node-peer: ${e?.stack || e}`);
    process.exit(1);
  });
