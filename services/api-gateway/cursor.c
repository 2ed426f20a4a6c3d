/* Keyset cursors: small, URL-safe, and checked on the way back in. */
#include "cursor.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64_value(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;
	return p ? (int)(p - b64) : -1;
}

int cursor_encode(char out[CURSOR_MAX], int64_t created_us, const char *id)
{
	char raw[64];
	if (!id_is_uuid(id))
		return EINVAL;
	int n = snprintf(raw, sizeof(raw), "%lld:%s", (long long)created_us, id);
	if (n < 0 || (size_t)n >= sizeof(raw))
		return EINVAL;
	size_t o = 0;
	for (int i = 0; i < n; i += 3) {
		unsigned v = (unsigned char)raw[i] << 16;
		if (i + 1 < n)
			v |= (unsigned char)raw[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)raw[i + 2];
		out[o++] = b64[(v >> 18) & 63];
		out[o++] = b64[(v >> 12) & 63];
		if (i + 1 < n)
			out[o++] = b64[(v >> 6) & 63];
		if (i + 2 < n)
			out[o++] = b64[v & 63];
	}
	out[o] = '\0';
	return 0;
}

int cursor_decode(struct cursor *c, const char *s)
{
	char raw[64];
	size_t len = s ? strlen(s) : 0, o = 0;
	if (len == 0 || len >= CURSOR_MAX || len % 4 == 1)
		return EINVAL;
	for (size_t i = 0; i < len; i += 4) {
		unsigned v = 0;
		size_t k;
		for (k = 0; k < 4 && i + k < len; k++) {
			int d = b64_value(s[i + k]);
			if (d < 0)
				return EINVAL;
			v |= (unsigned)d << (18 - 6 * k);
		}
		for (size_t j = 0; j + 1 < k; j++) {
			if (o + 1 >= sizeof(raw))
				return EINVAL;
			raw[o++] = (char)((v >> (16 - 8 * j)) & 0xff);
		}
	}
	raw[o] = '\0';
	char *colon = strchr(raw, ':');
	if (!colon || colon == raw || colon - raw > 18 || !id_is_uuid(colon + 1))
		return EINVAL;
	int64_t us = 0;
	for (char *p = raw; p < colon; p++) {
		if (*p < '0' || *p > '9')
			return EINVAL;
		us = us * 10 + (*p - '0');
	}
	c->created_us = us;
	memcpy(c->id, colon + 1, ID_UUID_LEN + 1);
	return 0;
}
