/*
 * The OpenAI-compatible providers over HTTP (libs/httpc):
 *   STT  POST {base}/audio/transcriptions  multipart: file=<wav>, model
 *   LLM  POST {base}/chat/completions      {"model","stream":true,"messages"}
 *        read as server-sent events; each complete sentence is handed on as
 *        soon as its tokens are in, so speech starts before the reply ends
 *   TTS  POST {base}/audio/speech          {"model","input","voice","response_format":"pcm"}
 *        → raw 16-bit little-endian PCM at 24 kHz (sample_rate to change it)
 * Config (stt_config / llm_config / tts_config): "base_url" (else
 * OPENAI_BASE_URL), "model", "voice" (TTS), "timeout_ms" [15000].
 * The API key comes from OPENAI_API_KEY only; it is never logged.
 */
#include "provider.h"
#include "agent_room.h"

#include "egress/egress.h"
#include "httpc/httpc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BODY_MAX     (8u << 20)  /* TTS audio is the largest answer */
#define SSE_LINE_MAX 65536
#define REPLY_MAX    16384

struct oa {
	char url[512];        /* base URL, no trailing slash */
	char model[128];
	char voice[64];
	char auth[300];       /* "Authorization: Bearer …" or "" */
	long timeout_ms;
	int sample_rate;
	bool allow_private;
};

static int oa_new(void **ctxp, const struct provider_args *args, const char *def_model)
{
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(args->cfg, "base_url");
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(args->cfg, "model");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(args->cfg, "voice");
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(args->cfg, "timeout_ms");
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(args->cfg, "sample_rate");
	const char *base = cJSON_IsString(b) ? b->valuestring : args->env->openai_base_url;
	char why[200];
	if (!base || (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0))
		return EINVAL;
	if (egress_url_check(base, args->env->allow_private, why, sizeof(why))) {
		log_warn("openai_base_url_refused", "base_url: %s", why);
		return EACCES;
	}
	struct oa *o = calloc(1, sizeof(*o));
	if (!o)
		return ENOMEM;
	snprintf(o->url, sizeof(o->url), "%s", base);
	size_t ul = strlen(o->url);
	while (ul > 0 && o->url[ul - 1] == '/')
		o->url[--ul] = '\0';
	snprintf(o->model, sizeof(o->model), "%s", cJSON_IsString(m) ? m->valuestring : def_model);
	snprintf(o->voice, sizeof(o->voice), "%s", cJSON_IsString(v) ? v->valuestring : "alloy");
	const char *key = provider_api_key(args->env, base);
	if (key)
		snprintf(o->auth, sizeof(o->auth), "Authorization: Bearer %s", key);
	o->timeout_ms = cJSON_IsNumber(t) && t->valuedouble >= 100 ? (long)t->valuedouble : 15000;
	o->sample_rate = cJSON_IsNumber(r) && r->valuedouble >= 8000 ? (int)r->valuedouble : 24000;
	o->allow_private = args->env->allow_private;
	*ctxp = o;
	return 0;
}

static void oa_free(void *ctx)
{
	free(ctx);
}

/* POSTs to {base}{path}; `json` or the multipart `parts` is the body. The
 * answer goes to `on_body` as it arrives when given, else into *resp.
 * Returns 0 for a 2xx answer, EIO otherwise (logged). */
static int oa_post(const struct oa *o, const char *path, const char *json,
		   const struct httpc_part *parts, size_t nparts, httpc_body_h *on_body,
		   void *body_arg, struct httpc_resp *resp)
{
	char url[640], refused[256] = "", why[256] = "";
	const char *hdrs[3];
	size_t nh = 0;
	struct egress_guard guard = { o->allow_private, refused, sizeof(refused) };
	snprintf(url, sizeof(url), "%s%s", o->url, path);
	if (json)
		hdrs[nh++] = "Content-Type: application/json";
	if (o->auth[0])
		hdrs[nh++] = o->auth;
	hdrs[nh] = NULL;
	struct httpc_req req = {
		.method = "POST", .url = url, .headers = hdrs,
		.body = json, .body_len = json ? strlen(json) : 0,
		.parts = parts, .nparts = nparts,
		.timeout_ms = o->timeout_ms, .max_response = BODY_MAX,
		.allow = egress_allow, .allow_arg = &guard,
		.on_body = on_body, .body_arg = body_arg,
	};
	int rc = httpc_do(resp, &req, why, sizeof(why));
	if (rc || resp->status < 200 || resp->status > 299) {
		log_warn("openai_request", "POST %s: %s, HTTP %ld", path,
			 refused[0] ? refused : rc == 0 ? "ok" : why, resp->status);
		httpc_resp_fini(resp);
		return EIO;
	}
	return 0;
}

