/* The local room backend's member side: Opus RTP to and from room-manager's
 * forwarder over one connected UDP socket on 127.0.0.1, a receive thread
 * that demultiplexes senders by SSRC (jitter buffer + decoder each) and
 * plays them out every 20 ms, or (ctx.in_order) hands each packet on as it
 * arrives in sequence, concealing a missing one after REORDER_WAIT_US. The
 * encoder takes and the decoders give PCM at the member's rate (Opus's own,
 * no resampler); RTP timestamps count 48 kHz whatever that rate. Who the
 * others are comes from the forwarder's RTCP: the first SDES CNAME of an
 * SSRC is a member that joined, its BYE one that left. */
#include "room/room.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "command/command.h"
#include "event/event.h"
#include "media/media.h"

#define DEFAULT_TIMEOUT_MS 5000
#define DEFAULT_BITRATE    32000
#define DEFAULT_COMPLEXITY 5
#define RECV_BATCH         64         /* datagrams read per wake-up */
#define SENDER_IDLE_US     (10 * 1000000LL) /* forget a silent sender */
#define TICK_US            (ROOM_FRAME_MS * 1000LL)
#define RESYNC_US          (200 * 1000LL) /* behind the clock by more: restart it */
#define REORDER_WAIT_US    (20 * 1000LL) /* in_order: how long a missing packet is
					  * waited for (checked on each tick) */

struct sender {
	bool used;
	uint32_t ssrc;
	char identity[ROOM_IDENTITY_MAX + 1];
	struct jbuf *jb;            /* NULL until its first RTP packet */
	struct media_opus_dec *dec;
	int64_t last_us;
	int64_t gap_since_us;       /* in_order: a packet is missing since; 0 */
};

struct room {
	const struct room_local_ctx *ctx;
	char name[EVENT_ROOM_MAX + 1];
	char identity[ROOM_IDENTITY_MAX + 1];
	room_frame_h *on_frame;
	room_member_h *on_member;   /* may be NULL */
	void *arg;
	int rate;                   /* the member's PCM rate */
	bool in_order;              /* ctx.in_order */
	size_t frame;               /* samples per 20 ms at that rate */
	int fd, evfd;
	pthread_t thread;
	bool thread_started;
	atomic_bool stop;

	pthread_mutex_t send_lock;  /* encoder, seq, ts */
	struct media_opus_enc *enc;
	uint32_t ssrc;
	uint16_t seq;
	uint32_t ts;
	bool sent_first;
	int64_t last_send_us; /* when the previous frame was sent (monotonic) */

	struct sender senders[ROOM_SENDERS_MAX]; /* receive thread only */

	atomic_uint_fast64_t frames_sent, send_errors, pkts_received, pkts_dropped,
		frames_received, frames_concealed;
};

bool room_is_rtcp(const uint8_t *pkt, size_t len)
{
	return len >= 2 && pkt[1] >= 192 && pkt[1] <= 223;
}

static int timeout_ms(const struct room_local_ctx *ctx)
{
	return ctx->timeout_ms > 0 ? ctx->timeout_ms : DEFAULT_TIMEOUT_MS;
}

/* ---- senders (receive thread) ---------------------------------------- */

static struct sender *sender_find(struct room *r, uint32_t ssrc)
{
	for (size_t i = 0; i < ROOM_SENDERS_MAX; i++)
		if (r->senders[i].used && r->senders[i].ssrc == ssrc)
			return &r->senders[i];
	return NULL;
}

static void sender_clear(struct sender *s)
{
	s->jb = jbuf_free(s->jb);
	s->dec = media_opus_dec_free(s->dec);
	memset(s, 0, sizeof(*s));
}

/* The entry of `ssrc`, created when missing (NULL when the table is full). */
static struct sender *sender_get(struct room *r, uint32_t ssrc, int64_t now_us)
{
	struct sender *s = sender_find(r, ssrc);
	if (s)
		return s;
	for (size_t i = 0; i < ROOM_SENDERS_MAX; i++) {
		if (!r->senders[i].used) {
			s = &r->senders[i];
			s->used = true;
			s->ssrc = ssrc;
			s->last_us = now_us;
			return s;
		}
	}
	return NULL;
}

