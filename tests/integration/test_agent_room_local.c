/*
 * The local room backend end to end: the session joins through rooms.join
 * (answered here by a stand-in room-manager whose relay is a UDP socket of
 * the test), speaks Opus RTP to the relay, and hears Opus RTP sent to the
 * address it gave — espeak-ng speech of a scripted phrase in, pocketsphinx,
 * the scripted reply out — all on a real nats-server.
 */
#include "agent-worker/agent.h"
#include "harness/test.h"
#include "media/media.h"
#include "room/room.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 15000
#define RELAY_SSRC 4242

struct h {
	struct test_nats nats;
	struct bus *bus, *tbus;
	struct bus_sub *join_sub, *leave_sub, *ev_sub;
	atomic_int leaves;
	struct agent *agent;
	struct room_local_ctx local;
	struct room_media_ctx media;
	int relay_fd, relay_port;
	_Atomic uint32_t expect_ssrc; /* 0: any; the relay thread reads it */
	pthread_t rx;
	atomic_bool stop;
	pthread_mutex_t mu;
	char agent_rtp[64];     /* what the agent asked for in rooms.join */
	char join_identity[80];
	atomic_int joins;
	/* packets from the agent */
	atomic_int packets, bad_pt, bad_ssrc, seq_gaps, loud;
	bool have_seq;
	uint16_t last_seq;
	uint32_t last_ts;
	atomic_int ts_errors;
	struct media_opus_dec *dec;
	/* transcripts */
	char user_line[160], agent_line[160];
	atomic_int nuser, nagent, listening;
	char call_id[ID_UUID_LEN + 1], room[64];
};

static void on_join(const struct bus_msg *msg, void *arg)
{
	struct h *h = arg;
	cJSON *j = cJSON_ParseWithLength(msg->data, (size_t)msg->len);
	const cJSON *addr = cJSON_GetObjectItemCaseSensitive(j, "rtp_addr");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "identity");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "v");
	char reply[160];
	if (!cJSON_IsString(addr) || !cJSON_IsString(id) || !cJSON_IsNumber(v)) {
		snprintf(reply, sizeof(reply),
			 "{\"ok\":false,\"error\":{\"code\":\"invalid_field\",\"message\":\"x\"}}");
	} else {
		pthread_mutex_lock(&h->mu);
		snprintf(h->agent_rtp, sizeof(h->agent_rtp), "%s", addr->valuestring);
		snprintf(h->join_identity, sizeof(h->join_identity), "%s", id->valuestring);
		pthread_mutex_unlock(&h->mu);
		snprintf(reply, sizeof(reply),
			 "{\"ok\":true,\"data\":{\"relay_addr\":\"127.0.0.1:%d\",\"ssrc\":%d}}",
			 h->relay_port, RELAY_SSRC);
		atomic_fetch_add(&h->joins, 1);
	}
	cJSON_Delete(j);
	if (bus_respond(h->tbus, msg, reply, strlen(reply)))
		fprintf(stderr, "# cannot answer rooms.join\n");
}

static void on_leave(const struct bus_msg *msg, void *arg)
{
	struct h *h = arg;
	atomic_fetch_add(&h->leaves, 1);
	if (bus_respond(h->tbus, msg, "{\"ok\":true,\"data\":{}}", 22))
		fprintf(stderr, "# cannot answer rooms.leave\n");
}

static void on_event(const struct bus_msg *msg, void *arg)
{
	struct h *h = arg;
	struct event *ev = NULL;
	if (event_decode(&ev, msg->data, (size_t)msg->len, NULL, 0))
		return;
	if (ev->type == EV_TRANSCRIPT) {
		const char *sp = event_get_str(ev, "speaker"), *tx = event_get_str(ev, "text");
		pthread_mutex_lock(&h->mu);
		if (sp && tx && strcmp(sp, "user") == 0) {
			snprintf(h->user_line, sizeof(h->user_line), "%s", tx);
			atomic_fetch_add(&h->nuser, 1);
		} else if (sp && tx) {
			snprintf(h->agent_line, sizeof(h->agent_line), "%s", tx);
			atomic_fetch_add(&h->nagent, 1);
		}
		pthread_mutex_unlock(&h->mu);
	} else if (ev->type == EV_AGENT_LISTENING) {
		atomic_fetch_add(&h->listening, 1);
	}
	event_free(ev);
}

