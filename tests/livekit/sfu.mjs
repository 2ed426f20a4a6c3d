// Media and data for the LiveKit test server: one participant's two werift
// PeerConnections (LiveKit's v0 "dual PC" protocol) and the forwarding of
// published Opus RTP to the other participants' subscriber PCs.
//
//   publisher PC  : the client offers (after AddTrackRequest), we answer;
//                   its data channels _reliable/_lossy carry DataPackets to us.
//   subscriber PC : we offer, with _reliable (ordered) and _lossy (unordered,
//                   maxRetransmits 0) data channels and one sendonly audio
//                   transceiver per remote track, msid "PA_x|TR_y TR_y".
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(resolve(here, "..", "js"), "package.json"));
// The CommonJS build, so that the SCTP module patched below is the one the
// PeerConnections use.
const werift = require("werift");
const sctp = require(join(dirname(require.resolve("werift")), "..", "..", "sctp", "src", "sctp.js"));
export const { RTCPeerConnection, MediaStreamTrack, MediaStream, RTCRtpCodecParameters, RtpPacket,
  RtpHeader } = werift;

// werift issue #706: InboundStream.popMessages delivers at most one message per
// call (after a delivery it keeps the old start position), so with several
// streams (LiveKit has _reliable and _lossy) a complete message can stay in the
// reassembly buffer until another chunk arrives. This version restarts the
// scan after each delivered message.
const LAST_FRAG = 0x01, FIRST_FRAG = 0x02, UNORDERED = 0x04;
function takeMessage(stream) {
  const chunks = stream.reassembly;
  let start = -1, expected = 0, ordered = true;
  for (let pos = 0; pos < chunks.length; pos++) {
    const c = chunks[pos];
    if (start < 0) {
      ordered = !(c.flags & UNORDERED);
      if (!(c.flags & FIRST_FRAG)) {
        if (ordered) return null;
        continue;
      }
      if (ordered && c.streamSeqNum !== stream.streamSequenceNumber) {
        // an ordered message whose turn has not come (or an old one): wait
        if (((c.streamSeqNum - stream.streamSequenceNumber) & 0xffff) < 0x8000) return null;
      }
      start = pos;
      expected = c.tsn;
    } else if (c.tsn !== expected) {
      if (ordered) return null;
      start = -1;
      pos--; // this chunk may begin another unordered message
      continue;
    }
    if (c.flags & LAST_FRAG) {
      const data = Buffer.concat(chunks.slice(start, pos + 1).map((x) => x.userData));
      stream.reassembly = [...chunks.slice(0, start), ...chunks.slice(pos + 1)];
      if (ordered && c.streamSeqNum === stream.streamSequenceNumber)
        stream.streamSequenceNumber = (stream.streamSequenceNumber + 1) & 0xffff;
      return [c.streamId, c.protocol, data];
    }
    expected = (expected + 1) >>> 0;
  }
  return null;
}
export const { InboundStream } = sctp;
sctp.InboundStream.prototype.popMessages = function* popMessages() {
  for (let n = 0; n < 100000; n++) {
    const m = takeMessage(this);
    if (!m) return;
    yield m;
  }
};

export const OPUS_PT = 111;
function peerConfig(host) {
  const loopback = host.startsWith("127.");
  return {
    codecs: {
      audio: [new RTCRtpCodecParameters({ mimeType: "audio/opus", clockRate: 48000, channels: 2,
        payloadType: OPUS_PT, parameters: "minptime=10;useinbandfec=1" })],
      // video is never forwarded, but clients offer recvonly video sections
      // on the publisher PC (rtc-node 1.1 does): werift must be able to answer them
      video: [new RTCRtpCodecParameters({ mimeType: "video/VP8", clockRate: 90000, payloadType: 96 })],
    },
    headerExtensions: { audio: [], video: [] },
    bundlePolicy: "max-bundle",
    iceUseIpv6: false,
    iceInterfaceAddresses: loopback ? undefined : { udp4: host },
    iceAdditionalHostAddresses: loopback ? [host] : undefined,
  };
}

// A copy of a forwarded packet: werift's sender rewrites ssrc, payload type,
// sequence number and timestamp in place, and the header extensions
// negotiated on the publisher PC mean nothing on a subscriber PC.
export function forwardCopy(rtp) {
  const h = rtp.header;
  return new RtpPacket(new RtpHeader({ marker: h.marker, payloadType: OPUS_PT,
    sequenceNumber: h.sequenceNumber, timestamp: h.timestamp, ssrc: h.ssrc }), rtp.payload);
}

