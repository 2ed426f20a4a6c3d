// Server-side SIP phone participants of the LiveKit test server, as
// SIP/CreateSIPParticipant brings them into a room: a room member (room.mjs)
// of kind SIP with attributes sip.callStatus (dialing → ringing → active →
// hangup), sip.callID, sip.phoneNumber, sip.trunkID. It subscribes to the
// others from the start and records what it hears (RMS per decoded 20 ms
// Opus frame, wall-clock time); once answered it publishes an Opus track
// (opusscript: libopus in WebAssembly) carrying silence or a WAV it is told
// to play. The far end is scripted: ring and answer delays, or a SIP reject.
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { sid } from "./room.mjs";
import { RtpPacket, RtpHeader, OPUS_PT } from "./sfu.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(resolve(here, "..", "js"), "package.json"));
const OpusScript = require("opusscript");

const RATE = 48000, FRAME = 960; // 20 ms
const HEARD_MAX = 50 * 60 * 30; // 30 minutes of 20 ms frames per phone

// A 16-bit PCM WAV (any rate, mono or stereo) as 48 kHz mono Int16Array.
export function readWav(buf) {
  if (buf.toString("ascii", 0, 4) !== "RIFF" || buf.toString("ascii", 8, 12) !== "WAVE")
    throw new Error("not a RIFF/WAVE file");
  let fmt = null, data = null;
  for (let off = 12; off + 8 <= buf.length;) {
    const id = buf.toString("ascii", off, off + 4), len = buf.readUInt32LE(off + 4);
    const body = buf.subarray(off + 8, Math.min(buf.length, off + 8 + len));
    if (id === "fmt ") fmt = { format: body.readUInt16LE(0), channels: body.readUInt16LE(2),
      rate: body.readUInt32LE(4), bits: body.readUInt16LE(14) };
    else if (id === "data") data = body;
    off += 8 + len + (len & 1);
  }
  if (!fmt || !data) throw new Error("WAV without fmt or data chunk");
  if ((fmt.format !== 1 && fmt.format !== 0xfffe) || fmt.bits !== 16)
    throw new Error(`WAV must be 16-bit PCM (format ${fmt.format}, ${fmt.bits} bits)`);
  const frames = Math.floor(data.length / (2 * fmt.channels));
  const mono = new Float32Array(frames);
  for (let i = 0; i < frames; i++) {
    let v = 0;
    for (let c = 0; c < fmt.channels; c++) v += data.readInt16LE(2 * (i * fmt.channels + c));
    mono[i] = v / fmt.channels;
  }
  const outLen = Math.floor((frames * RATE) / fmt.rate);
  const out = new Int16Array(outLen);
  for (let i = 0; i < outLen; i++) {
    const pos = (i * fmt.rate) / RATE, j = Math.floor(pos), f = pos - j;
    const a = mono[j] ?? 0, b = mono[j + 1] ?? a;
    out[i] = Math.max(-32768, Math.min(32767, Math.round(a + (b - a) * f)));
  }
  return out;
}

export function tone(freq, ms, amplitude = 0.3) {
  const out = new Int16Array(Math.floor((RATE * ms) / 1000));
  for (let i = 0; i < out.length; i++) out[i] = Math.round(amplitude * 32767 * Math.sin((2 * Math.PI * freq * i) / RATE));
  return out;
}

function rmsOf(pcm) {
  let e = 0;
  for (let i = 0; i < pcm.length; i++) e += (pcm[i] / 32768) ** 2;
  return Math.sqrt(e / Math.max(1, pcm.length));
}

class Phone {
  constructor(ctx, r, req, script) {
    const { proto } = ctx;
    this.ctx = ctx;
    this.proto = proto;
    this.r = r;
    this.canSubscribe = true;
    this.gone = false;
    this.statuses = [];
    this.heard = [];
    this.decoders = new Map(); // track sid → OpusScript
    this.playing = null; // {pcm, pos, loop}
    this.timers = new Set();
    this.info = new proto.ParticipantInfo({
      sid: sid("PA"), identity: req.participantIdentity || `sip_${req.sipCallTo}`,
      name: req.participantName || (req.hidePhoneNumber ? "" : `Phone ${req.sipCallTo}`),
      metadata: req.participantMetadata, kind: proto.ParticipantInfo_Kind.SIP,
      state: proto.ParticipantInfo_State.ACTIVE, joinedAt: BigInt(Math.floor(Date.now() / 1000)),
      joinedAtMs: BigInt(Date.now()), version: 1,
      attributes: { ...req.participantAttributes, "sip.callID": sid("SCL"), "sip.trunkID": req.sipTrunkId,
        "sip.phoneNumber": req.hidePhoneNumber ? "" : req.sipCallTo, "sip.callStatus": "dialing" },
      permission: new proto.ParticipantPermission({ canPublish: true, canSubscribe: true, canPublishData: true }),
    });
    this.statuses.push({ status: "dialing", at: Date.now() });
    this.script = script;
    this.answered = null; // promise of {ok} | {code, status}
  }