static int sender_ready(struct sender *s, int rate)
{
	static const struct jbuf_cfg cfg = {
		.clock_rate = MEDIA_OPUS_RATE, .frame_ms = ROOM_FRAME_MS,
		.min_ms = 20, .max_ms = 200, .capacity = 64,
	};
	int err = 0;
	if (!s->jb)
		err = jbuf_new(&s->jb, &cfg);
	if (!err && !s->dec)
		err = media_opus_dec_new_rate(&s->dec, rate);
	return err;
}

/* ---- play-out (receive thread) --------------------------------------- */

/* Decodes (or conceals) one frame of `s` and hands it on. */
static void play_frame(struct room *r, struct sender *s, const struct jbuf_frame *f)
{
	int16_t pcm[MEDIA_OPUS_MAX_FRAME];
	size_t n = 0;
	bool concealed = false;
	if (f->status == JBUF_FRAME) {
		if (media_opus_decode(s->dec, pcm, CM_ARRAY_LEN(pcm), &n, f->data, f->len))
			n = 0;
	} else if (f->status == JBUF_LOSS) {
		concealed = true;
		if (media_opus_conceal(s->dec, pcm, r->frame, f->fec_data, f->fec_len) == 0)
			n = r->frame;
	}
	if (n == 0)
		return;
	/* our members send 20 ms; a longer packet is cut to this frame */
	if (n < r->frame)
		memset(pcm + n, 0, (r->frame - n) * sizeof(pcm[0]));
	struct room_frame rf = {
		.identity = s->identity,
		.ssrc = s->ssrc,
		.pcm = pcm,
		.samples = r->frame,
		.concealed = concealed,
	};
	atomic_fetch_add(concealed ? &r->frames_concealed : &r->frames_received, 1);
	r->on_frame(&rf, r->arg);
}

/* in_order: every packet next in sequence goes on now; with give_up a
 * missing one is concealed and those after it follow. */
static void play_in_order(struct room *r, struct sender *s, int64_t now_us, bool give_up)
{
	struct jbuf_frame f;
	for (;;) {
		jbuf_pop(s->jb, &f, give_up);
		if (f.status == JBUF_EMPTY)
			break;
		play_frame(r, s, &f);
	}
	if (!jbuf_gap(s->jb))
		s->gap_since_us = 0;
	else if (!s->gap_since_us)
		s->gap_since_us = now_us;
}

/* ---- receive ---------------------------------------------------------- */

static void on_rtcp(struct room *r, const uint8_t *buf, size_t len, int64_t now_us)
{
	struct rtcp_iter it;
	struct rtcp_pkt p;
	rtcp_iter_init(&it, buf, len);
	for (int k = 0; k < 32 && rtcp_iter_next(&it, &p) == 0; k++) {
		if (p.type == RTCP_SDES) {
			uint32_t ssrc;
			const uint8_t *cname;
			size_t clen;
			if (rtcp_parse_sdes_cname(&ssrc, &cname, &clen, &p) || ssrc == r->ssrc)
				continue;
			struct sender *s = sender_get(r, ssrc, now_us);
			if (!s)
				continue;
			if (clen > ROOM_IDENTITY_MAX)
				clen = ROOM_IDENTITY_MAX;
			bool first = s->identity[0] == '\0';
			memcpy(s->identity, cname, clen);
			s->identity[clen] = '\0';
			if (first && clen && r->on_member)
				r->on_member(s->identity, true, r->arg);
		} else if (p.type == RTCP_BYE) {
			uint32_t ssrcs[RTCP_RC_MAX];
			size_t n = 0;
			if (rtcp_parse_bye(ssrcs, CM_ARRAY_LEN(ssrcs), &n, &p))
				continue;
			for (size_t i = 0; i < n; i++) {
				struct sender *s = sender_find(r, ssrcs[i]);
				if (!s)
					continue;
				if (s->identity[0] && r->on_member)
					r->on_member(s->identity, false, r->arg);
				sender_clear(s);
			}
		}
	}
}

