/* End to end (issues #6, #10): nats-server, PostgreSQL and the five real
 * services (api-gateway, room-manager, twilio-dialer, sip-bridge, agent-worker
 * with local providers), once on the embedded local room and once on LiveKit
 * (room-manager, sip-bridge and agent-worker given LIVEKIT_URL, key and secret
 * of the LiveKit test server, tests/livekit/fake.mjs); the binary runs in a
 * network namespace of its own (WebRTC gathers no loopback candidates). An
 * assistant and an Exotel trunk created through the REST API; a call placed
 * with POST /call/outbound to a callee played by sipp
 * (tests/sip/uas_e2e_hold.xml: 183 with SDP, 1.5 s of early media, 200 OK;
 * 10 s after the ACK a re-INVITE a=sendonly, 4 s on hold, a re-INVITE
 * a=sendrecv, BYE 6 s later) and an RTP peer of our own at the SDP's media
 * port. The peer sends a ringback-like tone as early media, then, once
 * answered, 4 s of silence, an espeak-ng "What are your hours?" and silence
 * again; it says the same words once more as soon as the hold is published
 * (a held caller's audio) and once the resume is; it records the arrival time
 * and energy of every packet it receives. Checked: nothing with energy reaches
 * the callee before sipp sent its 200 OK; the greeting does, within a few
 * seconds after; the agent answered the caller before the hold; the bridge
 * answered the hold recvonly and the resume sendrecv, published call_hold then
 * call_resume; nothing with energy reaches the callee between the hold's
 * 200 OK and the resume, and the words said on hold got no transcript; the
 * agent's answer to the words said after the resume does reach it; the stored
 * record ends completed with the agent's greeting and the caller's words in
 * its transcript, hold_count 1 and hold_ms the hold's length. Every wait has a
 * deadline. */
#include "harness/sip_bridge_fx.h"

#include "livekit/fake.h"
#include "media/media.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <math.h>

#define API_KEY "test-key-e2e-0001"
#define RX_MAX 4000
#define ENERGY_RMS 200.0   /* G.711 silence decodes to a few units */
#define LOUD_RMS 1000.0
#define EARLY_RMS 3000.0   /* amplitude of the early-media tone */
#define SILENCE_FRAMES 200 /* 4 s after the answer before the caller speaks */
#define GREETING_WITHIN_MS 5000
#define CALL_DEADLINE_MS 40000
#define HOLD_AFTER_MS 10000  /* uas_e2e_hold.xml: ACK → hold */
#define HOLD_MS 4000         /* hold → resume */
#define HOLD_MS_SLACK 300    /* hold_ms against sipp's INVITE to INVITE */
#define IN_FLIGHT_US 40000   /* a packet sent as the hold was answered */
#define REPLY_MIN 25         /* packets with energy of "We are open nine to five." */
#define LK_KEY "devkey"
#define LK_SECRET "devsecret-for-the-e2e-test"

static const char *const svc_names[] = { "api-gateway", "room-manager", "twilio-dialer",
					 "agent-worker" };
#define NSVC (sizeof(svc_names) / sizeof(svc_names[0]))

/* ---- the services besides the fixture's sip-bridge ---------------------- */

struct svc {
	int pid;
	int health_port;
	char env[10][640];
};

/* lk: the LiveKit test server, NULL for the local backend. */
static int svc_start(struct svc *s, const char *name, struct fx *f, const struct test_pg *pg,
		     int api_port, const struct fake_lk *lk)
{
	char bin[256], logpath[600];
	int n = 0;
	s->health_port = test_free_port();
	snprintf(s->env[n++], sizeof(s->env[0]), "NATS_URL=%s", f->nats.url);
	snprintf(s->env[n++], sizeof(s->env[0]), "HEALTH_ADDR=127.0.0.1:%d", s->health_port);
	if (strcmp(name, "api-gateway") == 0) {
		snprintf(s->env[n++], sizeof(s->env[0]), "DATABASE_URL=%s", pg->url);
		snprintf(s->env[n++], sizeof(s->env[0]), "API_ADDR=127.0.0.1:%d", api_port);
		snprintf(s->env[n++], sizeof(s->env[0]),
			 "MIGRATIONS_DIR=services/api-gateway/migrations");
		snprintf(s->env[n++], sizeof(s->env[0]), "API_KEYS=%s", API_KEY);
		snprintf(s->env[n++], sizeof(s->env[0]), "SECRETS_KEY=%s", TEST_SECRETS_KEY);
		snprintf(s->env[n++], sizeof(s->env[0]), "WEBHOOK_SIGNING_SECRET=%s",
			 TEST_WEBHOOK_SECRET);
	} else if (lk) {
		snprintf(s->env[n++], sizeof(s->env[0]), "LIVEKIT_URL=%s", lk->url);
		snprintf(s->env[n++], sizeof(s->env[0]), "LIVEKIT_API_KEY=%s", LK_KEY);
		snprintf(s->env[n++], sizeof(s->env[0]), "LIVEKIT_API_SECRET=%s", LK_SECRET);
		if (strcmp(name, "room-manager") == 0)
			snprintf(s->env[n++], sizeof(s->env[0]), "RECORDINGS_DIR=%s/rec", f->dir);
	} else if (strcmp(name, "room-manager") == 0) {
		/* distinct from the fixture's sip-bridge range (20000 + ...) */
		int port_min = 40000 + (int)(getpid() % 200) * 20;
		snprintf(s->env[n++], sizeof(s->env[0]), "ROOM_BACKEND=local");
		snprintf(s->env[n++], sizeof(s->env[0]), "RECORDINGS_DIR=%s/rec", f->dir);
		snprintf(s->env[n++], sizeof(s->env[0]), "RTP_PORT_MIN=%d", port_min);
		snprintf(s->env[n++], sizeof(s->env[0]), "RTP_PORT_MAX=%d", port_min + 19);
	}
	const char *envp[12];
	int k = 0;
	for (int i = 0; i < n; i++)
		envp[k++] = s->env[i];
	envp[k++] = "LOG_FORMAT=kv";
	envp[k++] = "LOG_LEVEL=debug";
	envp[k] = NULL;
	snprintf(logpath, sizeof(logpath), "%s/%s.log", f->dir, name);
	const char *argv[] = { test_bin(bin, sizeof(bin), name), NULL };
	return test_spawn(&s->pid, argv, envp, logpath);
}

