/* One call's media on the relay's media thread (relay.c runs the threads):
 * the carrier's RTP, put back in sequence, → the room as it arrives (the
 * membership is at 8 kHz: no resampling), and RFC 4733 digits (to the dtmf
 * handler); every 20 ms one room frame (or silence) → G.711 → the carrier,
 * as the negotiated direction
 * allows; the media timeout. Digits and the timeout go out through the
 * relay's handlers. Also the room's receive thread side: frames queued (and
 * mixed) for the carrier. */
#include "relay_priv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- the far end's wishes ------------------------------------------------ */

void relay_params_from_sdp(struct relay_params *p, const struct sdp_audio *a)
{
	struct sdp_hold hold;
	sdp_hold_classify(&hold, a);
	memset(p, 0, sizeof(*p));
	p->pt = -1;
	for (int i = 0; i < a->nfmt && p->pt < 0; i++)
		if (a->fmt[i] == 0 || a->fmt[i] == 8)
			p->pt = a->fmt[i];
	p->te_pt = a->te_pt;
	/* hold.effective is what the far end does: sendonly = it sends, will
	 * not receive (RFC 3264 §6.1, we answered recvonly) */
	p->send = hold.effective == SDP_SENDRECV || hold.effective == SDP_RECVONLY;
	p->recv = hold.effective == SDP_SENDRECV || hold.effective == SDP_SENDONLY;
	p->timer = hold.effective == SDP_SENDRECV && !hold.hold;
	p->dir = sdp_dir_name(hold.effective);
	p->remote.sin_family = AF_INET;
	p->remote.sin_port = htons(a->port);
	p->have_remote = a->port != 0 && inet_pton(AF_INET, a->addr, &p->remote.sin_addr) == 1 &&
			 p->remote.sin_addr.s_addr != htonl(INADDR_ANY);
}

/* Index of a sender's SSRC among those this leg heard; ROOM_SENDERS_MAX
 * when the table is full (its audio is then dropped). Under l->mu. */
static size_t sender_index(struct relay_leg *l, uint32_t ssrc)
{
	for (size_t i = 0; i < l->nsenders; i++)
		if (l->sender_ssrc[i] == ssrc)
			return i;
	if (l->nsenders == ROOM_SENDERS_MAX)
		return ROOM_SENDERS_MAX;
	l->sender_ssrc[l->nsenders] = ssrc;
	return l->nsenders++;
}

/* Room receive thread: copy and hand off. A sender's frame is mixed into
 * the oldest queued slot it is not yet in, so two people talking at once
 * are heard together at the pace of one. */
void relay_on_room_frame(const struct room_frame *f, void *arg)
{
	struct relay_leg *l = arg;
	if (!atomic_load(&l->started))
		return; /* before the answer: nothing is kept for the carrier */
	pthread_mutex_lock(&l->mu);
	size_t si = sender_index(l, f->ssrc);
	/* a frame not at the membership's rate never comes from libs/room */
	if (si == ROOM_SENDERS_MAX || f->samples != RELAY_FRAME) {
		l->q_dropped++;
		pthread_mutex_unlock(&l->mu);
		return;
	}
	uint32_t bit = 1u << si;
	for (size_t i = 0; i < l->q_n; i++) {
		struct relay_slot *sl = &l->q[(l->q_head + i) % RELAY_QUEUE_FRAMES];
		if (sl->senders & bit)
			continue;
		for (size_t k = 0; k < RELAY_FRAME; k++) {
			int32_t v = (int32_t)sl->pcm[k] + f->pcm[k];
			sl->pcm[k] = (int16_t)(v > INT16_MAX   ? INT16_MAX
					       : v < INT16_MIN ? INT16_MIN
							       : v);
		}
		sl->senders |= bit;
		pthread_mutex_unlock(&l->mu);
		return;
	}
	if (l->q_n == RELAY_QUEUE_FRAMES) {
		/* the oldest goes: the carrier hears the latest audio */
		l->q_head = (l->q_head + 1) % RELAY_QUEUE_FRAMES;
		l->q_n--;
		l->q_dropped++;
	}
	struct relay_slot *sl = &l->q[(l->q_head + l->q_n) % RELAY_QUEUE_FRAMES];
	memcpy(sl->pcm, f->pcm, sizeof(sl->pcm));
	sl->senders = bit;
	l->q_n++;
	pthread_mutex_unlock(&l->mu);
}

/* ---- the media thread ---------------------------------------------------- */

static void report_dtmf(struct relay_leg *l, const struct dtmf_event *e)
{
	if (e->digit == '!')
		return; /* flash: not a call_dtmf digit */
	l->relay->h->dtmf(l->call_id, l->room_name, e->digit, e->duration_ms, l->relay->arg);
	l->dtmf_events++;
	log_info("call_dtmf", "%s: %c (%u ms)", l->call_id, e->digit, (unsigned)e->duration_ms);
}

