/* Fuzzes the accept gate's request-line check. Beyond not crashing: a line
 * judged whole fits the limit and names an HTTP version, and a prefix of a
 * line judged bad is never judged good. */
#include "httpd/httpd.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const size_t max = 64;
	struct httpd_line_info li;
	const char *s = (const char *)data;
	enum httpd_line r = httpd_request_line_check(s, size, max, &li);
	if ((r == HTTPD_LINE_OK || r == HTTPD_LINE_VERSION) &&
	    (li.line_len > max || strncmp(li.version, "HTTP/", 5) != 0))
		abort();
	if (r == HTTPD_LINE_OK && li.version[5] != '1')
		abort();
	/* More bytes never turn a bad line into a good one. */
	if (r == HTTPD_LINE_MALFORMED || r == HTTPD_LINE_TOO_LONG || r == HTTPD_LINE_VERSION)
		for (size_t n = size; n-- > 0;)
			if (httpd_request_line_check(s, n, max, &li) == HTTPD_LINE_OK)
				abort();
	return 0;
}
