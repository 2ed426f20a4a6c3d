/* End to end on the embedded default (issue #6): nats-server, PostgreSQL and
 * the five real services (api-gateway, room-manager on the local backend,
 * twilio-dialer, sip-bridge, agent-worker with local providers); an assistant
 * and an Exotel trunk created through the REST API; a call placed with
 * POST /call/outbound to a callee played by sipp (tests/sip/uas_e2e.xml:
 * 183 with SDP, 1.5 s of early media, 200 OK, BYE 12 s after the ACK) and an
 * RTP peer of our own at the SDP's media port. The peer sends a ringback-like
 * tone as early media, then, once answered, 4 s of silence, an espeak-ng
 * "What are your hours?" and silence again; it records the arrival time and
 * energy of every packet it receives. Checked: nothing with energy reaches the
 * callee before sipp sent its 200 OK; the greeting does, within a few seconds
 * after; the stored record ends completed with the agent's greeting and the
 * caller's words in its transcript. Every wait has a deadline. */
#include "test_sip_bridge_fx.h"

#include "media/media.h"

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

static const char *const svc_names[] = { "api-gateway", "room-manager", "twilio-dialer", "agent-worker" };
#define NSVC (sizeof(svc_names) / sizeof(svc_names[0]))

/* ---- the services besides the fixture's sip-bridge ---------------------- */

struct svc {
	int pid;
	int health_port;
	char env[10][640];
};

