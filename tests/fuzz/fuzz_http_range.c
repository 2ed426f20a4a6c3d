/* Fuzzes the Range header parser with "SIZE\nVALUE" inputs. Beyond not
 * crashing: a partial range lies inside the body and is never empty, and
 * only a "bytes=" value can be unsatisfiable. */
#include "httpd/httpd.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	uint64_t body = 0;
	char *p = s;
	for (int i = 0; i < 19 && *p >= '0' && *p <= '9'; i++, p++)
		body = body * 10 + (uint64_t)(*p - '0');
	const char *hdr = *p == '\n' ? p + 1 : p;
	uint64_t start = 0, len = 0;
	enum httpd_range r = httpd_range_parse(hdr, body, &start, &len);
	if (r == HTTPD_RANGE_PARTIAL && (len == 0 || start >= body || len > body - start))
		abort();
	if (r == HTTPD_RANGE_UNSATISFIABLE && strncmp(hdr, "bytes=", 6) != 0)
		abort();
	free(s);
	return 0;
}
