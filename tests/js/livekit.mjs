// Proves the LiveKit test server (tests/livekit/fake.mjs) with LiveKit's own
// clients: @livekit/rtc-node (LiveKit's Rust engine through its FFI),
// livekit-client in Debian's headless Chromium, livekit-server-sdk's SipClient.
// WebRTC media needs a non-loopback interface: run inside a namespace,
//
//   NODE_ENV=production tests/netns/run.sh node tests/js/livekit.mjs [name-filter]
//
// (NODE_ENV=production keeps rtc-node's logger at "info".) Prints one line
// per test and "N passed, M failed" last; the server's log on failure, or
// always into $LK_SERVER_LOG when set.
import http from "node:http";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { randomBytes } from "node:crypto";
import { SignalResponse, LeaveRequest_Action } from "@livekit/protocol";
import { SipClient, RoomServiceClient, WebhookReceiver } from "livekit-server-sdk";
import { startServer, token, publishTone, listen, until, within, sleep, cpuSeconds, rtc, KEY, SECRET } from "./lk-helpers.mjs";

const here = dirname(fileURLToPath(import.meta.url));
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
  const cpu0 = cpuSeconds(server.pid), t0 = Date.now();
  await sleep(2000); // a full window of steady audio for the figures below
  const cpu = (100 * (cpuSeconds(server.pid) - cpu0)) / ((Date.now() - t0) / 1000);
  const steadyB = atB.measure(440, 1000), steadyA = atA.measure(1000, 1000);
  assert(steadyB.share > 0.8, `bob: 440 Hz is ${steadyB.share.toFixed(2)} of what he hears`);
  assert(steadyA.share > 0.8, `alice: 1000 Hz is ${steadyA.share.toFixed(2)} of what she hears`);
  assert(atB.measure(1000).share < 0.1, "bob hears his own tone");
  assert(atA.measure(440).share < 0.1, "alice hears her own tone");
  console.log(`  bob: 440 Hz share ${steadyB.share.toFixed(2)} rms ${steadyB.rms.toFixed(3)}; ` +
    `alice: 1000 Hz share ${steadyA.share.toFixed(2)} rms ${steadyA.rms.toFixed(3)} (sent rms 0.212); ` +
    `server CPU ${cpu.toFixed(1)} % of a core forwarding 2 streams`);
  const gotA = dataOn(a, "chat"), gotB = dataOn(b, "chat");
  await a.localParticipant.publishData(new TextEncoder().encode("hi bob"), { reliable: true, topic: "chat" });
  await b.localParticipant.publishData(new TextEncoder().encode("hi alice"), { reliable: true, topic: "chat" });
  await until("data both ways", () => gotA.length && gotB.length, 5000);
  assert(gotB[0].text === "hi bob" && gotB[0].from === "alice", `bob got ${JSON.stringify(gotB)}`);
  assert(gotA[0].text === "hi alice" && gotA[0].from === "bob", `alice got ${JSON.stringify(gotA)}`);
});

test("werift #706: two complete messages of one stream, interleaved with another stream's TSNs, both come out", async () => {
  const { InboundStream } = await import("../livekit/sfu.mjs");
  const s = new InboundStream();
  const chunk = (tsn, ssn, flags, text) => ({ tsn, streamId: 1, streamSeqNum: ssn, flags, protocol: 53,
    userData: Buffer.from(text) });
  // message 0 = TSN 10+11, message 1 = TSN 13+14 (TSN 12 went to another stream)
  for (const c of [chunk(10, 0, 2, "a"), chunk(11, 0, 1, "b"), chunk(13, 1, 2, "c"), chunk(14, 1, 1, "d")]) s.addChunk(c);
  const out = [...s.popMessages()].map((m) => m[2].toString());
  assert(out.join(",") === "ab,cd", `popMessages gave ${JSON.stringify(out)}`);
  assert(s.reassembly.length === 0 && s.streamSequenceNumber === 2, "state after delivery");
});

