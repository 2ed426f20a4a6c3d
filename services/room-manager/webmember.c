/* Browser members of local rooms over WebSocket.
 *
 * Wire format (console/room-local.js speaks it):
 *
 *   text, page → room-manager, first message:
 *     {"type":"hello","send":"opus"|"pcm","receive":"opus"|"pcm"}
 *   text, room-manager → page:
 *     {"type":"joined","room":…,"identity":…}      the join went through
 *     {"type":"member","identity":…,"joined":bool} another member came or went
 *     {"type":"error","message":…}                 then the socket closes
 *   binary, page → room-manager: 1 type byte, then one 20 ms frame
 *     0x01 PCM:  960 samples, 16-bit signed little-endian, 48 kHz mono
 *     0x02 Opus: one Opus packet of 20 ms at 48 kHz mono
 *   binary, room-manager → page: 1 type byte (as above), the sender's SSRC
 *     (4 bytes, big-endian), then its 20 ms frame.
 *
 * Audio back to the page is per member, not mixed: one frame per other
 * member that spoke in each 20 ms, tagged with its SSRC; the page plays
 * each SSRC on its own schedule and WebAudio sums them. A frame the page
 * does not read in time is dropped (WS_QUEUE_MAX frames, 2.5 s) rather than
 * queued without bound.
 *
 * What arrives from the page becomes Opus RTP through room_local's
 * send_frame: PCM is encoded, Opus is decoded and encoded again (room_local
 * sends only what it encodes itself; bench_room_ws puts a browser member at
 * 1-2 % of a core, and this backend is for one machine).
 *
 * Threads: accept, the page's messages and the close run on libs/ws's
 * thread; the hello's join and the close's leave are one rooms.join /
 * rooms.leave round trip each (to this process's own workers), which that
 * thread waits for. What the page hears is sent from the membership's
 * receive thread (ws_send queues). */
#include "webmember.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <cjson/cJSON.h>

#include "event/event.h"
#include "livekit/livekit.h"
#include "media/media.h"
#include "room/room.h"
#include "ws/ws.h"

#define MSG_PCM          0x01
#define MSG_OPUS         0x02
#define PCM_BYTES        (ROOM_FRAME_SAMPLES * 2)
#define DOWN_HEADER      5           /* type + SSRC */
#define TOKEN_MAX        4096
#define HELLO_MAX        512
#define JOIN_TIMEOUT_MS  3000
#define SECRET_BYTES     32

enum codec { CODEC_NONE, CODEC_PCM, CODEC_OPUS };

struct webmembers {
	struct webmember_cfg cfg;
	char url[160];
	char secret[2 * SECRET_BYTES + 1];
	struct room_local_ctx room_ctx;
	struct ws_server *server;
	pthread_mutex_t lock;       /* the list of members */
	struct member *members;
};

/* One encoder per SSRC heard (Opus back to the page); receive thread. */
struct down_enc {
	uint32_t ssrc;
	struct media_opus_enc *enc;
	int64_t last_ms;
};

struct member {
	struct webmembers *w;
	struct member *next, *prev; /* w->members, under w->lock */
	struct ws_conn *conn;
	char room[EVENT_ROOM_MAX + 1];
	char identity[ROOM_IDENTITY_MAX + 1];
	bool can_publish, can_subscribe;
	enum codec send, receive;
	struct room *rm;                /* NULL until the hello joined it */
	struct media_opus_dec *up_dec;  /* the page's Opus (service thread) */
	struct down_enc down[ROOM_SENDERS_MAX];
	atomic_uint_fast64_t frames_in, frames_out, frames_dropped;
};

/* ---- tokens ------------------------------------------------------------ */

int webmembers_token(struct webmembers *w, char **jwtp, const char *room, const char *identity,
		     const char *name, const char *metadata, bool can_publish, bool can_subscribe,
		     long ttl_s)
{
	struct livekit_grants g = {
		.room = room, .room_join = true,
		.can_publish = can_publish, .can_subscribe = can_subscribe,
	};
	if (!room || !*room || !identity || strlen(identity) > ROOM_IDENTITY_MAX)
		return EINVAL;
	if (ttl_s <= 0 || ttl_s > WEB_TOKEN_TTL_MAX_S)
		ttl_s = WEB_TOKEN_TTL_MAX_S;
	return livekit_token_mint(jwtp, WEB_TOKEN_ISSUER, w->secret, identity, name, metadata, &g,
				  (int)ttl_s);
}