/* The relay: takes the agent's packets apart. */
static void *relay_rx(void *arg)
{
	struct h *h = arg;
	uint8_t buf[RTP_PACKET_MAX];
	int16_t pcm[MEDIA_OPUS_MAX_FRAME];
	while (!atomic_load(&h->stop)) {
		struct pollfd p = { .fd = h->relay_fd, .events = POLLIN };
		if (poll(&p, 1, 50) <= 0)
			continue;
		ssize_t len = recv(h->relay_fd, buf, sizeof(buf), 0);
		struct rtp_packet pkt;
		size_t n = 0;
		if (len <= 0 || room_is_rtcp(buf, (size_t)len) || rtp_parse(&pkt, buf, (size_t)len))
			continue;
		atomic_fetch_add(&h->packets, 1);
		if (pkt.hdr.pt != ROOM_OPUS_PT)
			atomic_fetch_add(&h->bad_pt, 1);
		uint32_t want = atomic_load(&h->expect_ssrc);
		if (want && pkt.hdr.ssrc != want)
			atomic_fetch_add(&h->bad_ssrc, 1);
		if (h->have_seq && (uint16_t)(h->last_seq + 1) != pkt.hdr.seq)
			atomic_fetch_add(&h->seq_gaps, 1);
		if (h->have_seq && h->last_ts + MEDIA_OPUS_FRAME != pkt.hdr.ts)
			atomic_fetch_add(&h->ts_errors, 1);
		h->have_seq = true;
		h->last_seq = pkt.hdr.seq;
		h->last_ts = pkt.hdr.ts;
		if (media_opus_decode(h->dec, pcm, CM_ARRAY_LEN(pcm), &n, pkt.payload,
				      pkt.payload_len) == 0 &&
		    n == MEDIA_OPUS_FRAME && vad_rms(pcm, n) > 500)
			atomic_fetch_add(&h->loud, 1);
	}
	return NULL;
}

static int h_start(struct h *h)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	memset(h, 0, sizeof(*h));
	h->relay_fd = -1;
	pthread_mutex_init(&h->mu, NULL);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	h->relay_fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (h->relay_fd < 0 || bind(h->relay_fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(h->relay_fd, (struct sockaddr *)&sa, &sl))
		return 1;
	h->relay_port = ntohs(sa.sin_port);
	atomic_store(&h->expect_ssrc, RELAY_SSRC);
	if (media_opus_dec_new(&h->dec) || pthread_create(&h->rx, NULL, relay_rx, h))
		return 1;
	if (test_nats_start(&h->nats) || bus_connect(&h->bus, h->nats.url, "agent") ||
	    bus_connect(&h->tbus, h->nats.url, "room-manager") || bus_ensure_streams(h->bus) ||
	    bus_subscribe(h->tbus, &h->join_sub, "rooms.join", "room-manager", on_join, h) ||
	    bus_subscribe(h->tbus, &h->leave_sub, "rooms.leave", "room-manager", on_leave, h) ||
	    bus_subscribe(h->tbus, &h->ev_sub, "calls.>", NULL, on_event, h))
		return 1;
	h->local = (struct room_local_ctx){ .bus = h->bus, .timeout_ms = 3000 };
	h->media = (struct room_media_ctx){ .ops = &room_local, .ops_ctx = &h->local };
	struct agent_opts opts = {
		.bus = h->bus,
		.source = "agent-worker/test",
		.room = &room_media_backend,
		.room_ctx = &h->media,
		.max_sessions = 2,
		.answer_timeout_ms = 10000,
		.env = { "http://127.0.0.1:9", NULL, true },
		.recording_attempts = 1,
		.recording_backoff_ms = 10,
		.recording_timeout_ms = 200,
	};
	if (agent_new(&h->agent, &opts) || id_uuid4(h->call_id))
		return 1;
	snprintf(h->room, sizeof(h->room), "call-%s", h->call_id);
	return 0;
}

