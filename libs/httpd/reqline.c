/* The request line as the accept gate reads it (RFC 9112 §3), before
 * libmicrohttpd sees a byte: a pure function over peeked bytes. */
#include "httpd/httpd.h"

#include <string.h>

/* RFC 9110 §5.6.2 tchar */
static bool is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

enum httpd_line httpd_request_line_check(const char *buf, size_t len, size_t max,
					 struct httpd_line_info *info)
{
	size_t i = 0;
	memset(info, 0, sizeof(*info));
	/* Empty lines before the request line are allowed (RFC 9112 §2.2). */
	while (i < len && (buf[i] == '\r' || buf[i] == '\n'))
		i++;
	size_t start = i, sp1 = 0, sp2 = 0;
	if (start > max)
		return HTTPD_LINE_MALFORMED; /* nothing but empty lines */
	for (; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];
		/* empty lines before it count: the gate peeks at most max + 2 */
		if (c != '\n' && c != '\r' && i >= max)
			return HTTPD_LINE_TOO_LONG;
		if (c == '\n' || c == '\r') {
			if (!sp2)
				return HTTPD_LINE_MALFORMED; /* no version: HTTP/0.9 or not HTTP */
			if (c == '\r' && i + 1 < len && buf[i + 1] != '\n')
				return HTTPD_LINE_MALFORMED; /* a bare CR */
			if (c == '\r' && i + 1 == len)
				return HTTPD_LINE_PARTIAL;
			break;
		}
		if (c == ' ') {
			if (!sp1 && i > start)
				sp1 = i;
			else if (sp1 && !sp2 && i > sp1 + 1)
				sp2 = i;
			else
				/* empty method or target, or a third space */
				return HTTPD_LINE_MALFORMED;
			continue;
		}
		if (c < 0x20 || c >= 0x7f)
			return HTTPD_LINE_MALFORMED; /* control bytes, TLS, binary */
		if (!sp1 && !is_tchar(c))
			return HTTPD_LINE_MALFORMED; /* not a method */
		if (sp2 && i - sp2 > sizeof(info->version) - 1)
			return HTTPD_LINE_MALFORMED; /* no version is that long */
	}
	if (i == len)
		return HTTPD_LINE_PARTIAL;
	size_t vlen = i - sp2 - 1;
	if (vlen == 0)
		return HTTPD_LINE_MALFORMED;
	memcpy(info->version, buf + sp2 + 1, vlen);
	info->version[vlen] = '\0';
	info->line_len = i - start;
	if (strncmp(info->version, "HTTP/", 5) != 0)
		return HTTPD_LINE_MALFORMED;
	const char *v = info->version + 5;
	if (v[0] == '1' && v[1] == '.' && v[2] >= '0' && v[2] <= '9' && v[3] == '\0')
		return HTTPD_LINE_OK;
	return HTTPD_LINE_VERSION;
}
