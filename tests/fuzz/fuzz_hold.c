/* libFuzzer target for libs/sdp: classify arbitrary bytes as an offer; what
 * parses must be consistent, and its answer must parse back with the mirrored
 * direction. */
#include "sdp/sdp.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct sdp_local local = { .addr = "127.0.0.1", .port = 30000, .sess_id = 1,
						.sess_version = 1 };
	struct sdp_audio offer, answer;
	struct sdp_hold hold;
	char buf[4096];

	if (sdp_audio_parse(&offer, (const char *)data, size) != 0)
		return 0;
	sdp_hold_classify(&hold, &offer);
	if (hold.hold != (hold.method != SDP_HOLD_NONE))
		abort();
	if (hold.hold && hold.effective != SDP_SENDONLY && hold.effective != SDP_INACTIVE)
		abort();
	if (offer.nfmt < 0 || offer.nfmt > SDP_FMT_MAX ||
	    memchr(offer.addr, '\0', sizeof(offer.addr)) == NULL)
		abort();
	int rc = sdp_answer_build(buf, sizeof(buf), &local, &offer);
	if (rc == 0) {
		if (sdp_audio_parse(&answer, buf, strlen(buf)) != 0)
			abort();
		if (answer.direction != sdp_dir_mirror(hold.effective))
			abort();
		if ((offer.port == 0) != (answer.port == 0))
			abort();
	} else if (rc != ENOTSUP) {
		abort();
	}
	return 0;
}
