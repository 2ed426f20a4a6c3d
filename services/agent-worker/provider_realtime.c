/*
 * The OpenAI Realtime API over a WebSocket (libwebsockets), speech to speech:
 *   → session.update {instructions, voice, input/output pcm16, server VAD,
 *     input transcription}, input_audio_buffer.append {audio: base64 pcm16
 *     24 kHz}, response.create {response:{instructions}}, response.cancel
 *     {response_id}
 *   ← response.created, response.audio.delta, response.audio_transcript.done,
 *     response.done, input_audio_buffer.speech_started,
 *     conversation.item.input_audio_transcription.completed, error
 * Config (llm_config): "base_url" (ws://, wss://, http:// or https://; else
 * OPENAI_BASE_URL), "model" ["gpt-4o-realtime-preview"], "voice" ["alloy"],
 * "transcription_model" ["whisper-1"].
 *
 * One lws context and service thread per session. Other threads only queue
 * messages (an mqueue, popped on the service thread when the socket is
 * writable) and wake the service loop (lws_cancel_service); every lws call
 * on the connection is made on the service thread.
 */
#include "provider.h"
#include "agent_room.h"

#include "egress/egress.h"
#include "httpc/httpc.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#define RT_RATE       24000
#define RX_MAX        (4u << 20)
#define TXQ_MAX       512
#define ID_MAX        64

struct txmsg {
	size_t len;
	unsigned char buf[]; /* LWS_PRE bytes of headroom, then the text */
};

struct rt {
	const struct realtime_handlers *h;
	void *arg;
	struct lws_context *ctx;
	struct lws *wsi;
	pthread_t thread;
	atomic_bool stop;
	pthread_mutex_t mu;
	struct mqueue *txq;   /* struct txmsg, any thread → service thread */
	bool connected, failed;
	char *rx;
	size_t rxlen;
	bool rx_overflow;
	/* under mu: which response is playing and which one was cancelled;
	 * `requested` response.create sent whose response.created has not
	 * come; cancel_next: cancel the next one created (one we requested) */
	char active_id[ID_MAX], cancelled_id[ID_MAX];
	int requested;
	bool cancel_next;
	/* the connection */
	char host[256], path[512], auth[300];
	int port;
	bool tls;
};

static int queue_json(struct rt *r, cJSON *j)
{
	char *text = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (!text)
		return ENOMEM;
	size_t n = strlen(text);
	struct txmsg *m = malloc(sizeof(*m) + LWS_PRE + n);
	if (!m) {
		free(text);
		return ENOMEM;
	}
	m->len = n;
	memcpy(m->buf + LWS_PRE, text, n);
	free(text);
	int err = 0;
	pthread_mutex_lock(&r->mu); /* a failed connection takes no more */
	if (r->failed)
		err = EIO;
	else if (mqueue_push(r->txq, m))
		err = EAGAIN; /* TXQ_MAX waiting */
	pthread_mutex_unlock(&r->mu);
	if (err)
		free(m);
	if (!err && r->ctx)
		lws_cancel_service(r->ctx);
	return err;
}

