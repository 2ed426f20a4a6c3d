/* The sip-bridge test fixture: see sip_bridge_fx.h. */
#include "harness/sip_bridge_fx.h"

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

static void on_event(const struct bus_msg *msg, void *arg)
{
	struct fx *f = arg;
	pthread_mutex_lock(&f->mu);
	if (f->nev < EVENTS_MAX) {
		struct captured *c = &f->ev[f->nev];
		snprintf(c->subject, sizeof(c->subject), "%s", msg->subject);
		c->data = malloc((size_t)msg->len + 1);
		if (c->data) {
			memcpy(c->data, msg->data, (size_t)msg->len);
			c->data[msg->len] = '\0';
			f->nev++;
		}
	}
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

static void on_heartbeat(const struct bus_msg *msg, void *arg)
{
	struct fx *f = arg;
	pthread_mutex_lock(&f->mu);
	f->heartbeats++;
	snprintf(f->last_heartbeat, sizeof(f->last_heartbeat), "%.*s", msg->len, msg->data);
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

void deadline_in(struct timespec *dl, int timeout_ms)
{
	clock_gettime(CLOCK_REALTIME, dl);
	dl->tv_sec += timeout_ms / 1000;
	dl->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl->tv_nsec >= 1000000000L) {
		dl->tv_sec++;
		dl->tv_nsec -= 1000000000L;
	}
}

char *await_event(struct fx *f, const char *call_id, const char *type, int timeout_ms)
{
	char subject[128];
	snprintf(subject, sizeof(subject), "calls.%s.%s", call_id, type);
	struct timespec dl;
	deadline_in(&dl, timeout_ms);
	char *found = NULL;
	pthread_mutex_lock(&f->mu);
	for (;;) {
		for (int i = 0; i < f->nev && !found; i++)
			if (strcmp(f->ev[i].subject, subject) == 0)
				found = strdup(f->ev[i].data);
		if (found || pthread_cond_timedwait(&f->cv, &f->mu, &dl) == ETIMEDOUT)
			break;
	}
	if (!found) {
		for (int i = 0; i < f->nev && !found; i++)
			if (strcmp(f->ev[i].subject, subject) == 0)
				found = strdup(f->ev[i].data);
	}
	pthread_mutex_unlock(&f->mu);
	if (!found)
		fprintf(stdout, "    no %s within %d ms\n", subject, timeout_ms);
	return found;
}

/* Number of captured events whose subject ends in ".<type>" (any call). */
static int count_type_locked(struct fx *f, const char *type)
{
	int n = 0;
	size_t tl = strlen(type);
	for (int i = 0; i < f->nev; i++) {
		size_t sl = strlen(f->ev[i].subject);
		n += sl > tl + 1 && f->ev[i].subject[sl - tl - 1] == '.' &&
		     strcmp(f->ev[i].subject + sl - tl, type) == 0;
	}
	return n;
}

bool await_type_count(struct fx *f, const char *type, int want, int timeout_ms)
{
	struct timespec dl;
	deadline_in(&dl, timeout_ms);
	bool ok;
	pthread_mutex_lock(&f->mu);
	while (!(ok = count_type_locked(f, type) >= want))
		if (pthread_cond_timedwait(&f->cv, &f->mu, &dl) == ETIMEDOUT)
			break;
	ok = count_type_locked(f, type) >= want;
	pthread_mutex_unlock(&f->mu);
	if (!ok)
		fprintf(stdout, "    fewer than %d %s within %d ms\n", want, type, timeout_ms);
	return ok;
}

int count_events(struct fx *f, const char *call_id, const char *type)
{
	char subject[128];
	int n = 0;
	snprintf(subject, sizeof(subject), "calls.%s.%s", call_id, type);
	pthread_mutex_lock(&f->mu);
	for (int i = 0; i < f->nev; i++)
		n += strcmp(f->ev[i].subject, subject) == 0;
	pthread_mutex_unlock(&f->mu);
	return n;
}

int event_index(struct fx *f, const char *call_id, const char *type)
{
	char subject[128];
	int at = -1;
	snprintf(subject, sizeof(subject), "calls.%s.%s", call_id, type);
	pthread_mutex_lock(&f->mu);
	for (int i = 0; i < f->nev && at < 0; i++)
		if (strcmp(f->ev[i].subject, subject) == 0)
			at = i;
	pthread_mutex_unlock(&f->mu);
	return at;
}

void fx_setenv(struct fx *f, const char *name, const char *value)
{
	if (f->nenv < FX_ENV_MAX && snprintf(f->env[f->nenv], sizeof(f->env[0]), "%s=%s", name,
					     value) < (int)sizeof(f->env[0]))
		f->nenv++;
}

int fx_bridge_start(struct fx *f)
{
	int err = 0;
	char bin[256], url[128], logpath[512];
	const char *envp[FX_ENV_MAX + 4];
	int n = 0;
	f->bridge_starts++;
	snprintf(logpath, sizeof(logpath), "%s/sip-bridge-%d.log", f->dir, f->bridge_starts);
	for (int i = 0; i < f->nenv; i++)
		envp[n++] = f->env[i];
	envp[n++] = "LOG_FORMAT=kv";
	envp[n++] = "LOG_LEVEL=debug";
	envp[n++] = "INSTANCE=test";
	envp[n] = NULL;
	const char *argv[] = { test_bin(bin, sizeof(bin), "sip-bridge"), NULL };
	TEST_EQ_INT(test_spawn(&f->bridge_pid, argv, envp, logpath), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", f->health_port);
	TEST_EQ_INT(test_http_wait(url, 200, WAIT_MS), 0);
out:
	return err;
}

void fx_bridge_kill9(struct fx *f)
{
	test_kill(f->bridge_pid);
	f->bridge_pid = 0;
}

int fx_start(struct fx *f, const char *max_calls)
{
	int err = 0;
	char v[64];
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	f->dir = test_tmpdir("sip-bridge");
	TEST_ASSERT(f->dir != NULL);
	TEST_EQ_INT(test_nats_start(&f->nats), 0);
	f->sip_port = test_free_port_span(1); /* it listens on TCP and UDP */
	f->health_port = test_free_port();
	int rtp = 20000 + (int)(getpid() % 200) * 100;
	fx_setenv(f, "NATS_URL", f->nats.url);
	fx_setenv(f, "SECRETS_KEY", TEST_SECRETS_KEY);
	snprintf(v, sizeof(v), "127.0.0.1:%d", f->health_port);
	fx_setenv(f, "HEALTH_ADDR", v);
	snprintf(v, sizeof(v), "127.0.0.1:%d", f->sip_port);
	fx_setenv(f, "SIP_BIND", v);
	snprintf(v, sizeof(v), "%d", rtp);
	fx_setenv(f, "RTP_PORT_MIN", v);
	snprintf(v, sizeof(v), "%d", rtp + 99);
	fx_setenv(f, "RTP_PORT_MAX", v);
	TEST_EQ_INT(bus_connect(&f->bus, f->nats.url, "test-sip-bridge"), 0);
	TEST_EQ_INT(bus_ensure_streams(f->bus), 0);
	TEST_EQ_INT(bus_subscribe(f->bus, &f->sub, "calls.>", NULL, on_event, f), 0);
	TEST_EQ_INT(bus_subscribe(f->bus, &f->hb_sub, "owners.heartbeat", NULL, on_heartbeat, f),
		    0);
	if (max_calls) {
		fx_setenv(f, "MAX_CALLS", max_calls);
		TEST_EQ_INT(fx_bridge_start(f), 0);
	}
out:
	if (err)
		fprintf(stdout, "    bridge logs in %s\n", f->dir ? f->dir : "?");
	return err;
}

int fx_stop(struct fx *f, bool keep_logs)
{
	int err = 0;
	f->sub = bus_unsubscribe(f->sub);
	f->hb_sub = bus_unsubscribe(f->hb_sub);
	f->bus = bus_close(f->bus);
	if (f->bridge_pid > 0) {
		int code = -1;
		kill(f->bridge_pid, SIGTERM);
		if (test_wait_exit(f->bridge_pid, 10000, &code) != 0)
			test_kill(f->bridge_pid);
		if (code != 0) {
			test_failed(__FILE__, __LINE__, "sip-bridge exited %d on SIGTERM", code);
			err = 1;
			keep_logs = true;
		}
	}
	test_nats_destroy(&f->nats);
	for (int i = 0; i < f->nev; i++)
		free(f->ev[i].data);
	if (keep_logs)
		fprintf(stdout, "    logs kept in %s\n", f->dir);
	else if (f->dir)
		test_rmtree(f->dir);
	free(f->dir);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	return err;
}

int wait_tcp(int port, int timeout_ms)
{
	return test_wait_port(port, timeout_ms);
}

int sipp_start_opts(struct fx *f, struct sipp *s, const char *scenario, const char *const keys[],
			  const struct sipp_opts *o)
{
	char sf[512], port[16], calls[16], logpath[512], errfile[512], mp[16];
	const char *argv[96];
	int n = 0;
	static int seq;
	seq++;
	s->port = test_free_port();
	if (s->media_port <= 0)
		s->media_port = test_free_udp_span(3); /* sipp binds it and +2 */
	snprintf(mp, sizeof(mp), "%d", s->media_port);
	if (strchr(scenario, '/'))
		snprintf(sf, sizeof(sf), "%s", scenario);
	else
		snprintf(sf, sizeof(sf), "tests/sip/%s", scenario);
	snprintf(port, sizeof(port), "%d", s->port);
	snprintf(calls, sizeof(calls), "%d", o && o->calls > 0 ? o->calls : 1);
	snprintf(s->logfile, sizeof(s->logfile), "%s/sipp-%d.log", f->dir, seq);
	snprintf(s->msgfile, sizeof(s->msgfile), "%s/sipp-%d-messages.log", f->dir, seq);
	snprintf(errfile, sizeof(errfile), "%s/sipp-%d-errors.log", f->dir, seq);
	snprintf(logpath, sizeof(logpath), "%s/sipp-%d.out", f->dir, seq);
	const char *fixed[] = { "sipp",
				"-sf",
				sf,
				"-t",
				o && o->transport ? o->transport : "t1",
				"-i",
				"127.0.0.1",
				"-p",
				port,
				"-m",
				calls,
				"-nostdin",
				"-trace_logs",
				"-log_file",
				s->logfile,
				"-trace_msg",
				"-message_file",
				s->msgfile,
				"-trace_err",
				"-error_file",
				errfile,
				"-timeout",
				"30",
				"-timeout_error",
				"-mp",
				mp };
	for (size_t i = 0; i < CM_ARRAY_LEN(fixed); i++)
		argv[n++] = fixed[i];
	for (int i = 0; o && o->extra && o->extra[i] && n < 60; i++)
		argv[n++] = o->extra[i];
	for (int i = 0; keys && keys[i] && keys[i + 1] && n < 90; i += 2) {
		argv[n++] = "-key";
		argv[n++] = keys[i];
		argv[n++] = keys[i + 1];
	}
	argv[n] = NULL;
	int err = test_spawn(&s->pid, argv, NULL, logpath);
	if (err)
		return err;
	return wait_tcp(s->port, WAIT_MS);
}

int sipp_start(struct fx *f, struct sipp *s, const char *scenario, const char *const keys[])
{
	return sipp_start_opts(f, s, scenario, keys, NULL);
}

int sipp_wait(struct sipp *s)
{
	int code = -1;
	if (test_wait_exit(s->pid, 40000, &code) != 0) {
		test_kill(s->pid);
		s->pid = 0;
		return -1;
	}
	s->pid = 0;
	return code;
}

char *read_all(const char *path)
{
	FILE *fp = fopen(path, "r");
	if (!fp)
		return NULL;
	char *buf = calloc(1, 262144);
	if (buf && fread(buf, 1, 262143, fp) == 0 && ferror(fp))
		buf[0] = '\0';
	fclose(fp);
	return buf;
}

int scenario_with_code(struct fx *f, char *path, size_t len, const char *name, const char *code,
			     const char *verify)
{
	char src[256];
	snprintf(src, sizeof(src), "tests/sip/%s", name);
	char *text = read_all(src);
	if (!text)
		return ENOENT;
	snprintf(path, len, "%s/%s-%s.xml", f->dir, name, code);
	FILE *out = fopen(path, "w");
	if (!out) {
		free(text);
		return EIO;
	}
	for (const char *p = text; *p;) {
		const char *hit = strchr(p, '@');
		size_t n = hit ? (size_t)(hit - p) : strlen(p);
		fwrite(p, 1, n, out);
		if (!hit)
			break;
		if (strncmp(hit, "@CODE@", 6) == 0) {
			fputs(code, out);
			p = hit + 6;
		} else if (strncmp(hit, "@VERIFY@", 8) == 0) {
			fputs(verify ? verify : "", out);
			p = hit + 8;
		} else {
			fputc('@', out);
			p = hit + 1;
		}
	}
	fclose(out);
	free(text);
	return 0;
}

int publish_job_opts(struct fx *f, const char *call_id, int sip_port, const struct job_opts *o)
{
	char json[1536], msgid[64], dial_by[96] = "";
	char *sealed = test_seal_for_call(call_id, o->pass ? o->pass : "p");
	if (!sealed)
		return ENOMEM;
	if (o->dial_by)
		snprintf(dial_by, sizeof(dial_by), ",\"dial_by\":\"%s\"", o->dial_by);
	snprintf(json, sizeof(json),
		 "{\"v\":1,\"call_id\":\"%s\",\"room\":\"call-%s\",\"to_number\":\"%s\","
		 "\"from_number\":\"+918044319240\",\"ring_timeout_s\":%d,\"max_duration_s\":600,"
		 "\"created_at\":\"2026-11-23T19:00:00.123Z\"%s,\"trunk\":{\"trunk_id\":\"t1\","
		 "\"provider\":\"exotel\",\"sip_host\":\"127.0.0.1\",\"sip_port\":%d,\"transport\":"
		 "\"%s\","
		 "\"sip_domain\":\"exotel.test\",\"username\":\"%s\",\"password_sealed\":\"%s\"}}",
		 call_id, call_id, o->to_number ? o->to_number : "+918044319241",
		 o->ring_timeout_s > 0 ? o->ring_timeout_s : 30, dial_by, sip_port,
		 o->transport ? o->transport : "tcp", o->user ? o->user : "u", sealed);
	free(sealed);
	snprintf(msgid, sizeof(msgid), "dial-%s", call_id);
	return bus_js_publish(f->bus, "dial.exotel", o->msg_id ? o->msg_id : msgid, json,
			      strlen(json), 5000);
}

int publish_job(struct fx *f, const char *call_id, int sip_port, int ring_timeout_s,
		      const char *user, const char *pass)
{
	struct job_opts o = { .ring_timeout_s = ring_timeout_s, .user = user, .pass = pass };
	return publish_job_opts(f, call_id, sip_port, &o);
}

int expect_setup(struct fx *f, const char *id, bool ringing)
{
	int err = 0;
	char *dialing = await_event(f, id, "call_dialing", WAIT_MS);
	char *answered = await_event(f, id, "call_answered", WAIT_MS);
	TEST_ASSERT(dialing && answered);
	TEST_CONTAINS(dialing, "\"provider\":\"exotel\"");
	TEST_CONTAINS(dialing, "\"source\":\"sip-bridge/test\"");
	TEST_ASSERT(event_index(f, id, "call_dialing") < event_index(f, id, "call_answered"));
	if (ringing) {
		TEST_ASSERT(event_index(f, id, "call_ringing") >= 0);
		TEST_ASSERT(event_index(f, id, "call_ringing") <
			    event_index(f, id, "call_answered"));
	}
out:
	free(dialing);
	free(answered);
	return err;
}

int hangup(struct fx *f, const char *id, const char *reason)
{
	char subject[96], body[96];
	snprintf(subject, sizeof(subject), "cmd.calls.%s.hangup", id);
	snprintf(body, sizeof(body), "{\"v\":1,\"reason\":\"%s\"}", reason);
	return bus_publish(f->bus, subject, body, strlen(body));
}

double fx_rms(const int16_t *pcm, size_t n)
{
	double e = 0;
	for (size_t i = 0; i < n; i++)
		e += (double)pcm[i] * pcm[i];
	return n ? sqrt(e / (double)n) : 0;
}

double fx_g711_rms(const struct rtp_packet *r)
{
	int16_t pcm[480];
	size_t len = r->payload_len < 480 ? r->payload_len : 480;
	if (r->hdr.pt != 0 && r->hdr.pt != 8)
		return 0;
	g711_decode(r->hdr.pt == 8 ? G711_ALAW : G711_ULAW, pcm, r->payload, len);
	return fx_rms(pcm, len);
}

uint32_t fx_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int fx_speech_load(int16_t *pcm, size_t *framesp, size_t max, const char *dir, const char *wav_name,
			 const char *text)
{
	int err = 0, pid = 0, code = -1;
	char path[600], log[600];
	uint8_t *wav = NULL;
	int16_t *in = NULL;
	struct resampler *rs = NULL;
	snprintf(path, sizeof(path), "%s/%s", dir, wav_name);
	snprintf(log, sizeof(log), "%s/espeak-ng.log", dir);
	const char *argv[] = { "espeak-ng", "-w", path, text, NULL };
	TEST_EQ_INT(test_spawn(&pid, argv, NULL, log), 0);
	TEST_EQ_INT(test_wait_exit(pid, 20000, &code), 0);
	TEST_EQ_INT(code, 0);
	FILE *fp = fopen(path, "rb");
	TEST_ASSERT(fp != NULL);
	wav = malloc(4 << 20);
	size_t len = wav ? fread(wav, 1, 4 << 20, fp) : 0;
	fclose(fp);
	TEST_ASSERT(len > 44 && memcmp(wav, "RIFF", 4) == 0 && memcmp(wav + 8, "WAVE", 4) == 0);
	/* chunks: "fmt " (mono PCM16, its rate), then "data" */
	uint32_t rate = 0;
	const uint8_t *data = NULL;
	size_t dlen = 0;
	for (size_t off = 12; off + 8 <= len;) {
		uint32_t clen = fx_le32(wav + off + 4);
		if (memcmp(wav + off, "fmt ", 4) == 0 && clen >= 16 && off + 24 <= len)
			rate = fx_le32(wav + off + 12);
		if (memcmp(wav + off, "data", 4) == 0) {
			data = wav + off + 8;
			dlen = clen <= len - off - 8
				       ? clen
				       : len - off - 8; /* espeak-ng may leave 0x7fffffff */
			break;
		}
		off += 8 + clen + (clen & 1);
	}
	TEST_ASSERT(data != NULL && rate >= 8000 && rate <= 48000);
	size_t nin = dlen / 2;
	in = malloc(nin * sizeof(int16_t) + 1);
	TEST_ASSERT(in != NULL);
	for (size_t i = 0; i < nin; i++)
		in[i] = (int16_t)(data[2 * i] | data[2 * i + 1] << 8);
	TEST_EQ_INT(resampler_new(&rs, rate, 8000, RESAMPLER_QUALITY_VOIP), 0);
	size_t nout = max;
	TEST_EQ_INT(resampler_process(rs, pcm, &nout, in, nin), 0);
	*framesp = nout / G711_FRAME_SAMPLES;
out:
	resampler_free(rs);
	free(in);
	free(wav);
	return err;
}

int fx_rtp_socket(int *fdp, int *portp)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl)) {
		int err = errno;
		if (fd >= 0)
			close(fd);
		*fdp = -1;
		return err;
	}
	*fdp = fd;
	*portp = ntohs(sa.sin_port);
	return 0;
}

