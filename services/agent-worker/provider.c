/* Provider lookup and the helpers every provider shares. */
#include "provider.h"

#include "httpc/httpc.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ws and wss are http and https (the realtime API upgrades from them) */
static bool secure(const struct httpc_url *u)
{
	return strcmp(u->scheme, "https") == 0 || strcmp(u->scheme, "wss") == 0;
}

/* "scheme://host:port" of u, for logs (never userinfo, path or query) */
static void origin(char *out, size_t len, const struct httpc_url *u)
{
	bool v6 = strchr(u->host, ':') != NULL;
	snprintf(out, len, "%s://%s%s%s:%d", u->scheme, v6 ? "[" : "", u->host, v6 ? "]" : "",
		 u->port);
}

const char *provider_api_key(const struct provider_env *env, const char *base_url)
{
	struct httpc_url a, b;
	char oa[300], ob[300];
	if (!env->openai_api_key || !env->openai_api_key[0])
		return NULL;
	if (!base_url || base_url == env->openai_base_url)
		return env->openai_api_key;
	if (httpc_url_parse(&a, base_url)) {
		log_warn("provider_key_withheld",
			 "base_url is not an http, https, ws or wss URL: no API key sent");
		return NULL;
	}
	origin(oa, sizeof(oa), &a);
	/* a URL with userinfo is not compared: its user may look like a host */
	if (a.userinfo) {
		log_warn("provider_key_withheld",
			 "base_url %s names a user or password: no API key sent", oa);
		return NULL;
	}
	int err = httpc_url_parse(&b, env->openai_base_url);
	if (err || secure(&a) != secure(&b) || strcmp(a.host, b.host) != 0 || a.port != b.port) {
		if (err)
			snprintf(ob, sizeof(ob), "(not a URL)");
		else
			origin(ob, sizeof(ob), &b);
		log_warn("provider_key_withheld",
			 "base_url %s is not OPENAI_BASE_URL's origin %s: no API key sent", oa, ob);
		return NULL;
	}
	return env->openai_api_key;
}