/* SIGTERM and wait; non-zero when it did not exit 0. */
static int svc_stop(struct svc *s, const char *name)
{
	int code = -1;
	if (s->pid <= 0)
		return 0;
	kill(s->pid, SIGTERM);
	if (test_wait_exit(s->pid, 10000, &code) != 0) {
		test_kill(s->pid);
		code = -1;
	}
	s->pid = 0;
	if (code != 0)
		printf("    %s exited %d on SIGTERM\n", name, code);
	return code != 0;
}

/* /readyz can answer before room-manager's command subscriptions exist. */
static int await_rooms_commands(struct fx *f, int timeout_ms)
{
	static const char probe[] = "{\"v\":1,\"room\":\"probe\",\"identity\":\"probe\"}";
	int64_t end = time_mono_ms() + timeout_ms;
	for (;;) {
		char *reply = NULL;
		if (bus_request(f->bus, &reply, NULL, "rooms.leave", probe, strlen(probe), 1000) ==
		    0) {
			free(reply);
			return 0;
		}
		if (time_mono_ms() >= end)
			return ETIMEDOUT;
		lifecycle_wait(20);
	}
}

/* ---- the caller's words: espeak-ng → WAV → 8 kHz ------------------------ */

#define SPEECH_TEXT "What are your hours?"
#define SPEECH_MAX (8000 * 6)

struct speech {
	int16_t pcm[SPEECH_MAX];
	size_t frames;
};

static int64_t real_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* ---- the callee's RTP ------------------------------------------------------ */

enum peer_mode { PEER_IDLE, PEER_EARLY, PEER_ANSWERED };

struct peer {
	int fd, port;
	pthread_t thread;
	bool running;
	atomic_bool stop;
	atomic_int mode;
	const struct speech *speech;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct sockaddr_in dest;     /* the offer's address, then the bridge's source */
	bool have_dest, learned;
	bool speech_done;
	int64_t speech_start_us;
	atomic_int replays;          /* the words once more, asked by the test */
	size_t early_sent;           /* early-media packets sent */
	size_t n;
	double rms[RX_MAX];
	int64_t at_us[RX_MAX];       /* arrival, wall clock (sipp's trace is wall clock) */
	uint8_t pt[RX_MAX];
	uint16_t seq;
	uint32_t ts;
};

static void peer_send(struct peer *p, const int16_t *pcm, uint8_t pt)
{
	uint8_t pl[G711_FRAME_SAMPLES];
	g711_encode(pt == 8 ? G711_ALAW : G711_ULAW, pl, pcm, G711_FRAME_SAMPLES);
	struct rtp_hdr h = { .pt = pt, .seq = p->seq++, .ts = p->ts, .ssrc = 0xca11ee01 };
	p->ts += G711_FRAME_SAMPLES;
	pthread_mutex_lock(&p->mu);
	struct sockaddr_in to = p->dest;
	bool have = p->have_dest;
	pthread_mutex_unlock(&p->mu);
	if (have)
		fx_rtp_send(p->fd, &to, &h, pl, sizeof(pl));
}

