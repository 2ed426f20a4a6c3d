// Proves the LiveKit test server (tests/livekit/fake.mjs) with LiveKit's own
// clients: @livekit/rtc-node (LiveKit's Rust engine through its FFI),
// livekit-client in Debian's headless Chromium, livekit-server-sdk's SipClient.
// WebRTC media needs a non-loopback interface: run inside a namespace,
//
//   tests/netns/run.sh node tests/js/livekit.mjs [name-filter]
//
// Prints one line per test and "N passed, M failed" last.
import http from "node:http";
import { SipClient, RoomServiceClient, WebhookReceiver } from "livekit-server-sdk";
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

async function hook(path, body) {
  const r = await fetch(`${server.url}${path}`, { method: body ? "POST" : "GET",
    body: body ? JSON.stringify(body) : undefined });
  const text = await r.text();
  if (r.status !== 200) throw new Error(`${path}: ${r.status} ${text}`);
  return JSON.parse(text || "{}");
}

test("a SIP participant from CreateSIPParticipant rings, answers, hears and speaks", async () => {
  const sip = new SipClient(server.url, KEY, SECRET);
  await hook("/__sip/script", { identity: "phone", ring_ms: 300, answer_ms: 1500 });
  const agent = await connect("agent", "r3");
  const tone = await publishTone(agent, 440);
  later(() => tone.stop());
  const seen = []; // callStatus values as the agent's SDK reports them
  const note = (p) => {
    const st = p.attributes?.["sip.callStatus"];
    if (p.identity === "phone" && st && seen.at(-1)?.status !== st) seen.push({ status: st, at: Date.now() });
  };
  agent.on(rtc.RoomEvent.ParticipantConnected, note);
  agent.on(rtc.RoomEvent.ParticipantAttributesChanged, (changed, p) => note(p));
  const t0 = Date.now();
  const info = await sip.createSipParticipant("ST_test", "+15550100", "r3",
    { participantIdentity: "phone", waitUntilAnswered: true });
  const waited = Date.now() - t0;
  assert(info.participantIdentity === "phone" && /^PA_/.test(info.participantId), `info ${JSON.stringify(info)}`);
  assert(waited >= 1700, `wait_until_answered returned after ${waited} ms (script: 300 + 1500)`);
  await until("the agent sees active", () => seen.some((x) => x.status === "active"), 5000);
  const order = seen.map((x) => x.status).join(" → ");
  assert(/ringing → active$/.test(order), `agent saw ${order}`);
  const p = [...agent.remoteParticipants.values()].find((x) => x.identity === "phone");
  assert(p.attributes["sip.phoneNumber"] === "+15550100" && p.attributes["sip.trunkID"] === "ST_test" &&
    /^SCL_/.test(p.attributes["sip.callID"]), `attributes ${JSON.stringify(p.attributes)}`);
  // the phone speaks: the agent hears a 1000 Hz tone from its track
  const fromPhone = listen(await within("the phone's track", remoteTrack(agent, "phone"), 10000));
  later(() => fromPhone.stop());
  await hook("/__sip/play", { room: "r3", identity: "phone", tone_hz: 1000, ms: 3000 });
  const m = await until("the agent hears the phone", () => {
    const x = fromPhone.measure(1000, 300);
    return x.share > 0.7 && x.rms > 0.05 && x;
  }, 10000);
  // what the phone heard: its timeline records all the time, with energy after answer
  await sleep(500);
  const heard = await hook("/__sip/heard?room=r3&identity=phone");
  const answeredAt = heard.statuses.find((x) => x.status === "active")?.at;
  const ringingAt = heard.statuses.find((x) => x.status === "ringing")?.at;
  assert(ringingAt && answeredAt && answeredAt - ringingAt >= 1400, `statuses ${JSON.stringify(heard.statuses)}`);
  const after = heard.heard.filter((f) => f.at > answeredAt);
  const loud = after.filter((f) => f.rms > 0.05);
  assert(loud.length > 20 && loud.every((f) => f.from === "agent"), `after answer: ${after.length} frames, ${loud.length} loud`);
  const before = heard.heard.filter((f) => f.at < answeredAt);
  console.log(`  Twirp wait ${waited} ms; phone heard ${before.length} frames before answer, ` +
    `${loud.length}/${after.length} loud after (rms ${loud.at(-1).rms}); agent hears phone: share ${m.share.toFixed(2)}`);
  const left = new Promise((ok) => agent.on(rtc.RoomEvent.ParticipantDisconnected, (x) => x.identity === "phone" && ok()));
  await hook("/__sip/hangup", { room: "r3", identity: "phone" });
  await within("the agent sees the phone leave", left, 5000);
});

