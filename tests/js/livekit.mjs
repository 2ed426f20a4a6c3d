// Proves the LiveKit test server (tests/livekit/fake.mjs) with LiveKit's own
// clients: @livekit/rtc-node (LiveKit's Rust engine through its FFI),
// livekit-client in Debian's headless Chromium, livekit-server-sdk's SipClient.
// WebRTC media needs a non-loopback interface: run inside a namespace,
//
//   tests/netns/run.sh node tests/js/livekit.mjs [name-filter]
//
// Prints one line per test and "N passed, M failed" last.
import { startServer, token, publishTone, listen, until, within, sleep, rtc, KEY, SECRET } from "./lk-helpers.mjs";

const tests = [];
const test = (name, fn) => tests.push({ name, fn });
const assert = (cond, msg) => {
  if (!cond) throw new Error(msg);
};

let server;
const cleanups = [];
const later = (fn) => cleanups.push(fn);

async function connect(identity, room, grants, opts) {
  const r = new rtc.Room();
  await r.connect(server.ws, await token(identity, room, grants, opts), { autoSubscribe: true, dynacast: false });
  later(() => r.disconnect());
  return r;
}

// The first remote audio track of `identity` that `room` subscribes to.
function remoteTrack(room, identity) {
  return new Promise((ok) => {
    for (const p of room.remoteParticipants.values()) {
      if (p.identity !== identity) continue;
      for (const pub of p.trackPublications.values()) if (pub.track) return ok(pub.track);
    }
    const on = (track, pub, participant) => {
      if (participant.identity !== identity) return;
      room.off(rtc.RoomEvent.TrackSubscribed, on);
      ok(track);
    };
    room.on(rtc.RoomEvent.TrackSubscribed, on);
  });
}

function dataOn(room, topic) {
  const got = [];
  room.on(rtc.RoomEvent.DataReceived, (payload, participant, kind, t) => {
    if (t === topic) got.push({ text: new TextDecoder().decode(payload), from: participant?.identity });
  });
  return got;
}

test("two rtc-node participants hear each other's tone and exchange data", async () => {
  const a = await connect("alice", "r1");
  const b = await connect("bob", "r1");
  await until("alice sees bob", () => [...a.remoteParticipants.values()].some((p) => p.identity === "bob"));
  const toneA = await publishTone(a, 440);
  const toneB = await publishTone(b, 1000);
  later(() => toneA.stop());
  later(() => toneB.stop());
  const atB = listen(await within("bob subscribes", remoteTrack(b, "alice"), 15000));
  const atA = listen(await within("alice subscribes", remoteTrack(a, "bob"), 15000));
  later(() => atA.stop());
  later(() => atB.stop());
  await until("bob hears 440 Hz", () => {
    const m = atB.measure(440);
    return m.share > 0.5 && m.rms > 0.05 && m;
  }, 15000);
  await until("alice hears 1000 Hz", () => {
    const m = atA.measure(1000);
    return m.share > 0.5 && m.rms > 0.05 && m;
  }, 15000);
  await sleep(1000); // a full window of steady audio for the figures below
  const steadyB = atB.measure(440, 1000), steadyA = atA.measure(1000, 1000);
  assert(steadyB.share > 0.8, `bob: 440 Hz is ${steadyB.share.toFixed(2)} of what he hears`);
  assert(steadyA.share > 0.8, `alice: 1000 Hz is ${steadyA.share.toFixed(2)} of what she hears`);
  assert(atB.measure(1000).share < 0.1, "bob hears his own tone");
  assert(atA.measure(440).share < 0.1, "alice hears her own tone");
  console.log(`  bob: 440 Hz share ${steadyB.share.toFixed(2)} rms ${steadyB.rms.toFixed(3)}; ` +
    `alice: 1000 Hz share ${steadyA.share.toFixed(2)} rms ${steadyA.rms.toFixed(3)} (sent rms 0.212)`);
  const gotA = dataOn(a, "chat"), gotB = dataOn(b, "chat");
  await a.localParticipant.publishData(new TextEncoder().encode("hi bob"), { reliable: true, topic: "chat" });
  await b.localParticipant.publishData(new TextEncoder().encode("hi alice"), { reliable: true, topic: "chat" });
  await until("data both ways", () => gotA.length && gotB.length, 5000);
  assert(gotB[0].text === "hi bob" && gotB[0].from === "alice", `bob got ${JSON.stringify(gotB)}`);
  assert(gotA[0].text === "hi alice" && gotA[0].from === "bob", `alice got ${JSON.stringify(gotA)}`);
});

test("a token signed with the wrong secret is refused; /rtc/v1 answers 404", async () => {
  const r = new rtc.Room();
  let err = null;
  try {
    await r.connect(server.ws, await token("mallory", "r2", {}, { secret: "not-the-secret-0123456789abcdef" }),
      { autoSubscribe: true, dynacast: false });
  } catch (e) {
    err = e;
  }
  await r.disconnect().catch(() => {});
  assert(err, "connect with a bad signature succeeded");
  const good = await token("x", "r2");
  const v1 = await fetch(`${server.url}/rtc/v1/validate?access_token=${good}`);
  assert(v1.status === 404, `/rtc/v1/validate answered ${v1.status}`);
  const bad = await fetch(`${server.url}/rtc/validate?access_token=${await token("m", "r2", {}, { secret: "wrong-secret-0123456789abcdefgh" })}`);
  const why = await bad.text();
  assert(bad.status === 401 && /signature/.test(why), `bad token: ${bad.status} ${why}`);
  const ok = await fetch(`${server.url}/rtc/validate?access_token=${good}`);
  assert(ok.status === 200, `good token: ${ok.status}`);
});

const filter = process.argv[2];
let passed = 0, failed = 0;
server = await startServer();
for (const t of tests) {
  if (filter && !t.name.includes(filter)) continue;
  const t0 = Date.now();
  try {
    await t.fn();
    passed++;
    console.log(`ok   ${t.name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${t.name}: ${e.stack || e}`);
  }
  for (const c of cleanups.splice(0).reverse()) await Promise.race([Promise.resolve().then(c).catch(() => {}), sleep(3000)]);
}
if (failed) console.log(`--- server log ---\n${server.log().slice(-20000)}`);
await server.stop();
await rtc.dispose?.();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
