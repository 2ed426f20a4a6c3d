/* libFuzzer target for libs/media RTCP: walk any compound, parse SR/RR,
 * SDES and BYE packets; a parsed report must rebuild and parse to the same
 * values; validation and iteration must agree on lengths. */
#include "media/media.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool valid = rtcp_validate_compound(data, size) == 0;
	struct rtcp_iter it;
	struct rtcp_pkt pkt;
	int rc;
	size_t walked = 0;
	rtcp_iter_init(&it, data, size);
	while ((rc = rtcp_iter_next(&it, &pkt)) == 0) {
		if (pkt.body < data || pkt.body + pkt.body_len > data + size)
			abort();
		walked++;
		struct rtcp_report r, back;
		if ((pkt.type == RTCP_SR || pkt.type == RTCP_RR) &&
		    rtcp_parse_report(&r, &pkt) == 0) {
			uint8_t buf[4 + 4 + 20 + RTCP_RC_MAX * 24];
			size_t len = 0;
			struct rtcp_iter it2;
			struct rtcp_pkt p2;
			if (rtcp_build_report(buf, sizeof(buf), &len, &r) != 0)
				abort();
			rtcp_iter_init(&it2, buf, len);
			if (rtcp_iter_next(&it2, &p2) != 0 || rtcp_parse_report(&back, &p2) != 0 ||
			    back.ssrc != r.ssrc || back.rc != r.rc || back.ntp != r.ntp ||
			    memcmp(back.blocks, r.blocks, sizeof(r.blocks[0]) * r.rc) != 0)
				abort();
		} else if (pkt.type == RTCP_SDES) {
			uint32_t ssrc;
			const uint8_t *cname;
			size_t clen;
			if (rtcp_parse_sdes_cname(&ssrc, &cname, &clen, &pkt) == 0 &&
			    (cname < pkt.body || cname + clen > pkt.body + pkt.body_len))
				abort();
		} else if (pkt.type == RTCP_BYE) {
			uint32_t ssrcs[RTCP_RC_MAX];
			size_t n;
			if (rtcp_parse_bye(ssrcs, RTCP_RC_MAX, &n, &pkt) == 0 && n > RTCP_RC_MAX)
				abort();
		}
	}
	/* a valid compound walks to its end */
	if (valid && (rc != ENOENT || walked == 0))
		abort();
	return 0;
}