test("a burst of data on _reliable and _lossy arrives whole and in order", async () => {
  const a = await connect("burst-a", "r11");
  const b = await connect("burst-b", "r11");
  await until("a sees b", () => [...a.remoteParticipants.values()].some((p) => p.identity === "burst-b"));
  const rel = dataOn(b, "rel"), lossy = dataOn(b, "lossy");
  const N = 200, big = "x".repeat(3000); // > 1 SCTP chunk: reassembly
  const sends = [];
  for (let i = 0; i < N; i++) {
    sends.push(a.localParticipant.publishData(new TextEncoder().encode(`${i} ${i % 10 === 0 ? big : ""}`), { reliable: true, topic: "rel" }));
    sends.push(a.localParticipant.publishData(new TextEncoder().encode(`${i}`), { reliable: false, topic: "lossy" }));
  }
  await Promise.all(sends);
  await until(`${N} reliable messages`, () => rel.length >= N, 15000).catch(() => {
    throw new Error(`b got ${rel.length}/${N} reliable, ${lossy.length} lossy`);
  });
  const order = rel.map((m) => Number(m.text.split(" ")[0]));
  assert(order.every((v, i) => v === i), `reliable out of order: ${order.slice(0, 20)}`);
  assert(rel.filter((m) => m.text.length > 3000).length === N / 10, "large messages lost or cut");
  console.log(`  ${rel.length}/${N} reliable in order (${N / 10} of 3 kB), ${lossy.length}/${N} lossy`);
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
  const old = await fetch(`${server.url}/rtc/validate?access_token=${await token("m", "r2", {}, { ttl: -300 })}`);
  const whyOld = await old.text();
  assert(old.status === 401 && /exp/.test(whyOld), `expired token: ${old.status} ${whyOld}`);
  const noJoin = await fetch(`${server.url}/rtc/validate?access_token=${await token("m", "r2", { roomJoin: false })}`);
  const whyNoJoin = await noJoin.text();
  assert(noJoin.status === 403 && /roomJoin/.test(whyNoJoin), `no roomJoin: ${noJoin.status} ${whyNoJoin}`);
  const viaHeader = await fetch(`${server.url}/rtc/validate`, { headers: { Authorization: `Bearer ${good}` } });
  assert(viaHeader.status === 200, `Authorization: Bearer: ${viaHeader.status}`);
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

test("LiveKit gone mid-call: /__rtc/drop cuts a room's participants and refuses new ones until /__rtc/allow", async () => {
  const a = await connect("victim", "r7");
  const other = await connect("bystander", "r8");
  const states = [];
  a.on(rtc.RoomEvent.ConnectionStateChanged, (st) => states.push(st));
  a.on(rtc.RoomEvent.Disconnected, () => states.push("disconnected"));
  await hook("/__rtc/drop", { room: "r7" });
  await until("the client notices", () => states.length > 0, 10000);
  const rs = new RoomServiceClient(server.url, KEY, SECRET);
  assert((await rs.listParticipants("r7")).length === 0, "r7 still lists participants");
  assert((await rs.listParticipants("r8")).some((p) => p.identity === "bystander"), "r8 lost its participant");
  let refused = null;
  const late = new rtc.Room();
  try {
    await within("a refused connect", late.connect(server.ws, await token("late", "r7"), { autoSubscribe: true, dynacast: false }), 30000);
  } catch (e) {
    refused = e;
  }
  await late.disconnect().catch(() => {});
  assert(refused && !/timed out after/.test(refused.message), `connect while dropped: ${refused?.message ?? "succeeded"}`);
  await hook("/__rtc/allow", {});
  const back = await connect("late2", "r7");
  assert(back.localParticipant.sid.startsWith("PA_"), "connect after allow");
  // LiveKit back: the victim's engine reconnects by itself (a full rejoin)
  await until("the victim back in r7", async () => (await rs.listParticipants("r7")).some((p) => p.identity === "victim"), 30000);
  await until("the victim connected", () => states.at(-1) === rtc.ConnectionState.CONN_CONNECTED, 10000);
  console.log(`  victim saw: ${states.join(", ")}; refused: ${refused.message.slice(0, 80)}`);
});

test("server API on live participants: SendData, ListParticipants, RemoveParticipant, DeleteRoom; grants (data, subscribe, hidden)", async () => {
  const rs = new RoomServiceClient(server.url, KEY, SECRET);
  const a = await connect("ann", "r9");
  const b = await connect("ben", "r9", { canPublishData: false, canSubscribe: false });
  const c = await connect("cid", "r9");
  const spy = await connect("spy", "r9", { hidden: true });
  const gotA = dataOn(a, "ops"), gotB = dataOn(b, "ops"), gotC = dataOn(c, "ops");
  const names = (await rs.listParticipants("r9")).map((p) => p.identity).sort().join(",");
  assert(names === "ann,ben,cid,spy", `ListParticipants: ${names}`);
  await until("cid sees ann and ben", () => c.remoteParticipants.size >= 2, 5000);
  assert(![...a.remoteParticipants.values(), ...c.remoteParticipants.values()].some((p) => p.identity === "spy"),
    "a hidden participant is visible");
  assert([...spy.remoteParticipants.values()].length === 3, "the hidden participant does not see the others");
  await spy.disconnect();
  await rs.sendData("r9", new TextEncoder().encode("to all"), rtc.DataPacketKind.KIND_RELIABLE, { topic: "ops" });
  await rs.sendData("r9", new TextEncoder().encode("to cid"), rtc.DataPacketKind.KIND_RELIABLE, { topic: "ops", destinationIdentities: ["cid"] });
  await b.localParticipant.publishData(new TextEncoder().encode("from ben"), { reliable: true, topic: "ops" }).catch(() => {});
  await until("SendData delivered", () => gotA.length >= 1 && gotB.length >= 1 && gotC.length >= 2, 5000);
  await sleep(300);
  assert(gotA.map((x) => x.text).join("|") === "to all", `ann got ${JSON.stringify(gotA)}`);
  assert(gotC.map((x) => x.text).join("|") === "to all|to cid", `cid got ${JSON.stringify(gotC)}`);
  assert(gotB.map((x) => x.text).join("|") === "to all", `ben got ${JSON.stringify(gotB)}`);
  // ben may not subscribe: nobody's track reaches him
  const t = await publishTone(a, 500);
  later(() => t.stop());
  await within("cid subscribes to ann", remoteTrack(c, "ann"), 10000);
  const benTracks = [...b.remoteParticipants.values()].flatMap((p) => [...p.trackPublications.values()]).filter((x) => x.track);
  assert(benTracks.length === 0, "ben (canSubscribe false) got a track");
  const gone = (room) => new Promise((ok) => room.once(rtc.RoomEvent.Disconnected, ok));
  const bGone = gone(b);
  await rs.removeParticipant("r9", "ben");
  const whyB = await within("ben removed", bGone, 5000);
  const aGone = gone(a), cGone = gone(c);
  await rs.deleteRoom("r9");
  const [whyA, whyC] = await within("everyone out", Promise.all([aGone, cGone]), 5000);
  console.log(`  disconnect reasons: removed ${whyB}, room deleted ${whyA}/${whyC}`);
  assert(whyB === rtc.DisconnectReason.PARTICIPANT_REMOVED, `RemoveParticipant: reason ${whyB}`);
  assert(whyA === rtc.DisconnectReason.ROOM_DELETED && whyC === whyA, `DeleteRoom: reasons ${whyA}, ${whyC}`);
  assert(!(await rs.listRooms()).some((r) => r.name === "r9"), "r9 still listed");
});

// A bare WebSocket client (node 20 has none): masked frames, as RFC 6455 wants.
function rawSocket(url) {
  return new Promise((ok, fail) => {
    const req = http.request(url.replace(/^ws/, "http"), { headers: { Connection: "Upgrade", Upgrade: "websocket",
      "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": randomBytes(16).toString("base64") } });
    req.on("response", (res) => fail(new Error(`upgrade answered ${res.statusCode}`)));
    req.on("error", fail);
    req.on("upgrade", (res, sock, head) => {
      const frames = [];
      let buf = head;
      const parse = () => {
        for (;;) {
          if (buf.length < 2) return;
          let len = buf[1] & 0x7f, off = 2;
          if (len === 126) {
            if (buf.length < 4) return;
            len = buf.readUInt16BE(2);
            off = 4;
          } else if (len === 127) {
            if (buf.length < 10) return;
            len = Number(buf.readBigUInt64BE(2));
            off = 10;
          }
          if (buf.length < off + len) return;
          frames.push({ opcode: buf[0] & 0x0f, data: buf.subarray(off, off + len) });
          buf = buf.subarray(off + len);
        }
      };
      sock.on("data", (d) => {
        buf = Buffer.concat([buf, d]);
        parse();
      });
      parse(); // the server may have written frames right behind its 101
      const send = (opcode, payload, fin = true) => {
        const mask = randomBytes(4), p = Buffer.from(payload);
        for (let i = 0; i < p.length; i++) p[i] ^= mask[i & 3];
        const head2 = p.length < 126 ? Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | p.length])
          : Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | 126, p.length >> 8, p.length & 0xff]);
        sock.write(Buffer.concat([head2, mask, p]));
      };
      ok({ frames, send, sock });
    });
    req.end();
  });
}

