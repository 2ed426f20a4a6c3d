// RTC signalling of the LiveKit test server: WebSocket /rtc (protocol v0,
// two PeerConnections), binary SignalRequest/SignalResponse from
// @livekit/protocol (JSON text frames are accepted too; the replies then
// switch to JSON, as LiveKit's server does).
//
//   GET /rtc?access_token=JWT&auto_subscribe=1&protocol=N…   (or Authorization: Bearer JWT)
//       401 + reason: bad signature, expired, no exp, wrong issuer
//       403 + reason: no video.roomJoin grant or no video.room
//   GET /rtc/validate?access_token=…   200 "success" or the same 401/403
//   /rtc/v1…  (incl. /rtc/v1/validate)  404, so that clients fall back to v0
import { acceptWebSocket, refuseUpgrade } from "./ws.mjs";
import { Peer } from "./sfu.mjs";
import { sid } from "./room.mjs";

const PING_INTERVAL = 5, PING_TIMEOUT = 15;
const KINDS = { standard: 0, ingress: 1, egress: 2, sip: 3, agent: 4 };

// Checks the token of a /rtc request: {claims} or {status, reason}.
async function authorize(verifier, req, url) {
  let token = url.searchParams.get("access_token") || "";
  const auth = req.headers.authorization || "";
  if (!token && auth.startsWith("Bearer ")) token = auth.slice(7);
  if (!token) return { status: 401, reason: "no access token (access_token or Authorization: Bearer)" };
  let claims;
  try {
    claims = await verifier.verify(token);
  } catch (e) {
    return { status: 401, reason: `invalid token: ${e.code ? e.code + ": " : ""}${e.message}` };
  }
  if (claims.video?.roomJoin !== true) return { status: 403, reason: "permission denied: token has no video.roomJoin grant" };
  if (!claims.video?.room) return { status: 403, reason: "permission denied: token names no video.room" };
  if (!claims.sub) return { status: 403, reason: "permission denied: token has no identity (sub)" };
  return { claims };
}

// One participant connected over /rtc: a room member (see room.mjs).
class RtcSession {
  constructor(ctx, ws, r, claims, url) {
    const { proto } = ctx;
    this.ctx = ctx;
    this.proto = proto;
    this.ws = ws;
    this.r = r;
    this.json = false;
    this.gone = false;
    const v = claims.video;
    this.canPublish = v.canPublish !== false;
    this.canSubscribe = v.canSubscribe !== false;
    this.canPublishData = v.canPublishData !== false;
    this.autoSubscribe = url.searchParams.get("auto_subscribe") !== "0";
    this.pending = new Map(); // cid → TrackInfo announced by AddTrackRequest, media not yet here
    this.routes = new Map(); // cid → route(rtp) of a published track
    this.info = new proto.ParticipantInfo({
      sid: sid("PA"), identity: claims.sub, name: claims.name || "", metadata: claims.metadata || "",
      attributes: claims.attributes || {}, state: proto.ParticipantInfo_State.ACTIVE,
      joinedAt: BigInt(Math.floor(Date.now() / 1000)), joinedAtMs: BigInt(Date.now()), version: 1,
      kind: KINDS[claims.kind] ?? 0,
      permission: new proto.ParticipantPermission({ canPublish: this.canPublish,
        canSubscribe: this.canSubscribe, canPublishData: this.canPublishData,
        hidden: !!v.hidden, canUpdateMetadata: !!v.canUpdateOwnMetadata, agent: !!v.agent }),
    });
    this.peer = new Peer(ctx.host, {
      signal: (kase, value) => this.signal(kase, value),
      track: (cid, onRtp) => this.mediaArrived(cid, onRtp),
      data: (bytes) => this.dataFromClient(bytes),
      failed: (why) => ctx.log(`${this.info.identity}: ${why}`),
    });
    // one message at a time: an offer's answer is out before the next request runs
    this.chain = Promise.resolve();
    ws.onmessage = (data, binary) => {
      this.lastSeen = Date.now();
      this.chain = this.chain.then(() => this.message(data, binary)).catch((e) =>
        ctx.log(`${this.info.identity}: ${e.stack || e}`));
    };
    ws.onclose = () => this.closed();
    this.lastSeen = Date.now();
    this.watchdog = setInterval(() => {
      if (Date.now() - this.lastSeen > PING_TIMEOUT * 1000) {
        ctx.log(`${this.info.identity}: no ping for ${PING_TIMEOUT} s`);
        this.disconnect(proto.DisconnectReason.CONNECTION_TIMEOUT);
        ctx.rooms.leave(r, this);
      }
    }, 1000);
    this.watchdog.unref();
  }