static cJSON *msg_new(const char *type)
{
	cJSON *j = cJSON_CreateObject();
	if (j && !cJSON_AddStringToObject(j, "type", type)) {
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

/* ---- what the server says ------------------------------------------------ */

static const char *jstr(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* under mu */
static bool cancelled(const struct rt *r, const char *rid)
{
	return rid && r->cancelled_id[0] && strcmp(rid, r->cancelled_id) == 0;
}

/* Audio and the agent's transcript of response `rid` reach the handlers
 * under mu, so a cancel either comes first and they are dropped, or waits
 * until they are handed over (stamped with the generation of that moment,
 * which the session moves on only after its cancel). */
static void deliver_audio(struct rt *r, const char *rid, int16_t *pcm, size_t n)
{
	pthread_mutex_lock(&r->mu);
	bool drop = cancelled(r, rid);
	if (!drop)
		r->h->audio(pcm, n, r->arg);
	pthread_mutex_unlock(&r->mu);
	if (drop)
		free(pcm);
}

static void deliver_agent_line(struct rt *r, const char *rid, const char *text)
{
	pthread_mutex_lock(&r->mu);
	if (!cancelled(r, rid))
		r->h->transcript(true, text, r->arg);
	pthread_mutex_unlock(&r->mu);
}

static void on_audio_delta(struct rt *r, const cJSON *j)
{
	const char *b64 = jstr(j, "delta"), *rid = jstr(j, "response_id");
	pthread_mutex_lock(&r->mu);
	bool drop = !b64 || cancelled(r, rid); /* spares the decoding */
	pthread_mutex_unlock(&r->mu);
	if (drop)
		return;
	size_t cap = strlen(b64) * 3 / 4 + 4;
	char *raw = malloc(cap);
	int16_t *pcm24 = NULL, *pcm16 = NULL;
	size_t n16 = 0;
	if (!raw)
		return;
	int n = lws_b64_decode_string_len(b64, (int)strlen(b64), raw, (int)cap);
	if (n > 1) {
		size_t ns = (size_t)n / 2;
		pcm24 = malloc(ns * sizeof(int16_t));
		if (pcm24) {
			for (size_t i = 0; i < ns; i++)
				pcm24[i] =
					(int16_t)((uint16_t)(unsigned char)raw[2 * i] |
						  (uint16_t)((unsigned char)raw[2 * i + 1] << 8));
			if (provider_resample(&pcm16, &n16, pcm24, ns, RT_RATE, AGENT_RATE) == 0)
				deliver_audio(r, rid, pcm16, n16);
		}
	}
	free(pcm24);
	free(raw);
}

/* response.cancel naming the response: a bare cancel stops whatever is in
 * progress when it arrives, which may already be the answer to the speech
 * that caused it. */
static int cancel_msg(struct rt *r, const char *response_id)
{
	cJSON *m = msg_new("response.cancel");
	if (!m || !cJSON_AddStringToObject(m, "response_id", response_id)) {
		cJSON_Delete(m);
		return ENOMEM;
	}
	return queue_json(r, m);
}

static void on_message(struct rt *r, const char *data, size_t len)
{
	cJSON *j = cJSON_ParseWithLength(data, len);
	const char *type = jstr(j, "type");
	if (!type)
		goto out;
	if (strcmp(type, "response.created") == 0) {
		const char *id = jstr(cJSON_GetObjectItemCaseSensitive(j, "response"), "id");
		pthread_mutex_lock(&r->mu);
		snprintf(r->active_id, sizeof(r->active_id), "%s", id ? id : "");
		if (r->requested > 0)
			r->requested--;
		bool cancel_now = r->cancel_next && r->active_id[0];
		if (cancel_now) {
			r->cancel_next = false;
			snprintf(r->cancelled_id, sizeof(r->cancelled_id), "%s", r->active_id);
		}
		pthread_mutex_unlock(&r->mu);
		if (cancel_now && cancel_msg(r, id) != 0)
			lwsl_warn("realtime: cancel not queued\n");
	} else if (strcmp(type, "response.audio.delta") == 0) {
		on_audio_delta(r, j);
	} else if (strcmp(type, "response.audio_transcript.done") == 0) {
		const char *t = jstr(j, "transcript");
		if (t && t[0])
			deliver_agent_line(r, jstr(j, "response_id"), t);
	} else if (strcmp(type, "conversation.item.input_audio_transcription.completed") == 0) {
		const char *t = jstr(j, "transcript");
		if (t && t[0])
			r->h->transcript(false, t, r->arg);
	} else if (strcmp(type, "response.done") == 0) {
		pthread_mutex_lock(&r->mu);
		r->active_id[0] = '\0';
		pthread_mutex_unlock(&r->mu);
		r->h->response_done(r->arg);
	} else if (strcmp(type, "input_audio_buffer.speech_started") == 0) {
		/* the response the caller spoke over, taken now: by the time the
		 * session acts on it the server may have created its answer */
		char over[ID_MAX];
		pthread_mutex_lock(&r->mu);
		memcpy(over, r->active_id, sizeof(over));
		pthread_mutex_unlock(&r->mu);
		r->h->speech_started(over, r->arg);
	} else if (strcmp(type, "error") == 0) {
		const char *m = jstr(cJSON_GetObjectItemCaseSensitive(j, "error"), "message");
		log_warn("realtime_error", "%s", m ? m : "(no message)");
	}
out:
	cJSON_Delete(j);
}

/* ---- lws ------------------------------------------------------------------- */

static int rt_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		       size_t len)
{
	struct rt *r = lws_context_user(lws_get_context(wsi));
	(void)user;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
		unsigned char **p = in, *end = *p + len;
		if (r->auth[0] &&
		    lws_add_http_header_by_name(wsi, (const unsigned char *)"Authorization:",
						(const unsigned char *)r->auth,
						(int)strlen(r->auth), p, end))
			return -1;
		if (lws_add_http_header_by_name(wsi, (const unsigned char *)"OpenAI-Beta:",
				(const unsigned char *)"realtime=v1", 11, p, end))
			return -1;
		break;
	}
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		pthread_mutex_lock(&r->mu);
		r->connected = true;
		pthread_mutex_unlock(&r->mu);
		log_info("realtime_connected", "%s:%d%s", r->host, r->port, r->path);
		lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		log_warn("realtime_connect_failed", "%s:%d: %s", r->host, r->port,
			 in ? (const char *)in : "");
		/* fall through */
	case LWS_CALLBACK_CLIENT_CLOSED:
		pthread_mutex_lock(&r->mu);
		r->connected = false;
		r->failed = true;
		r->wsi = NULL;
		pthread_mutex_unlock(&r->mu);
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (r->rxlen + len + 1 > RX_MAX) {
			r->rx_overflow = true;
		} else if (!r->rx_overflow) {
			char *nb = realloc(r->rx, r->rxlen + len + 1);
			if (!nb) {
				r->rx_overflow = true;
			} else {
				r->rx = nb;
				memcpy(r->rx + r->rxlen, in, len);
				r->rxlen += len;
			}
		}
		if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
			if (!r->rx_overflow && r->rx)
				on_message(r, r->rx, r->rxlen);
			else
				log_warn("realtime_rx", "message over %u bytes dropped", RX_MAX);
			r->rxlen = 0;
			r->rx_overflow = false;
		}
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE: {
		struct txmsg *m = mqueue_pop(r->txq);
		bool more = mqueue_len(r->txq) > 0;
		if (m) {
			int w = lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT);
			free(m);
			if (w < 0)
				return -1;
		}
		if (more)
			lws_callback_on_writable(wsi);
		break;
	}
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		pthread_mutex_lock(&r->mu);
		if (r->connected && r->wsi && mqueue_len(r->txq) > 0)
			lws_callback_on_writable(r->wsi);
		pthread_mutex_unlock(&r->mu);
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols rt_protocols[] = {
	{ "callmesh-realtime", rt_callback, 0, 65536, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

static void *rt_thread(void *arg)
{
	struct rt *r = arg;
	for (int n = 0; n >= 0 && !atomic_load(&r->stop);)
		n = lws_service(r->ctx, 0);
	return NULL;
}

/* base_url → host, port, path, tls; a base_url with userinfo is refused
 * (there is nowhere to send it), its query and fragment are left out. */
static int parse_url(struct rt *r, const char *url, const char *model)
{
	struct httpc_url u;
	if (httpc_url_parse(&u, url) || u.userinfo || strlen(u.host) >= sizeof(r->host))
		return EINVAL;
	r->tls = strcmp(u.scheme, "https") == 0 || strcmp(u.scheme, "wss") == 0;
	r->port = u.port;
	memcpy(r->host, u.host, strlen(u.host) + 1);
	size_t bl = strlen(u.path);
	while (bl > 0 && u.path[bl - 1] == '/')
		bl--;
	int k = snprintf(r->path, sizeof(r->path), "%.*s/realtime?model=%s", (int)bl, u.path,
			 model);
	return k > 0 && (size_t)k < sizeof(r->path) ? 0 : EINVAL;
}

static pthread_once_t lws_log_once = PTHREAD_ONCE_INIT;

static void lws_quiet(void)
{
	lws_set_log_level(LLL_ERR, NULL);
}

/* A connection's state without its connection: NULL when out of memory. */
static struct rt *rt_bare(const struct realtime_handlers *h, void *arg)
{
	struct rt *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	pthread_mutex_init(&r->mu, NULL);
	if (mqueue_new(&r->txq, TXQ_MAX)) {
		pthread_mutex_destroy(&r->mu);
		free(r);
		return NULL;
	}
	r->h = h;
	r->arg = arg;
	return r;
}

static void rt_free(void *ctx);

static int rt_new(void **ctxp, const struct provider_args *args, const struct realtime_handlers *h,
		  void *arg)
{
	const cJSON *cfg = args->cfg;
	const char *base = jstr(cfg, "base_url") ? jstr(cfg, "base_url")
						 : args->env->openai_base_url;
	const char *model = jstr(cfg, "model") ? jstr(cfg, "model") : "gpt-4o-realtime-preview";
	const char *voice = jstr(cfg, "voice") ? jstr(cfg, "voice") : "alloy";
	const char *tmodel = jstr(cfg, "transcription_model") ? jstr(cfg, "transcription_model")
							      : "whisper-1";
	int err = 0;
	if (!base)
		return EINVAL;
	pthread_once(&lws_log_once, lws_quiet);
	struct rt *r = rt_bare(h, arg);
	if (!r)
		return ENOMEM;
	if ((err = parse_url(r, base, model))) {
		log_error("realtime_open", "base URL not usable: %s", base);
		goto fail;
	}
	const char *key = provider_api_key(args->env, base);
	if (key)
		snprintf(r->auth, sizeof(r->auth), "Bearer %s", key);
	/* resolved once and checked (libs/egress); without TLS the connection
	 * goes to that very address, with TLS the certificate must match the
	 * name, so a rebound name cannot lead to an internal host either */
	char why[200], addr[64];
	if (egress_url_check(base, args->env->allow_private, why, sizeof(why)) ||
	    egress_host_check(r->host, args->env->allow_private, addr, sizeof(addr), why,
			      sizeof(why))) {
		log_warn("realtime_open", "base_url refused: %s", why);
		err = EACCES;
		goto fail;
	}

	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = rt_protocols;
	info.user = r;
	if (r->tls)
		info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	if (!(r->ctx = lws_create_context(&info))) {
		err = EIO;
		goto fail;
	}
	/* The session configuration goes first. */
	cJSON *m = msg_new("session.update"), *s = m ? cJSON_AddObjectToObject(m, "session") : NULL;
	cJSON *td = s ? cJSON_AddObjectToObject(s, "turn_detection") : NULL;
	cJSON *tr = s ? cJSON_AddObjectToObject(s, "input_audio_transcription") : NULL;
	cJSON *mods = s ? cJSON_AddArrayToObject(s, "modalities") : NULL;
	if (!td || !tr || !mods ||
	    !cJSON_AddStringToObject(s, "instructions", args->assistant->prompt) ||
	    !cJSON_AddStringToObject(s, "voice", voice) ||
	    !cJSON_AddStringToObject(s, "input_audio_format", "pcm16") ||
	    !cJSON_AddStringToObject(s, "output_audio_format", "pcm16") ||
	    !cJSON_AddStringToObject(td, "type", "server_vad") ||
	    !cJSON_AddStringToObject(tr, "model", tmodel)) {
		cJSON_Delete(m);
		err = ENOMEM;
		goto fail;
	}
	cJSON_AddItemToArray(mods, cJSON_CreateString("audio"));
	cJSON_AddItemToArray(mods, cJSON_CreateString("text"));
	if ((err = queue_json(r, m)))
		goto fail;

	struct lws_client_connect_info ci;
	memset(&ci, 0, sizeof(ci));
	ci.context = r->ctx;
	ci.address = r->tls ? r->host : addr;
	ci.port = r->port;
	ci.path = r->path;
	ci.host = r->host;
	ci.origin = r->host;
	ci.ssl_connection = r->tls ? LCCSCF_USE_SSL : 0;
	ci.local_protocol_name = rt_protocols[0].name;
	ci.pwsi = &r->wsi;
	if (!lws_client_connect_via_info(&ci)) {
		log_warn("realtime_open", "cannot connect to %s:%d", r->host, r->port);
		err = EIO;
		goto fail;
	}
	if ((err = pthread_create(&r->thread, NULL, rt_thread, r)))
		goto fail;
	*ctxp = r;
	return 0;
fail:
	if (r->ctx)
		lws_context_destroy(r->ctx);
	r->ctx = NULL;
	rt_free(r);
	return err;
}

static int rt_append(void *ctx, const int16_t *pcm, size_t n)
{
	struct rt *r = ctx;
	int16_t *up = NULL;
	size_t nup = 0;
	int err = provider_resample(&up, &nup, pcm, n, AGENT_RATE, RT_RATE);
	if (err)
		return err;
	size_t bytes = nup * 2;
	unsigned char *raw = malloc(bytes ? bytes : 1);
	char *b64 = malloc(bytes * 4 / 3 + 8);
	err = ENOMEM;
	if (raw && b64) {
		for (size_t i = 0; i < nup; i++) {
			raw[2 * i] = (unsigned char)((uint16_t)up[i] & 0xff);
			raw[2 * i + 1] = (unsigned char)((uint16_t)up[i] >> 8);
		}
		if (lws_b64_encode_string((const char *)raw, (int)bytes, b64,
					  (int)(bytes * 4 / 3 + 8)) < 0) {
			err = EIO;
		} else {
			cJSON *m = msg_new("input_audio_buffer.append");
			err = m && cJSON_AddStringToObject(m, "audio", b64) ? queue_json(r, m)
									    : ENOMEM;
			if (err == ENOMEM)
				cJSON_Delete(m);
		}
	}
	free(raw);
	free(b64);
	free(up);
	return err;
}

static int rt_respond(void *ctx, const char *instructions)
{
	struct rt *r = ctx;
	cJSON *m = msg_new("response.create");
	cJSON *resp = m ? cJSON_AddObjectToObject(m, "response") : NULL;
	if (!resp ||
	    (instructions && !cJSON_AddStringToObject(resp, "instructions", instructions))) {
		cJSON_Delete(m);
		return ENOMEM;
	}
	/* counted before it can leave: its response.created may come at once */
	pthread_mutex_lock(&r->mu);
	r->requested++;
	pthread_mutex_unlock(&r->mu);
	int err = queue_json(r, m);
	if (err) {
		pthread_mutex_lock(&r->mu);
		r->requested--;
		pthread_mutex_unlock(&r->mu);
	}
	return err;
}

/* Cancels the response that is playing, else the one we asked for and
 * whose response.created has not come yet; nothing else. A second cancel
 * (our barge-in, then the server's speech_started) must not reach the
 * server's answer to the caller's new words, and neither must a cancel for
 * speech the server heard over `over`: only that response, if it still
 * plays (a response asked for and not yet created may be the answer by the
 * time it is, since `requested` cannot tell ours from the server's). */
static int rt_cancel(void *ctx, const char *over, bool *hitp)
{
	struct rt *r = ctx;
	char id[ID_MAX] = "";
	bool hit = false;
	pthread_mutex_lock(&r->mu);
	bool target = r->active_id[0] && (!over || strcmp(over, r->active_id) == 0);
	if (target && strcmp(r->active_id, r->cancelled_id) != 0) {
		snprintf(r->cancelled_id, sizeof(r->cancelled_id), "%s", r->active_id);
		snprintf(id, sizeof(id), "%s", r->active_id);
		hit = true;
	} else if (!r->active_id[0] && !over && r->requested > 0) {
		r->cancel_next = hit = true;
	}
	pthread_mutex_unlock(&r->mu);
	if (hitp)
		*hitp = hit;
	return id[0] ? cancel_msg(r, id) : 0;
}

static void rt_free(void *ctx)
{
	struct rt *r = ctx;
	if (!r)
		return;
	if (r->ctx) {
		atomic_store(&r->stop, true);
		lws_cancel_service(r->ctx);
		pthread_join(r->thread, NULL);
		lws_context_destroy(r->ctx);
	}
	r->txq = mqueue_free(r->txq, free);
	free(r->rx);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

const struct realtime_provider realtime_openai = {
	"openai", rt_new, rt_append, rt_respond, rt_cancel, rt_free,
};

int realtime_openai_offline_new(void **ctxp, const struct realtime_handlers *h, void *arg)
{
	struct rt *r = rt_bare(h, arg);
	if (!r)
		return ENOMEM;
	*ctxp = r;
	return 0;
}

void realtime_openai_receive(void *ctx, const char *data, size_t len)
{
	on_message(ctx, data, len);
}