test("signalling by hand: binary JoinResponse first, then JSON once the client speaks JSON (fragmented frames)", async () => {
  const ws = await rawSocket(`${server.ws}/rtc?access_token=${await token("raw", "r10")}&auto_subscribe=1&protocol=16`);
  later(() => ws.sock.destroy());
  await until("JoinResponse", () => ws.frames.length >= 1, 5000);
  assert(ws.frames[0].opcode === 2, `first frame opcode ${ws.frames[0].opcode}`);
  const join = SignalResponse.fromBinary(ws.frames[0].data).message;
  assert(join.case === "join" && /^RM_/.test(join.value.room.sid) && /^PA_/.test(join.value.participant.sid) &&
    join.value.pingInterval > 0 && join.value.pingTimeout > 0, `join ${JSON.stringify(join.value.toJson?.() ?? join)}`);
  const req = JSON.stringify({ pingReq: { timestamp: "12345", rtt: "0" } });
  ws.send(1, req.slice(0, 10), false); // a text message in two fragments
  ws.send(0, req.slice(10), true);
  const pong = await until("pongResp", () => ws.frames.find((f) => f.opcode === 1 && /pongResp/.test(f.data.toString())), 5000);
  const msg = JSON.parse(pong.data.toString());
  assert(msg.pongResp.lastPingTimestamp === "12345", `pong ${pong.data}`);
  // a resume of a session this server no longer has: a leave asking for a full reconnect
  const again = await rawSocket(`${server.ws}/rtc?access_token=${await token("raw", "r10")}&reconnect=1&sid=${join.value.participant.sid}`);
  later(() => again.sock.destroy());
  await until("the resume's answer", () => again.frames.length >= 1, 5000);
  const leave = SignalResponse.fromBinary(again.frames[0].data).message;
  assert(leave.case === "leave" && leave.value.action === LeaveRequest_Action.RECONNECT, `resume answered ${leave.case}`);
  ws.send(1, JSON.stringify({ leave: { canReconnect: false } }));
  const rs = new RoomServiceClient(server.url, KEY, SECRET);
  await until("raw leaves", async () => !(await rs.listParticipants("r10")).some((p) => p.identity === "raw"), 5000);
});

