/* Adaptive jitter buffer. Packets sit in a ring indexed by sequence number;
 * the caller pulls one frame per frame_ms. Playout starts once the buffered
 * span reaches the target depth; the target follows the RFC 3550 jitter
 * estimate (3× covers a uniform delay spread) plus a boost that every late
 * packet or underrun raises by a frame and that decays by a frame a second.
 * When the buffer has run more than two frames above target for SHRINK_GAP
 * pulls in a row, one frame is dropped to bring the latency back. */
#include "media/media.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MISORDER    100     /* further back than this: the sender restarted */
#define SHRINK_GAP      10      /* pulls above target before a drop */
#define BOOST_DECAY     50      /* frames for one frame of boost to decay */

struct jb_slot {
	bool used;
	bool marker;
	uint16_t seq;
	uint16_t len;
	uint32_t ts;
	uint8_t *data;                  /* payload_max bytes of jbuf.payload */
};

struct jbuf {
	struct jbuf_cfg cfg;
	struct jb_slot *slots;
	uint8_t *payload;               /* capacity × payload_max, never cleared */
	size_t count;
	bool have_ssrc, started, playing, have_last;
	bool primed;                    /* playout began since the last reset */
	uint32_t ssrc;
	uint16_t next_seq, high_seq;
	uint32_t last_ts;
	int64_t last_arrival_us;
	double jitter_ms;
	uint32_t boost_ms;
	uint32_t boost_age;
	uint32_t over_target;           /* consecutive pulls too deep */
	uint32_t target_ms;
	struct jbuf_stats st;
	uint8_t out[JBUF_PAYLOAD_MAX];
};

static const struct jbuf_cfg jb_defaults = {
	.clock_rate = 8000, .frame_ms = 20, .min_ms = 20, .max_ms = 200, .capacity = 64,
	.payload_max = JBUF_PAYLOAD_MAX,
};

static void update_target(struct jbuf *jb)
{
	uint32_t f = jb->cfg.frame_ms;
	double want = f + 3.0 * jb->jitter_ms;
	uint32_t t = (uint32_t)((want + f - 1) / f) * f + jb->boost_ms;
	if (t < jb->cfg.min_ms)
		t = jb->cfg.min_ms;
	if (t > jb->cfg.max_ms)
		t = jb->cfg.max_ms;
	jb->target_ms = t;
}

int jbuf_new(struct jbuf **jbp, const struct jbuf_cfg *cfg)
{
	int err = 0;
	struct jbuf *jb = NULL;
	if (!jbp)
		return EINVAL;
	const struct jbuf_cfg *c = cfg ? cfg : &jb_defaults;
	if (c->clock_rate == 0 || c->frame_ms == 0 || c->min_ms > c->max_ms || c->capacity < 2 ||
	    c->capacity > JBUF_CAPACITY_MAX || c->max_ms > (uint64_t)c->capacity * c->frame_ms ||
	    c->payload_max > JBUF_PAYLOAD_MAX)
		return EINVAL;
	jb = calloc(1, sizeof(*jb));
	if (!jb) {
		err = ENOMEM;
		goto out;
	}
	jb->cfg = *c;
	if (!jb->cfg.payload_max)
		jb->cfg.payload_max = JBUF_PAYLOAD_MAX;
	/* a call's buffer is made at every call set-up: the slots are small
	 * and zeroed, the payload block is touched only where packets land */
	jb->slots = calloc(c->capacity, sizeof(*jb->slots));
	jb->payload = malloc((size_t)c->capacity * jb->cfg.payload_max);
	if (!jb->slots || !jb->payload) {
		err = ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < c->capacity; i++)
		jb->slots[i].data = jb->payload + (size_t)i * jb->cfg.payload_max;
	jbuf_reset(jb);
	*jbp = jb;
	jb = NULL;
out:
	jbuf_free(jb);
	return err;
}