/* ---- STT ---------------------------------------------------------------- */

static int stt_oa_new(void **ctxp, const struct provider_args *args)
{
	return oa_new(ctxp, args, "whisper-1");
}

static void put_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
}

static void put_le16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8);
}

static int stt_oa_transcribe(void *ctx, char **textp, const int16_t *pcm, size_t n)
{
	struct oa *o = ctx;
	int err = 0;
	struct httpc_resp b = { 0 };
	cJSON *resp = NULL;
	size_t datalen = n * 2;
	unsigned char *wav = malloc(44 + datalen);
	if (!wav) {
		err = ENOMEM;
		goto out;
	}
	memcpy(wav, "RIFF", 4); put_le32(wav + 4, (uint32_t)(36 + datalen));
	memcpy(wav + 8, "WAVEfmt ", 8); put_le32(wav + 16, 16); put_le16(wav + 20, 1);
	put_le16(wav + 22, 1); put_le32(wav + 24, AGENT_RATE); put_le32(wav + 28, AGENT_RATE * 2);
	put_le16(wav + 32, 2); put_le16(wav + 34, 16);
	memcpy(wav + 36, "data", 4); put_le32(wav + 40, (uint32_t)datalen);
	for (size_t i = 0; i < n; i++)
		put_le16(wav + 44 + 2 * i, (uint16_t)pcm[i]);
	const struct httpc_part parts[] = {
		{ "file", "audio.wav", "audio/wav", wav, 44 + datalen },
		{ "model", NULL, NULL, o->model, strlen(o->model) },
		{ "response_format", NULL, NULL, "json", 4 },
	};
	if ((err = oa_post(o, "/audio/transcriptions", NULL, parts, CM_ARRAY_LEN(parts), NULL, NULL,
			   &b)))
		goto out;
	resp = b.body ? cJSON_ParseWithLength(b.body, b.len) : NULL;
	const cJSON *text = cJSON_GetObjectItemCaseSensitive(resp, "text");
	if (!cJSON_IsString(text)) {
		log_warn("openai_stt", "answer has no text");
		err = EIO;
		goto out;
	}
	*textp = strndup(text->valuestring, 4096);
	err = *textp ? 0 : ENOMEM;
out:
	cJSON_Delete(resp);
	httpc_resp_fini(&b);
	free(wav);
	return err;
}

const struct stt_provider stt_openai = {
	"openai", stt_oa_new, stt_oa_transcribe, oa_free,
};

/* ---- LLM: streaming chat completions ------------------------------------ */

static int llm_oa_new(void **ctxp, const struct provider_args *args)
{
	return oa_new(ctxp, args, "gpt-4o-mini");
}

struct sse {
	char line[SSE_LINE_MAX];
	size_t llen;
	bool overflow, done, stop;
	char text[REPLY_MAX];  /* tokens not yet handed on as a sentence */
	size_t tlen;
	llm_sentence_h *h;
	void *arg;
	int sentences;
};

static void sse_flush(struct sse *s, bool all)
{
	for (int guard = 0; s->tlen && !s->stop && guard < 64; guard++) {
		size_t n = provider_sentence_len(s->text, s->tlen);
		if (!n && !all)
			return;
		if (!n)
			n = s->tlen;
		char sentence[REPLY_MAX];
		size_t skip = 0;
		while (skip < n && (s->text[skip] == ' ' || s->text[skip] == '\n'))
			skip++;
		memcpy(sentence, s->text + skip, n - skip);
		sentence[n - skip] = '\0';
		memmove(s->text, s->text + n, s->tlen - n);
		s->tlen -= n;
		if (sentence[0]) {
			s->sentences++;
			if (s->h(sentence, s->arg))
				s->stop = true;
		}
	}
}

static void sse_line(struct sse *s)
{
	if (s->llen < 6 || strncmp(s->line, "data: ", 6) != 0)
		return;
	const char *data = s->line + 6;
	if (strcmp(data, "[DONE]") == 0) {
		s->done = true;
		return;
	}
	cJSON *j = cJSON_ParseWithLength(data, s->llen - 6);
	const cJSON *choices = cJSON_GetObjectItemCaseSensitive(j, "choices");
	const cJSON *delta =
		cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(choices, 0), "delta");
	const cJSON *content = cJSON_GetObjectItemCaseSensitive(delta, "content");
	if (cJSON_IsString(content)) {
		size_t n = strlen(content->valuestring);
		if (s->tlen + n < sizeof(s->text)) {
			memcpy(s->text + s->tlen, content->valuestring, n);
			s->tlen += n;
		}
		sse_flush(s, false);
	}
	cJSON_Delete(j);
}