/* Carrier → room, one packet of the far end (or a concealed loss), cut
 * into 20 ms room frames at 8 kHz. */
static void uplink_frame(struct relay_leg *l, const struct jbuf_frame *fr)
{
	size_t n8 = 0;
	if (l->up_n + G711_BUF > CM_ARRAY_LEN(l->up_buf))
		l->up_n = 0; /* never overrun; only reachable with odd ptimes */
	int16_t *pcm8 = l->up_buf + l->up_n;
	if (fr->status == JBUF_FRAME) {
		n8 = fr->len < G711_BUF ? fr->len : G711_BUF;
		g711_decode(l->law, pcm8, fr->data, n8);
	} else if (fr->status == JBUF_LOSS) {
		n8 = G711_FRAME_SAMPLES;
		memset(pcm8, 0, n8 * sizeof(int16_t));
	}
	l->up_n += n8;
	size_t done = 0;
	while (l->up_n - done >= RELAY_FRAME) {
		pthread_mutex_lock(&l->mu);
		if (l->room && l->relay->room_ops->send_frame(l->room, l->up_buf + done) == 0)
			l->frames_up++;
		pthread_mutex_unlock(&l->mu);
		done += RELAY_FRAME;
	}
	l->up_n -= done;
	if (done && l->up_n)
		memmove(l->up_buf, l->up_buf + done, l->up_n * sizeof(int16_t));
}

/* Carrier → room as packets arrive: every packet next in sequence goes on
 * at once (the room's receivers run the jitter buffers; a relay that paced
 * its output would only add its own delay). Later packets wait for a missing
 * one until give_up, when it is concealed. */
static void leg_uplink(struct relay_leg *l, int64_t now_us, bool give_up)
{
	struct jbuf_frame fr;
	for (;;) {
		jbuf_pop(l->jb, &fr, give_up);
		if (fr.status == JBUF_EMPTY)
			break;
		uplink_frame(l, &fr);
	}
	if (!jbuf_gap(l->jb))
		l->gap_since_us = 0;
	else if (!l->gap_since_us)
		l->gap_since_us = now_us;
}

/* The address the far end's SDP names, or one of the trunk's. */
static bool relay_from_far_end(const struct relay_leg *l, const struct sockaddr_in *from,
			       socklen_t len)
{
	if (len != sizeof(*from) || from->sin_family != AF_INET)
		return false;
	if (l->p.have_remote && from->sin_addr.s_addr == l->p.remote.sin_addr.s_addr)
		return true;
	for (int i = 0; i < l->npeers; i++)
		if (from->sin_addr.s_addr == l->peers[i].s_addr)
			return true;
	return false;
}

void relay_leg_receive(struct relay_leg *l, int64_t now_ms)
{
	uint8_t buf[RTP_PACKET_MAX];
	for (int i = 0; i < RELAY_RX_BURST; i++) {
		struct sockaddr_in from;
		socklen_t fromlen = sizeof(from);
		ssize_t n = recvfrom(l->fd, buf, sizeof(buf), MSG_DONTWAIT,
				     (struct sockaddr *)&from, &fromlen);
		if (n < 0)
			break;
		/* only the far end's media, as room-manager's forwarder takes only a
		 * member's: anyone else who can reach the port would otherwise speak,
		 * or dial digits, in the call */
		if (!relay_from_far_end(l, &from, fromlen)) {
			if (l->foreign_drops++ == 0 || l->foreign_drops % 500 == 0)
				log_warn("rtp_from_elsewhere",
					 "%s: datagram from neither the far end's nor the trunk's "
					 "address dropped (%llu so far)",
					 l->call_id, (unsigned long long)l->foreign_drops);
			continue;
		}
		struct rtp_packet pkt;
		size_t len = (size_t)n;
		if (room_is_rtcp(buf, len))
			continue;
		if (l->srtp) {
			int err = media_srtp_unprotect(l->srtp, buf, &len);
			if (err) {
				/* tampered, wrong key, replayed or plain RTP: never played */
				if (l->srtp_drops++ == 0 || l->srtp_drops % 500 == 0)
					log_warn("srtp_unprotect_failed",
						 "%s: %s (%llu dropped so far)", l->call_id,
						 cm_strerror(err),
						 (unsigned long long)l->srtp_drops);
				continue;
			}
		}
		if (rtp_parse(&pkt, buf, len))
			continue;
		/* inactive, or the far end only receives: its packets are not media */
		if (!l->p.recv)
			continue;
		if (l->p.te_pt >= 0 && pkt.hdr.pt == l->p.te_pt) {
			struct dtmf_event ev[DTMF_RX_OUT_MAX];
			size_t nev = 0;
			if (dtmf_rx_input(&l->dtmf, ev, &nev, pkt.hdr.ts, pkt.payload,
					  pkt.payload_len) == 0)
				for (size_t k = 0; k < nev; k++)
					report_dtmf(l, &ev[k]);
		} else if (pkt.hdr.pt == 0 || pkt.hdr.pt == 8) {
			l->law = pkt.hdr.pt == 8 ? G711_ALAW : G711_ULAW;
			int err = jbuf_put(l->jb, &pkt, time_mono_us());
			if (err && err != EEXIST && err != ESTALE)
				continue;
		} else {
			continue;
		}
		l->pkts_in++;
		l->last_rx_ms = now_ms;
		l->flowed = true;
	}
	leg_uplink(l, time_mono_us(), false);
}