static void h_stop(struct h *h)
{
	h->agent = agent_free(h->agent);
	h->join_sub = bus_unsubscribe(h->join_sub);
	h->leave_sub = bus_unsubscribe(h->leave_sub);
	h->ev_sub = bus_unsubscribe(h->ev_sub);
	h->bus = bus_close(h->bus);
	h->tbus = bus_close(h->tbus);
	test_nats_destroy(&h->nats);
	atomic_store(&h->stop, true);
	if (h->relay_fd >= 0) {
		pthread_join(h->rx, NULL);
		close(h->relay_fd);
	}
	media_opus_dec_free(h->dec);
	pthread_mutex_destroy(&h->mu);
}

/* The last transcript line of the caller (user) or the agent, read under
 * the lock: the bus thread writes the next one in place. */
static const char *last_line(struct h *h, bool user, char *out, size_t size)
{
	pthread_mutex_lock(&h->mu);
	snprintf(out, size, "%s", user ? h->user_line : h->agent_line);
	pthread_mutex_unlock(&h->mu);
	return out;
}

static bool wait_atomic(atomic_int *v, int n, int timeout_ms)
{
	int64_t end = time_mono_ms() + timeout_ms;
	while (atomic_load(v) < n) {
		if (time_mono_ms() > end)
			return false;
		test_nap_ms(5);
	}
	return true;
}

#define CALLER_SSRC 777

/* What room-manager's forwarder does when a member joins: RR + SDES CNAME
 * naming the caller's SSRC, from the relay to `dest`. A web agent waits for
 * its caller to be announced like this before it greets. */
static int announce_caller(int fd, const char *dest, const char *identity)
{
	uint8_t buf[RTP_PACKET_MAX];
	size_t len = 0;
	struct sockaddr_in to = { .sin_family = AF_INET };
	struct rtcp_report rr = { .is_sr = false, .ssrc = CALLER_SSRC };
	const char *colon = strrchr(dest, ':');
	char host[64];
	if (!colon || (size_t)(colon - dest) >= sizeof(host))
		return EINVAL;
	memcpy(host, dest, (size_t)(colon - dest));
	host[colon - dest] = '\0';
	to.sin_port = htons((uint16_t)strtol(colon + 1, NULL, 10));
	if (inet_pton(AF_INET, host, &to.sin_addr) != 1 ||
	    rtcp_build_report(buf, sizeof(buf), &len, &rr) ||
	    rtcp_build_sdes_cname(buf, sizeof(buf), &len, CALLER_SSRC, identity, strlen(identity)))
		return EINVAL;
	return sendto(fd, buf, len, 0, (struct sockaddr *)&to, sizeof(to)) < 0 ? errno : 0;
}

/* Sends pcm (16 kHz) as Opus RTP from socket fd to `dest` ("127.0.0.1:port"),
 * one packet per 20 ms like a real sender (the receiver's jitter buffer is
 * pulled at that pace). */