static bool sse_write(const char *ptr, size_t n, void *arg)
{
	struct sse *s = arg;
	for (size_t i = 0; i < n; i++) {
		char ch = ptr[i];
		if (ch == '\n') {
			if (!s->overflow) {
				s->line[s->llen] = '\0';
				if (s->llen && s->line[s->llen - 1] == '\r')
					s->line[--s->llen] = '\0';
				sse_line(s);
			}
			s->llen = 0;
			s->overflow = false;
		} else if (s->llen + 1 < sizeof(s->line)) {
			s->line[s->llen++] = ch;
		} else {
			s->overflow = true;
		}
	}
	return !s->stop;
}

static int llm_oa_reply(void *ctx, const struct llm_msg *msgs, size_t nmsgs, llm_sentence_h *h,
			void *arg)
{
	struct oa *o = ctx;
	int err = ENOMEM;
	char *json = NULL;
	struct sse *s = calloc(1, sizeof(*s));
	cJSON *req = cJSON_CreateObject(), *arr = NULL;
	if (!s || !req || !cJSON_AddStringToObject(req, "model", o->model) ||
	    !cJSON_AddBoolToObject(req, "stream", true) ||
	    !(arr = cJSON_AddArrayToObject(req, "messages")))
		goto out;
	for (size_t i = 0; i < nmsgs; i++) {
		cJSON *m = cJSON_CreateObject();
		if (!m)
			goto out;
		cJSON_AddItemToArray(arr, m);
		if (!cJSON_AddStringToObject(m, "role", msgs[i].role) ||
		    !cJSON_AddStringToObject(m, "content", msgs[i].text))
			goto out;
	}
	if (!(json = cJSON_PrintUnformatted(req)))
		goto out;
	s->h = h;
	s->arg = arg;
	struct httpc_resp resp = { 0 };
	err = oa_post(o, "/chat/completions", json, NULL, 0, sse_write, s, &resp);
	httpc_resp_fini(&resp);
	if (s->stop)
		err = 0; /* the caller asked to stop: not a failure */
	if (!err)
		sse_flush(s, true);
	if (!err && !s->sentences)
		err = EIO;
out:
	cJSON_Delete(req);
	free(json);
	free(s);
	return err;
}

const struct llm_provider llm_openai = {
	"openai", llm_oa_new, llm_oa_reply, oa_free,
};

/* ---- TTS ------------------------------------------------------------------ */

static int tts_oa_new(void **ctxp, const struct provider_args *args)
{
	return oa_new(ctxp, args, "tts-1");
}

static int tts_oa_synth(void *ctx, int16_t **pcmp, size_t *np, const char *text)
{
	struct oa *o = ctx;
	int err = ENOMEM;
	char *json = NULL;
	int16_t *raw = NULL;
	struct httpc_resp b = { 0 };
	cJSON *req = cJSON_CreateObject();
	if (!req || !cJSON_AddStringToObject(req, "model", o->model) ||
	    !cJSON_AddStringToObject(req, "input", text) ||
	    !cJSON_AddStringToObject(req, "voice", o->voice) ||
	    !cJSON_AddStringToObject(req, "response_format", "pcm") ||
	    !(json = cJSON_PrintUnformatted(req)))
		goto out;
	if ((err = oa_post(o, "/audio/speech", json, NULL, 0, NULL, NULL, &b)))
		goto out;
	size_t n = b.len / 2;
	raw = malloc((n ? n : 1) * sizeof(*raw));
	if (!raw) {
		err = ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		raw[i] = (int16_t)((uint16_t)(unsigned char)b.body[2 * i] |
				   (uint16_t)((unsigned char)b.body[2 * i + 1] << 8));
	err = provider_resample(pcmp, np, raw, n, o->sample_rate, AGENT_RATE);
out:
	cJSON_Delete(req);
	free(json);
	free(raw);
	httpc_resp_fini(&b);
	return err;
}

const struct tts_provider tts_openai = {
	"openai", tts_oa_new, tts_oa_synth, oa_free, NULL, /* bounded by the HTTP timeout */
};