void fx_rtp_send(int fd, const struct sockaddr_in *to, const struct rtp_hdr *h,
		 const uint8_t *payload, size_t len)
{
	uint8_t pkt[RTP_PACKET_MAX];
	size_t n = 0;
	if (rtp_build(&n, pkt, sizeof(pkt), h, payload, len) == 0)
		(void)!sendto(fd, pkt, n, 0, (const struct sockaddr *)to, sizeof(*to));
}

void fx_frame_next(struct timespec *t)
{
	test_deadline_step(t, 20);
}

bool fx_frame_due(int fd, struct timespec *next)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t left = (int64_t)(next->tv_sec - now.tv_sec) * 1000 +
		       (next->tv_nsec - now.tv_nsec) / 1000000;
	if (left > 0) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		(void)poll(&p, 1, (int)left);
		return false;
	}
	fx_frame_next(next);
	return true;
}

static void *sink_main(void *arg)
{
	struct sink *k = arg;
	struct pollfd p[SINK_CONNS + 1];
	int n = 1;
	p[0].fd = k->lfd;
	p[0].events = POLLIN;
	while (!atomic_load(&k->stop)) {
		if (poll(p, (nfds_t)n, 50) <= 0)
			continue;
		if ((p[0].revents & POLLIN) && n <= SINK_CONNS) {
			int fd = accept(k->lfd, NULL, NULL);
			if (fd >= 0) {
				p[n].fd = fd;
				p[n].events = POLLIN;
				p[n].revents = 0;
				n++;
			}
		}
		for (int i = 1; i < n; i++) {
			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			char buf[4096];
			ssize_t r = recv(p[i].fd, buf, sizeof(buf), 0);
			if (r <= 0) {
				close(p[i].fd);
				p[i] = p[n - 1];
				n--;
				i--;
				continue;
			}
			pthread_mutex_lock(&k->mu);
			if (k->len + (size_t)r < SINK_TEXT_MAX) {
				memcpy(k->text + k->len, buf, (size_t)r);
				k->len += (size_t)r;
				k->text[k->len] = '\0';
			}
			pthread_cond_broadcast(&k->cv);
			pthread_mutex_unlock(&k->mu);
		}
	}
	for (int i = 1; i < n; i++)
		close(p[i].fd);
	return NULL;
}

