/* Range header parsing for file replies (recordings). */
#include "httpd/httpd.h"

#include <string.h>

/* Digits at *s into *vp; false when there are none or they overflow. */
static bool read_u64(const char **s, uint64_t *vp)
{
	uint64_t v = 0;
	const char *p = *s;
	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*s = p;
	*vp = v;
	return true;
}

enum httpd_range httpd_range_parse(const char *hdr, uint64_t size, uint64_t *startp,
				   uint64_t *lenp)
{
	uint64_t a = 0, b = 0;
	if (!hdr || strncmp(hdr, "bytes=", 6) != 0 || strchr(hdr, ','))
		return HTTPD_RANGE_WHOLE;
	const char *p = hdr + 6;
	while (*p == ' ')
		p++;
	if (*p == '-') { /* suffix: the last b bytes */
		p++;
		if (!read_u64(&p, &b) || *p)
			return HTTPD_RANGE_WHOLE;
		if (b == 0 || size == 0)
			return HTTPD_RANGE_UNSATISFIABLE;
		if (b > size)
			b = size;
		*startp = size - b;
		*lenp = b;
		return HTTPD_RANGE_PARTIAL;
	}
	if (!read_u64(&p, &a) || *p != '-')
		return HTTPD_RANGE_WHOLE;
	p++;
	if (*p == '\0') {
		b = size ? size - 1 : 0;
	} else if (!read_u64(&p, &b) || *p || b < a) {
		return HTTPD_RANGE_WHOLE;
	}
	if (a >= size)
		return HTTPD_RANGE_UNSATISFIABLE;
	if (b >= size)
		b = size - 1;
	*startp = a;
	*lenp = b - a + 1;
	return HTTPD_RANGE_PARTIAL;
}