static void peer_receive(struct peer *p)
{
	uint8_t buf[RTP_PACKET_MAX];
	struct sockaddr_in from;
	for (int i = 0; i < 64; i++) {
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(p->fd, buf, sizeof(buf), MSG_DONTWAIT,
				     (struct sockaddr *)&from, &fl);
		if (n < 0)
			break;
		int64_t at = real_us();
		struct rtp_packet r;
		if (rtp_parse(&r, buf, (size_t)n))
			continue;
		double e = fx_g711_rms(&r);
		pthread_mutex_lock(&p->mu);
		if (!p->learned) {
			/* symmetric RTP: answer where the bridge sends from */
			p->dest = from;
			p->have_dest = p->learned = true;
		}
		if (p->n < RX_MAX) {
			p->at_us[p->n] = at;
			p->rms[p->n] = e;
			p->pt[p->n] = (uint8_t)r.hdr.pt;
			p->n++;
		}
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
	}
}

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	struct timespec t;
	size_t k = 0, answered_frames = 0, replay_at = 0;
	bool replaying = false;
	int16_t pcm[G711_FRAME_SAMPLES];
	clock_gettime(CLOCK_MONOTONIC, &t);
	while (!atomic_load(&p->stop)) {
		bool due = fx_frame_due(p->fd, &t);
		peer_receive(p);
		if (!due)
			continue;
		int mode = atomic_load(&p->mode);
		pthread_mutex_lock(&p->mu);
		bool learned = p->learned;
		pthread_mutex_unlock(&p->mu);
		if (learned && mode != PEER_ANSWERED) {
			/* the bridge relays only once answered: its first packet is the answer */
			atomic_store(&p->mode, PEER_ANSWERED);
			mode = PEER_ANSWERED;
		}
		memset(pcm, 0, sizeof(pcm));
		if (mode == PEER_EARLY) {
			/* ringback-like early media: 425 Hz */
			for (size_t i = 0; i < G711_FRAME_SAMPLES; i++)
				pcm[i] = (int16_t)(EARLY_RMS * sqrt(2.0) *
						   sin(2 * M_PI * 425.0 *
						       (double)(k * G711_FRAME_SAMPLES + i) /
						       8000.0));
			k++;
			peer_send(p, pcm, 8);
			pthread_mutex_lock(&p->mu);
			p->early_sent += p->have_dest;
			pthread_mutex_unlock(&p->mu);
		} else if (mode == PEER_ANSWERED) {
			size_t at = answered_frames++;
			if (!replaying && atomic_load(&p->replays) > 0) {
				atomic_fetch_sub(&p->replays, 1);
				replaying = true;
				replay_at = at;
			}
			if (replaying && at - replay_at < p->speech->frames) {
				memcpy(pcm, p->speech->pcm + (at - replay_at) * G711_FRAME_SAMPLES,
				       sizeof(pcm));
			} else if (replaying) {
				replaying = false;
			} else if (at >= SILENCE_FRAMES &&
				   at - SILENCE_FRAMES < p->speech->frames) {
				size_t f = at - SILENCE_FRAMES;
				if (f == 0) {
					pthread_mutex_lock(&p->mu);
					p->speech_start_us = real_us();
					pthread_cond_broadcast(&p->cv);
					pthread_mutex_unlock(&p->mu);
				}
				memcpy(pcm, p->speech->pcm + f * G711_FRAME_SAMPLES, sizeof(pcm));
			} else if (at >= SILENCE_FRAMES) {
				pthread_mutex_lock(&p->mu);
				if (!p->speech_done) {
					p->speech_done = true;
					pthread_cond_broadcast(&p->cv);
				}
				pthread_mutex_unlock(&p->mu);
			}
			peer_send(p, pcm, 8);
		}
	}
	return NULL;
}

static int peer_start(struct peer *p, const struct speech *sp)
{
	memset(p, 0, sizeof(*p));
	p->speech = sp;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->seq = 4000;
	p->ts = 80000;
	int err = fx_rtp_socket(&p->fd, &p->port);
	if (err)
		return err;
	err = pthread_create(&p->thread, NULL, peer_main, p);
	p->running = err == 0;
	return err;
}

static void peer_stop(struct peer *p)
{
	if (!p->running)
		return;
	atomic_store(&p->stop, true);
	pthread_join(p->thread, NULL);
	p->running = false;
	close(p->fd);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
}

/* Early media goes to the offer's address (the bridge's RTP port). */
static void peer_early(struct peer *p, const char *ip, int port)
{
	pthread_mutex_lock(&p->mu);
	if (!p->learned) {
		memset(&p->dest, 0, sizeof(p->dest));
		p->dest.sin_family = AF_INET;
		p->dest.sin_port = htons((uint16_t)port);
		p->have_dest = inet_pton(AF_INET, ip, &p->dest.sin_addr) == 1;
	}
	pthread_mutex_unlock(&p->mu);
	int idle = PEER_IDLE;
	atomic_compare_exchange_strong(&p->mode, &idle, PEER_EARLY);
}

static bool peer_await_speech_start(struct peer *p, int timeout_ms)
{
	struct timespec dl;
	deadline_in(&dl, timeout_ms);
	pthread_mutex_lock(&p->mu);
	while (!p->speech_start_us)
		if (pthread_cond_timedwait(&p->cv, &p->mu, &dl) == ETIMEDOUT)
			break;
	bool ok = p->speech_start_us != 0;
	pthread_mutex_unlock(&p->mu);
	return ok;
}

/* transcript events of call_id with "speaker":"<speaker>" captured so far */
static int count_transcripts(struct fx *f, const char *call_id, const char *speaker)
{
	char subject[128], want[64];
	int n = 0;
	snprintf(subject, sizeof(subject), "calls.%s.transcript", call_id);
	snprintf(want, sizeof(want), "\"speaker\":\"%s\"", speaker);
	pthread_mutex_lock(&f->mu);
	for (int i = 0; i < f->nev; i++)
		n += strcmp(f->ev[i].subject, subject) == 0 && strstr(f->ev[i].data, want) != NULL;
	pthread_mutex_unlock(&f->mu);
	return n;
}

static bool peer_await_speech_done(struct peer *p, int timeout_ms)
{
	struct timespec dl;
	deadline_in(&dl, timeout_ms);
	pthread_mutex_lock(&p->mu);
	while (!p->speech_done)
		if (pthread_cond_timedwait(&p->cv, &p->mu, &dl) == ETIMEDOUT)
			break;
	bool ok = p->speech_done;
	pthread_mutex_unlock(&p->mu);
	return ok;
}