static void on_rtp(struct room *r, const uint8_t *buf, size_t len, int64_t now_us)
{
	struct rtp_packet pkt;
	if (rtp_parse(&pkt, buf, len) || pkt.hdr.pt != ROOM_OPUS_PT || pkt.hdr.ssrc == r->ssrc) {
		atomic_fetch_add(&r->pkts_dropped, 1);
		return;
	}
	struct sender *s = sender_get(r, pkt.hdr.ssrc, now_us);
	if (!s || sender_ready(s, r->rate)) {
		atomic_fetch_add(&r->pkts_dropped, 1);
		return;
	}
	s->last_us = now_us;
	int err = jbuf_put(s->jb, &pkt, now_us);
	if (err && err != EEXIST && err != ESTALE) {
		atomic_fetch_add(&r->pkts_dropped, 1);
		return;
	}
	atomic_fetch_add(&r->pkts_received, 1);
	if (r->in_order)
		play_in_order(r, s, now_us, false);
}

static void drain_socket(struct room *r)
{
	uint8_t buf[RTP_PACKET_MAX];
	for (int i = 0; i < RECV_BATCH; i++) {
		ssize_t n = recv(r->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0)
			return; /* EAGAIN, or an ICMP error reported on the connected socket */
		int64_t now = time_mono_us();
		if (room_is_rtcp(buf, (size_t)n))
			on_rtcp(r, buf, (size_t)n, now);
		else
			on_rtp(r, buf, (size_t)n, now);
	}
}

/* One 20 ms tick: one frame per sender that has audio (in_order: the
 * senders whose missing packet has been waited for long enough). */
static void play_tick(struct room *r, int64_t now_us)
{
	struct jbuf_frame f;
	for (size_t i = 0; i < ROOM_SENDERS_MAX; i++) {
		struct sender *s = &r->senders[i];
		if (!s->used)
			continue;
		if (now_us - s->last_us > SENDER_IDLE_US) {
			/* a silent member is still a member until its BYE: only
			 * its decoding state goes */
			if (s->identity[0]) {
				s->jb = jbuf_free(s->jb);
				s->dec = media_opus_dec_free(s->dec);
				s->gap_since_us = 0;
			} else {
				sender_clear(s);
			}
			continue;
		}
		if (!s->jb)
			continue;
		if (r->in_order) {
			if (s->gap_since_us && now_us - s->gap_since_us >= REORDER_WAIT_US)
				play_in_order(r, s, now_us, true);
			continue;
		}
		jbuf_get(s->jb, &f);
		play_frame(r, s, &f);
	}
}

static void *recv_main(void *arg)
{
	struct room *r = arg;
	int64_t next = time_mono_us() + TICK_US;
	while (!atomic_load(&r->stop)) {
		int64_t now = time_mono_us();
		if (now >= next) {
			play_tick(r, now);
			next += TICK_US;
			if (now - next > RESYNC_US)
				next = now + TICK_US;
			continue;
		}
		struct pollfd pf[2] = { { r->fd, POLLIN, 0 }, { r->evfd, POLLIN, 0 } };
		int64_t wait_us = next - now;
		struct timespec ts = { wait_us / 1000000, (long)(wait_us % 1000000) * 1000 };
		int n = ppoll(pf, 2, &ts, NULL);
		if (n > 0 && (pf[0].revents & (POLLIN | POLLERR)))
			drain_socket(r);
	}
	return NULL;
}

/* ---- join / send / leave ---------------------------------------------- */

/* "a.b.c.d:port" */
static int parse_addr(struct sockaddr_in *sa, const char *s)
{
	struct hostport hp;
	if (!s || addr_parse(&hp, s, 0))
		return EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(hp.port);
	return inet_pton(AF_INET, hp.host, &sa->sin_addr) == 1 ? 0 : EINVAL;
}

/* Sends rooms.join or rooms.leave; *datap (may be NULL) gets the reply. */
static int request(const struct room *r, cJSON **datap, const char *subject, const char *rtp_addr)
{
	struct cmd_error ce = { 0 };
	cJSON *data = NULL, *req = cJSON_CreateObject();
	int err = ENOMEM;
	if (!req || !cJSON_AddNumberToObject(req, "v", 1) ||
	    !cJSON_AddStringToObject(req, "room", r->name) ||
	    !cJSON_AddStringToObject(req, "identity", r->identity) ||
	    (rtp_addr && !cJSON_AddStringToObject(req, "rtp_addr", rtp_addr)))
		goto out;
	err = cmd_request(r->ctx->bus, &data, subject, req, timeout_ms(r->ctx), &ce);
	if (err) {
		log_warn("room_request_failed", "%s room=%s identity=%s: %s: %s", subject, r->name,
			 r->identity, ce.code, ce.message);
		goto out;
	}
	if (datap) {
		*datap = data;
		data = NULL;
	}
out:
	cJSON_Delete(req);
	cJSON_Delete(data);
	return err;
}