struct jbuf *jbuf_free(struct jbuf *jb)
{
	if (jb) {
		free(jb->slots);
		free(jb->payload);
		free(jb);
	}
	return NULL;
}

void jbuf_reset(struct jbuf *jb)
{
	for (uint32_t i = 0; i < jb->cfg.capacity; i++)
		jb->slots[i].used = false;
	jb->count = 0;
	jb->have_ssrc = jb->started = jb->playing = jb->have_last = jb->primed = false;
	jb->jitter_ms = 0;
	jb->boost_ms = 0;
	jb->boost_age = 0;
	jb->over_target = 0;
	update_target(jb);
}

static struct jb_slot *slot_of(struct jbuf *jb, uint16_t seq)
{
	return &jb->slots[seq % jb->cfg.capacity];
}

static void estimate_jitter(struct jbuf *jb, uint32_t ts, int64_t arrival_us)
{
	if (jb->have_last) {
		double d_ms = (double)(arrival_us - jb->last_arrival_us) / 1000.0 -
			      (double)rtp_ts_diff(jb->last_ts, ts) * 1000.0 / jb->cfg.clock_rate;
		if (d_ms < 0)
			d_ms = -d_ms;
		if (d_ms > 10.0 * jb->cfg.max_ms) /* a pause or a jump, not jitter */
			d_ms = 10.0 * jb->cfg.max_ms;
		jb->jitter_ms += (d_ms - jb->jitter_ms) / 16.0;
	}
	jb->last_ts = ts;
	jb->last_arrival_us = arrival_us;
	jb->have_last = true;
}

static void boost(struct jbuf *jb)
{
	if (jb->boost_ms + jb->cfg.frame_ms <= jb->cfg.max_ms)
		jb->boost_ms += jb->cfg.frame_ms;
	jb->boost_age = 0;
	update_target(jb);
}

int jbuf_put(struct jbuf *jb, const struct rtp_packet *pkt, int64_t arrival_us)
{
	if (!jb || !pkt || (pkt->payload_len && !pkt->payload))
		return EINVAL;
	if (pkt->payload_len > jb->cfg.payload_max)
		return EMSGSIZE;
	const struct rtp_hdr *h = &pkt->hdr;
	if (jb->have_ssrc && h->ssrc != jb->ssrc) {
		jbuf_reset(jb);
		jb->st.resets++;
	}
	if (!jb->started) {
		jb->have_ssrc = jb->started = true;
		jb->ssrc = h->ssrc;
		jb->next_seq = jb->high_seq = h->seq;
	}

	int32_t d = rtp_seq_diff(jb->next_seq, h->seq);
	if (d < 0) {
		if (!jb->primed && rtp_seq_diff(h->seq, jb->high_seq) < (int32_t)jb->cfg.capacity) {
			jb->next_seq = h->seq; /* reordered before playout began */
		} else if (d >= -MAX_MISORDER) {
			jb->st.late++;
			estimate_jitter(jb, h->ts, arrival_us);
			boost(jb);
			return ESTALE;
		} else {
			jbuf_reset(jb);
			jb->st.resets++;
			return jbuf_put(jb, pkt, arrival_us);
		}
	} else if (d >= (int32_t)jb->cfg.capacity) {
		jbuf_reset(jb);
		jb->st.resets++;
		return jbuf_put(jb, pkt, arrival_us);
	}

	struct jb_slot *s = slot_of(jb, h->seq);
	if (s->used) {
		jb->st.duplicate++;
		return EEXIST;
	}
	if (h->marker) {
		/* A talkspurt begins: the gap before it was the sender's silence,
		 * not the network's jitter; start the estimate's baseline here. */
		jb->last_ts = h->ts;
		jb->last_arrival_us = arrival_us;
		jb->have_last = true;
	} else {
		estimate_jitter(jb, h->ts, arrival_us);
	}
	update_target(jb);
	s->used = true;
	s->seq = h->seq;
	s->ts = h->ts;
	s->marker = h->marker;
	s->len = (uint16_t)pkt->payload_len;
	if (pkt->payload_len)
		memcpy(s->data, pkt->payload, pkt->payload_len);
	jb->count++;
	jb->st.received++;
	if (rtp_seq_lt(jb->high_seq, h->seq))
		jb->high_seq = h->seq;
	return 0;
}

