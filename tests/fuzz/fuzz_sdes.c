/* libFuzzer target for libs/media SDES a=crypto lines: whatever parses
 * formats to a line that parses to the same key, suite, tag and MKI. */
#include "media/media.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sdes_crypto c, d;
	char line[SDES_LINE_MAX];
	if (sdes_crypto_parse(&c, (const char *)data, size) != 0)
		return 0;
	if (sdes_crypto_format(line, sizeof(line), &c) != 0)
		abort();
	if (sdes_crypto_parse(&d, line, strlen(line)) != 0)
		abort();
	if (c.tag != d.tag || c.suite != d.suite || memcmp(c.key, d.key, SDES_KEY_LEN) != 0 ||
	    c.lifetime != d.lifetime || c.mki != d.mki || c.mki_len != d.mki_len)
		abort();
	return 0;
}