void webmembers_room_closed(struct webmembers *w, const char *room)
{
	if (!w)
		return;
	/* a member in the list has a live connection: it leaves the list
	 * (under the lock) before its connection goes */
	pthread_mutex_lock(&w->lock);
	for (struct member *m = w->members; m; m = m->next)
		if (strcmp(m->room, room) == 0)
			ws_close(m->conn, 1000, "room closed");
	pthread_mutex_unlock(&w->lock);
}

const char *webmembers_url(const struct webmembers *w)
{
	return w->url;
}

static bool claim_bool(const cJSON *obj, const char *name, bool def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

/* ---- the upgrade ------------------------------------------------------- */

static int on_accept(void **connargp, struct ws_conn *c, const char *path, char *reason, void *arg)
{
	struct webmembers *w = arg;
	char token[TOKEN_MAX];
	cJSON *claims = NULL;
	struct member *m = NULL;
	int status = 401;
	if (strcmp(path, "/room") != 0) {
		snprintf(reason, WS_REASON_MAX + 1, "%s: no such endpoint (browsers join at /room)",
			 path);
		return 404;
	}
	int err = ws_conn_arg(c, "access_token", token, sizeof(token));
	if (err) {
		snprintf(reason, WS_REASON_MAX + 1, "access_token: %s",
			 err == ENOENT ? "missing" : "too long");
		goto out;
	}
	if (livekit_token_verify(&claims, token, WEB_TOKEN_ISSUER, w->secret)) {
		snprintf(reason, WS_REASON_MAX + 1,
			 "access_token: not valid here (signature, issuer, expiry or not-before)");
		goto out;
	}
	const cJSON *sub = cJSON_GetObjectItemCaseSensitive(claims, "sub");
	const cJSON *video = cJSON_GetObjectItemCaseSensitive(claims, "video");
	const cJSON *room = cJSON_GetObjectItemCaseSensitive(video, "room");
	if (!cJSON_IsString(sub) || !*sub->valuestring ||
	    strlen(sub->valuestring) > ROOM_IDENTITY_MAX) {
		snprintf(reason, WS_REASON_MAX + 1, "access_token: no identity (sub)");
		goto out;
	}
	if (!claim_bool(video, "roomJoin", false) || !cJSON_IsString(room) ||
	    !*room->valuestring || strlen(room->valuestring) > EVENT_ROOM_MAX) {
		snprintf(reason, WS_REASON_MAX + 1,
			 "access_token: does not grant roomJoin to a room");
		goto out;
	}
	if (!w->cfg.room_open(room->valuestring, w->cfg.arg)) {
		snprintf(reason, WS_REASON_MAX + 1, "room %.*s is not open", EVENT_ROOM_MAX,
			 room->valuestring);
		goto out;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(reason, WS_REASON_MAX + 1, "out of memory");
		status = 503;
		goto out;
	}
	m->w = w;
	m->conn = c;
	snprintf(m->room, sizeof(m->room), "%s", room->valuestring);
	snprintf(m->identity, sizeof(m->identity), "%s", sub->valuestring);
	m->can_publish = claim_bool(video, "canPublish", true);
	m->can_subscribe = claim_bool(video, "canSubscribe", true);
	/* one connection per membership: a second one would take over the
	 * first's relay port, and either leaving would end both */
	pthread_mutex_lock(&w->lock);
	for (const struct member *o = w->members; o; o = o->next) {
		if (strcmp(o->room, m->room) == 0 && strcmp(o->identity, m->identity) == 0) {
			pthread_mutex_unlock(&w->lock);
			snprintf(reason, WS_REASON_MAX + 1,
				 "%.*s is already connected to this room", ROOM_IDENTITY_MAX,
				 m->identity);
			status = 409;
			goto out;
		}
	}
	m->next = w->members;
	if (w->members)
		w->members->prev = m;
	w->members = m;
	pthread_mutex_unlock(&w->lock);
	*connargp = m;
	m = NULL;
	status = 0;
out:
	if (status)
		log_info("web_member_refused", "status=%d %s", status, reason);
	cJSON_Delete(claims);
	free(m);
	return status;
}

/* ---- what the page hears (room receive thread) ----------------------- */

static struct media_opus_enc *down_encoder(struct member *m, uint32_t ssrc)
{
	static const struct media_opus_enc_cfg ecfg = {
		.bitrate = 32000, .loss_pct = 0, .complexity = 5, .max_bandwidth = MEDIA_OPUS_FB,
	};
	int64_t now = time_mono_ms();
	struct down_enc *oldest = &m->down[0];
	for (size_t i = 0; i < ROOM_SENDERS_MAX; i++) {
		struct down_enc *d = &m->down[i];
		if (d->enc && d->ssrc == ssrc) {
			d->last_ms = now;
			return d->enc;
		}
		if (!d->enc || d->last_ms < oldest->last_ms)
			oldest = d;
	}
	/* a free slot, or the one silent longest (a member that left) */
	oldest->enc = media_opus_enc_free(oldest->enc);
	if (media_opus_enc_new(&oldest->enc, &ecfg))
		return NULL;
	oldest->ssrc = ssrc;
	oldest->last_ms = now;
	return oldest->enc;
}

static void on_frame(const struct room_frame *f, void *arg)
{
	struct member *m = arg;
	uint8_t msg[DOWN_HEADER + PCM_BYTES > DOWN_HEADER + MEDIA_OPUS_PACKET_MAX
			    ? DOWN_HEADER + PCM_BYTES
			    : DOWN_HEADER + MEDIA_OPUS_PACKET_MAX];
	size_t len = DOWN_HEADER;
	if (!m->can_subscribe)
		return;
	msg[1] = (uint8_t)(f->ssrc >> 24);
	msg[2] = (uint8_t)(f->ssrc >> 16);
	msg[3] = (uint8_t)(f->ssrc >> 8);
	msg[4] = (uint8_t)f->ssrc;
	if (m->receive == CODEC_OPUS) {
		struct media_opus_enc *enc = down_encoder(m, f->ssrc);
		size_t olen = 0;
		if (!enc || media_opus_encode(enc, msg + DOWN_HEADER, sizeof(msg) - DOWN_HEADER,
					      &olen, f->pcm)) {
			atomic_fetch_add(&m->frames_dropped, 1);
			return;
		}
		msg[0] = MSG_OPUS;
		len += olen;
	} else {
		msg[0] = MSG_PCM;
		for (size_t i = 0; i < ROOM_FRAME_SAMPLES; i++) {
			uint16_t s = (uint16_t)f->pcm[i];
			msg[DOWN_HEADER + 2 * i] = (uint8_t)s;
			msg[DOWN_HEADER + 2 * i + 1] = (uint8_t)(s >> 8);
		}
		len += PCM_BYTES;
	}
	if (ws_send(m->conn, true, msg, len))
		atomic_fetch_add(&m->frames_dropped, 1);
	else
		atomic_fetch_add(&m->frames_out, 1);
}

static void send_json(struct member *m, cJSON *obj)
{
	char *s = obj ? cJSON_PrintUnformatted(obj) : NULL;
	if (!s || ws_send(m->conn, false, s, strlen(s)))
		log_debug("web_member_event_dropped", "room=%s identity=%s", m->room, m->identity);
	free(s);
	cJSON_Delete(obj);
}

static void on_member(const char *identity, bool joined, void *arg)
{
	struct member *m = arg;
	cJSON *o = cJSON_CreateObject();
	if (o && cJSON_AddStringToObject(o, "type", "member") &&
	    cJSON_AddStringToObject(o, "identity", identity) &&
	    cJSON_AddBoolToObject(o, "joined", joined))
		send_json(m, o);
	else
		cJSON_Delete(o);
}

static const struct room_handlers member_handlers = { .frame = on_frame, .member = on_member };

/* ---- what the page says (service thread) ------------------------------- */

static void refuse(struct member *m, int code, const char *why)
{
	cJSON *o = cJSON_CreateObject();
	if (o && cJSON_AddStringToObject(o, "type", "error") &&
	    cJSON_AddStringToObject(o, "message", why))
		send_json(m, o);
	else
		cJSON_Delete(o);
	log_info("web_member_closed", "room=%s identity=%s: %s", m->room, m->identity, why);
	ws_close(m->conn, code, why);
}

static enum codec codec_of(const cJSON *v)
{
	if (!cJSON_IsString(v))
		return CODEC_NONE;
	return strcmp(v->valuestring, "opus") == 0  ? CODEC_OPUS
	       : strcmp(v->valuestring, "pcm") == 0 ? CODEC_PCM
						    : CODEC_NONE;
}

static void on_hello(struct member *m, const uint8_t *data, size_t len)
{
	cJSON *o = len <= HELLO_MAX ? cJSON_ParseWithLength((const char *)data, len) : NULL;
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
	char why[WS_REASON_MAX + 1];
	if (!cJSON_IsString(type) || strcmp(type->valuestring, "hello") != 0) {
		refuse(m, 1008,
		       "the first message must be {\"type\":\"hello\",\"send\",\"receive\"}");
		goto out;
	}
	if (m->rm) {
		refuse(m, 1008, "hello: sent twice");
		goto out;
	}
	m->send = codec_of(cJSON_GetObjectItemCaseSensitive(o, "send"));
	m->receive = codec_of(cJSON_GetObjectItemCaseSensitive(o, "receive"));
	if (m->send == CODEC_NONE || m->receive == CODEC_NONE) {
		refuse(m, 1008, m->send == CODEC_NONE ? "send: must be \"opus\" or \"pcm\""
						      : "receive: must be \"opus\" or \"pcm\"");
		goto out;
	}
	if (m->send == CODEC_OPUS && media_opus_dec_new(&m->up_dec)) {
		refuse(m, 1011, "out of memory");
		goto out;
	}
	int err =
		room_local.join(&m->rm, &m->w->room_ctx, m->room, m->identity, &member_handlers, m);
	if (err) {
		snprintf(why, sizeof(why), "join %s: %s", m->room, cm_strerror(err));
		m->rm = NULL;
		refuse(m, 1011, why);
		goto out;
	}
	log_info("web_member_joined", "room=%s identity=%s send=%s receive=%s", m->room,
		 m->identity, m->send == CODEC_OPUS ? "opus" : "pcm",
		 m->receive == CODEC_OPUS ? "opus" : "pcm");
	cJSON *j = cJSON_CreateObject();
	if (j && cJSON_AddStringToObject(j, "type", "joined") &&
	    cJSON_AddStringToObject(j, "room", m->room) &&
	    cJSON_AddStringToObject(j, "identity", m->identity))
		send_json(m, j);
	else
		cJSON_Delete(j);
out:
	cJSON_Delete(o);
}

static void on_audio(struct member *m, const uint8_t *data, size_t len)
{
	int16_t pcm[MEDIA_OPUS_MAX_FRAME];
	char why[WS_REASON_MAX + 1];
	if (!m->rm) {
		refuse(m, 1008, "audio before hello");
		return;
	}
	if (data[0] == MSG_PCM && len == 1 + PCM_BYTES) {
		for (size_t i = 0; i < ROOM_FRAME_SAMPLES; i++)
			pcm[i] = (int16_t)(uint16_t)(data[1 + 2 * i] | data[2 + 2 * i] << 8);
	} else if (data[0] == MSG_OPUS && m->up_dec && len > 1) {
		size_t n = 0;
		if (media_opus_decode(m->up_dec, pcm, CM_ARRAY_LEN(pcm), &n, data + 1, len - 1)) {
			atomic_fetch_add(&m->frames_dropped, 1);
			return;
		}
		/* 20 ms is what the page promised; anything else is cut or padded */
		if (n < ROOM_FRAME_SAMPLES)
			memset(pcm + n, 0, (ROOM_FRAME_SAMPLES - n) * sizeof(pcm[0]));
	} else {
		snprintf(why, sizeof(why),
			 "binary message: type 0x%02x with %zu bytes is not a %s frame (hello said "
			 "%s)",
			 data[0], len - 1, m->send == CODEC_OPUS ? "Opus" : "PCM (1920 bytes)",
			 m->send == CODEC_OPUS ? "opus" : "pcm");
		refuse(m, 1003, why);
		return;
	}
	if (!m->can_publish)
		return;
	if (room_local.send_frame(m->rm, pcm))
		atomic_fetch_add(&m->frames_dropped, 1);
	else
		atomic_fetch_add(&m->frames_in, 1);
}

static void on_message(struct ws_conn *c, bool binary, const uint8_t *data, size_t len, void *arg)
{
	struct member *m = arg;
	(void)c;
	if (!binary)
		on_hello(m, data, len);
	else if (len == 0)
		refuse(m, 1003, "binary message: empty");
	else
		on_audio(m, data, len);
}

static void on_closed(struct ws_conn *c, void *arg)
{
	struct member *m = arg;
	struct webmembers *w = m->w;
	(void)c;
	pthread_mutex_lock(&w->lock);
	if (m->prev)
		m->prev->next = m->next;
	else
		w->members = m->next;
	if (m->next)
		m->next->prev = m->prev;
	pthread_mutex_unlock(&w->lock);
	/* leave() joins the receive thread: nothing sends on c after it */
	if (m->rm) {
		room_local.leave(m->rm);
		log_info("web_member_left", "room=%s identity=%s frames_in=%llu frames_out=%llu "
			 "dropped=%llu", m->room, m->identity,
			 (unsigned long long)atomic_load(&m->frames_in),
			 (unsigned long long)atomic_load(&m->frames_out),
			 (unsigned long long)atomic_load(&m->frames_dropped));
	}
	for (size_t i = 0; i < ROOM_SENDERS_MAX; i++)
		media_opus_enc_free(m->down[i].enc);
	media_opus_dec_free(m->up_dec);
	free(m);
}

static const struct ws_handlers ws_handlers = {
	.accept = on_accept, .message = on_message, .closed = on_closed,
};

/* ---- start / stop ------------------------------------------------------ */

int webmembers_new(struct webmembers **wp, const struct webmember_cfg *cfg)
{
	struct webmembers *w = calloc(1, sizeof(*w));
	if (!w)
		return ENOMEM;
	w->cfg = *cfg;
	w->room_ctx = (struct room_local_ctx){ .bus = cfg->bus, .timeout_ms = JOIN_TIMEOUT_MS };
	if (cfg->secret) {
		snprintf(w->secret, sizeof(w->secret), "%s", cfg->secret);
	} else {
		uint8_t raw[SECRET_BYTES];
		if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
			free(w);
			return EIO;
		}
		for (size_t i = 0; i < sizeof(raw); i++)
			snprintf(w->secret + 2 * i, 3, "%02x", raw[i]);
	}
	pthread_mutex_init(&w->lock, NULL);
	snprintf(w->url, sizeof(w->url), "%s", cfg->url ? cfg->url : "");
	if (!cfg->url)
		snprintf(w->url, sizeof(w->url), "ws://%s/room", cfg->addr);
	int err = ws_server_new(&w->server, cfg->addr, &ws_handlers, w);
	if (err) {
		pthread_mutex_destroy(&w->lock);
		free(w);
		return err;
	}
	log_info("web_members_listening", "addr=%s url=%s secret=%s", cfg->addr, w->url,
		 cfg->secret ? "ROOM_TOKEN_SECRET" : "random");
	*wp = w;
	return 0;
}

struct webmembers *webmembers_free(struct webmembers *w)
{
	if (!w)
		return NULL;
	w->server = ws_server_free(w->server);
	pthread_mutex_destroy(&w->lock);
	free(w);
	return NULL;
}
