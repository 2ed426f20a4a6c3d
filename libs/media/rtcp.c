/* RTCP (RFC 3550 §6.4 SR/RR, §6.5 SDES, §6.6 BYE, A.2 compound validity). */
#include "media/media.h"
#include "media/media_priv.h"

#include <errno.h>
#include <string.h>

#define RTCP_HDR_LEN    4
#define RTCP_BLOCK_LEN  24
#define RTCP_SR_INFO    20
#define SDES_END        0
#define SDES_CNAME      1

/* One packet header at buf[pos]: total length in bytes (incl. header) or 0. */
static size_t pkt_total(const uint8_t *buf, size_t len, size_t pos)
{
	if (len - pos < RTCP_HDR_LEN)
		return 0;
	size_t total = ((size_t)rd16(buf + pos + 2) + 1) * 4;
	return total <= len - pos ? total : 0;
}

void rtcp_iter_init(struct rtcp_iter *it, const uint8_t *buf, size_t len)
{
	it->buf = buf;
	it->len = buf ? len : 0;
	it->pos = 0;
}

int rtcp_iter_next(struct rtcp_iter *it, struct rtcp_pkt *pkt)
{
	if (it->pos >= it->len)
		return ENOENT;
	const uint8_t *p = it->buf + it->pos;
	size_t total = pkt_total(it->buf, it->len, it->pos);
	if (total == 0 || (p[0] >> 6) != RTP_VERSION)
		return EBADMSG;
	size_t body = total - RTCP_HDR_LEN;
	if (p[0] & 0x20) {
		uint8_t pad = p[total - 1];
		if (pad == 0 || pad > body)
			return EBADMSG;
		body -= pad;
	}
	pkt->type = p[1];
	pkt->count = p[0] & 0x1f;
	pkt->body = p + RTCP_HDR_LEN;
	pkt->body_len = body;
	it->pos += total;
	return 0;
}

int rtcp_validate_compound(const uint8_t *buf, size_t len)
{
	if (!buf || len < RTCP_HDR_LEN)
		return EBADMSG;
	/* A.2: first packet SR or RR, version 2, no padding */
	if ((buf[0] & 0xe0) != 0x80 || (buf[1] != RTCP_SR && buf[1] != RTCP_RR))
		return EBADMSG;
	size_t pos = 0;
	while (pos < len) {
		size_t total = pkt_total(buf, len, pos);
		if (total == 0 || (buf[pos] >> 6) != RTP_VERSION)
			return EBADMSG;
		/* padding only in the last packet, and within its body */
		if (buf[pos] & 0x20) {
			uint8_t pad = buf[pos + total - 1];
			if (pos + total != len || pad == 0 || pad > total - RTCP_HDR_LEN)
				return EBADMSG;
		}
		pos += total;
	}
	return pos == len ? 0 : EBADMSG;
}