// A 16-bit mono WAV of a sine tone (Chromium's fake microphone plays it in a loop).
function toneWav(freq, seconds, rate = 48000) {
  const n = rate * seconds, buf = Buffer.alloc(44 + 2 * n);
  buf.write("RIFF", 0); buf.writeUInt32LE(36 + 2 * n, 4); buf.write("WAVEfmt ", 8);
  buf.writeUInt32LE(16, 16); buf.writeUInt16LE(1, 20); buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(rate, 24); buf.writeUInt32LE(rate * 2, 28); buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34); buf.write("data", 36); buf.writeUInt32LE(2 * n, 40);
  for (let i = 0; i < n; i++) buf.writeInt16LE(Math.round(0.3 * 32767 * Math.sin((2 * Math.PI * freq * i) / rate)), 44 + 2 * i);
  return buf;
}

// Serves tests/js/lk-page and livekit-client's ESM build on 127.0.0.1 (a
// secure context for getUserMedia); the page connects to the server's address.
async function pageServer() {
  const files = {
    "/": [join(here, "lk-page", "index.html"), "text/html"],
    "/livekit-client.esm.mjs": [join(here, "node_modules", "livekit-client", "dist", "livekit-client.esm.mjs"), "text/javascript"],
  };
  const srv = http.createServer((req, res) => {
    const f = files[new URL(req.url, "http://x").pathname];
    if (!f) return res.writeHead(404).end();
    res.writeHead(200, { "Content-Type": f[1] }).end(readFileSync(f[0]));
  });
  await new Promise((ok) => srv.listen(0, "127.0.0.1", ok));
  return srv;
}

