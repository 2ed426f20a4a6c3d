// The LiveKit test server for callmesh's tests: a strict fake of LiveKit's
// server API (Twirp, JSON) and, on the same port, RTC signalling (/rtc, v0)
// with media and data forwarding between participants (werift). See
// tests/livekit/README.md for the whole picture.
//
//   node tests/livekit/fake.mjs --port 7880 --key devkey --secret devsecret
//        [--host 127.0.0.1]        listen address, also the ICE host candidate
//                                  (inside tests/netns/run.sh: $CALLMESH_NETNS_ADDR)
//        [--ready-file PATH]       written with "http://HOST:PORT\n" once listening
//                                  (--port 0 picks a free port); stdout also
//                                  prints a line "ready"
//
// RTC (rtc.mjs, sfu.mjs, room.mjs): ws://HOST:PORT/rtc?access_token=JWT (or
// Authorization: Bearer); /rtc/v1* answers 404; /rtc/validate validates.
// Published Opus audio reaches every other participant (auto-subscribe); data
// packets go to the others over _reliable (destination_identities honoured).
// RoomService SendData/RemoveParticipant/DeleteRoom/ListParticipants act on
// the live participants.
//
// Every Twirp route callmesh uses is parsed with the official @livekit/protocol
// message definitions, strictly (an unknown field is a 400 "malformed" where the
// real server would ignore it: a misspelt field must fail our tests). The bearer
// token is verified with livekit-server-sdk's TokenVerifier (401
// "unauthenticated") and the grant each method needs is checked (403
// "permission_denied"). Replies are the response messages' protojson (snake_case,
// defaults included), as the real server sends them.
//
// Test hooks (not Twirp; no auth):
//   GET  /__health                 200 "ok"
//   GET  /__requests               every Twirp request so far, oldest first:
//                                  [{seq, service, method, status, claims, body, raw, at}]
//   POST /__reset                  forgets requests, scripts and state
//   POST /__script {method, error:{code, msg, meta}, delay_ms, drop, times}
//                                  the next `times` (default 1, -1 = always) calls of
//                                  `method` wait delay_ms, then fail with the Twirp
//                                  error (when given), or close the connection
//                                  without a reply (drop: true), or else succeed
//   POST /__verify {token}         verifies a token with TokenVerifier → 200 claims | 401
//   POST /__webhook_send {url, event, key?, secret?}
//                                  sends `event` (a WebhookEvent in protojson, parsed
//                                  strictly) to url the way LiveKit does: POST,
//                                  application/webhook+json, Authorization = raw JWT
//                                  with the body's sha256 → {status, body}
//   POST /__webhook_sign {body}    → {authorization} for that exact body string
//   GET  /__webhooks               the webhooks sent to --webhook-url so far, in order:
//                                  [{event, room, participant, track, status, error, at, body}]
//   POST /__rtc/drop {room?}       LiveKit gone: every signalling WebSocket (of `room`,
//                                  or all) is reset without a close frame, its PCs
//                                  closed, and new /rtc connections are reset too …
//   POST /__rtc/allow              … until this
//
// SIP phone participants (sip.mjs). CreateSIPParticipant joins `participant_identity`
// to `room_name` as kind SIP with attributes sip.callStatus (dialing → ringing →
// active, or hangup), sip.callID (SCL_…), sip.phoneNumber, sip.trunkID; it hears the
// room from the start and publishes an Opus track once answered. Unscripted calls
// ring and answer at once; with wait_until_answered the call returns on answer,
// or fails "unavailable" with meta.sip_status_code/sip_status on a reject.
//   POST /__sip/script {identity?, room?, ring_ms, answer_ms, reject:{code, status}, times}
//                                  the next `times` (default 1, -1 = always) matching
//                                  calls go ringing after ring_ms, then active (or
//                                  rejected with `reject`) answer_ms later;
//                                  answer_ms -1 = wait for /__sip/answer. A
//                                  ringing_timeout shorter than the wait → 408.
//   POST /__sip/answer {room, identity}           answers now (409 unless ringing)
//   POST /__sip/play {room, identity, wav | wav_base64 | tone_hz+ms(+amplitude), loop?}
//                                  the phone speaks: a 16-bit PCM WAV (path on this
//                                  machine or base64; any rate, mixed to 48 kHz mono)
//                                  or a tone → {duration_ms}; silence otherwise
//   POST /__sip/hangup {room, identity}           the far end hangs up: callStatus
//                                  hangup, the participant leaves the room
//   GET  /__sip/heard?room=&identity=
//                                  {room, identity, participant_sid, call_id, status,
//                                   statuses:[{status, at}], rejected:{code,status}|null,
//                                   left, heard:[{at, rms, from}]}: one entry per
//                                  decoded 20 ms Opus frame received from `from`,
//                                  recorded at all times (also before answer); `at`
//                                  = wall clock, ms since the epoch; rms of 16-bit
//                                  samples scaled to ±1. Kept after the phone left.
import http from "node:http";
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { writeFileSync, readFileSync } from "node:fs";