  start() {
    const { proto } = this;
    const others = [...this.r.members.values()].filter((m) => m.info.identity !== this.info.identity &&
      !m.info.permission?.hidden).map((m) => m.info);
    this.signal("join", new proto.JoinResponse({
      room: this.r.room, participant: this.info, otherParticipants: others,
      serverVersion: "1.9.0", subscriberPrimary: true, pingTimeout: PING_TIMEOUT,
      pingInterval: PING_INTERVAL,
      serverInfo: new proto.ServerInfo({ edition: proto.ServerInfo_Edition.Standard, version: "1.9.0",
        protocol: 16, nodeId: "callmesh-test" }),
    }));
    this.ctx.rooms.join(this.r, this);
    this.peer.offerSubscriber().catch((e) => this.ctx.log(`offer: ${e.message}`));
  }

  signal(kase, value) {
    if (this.gone) return;
    const msg = new this.proto.SignalResponse({ message: { case: kase, value } });
    this.ws.send(this.json ? msg.toJsonString() : msg.toBinary());
  }

  async message(data, binary) {
    const { proto } = this;
    if (this.gone) return;
    let req;
    if (binary) req = proto.SignalRequest.fromBinary(data);
    else {
      this.json = true;
      req = proto.SignalRequest.fromJsonString(data.toString("utf8"), { ignoreUnknownFields: true });
    }
    const { case: kase, value } = req.message;
    switch (kase) {
      case "offer":
        return this.peer.publisherOffer(value.sdp, value.id);
      case "answer":
        return this.peer.subscriberAnswer(value.sdp);
      case "trickle":
        return this.peer.candidate(value.target, value.candidateInit);
      case "addTrack":
        return this.addTrack(value);
      case "mute":
        return this.mute(value.sid, value.muted);
      case "leave":
        this.ctx.rooms.leave(this.r, this);
        return this.teardown(false);
      case "ping":
        return this.signal("pong", value);
      case "pingReq":
        return this.signal("pongResp", new proto.Pong({ lastPingTimestamp: value.timestamp,
          timestamp: BigInt(Date.now()) }));
      case "updateMetadata":
        if (!this.info.permission.canUpdateMetadata) return;
        if (value.metadata) this.info.metadata = value.metadata;
        if (value.name) this.info.name = value.name;
        for (const [k, v] of Object.entries(value.attributes || {})) this.info.attributes[k] = v;
        this.info.version++;
        this.ctx.rooms.broadcast(this.r, this.info, null);
        return;
      default: // subscription, trackSetting, updateLayers, syncState, simulate, …: nothing to do
        return;
    }
  }

  addTrack(req) {
    const { proto } = this;
    if (!this.canPublish) {
      this.ctx.log(`${this.info.identity}: AddTrackRequest without canPublish, ignored`);
      return;
    }
    if (req.type !== proto.TrackType.AUDIO) {
      this.ctx.log(`${this.info.identity}: only audio tracks are forwarded; ${req.name} ignored`);
      return;
    }
    const info = new proto.TrackInfo({ sid: sid("TR"), type: req.type, name: req.name,
      source: req.source, muted: req.muted, mimeType: "audio/opus", disableDtx: req.disableDtx,
      stereo: req.stereo, stream: req.stream, audioFeatures: req.audioFeatures });
    this.pending.set(req.cid, info);
    this.signal("trackPublished", new proto.TrackPublishedResponse({ cid: req.cid, track: info }));
  }

  mediaArrived(cid, onRtp) {
    const known = this.routes.get(cid);
    if (known) { // the same track on a new receiver after a renegotiation
      onRtp((rtp) => {
        if (!this.gone) known(rtp);
      });
      return;
    }
    let info = this.pending.get(cid);
    if (info) this.pending.delete(cid);
    else {
      const first = this.pending.entries().next().value; // a client whose msid track id is not its cid
      if (!first) {
        this.ctx.log(`${this.info.identity}: media for unannounced track ${cid}, dropped`);
        return;
      }
      this.pending.delete(first[0]);
      info = first[1];
    }
    this.info.version++;
    const route = this.ctx.rooms.publish(this.r, this, info);
    this.routes.set(cid, route);
    onRtp((rtp) => {
      if (!this.gone) route(rtp);
    });
  }

  mute(trackSid, muted) {
    const t = this.info.tracks.find((x) => x.sid === trackSid);
    if (!t) return;
    t.muted = muted;
    this.info.version++;
    this.ctx.rooms.broadcast(this.r, this.info, this);
  }

