/* libFuzzer target for libs/media RFC 4733: the input is a stream of
 * 8-byte records (timestamp + telephone-event payload) fed to the receiver;
 * it must never report more events than packets, nor invalid digits, nor
 * more than DTMF_RX_OUT_MAX at once; the payload parser must round-trip. */
#include "media/media.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dtmf_payload p;
	if (dtmf_parse(&p, data, size) == 0) {
		uint8_t again[DTMF_PAYLOAD_LEN];
		dtmf_build(again, &p);
		if (again[0] != data[0] || (again[1] & 0xbf) != (data[1] & 0xbf) ||
		    memcmp(again + 2, data + 2, 2) != 0)
			abort();
	}

	struct dtmf_rx rx;
	dtmf_rx_init(&rx, size % 2 ? 8000 : 48000);
	size_t packets = 0, events = 0;
	for (size_t off = 0; off + 8 <= size; off += 8) {
		const uint8_t *r = data + off;
		uint32_t ts = (uint32_t)r[0] << 24 | (uint32_t)r[1] << 16 | (uint32_t)r[2] << 8 |
			      r[3];
		struct dtmf_event out[DTMF_RX_OUT_MAX];
		size_t n = 99;
		if (dtmf_rx_input(&rx, out, &n, ts, r + 4, 4) != 0)
			abort();
		if (n > DTMF_RX_OUT_MAX)
			abort();
		for (size_t i = 0; i < n; i++) {
			uint8_t code;
			if (dtmf_code_from_digit(&code, out[i].digit) != 0 || code != out[i].code)
				abort();
		}
		packets++;
		events += n;
	}
	struct dtmf_event ev;
	events += dtmf_rx_flush(&rx, &ev);
	if (events > packets)
		abort();
	return 0;
}
