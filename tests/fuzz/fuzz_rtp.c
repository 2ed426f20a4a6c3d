/* libFuzzer target for libs/media RTP: whatever parses must rebuild to the
 * same bytes (padding content aside) and parse again to the same fields;
 * parsed packets also go through a jitter buffer and a source tracker. */
#include "media/media.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rtp_packet p, q;
	uint8_t *again = NULL;
	struct jbuf *jb = NULL;

	if (rtp_parse(&p, data, size) != 0)
		goto out;
	if (p.payload < data || p.payload + p.payload_len > data + size)
		abort();
	again = malloc(size ? size : 1);
	if (!again)
		goto out;
	size_t len = 0;
	if (rtp_build(&len, again, size, &p.hdr, p.payload, p.payload_len) != 0 || len != size)
		abort();
	if (memcmp(again, data, size - p.hdr.pad_len) != 0 ||
	    (p.hdr.pad_len && again[size - 1] != data[size - 1]))
		abort();
	if (rtp_parse(&q, again, len) != 0 || q.hdr.seq != p.hdr.seq || q.hdr.ts != p.hdr.ts ||
	    q.hdr.ssrc != p.hdr.ssrc || q.hdr.cc != p.hdr.cc || q.payload_len != p.payload_len ||
	    q.hdr.ext_len != p.hdr.ext_len || q.hdr.pad_len != p.hdr.pad_len)
		abort();

	struct rtp_source src;
	uint32_t ext;
	rtp_source_init(&src, p.hdr.ssrc, (uint16_t)(p.hdr.seq - 1), 8000);
	for (int i = 0; i < 3; i++) {
		int rc = rtp_source_update(&src, &ext, (uint16_t)(p.hdr.seq + i), p.hdr.ts,
					   i * 20000);
		if (rc == 0 && (uint16_t)ext != (uint16_t)(p.hdr.seq + i))
			abort();
	}

	if (jbuf_new(&jb, NULL) != 0)
		goto out;
	for (int i = 0; i < 4; i++) {
		struct jbuf_frame f;
		int rc = jbuf_put(jb, &p, i * 20000);
		(void)rc;
		p.hdr.seq = (uint16_t)(p.hdr.seq + (p.hdr.ts & 3));
		jbuf_get(jb, &f);
		if (f.status == JBUF_FRAME && f.len != p.payload_len)
			abort();
	}
out:
	jbuf_free(jb);
	free(again);
	return 0;
}