// The tools live in tests/js/node_modules (npm ci there).
const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(resolve(here, "..", "js"), "package.json"));
const proto = await import(require.resolve("@livekit/protocol"));
const sdk = await import(require.resolve("livekit-server-sdk"));
const { TokenVerifier, AccessToken } = sdk;
const { Rooms, newRoom } = await import("./room.mjs");
const { rtcHttp, rtcUpgrade } = await import("./rtc.mjs");
const { Phones, readWav, tone } = await import("./sip.mjs");
const { Webhooks } = await import("./webhook.mjs");

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}
const port = Number(arg("port", process.env.PORT || "7880"));
const host = arg("host", "127.0.0.1");
const readyFile = arg("ready-file", "");
const webhookUrl = arg("webhook-url", "");
const apiKey = arg("key", process.env.LIVEKIT_API_KEY || "devkey");
const apiSecret = arg("secret", process.env.LIVEKIT_API_SECRET || "devsecret");
const verifier = new TokenVerifier(apiKey, apiSecret);
const BODY_MAX = 1 << 20;

const twirpStatus = {
  canceled: 408, unknown: 500, invalid_argument: 400, malformed: 400, deadline_exceeded: 408,
  not_found: 404, bad_route: 404, already_exists: 409, permission_denied: 403,
  unauthenticated: 401, resource_exhausted: 429, failed_precondition: 412, aborted: 409,
  out_of_range: 400, unimplemented: 501, internal: 500, unavailable: 503, dataloss: 500,
};

class TwirpError extends Error {
  constructor(code, msg, meta) {
    super(msg);
    this.code = code;
    this.meta = meta;
  }
}

const id = (prefix) => `${prefix}_${randomBytes(6).toString("hex")}`;
const log = (msg) => console.log(`${new Date().toISOString()} ${msg}`);
const nowS = () => BigInt(Math.floor(Date.now() / 1000));

// ---- state ------------------------------------------------------------------
let webhooks = null; // once signBody exists (below)
function notify(event, fields) {
  log(`event ${event} ${fields.room?.name ?? ""} ${fields.participant?.identity ?? ""}`);
  webhooks?.send(event, fields);
}
const rooms = new Rooms(proto, notify, (r) => {
  if (state.rooms.get(r.room.name) !== r) return;
  state.rooms.delete(r.room.name);
  rooms.close(r, proto.DisconnectReason.ROOM_CLOSED);
});
const rtc = {
  proto, verifier, rooms, host, log, sessions: new Set(),
  roomFor: (name) => ensureRoom(name),
  dropped: (room) => rtcDrop.all || (room !== null && rtcDrop.rooms.has(room)),
};
const rtcDrop = { all: false, rooms: new Set() };
const phones = new Phones({ proto, rooms, log });

let state;
function resetState() {
  if (state) for (const r of state.rooms.values()) rooms.close(r, proto.DisconnectReason.ROOM_DELETED);
  phones.reset();
  state = {
    seq: 0,
    requests: [],
    scripts: new Map(), // method → [{error, delay_ms, drop, times}]
    rooms: new Map(), // name → {room, participants: Map identity → ParticipantInfo}
    egress: new Map(), // egress_id → EgressInfo
    trunks: new Map(), // sip_trunk_id → SIPOutboundTrunkInfo
  };
}
resetState();

