/* RFC 4733 telephone-events: payload format (§2.3), a receiver that
 * reports each event once (§2.5.2: redundant end packets, segments of long
 * events, lost end packets), and the sender's packet sequence (§2.5.1). */
#include "media/media.h"
#include "media/media_priv.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#define DTMF_END_PACKETS 3
#define DTMF_SEG_FULL    0xF000u  /* a segment this long may be continued */

static const char digits[] = "0123456789*#ABCD!";

int dtmf_code_from_digit(uint8_t *codep, char digit)
{
	if (!codep)
		return EINVAL;
	if (digit >= 'a' && digit <= 'd')
		digit = (char)(digit - 'a' + 'A');
	for (uint8_t i = 0; i < sizeof(digits) - 1; i++) {
		if (digits[i] == digit && digit != '\0') {
			*codep = i;
			return 0;
		}
	}
	return EINVAL;
}

char dtmf_digit_from_code(uint8_t code)
{
	return code < sizeof(digits) - 1 ? digits[code] : '\0';
}

int dtmf_parse(struct dtmf_payload *p, const uint8_t *payload, size_t len)
{
	if (!p || (!payload && len))
		return EINVAL;
	if (len < DTMF_PAYLOAD_LEN)
		return EBADMSG;
	p->event = payload[0];
	p->end = payload[1] & 0x80;
	/* payload[1] & 0x40 is reserved: ignored on receipt */
	p->volume = payload[1] & 0x3f;
	p->duration = rd16(payload + 2);
	return 0;
}

void dtmf_build(uint8_t out[DTMF_PAYLOAD_LEN], const struct dtmf_payload *p)
{
	out[0] = p->event;
	out[1] = (uint8_t)((p->end ? 0x80 : 0) | (p->volume & 0x3f));
	wr16(out + 2, p->duration);
}

void dtmf_rx_init(struct dtmf_rx *rx, uint32_t clock_rate)
{
	memset(rx, 0, sizeof(*rx));
	rx->clock_rate = clock_rate ? clock_rate : 8000;
}

static void finish(struct dtmf_rx *rx, struct dtmf_event *ev)
{
	uint64_t ms = (rx->base_dur + rx->seg_dur) / rx->clock_rate * 1000 +
		      (rx->base_dur + rx->seg_dur) % rx->clock_rate * 1000 / rx->clock_rate;
	ev->code = rx->code;
	ev->digit = dtmf_digit_from_code(rx->code);
	ev->volume = rx->volume;
	ev->duration_ms = ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
	rx->active = false;
	rx->have_done = true;
	rx->done_ts = rx->ts;
}

int dtmf_rx_input(struct dtmf_rx *rx, struct dtmf_event out[DTMF_RX_OUT_MAX], size_t *np,
		  uint32_t ts, const uint8_t *payload, size_t len)
{
	if (!rx || !out || !np)
		return EINVAL;
	*np = 0;
	struct dtmf_payload p;
	int err = dtmf_parse(&p, payload, len);
	if (err)
		return err;
	if (dtmf_digit_from_code(p.event) == '\0')
		return 0; /* tones and other events are not digits */

	if (rx->active) {
		if (ts == rx->ts) {
			if (p.event != rx->code)
				return 0; /* a conflicting packet for this timestamp */
			if (p.duration > rx->seg_dur)
				rx->seg_dur = p.duration;
			if (p.end)
				finish(rx, &out[(*np)++]);
			return 0;
		}
		if (rtp_ts_lt(ts, rx->ts))
			return 0; /* late packet of an earlier segment or event */
		uint32_t gap = ts - rx->ts;
		if (p.event == rx->code && rx->seg_dur >= DTMF_SEG_FULL && gap <= 0x10000u) {
			/* the next segment of a long event (§2.5.2.3) */
			rx->base_dur += gap;
			rx->ts = ts;
			rx->seg_dur = p.duration;
			if (p.end)
				finish(rx, &out[(*np)++]);
			return 0;
		}
		/* a new event began while this one never saw its end */
		finish(rx, &out[(*np)++]);
	}

	if (rx->have_done && !rtp_ts_lt(rx->done_ts, ts))
		return 0; /* redundant end packet or late packet of a finished event */

	rx->active = true;
	rx->code = p.event;
	rx->volume = p.volume;
	rx->ts = ts;
	rx->seg_dur = p.duration;
	rx->base_dur = 0;
	if (p.end)
		finish(rx, &out[(*np)++]);
	return 0;
}

bool dtmf_rx_flush(struct dtmf_rx *rx, struct dtmf_event *ev)
{
	if (!rx || !ev || !rx->active)
		return false;
	finish(rx, ev);
	return true;
}

int dtmf_tx_packets(struct dtmf_tx_packet *out, size_t cap, size_t *np, char digit,
		    uint32_t duration_ms, uint8_t volume, uint32_t clock_rate, uint32_t ptime_ms)
{
	uint8_t code;
	if (!out || !np || dtmf_code_from_digit(&code, digit) != 0 || volume > 63 ||
	    clock_rate == 0 || ptime_ms < 10 || ptime_ms > 100 || duration_ms == 0)
		return EINVAL;
	uint64_t total = (uint64_t)duration_ms * clock_rate / 1000;
	uint32_t step = (uint32_t)((uint64_t)ptime_ms * clock_rate / 1000);
	if (total == 0 || total > 0xFFFF || step == 0)
		return EINVAL;
	size_t updates = (size_t)((total + step - 1) / step) - 1;
	size_t n = updates + DTMF_END_PACKETS;
	if (n > cap)
		return EMSGSIZE;

	for (size_t i = 0; i < n; i++) {
		bool end = i >= updates;
		uint64_t dur = end ? total : (uint64_t)(i + 1) * step;
		struct dtmf_payload p = { .event = code, .end = end, .volume = volume,
					  .duration = (uint16_t)dur };
		dtmf_build(out[i].payload, &p);
		out[i].marker = i == 0;
		out[i].end = end;
		out[i].offset_ms = (uint32_t)(i * ptime_ms);
	}
	*np = n;
	return 0;
}