static int send_speech(int fd, const char *dest, const int16_t *pcm, size_t n)
{
	int err = 0;
	struct sockaddr_in to;
	struct media_opus_enc *enc = NULL;
	struct resampler *up = NULL;
	int16_t buf48[MEDIA_OPUS_FRAME * 4];
	size_t have = 0;
	char host[64];
	snprintf(host, sizeof(host), "%s", dest);
	char *colon = strrchr(host, ':');
	if (!colon)
		return EINVAL;
	*colon = '\0';
	memset(&to, 0, sizeof(to));
	to.sin_family = AF_INET;
	to.sin_port = htons((uint16_t)strtol(colon + 1, NULL, 10));
	if (inet_pton(AF_INET, host, &to.sin_addr) != 1)
		return EINVAL;
	if ((err = media_opus_enc_new(&enc, NULL)) ||
	    (err = resampler_new(&up, AGENT_RATE, MEDIA_OPUS_RATE, RESAMPLER_QUALITY_VOIP)))
		goto out;
	uint16_t seq = 100;
	uint32_t ts = 5000;
	struct timespec due;
	clock_gettime(CLOCK_MONOTONIC, &due);
	for (size_t off = 0; off + AGENT_FRAME_SAMPLES <= n; off += AGENT_FRAME_SAMPLES) {
		size_t outn = CM_ARRAY_LEN(buf48) - have;
		if ((err = resampler_process(up, buf48 + have, &outn, pcm + off,
					     AGENT_FRAME_SAMPLES)))
			goto out;
		have += outn;
		while (have >= MEDIA_OPUS_FRAME) {
			uint8_t payload[MEDIA_OPUS_PACKET_MAX], pkt[RTP_PACKET_MAX];
			size_t plen = 0, len = 0;
			struct rtp_hdr hd = {
				.pt = ROOM_OPUS_PT, .seq = seq++, .ts = ts, .ssrc = CALLER_SSRC
			};
			ts += MEDIA_OPUS_FRAME;
			if ((err = media_opus_encode(enc, payload, sizeof(payload), &plen,
						     buf48)) ||
			    (err = rtp_build(&len, pkt, sizeof(pkt), &hd, payload, plen)))
				goto out;
			if (sendto(fd, pkt, len, 0, (struct sockaddr *)&to, sizeof(to)) < 0) {
				err = errno;
				goto out;
			}
			memmove(buf48, buf48 + MEDIA_OPUS_FRAME,
				(have - MEDIA_OPUS_FRAME) * sizeof(int16_t));
			have -= MEDIA_OPUS_FRAME;
			/* absolute deadlines: a relative sleep would add the encode
			 * time to every packet and starve the receiver */
			test_pace(&due, 20);
		}
	}
out:
	media_opus_enc_free(enc);
	resampler_free(up);
	return err;
}