function roomOf(name) {
  const r = state.rooms.get(name);
  if (!r) throw new TwirpError("not_found", `room ${name} does not exist`);
  return r;
}

function ensureRoom(name, fields = {}) {
  let r = state.rooms.get(name);
  if (!r) {
    r = newRoom(proto, name, fields);
    state.rooms.set(name, r);
    notify("room_started", { room: r.room });
  }
  return r;
}

// ---- grants -----------------------------------------------------------------
const needRoomCreate = (c) => c.video?.roomCreate === true;
const needRoomAdmin = (c, req) => c.video?.roomAdmin === true && c.video?.room === req.room;
const needRoomRecord = (c) => c.video?.roomRecord === true;
const needSipCall = (c) => c.sip?.call === true;
const needSipAdmin = (c) => c.sip?.admin === true;

function required(req, ...names) {
  for (const n of names)
    if (req[n] === undefined || req[n] === "" || req[n] === null)
      throw new TwirpError("invalid_argument", `${n} is required`);
}

// ---- routes: service/method → {Req, grant, grantName, handle(req) → response message}
const routes = {
  "livekit.RoomService/CreateRoom": {
    Req: proto.CreateRoomRequest, grant: needRoomCreate, grantName: "video.roomCreate",
    handle(req) {
      required(req, "name");
      const r = ensureRoom(req.name, {
        emptyTimeout: req.emptyTimeout || 300, departureTimeout: req.departureTimeout,
        maxParticipants: req.maxParticipants, metadata: req.metadata,
      });
      return r.room;
    },
  },
  "livekit.RoomService/DeleteRoom": {
    Req: proto.DeleteRoomRequest, grant: needRoomCreate, grantName: "video.roomCreate",
    handle(req) {
      required(req, "room");
      const r = roomOf(req.room);
      state.rooms.delete(req.room);
      rooms.close(r, proto.DisconnectReason.ROOM_DELETED);
      return new proto.DeleteRoomResponse();
    },
  },
  "livekit.RoomService/ListRooms": {
    Req: proto.ListRoomsRequest, grant: (c) => c.video?.roomList === true, grantName: "video.roomList",
    handle(req) {
      const rooms = [...state.rooms.values()].filter((r) => !req.names.length || req.names.includes(r.room.name))
        .map((r) => {
          const room = r.room.clone();
          room.numParticipants = r.participants.size;
          return room;
        });
      return new proto.ListRoomsResponse({ rooms });
    },
  },
  "livekit.RoomService/ListParticipants": {
    Req: proto.ListParticipantsRequest, grant: needRoomAdmin, grantName: "video.roomAdmin + video.room",
    handle(req) {
      required(req, "room");
      const r = roomOf(req.room);
      return new proto.ListParticipantsResponse({ participants: [...r.participants.values()] });
    },
  },
  "livekit.RoomService/RemoveParticipant": {
    Req: proto.RoomParticipantIdentity, grant: needRoomAdmin, grantName: "video.roomAdmin + video.room",
    handle(req) {
      required(req, "room", "identity");
      const r = roomOf(req.room);
      if (!r.participants.has(req.identity))
        throw new TwirpError("not_found", `participant ${req.identity} is not in the room`);
      rooms.remove(r, req.identity, proto.DisconnectReason.PARTICIPANT_REMOVED);
      return new proto.RemoveParticipantResponse();
    },
  },
  "livekit.RoomService/SendData": {
    Req: proto.SendDataRequest, grant: needRoomAdmin, grantName: "video.roomAdmin + video.room",
    handle(req) {
      required(req, "room");
      const r = roomOf(req.room);
      if (!req.data || req.data.length === 0) throw new TwirpError("invalid_argument", "data is required");
      const pkt = new proto.DataPacket({ kind: req.kind, destinationIdentities: req.destinationIdentities,
        value: { case: "user", value: new proto.UserPacket({ payload: req.data, topic: req.topic,
          destinationIdentities: req.destinationIdentities }) } });
      rooms.data(r, null, pkt.toBinary(), req.destinationIdentities);
      return new proto.SendDataResponse();
    },
  },
  "livekit.Egress/StartRoomCompositeEgress": {
    Req: proto.RoomCompositeEgressRequest, grant: needRoomRecord, grantName: "video.roomRecord",
    handle(req) {
      required(req, "roomName");
      const outputs = req.fileOutputs.length + req.streamOutputs.length + req.segmentOutputs.length +
        req.imageOutputs.length + (req.output.case ? 1 : 0);
      if (outputs === 0) throw new TwirpError("invalid_argument", "no outputs");
      const info = new proto.EgressInfo({
        egressId: id("EG"), roomId: state.rooms.get(req.roomName)?.room.sid ?? "",
        roomName: req.roomName, status: proto.EgressStatus.EGRESS_STARTING,
        startedAt: BigInt(Date.now()) * 1000000n,
        request: { case: "roomComposite", value: req },
        fileResults: req.fileOutputs.map((f) => new proto.FileInfo({ filename: f.filepath })),
      });
      state.egress.set(info.egressId, info);
      return info;
    },
  },
  "livekit.Egress/StopEgress": {
    Req: proto.StopEgressRequest, grant: needRoomRecord, grantName: "video.roomRecord",
    handle(req) {
      required(req, "egressId");
      const info = state.egress.get(req.egressId);
      if (!info) throw new TwirpError("not_found", `egress ${req.egressId} does not exist`);
      if (info.status === proto.EgressStatus.EGRESS_ENDING)
        throw new TwirpError("failed_precondition", "egress already ending");
      info.status = proto.EgressStatus.EGRESS_ENDING;
      return info;
    },
  },
  "livekit.SIP/CreateSIPParticipant": {
    Req: proto.CreateSIPParticipantRequest, grant: needSipCall, grantName: "sip.call",
    async handle(req) {
      required(req, "sipTrunkId", "sipCallTo", "roomName");
      const r = ensureRoom(req.roomName);
      let p;
      try {
        p = await phones.create(r, req);
      } catch (e) {
        if (!e.sip) throw e;
        throw new TwirpError("unavailable", `twirp error unknown: sip status: ${e.sip.code}: ${e.sip.status}`,
          { sip_status_code: String(e.sip.code), sip_status: e.sip.status });
      }
      return new proto.SIPParticipantInfo({
        participantId: p.info.sid, participantIdentity: p.identity, roomName: req.roomName,
        sipCallId: p.info.attributes["sip.callID"],
      });
    },
  },
  "livekit.SIP/CreateSIPOutboundTrunk": {
    Req: proto.CreateSIPOutboundTrunkRequest, grant: needSipAdmin, grantName: "sip.admin",
    handle(req) {
      if (!req.trunk) throw new TwirpError("invalid_argument", "trunk is required");
      required(req.trunk, "address");
      if (req.trunk.numbers.length === 0) throw new TwirpError("invalid_argument", "numbers are required");
      const trunk = req.trunk.clone();
      trunk.sipTrunkId = id("ST");
      state.trunks.set(trunk.sipTrunkId, trunk);
      return trunk;
    },
  },
};

