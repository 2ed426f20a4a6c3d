// A person in a browser calling the agent, played with LiveKit's own Node SDK
// (@livekit/rtc-node from tests/js/node_modules): joins with the token that
// POST /web_call/get_token returned, stays silent until the agent has spoken
// and fallen quiet again (its greeting), then says a sentence from a WAV,
// listens to the answer, and leaves. What it heard goes to stdout as one JSON
// line, so the C test can check it against the call record.
//
//   LK_URL=ws://… LK_TOKEN=<jwt> node tests/livekit/web-caller.mjs \
//       --wav <16-bit PCM WAV> --seconds <n> [--quiet-ms 1200] [--leave 1]
//
// Output (stdout, last line):
//   {"joined_at", "greeting": {"first_at", "last_at", "loud"},
//    "said": {"start_at", "end_at"}, "answer": {"first_at", "loud"},
//    "data": {"call_events": N, "types": [...]}, "frames": N}
// Times are wall clock (ms since the epoch). "Loud": 20 ms frames whose RMS is
// above LOUD (of ±32768) from any agent-* participant. The greeting is the
// first run of loud frames, ended by --quiet-ms without one; the answer is
// every loud frame after the sentence ended. Exit 0 once done (whatever was
// heard: the C test judges), 1 on a failure to join or publish; bounded by
// --seconds + 20 s.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { readWav } from "./sip.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(resolve(here, "..", "js"), "package.json"));
const rtc = await import(require.resolve("@livekit/rtc-node"));

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}
const url = process.env.LK_URL, token = process.env.LK_TOKEN;
const wavPath = arg("wav"), seconds = Number(arg("seconds", "20"));
const quietMs = Number(arg("quiet-ms", "1200"));
const leave = arg("leave", "1") !== "0";
if (!url || !token || !wavPath || !(seconds > 0)) {
  console.error("usage: LK_URL=… LK_TOKEN=… web-caller.mjs --wav FILE --seconds N");
  process.exit(2);
}
const guard = setTimeout(() => {
  console.error(`web-caller: not done after ${seconds + 20} s`);
  process.exit(1);
}, (seconds + 20) * 1000);

const RATE = 48000, FRAME = 960, LOUD = 300;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const speech = readWav(readFileSync(wavPath));
  const room = new rtc.Room();
  const out = {
    joined_at: 0, greeting: { first_at: 0, last_at: 0, loud: 0 }, said: { start_at: 0, end_at: 0 },
    answer: { first_at: 0, loud: 0 }, data: { call_events: 0, types: [] }, frames: 0,
  };
  const readers = [];
  let stop = false;
  const listen = async (track) => {
    const stream = new rtc.AudioStream(track, RATE, 1);
    const it = stream[Symbol.asyncIterator]();
    readers.push(it);
    for (let k = 0; !stop && k < 50 * (seconds + 30); k++) {
      const { value: frame, done } = await it.next();
      if (done) break;
      out.frames++;
      let e = 0;
      for (const v of frame.data) e += v * v;
      if (Math.sqrt(e / frame.data.length) <= LOUD) continue;
      const now = Date.now();
      if (out.said.end_at && now > out.said.end_at) {
        out.answer.loud++;
        if (!out.answer.first_at) out.answer.first_at = now;
      } else if (!out.said.start_at) {
        out.greeting.loud++;
        if (!out.greeting.first_at) out.greeting.first_at = now;
        out.greeting.last_at = now;
      }
    }
  };
  room.on(rtc.RoomEvent.TrackSubscribed, (t, _pub, p) => {
    if (p.identity.startsWith("agent-") && t.kind === rtc.TrackKind.KIND_AUDIO) listen(t);
  });
  room.on(rtc.RoomEvent.DataReceived, (payload, _p, _kind, topic) => {
    if (topic !== "call_events") return;
    out.data.call_events++;
    try {
      const ev = JSON.parse(Buffer.from(payload).toString("utf8"));
      if (!out.data.types.includes(ev.type)) out.data.types.push(ev.type);
    } catch {
      out.data.types.push("(not JSON)");
    }
  });
  await room.connect(url, token, { autoSubscribe: true, dynacast: false });
  out.joined_at = Date.now();

  const source = new rtc.AudioSource(RATE, 1, 200);
  const local = rtc.LocalAudioTrack.createAudioTrack("microphone", source);
  const opts = new rtc.TrackPublishOptions();
  opts.source = rtc.TrackSource.SOURCE_MICROPHONE;
  await room.localParticipant.publishTrack(local, opts);

  // silence (a real microphone's room tone) until the greeting is over
  const silence = new Int16Array(FRAME);
  const end = Date.now() + seconds * 1000;
  const greeted = () => out.greeting.last_at && Date.now() - out.greeting.last_at >= quietMs;
  while (Date.now() < end && !greeted())
    await source.captureFrame(new rtc.AudioFrame(silence, RATE, 1, FRAME));
  if (greeted()) {
    out.said.start_at = Date.now();
    for (let off = 0; off + FRAME <= speech.length; off += FRAME)
      await source.captureFrame(new rtc.AudioFrame(speech.slice(off, off + FRAME), RATE, 1, FRAME));
    await source.waitForPlayout?.();
    out.said.end_at = Date.now();
  }
  while (Date.now() < end)
    await source.captureFrame(new rtc.AudioFrame(silence, RATE, 1, FRAME));
  stop = true;
  for (const it of readers) await it.return?.();
  if (leave) await room.disconnect();
  else await sleep(100);
  console.log(JSON.stringify(out));
}

main()
  .then(async () => {
    clearTimeout(guard);
    await rtc.dispose?.();
    process.exit(0);
  })
  .catch((e) => {
    console.error(`web-caller: ${e?.stack || e}`);
    process.exit(1);
  });