static void local_leave(struct room *r);

static int local_join(struct room **roomp, void *ctxp, const char *room, const char *identity,
		      const struct room_handlers *h, void *arg)
{
	const struct room_local_ctx *ctx = ctxp;
	struct room *r = NULL;
	cJSON *data = NULL;
	struct sockaddr_in local = { .sin_family = AF_INET }, relay;
	socklen_t slen = sizeof(local);
	char rtp_addr[32];
	int err = 0;
	int rate = ctx && ctx->rate ? ctx->rate : ROOM_RATE;
	if (!roomp || !ctx || !ctx->bus || !room || !identity || !h || !h->frame || !*room ||
	    !*identity || strlen(room) > EVENT_ROOM_MAX || strlen(identity) > ROOM_IDENTITY_MAX) {
		log_error("room_join_invalid",
			  "join needs a bus, a room of at most %d bytes, an identity of at most "
			  "%d bytes and a frame handler",
			  EVENT_ROOM_MAX, ROOM_IDENTITY_MAX);
		return EINVAL;
	}
	if (!media_opus_rate_ok(rate) || ctx->opus_complexity < 0 || ctx->opus_complexity > 10) {
		log_error("room_join_invalid",
			  "room=%s: a member's rate is 8000, 12000, 16000, 24000 or 48000 Hz "
			  "(not %d) and its Opus complexity 1..10 or 0 for the default (not %d)",
			  room, rate, ctx->opus_complexity);
		return EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return ENOMEM;
	r->fd = r->evfd = -1;
	r->ctx = ctx;
	r->on_frame = h->frame;
	r->on_member = h->member;
	r->arg = arg;
	r->rate = rate;
	r->in_order = ctx->in_order;
	r->frame = ROOM_FRAME_SAMPLES_AT(rate);
	snprintf(r->name, sizeof(r->name), "%s", room);
	snprintf(r->identity, sizeof(r->identity), "%s", identity);
	pthread_mutex_init(&r->send_lock, NULL);
	struct media_opus_enc_cfg ecfg = {
		.bitrate = ctx->opus_bitrate > 0 ? ctx->opus_bitrate : DEFAULT_BITRATE,
		.loss_pct = 5,
		.complexity = ctx->opus_complexity ? ctx->opus_complexity : DEFAULT_COMPLEXITY,
		.max_bandwidth = MEDIA_OPUS_FB, .dtx = false, .rate = rate,
	};
	err = media_opus_enc_new(&r->enc, &ecfg);
	if (err)
		goto out;

	local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	r->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->fd < 0 || r->evfd < 0 || bind(r->fd, (struct sockaddr *)&local, sizeof(local)) ||
	    getsockname(r->fd, (struct sockaddr *)&local, &slen)) {
		err = errno;
		log_error("room_socket_failed", "room=%s: %s", room, strerror(err));
		goto out;
	}
	snprintf(rtp_addr, sizeof(rtp_addr), "127.0.0.1:%u", ntohs(local.sin_port));

	err = request(r, &data, "rooms.join", rtp_addr);
	if (err)
		goto out;
	const cJSON *ra = cJSON_GetObjectItemCaseSensitive(data, "relay_addr");
	const cJSON *ss = cJSON_GetObjectItemCaseSensitive(data, "ssrc");
	if (!cJSON_IsString(ra) || parse_addr(&relay, ra->valuestring) || !cJSON_IsNumber(ss) ||
	    ss->valuedouble < 0 || ss->valuedouble > 4294967295.0) {
		log_error("room_join_bad_reply", "room=%s: no relay_addr/ssrc in the reply", room);
		err = EIO;
		goto out;
	}
	r->ssrc = (uint32_t)ss->valuedouble;
	if (connect(r->fd, (struct sockaddr *)&relay, sizeof(relay))) {
		err = errno;
		log_error("room_connect_failed", "room=%s relay=%s: %s", room, ra->valuestring,
			  strerror(err));
		goto out;
	}
	r->seq = (uint16_t)rtp_ssrc_random();
	r->ts = rtp_ssrc_random();
	err = pthread_create(&r->thread, NULL, recv_main, r);
	if (err)
		goto out;
	r->thread_started = true;
	log_info("room_joined", "room=%s identity=%s rtp=%s relay=%s ssrc=%u", room, identity,
		 rtp_addr, ra->valuestring, r->ssrc);
out:
	cJSON_Delete(data);
	if (err) {
		/* a join room-manager accepted is undone */
		if (r && r->ssrc)
			local_leave(r);
		else if (r) {
			if (r->fd >= 0)
				close(r->fd);
			if (r->evfd >= 0)
				close(r->evfd);
			media_opus_enc_free(r->enc);
			pthread_mutex_destroy(&r->send_lock);
			free(r);
		}
		return err;
	}
	*roomp = r;
	return 0;
}