  get identity() {
    return this.info.identity;
  }

  after(ms, fn) {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  setStatus(status) {
    if (this.gone) return;
    this.info.attributes["sip.callStatus"] = status;
    this.info.version++;
    this.statuses.push({ status, at: Date.now() });
    this.ctx.log(`sip ${this.identity}: ${status}`);
    this.ctx.rooms.broadcast(this.r, this.info, this);
  }

  // Runs the scripted far end; resolves when answered or rejected.
  dial(ringingTimeoutMs) {
    const s = this.script;
    return new Promise((done) => {
      this.answerNow = () => {
        if (this.gone || this.info.attributes["sip.callStatus"] === "active") return false;
        this.answerNow = null;
        this.setStatus("active");
        this.startPublishing();
        done({ ok: true });
        return true;
      };
      this.rejectNow = (code, status) => {
        this.answerNow = null;
        this.rejected = { code, status };
        this.hangup();
        done({ code, status });
      };
      const ring = () => {
        if (this.gone) return done({ code: 487, status: "Request Terminated" });
        this.setStatus("ringing");
        if (s.reject) return this.after(s.answer_ms || 0, () => this.rejectNow(s.reject.code, s.reject.status || ""));
        if (s.answer_ms < 0) { // answered by POST /__sip/answer
          if (ringingTimeoutMs > 0) this.after(ringingTimeoutMs, () => this.answerNow && this.rejectNow(408, "Request Timeout"));
          return;
        }
        if (ringingTimeoutMs > 0 && s.answer_ms > ringingTimeoutMs)
          return this.after(ringingTimeoutMs, () => this.rejectNow(408, "Request Timeout"));
        if (s.answer_ms) this.after(s.answer_ms, () => this.answerNow?.());
        else this.answerNow();
      };
      if (s.ring_ms) this.after(s.ring_ms, ring);
      else ring();
    });
  }

  startPublishing() {
    const { proto } = this;
    this.encoder = new OpusScript(RATE, 1, OpusScript.Application.VOIP);
    const info = new proto.TrackInfo({ sid: sid("TR"), type: proto.TrackType.AUDIO, name: "phone",
      source: proto.TrackSource.MICROPHONE, mimeType: "audio/opus" });
    const route = this.ctx.rooms.publish(this.r, this, info);
    const ssrc = randomBytes(4).readUInt32BE(0);
    let seq = randomBytes(2).readUInt16BE(0), ts = randomBytes(4).readUInt32BE(0), sent = 0;
    const t0 = Date.now();
    const tick = () => {
      if (this.gone) return;
      const due = Math.floor((Date.now() - t0) / 20) + 1;
      for (let burst = 0; sent < due && burst < 10; burst++, sent++) {
        const pcm = this.nextFrame();
        const payload = this.encoder.encode(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength), FRAME);
        route(new RtpPacket(new RtpHeader({ payloadType: OPUS_PT, sequenceNumber: seq, timestamp: ts, ssrc,
          marker: sent === 0 }), Buffer.from(payload)));
        seq = (seq + 1) & 0xffff;
        ts = (ts + FRAME) >>> 0;
      }
      sent = Math.max(sent, due); // after a stall, do not burst the backlog
      this.after(Math.max(1, t0 + sent * 20 - Date.now()), tick);
    };
    tick();
  }

  nextFrame() {
    const out = new Int16Array(FRAME);
    const p = this.playing;
    if (!p) return out;
    for (let i = 0; i < FRAME; i++) {
      if (p.pos >= p.pcm.length) {
        if (!p.loop) {
          this.playing = null;
          break;
        }
        p.pos = 0;
      }
      out[i] = p.pcm[p.pos++];
    }
    return out;
  }

