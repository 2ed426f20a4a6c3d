// LiveKit webhooks from the test server (--webhook-url URL): the room events
// (room_started, room_finished, participant_joined, participant_left,
// track_published) POSTed in order, one at a time, as LiveKit sends them:
// application/webhook+json, Authorization = raw JWT whose sha256 claim is the
// body's SHA-256 (see signBody in fake.mjs). Each delivery is remembered for
// GET /__webhooks.
export class Webhooks {
  // sign(body) → Promise<authorization>
  constructor(proto, url, sign, log) {
    this.proto = proto;
    this.url = url;
    this.sign = sign;
    this.log = log;
    this.chain = Promise.resolve();
    this.sent = []; // [{event, room, participant, track, status, error, at, body}]
    this.seq = 0;
  }

  send(event, { room, participant, track }) {
    if (!this.url) return;
    const { proto } = this;
    const ev = new proto.WebhookEvent({ event, room: room?.clone(), participant: participant?.clone(),
      track: track?.clone(), id: `EV_${Date.now().toString(36)}${(++this.seq).toString(36)}`,
      createdAt: BigInt(Math.floor(Date.now() / 1000)) });
    const body = ev.toJsonString();
    const rec = { event, room: room?.name ?? "", participant: participant?.identity ?? "",
      track: track?.sid ?? "", status: 0, error: null, at: Date.now(), body };
    if (this.sent.length >= 10000) this.sent.shift();
    this.sent.push(rec);
    this.chain = this.chain.then(async () => {
      try {
        const r = await fetch(this.url, { method: "POST", body, signal: AbortSignal.timeout(5000),
          headers: { "Content-Type": "application/webhook+json", Authorization: await this.sign(body) } });
        rec.status = r.status;
        await r.arrayBuffer();
      } catch (e) {
        rec.error = String(e?.cause?.code || e?.message || e);
        this.log(`webhook ${event}: ${rec.error}`);
      }
    });
  }
}
