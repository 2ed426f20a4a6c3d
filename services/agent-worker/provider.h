/*
 * provider — the speech and language providers behind a session, each a
 * struct of const function pointers chosen per assistant by the "provider"
 * field of stt_config / llm_config / tts_config:
 *   "local"  (provider_local.c)  pocketsphinx STT, espeak-ng TTS and a scripted
 *            responder from llm_config.script — fully offline
 *   "openai" (provider_openai.c) an OpenAI-compatible HTTP API through libs/httpc
 *
 * A provider context belongs to one session's turn thread: no call is made
 * on one context from two threads. Audio is mono 16-bit PCM at AGENT_RATE
 * (16 kHz), both ways.
 */
#ifndef AGENT_PROVIDER_H
#define AGENT_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "assistant.h"
#include "core/core.h"

struct provider_env {
	const char *openai_base_url; /* "https://api.openai.com/v1" */
	const char *openai_api_key;  /* may be NULL */
	bool allow_private;          /* OUTBOUND_ALLOW_PRIVATE: base URLs may name loopback,
				      * private or link-local addresses (libs/egress) */
};

struct provider_args {
	const cJSON *cfg;                 /* stt_config / llm_config / tts_config, borrowed */
	const struct assistant *assistant;
	const struct provider_env *env;
};

struct llm_msg {
	const char *role; /* "system", "user", "assistant" */
	const char *text;
};

/* One complete sentence of a streamed reply (borrowed). Non-zero stops the stream. */
typedef int (llm_sentence_h)(const char *sentence, void *arg);

struct stt_provider {
	const char *name;
	int (*new)(void **ctxp, const struct provider_args *args);
	/* *textp (caller frees) is the transcript, "" when nothing was heard. */
	int (*transcribe)(void *ctx, char **textp, const int16_t *pcm, size_t nsamples);
	void (*free)(void *ctx);
};

struct llm_provider {
	const char *name;
	int (*new)(void **ctxp, const struct provider_args *args);
	/* Streams the reply to `msgs` sentence by sentence into h(). */
	int (*reply)(void *ctx, const struct llm_msg *msgs, size_t nmsgs, llm_sentence_h *h,
		     void *arg);
	void (*free)(void *ctx);
};

struct tts_provider {
	const char *name;
	int (*new)(void **ctxp, const struct provider_args *args);
	/* *pcmp (caller frees) holds *np samples at AGENT_RATE. */
	int (*synth)(void *ctx, int16_t **pcmp, size_t *np, const char *text);
	void (*free)(void *ctx);
	/* Optional, from another thread, before free: the synth in progress or
	 * waiting to start returns ECANCELED soon, and so does every later one. */
	void (*interrupt)(void *ctx);
};

/* Speech to speech (assistant mode "realtime"): the OpenAI Realtime API over
 * a WebSocket. Handlers run on the provider's own thread and must only copy
 * and enqueue. */
struct realtime_handlers {
	/* Agent audio at AGENT_RATE; ownership of pcm passes. */
	void (*audio)(int16_t *pcm, size_t n, void *arg);
	/* A finished transcript line: the agent's (agent true) or the caller's. */
	void (*transcript)(bool agent, const char *text, void *arg);
	/* A response finished (done, cancelled or failed). */
	void (*response_done)(void *arg);
	/* The server heard the caller start speaking, over response `over`
	 * ("" when none was playing; borrowed), which is what cancel() then
	 * takes. */
	void (*speech_started)(const char *over, void *arg);
};

struct realtime_provider {
	const char *name;
	/* Connects in the background; calls made before the session is up are
	 * queued. `h` and `arg` must outlive the context. */
	int (*new)(void **ctxp, const struct provider_args *args, const struct realtime_handlers *h,
		    void *arg);
	/* input_audio_buffer.append of caller audio at AGENT_RATE (borrowed). */
	int (*append)(void *ctx, const int16_t *pcm, size_t n);
	/* response.create, with instructions for this response (may be NULL). */
	int (*respond)(void *ctx, const char *instructions);
	/* response.cancel; audio of the cancelled response is dropped. `over`
	 * NULL: the response playing, or the one asked for and not yet created;
	 * else what speech_started named: that response only while it plays
	 * (never an answer created since). *hitp (may be NULL): a response is
	 * cancelled by this call. A cancel made while audio is being handed to
	 * the handlers waits until it has been. */
	int (*cancel)(void *ctx, const char *over, bool *hitp);
	void (*free)(void *ctx);
};

extern const struct realtime_provider realtime_openai;
/* realtime_openai without a connection (tests/fuzz): the server's text
 * frames are handed in with realtime_openai_receive() and parsed as the
 * service thread parses them; what it would send stays queued until
 * realtime_openai.close(ctx), which frees it. */
int realtime_openai_offline_new(void **ctxp, const struct realtime_handlers *h,
				void *arg) CM_MUST_USE;
void realtime_openai_receive(void *ctx, const char *data, size_t len);

extern const struct stt_provider stt_local, stt_openai;
extern const struct llm_provider llm_local, llm_openai;
extern const struct tts_provider tts_local, tts_openai;
/* true while a tts_local synthesis holds espeak-ng (one at a time per
 * process; the others wait) */
bool tts_local_busy(void);

/* By name; NULL when unknown. */
const struct stt_provider *provider_stt(const char *name);
const struct llm_provider *provider_llm(const char *name);
const struct tts_provider *provider_tts(const char *name);

/* ---- helpers shared by providers ----------------------------------------- */

/* Length of the first complete sentence of s[0..len) — up to and including
 * '.', '!' or '?' followed by white space, or a letter and one of them ending
 * the input — or 0 when none is complete yet. */
size_t provider_sentence_len(const char *s, size_t len);

/* Linear-interpolation resampling; *outp (caller frees) holds *outnp samples. */
int provider_resample(int16_t **outp, size_t *outnp, const int16_t *in, size_t n,
		      int from_rate, int to_rate) CM_MUST_USE;

/* Lower-cases ASCII and turns everything but letters, digits and apostrophes
 * into single spaces, into out (at most outlen-1 bytes). */
void provider_normalize(char *out, size_t outlen, const char *in);
/* True when normalized `phrase` occurs in normalized `text` on word boundaries. */
bool provider_phrase_in(const char *text, const char *phrase);

/* OPENAI_API_KEY for requests to base_url: only where OPENAI_BASE_URL points
 * (the same scheme, host and port; ws/wss as http/https), so an assistant
 * whose base_url names another server never carries the deployment's key
 * there. NULL when there is no key to send; when a key is withheld from
 * base_url, one warn line (provider_key_withheld) names its origin and why
 * (each provider asks once, when it opens). */
const char *provider_api_key(const struct provider_env *env, const char *base_url);

#endif