  play(pcm, loop) {
    this.playing = { pcm, pos: 0, loop: !!loop };
  }

  report() {
    return { room: this.r.room.name, identity: this.identity, participant_sid: this.info.sid,
      call_id: this.info.attributes["sip.callID"], status: this.info.attributes["sip.callStatus"],
      statuses: this.statuses, rejected: this.rejected ?? null, left: this.gone,
      heard: this.heard.map(({ at, rms, from }) => ({ at, rms: Number(rms.toFixed(5)), from })) };
  }

  hangup() {
    if (this.gone) return;
    this.setStatus("hangup");
    this.ctx.rooms.leave(this.r, this);
    this.stop();
  }

  stop() {
    if (this.gone) return;
    this.gone = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.encoder?.delete();
    for (const d of this.decoders.values()) d.delete();
    this.decoders.clear();
  }

  // ---- member interface (room.mjs)
  update() {}

  subscribe(ownerInfo, trackInfo) {
    const dec = new OpusScript(RATE, 1, OpusScript.Application.VOIP);
    this.decoders.set(trackInfo.sid, dec);
    const from = ownerInfo.identity;
    return (rtp) => {
      if (this.gone || !this.decoders.has(trackInfo.sid)) return;
      let pcm;
      try {
        const out = dec.decode(Buffer.from(rtp.payload));
        pcm = new Int16Array(out.buffer, out.byteOffset, out.byteLength >> 1);
      } catch {
        return;
      }
      if (this.heard.length >= HEARD_MAX) this.heard.shift();
      this.heard.push({ at: Date.now(), rms: rmsOf(pcm), from });
    };
  }

  unsubscribe(trackSid) {
    const d = this.decoders.get(trackSid);
    if (!d) return;
    this.decoders.delete(trackSid);
    d.delete();
  }

  data() {}

  disconnect() {
    if (this.gone) return;
    this.info.attributes["sip.callStatus"] = "hangup";
    this.statuses.push({ status: "hangup", at: Date.now() });
    this.stop();
  }
}

// ctx: {proto, rooms, log}. Keeps every phone (also after it left) for /__sip/heard.
export class Phones {
  constructor(ctx) {
    this.ctx = ctx;
    this.reset();
  }

  reset() {
    for (const p of this.all?.values() ?? []) p.stop();
    this.all = new Map(); // "room\0identity" → Phone (the latest of that name)
    this.scripts = []; // [{identity?, room?, ring_ms, answer_ms, reject, times}]
  }

  script(s) {
    if (s.reject && !(s.reject.code >= 300 && s.reject.code <= 699))
      throw new Error("reject.code must be a SIP final status 300..699");
    this.scripts.push({ identity: s.identity, room: s.room, ring_ms: s.ring_ms ?? 0,
      answer_ms: s.answer_ms ?? 0, reject: s.reject ?? null, times: s.times ?? 1 });
  }

  takeScript(room, identity) {
    const i = this.scripts.findIndex((s) => (!s.identity || s.identity === identity) && (!s.room || s.room === room));
    if (i < 0) return { ring_ms: 0, answer_ms: 0, reject: null };
    const s = this.scripts[i];
    if (s.times > 0 && --s.times === 0) this.scripts.splice(i, 1);
    return s;
  }

  get(room, identity) {
    return this.all.get(`${room}\0${identity}`);
  }

  // CreateSIPParticipant. Resolves with the phone once it is in the room
  // (and, with wait_until_answered, answered); rejects with {code, status}
  // for a scripted SIP reject when waiting.
  async create(r, req) {
    const identity = req.participantIdentity || `sip_${req.sipCallTo}`;
    const phone = new Phone(this.ctx, r, req, this.takeScript(r.room.name, identity));
    this.all.set(`${r.room.name}\0${phone.identity}`, phone);
    this.ctx.rooms.join(r, phone);
    const ringingMs = req.ringingTimeout ? Number(req.ringingTimeout.seconds) * 1000 +
      Math.floor(req.ringingTimeout.nanos / 1e6) : 0;
    const outcome = phone.dial(ringingMs);
    if (req.waitUntilAnswered) {
      const o = await outcome;
      if (!o.ok) throw Object.assign(new Error("rejected"), { sip: o });
    }
    return phone;
  }
}
