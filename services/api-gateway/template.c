/* Placeholder filling with a bounded output buffer. */
#include "template.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 64

struct out {
	char *buf;
	size_t len, cap;
};

static int put(struct out *o, const char *s, size_t n)
{
	if (o->len + n + 1 > TEMPLATE_OUT_MAX)
		return E2BIG;
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 256;
		while (cap < o->len + n + 1)
			cap *= 2;
		if (cap > TEMPLATE_OUT_MAX)
			cap = TEMPLATE_OUT_MAX;
		char *b = realloc(o->buf, cap);
		if (!b)
			return ENOMEM;
		o->buf = b;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
	return 0;
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

/* At p (just after "{{"): the name and the length through "}}", or 0. */
static size_t placeholder(const char *p, const char **namep, size_t *nlenp)
{
	const char *q = p;
	while (*q == ' ')
		q++;
	const char *name = q;
	while (name_char(*q) && q - name <= NAME_MAX_LEN)
		q++;
	size_t nlen = (size_t)(q - name);
	if (nlen == 0 || nlen > NAME_MAX_LEN)
		return 0;
	while (*q == ' ')
		q++;
	if (q[0] != '}' || q[1] != '}')
		return 0;
	*namep = name;
	*nlenp = nlen;
	return (size_t)(q + 2 - p);
}

static int put_value(struct out *o, const cJSON *metadata, const char *name, size_t nlen)
{
	char key[NAME_MAX_LEN + 1], num[32];
	memcpy(key, name, nlen);
	key[nlen] = '\0';
	const cJSON *v = cJSON_IsObject(metadata) ? cJSON_GetObjectItemCaseSensitive(metadata, key)
						   : NULL;
	if (cJSON_IsString(v))
		return put(o, v->valuestring, strlen(v->valuestring));
	if (cJSON_IsBool(v))
		return cJSON_IsTrue(v) ? put(o, "true", 4) : put(o, "false", 5);
	if (cJSON_IsNumber(v)) {
		double d = v->valuedouble;
		int n = (d == (double)(long long)d && d > -9e15 && d < 9e15)
				? snprintf(num, sizeof(num), "%lld", (long long)d)
				: snprintf(num, sizeof(num), "%.15g", d);
		return put(o, num, (size_t)n);
	}
	return 0;
}

int template_fill(char **outp, const char *tmpl, const cJSON *metadata)
{
	struct out o = { 0 };
	int err = put(&o, "", 0);
	const char *p = tmpl ? tmpl : "";

	while (!err && *p) {
		const char *open = strstr(p, "{{");
		if (!open) {
			err = put(&o, p, strlen(p));
			break;
		}
		err = put(&o, p, (size_t)(open - p));
		if (err)
			break;
		const char *name = NULL;
		size_t nlen = 0, used = placeholder(open + 2, &name, &nlen);
		if (!used) {
			err = put(&o, open, 1); /* not a placeholder: keep one brace, go on */
			p = open + 1;
			continue;
		}
		err = put_value(&o, metadata, name, nlen);
		p = open + 2 + used;
	}
	if (err) {
		free(o.buf);
		return err;
	}
	*outp = o.buf;
	return 0;
}