test("a scripted SIP reject fails CreateSIPParticipant with the SIP status", async () => {
  const sip = new SipClient(server.url, KEY, SECRET);
  await hook("/__sip/script", { identity: "busy", ring_ms: 100, answer_ms: 200, reject: { code: 486, status: "Busy Here" } });
  let err = null;
  try {
    await sip.createSipParticipant("ST_test", "+15550101", "r4", { participantIdentity: "busy", waitUntilAnswered: true });
  } catch (e) {
    err = e;
  }
  assert(err && /486/.test(`${err.message} ${JSON.stringify(err.metadata ?? {})}`), `error: ${err?.message}`);
  const heard = await hook("/__sip/heard?room=r4&identity=busy");
  assert(heard.left && heard.rejected.code === 486, `phone ${JSON.stringify(heard)}`);
  const list = await new RoomServiceClient(server.url, KEY, SECRET).listParticipants("r4");
  assert(!list.some((x) => x.identity === "busy"), "the rejected phone is still in the room");
});

// Webhooks go to this receiver (started before the server, --webhook-url).
const hooksGot = [];
const receiver = new WebhookReceiver(KEY, SECRET);
const hookServer = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", async () => {
    const body = Buffer.concat(chunks).toString("utf8");
    try {
      const ev = await receiver.receive(body, req.headers.authorization);
      hooksGot.push({ ev, type: req.headers["content-type"] });
      res.writeHead(200).end();
    } catch (e) {
      hooksGot.push({ error: e.message });
      res.writeHead(401).end();
    }
  });
});

test("webhooks: room and participant events arrive signed, in order", async () => {
  const a = await connect("hooked", "r5");
  const t = await publishTone(a, 600);
  await until("track_published", () => hooksGot.some((h) => h.ev?.event === "track_published" && h.ev.room?.name === "r5"), 10000);
  await t.stop();
  await a.disconnect();
  await new RoomServiceClient(server.url, KEY, SECRET).deleteRoom("r5");
  await until("room_finished", () => hooksGot.some((h) => h.ev?.event === "room_finished" && h.ev.room?.name === "r5"), 10000);
  assert(!hooksGot.some((h) => h.error), `a webhook failed verification: ${JSON.stringify(hooksGot.find((h) => h.error))}`);
  const mine = hooksGot.filter((h) => h.ev.room?.name === "r5");
  const order = mine.map((h) => h.ev.event).join(" ");
  assert(order === "room_started participant_joined track_published participant_left room_finished", `events: ${order}`);
  assert(mine.every((h) => h.type === "application/webhook+json"), "content type");
  const joined = mine[1].ev;
  assert(joined.participant.identity === "hooked" && /^PA_/.test(joined.participant.sid), "participant in participant_joined");
  assert(/^TR_/.test(mine[2].ev.track?.sid), "track in track_published");
});

const filter = process.argv[2];
let passed = 0, failed = 0;
await new Promise((ok) => hookServer.listen(0, "127.0.0.1", ok));
server = await startServer(["--webhook-url", `http://127.0.0.1:${hookServer.address().port}/livekit`]);
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
hookServer.close();
await rtc.dispose?.();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