uint32_t jbuf_depth_ms(const struct jbuf *jb)
{
	if (!jb->started || jb->count == 0)
		return 0;
	int32_t span = rtp_seq_diff(jb->next_seq, jb->high_seq) + 1;
	return span > 0 ? (uint32_t)span * jb->cfg.frame_ms : 0;
}

uint32_t jbuf_target_ms(const struct jbuf *jb)
{
	return jb->target_ms;
}

void jbuf_stats(const struct jbuf *jb, struct jbuf_stats *st)
{
	*st = jb->st;
}

/* Takes the slot of next_seq (if any) and moves on. */
static struct jb_slot *advance(struct jbuf *jb)
{
	struct jb_slot *s = slot_of(jb, jb->next_seq);
	jb->next_seq++;
	if (!s->used)
		return NULL;
	s->used = false;
	jb->count--;
	return s;
}

/* The frame at next_seq, or a loss (with the following packet as FEC when
 * it is here), and moves on. */
static void take_next(struct jbuf *jb, struct jbuf_frame *f)
{
	f->seq = jb->next_seq;
	struct jb_slot *s = advance(jb);
	if (s) {
		memcpy(jb->out, s->data, s->len);
		f->status = JBUF_FRAME;
		f->ts = s->ts;
		f->marker = s->marker;
		f->data = jb->out;
		f->len = s->len;
		jb->st.played++;
		return;
	}
	f->status = JBUF_LOSS;
	jb->st.lost++;
	struct jb_slot *n = slot_of(jb, jb->next_seq);
	if (n->used && n->seq == jb->next_seq) {
		f->fec_data = n->data;
		f->fec_len = n->len;
		f->ts = n->ts; /* the following packet's; the lost one is a frame earlier */
	}
}

void jbuf_get(struct jbuf *jb, struct jbuf_frame *f)
{
	memset(f, 0, sizeof(*f));
	f->status = JBUF_EMPTY;
	if (!jb->started)
		return;

	if (jb->boost_ms && ++jb->boost_age >= BOOST_DECAY) {
		jb->boost_ms -= jb->cfg.frame_ms;
		jb->boost_age = 0;
		update_target(jb);
	}
	if (!jb->playing) {
		if (jb->count == 0 || jbuf_depth_ms(jb) < jb->target_ms)
			return;
		jb->playing = jb->primed = true;
	}
	if (jb->count == 0) {
		/* underrun: wait for next_seq again, with a deeper target */
		jb->playing = false;
		jb->st.underruns++;
		boost(jb);
		return;
	}

	if (jbuf_depth_ms(jb) <= jb->target_ms + 2 * jb->cfg.frame_ms || jb->count < 2)
		jb->over_target = 0;
	else if (++jb->over_target >= SHRINK_GAP) {
		if (advance(jb))
			jb->st.dropped++;
		else
			jb->st.lost++;
		jb->over_target = 0;
	}

	take_next(jb, f);
}

bool jbuf_gap(const struct jbuf *jb)
{
	if (!jb->started || jb->count == 0)
		return false;
	const struct jb_slot *n = &jb->slots[jb->next_seq % jb->cfg.capacity];
	return !(n->used && n->seq == jb->next_seq);
}

void jbuf_pop(struct jbuf *jb, struct jbuf_frame *f, bool give_up)
{
	memset(f, 0, sizeof(*f));
	f->status = JBUF_EMPTY;
	if (!jb->started || jb->count == 0 || (jbuf_gap(jb) && !give_up))
		return;
	jb->playing = jb->primed = true;
	take_next(jb, f);
}