static int local_send_frame(struct room *r, const int16_t *pcm)
{
	uint8_t opus[MEDIA_OPUS_PACKET_MAX], pkt[RTP_PACKET_MAX];
	size_t olen = 0, plen = 0;
	int err;
	if (!r || !pcm)
		return EINVAL;
	pthread_mutex_lock(&r->send_lock);
	/* A sender that goes quiet stops calling us. The first frame after such
	 * a pause starts a talkspurt (RFC 3551 §4.1): marker set, and the
	 * timestamp advanced by the pause, so that receivers see a silence and
	 * not network jitter. */
	int64_t now = time_mono_us();
	bool talkspurt = !r->sent_first;
	if (r->sent_first && now - r->last_send_us > 3 * ROOM_FRAME_MS * 1000) {
		int64_t missed = (now - r->last_send_us) / (ROOM_FRAME_MS * 1000) - 1;
		r->ts += (uint32_t)(missed * ROOM_FRAME_SAMPLES);
		talkspurt = true;
	}
	r->last_send_us = now;
	err = media_opus_encode(r->enc, opus, sizeof(opus), &olen, pcm);
	if (!err) {
		struct rtp_hdr h = {
			.marker = talkspurt, .pt = ROOM_OPUS_PT, .seq = r->seq, .ts = r->ts,
			.ssrc = r->ssrc,
		};
		err = rtp_build(&plen, pkt, sizeof(pkt), &h, opus, olen);
	}
	/* the media clock advances even when a frame could not be sent */
	r->seq++;
	r->ts += ROOM_FRAME_SAMPLES;
	if (!err && send(r->fd, pkt, plen, MSG_DONTWAIT) != (ssize_t)plen)
		err = EIO;
	if (!err)
		r->sent_first = true;
	pthread_mutex_unlock(&r->send_lock);
	atomic_fetch_add(err ? &r->send_errors : &r->frames_sent, 1);
	return err ? EIO : 0;
}

static void local_leave(struct room *r)
{
	if (!r)
		return;
	if (r->thread_started) {
		uint64_t one = 1;
		atomic_store(&r->stop, true);
		if (write(r->evfd, &one, sizeof(one)) < 0)
			log_debug("room_wake_failed", "%s", strerror(errno));
		pthread_join(r->thread, NULL);
	}
	if (r->ssrc && request(r, NULL, "rooms.leave", NULL) == 0)
		log_info("room_left", "room=%s identity=%s", r->name, r->identity);
	for (size_t i = 0; i < ROOM_SENDERS_MAX; i++)
		sender_clear(&r->senders[i]);
	if (r->fd >= 0)
		close(r->fd);
	if (r->evfd >= 0)
		close(r->evfd);
	media_opus_enc_free(r->enc);
	pthread_mutex_destroy(&r->send_lock);
	free(r);
}

static void local_stats(struct room *r, struct room_stats *st)
{
	st->frames_sent = atomic_load(&r->frames_sent);
	st->send_errors = atomic_load(&r->send_errors);
	st->packets_received = atomic_load(&r->pkts_received);
	st->packets_dropped = atomic_load(&r->pkts_dropped);
	st->frames_received = atomic_load(&r->frames_received);
	st->frames_concealed = atomic_load(&r->frames_concealed);
}

const struct room_ops room_local = {
	.name = "local",
	.join = local_join,
	.send_frame = local_send_frame,
	.leave = local_leave,
	.stats = local_stats,
	.members = true,
};
