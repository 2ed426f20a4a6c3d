// Rooms of the LiveKit test server: who is in a room (RTC sessions from
// rtc.mjs, phone participants from sip.mjs), the tracks they publish, and the
// fan-out of participant updates, RTP and data packets between them.
//
// A member is any object with:
//   info                      proto.ParticipantInfo (sid PA_…, identity, tracks …)
//   canSubscribe              receives the others' audio
//   update(infos)             the others' ParticipantInfo changed (joined, left, tracks)
//   subscribe(ownerInfo, trackInfo) → write(rtp) | null   start receiving a track
//   unsubscribe(trackSid)     that track is gone
//   data(bytes)               a DataPacket (binary) for this member
//   disconnect(reason)        the server ends the membership (LeaveRequest …)
import { randomBytes } from "node:crypto";

export const sid = (prefix) => `${prefix}_${randomBytes(6).toString("hex")}`;

export function newRoom(proto, name, fields = {}) {
  const room = new proto.Room({
    sid: sid("RM"), name, emptyTimeout: 300, maxParticipants: 0,
    creationTime: BigInt(Math.floor(Date.now() / 1000)), creationTimeMs: BigInt(Date.now()), ...fields,
  });
  return {
    room,
    participants: new Map(), // identity → ParticipantInfo (what ListParticipants shows)
    members: new Map(), // identity → member (a live RTC session or phone participant)
    tracks: new Map(), // track sid → {owner, info, sinks: Map identity → write}
    closed: false,
  };
}

export class Rooms {
  // notify(event, {room, participant?, track?}) is the webhook hook;
  // empty(r) is called when a room had members and stayed empty for its
  // departure timeout (default 20 s), as LiveKit closes such a room.
  constructor(proto, notify, empty) {
    this.proto = proto;
    this.notify = notify;
    this.empty = empty;
  }

  others(r, member) {
    return [...r.members.values()].filter((m) => m !== member);
  }

  // Tells the others that `info` changed; a hidden participant (video.hidden)
  // is never shown to the others, as on LiveKit.
  broadcast(r, info, except) {
    if (info.permission?.hidden) return;
    for (const m of r.members.values()) if (m !== except) m.update([info]);
  }

  join(r, member) {
    const old = r.members.get(member.info.identity);
    if (old) old.disconnect(this.proto.DisconnectReason.DUPLICATE_IDENTITY);
    r.members.set(member.info.identity, member);
    r.participants.set(member.info.identity, member.info);
    if (r.departureTimer) {
      clearTimeout(r.departureTimer);
      r.departureTimer = null;
    }
    this.notify("participant_joined", { room: r.room, participant: member.info });
    this.broadcast(r, member.info, member);
    if (member.canSubscribe) for (const t of r.tracks.values()) this.attach(r, t, member);
  }

  // Removes `member` (no-op if it is no longer the room's member of that identity).
  leave(r, member) {
    if (r.members.get(member.info.identity) !== member) return;
    r.members.delete(member.info.identity);
    r.participants.delete(member.info.identity);
    for (const [tsid, t] of r.tracks) {
      if (t.owner === member) {
        r.tracks.delete(tsid);
        for (const m of r.members.values()) m.unsubscribe(tsid);
      } else t.sinks.delete(member.info.identity);
    }
    member.info.state = this.proto.ParticipantInfo_State.DISCONNECTED;
    this.broadcast(r, member.info, member);
    this.notify("participant_left", { room: r.room, participant: member.info });
    if (r.members.size === 0 && !r.closed) {
      const wait = (r.room.departureTimeout || 20) * 1000;
      r.departureTimer = setTimeout(() => {
        if (r.members.size === 0 && !r.closed) this.empty(r);
      }, wait);
      r.departureTimer.unref();
    }
  }

  // The member's track is live: every other subscribing member receives it.
  // Returns route(rtp), to be called for each RTP packet of the track.
  publish(r, member, info) {
    const t = { owner: member, info, sinks: new Map() };
    r.tracks.set(info.sid, t);
    if (!member.info.tracks.some((x) => x.sid === info.sid)) member.info.tracks.push(info);
    this.broadcast(r, member.info, member);
    this.notify("track_published", { room: r.room, participant: member.info, track: info });
    for (const m of this.others(r, member)) if (m.canSubscribe) this.attach(r, t, m);
    return (rtp) => {
      for (const write of t.sinks.values()) write(rtp);
    };
  }

  attach(r, t, m) {
    if (t.owner === m || t.sinks.has(m.info.identity)) return;
    const write = m.subscribe(t.owner.info, t.info);
    if (write) t.sinks.set(m.info.identity, write);
  }

  // Delivers a DataPacket to every member but `from` (null: the server API),
  // only to `destinations` when that list is not empty.
  data(r, from, bytes, destinations) {
    for (const m of r.members.values()) {
      if (m === from) continue;
      if (destinations.length && !destinations.includes(m.info.identity)) continue;
      m.data(bytes);
    }
  }

  remove(r, identity, reason) {
    const m = r.members.get(identity);
    if (!m) {
      r.participants.delete(identity);
      return;
    }
    m.disconnect(reason);
    this.leave(r, m);
  }

  // Everybody out (DeleteRoom, /__reset).
  close(r, reason) {
    r.closed = true;
    if (r.departureTimer) clearTimeout(r.departureTimer);
    for (const m of [...r.members.values()]) {
      m.disconnect(reason);
      this.leave(r, m);
    }
    this.notify("room_finished", { room: r.room });
  }
}