static void parse_block(struct rtcp_report_block *b, const uint8_t *p)
{
	b->ssrc = rd32(p);
	b->fraction_lost = p[4];
	uint32_t lost = (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
	b->cum_lost = (lost & 0x800000) ? (int32_t)lost - 0x1000000 : (int32_t)lost;
	b->ext_high_seq = rd32(p + 8);
	b->jitter = rd32(p + 12);
	b->lsr = rd32(p + 16);
	b->dlsr = rd32(p + 20);
}

int rtcp_parse_report(struct rtcp_report *r, const struct rtcp_pkt *pkt)
{
	if (!r || !pkt || (pkt->type != RTCP_SR && pkt->type != RTCP_RR))
		return EINVAL;
	memset(r, 0, sizeof(*r));
	r->is_sr = pkt->type == RTCP_SR;
	size_t need = 4 + (r->is_sr ? RTCP_SR_INFO : 0) + (size_t)pkt->count * RTCP_BLOCK_LEN;
	if (pkt->body_len < need)
		return EBADMSG;
	const uint8_t *p = pkt->body;
	r->ssrc = rd32(p);
	p += 4;
	if (r->is_sr) {
		r->ntp = (uint64_t)rd32(p) << 32 | rd32(p + 4);
		r->rtp_ts = rd32(p + 8);
		r->pkt_count = rd32(p + 12);
		r->octet_count = rd32(p + 16);
		p += RTCP_SR_INFO;
	}
	r->rc = pkt->count;
	for (unsigned i = 0; i < r->rc; i++, p += RTCP_BLOCK_LEN)
		parse_block(&r->blocks[i], p);
	return 0;
}

int rtcp_parse_sdes_cname(uint32_t *ssrcp, const uint8_t **cnamep, size_t *cname_lenp,
			  const struct rtcp_pkt *pkt)
{
	if (!ssrcp || !cnamep || !cname_lenp || !pkt || pkt->type != RTCP_SDES)
		return EINVAL;
	if (pkt->count == 0)
		return ENOENT;
	const uint8_t *p = pkt->body;
	size_t len = pkt->body_len;
	if (len < 4)
		return EBADMSG;
	uint32_t ssrc = rd32(p);
	size_t pos = 4;
	while (pos < len) {
		uint8_t type = p[pos];
		if (type == SDES_END)
			break;
		if (len - pos < 2 || len - pos - 2 < p[pos + 1])
			return EBADMSG;
		uint8_t ilen = p[pos + 1];
		if (type == SDES_CNAME) {
			*ssrcp = ssrc;
			*cnamep = p + pos + 2;
			*cname_lenp = ilen;
			return 0;
		}
		pos += 2u + ilen;
	}
	return ENOENT;
}

int rtcp_parse_bye(uint32_t *ssrcs, size_t cap, size_t *np, const struct rtcp_pkt *pkt)
{
	if (!np || !pkt || pkt->type != RTCP_BYE || (cap && !ssrcs))
		return EINVAL;
	if (pkt->body_len < (size_t)pkt->count * 4)
		return EBADMSG;
	size_t n = 0;
	for (unsigned i = 0; i < pkt->count && n < cap; i++)
		ssrcs[n++] = rd32(pkt->body + 4 * i);
	*np = n;
	return 0;
}

static int begin(uint8_t *buf, size_t cap, size_t *lenp, size_t total, uint8_t count, uint8_t type)
{
	if (!buf || !lenp || *lenp > cap)
		return EINVAL;
	if (total > cap - *lenp || total / 4 - 1 > 0xFFFF)
		return EMSGSIZE;
	uint8_t *p = buf + *lenp;
	p[0] = (uint8_t)(RTP_VERSION << 6 | (count & 0x1f));
	p[1] = type;
	wr16(p + 2, (uint16_t)(total / 4 - 1));
	return 0;
}

int rtcp_build_report(uint8_t *buf, size_t cap, size_t *lenp, const struct rtcp_report *r)
{
	if (!r || r->rc > RTCP_RC_MAX)
		return EINVAL;
	size_t total =
		RTCP_HDR_LEN + 4 + (r->is_sr ? RTCP_SR_INFO : 0) + (size_t)r->rc * RTCP_BLOCK_LEN;
	int err = begin(buf, cap, lenp, total, r->rc, r->is_sr ? RTCP_SR : RTCP_RR);
	if (err)
		return err;
	uint8_t *p = buf + *lenp + RTCP_HDR_LEN;
	wr32(p, r->ssrc);
	p += 4;
	if (r->is_sr) {
		wr32(p, (uint32_t)(r->ntp >> 32));
		wr32(p + 4, (uint32_t)r->ntp);
		wr32(p + 8, r->rtp_ts);
		wr32(p + 12, r->pkt_count);
		wr32(p + 16, r->octet_count);
		p += RTCP_SR_INFO;
	}
	for (unsigned i = 0; i < r->rc; i++, p += RTCP_BLOCK_LEN) {
		const struct rtcp_report_block *b = &r->blocks[i];
		int32_t lost = b->cum_lost;
		if (lost > 0x7FFFFF)
			lost = 0x7FFFFF;
		else if (lost < -0x800000)
			lost = -0x800000;
		uint32_t l24 = (uint32_t)lost & 0xFFFFFF;
		wr32(p, b->ssrc);
		p[4] = b->fraction_lost;
		p[5] = (uint8_t)(l24 >> 16);
		p[6] = (uint8_t)(l24 >> 8);
		p[7] = (uint8_t)l24;
		wr32(p + 8, b->ext_high_seq);
		wr32(p + 12, b->jitter);
		wr32(p + 16, b->lsr);
		wr32(p + 20, b->dlsr);
	}
	*lenp += total;
	return 0;
}

int rtcp_build_sdes_cname(uint8_t *buf, size_t cap, size_t *lenp, uint32_t ssrc,
			  const char *cname, size_t cname_len)
{
	if (!cname || cname_len == 0 || cname_len > RTCP_CNAME_MAX)
		return EINVAL;
	/* ssrc, CNAME item, END item, zero padding to a 32-bit boundary */
	size_t chunk = 4 + 2 + cname_len + 1;
	chunk = (chunk + 3) & ~(size_t)3;
	size_t total = RTCP_HDR_LEN + chunk;
	int err = begin(buf, cap, lenp, total, 1, RTCP_SDES);
	if (err)
		return err;
	uint8_t *p = buf + *lenp + RTCP_HDR_LEN;
	memset(p, 0, chunk);
	wr32(p, ssrc);
	p[4] = SDES_CNAME;
	p[5] = (uint8_t)cname_len;
	memcpy(p + 6, cname, cname_len);
	*lenp += total;
	return 0;
}

int rtcp_build_bye(uint8_t *buf, size_t cap, size_t *lenp, const uint32_t *ssrcs, size_t n)
{
	if (n > RTCP_RC_MAX || (n && !ssrcs))
		return EINVAL;
	size_t total = RTCP_HDR_LEN + 4 * n;
	int err = begin(buf, cap, lenp, total, (uint8_t)n, RTCP_BYE);
	if (err)
		return err;
	uint8_t *p = buf + *lenp + RTCP_HDR_LEN;
	for (size_t i = 0; i < n; i++)
		wr32(p + 4 * i, ssrcs[i]);
	*lenp += total;
	return 0;
}

uint32_t rtcp_ntp_middle(uint64_t ntp)
{
	return (uint32_t)(ntp >> 16);
}