static int test_local_room_rtp(void)
{
	int err = 0;
	struct h h;
	char *body = NULL, *reply = NULL, why[160], line[sizeof(h.user_line)];
	char joined_as[sizeof(h.join_identity)], asked[sizeof(h.agent_rtp)];
	struct assistant *a = NULL;
	void *tts = NULL;
	int16_t *speech = NULL, *pcm = NULL;
	size_t n = 0;
	struct provider_env env = { "http://127.0.0.1:9", NULL, true };
	cJSON *empty = cJSON_CreateObject();
	TEST_EQ_INT(h_start(&h), 0);
	TEST_ASSERT(asprintf(&body,
			     "{\"v\":1,\"call_id\":\"%s\",\"room\":\"%s\",\"kind\":\"web\","
			     "\"wait_for_answer\":false,\"assistant\":{\"start_instruction\":"
			     "\"Hello Ada, this is the clinic.\","
			     "\"interaction_config\":{\"silence_timeout_s\":60,\"fillers_enabled\":"
			     "false,\"recording\":false},"
			     "\"llm_config\":{\"script\":[{\"match\":\"hours\",\"reply\":\"We are "
			     "open nine to five.\"}]}},"
			     "\"metadata\":{}}",
			     h.call_id, h.room) > 0);
	TEST_EQ_INT(bus_request(h.tbus, &reply, NULL, "agents.dispatch", body, strlen(body), 5000),
		    0);
	TEST_CONTAINS(reply, "\"ok\":true");
	TEST_EQ_INT(atomic_load(&h.joins), 1);
	pthread_mutex_lock(&h.mu);
	snprintf(joined_as, sizeof(joined_as), "%s", h.join_identity);
	snprintf(asked, sizeof(asked), "%s", h.agent_rtp);
	pthread_mutex_unlock(&h.mu);
	TEST_CONTAINS(joined_as, "agent-");
	TEST_CONTAINS(asked, "127.0.0.1:");
	/* a web agent greets once its caller is in the room */
	{
		char dest[64], caller[80];
		pthread_mutex_lock(&h.mu);
		snprintf(dest, sizeof(dest), "%s", h.agent_rtp);
		pthread_mutex_unlock(&h.mu);
		snprintf(caller, sizeof(caller), "web-%s", h.call_id);
		TEST_ASSERT(!wait_atomic(&h.nagent, 1, 300));
		TEST_EQ_INT(announce_caller(h.relay_fd, dest, caller), 0);
	}
	/* the greeting arrives at the relay as Opus RTP: ~1.7 s of 20 ms packets */
	TEST_ASSERT(wait_atomic(&h.nagent, 1, WAIT_MS));
	TEST_ASSERT(wait_atomic(&h.packets, 60, WAIT_MS));
	TEST_ASSERT(wait_atomic(&h.loud, 30, WAIT_MS));
	TEST_EQ_INT(atomic_load(&h.bad_pt), 0);
	TEST_EQ_INT(atomic_load(&h.bad_ssrc), 0);
	TEST_EQ_INT(atomic_load(&h.seq_gaps), 0);
	TEST_EQ_INT(atomic_load(&h.ts_errors), 0);
	/* the caller waits for the greeting to end: speaking over it would be a
	 * barge-in, which cuts the utterance differently from run to run */
	TEST_ASSERT(wait_atomic(&h.listening, 1, WAIT_MS));
	/* the caller speaks through the room */
	TEST_EQ_INT(assistant_parse(&a, empty, why, sizeof(why)), 0);
	struct provider_args pa = { a->tts_config, a, &env };
	TEST_EQ_INT(tts_local.new(&tts, &pa), 0);
	TEST_EQ_INT(tts_local.synth(tts, &pcm, &n, "what are your hours"), 0);
	speech = calloc(n + AGENT_RATE, sizeof(int16_t));
	TEST_ASSERT(speech);
	memcpy(speech, pcm, n * sizeof(int16_t));
	int before = atomic_load(&h.packets);
	char dest[64];
	pthread_mutex_lock(&h.mu);
	snprintf(dest, sizeof(dest), "%s", h.agent_rtp);
	pthread_mutex_unlock(&h.mu);
	TEST_EQ_INT(send_speech(h.relay_fd, dest, speech, n + AGENT_RATE), 0);
	TEST_ASSERT(wait_atomic(&h.nuser, 1, WAIT_MS));
	TEST_CONTAINS(last_line(&h, true, line, sizeof(line)), "hours");
	TEST_ASSERT(wait_atomic(&h.nagent, 2, WAIT_MS));
	TEST_EQ_STR(last_line(&h, false, line, sizeof(line)), "We are open nine to five.");
	TEST_ASSERT(wait_atomic(&h.packets, before + 50, WAIT_MS));
	/* the far end hangs up: the agent leaves the room */
	struct event *ev = NULL;
	TEST_EQ_INT(event_new(&ev, EV_CALL_ENDED, h.call_id, h.room, "sip-bridge/test"), 0);
	err = event_set_str(ev, "reason", "hangup") || event_set_str(ev, "by", "remote") ||
	      event_set_int(ev, "duration_ms", 10) || bus_publish_event(h.tbus, ev);
	event_free(ev);
	TEST_EQ_INT(err, 0);
	TEST_ASSERT(wait_atomic(&h.leaves, 1, WAIT_MS));
out:
	free(body);
	free(reply);
	free(speech);
	free(pcm);
	if (tts)
		tts_local.free(tts);
	assistant_free(a);
	cJSON_Delete(empty);
	h_stop(&h);
	return err;
}

