/* RTP packets (RFC 3550 §5.1, §5.3.1) and per-source receive state (A.1, A.8). */
#include "media/media.h"
#include "media/media_priv.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#define RTP_EXT_MAX_WORDS 0xFFFFu

int rtp_parse(struct rtp_packet *pkt, const uint8_t *buf, size_t len)
{
	if (!pkt || (!buf && len))
		return EINVAL;
	if (len < RTP_HDR_LEN)
		return EBADMSG;
	if ((buf[0] >> 6) != RTP_VERSION)
		return EBADMSG;

	struct rtp_hdr *h = &pkt->hdr;
	memset(pkt, 0, sizeof(*pkt));
	bool padding = buf[0] & 0x20;
	h->ext = buf[0] & 0x10;
	h->cc = buf[0] & 0x0f;
	h->marker = buf[1] & 0x80;
	h->pt = buf[1] & 0x7f;
	h->seq = rd16(buf + 2);
	h->ts = rd32(buf + 4);
	h->ssrc = rd32(buf + 8);

	size_t pos = RTP_HDR_LEN;
	if (len - pos < (size_t)h->cc * 4)
		return EBADMSG;
	for (unsigned i = 0; i < h->cc; i++, pos += 4)
		h->csrc[i] = rd32(buf + pos);

	if (h->ext) {
		if (len - pos < 4)
			return EBADMSG;
		h->ext_profile = rd16(buf + pos);
		size_t words = rd16(buf + pos + 2);
		pos += 4;
		if (len - pos < words * 4)
			return EBADMSG;
		h->ext_data = buf + pos;
		h->ext_len = words * 4;
		pos += words * 4;
	}

	size_t end = len;
	if (padding) {
		uint8_t pad = buf[len - 1];
		if (pad == 0 || pad > len - pos)
			return EBADMSG;
		h->pad_len = pad;
		end -= pad;
	}
	pkt->payload = buf + pos;
	pkt->payload_len = end - pos;
	return 0;
}

int rtp_build(size_t *lenp, uint8_t *buf, size_t cap, const struct rtp_hdr *hdr,
	      const uint8_t *payload, size_t payload_len)
{
	if (!lenp || !buf || !hdr || hdr->cc > RTP_CSRC_MAX || hdr->pt > 127 ||
	    (payload_len && !payload))
		return EINVAL;
	if (hdr->ext && (hdr->ext_len % 4 || hdr->ext_len / 4 > RTP_EXT_MAX_WORDS ||
			 (hdr->ext_len && !hdr->ext_data)))
		return EINVAL;

	size_t need = RTP_HDR_LEN + (size_t)hdr->cc * 4 + (hdr->ext ? 4 + hdr->ext_len : 0);
	if (need > cap || payload_len > cap - need || hdr->pad_len > cap - need - payload_len)
		return EMSGSIZE;

	buf[0] = (uint8_t)(RTP_VERSION << 6 | (hdr->pad_len ? 0x20 : 0) | (hdr->ext ? 0x10 : 0) |
			   hdr->cc);
	buf[1] = (uint8_t)((hdr->marker ? 0x80 : 0) | hdr->pt);
	wr16(buf + 2, hdr->seq);
	wr32(buf + 4, hdr->ts);
	wr32(buf + 8, hdr->ssrc);
	size_t pos = RTP_HDR_LEN;
	for (unsigned i = 0; i < hdr->cc; i++, pos += 4)
		wr32(buf + pos, hdr->csrc[i]);
	if (hdr->ext) {
		wr16(buf + pos, hdr->ext_profile);
		wr16(buf + pos + 2, (uint16_t)(hdr->ext_len / 4));
		pos += 4;
		if (hdr->ext_len)
			memcpy(buf + pos, hdr->ext_data, hdr->ext_len);
		pos += hdr->ext_len;
	}
	if (payload_len)
		memcpy(buf + pos, payload, payload_len);
	pos += payload_len;
	if (hdr->pad_len) {
		memset(buf + pos, 0, hdr->pad_len - 1u);
		pos += hdr->pad_len;
		buf[pos - 1] = hdr->pad_len;
	}
	*lenp = pos;
	return 0;
}

int32_t rtp_seq_diff(uint16_t a, uint16_t b)
{
	return (int16_t)(uint16_t)(b - a);
}

bool rtp_seq_lt(uint16_t a, uint16_t b)
{
	return rtp_seq_diff(a, b) > 0;
}

int64_t rtp_ts_diff(uint32_t a, uint32_t b)
{
	return (int32_t)(uint32_t)(b - a);
}

bool rtp_ts_lt(uint32_t a, uint32_t b)
{
	return rtp_ts_diff(a, b) > 0;
}