int sink_start(struct sink *k)
{
	memset(k, 0, sizeof(*k));
	k->lfd = -1;
	pthread_mutex_init(&k->mu, NULL);
	pthread_cond_init(&k->cv, NULL);
	k->text = calloc(1, SINK_TEXT_MAX + 1);
	if (!k->text)
		return ENOMEM;
	k->port = test_free_port();
	k->lfd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(k->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)k->port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (k->lfd < 0 || bind(k->lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(k->lfd, 16))
		return errno ? errno : EIO;
	int err = pthread_create(&k->thread, NULL, sink_main, k);
	k->started = err == 0;
	return err;
}

static int sink_count_locked(struct sink *k, const char *to_number)
{
	char needle[96];
	int n = 0;
	snprintf(needle, sizeof(needle), "INVITE sip:%s@", to_number);
	for (const char *p = k->text; (p = strstr(p, needle)) != NULL; p++)
		n += p == k->text || p[-1] == '\n';
	return n;
}

int sink_invites(struct sink *k, const char *to_number)
{
	pthread_mutex_lock(&k->mu);
	int n = sink_count_locked(k, to_number);
	pthread_mutex_unlock(&k->mu);
	return n;
}

bool sink_await(struct sink *k, const char *to_number, int want, int timeout_ms)
{
	struct timespec dl;
	deadline_in(&dl, timeout_ms);
	pthread_mutex_lock(&k->mu);
	while (sink_count_locked(k, to_number) < want)
		if (pthread_cond_timedwait(&k->cv, &k->mu, &dl) == ETIMEDOUT)
			break;
	bool ok = sink_count_locked(k, to_number) >= want;
	pthread_mutex_unlock(&k->mu);
	if (!ok)
		fprintf(stdout, "    the sink saw no INVITE for %s within %d ms\n", to_number,
			timeout_ms);
	return ok;
}

void sink_stop(struct sink *k)
{
	if (!k->text)
		return;
	atomic_store(&k->stop, true);
	if (k->started)
		pthread_join(k->thread, NULL);
	if (k->lfd >= 0)
		close(k->lfd);
	free(k->text);
	k->text = NULL;
	pthread_mutex_destroy(&k->mu);
	pthread_cond_destroy(&k->cv);
}