  dataFromClient(bytes) {
    const { proto } = this;
    if (!this.canPublishData) return;
    let pkt;
    try {
      pkt = proto.DataPacket.fromBinary(bytes);
    } catch (e) {
      this.ctx.log(`${this.info.identity}: bad DataPacket: ${e.message}`);
      return;
    }
    pkt.participantIdentity = this.info.identity;
    let dest = pkt.destinationIdentities;
    if (pkt.value.case === "user") {
      const u = pkt.value.value;
      u.participantSid = this.info.sid;
      u.participantIdentity = this.info.identity;
      if (!dest.length) dest = u.destinationIdentities;
    }
    this.ctx.rooms.data(this.r, this, pkt.toBinary(), dest);
  }

  // ---- member interface (room.mjs)
  update(infos) {
    this.signal("update", new this.proto.ParticipantUpdate({ participants: infos }));
  }

  subscribe(ownerInfo, trackInfo) {
    if (!this.autoSubscribe) return null;
    return this.peer.subscribe(ownerInfo.sid, trackInfo.sid);
  }

  unsubscribe(trackSid) {
    this.peer.unsubscribe(trackSid);
  }

  data(bytes) {
    this.peer.sendData(bytes);
  }

  disconnect(reason) {
    this.signal("leave", new this.proto.LeaveRequest({ canReconnect: false, reason,
      action: this.proto.LeaveRequest_Action.DISCONNECT }));
    this.teardown(false);
  }

  // abrupt: no close frame, TCP reset (/__rtc/drop)
  teardown(abrupt) {
    if (this.gone) return;
    this.gone = true;
    clearInterval(this.watchdog);
    this.ctx.sessions.delete(this);
    if (abrupt) this.ws.terminate();
    else this.ws.close(1000, "");
    this.peer.close();
  }

  closed() {
    this.ctx.rooms.leave(this.r, this);
    this.teardown(false);
  }
}

// ctx: {proto, verifier, rooms, roomFor(name) → r, host, log, sessions: Set,
//       dropped(roomName) → bool}
export function rtcHttp(ctx, req, res, path) {
  // plain GETs on /rtc…: validation (livekit-client asks it when the upgrade
  // fails, from the page's origin: LiveKit answers with CORS headers)
  res.setHeader("Access-Control-Allow-Origin", "*");
  res.setHeader("Access-Control-Allow-Headers", "Authorization, Content-Type");
  if (req.method === "OPTIONS") return res.writeHead(204).end();
  if (path.startsWith("/rtc/v1")) {
    res.writeHead(404, { "Content-Type": "text/plain" });
    return res.end("404 page not found: this server speaks signalling v0 (/rtc) only");
  }
  if (ctx.dropped(null)) return req.socket.destroy();
  const url = new URL(req.url, "http://x");
  authorize(ctx.verifier, req, url).then((a) => {
    if (a.claims) {
      res.writeHead(200, { "Content-Type": "text/plain" });
      return res.end("success");
    }
    res.writeHead(a.status, { "Content-Type": "text/plain" });
    res.end(a.reason);
  });
}

export async function rtcUpgrade(ctx, req, socket, head) {
  const url = new URL(req.url, "http://x");
  const path = url.pathname;
  if (path.startsWith("/rtc/v1")) return refuseUpgrade(socket, 404, "Not Found", "signalling v0 only");
  if (path !== "/rtc" && path !== "/rtc/") return refuseUpgrade(socket, 404, "Not Found", "no such path");
  if (ctx.dropped(null)) return socket.destroy();
  const a = await authorize(ctx.verifier, req, url);
  if (!a.claims) {
    ctx.log(`/rtc refused: ${a.status} ${a.reason}`);
    return refuseUpgrade(socket, a.status, a.status === 401 ? "Unauthorized" : "Forbidden", a.reason);
  }
  const room = a.claims.video.room;
  if (ctx.dropped(room)) return socket.destroy();
  const ws = acceptWebSocket(req, socket, head);
  if (!ws) return;
  if (url.searchParams.get("reconnect") === "1") {
    // A resume: this server drops a participant with its signalling socket,
    // so there is no session to resume. LiveKit's answer to that is a leave
    // asking for a full reconnect (a new join).
    const { proto } = ctx;
    ctx.log(`/rtc ${a.claims.sub}: resume of ${url.searchParams.get("sid") || "?"} refused, full reconnect asked`);
    const leave = new proto.SignalResponse({ message: { case: "leave", value: new proto.LeaveRequest({
      canReconnect: true, reason: proto.DisconnectReason.STATE_MISMATCH, action: proto.LeaveRequest_Action.RECONNECT }) } });
    ws.send(leave.toBinary());
    ws.close(1000, "");
    return;
  }
  const r = ctx.roomFor(room);
  const s = new RtcSession(ctx, ws, r, a.claims, url);
  ctx.sessions.add(s);
  ctx.log(`/rtc ${a.claims.sub} joins ${room} as ${s.info.sid}${url.searchParams.get("reconnect") === "1" ? ` (reconnect of ${url.searchParams.get("sid")})` : ""}`);
  s.start();
}