uint32_t rtp_ssrc_random(void)
{
	uint32_t v = 0;
	while (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		;
	return v;
}

/* ---- per-source state, RFC 3550 A.1 -------------------------------- */
#define MAX_DROPOUT    3000
#define MAX_MISORDER   100
#define MIN_SEQUENTIAL 2
#define RTP_SEQ_MOD    (1u << 16)

static void source_restart(struct rtp_source *s, uint16_t seq)
{
	s->base_seq = seq;
	s->max_seq = seq;
	s->bad_seq = RTP_SEQ_MOD + 1;
	s->cycles = 0;
	s->received = 0;
	s->received_prior = 0;
	s->expected_prior = 0;
}

void rtp_source_init(struct rtp_source *s, uint32_t ssrc, uint16_t seq, uint32_t clock_rate)
{
	memset(s, 0, sizeof(*s));
	s->ssrc = ssrc;
	s->clock_rate = clock_rate ? clock_rate : 8000;
	source_restart(s, seq);
	s->max_seq = (uint16_t)(seq - 1);
	s->probation = MIN_SEQUENTIAL;
}

static void source_jitter(struct rtp_source *s, uint32_t ts, int64_t arrival_us)
{
	int64_t arrival = arrival_us * (int64_t)s->clock_rate / 1000000;
	int64_t transit = (int64_t)(uint32_t)((uint32_t)arrival - ts);
	transit = (int32_t)(uint32_t)transit;
	if (s->have_transit) {
		int64_t d = transit - s->transit;
		if (d < 0)
			d = -d;
		s->jitter += ((double)d - s->jitter) / 16.0;
	}
	s->transit = transit;
	s->have_transit = true;
}

int rtp_source_update(struct rtp_source *s, uint32_t *ext_seqp, uint16_t seq, uint32_t ts,
		      int64_t arrival_us)
{
	uint16_t udelta = (uint16_t)(seq - s->max_seq);

	if (s->probation) {
		if (seq == (uint16_t)(s->max_seq + 1)) {
			s->probation--;
			s->max_seq = seq;
			if (s->probation == 0) {
				source_restart(s, seq);
				s->received++;
				source_jitter(s, ts, arrival_us);
				*ext_seqp = seq;
				return 0;
			}
		} else {
			s->probation = MIN_SEQUENTIAL - 1;
			s->max_seq = seq;
		}
		return EAGAIN;
	}
	if (udelta < MAX_DROPOUT) {
		if (seq < s->max_seq)
			s->cycles += RTP_SEQ_MOD;
		s->max_seq = seq;
	} else if (udelta <= RTP_SEQ_MOD - MAX_MISORDER) {
		if (seq == s->bad_seq) {
			/* two sequential packets after a jump: the sender restarted */
			source_restart(s, seq);
		} else {
			s->bad_seq = (seq + 1u) & (RTP_SEQ_MOD - 1);
			return ESTALE;
		}
	}
	/* else duplicate or reordered: counted, no change to max_seq */
	s->received++;
	source_jitter(s, ts, arrival_us);
	uint32_t ext = s->cycles + seq;
	/* a reordered packet from before the last wrap */
	if (udelta >= RTP_SEQ_MOD - MAX_MISORDER && seq > s->max_seq && s->cycles)
		ext -= RTP_SEQ_MOD;
	*ext_seqp = ext;
	return 0;
}

uint32_t rtp_source_ext_max(const struct rtp_source *s)
{
	return s->cycles + s->max_seq;
}

void rtp_source_report(struct rtcp_report_block *b, struct rtp_source *s)
{
	uint32_t ext_max = rtp_source_ext_max(s);
	uint32_t expected = ext_max - s->base_seq + 1;
	int64_t lost = (int64_t)expected - s->received;
	if (lost > 0x7FFFFF)
		lost = 0x7FFFFF;
	else if (lost < -0x800000)
		lost = -0x800000;
	uint32_t expected_interval = expected - s->expected_prior;
	s->expected_prior = expected;
	uint32_t received_interval = s->received - s->received_prior;
	s->received_prior = s->received;
	int64_t lost_interval = (int64_t)expected_interval - received_interval;
	uint8_t fraction = 0;
	if (expected_interval != 0 && lost_interval > 0)
	{
		uint64_t f = ((uint64_t)lost_interval << 8) / expected_interval;
		fraction = (uint8_t)(f > 255 ? 255 : f);
	}

	memset(b, 0, sizeof(*b));
	b->ssrc = s->ssrc;
	b->fraction_lost = fraction;
	b->cum_lost = (int32_t)lost;
	b->ext_high_seq = ext_max;
	b->jitter = (uint32_t)s->jitter;
}