test("livekit-client in Chromium and rtc-node hear each other and exchange data", async () => {
  const dir = mkdtempSync(join(tmpdir(), "lk-chromium-"));
  later(() => rmSync(dir, { recursive: true, force: true }));
  const wav = join(dir, "mic.wav");
  writeFileSync(wav, toneWav(700, 10));
  const pages = await pageServer();
  later(() => pages.close());
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true,
    args: ["--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
      `--use-file-for-fake-audio-capture=${wav}`, "--autoplay-policy=no-user-gesture-required",
      "--disable-features=WebRtcHideLocalIpsWithMdns"] });
  later(() => browser.close());
  const page = await browser.newPage();
  const pageLog = [];
  page.on("console", (m) => pageLog.length < 200 && pageLog.push(`${m.type()}: ${m.text().slice(0, 300)}`));
  page.on("pageerror", (e) => pageLog.push(`pageerror: ${e.message}`));
  await page.goto(`http://127.0.0.1:${pages.address().port}/`);
  const node = await connect("node", "r6");
  const t = await publishTone(node, 440);
  later(() => t.stop());
  let joined;
  try {
    joined = await within("Chromium joins", page.evaluate(([u, tk]) => window.lkJoin(u, tk),
      [server.ws, await token("chromium", "r6")]), 20000);
  } catch (e) {
    throw new Error(`${e.message}\n${pageLog.join("\n")}`);
  }
  assert(/^PA_/.test(joined.sid), `joined ${JSON.stringify(joined)}`);
  // Chromium hears rtc-node's 440 Hz
  const inChrome = await until("Chromium hears 440 Hz", async () => {
    const m = await page.evaluate(() => window.lkMeasure("node"));
    return m && m.rms > 0.02 && Math.abs(m.peakHz - 440) < 20 && m;
  }, 20000).catch((e) => { throw new Error(`${e.message}\n${pageLog.join("\n")}`); });
  // rtc-node hears Chromium's fake microphone (the 700 Hz WAV)
  const fromChrome = listen(await within("rtc-node subscribes to Chromium", remoteTrack(node, "chromium"), 15000));
  later(() => fromChrome.stop());
  await until("rtc-node hears 700 Hz", () => {
    const m = fromChrome.measure(700, 500);
    return m.share > 0.5 && m.rms > 0.02 && m;
  }, 15000);
  await sleep(1000);
  const inNode = fromChrome.measure(700, 1000);
  assert(inNode.share > 0.7, `rtc-node: 700 Hz is ${inNode.share.toFixed(2)} of what it hears from Chromium`);
  console.log(`  Chromium hears rtc-node: rms ${inChrome.rms.toFixed(3)} peak ${inChrome.peakHz.toFixed(0)} Hz; ` +
    `rtc-node hears Chromium: 700 Hz share ${inNode.share.toFixed(2)} rms ${inNode.rms.toFixed(3)}`);
  const got = dataOn(node, "web");
  await page.evaluate(() => window.lkSend("from chromium", "web"));
  await node.localParticipant.publishData(new TextEncoder().encode("from node"), { reliable: true, topic: "web" });
  await until("data both ways", async () => got.length &&
    (await page.evaluate(() => window.lk.data.length)) > 0, 10000);
  const inPage = await page.evaluate(() => window.lk.data);
  assert(got[0].text === "from chromium" && got[0].from === "chromium", `rtc-node got ${JSON.stringify(got)}`);
  assert(inPage[0].text === "from node" && inPage[0].from === "node" && inPage[0].topic === "web", `page got ${JSON.stringify(inPage)}`);
  await page.evaluate(() => window.lkLeave());
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
