/* Provider lookup and the helpers every provider shares. */
#include "provider.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const struct stt_provider *provider_stt(const char *name)
{
	if (strcmp(name, "local") == 0)
		return &stt_local;
	if (strcmp(name, "openai") == 0)
		return &stt_openai;
	return NULL;
}

const struct llm_provider *provider_llm(const char *name)
{
	if (strcmp(name, "local") == 0)
		return &llm_local;
	if (strcmp(name, "openai") == 0)
		return &llm_openai;
	return NULL;
}

const struct tts_provider *provider_tts(const char *name)
{
	if (strcmp(name, "local") == 0)
		return &tts_local;
	if (strcmp(name, "openai") == 0)
		return &tts_openai;
	return NULL;
}

static bool is_stop(char c)
{
	return c == '.' || c == '!' || c == '?';
}

size_t provider_sentence_len(const char *s, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (is_stop(s[i]) && isspace((unsigned char)s[i + 1]))
			return i + 1;
	}
	/* "… five." at the end of what has arrived: a word then a stop ends the
	 * sentence without waiting for the next token ("3." might go on: wait). */
	if (len >= 2 && is_stop(s[len - 1]) && isalpha((unsigned char)s[len - 2]))
		return len;
	return 0;
}

int provider_resample(int16_t **outp, size_t *outnp, const int16_t *in, size_t n,
		      int from_rate, int to_rate)
{
	if (from_rate <= 0 || to_rate <= 0)
		return EINVAL;
	size_t outn = (size_t)((double)n * to_rate / from_rate);
	int16_t *out = malloc((outn ? outn : 1) * sizeof(*out));
	if (!out)
		return ENOMEM;
	double step = (double)from_rate / to_rate;
	for (size_t i = 0; i < outn; i++) {
		double pos = (double)i * step;
		size_t k = (size_t)pos;
		double frac = pos - (double)k;
		int a = in[k < n ? k : n - 1];
		int b = in[k + 1 < n ? k + 1 : n - 1];
		out[i] = (int16_t)(a + (b - a) * frac);
	}
	*outp = out;
	*outnp = outn;
	return 0;
}

void provider_normalize(char *out, size_t outlen, const char *in)
{
	size_t o = 0;
	bool space = true;
	if (!outlen)
		return;
	for (const char *p = in; *p && o + 1 < outlen; p++) {
		unsigned char c = (unsigned char)*p;
		if (isalnum(c) || c == '\'') {
			out[o++] = (char)tolower(c);
			space = false;
		} else if (!space) {
			out[o++] = ' ';
			space = true;
		}
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

bool provider_phrase_in(const char *text, const char *phrase)
{
	char t[2048], p[512];
	provider_normalize(t, sizeof(t), text);
	provider_normalize(p, sizeof(p), phrase);
	size_t pl = strlen(p);
	if (!pl)
		return false;
	for (const char *hit = strstr(t, p); hit; hit = strstr(hit + 1, p)) {
		bool start_ok = hit == t || hit[-1] == ' ';
		bool end_ok = hit[pl] == '\0' || hit[pl] == ' ';
		if (start_ok && end_ok)
			return true;
	}
	return false;
}

/* "scheme://host[:port]" of url: ws/wss count as http/https, the host is
 * compared case-blind, a missing port is the scheme's. */
static bool origin_of(const char *url, char *out, size_t len)
{
	static const struct {
		const char *prefix, *scheme, *port;
	} schemes[] = {
		{ "https://", "https", "443" }, { "http://", "http", "80" },
		{ "wss://", "https", "443" },   { "ws://", "http", "80" },
	};
	for (size_t i = 0; url && i < CM_ARRAY_LEN(schemes); i++) {
		size_t pl = strlen(schemes[i].prefix);
		if (strncasecmp(url, schemes[i].prefix, pl) != 0)
			continue;
		const char *host = url + pl;
		size_t hl = strcspn(host, "/?#");
		if (!hl || memchr(host, '@', hl))
			return false; /* no host, or userinfo: not compared */
		const char *end = host + hl, *name_end = end;
		if (host[0] == '[') { /* [IPv6]:port */
			const char *rb = memchr(host, ']', hl);
			if (!rb)
				return false;
			name_end = rb + 1;
		} else {
			const char *colon = memchr(host, ':', hl);
			if (colon)
				name_end = colon;
		}
		const char *port = schemes[i].port;
		int portlen = (int)strlen(port);
		if (name_end < end && *name_end == ':') {
			port = name_end + 1;
			portlen = (int)(end - port);
		}
		int n = snprintf(out, len, "%s://%.*s:%.*s", schemes[i].scheme,
				 (int)(name_end - host), host, portlen, port);
		for (char *p = out; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		return n > 0 && (size_t)n < len;
	}
	return false;
}

const char *provider_api_key(const struct provider_env *env, const char *base_url)
{
	char a[300], b[300];
	if (!env->openai_api_key || !env->openai_api_key[0])
		return NULL;
	if (!base_url || base_url == env->openai_base_url)
		return env->openai_api_key;
	if (origin_of(base_url, a, sizeof(a)) && origin_of(env->openai_base_url, b, sizeof(b)) &&
	    strcmp(a, b) == 0)
		return env->openai_api_key;
	return NULL;
}