/* The real room-manager (ROOM_BACKEND=local) in the middle: the test joins
 * the room as the SIP participant with its own UDP socket, the agent joins
 * through room_media_backend over room_local; the forwarder carries the greeting to the test
 * and the caller's speech to the agent; the recording is started by
 * room-manager itself. */
static int test_through_room_manager(void)
{
	int err = 0;
	struct h h;
	char *body = NULL, *reply = NULL, why[160], bin[256], logpath[512], url[96];
	char line[sizeof(h.user_line)];
	char env_nats[96], env_health[64], env_rec[300], env_min[40], env_max[40], relay[64] = "";
	struct assistant *a = NULL;
	void *tts = NULL;
	int16_t *speech = NULL, *pcm = NULL;
	size_t n = 0;
	int rm_pid = 0;
	struct provider_env env = { "http://127.0.0.1:9", NULL, true };
	cJSON *empty = cJSON_CreateObject(), *j = NULL;
	char *dir = test_tmpdir("agent-rm");
	TEST_EQ_INT(h_start(&h), 0);
	atomic_store(&h.expect_ssrc, 0); /* the forwarder's choice */
	/* the stand-in room-manager of h_start must not answer: drop it */
	h.join_sub = bus_unsubscribe(h.join_sub);
	h.leave_sub = bus_unsubscribe(h.leave_sub);
	int health = test_free_port(), base = 20000 + (int)(time_mono_us() % 400) * 100;
	snprintf(env_nats, sizeof(env_nats), "NATS_URL=%s", h.nats.url);
	snprintf(env_health, sizeof(env_health), "HEALTH_ADDR=127.0.0.1:%d", health);
	snprintf(env_rec, sizeof(env_rec), "RECORDINGS_DIR=%s", dir);
	snprintf(env_min, sizeof(env_min), "RTP_PORT_MIN=%d", base);
	snprintf(env_max, sizeof(env_max), "RTP_PORT_MAX=%d", base + 99);
	snprintf(logpath, sizeof(logpath), "%s/room-manager.log", dir);
	const char *argv[] = { test_bin(bin, sizeof(bin), "room-manager"), NULL };
	const char *envp[] = { env_nats, env_health,	       env_rec,		env_min,
			       env_max,	 "ROOM_BACKEND=local", "LOG_FORMAT=kv", NULL };
	TEST_EQ_INT(test_spawn(&rm_pid, argv, envp, logpath), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", health);
	TEST_EQ_INT(test_http_wait(url, 200, 20000), 0);
	/* the room, as api-gateway creates it */
	char assistant_id[ID_UUID_LEN + 1];
	TEST_EQ_INT(id_uuid4(assistant_id), 0);
	TEST_ASSERT(asprintf(&body,
			     "{\"v\":1,\"call_id\":\"%s\",\"room\":\"%s\",\"assistant_id\":\"%s\","
			     "\"metadata\":{}}",
			     h.call_id, h.room, assistant_id) > 0);
	TEST_EQ_INT(bus_request(h.tbus, &reply, NULL, "rooms.create", body, strlen(body), 5000), 0);
	TEST_CONTAINS(reply, "\"ok\":true");
	free(body);
	free(reply);
	body = reply = NULL;
	/* the SIP participant joins with the test's socket */
	TEST_ASSERT(asprintf(&body,
			     "{\"v\":1,\"room\":\"%s\",\"identity\":\"sip-%s\",\"rtp_addr\":\"127."
			     "0.0.1:%d\"}",
			     h.room, h.call_id, h.relay_port) > 0);
	TEST_EQ_INT(bus_request(h.tbus, &reply, NULL, "rooms.join", body, strlen(body), 5000), 0);
	j = cJSON_Parse(reply);
	const cJSON *ra = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(j, "data"), "relay_addr");
	TEST_ASSERT(cJSON_IsString(ra));
	snprintf(relay, sizeof(relay), "%s", ra->valuestring);
	free(body);
	free(reply);
	body = reply = NULL;
	/* the agent: an outbound call, recording on */
	TEST_ASSERT(asprintf(&body,
			     "{\"v\":1,\"call_id\":\"%s\",\"room\":\"%s\",\"kind\":\"outbound\","
			     "\"provider\":\"exotel\",\"wait_for_answer\":true,\"assistant\":{"
			     "\"start_instruction\":\"Hello Ada, this is the clinic.\","
			     "\"interaction_config\":{\"silence_timeout_s\":60,\"fillers_enabled\":"
			     "false},"
			     "\"llm_config\":{\"script\":[{\"match\":\"hours\",\"reply\":\"We are "
			     "open nine to five.\"}]}},"
			     "\"metadata\":{}}",
			     h.call_id, h.room) > 0);
	TEST_EQ_INT(bus_request(h.tbus, &reply, NULL, "agents.dispatch", body, strlen(body), 5000),
		    0);
	TEST_CONTAINS(reply, "\"ok\":true");
	/* nothing reaches the caller before the answer */
	test_nap_ms(300);
	TEST_EQ_INT(atomic_load(&h.packets), 0);
	struct event *ev = NULL;
	TEST_EQ_INT(event_new(&ev, EV_CALL_ANSWERED, h.call_id, h.room, "sip-bridge/test"), 0);
	err = bus_publish_event(h.tbus, ev);
	event_free(ev);
	TEST_EQ_INT(err, 0);
	/* the greeting, forwarded by room-manager to the caller */
	TEST_ASSERT(wait_atomic(&h.nagent, 1, WAIT_MS));
	TEST_ASSERT(wait_atomic(&h.packets, 60, WAIT_MS));
	TEST_ASSERT(wait_atomic(&h.loud, 30, WAIT_MS));
	TEST_EQ_INT(atomic_load(&h.bad_pt), 0);
	TEST_ASSERT(wait_atomic(&h.listening, 1, WAIT_MS)); /* not a barge-in */
	/* the caller speaks into the room */
	TEST_EQ_INT(assistant_parse(&a, empty, why, sizeof(why)), 0);
	struct provider_args pa = { a->tts_config, a, &env };
	TEST_EQ_INT(tts_local.new(&tts, &pa), 0);
	TEST_EQ_INT(tts_local.synth(tts, &pcm, &n, "what are your hours"), 0);
	speech = calloc(n + AGENT_RATE, sizeof(int16_t));
	TEST_ASSERT(speech);
	memcpy(speech, pcm, n * sizeof(int16_t));
	int before = atomic_load(&h.packets);
	TEST_EQ_INT(send_speech(h.relay_fd, relay, speech, n + AGENT_RATE), 0);
	TEST_ASSERT(wait_atomic(&h.nuser, 1, WAIT_MS));
	TEST_CONTAINS(last_line(&h, true, line, sizeof(line)), "hours");
	TEST_ASSERT(wait_atomic(&h.nagent, 2, WAIT_MS));
	TEST_EQ_STR(last_line(&h, false, line, sizeof(line)), "We are open nine to five.");
	TEST_ASSERT(wait_atomic(&h.packets, before + 50, WAIT_MS));
out:
	if (err)
		fprintf(stderr, "# room-manager log: %s\n", logpath);
	h_stop(&h);
	if (rm_pid > 0) {
		int code;
		kill(rm_pid, SIGTERM);
		if (test_wait_exit(rm_pid, 10000, &code))
			test_kill(rm_pid);
	}
	cJSON_Delete(j);
	cJSON_Delete(empty);
	free(body);
	free(reply);
	free(speech);
	free(pcm);
	if (tts)
		tts_local.free(tts);
	assistant_free(a);
	if (!err)
		test_rmtree(dir);
	free(dir);
	return err;
}

static const struct test tests[] = {
	{ "local_room_rtp", test_local_room_rtp },
	{ "through_room_manager", test_through_room_manager },
};
TEST_MAIN(tests)