static void send_rtp(struct relay_leg *l, const int16_t pcm[G711_FRAME_SAMPLES])
{
	uint8_t payload[G711_FRAME_SAMPLES],
		pkt[RTP_HDR_LEN + G711_FRAME_SAMPLES + MEDIA_SRTP_TRAILER_MAX];
	size_t len = 0;
	struct rtp_hdr h = { .marker = l->marker,
			     .pt = (uint8_t)l->p.pt,
			     .seq = l->seq,
			     .ts = l->ts,
			     .ssrc = l->ssrc };
	g711_encode(l->p.pt == 8 ? G711_ALAW : G711_ULAW, payload, pcm, G711_FRAME_SAMPLES);
	l->seq++;
	l->ts += G711_FRAME_SAMPLES;
	if (rtp_build(&len, pkt, sizeof(pkt), &h, payload, sizeof(payload)) ||
	    !atomic_load(&l->may_send))
		return;
	if (l->srtp && media_srtp_protect(l->srtp, pkt, sizeof(pkt), &len))
		return; /* never in clear */
	if (sendto(l->fd, pkt, len, MSG_DONTWAIT, (const struct sockaddr *)&l->p.remote,
		   sizeof(l->p.remote)) == (ssize_t)len) {
		l->pkts_out++;
		l->marker = false;
	}
}

/* Room → carrier: one 20 ms packet per tick (silence when the room is
 * quiet), nothing at all while the far end does not receive. */
static void leg_downlink(struct relay_leg *l)
{
	int16_t pcm8[RELAY_FRAME];
	bool have = false;
	bool send = l->p.send && atomic_load(&l->may_send) && l->p.have_remote &&
		    (l->p.pt == 0 || l->p.pt == 8);
	pthread_mutex_lock(&l->mu);
	if (l->q_n == 0)
		l->q_playing = false;
	else if (l->q_n >= RELAY_PREBUFFER)
		l->q_playing = true;
	if (l->q_playing && send) {
		memcpy(pcm8, l->q[l->q_head].pcm, sizeof(pcm8));
		l->q_head = (l->q_head + 1) % RELAY_QUEUE_FRAMES;
		l->q_n--;
		have = true;
	} else if (!send) {
		l->q_n = 0; /* held audio is not played late after resume */
	}
	pthread_mutex_unlock(&l->mu);
	if (!send)
		return;
	if (!have)
		memset(pcm8, 0, sizeof(pcm8));
	else
		l->frames_down++;
	send_rtp(l, pcm8); /* a room frame at 8 kHz is one G.711 packet's worth */
}

static void leg_check_timeout(struct relay_leg *l, int64_t now_ms)
{
	/* Armed from the answer (CMD_START sets last_rx_ms): a leg that never
	 * gets RTP ends as surely as one whose RTP stops. */
	if (!l->p.timer || l->timed_out || now_ms - l->last_rx_ms < l->relay->timeout_ms)
		return;
	if (l->relay->h->media_timeout(l->call_id, l->relay->arg))
		return; /* not taken (out of memory): again on the next tick */
	l->timed_out = true;
	log_info("media_timeout", "%s: no RTP for %lld ms%s", l->call_id,
		 (long long)(now_ms - l->last_rx_ms), l->flowed ? "" : " (none since the answer)");
}

void relay_leg_tick(struct relay_leg *l, int64_t now_ms)
{
	int64_t now_us = time_mono_us();
	if (l->gap_since_us && now_us - l->gap_since_us >= RELAY_REORDER_US)
		leg_uplink(l, now_us, true);
	leg_downlink(l);
	leg_check_timeout(l, now_ms);
}

void relay_leg_apply(struct relay_leg *l, const struct relay_params *p, int64_t now_ms)
{
	bool was_sending = l->p.send, timer_was = l->p.timer;
	struct sockaddr_in remote = l->p.remote;
	bool have_remote = l->p.have_remote;
	int pt = l->p.pt;
	l->p = *p;
	if (!p->have_remote) {
		l->p.remote = remote;
		l->p.have_remote = have_remote;
	}
	if (p->pt < 0)
		l->p.pt = pt;
	if (l->p.send && !was_sending)
		l->marker = true;
	if (l->p.timer && !timer_was)
		l->last_rx_ms = now_ms; /* the timeout counts from the resume */
	log_debug("relay_updated", "%s: far end %s, send %d recv %d timer %d", l->call_id, p->dir,
		  l->p.send, l->p.recv, l->p.timer);
}