static int svc_start(struct svc *s, const char *name, struct fx *f, const struct test_pg *pg, int api_port)
{
	char bin[256], logpath[600];
	int n = 0;
	s->health_port = test_free_port();
	snprintf(s->env[n++], sizeof(s->env[0]), "NATS_URL=%s", f->nats.url);
	snprintf(s->env[n++], sizeof(s->env[0]), "HEALTH_ADDR=127.0.0.1:%d", s->health_port);
	if (strcmp(name, "api-gateway") == 0) {
		snprintf(s->env[n++], sizeof(s->env[0]), "DATABASE_URL=%s", pg->url);
		snprintf(s->env[n++], sizeof(s->env[0]), "API_ADDR=127.0.0.1:%d", api_port);
		snprintf(s->env[n++], sizeof(s->env[0]), "MIGRATIONS_DIR=services/api-gateway/migrations");
		snprintf(s->env[n++], sizeof(s->env[0]), "API_KEYS=%s", API_KEY);
		snprintf(s->env[n++], sizeof(s->env[0]), "SECRETS_KEY=%s", TEST_SECRETS_KEY);
		snprintf(s->env[n++], sizeof(s->env[0]), "WEBHOOK_SIGNING_SECRET=%s", TEST_WEBHOOK_SECRET);
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
		if (bus_request(f->bus, &reply, NULL, "rooms.leave", probe, strlen(probe), 1000) == 0) {
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
		ssize_t n = recvfrom(p->fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
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
	size_t k = 0, answered_frames = 0;
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
						   sin(2 * M_PI * 425.0 * (double)(k * G711_FRAME_SAMPLES + i) / 8000.0));
			k++;
			peer_send(p, pcm, 8);
			pthread_mutex_lock(&p->mu);
			p->early_sent += p->have_dest;
			pthread_mutex_unlock(&p->mu);
		} else if (mode == PEER_ANSWERED) {
			size_t at = answered_frames++;
			if (at >= SILENCE_FRAMES && at - SILENCE_FRAMES < p->speech->frames) {
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

/* When sipp sent the 200 OK of the INVITE (wall clock, µs), -1 if not yet. */
static int64_t trace_200_sent(const char *path)
{
	char *text = read_all(path);
	int64_t at = -1;
	for (const char *p = text; p && at < 0 && (p = strstr(p, "message sent")) != NULL; p++) {
		const char *body = strstr(p, "\n\n");
		if (!body || strncmp(body + 2, "SIP/2.0 200 OK", 14) != 0)
			continue;
		const char *next = strstr(body, "\n-----");
		const char *cseq = strstr(body, "INVITE\r\n");
		if (!cseq)
			cseq = strstr(body, "INVITE\n");
		if (cseq && (!next || cseq < next))
			at = trace_stamp(text, p);
	}
	free(text);
	return at;
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
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "data"), field);
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
		test_failed(__FILE__, __LINE__, "%s holds the trunk password: %s", what, out ? out : "");
		err = 1;
	}
	free(out);
	free(du);
	return err;
}

static int test_outbound_call_end_to_end(void)
{
	int err = 0;
	struct fx f;
	struct test_pg pg = { 0 };
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
	TEST_EQ_INT(test_pg_start(&pg), 0);
	for (size_t i = 0; i < NSVC; i++)
		TEST_EQ_INT(svc_start(&svc[i], svc_names[i], &f, &pg, api_port), 0);
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
	TEST_EQ_INT(fx_speech_load(sp->pcm, &sp->frames, SPEECH_MAX, f.dir, "caller.wav", SPEECH_TEXT), 0);
	TEST_ASSERT(sp->frames >= 25);
	TEST_EQ_INT(peer_start(&pe, sp), 0);
	snprintf(rport, sizeof(rport), "%d", pe.port);
	const char *keys[] = { "rtp_port", rport, NULL };
	TEST_EQ_INT(sipp_start(&f, &s, "uas_e2e.xml", keys), 0);

	TEST_EQ_INT(api_create(api_port, "/assistants", assistant_json, "assistant_id", assistant_id,
			       sizeof(assistant_id), 201), 0);
	snprintf(body, sizeof(body),
		 "{\"trunk_name\":\"E2E callee\",\"trunk_type\":\"exotel\",\"trunk_config\":{"
		 "\"sip_host\":\"127.0.0.1\",\"sip_port\":%d,\"transport\":\"tcp\",\"sip_domain\":\"127.0.0.1\","
		 "\"username\":\"e2e\",\"password\":\"" TRUNK_PASSWORD "\",\"numbers\":[\"+918044319240\"]}}",
		 s.port);
	TEST_EQ_INT(api_create(api_port, "/trunks", body, "trunk_id", trunk_id, sizeof(trunk_id), 201), 0);
	snprintf(body, sizeof(body),
		 "{\"assistant_id\":\"%s\",\"trunk_id\":\"%s\",\"to_number\":\"+919876543210\","
		 "\"call_service\":\"exotel\"}",
		 assistant_id, trunk_id);
	int64_t t_placed = time_mono_ms();
	TEST_EQ_INT(api_create(api_port, "/call/outbound", body, "call_id", call_id, sizeof(call_id), 202), 0);

	/* early media: the 183 carries SDP; the callee plays a tone to the offer */
	TEST_EQ_INT(trace_offer(s.msgfile, offer_ip, sizeof(offer_ip), &offer_port, WAIT_MS), 0);
	peer_early(&pe, offer_ip, offer_port);
	answered = await_event(&f, call_id, "call_answered", WAIT_MS);
	TEST_ASSERT(answered != NULL);
	int64_t t_answered_seen = real_us();
	int64_t t200 = trace_200_sent(s.msgfile);
	printf("    183 with SDP -> early media to %s:%d; call_answered seen %.1f ms after sipp sent "
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
		printf("    before the caller spoke: %d user, %d agent transcript events\n", early_user,
		       agent_lines);
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
		printf("    callee sent %zu early-media packets; received %zu packets (PT %d); before the "
		       "200 OK: %zu (%zu with energy); greeting: %zu loud packets, the first %.1f ms after "
		       "the 200 OK\n",
		       early, total, first_pt, before, before_loud, loud_after,
		       first_loud > 0 ? (double)(first_loud - t200) / 1000.0 : -1.0);
		TEST_ASSERT(early >= 25); /* 1.5 s of 183 before the 200 OK */
		TEST_EQ_INT(before_loud, 0);
		TEST_ASSERT(loud_after >= 25);
		TEST_EQ_INT(first_pt, 8);
	}

	/* (3) the callee hangs up; the stored record */
	TEST_EQ_INT(sipp_wait(&s), 0);
	int64_t end = time_mono_ms() + CALL_DEADLINE_MS;
	for (;;) {
		cJSON_Delete(rec);
		rec = api_get_call(api_port, call_id);
		bool done = rec && status_terminal(jstr(rec, "status")) && transcript_of(rec, "agent", NULL) &&
			    transcript_of(rec, "user", NULL);
		if (done || time_mono_ms() >= end)
			break;
		lifecycle_wait(200);
	}
	TEST_ASSERT(rec != NULL);
	{
		const cJSON *tr = cJSON_GetObjectItemCaseSensitive(rec, "transcripts"), *line;
		printf("    record: status %s, end_reason %s, %d transcript lines\n", jstr(rec, "status"),
		       jstr(rec, "end_reason") ? jstr(rec, "end_reason") : "-", cJSON_GetArraySize(tr));
		cJSON_ArrayForEach(line, tr)
		printf("      %s: %s\n", jstr(line, "speaker") ? jstr(line, "speaker") : "?",
		       jstr(line, "text") ? jstr(line, "text") : "?");
	}
	TEST_EQ_STR(jstr(rec, "status"), "completed");
	TEST_ASSERT(transcript_of(rec, "agent", "this is the clinic") != NULL);
	TEST_ASSERT(transcript_of(rec, "user", NULL) != NULL);

	/* (4) issue 13: the trunk password is nowhere in clear text — not in
	 * JetStream's store (the dial job), not in any service's log, not in
	 * the database, not in /metrics */
	TEST_EQ_INT(grep_none(TRUNK_PASSWORD, f.nats.dir, "the JetStream store"), 0);
	TEST_EQ_INT(grep_none(TRUNK_PASSWORD, f.dir, "the service logs"), 0);
	{
		char *dump = NULL;
		const char *dargv[] = { "pg_dump", "--data-only", "-d", pg.url, NULL };
		TEST_EQ_INT(test_run_cmd(&dump, dargv, NULL, 30000), 0);
		TEST_ASSERT(dump && strstr(dump, "trunks") != NULL && strstr(dump, "cms1.") != NULL);
		bool leaked = strstr(dump, TRUNK_PASSWORD) != NULL;
		printf("    pg_dump: %zu bytes, trunk password %s\n", strlen(dump), leaked ? "FOUND" : "absent");
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
		free(m);
		TEST_EQ_INT(st, 200);
		TEST_ASSERT(!leaked);
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
	err |= fx_stop(&f, err != 0);
	return err;
}

static const struct test tests[] = {
	{ "outbound_call_early_media_greeting_transcripts", test_outbound_call_end_to_end },
};
TEST_MAIN(tests)