// ---- HTTP plumbing ----------------------------------------------------------
function readBody(req) {
  return new Promise((ok, fail) => {
    const chunks = [];
    let len = 0;
    req.on("data", (c) => {
      len += c.length;
      if (len > BODY_MAX) {
        fail(new TwirpError("malformed", "body too large"));
        req.destroy();
      } else chunks.push(c);
    });
    req.on("end", () => ok(Buffer.concat(chunks).toString("utf8")));
    req.on("error", fail);
  });
}

function send(res, status, obj, type = "application/json") {
  const body = typeof obj === "string" ? obj : JSON.stringify(obj);
  res.writeHead(status, { "Content-Type": type, "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

function sendTwirpError(res, e) {
  const out = { code: e.code, msg: e.message };
  if (e.meta && Object.keys(e.meta).length) out.meta = e.meta;
  send(res, twirpStatus[e.code] ?? 500, out);
  return twirpStatus[e.code] ?? 500;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function takeScript(method) {
  const list = state.scripts.get(method);
  if (!list || list.length === 0) return null;
  const s = list[0];
  if (s.times > 0 && --s.times === 0) list.shift();
  return s;
}

async function twirp(req, res, route, path) {
  const [service, method] = path.split("/");
  const rec = { seq: ++state.seq, service, method, status: 0, claims: null, body: null, raw: "",
    at: new Date().toISOString() };
  state.requests.push(rec);
  try {
    const raw = await readBody(req);
    rec.raw = raw;
    if (!(req.headers["content-type"] || "").startsWith("application/json"))
      throw new TwirpError("bad_route", `unexpected Content-Type: ${req.headers["content-type"]}`);
    const auth = req.headers.authorization || "";
    if (!auth.startsWith("Bearer ")) throw new TwirpError("unauthenticated", "no bearer token");
    try {
      rec.claims = await verifier.verify(auth.slice(7));
    } catch (e) {
      throw new TwirpError("unauthenticated", `invalid token: ${e.message}`);
    }
    let json;
    try {
      json = JSON.parse(raw);
      rec.body = json;
    } catch (e) {
      throw new TwirpError("malformed", `body is not JSON: ${e.message}`);
    }
    let msg;
    try {
      msg = route.Req.fromJson(json, { ignoreUnknownFields: false });
    } catch (e) {
      throw new TwirpError("malformed", e.message);
    }
    if (!route.grant(rec.claims, msg))
      throw new TwirpError("permission_denied", `${method} needs ${route.grantName}`);
    const script = takeScript(method);
    if (script?.delay_ms) await sleep(script.delay_ms);
    if (script?.drop) {
      rec.status = -1;
      req.socket.destroy();
      return;
    }
    if (script?.error) throw new TwirpError(script.error.code, script.error.msg ?? "", script.error.meta);
    const out = await route.handle(msg);
    rec.status = 200;
    send(res, 200, out.toJson({ useProtoFieldName: true, emitDefaultValues: true }));
  } catch (e) {
    if (!(e instanceof TwirpError)) e = new TwirpError("internal", String(e?.stack || e));
    rec.status = sendTwirpError(res, e);
    rec.error = { code: e.code, msg: e.message };
  }
}

async function signBody(body, key = apiKey, secret = apiSecret) {
  const at = new AccessToken(key, secret, { ttl: "5m" });
  const hash = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(body));
  at.sha256 = Buffer.from(hash).toString("base64");
  return at.toJwt();
}

webhooks = new Webhooks(proto, webhookUrl, (body) => signBody(body), log);

async function hook(req, res, path) {
  if (path === "/__health" && req.method === "GET") return send(res, 200, "ok", "text/plain");
  if (path === "/__requests" && req.method === "GET") return send(res, 200, state.requests);
  if (path === "/__webhooks" && req.method === "GET") return send(res, 200, webhooks.sent);
  if (path === "/__sip/heard" && req.method === "GET") {
    const q = new URL(req.url, "http://x").searchParams;
    const p = phones.get(q.get("room") || "", q.get("identity") || "");
    return p ? send(res, 200, p.report()) : send(res, 404, { error: "no such phone participant" });
  }
  if (req.method !== "POST") return send(res, 405, { error: "method" });
  const raw = await readBody(req);
  const body = raw ? JSON.parse(raw) : {};
  switch (path) {
    case "/__reset":
      resetState();
      return send(res, 200, {});
    case "/__script": {
      if (!body.method) return send(res, 400, { error: "method required" });
      const list = state.scripts.get(body.method) || [];
      list.push({ error: body.error, delay_ms: body.delay_ms || 0, drop: !!body.drop,
        times: body.times ?? 1 });
      state.scripts.set(body.method, list);
      return send(res, 200, {});
    }
    case "/__rtc/drop": // LiveKit gone: every signalling socket and PC of `room` (or all) dies
      if (body.room) rtcDrop.rooms.add(body.room);
      else rtcDrop.all = true;
      for (const sess of [...rtc.sessions]) {
        if (body.room && sess.r.room.name !== body.room) continue;
        sess.teardown(true);
        rooms.leave(sess.r, sess);
      }
      return send(res, 200, {});
    case "/__sip/script":
      try {
        phones.script(body);
      } catch (e) {
        return send(res, 400, { error: e.message });
      }
      return send(res, 200, {});
    case "/__sip/answer":
    case "/__sip/play":
    case "/__sip/hangup": {
      const p = phones.get(body.room || "", body.identity || "");
      if (!p || p.gone) return send(res, 404, { error: "no such phone participant in the room" });
      if (path === "/__sip/hangup") {
        p.hangup();
        return send(res, 200, p.report());
      }
      if (path === "/__sip/answer") {
        if (!p.answerNow?.()) return send(res, 409, { error: `call is ${p.info.attributes["sip.callStatus"]}` });
        return send(res, 200, {});
      }
      let pcm;
      try {
        if (body.wav) pcm = readWav(readFileSync(body.wav));
        else if (body.wav_base64) pcm = readWav(Buffer.from(body.wav_base64, "base64"));
        else if (body.tone_hz) pcm = tone(body.tone_hz, body.ms ?? 1000, body.amplitude ?? 0.3);
        else return send(res, 400, { error: "wav, wav_base64 or tone_hz required" });
      } catch (e) {
        return send(res, 400, { error: `cannot play: ${e.message}` });
      }
      p.play(pcm, body.loop);
      return send(res, 200, { duration_ms: Math.round(pcm.length / 48) });
    }
    case "/__rtc/allow":
      rtcDrop.all = false;
      rtcDrop.rooms.clear();
      return send(res, 200, {});
    case "/__verify":
      try {
        return send(res, 200, await verifier.verify(body.token || ""));
      } catch (e) {
        return send(res, 401, { error: e.message });
      }
    case "/__webhook_sign":
      return send(res, 200, { authorization: await signBody(body.body ?? "") });
    case "/__webhook_send": {
      const ev = proto.WebhookEvent.fromJson(body.event, { ignoreUnknownFields: false });
      if (!ev.id) ev.id = id("EV");
      if (!ev.createdAt) ev.createdAt = nowS();
      const payload = JSON.stringify(ev.toJson());
      const auth = await signBody(payload, body.key, body.secret);
      const r = await fetch(body.url, { method: "POST", body: payload,
        headers: { "Content-Type": "application/webhook+json", Authorization: auth } });
      return send(res, 200, { status: r.status, body: await r.text(), sent: payload });
    }
    default:
      return send(res, 404, { error: "no such hook" });
  }
}

const server = http.createServer((req, res) => {
  const path = new URL(req.url, "http://x").pathname;
  const done = (p) => p.catch((e) => {
    if (!res.headersSent) send(res, 500, { error: String(e?.message || e) });
  });
  if (path.startsWith("/__")) return done(hook(req, res, path));
  if (path === "/rtc" || path.startsWith("/rtc/")) return rtcHttp(rtc, req, res, path);
  const m = path.match(/^\/twirp\/([A-Za-z.]+\/[A-Za-z]+)$/);
  const route = m && routes[m[1]];
  if (!route || req.method !== "POST") {
    return done(readBody(req).then(() => sendTwirpError(res,
      new TwirpError("bad_route", `no handler for ${req.method} ${path}`))));
  }
  return done(twirp(req, res, route, m[1]));
});
server.on("upgrade", (req, socket, head) => {
  socket.on("error", () => {});
  rtcUpgrade(rtc, req, socket, head).catch((e) => {
    log(`upgrade: ${e.stack || e}`);
    socket.destroy();
  });
});
server.keepAliveTimeout = 1000;
server.listen(port, host, () => {
  const url = `http://${host}:${server.address().port}`;
  console.log(`fake livekit listening on ${url} key=${apiKey}`);
  if (readyFile) writeFileSync(readyFile, `${url}\n`);
  console.log("ready");
});
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));