/* ---- sipp's message trace: the offer's media address, the 200 OK's time --- */

/* The "------ <date> <time>.<usec>" line (local time) before offset `at`,
 * in µs since the epoch. */
static int64_t trace_stamp(const char *text, const char *at)
{
	const char *p = at;
	while (p > text && !(p[-1] == '\n' && strncmp(p, "-----", 5) == 0))
		p--;
	if (strncmp(p, "-----", 5) != 0)
		return -1;
	const char *eol = strchr(p, '\n');
	if (!eol || eol > at)
		return -1;
	p += strspn(p, "- ");
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *rest = strptime(p, "%Y-%m-%d %H:%M:%S", &tm);
	if (!rest || *rest != '.')
		return -1;
	char *end = NULL;
	long long usec = strtoll(rest + 1, &end, 10);
	if (end - (rest + 1) != 6)
		return -1;
	tm.tm_isdst = -1;
	time_t sec = mktime(&tm);
	if (sec == (time_t)-1)
		return -1;
	return (int64_t)sec * 1000000 + usec;
}

/* After sipp sent its 183: the offer's c= address and m= port. */
static int trace_offer(const char *path, char *ip, size_t iplen, int *portp, int timeout_ms)
{
	int64_t end = time_mono_ms() + timeout_ms;
	for (;;) {
		char *text = read_all(path);
		const char *inv = text ? strstr(text, "INVITE sip:") : NULL;
		const char *sent183 = text ? strstr(text, "SIP/2.0 183 Session Progress") : NULL;
		const char *m = inv ? strstr(inv, "\nm=audio ") : NULL;
		const char *c = inv ? strstr(inv, "\nc=IN IP4 ") : NULL;
		int ok = 0;
		if (sent183 && m && c) {
			char *e = NULL;
			long port = strtol(m + 9, &e, 10);
			size_t n = strcspn(c + 10, "\r\n");
			if (port > 0 && port < 65536 && n > 0 && n < iplen) {
				memcpy(ip, c + 10, n);
				ip[n] = '\0';
				*portp = (int)port;
				ok = 1;
			}
		}
		free(text);
		if (ok)
			return 0;
		if (time_mono_ms() >= end)
			return ETIMEDOUT;
		lifecycle_wait(10);
	}
}

/* Whether `body` (up to `end`, NULL: its end) has a line ending in `tail`. */
static bool has_line_ending(const char *body, const char *end, const char *tail)
{
	size_t n = strlen(tail);
	for (const char *c = body; (c = strstr(c, tail)) != NULL && (!end || c < end); c++)
		if (c[n] == '\r' || c[n] == '\n')
			return true;
	return false;
}

/* When sipp's trace first shows a message `how` ("message sent" or
 * "message received") with a line that starts with `start`, followed by a
 * line ending in `cseq` ("INVITE": any INVITE's; "CSeq: 2 INVITE"), wall
 * clock µs; -1 if not yet. One trace entry can hold more than one message
 * (a 100 and a 200 read at once from TCP). */
static int64_t trace_message_at(const char *path, const char *how, const char *start,
				const char *cseq)
{
	char *text = read_all(path);
	int64_t at = -1;
	size_t sl = strlen(start);
	for (const char *p = text; p && at < 0 && (p = strstr(p, how)) != NULL; p++) {
		const char *next = strstr(p, "\n-----");
		for (const char *m = strchr(p, '\n'); m && (!next || m < next) && at < 0;
		     m = strchr(m + 1, '\n'))
			if (strncmp(m + 1, start, sl) == 0 && has_line_ending(m, next, cseq))
				at = trace_stamp(text, p);
	}
	free(text);
	return at;
}

/* When sipp sent the 200 OK of the INVITE (wall clock, µs), -1 if not yet. */
static int64_t trace_200_sent(const char *path)
{
	return trace_message_at(path, "message sent", "SIP/2.0 200 OK", "INVITE");
}

/* ---- REST ------------------------------------------------------------------ */

/* POSTs `body`; *idp = data.<field> of a 2xx answer. */
static int api_create(int api_port, const char *path, const char *body, const char *field, char *id,
		      size_t idlen, long want)
{
	char url[256], *resp = NULL;
	long status = 0;
	int err = 0;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", api_port, path);
	TEST_EQ_INT(test_http(&status, &resp, "POST", url, API_KEY, body), 0);
	if (status != want)
		printf("    POST %s: %ld %s\n", path, status, resp ? resp : "");
	TEST_EQ_INT(status, want);
	cJSON *j = cJSON_Parse(resp);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(j, "data"), field);
	bool ok = cJSON_IsString(v) && strlen(v->valuestring) < idlen;
	if (ok)
		snprintf(id, idlen, "%s", v->valuestring);
	cJSON_Delete(j);
	TEST_ASSERT(ok);
out:
	free(resp);
	return err;
}