// One participant's PeerConnections. `events`:
//   signal(case, value)          a SignalResponse to send (offer/answer/trickle)
//   track(cid, emitRtp)          a published track arrived; emitRtp(cb) registers
//                                cb(rtp) for each of its RTP packets
//   data(bytes, reliable)        a DataPacket arrived from the client
//   failed(why)                  a PC failed
export class Peer {
  constructor(host, events) {
    this.events = events;
    this.closed = false;
    this.pub = new RTCPeerConnection(peerConfig(host));
    this.sub = new RTCPeerConnection(peerConfig(host));
    this.subBusy = false; // an offer is out, its answer not yet here
    this.subAgain = false;
    this.sendersByTrack = new Map(); // track sid → {sender, local}
    this.reliable = this.sub.createDataChannel("_reliable", { ordered: true });
    this.lossy = this.sub.createDataChannel("_lossy", { ordered: false, maxRetransmits: 0 });
    this.pendingData = [];
    this.reliable.stateChanged.subscribe((s) => {
      if (s !== "open") return;
      for (const d of this.pendingData.splice(0)) this.reliable.send(d);
    });
    for (const [pc, target] of [[this.pub, 0], [this.sub, 1]]) {
      pc.onIceCandidate.subscribe((c) => {
        if (!c || this.closed) return;
        const j = c.toJSON();
        events.signal("trickle", { target, candidateInit: JSON.stringify({ candidate: j.candidate,
          sdpMid: j.sdpMid ?? "0", sdpMLineIndex: j.sdpMLineIndex ?? 0 }) });
      });
      pc.connectionStateChange.subscribe((s) => {
        if (process.env.LK_DEBUG) console.log(`${target ? "sub" : "pub"} PC ${s}`);
      });
      pc.iceConnectionStateChange.subscribe((s) => {
        if (process.env.LK_DEBUG) console.log(`${target ? "sub" : "pub"} ICE ${s}`);
        if (s === "failed" && !this.closed) events.failed(target ? "subscriber PC failed" : "publisher PC failed");
      });
    }
    this.pub.onDataChannel.subscribe((dc) => {
      dc.onMessage.subscribe((m) => {
        if (!this.closed && typeof m !== "string") events.data(m, dc.label === "_reliable");
      });
    });
    const seen = new WeakSet(); // a renegotiation fires ontrack again for the same track
    this.pub.ontrack = ({ track, transceiver }) => {
      if (seen.has(track)) return;
      seen.add(track);
      const cid = transceiver.receiver.remoteTrackId || track.id || "";
      let n = 0;
      events.track(cid, (cb) => track.onReceiveRtp.subscribe((rtp) => {
        if (process.env.LK_DEBUG && n++ % 250 === 0) console.log(`rtp from ${cid}: ${n} pt ${rtp.header.payloadType} ${rtp.payload.length} B`);
        cb(rtp);
      }));
    };
  }

  async offerSubscriber() {
    if (this.closed) return;
    if (this.subBusy) {
      this.subAgain = true;
      return;
    }
    this.subBusy = true;
    this.subAgain = false;
    const offer = await this.sub.createOffer();
    await this.sub.setLocalDescription(offer);
    if (this.closed) return;
    this.subOfferId = (this.subOfferId || 0) + 1;
    this.events.signal("offer", { type: "offer", sdp: this.sub.localDescription.sdp, id: this.subOfferId });
  }

  async subscriberAnswer(sdp) {
    try {
      await this.sub.setRemoteDescription({ type: "answer", sdp });
    } finally {
      this.subBusy = false;
    }
    if (this.subAgain) await this.offerSubscriber();
  }

  // `id`: SessionDescription.id of the offer, echoed in the answer
  // (livekit-client 2.23 waits for the answer carrying its own offer id).
  async publisherOffer(sdp, id) {
    if (process.env.LK_DUMP_SDP) console.log(`publisher offer:\n${sdp}`);
    await this.pub.setRemoteDescription({ type: "offer", sdp });
    await this.pub.setLocalDescription(await this.pub.createAnswer());
    if (this.closed) return;
    // werift answers the sections it has nothing for (the recvonly ones) with
    // port 0 but keeps them in the BUNDLE group; when such a section is the
    // BUNDLE tag, libwebrtc drops the whole transport. They are inactive, and
    // an inactive section keeps its port.
    const sdp2 = this.pub.localDescription.sdp.replace(/^m=(audio|video) 0 /gm, "m=$1 9 ");
    if (process.env.LK_DUMP_SDP) console.log(`publisher answer:\n${sdp2}`);
    this.events.signal("answer", { type: "answer", sdp: sdp2, id });
  }

  async candidate(target, init) {
    const pc = target === 1 ? this.sub : this.pub;
    const c = JSON.parse(init);
    if (!c.candidate) return;
    try {
      await pc.addIceCandidate(c);
    } catch (e) {
      const mids = pc.getTransceivers().map((t) => t.mid);
      throw new Error(`${e.message} (target ${target}, mid ${c.sdpMid}, idx ${c.sdpMLineIndex}, transceivers ${mids}, sctp ${pc.sctpTransport?.mid}, sdp ${pc.remoteDescription?.sdp?.match(/a=mid:.*/g)})`);
    }
  }

  // Starts sending the remote track `trackSid` of `participantSid`; returns
  // write(rtp), or null once closed.
  subscribe(participantSid, trackSid) {
    if (this.closed) return null;
    const local = new MediaStreamTrack({ kind: "audio" });
    const t = this.sub.addTransceiver(local, { direction: "sendonly",
      streams: [new MediaStream({ id: `${participantSid}|${trackSid}` })] });
    t.sender.trackId = trackSid;
    t.sender.setStreams([new MediaStream({ id: `${participantSid}|${trackSid}` })]);
    this.sendersByTrack.set(trackSid, { sender: t.sender, local });
    this.offerSubscriber().catch((e) => this.closed || this.events.failed(`subscriber offer: ${e.message}`));
    return (rtp) => {
      if (!local.stopped) local.writeRtp(forwardCopy(rtp));
    };
  }

  unsubscribe(trackSid) {
    const s = this.sendersByTrack.get(trackSid);
    if (!s || this.closed) return;
    this.sendersByTrack.delete(trackSid);
    s.local.stop();
    try {
      this.sub.removeTrack(s.sender);
    } catch {
      return;
    }
    this.offerSubscriber().catch((e) => this.closed || this.events.failed(`subscriber offer: ${e.message}`));
  }

  sendData(bytes) {
    if (this.closed) return;
    if (this.reliable.readyState === "open") this.reliable.send(Buffer.from(bytes));
    else if (this.pendingData.length < 1000) this.pendingData.push(Buffer.from(bytes));
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    for (const { local } of this.sendersByTrack.values()) local.stop();
    this.pub.close().catch(() => {});
    this.sub.close().catch(() => {});
  }
}