static cJSON *api_get_call(int api_port, const char *call_id)
{
	char url[256], *resp = NULL;
	long status = 0;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/calls/%s", api_port, call_id);
	cJSON *data = NULL;
	if (test_http(&status, &resp, "GET", url, API_KEY, NULL) == 0 && status == 200) {
		cJSON *j = cJSON_Parse(resp);
		data = cJSON_DetachItemFromObjectCaseSensitive(j, "data");
		cJSON_Delete(j);
	}
	free(resp);
	return data;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool status_terminal(const char *s)
{
	static const char *const t[] = { "completed", "busy", "no_answer", "rejected", "cancelled",
					 "unreachable", "timeout", "failed" };
	for (size_t i = 0; s && i < CM_ARRAY_LEN(t); i++)
		if (strcmp(s, t[i]) == 0)
			return true;
	return false;
}

/* The first transcript line of `speaker` with non-empty text (NULL if none). */
static const char *transcript_of(const cJSON *rec, const char *speaker, const char *containing)
{
	const cJSON *tr = cJSON_GetObjectItemCaseSensitive(rec, "transcripts"), *line;
	cJSON_ArrayForEach(line, tr)
	{
		const char *sp = jstr(line, "speaker"), *text = jstr(line, "text");
		if (sp && text && text[0] && strcmp(sp, speaker) == 0 &&
		    (!containing || strcasestr(text, containing)))
			return text;
	}
	return NULL;
}

/* Asks the peer to say the words once more from its next frame. */
static void peer_replay(struct peer *p)
{
	atomic_fetch_add(&p->replays, 1);
}

/* Packets the peer received in [from_us, to_us): how many, how many with energy. */
static void peer_count(struct peer *p, int64_t from_us, int64_t to_us, size_t *np, size_t *loudp,
		       double rms)
{
	size_t n = 0, loud = 0;
	pthread_mutex_lock(&p->mu);
	for (size_t i = 0; i < p->n; i++) {
		if (p->at_us[i] < from_us || p->at_us[i] >= to_us)
			continue;
		n++;
		loud += p->rms[i] > rms;
	}
	pthread_mutex_unlock(&p->mu);
	*np = n;
	*loudp = loud;
}

/* Whether sipp's log (-trace_logs) has the line `line`. */
static bool sipp_logged(const struct sipp *s, const char *line)
{
	char *text = read_all(s->logfile);
	bool found = false;
	size_t n = strlen(line);
	for (const char *p = text; p && !found && (p = strstr(p, line)) != NULL; p++)
		found = (p == text || p[-1] == '\n') &&
			(p[n] == '\n' || p[n] == '\r' || p[n] == '\0');
	free(text);
	return found;
}

/* ---- the test ---------------------------------------------------------------- */

static const char assistant_json[] =
	"{\"assistant_name\":\"E2E clinic front desk\","
	"\"assistant_prompt\":\"You are the front desk of a small clinic. Be brief and polite.\","
	"\"assistant_mode\":\"pipeline\","
	"\"assistant_start_instruction\":\"Hello, this is the clinic.\","
	"\"assistant_interaction_config\":{\"speaks_first\":true,\"silence_timeout_s\":20,"
	"\"max_reprompts\":1,\"fillers_enabled\":false},"
	"\"assistant_stt_config\":{\"provider\":\"local\"},"
	"\"assistant_llm_config\":{\"provider\":\"local\",\"script\":["
	"{\"match\":\"hours\",\"reply\":\"We are open nine to five.\"},"
	"{\"match\":\"what are your\",\"reply\":\"We are open nine to five.\"}]},"
	"\"assistant_tts_config\":{\"provider\":\"local\"},"
	"\"assistant_end_call_url\":null}";

/* The call on one backend: livekit false = the embedded local room. */
#define TRUNK_PASSWORD "e2e-Pa55word-7f3k"

/* `grep -r` for needle under dir finds nothing (exit 1); says how much it read. */
static int grep_none(const char *needle, const char *dir, const char *what)
{
	int err = 0;
	char *out = NULL, *du = NULL;
	const char *argv[] = { "grep", "-r", "-a", "-l", "-F", needle, dir, NULL };
	int st = test_run_cmd(&out, argv, NULL, 30000);
	const char *dargv[] = { "du", "-sb", dir, NULL };
	(void)test_run_cmd(&du, dargv, NULL, 10000);
	printf("    %s (%.*s bytes): %s\n", what, du ? (int)strcspn(du, "\t") : 1, du ? du : "?",
	       st == 1 ? "no trunk password" : "trunk password FOUND");
	if (st != 1) {
		test_failed(__FILE__, __LINE__, "%s holds the trunk password: %s", what,
			    out ? out : "");
		err = 1;
	}
	free(out);
	free(du);
	return err;
}

static int outbound_call_end_to_end(bool livekit)
{
	int err = 0;
	struct fx f;
	struct test_pg pg = { 0 };
	struct fake_lk lk = { 0 };
	struct svc svc[NSVC];
	struct sipp s = { 0 };
	struct peer pe = { .fd = -1 };
	struct speech *sp = NULL;
	cJSON *rec = NULL;
	char *answered = NULL;
	char url[128], body[1024], assistant_id[64], trunk_id[64], call_id[64], rport[16];
	char offer_ip[64];
	int offer_port = 0;
	int api_port = test_free_port();
	memset(svc, 0, sizeof(svc));

	TEST_EQ_INT(fx_start(&f, NULL), 0);
	fx_setenv(&f, "MAX_CALLS", "10");
	if (livekit) {
		const struct fake_lk_opts lo = { .key = LK_KEY,
						 .secret = LK_SECRET,
						 .logdir = f.dir };
		TEST_EQ_INT(fake_lk_start_opts(&lk, &lo), 0);
		fx_setenv(&f, "LIVEKIT_URL", lk.url);
		fx_setenv(&f, "LIVEKIT_API_KEY", LK_KEY);
		fx_setenv(&f, "LIVEKIT_API_SECRET", LK_SECRET);
	}
	TEST_EQ_INT(test_pg_start(&pg), 0);
	for (size_t i = 0; i < NSVC; i++)
		TEST_EQ_INT(svc_start(&svc[i], svc_names[i], &f, &pg, api_port,
				      livekit ? &lk : NULL),
			    0);
	TEST_EQ_INT(fx_bridge_start(&f), 0);
	for (size_t i = 0; i < NSVC; i++) {
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", svc[i].health_port);
		if (test_http_wait(url, 200, 30000)) {
			test_failed(__FILE__, __LINE__, "%s never became ready", svc_names[i]);
			err = 1;
			goto out;
		}
	}
	TEST_EQ_INT(await_rooms_commands(&f, 10000), 0);

	sp = calloc(1, sizeof(*sp));
	TEST_ASSERT(sp != NULL);
	TEST_EQ_INT(fx_speech_load(sp->pcm, &sp->frames, SPEECH_MAX, f.dir, "caller.wav",
				   SPEECH_TEXT),
		    0);
	TEST_ASSERT(sp->frames >= 25);
	TEST_EQ_INT(peer_start(&pe, sp), 0);
	snprintf(rport, sizeof(rport), "%d", pe.port);
	const char *keys[] = { "rtp_port", rport, NULL };
	const char *const longer[] = { "-timeout", "60", NULL }; /* the scenario alone lasts 23 s */
	const struct sipp_opts so = { .extra = longer };
	TEST_EQ_INT(sipp_start_opts(&f, &s, "uas_e2e_hold.xml", keys, &so), 0);

	TEST_EQ_INT(api_create(api_port, "/assistants", assistant_json, "assistant_id",
			       assistant_id, sizeof(assistant_id), 201),
		    0);
	snprintf(body, sizeof(body),
		 "{\"trunk_name\":\"E2E callee\",\"trunk_type\":\"exotel\",\"trunk_config\":{"
		 "\"sip_host\":\"127.0.0.1\",\"sip_port\":%d,\"transport\":\"tcp\",\"sip_domain\":"
		 "\"127.0.0.1\","
		 "\"username\":\"e2e\",\"password\":\"" TRUNK_PASSWORD
		 "\",\"numbers\":[\"+918044319240\"]}}",
		 s.port);
	TEST_EQ_INT(api_create(api_port, "/trunks", body, "trunk_id", trunk_id, sizeof(trunk_id),
			       201),
		    0);
	snprintf(body, sizeof(body),
		 "{\"assistant_id\":\"%s\",\"trunk_id\":\"%s\",\"to_number\":\"+919876543210\","
		 "\"call_service\":\"exotel\"}",
		 assistant_id, trunk_id);
	int64_t t_placed = time_mono_ms();
	TEST_EQ_INT(api_create(api_port, "/call/outbound", body, "call_id", call_id,
			       sizeof(call_id), 202),
		    0);

	/* early media: the 183 carries SDP; the callee plays a tone to the offer */
	TEST_EQ_INT(trace_offer(s.msgfile, offer_ip, sizeof(offer_ip), &offer_port, WAIT_MS), 0);
	peer_early(&pe, offer_ip, offer_port);
	answered = await_event(&f, call_id, "call_answered", WAIT_MS);
	TEST_ASSERT(answered != NULL);
	int64_t t_answered_seen = real_us();
	int64_t t200 = trace_200_sent(s.msgfile);
	printf("    183 with SDP -> early media to %s:%d; call_answered seen %.1f ms after sipp "
	       "sent "
	       "its 200 OK (%lld ms after POST /call/outbound)\n",
	       offer_ip, offer_port, (double)(t_answered_seen - t200) / 1000.0,
	       (long long)(time_mono_ms() - t_placed));
	TEST_ASSERT(t200 > 0);
	TEST_ASSERT(t200 <= t_answered_seen);

	/* the caller's words, 4 s after the answer; then silence until sipp's BYE.
	 * Until then the caller said nothing: the early-media tone (sent to the
	 * bridge before the answer) must not have become a user transcript. */
	TEST_ASSERT(peer_await_speech_start(&pe, 4000 + WAIT_MS));
	{
		int early_user = count_transcripts(&f, call_id, "user");
		int agent_lines = count_transcripts(&f, call_id, "agent");
		printf("    before the caller spoke: %d user, %d agent transcript events\n",
		       early_user, agent_lines);
		TEST_EQ_INT(early_user, 0);
	}
	TEST_ASSERT(peer_await_speech_done(&pe, 4000 + (int)sp->frames * 20 + WAIT_MS));

	{
		/* (1) nothing with energy before the 200 OK; (2) the greeting after it */
		size_t before = 0, before_loud = 0, loud_after = 0;
		int64_t first_loud = -1;
		pthread_mutex_lock(&pe.mu);
		int64_t speech_at = pe.speech_start_us;
		for (size_t i = 0; i < pe.n; i++) {
			if (pe.at_us[i] < t200) {
				before++;
				before_loud += pe.rms[i] > ENERGY_RMS;
			} else if (pe.at_us[i] <= t200 + GREETING_WITHIN_MS * 1000LL &&
				   pe.at_us[i] < speech_at && pe.rms[i] > LOUD_RMS) {
				loud_after++;
				if (first_loud < 0)
					first_loud = pe.at_us[i];
			}
		}
		size_t total = pe.n, early = pe.early_sent;
		int first_pt = total ? pe.pt[0] : -1;
		pthread_mutex_unlock(&pe.mu);
		printf("    callee sent %zu early-media packets; received %zu packets (PT %d); "
		       "before the "
		       "200 OK: %zu (%zu with energy); greeting: %zu loud packets, the first %.1f "
		       "ms after "
		       "the 200 OK\n",
		       early, total, first_pt, before, before_loud, loud_after,
		       first_loud > 0 ? (double)(first_loud - t200) / 1000.0 : -1.0);
		TEST_ASSERT(early >= 25); /* 1.5 s of 183 before the 200 OK */
		TEST_EQ_INT(before_loud, 0);
		TEST_ASSERT(loud_after >= 25);
		TEST_EQ_INT(first_pt, 8);
	}

	/* (3) the hold, once the agent has answered the caller; the caller's
	 * words on hold must not be heard; those after the resume are */
	{
		char *hold = await_event(&f, call_id, "call_hold", HOLD_AFTER_MS + WAIT_MS);
		TEST_ASSERT(hold != NULL);
		free(hold);
		peer_replay(&pe);
		int agent_lines = count_transcripts(&f, call_id, "agent");
		int user_at_hold = count_transcripts(&f, call_id, "user");
		printf("    call_hold: %d agent, %d user transcript events so far\n", agent_lines,
		       user_at_hold);
		TEST_ASSERT(agent_lines >= 2); /* the greeting and the answer */
		TEST_ASSERT(user_at_hold >= 1);
		char *resume = await_event(&f, call_id, "call_resume", HOLD_MS + WAIT_MS);
		TEST_ASSERT(resume != NULL);
		free(resume);
		peer_replay(&pe);
		int user_at_resume = count_transcripts(&f, call_id, "user");
		printf("    call_resume: %d user transcript events (the words said on hold: "
		       "none)\n",
		       user_at_resume);
		TEST_EQ_INT(user_at_resume, user_at_hold);
		TEST_ASSERT(event_index(&f, call_id, "call_hold") <
			    event_index(&f, call_id, "call_resume"));
		TEST_EQ_INT(count_events(&f, call_id, "call_hold"), 1);
	}

	/* (4) the callee hangs up; the hold as sipp saw it; the stored record */
	TEST_EQ_INT(sipp_wait(&s), 0);
	int64_t t_hold = trace_message_at(s.msgfile, "message sent", "INVITE ", "CSeq: 2 INVITE");
	int64_t t_hold_ok =
		trace_message_at(s.msgfile, "message received", "SIP/2.0 200 OK", "CSeq: 2 INVITE");
	int64_t t_resume = trace_message_at(s.msgfile, "message sent", "INVITE ", "CSeq: 3 INVITE");
	int64_t t_resume_ok =
		trace_message_at(s.msgfile, "message received", "SIP/2.0 200 OK", "CSeq: 3 INVITE");
	int64_t t_bye = trace_message_at(s.msgfile, "message sent", "BYE ", "CSeq: 4 BYE");
	printf("    sipp: hold sent +%.1f ms, its 200 OK +%.1f ms, resume sent +%.1f ms, its 200 "
	       "OK +%.1f ms, "
	       "BYE +%.1f ms (after its 200 OK of the call)\n",
	       (double)(t_hold - t200) / 1000.0, (double)(t_hold_ok - t200) / 1000.0,
	       (double)(t_resume - t200) / 1000.0, (double)(t_resume_ok - t200) / 1000.0,
	       (double)(t_bye - t200) / 1000.0);
	TEST_ASSERT(t_hold > 0 && t_hold_ok >= t_hold && t_resume > t_hold_ok &&
		    t_resume_ok >= t_resume && t_bye > t_resume_ok);
	TEST_ASSERT(sipp_logged(&s, "hold_answer=a=recvonly"));
	TEST_ASSERT(sipp_logged(&s, "resume_answer=a=sendrecv"));
	{
		size_t held = 0, held_loud = 0, after = 0, after_loud = 0;
		peer_count(&pe, t_hold_ok, t_resume, &held, &held_loud, ENERGY_RMS);
		peer_count(&pe, t_resume_ok, t_bye, &after, &after_loud, ENERGY_RMS);
		printf("    on hold %.0f ms (200 OK to resume): %zu packets reached the callee, "
		       "%zu with energy; "
		       "after the resume: %zu packets, %zu with energy\n",
		       (double)(t_resume - t_hold_ok) / 1000.0, held, held_loud, after, after_loud);
		TEST_EQ_INT(held_loud, 0);
		/* nothing at all to a holding far end, once a packet sent as the
		 * hold was answered has had time to arrive */
		size_t late = 0, late_loud = 0;
		peer_count(&pe, t_hold_ok + IN_FLIGHT_US, t_resume, &late, &late_loud, ENERGY_RMS);
		TEST_EQ_INT(late, 0);
		TEST_ASSERT(after_loud >= REPLY_MIN);
	}
	int64_t end = time_mono_ms() + CALL_DEADLINE_MS;
	for (;;) {
		cJSON_Delete(rec);
		rec = api_get_call(api_port, call_id);
		bool done = rec && status_terminal(jstr(rec, "status")) &&
			    transcript_of(rec, "agent", NULL) && transcript_of(rec, "user", NULL);
		if (done || time_mono_ms() >= end)
			break;
		lifecycle_wait(200);
	}
	TEST_ASSERT(rec != NULL);
	{
		const cJSON *tr = cJSON_GetObjectItemCaseSensitive(rec, "transcripts"), *line;
		printf("    record: status %s, end_reason %s, %d transcript lines\n",
		       jstr(rec, "status"), jstr(rec, "end_reason") ? jstr(rec, "end_reason") : "-",
		       cJSON_GetArraySize(tr));
		cJSON_ArrayForEach(line, tr)
		printf("      %s: %s\n", jstr(line, "speaker") ? jstr(line, "speaker") : "?",
		       jstr(line, "text") ? jstr(line, "text") : "?");
	}
	TEST_EQ_STR(jstr(rec, "status"), "completed");
	TEST_ASSERT(transcript_of(rec, "agent", "this is the clinic") != NULL);
	TEST_ASSERT(transcript_of(rec, "user", NULL) != NULL);
	{
		const cJSON *count = cJSON_GetObjectItemCaseSensitive(rec, "hold_count");
		const cJSON *ms = cJSON_GetObjectItemCaseSensitive(rec, "hold_ms");
		double sipp_ms = (double)(t_resume - t_hold) / 1000.0;
		printf("    record: hold_count %.0f, hold_ms %.0f (sipp: %.0f ms from the hold's "
		       "INVITE to the "
		       "resume's)\n",
		       cJSON_IsNumber(count) ? count->valuedouble : -1,
		       cJSON_IsNumber(ms) ? ms->valuedouble : -1, sipp_ms);
		TEST_ASSERT(cJSON_IsNumber(count) && cJSON_IsNumber(ms));
		TEST_EQ_INT(count->valuedouble, 1);
		TEST_ASSERT(fabs(ms->valuedouble - sipp_ms) <= HOLD_MS_SLACK);
	}

	/* (5) issue 13: the trunk password is nowhere in clear text — not in
	 * JetStream's store (the dial job), not in any service's log, not in
	 * the database, not in /metrics */
	TEST_EQ_INT(grep_none(TRUNK_PASSWORD, f.nats.dir, "the JetStream store"), 0);
	TEST_EQ_INT(grep_none(TRUNK_PASSWORD, f.dir, "the service logs"), 0);
	{
		char *dump = NULL;
		const char *dargv[] = { "pg_dump", "--data-only", "-d", pg.url, NULL };
		TEST_EQ_INT(test_run_cmd(&dump, dargv, NULL, 30000), 0);
		TEST_ASSERT(dump && strstr(dump, "trunks") != NULL &&
			    strstr(dump, "cms1.") != NULL);
		bool leaked = strstr(dump, TRUNK_PASSWORD) != NULL;
		printf("    pg_dump: %zu bytes, trunk password %s\n", strlen(dump),
		       leaked ? "FOUND" : "absent");
		free(dump);
		TEST_ASSERT(!leaked);
	}
	for (size_t i = 0; i <= NSVC; i++) {
		char *m = NULL;
		long st = 0;
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics",
			 i < NSVC ? svc[i].health_port : f.health_port);
		TEST_EQ_INT(test_http(&st, &m, "GET", url, NULL, NULL), 0);
		bool leaked = m && strstr(m, TRUNK_PASSWORD);
		/* api-gateway's persister stored the call's events and refused none */
		static const char persisted[] = "\napi_events_persisted_total ";
		const char *stored = i == 0 && m ? strstr(m, persisted) : NULL;
		bool counted = i != 0 ||
			       (stored && strtol(stored + strlen(persisted), NULL, 10) > 5 &&
				strstr(m, "\napi_events_refused_total 0\n"));
		free(m);
		TEST_EQ_INT(st, 200);
		TEST_ASSERT(!leaked);
		TEST_ASSERT(counted);
	}
out:
	if (s.pid)
		test_kill(s.pid);
	peer_stop(&pe);
	cJSON_Delete(rec);
	free(answered);
	free(sp);
	for (size_t i = NSVC; i-- > 0;)
		if (svc_stop(&svc[i], svc_names[i]))
			err = 1;
	test_pg_destroy(&pg);
	fake_lk_stop(&lk);
	err |= fx_stop(&f, err != 0);
	return err;
}

static int test_local(void)
{
	return outbound_call_end_to_end(false);
}

static int test_livekit(void)
{
	return outbound_call_end_to_end(true);
}

static const struct test tests[] = {
	{ "local_early_media_greeting_hold_transcripts", test_local },
	{ "livekit_early_media_greeting_hold_transcripts", test_livekit },
};

int main(int argc, char **argv)
{
	int rc = test_netns_enter(argc, argv); /* LiveKit media needs one; local runs there too */
	if (rc)
		return rc;
	return test_run(__FILE__, tests, CM_ARRAY_LEN(tests), argc, argv);
}
