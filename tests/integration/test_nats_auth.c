/* NATS as NATS intends it (issue 13): against a real nats-server running the
 * config scripts/nats-auth.sh generates, an outsider can do nothing, each
 * service identity is refused exactly what it must not do and allowed what
 * it needs, the five services start and become ready with their own
 * identities, and no NATS secret reaches a log. */
#include "bus/bus.h"
#include "core/core.h"
#include "harness/test.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define WAIT_MS 5000

/* ---- connecting as somebody ------------------------------------------- */

struct ident {
	struct bus *bus;
	char user[32], password[128], inbox[64];
};

static int connect_as(struct ident *id, const struct test_nats *n, const char *user)
{
	memset(id, 0, sizeof(*id));
	snprintf(id->user, sizeof(id->user), "%s", user);
	snprintf(id->inbox, sizeof(id->inbox), "_INBOX.%s", user);
	int err = test_nats_password(n, user, id->password, sizeof(id->password));
	if (err)
		return err;
	struct bus_auth a = { .user = id->user,
			      .password = id->password,
			      .inbox_prefix = id->inbox };
	char name[64];
	snprintf(name, sizeof(name), "test-%s", user);
	err = bus_connect_auth(&id->bus, n->url, name, &a);
	for (int i = 0; !err && i < WAIT_MS / 10 && !bus_connected(id->bus); i++)
		usleep(10000);
	if (!err && !bus_connected(id->bus))
		err = ETIMEDOUT;
	return err;
}

static void ident_close(struct ident *id)
{
	id->bus = bus_close(id->bus);
}

/* Waits until the server has refused `bus` something more than `before`
 * times; true when it has. */
static bool denied_since(struct bus *bus, uint64_t before)
{
	for (int i = 0; i < WAIT_MS / 10; i++) {
		if (bus_denied(bus) > before)
			return true;
		usleep(10000);
	}
	return false;
}

/* ---- what an observer saw ---------------------------------------------- */

#define SEEN_MAX 64
struct seen {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	char subjects[SEEN_MAX][128];
	int n;
};

static void seen_init(struct seen *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cond, NULL);
}

static void seen_destroy(struct seen *s)
{
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->mu);
}

static void on_seen(const struct bus_msg *msg, void *arg)
{
	struct seen *s = arg;
	pthread_mutex_lock(&s->mu);
	if (s->n < SEEN_MAX)
		snprintf(s->subjects[s->n++], sizeof(s->subjects[0]), "%s", msg->subject);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->mu);
}

static bool seen_has(struct seen *s, const char *subject)
{
	bool has = false;
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < s->n; i++)
		has = has || strcmp(s->subjects[i], subject) == 0;
	pthread_mutex_unlock(&s->mu);
	return has;
}

/* Waits until `subject` has been seen; false after WAIT_MS. */
static bool seen_wait(struct seen *s, const char *subject)
{
	struct timespec dl;
	time_deadline(&dl, CLOCK_REALTIME, WAIT_MS);
	pthread_mutex_lock(&s->mu);
	for (;;) {
		for (int i = 0; i < s->n; i++) {
			if (strcmp(s->subjects[i], subject) == 0) {
				pthread_mutex_unlock(&s->mu);
				return true;
			}
		}
		if (pthread_cond_timedwait(&s->cond, &s->mu, &dl) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&s->mu);
	return false;
}

/* `user` publishing `subject` is refused: the server says so, and an
 * observer of it never gets it (the same connection's allowed `marker`,
 * published after it, arrives first: order is kept per connection). */
static int refused_publish(struct ident *who, struct seen *obs, const char *subject,
			   const char *marker)
{
	int err = 0;
	uint64_t before = bus_denied(who->bus);
	TEST_EQ_INT(bus_publish(who->bus, subject, "{}", 2), 0);
	if (marker) {
		TEST_EQ_INT(bus_publish(who->bus, marker, "{}", 2), 0);
		TEST_ASSERT(seen_wait(obs, marker));
	}
	if (!denied_since(who->bus, before)) {
		test_failed(__FILE__, __LINE__, "%s may publish %s", who->user, subject);
		err = 1;
		goto out;
	}
	if (obs && seen_has(obs, subject)) {
		test_failed(__FILE__, __LINE__, "%s's %s was delivered", who->user, subject);
		err = 1;
	}
out:
	return err;
}

static void on_nothing(const struct bus_msg *msg, void *arg)
{
	(void)msg;
	(void)arg;
}

static int refused_subscribe(struct ident *who, const char *subject)
{
	int err = 0;
	struct bus_sub *sub = NULL;
	uint64_t before = bus_denied(who->bus);
	TEST_EQ_INT(bus_subscribe(who->bus, &sub, subject, NULL, on_nothing, NULL), 0);
	if (!denied_since(who->bus, before)) {
		test_failed(__FILE__, __LINE__, "%s may subscribe %s", who->user, subject);
		err = 1;
	}
out:
	sub = bus_unsubscribe(sub);
	return err;
}

/* The whole of a (small) file, NUL-terminated; NULL when unreadable. */
static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap + 1);
	if (buf) {
		len = fread(buf, 1, cap, f);
		buf[len] = '\0';
	}
	fclose(f);
	return buf;
}

/* ---- tests -------------------------------------------------------------- */

/* No credentials, or wrong ones: the server refuses the connection, so the
 * outsider can neither publish nor subscribe anything. */
static int test_outsider_refused(void)
{
	int err = 0;
	struct test_nats n = { 0 };
	struct bus *anon = NULL, *wrong = NULL;
	char *log = NULL;
	TEST_EQ_INT(test_nats_start_auth(&n), 0);

	TEST_EQ_INT(bus_connect(&anon, n.url, "outsider"), 0);
	struct bus_auth a = { .user = "api-gateway", .password = "not-the-password" };
	TEST_EQ_INT(bus_connect_auth(&wrong, n.url, "guesser", &a), 0);
	/* the server says why: an authorization violation, counted as denied */
	TEST_ASSERT(denied_since(anon, 0));
	TEST_ASSERT(denied_since(wrong, 0));
	TEST_ASSERT(!bus_connected(anon));
	TEST_ASSERT(!bus_connected(wrong));
	struct bus_sub *sub = NULL;
	char *reply = NULL;
	TEST_ASSERT(bus_request(anon, &reply, NULL, "rooms.create", "{}", 2, 500) != 0);
	TEST_ASSERT(bus_js_publish(anon, "dial.exotel", "x", "{}", 2, 500) != 0);
	TEST_ASSERT(bus_js_pull_sub(anon, &sub, "DIALS", "sip-bridge", "dial.exotel") != 0);
	TEST_ASSERT(sub == NULL);
	/* and the server tells why: both were refused at CONNECT */
	char path[512];
	snprintf(path, sizeof(path), "%s/nats.log", n.dir);
	log = read_file(path);
	TEST_ASSERT(log != NULL);
	TEST_CONTAINS(log, ":C:outsider\" - authentication error");
	TEST_CONTAINS(log, ":C:guesser\" - authentication error - User \"api-gateway\"");
	free(log);
	log = NULL;
out:
	free(log);
	anon = bus_close(anon);
	wrong = bus_close(wrong);
	test_nats_destroy(&n);
	return err;
}

static void on_respond(const struct bus_msg *msg, void *arg)
{
	if (bus_respond(arg, msg, "{\"ok\":true}", 11) != 0)
		fprintf(stdout, "    respond to %s failed\n", msg->subject);
}

static enum bus_ack ack_count(const struct bus_msg *msg, void *arg)
{
	(void)msg;
	(*(int *)arg)++;
	return BUS_ACK;
}

/* Each identity is refused what it must not do and allowed what it needs. */
static int test_identities_least_privilege(void)
{
	int err = 0;
	struct test_nats n = { 0 };
	struct ident gw = { 0 }, rm = { 0 }, tw = { 0 }, sb = { 0 }, ag = { 0 }, vw = { 0 };
	struct bus_sub *vsub = NULL, *hsub = NULL, *pull = NULL, *rsub = NULL;
	struct seen obs, hang;
	seen_init(&obs);
	seen_init(&hang);

	TEST_EQ_INT(test_nats_start_auth(&n), 0);
	TEST_EQ_INT(connect_as(&gw, &n, "api-gateway"), 0);
	TEST_EQ_INT(connect_as(&rm, &n, "room-manager"), 0);
	TEST_EQ_INT(connect_as(&tw, &n, "twilio-dialer"), 0);
	TEST_EQ_INT(connect_as(&sb, &n, "sip-bridge"), 0);
	TEST_EQ_INT(connect_as(&ag, &n, "agent-worker"), 0);
	TEST_EQ_INT(connect_as(&vw, &n, "viewer"), 0);
	/* every service may make sure the streams exist */
	TEST_EQ_INT(bus_ensure_streams(gw.bus), 0);
	TEST_EQ_INT(bus_ensure_streams(ag.bus), 0);
	TEST_EQ_INT(bus_denied(ag.bus), 0);

	/* the viewer reads every event … */
	TEST_EQ_INT(bus_subscribe(vw.bus, &vsub, "calls.>", NULL, on_seen, &obs), 0);
	const char *id = "6b1f0c1e-3a57-4a52-9d0b-2d7a2b9c0001";
	char answered[96], ended[96], dtmf[96], rec[96], transcript[96], hangup[96];
	snprintf(answered, sizeof(answered), "calls.%s.call_answered", id);
	snprintf(ended, sizeof(ended), "calls.%s.call_ended", id);
	snprintf(dtmf, sizeof(dtmf), "calls.%s.call_dtmf", id);
	snprintf(rec, sizeof(rec), "calls.%s.recording_ready", id);
	snprintf(transcript, sizeof(transcript), "calls.%s.transcript", id);
	snprintf(hangup, sizeof(hangup), "cmd.calls.%s.hangup", id);
	TEST_EQ_INT(bus_publish(sb.bus, answered, "{}", 2), 0);
	TEST_ASSERT(seen_wait(&obs, answered));
	TEST_EQ_INT(bus_denied(sb.bus), 0);
	/* … and publishes nothing, not even an event */
	TEST_EQ_INT(refused_publish(&vw, &obs, ended, NULL), 0);
	TEST_EQ_INT(refused_publish(&vw, NULL, hangup, NULL), 0);
	TEST_EQ_INT(refused_subscribe(&vw, "dial.>"), 0);
	TEST_EQ_INT(refused_subscribe(&vw, "cmd.>"), 0);

	/* a leg's SIP events come only from the services that own legs */
	snprintf(answered, sizeof(answered), "calls.%s.call_answered", "forged-by-room-manager");
	TEST_EQ_INT(refused_publish(&rm, &obs, answered, rec), 0);
	TEST_EQ_INT(refused_publish(&ag, &obs, dtmf, transcript), 0);
	snprintf(answered, sizeof(answered), "calls.%s.call_answered", "forged-by-api-gateway");
	TEST_EQ_INT(refused_publish(&gw, &obs, answered, NULL), 0);
	TEST_EQ_INT(bus_denied(rm.bus), 1);

	/* hangup commands only from api-gateway and agent-worker */
	TEST_EQ_INT(bus_subscribe(sb.bus, &hsub, "cmd.calls.*.hangup", NULL, on_seen, &hang), 0);
	TEST_EQ_INT(bus_publish(gw.bus, hangup, "{}", 2), 0);
	TEST_ASSERT(seen_wait(&hang, hangup));
	TEST_EQ_INT(refused_publish(&rm, NULL, hangup, NULL), 0);
	TEST_EQ_INT(refused_publish(&tw, NULL, hangup, NULL), 0);
	TEST_EQ_INT(refused_publish(&sb, NULL, hangup, NULL), 0);

	/* only api-gateway enqueues dial jobs; nobody reads them off the wire */
	uint64_t msgs = 0;
	uint64_t before = bus_denied(ag.bus);
	TEST_ASSERT(bus_js_publish(ag.bus, "dial.exotel", "forged-1", "{}", 2, 1000) != 0);
	TEST_ASSERT(denied_since(ag.bus, before));
	TEST_EQ_INT(refused_publish(&ag, NULL, "dial.exotel", NULL), 0);
	TEST_EQ_INT(refused_publish(&tw, NULL, "dial.exotel", NULL), 0);
	TEST_EQ_INT(refused_publish(&sb, NULL, "dial.twilio", NULL), 0);
	TEST_EQ_INT(bus_js_stream_msgs(gw.bus, "DIALS", &msgs), 0);
	TEST_EQ_INT(msgs, 0);
	TEST_EQ_INT(refused_subscribe(&ag, "dial.>"), 0);
	TEST_EQ_INT(refused_subscribe(&sb, "dial.exotel"), 0);
	TEST_EQ_INT(bus_js_publish(gw.bus, "dial.exotel", "job-1", "{}", 2, 5000), 0);
	TEST_EQ_INT(bus_js_stream_msgs(gw.bus, "DIALS", &msgs), 0);
	TEST_EQ_INT(msgs, 1);

	/* only sip-bridge consumes dial.exotel, and only through its consumer,
	 * which api-gateway creates: the workers cannot create or change theirs */
	before = bus_denied(sb.bus);
	TEST_ASSERT(bus_js_pull_sub(sb.bus, &pull, "DIALS", "sip-bridge", "dial.exotel") != 0);
	TEST_ASSERT(denied_since(sb.bus, before));
	TEST_EQ_INT(bus_js_ensure_consumer(gw.bus, "DIALS", "sip-bridge", "dial.exotel"), 0);
	TEST_EQ_INT(bus_js_ensure_consumer(gw.bus, "DIALS", "twilio-dialer", "dial.twilio"), 0);
	before = bus_denied(ag.bus);
	TEST_ASSERT(bus_js_pull_sub(ag.bus, &pull, "DIALS", "sip-bridge", "dial.exotel") != 0);
	TEST_ASSERT(denied_since(ag.bus, before));
	before = bus_denied(tw.bus);
	TEST_ASSERT(bus_js_pull_sub(tw.bus, &pull, "DIALS", "sip-bridge", "dial.exotel") != 0);
	TEST_ASSERT(denied_since(tw.bus, before));
	TEST_EQ_INT(bus_js_pull_sub(sb.bus, &pull, "DIALS", "sip-bridge", "dial.twilio"), EINVAL);
	before = bus_denied(sb.bus);
	TEST_EQ_INT(bus_js_ensure_consumer(sb.bus, "DIALS", "sip-bridge-2", "dial.twilio"),
		    ETIMEDOUT);
	TEST_ASSERT(denied_since(sb.bus, before));
	TEST_ASSERT(pull == NULL);
	TEST_EQ_INT(bus_js_pull_sub(sb.bus, &pull, "DIALS", "sip-bridge", "dial.exotel"), 0);
	int got = 0;
	TEST_EQ_INT(bus_js_fetch(pull, 1, WAIT_MS, ack_count, &got, NULL), 0);
	TEST_EQ_INT(got, 1);
	pull = bus_unsubscribe(pull);
	TEST_EQ_INT(bus_js_publish(gw.bus, "dial.twilio", "job-2", "{}", 2, 5000), 0);
	TEST_EQ_INT(bus_js_pull_sub(tw.bus, &pull, "DIALS", "twilio-dialer", "dial.twilio"), 0);
	TEST_EQ_INT(bus_js_fetch(pull, 1, WAIT_MS, ack_count, &got, NULL), 0);
	TEST_EQ_INT(got, 2);
	pull = bus_unsubscribe(pull);
	/* an ack is a publish of its own: the work queue empties once the
	 * server has both (bounded wait, not a sleep) */
	for (int64_t end = time_mono_ms() + WAIT_MS;;) {
		TEST_EQ_INT(bus_js_stream_msgs(gw.bus, "DIALS", &msgs), 0);
		if (msgs == 0 || time_mono_ms() >= end)
			break;
		test_nap_ms(10);
	}
	TEST_EQ_INT(msgs, 0);

	/* replies travel to the requester's own inbox, which nobody else reads;
	 * a responder may answer a request it got (allow_responses) */
	TEST_EQ_INT(refused_subscribe(&ag, "_INBOX.api-gateway.>"), 0);
	TEST_EQ_INT(refused_subscribe(&ag, "_INBOX.>"), 0);
	TEST_EQ_INT(bus_subscribe(rm.bus, &rsub, "rooms.create", "room-manager", on_respond,
				  rm.bus),
		    0);
	char *reply = NULL;
	TEST_EQ_INT(bus_request(gw.bus, &reply, NULL, "rooms.create", "{}", 2, WAIT_MS), 0);
	TEST_EQ_STR(reply, "{\"ok\":true}");
	free(reply);
	reply = NULL;
	before = bus_denied(ag.bus);
	TEST_ASSERT(bus_request(ag.bus, &reply, NULL, "rooms.create", "{}", 2, 500) != 0);
	TEST_ASSERT(denied_since(ag.bus, before));
	/* none of the allowed actions above was refused */
	TEST_EQ_INT(bus_denied(gw.bus), 1); /* its forged call_answered */
	TEST_EQ_INT(bus_denied(rm.bus), 2); /* its call_answered and hangup */
out:
	vsub = bus_unsubscribe(vsub);
	hsub = bus_unsubscribe(hsub);
	rsub = bus_unsubscribe(rsub);
	pull = bus_unsubscribe(pull);
	ident_close(&gw);
	ident_close(&rm);
	ident_close(&tw);
	ident_close(&sb);
	ident_close(&ag);
	ident_close(&vw);
	seen_destroy(&obs);
	seen_destroy(&hang);
	test_nats_destroy(&n);
	return err;
}

/* TLS when configured: with the server's CA and a client certificate the
 * identity connects and works; without TLS, or without a certificate, the
 * server refuses it. */
static int test_tls_required(void)
{
	int err = 0;
	struct test_nats n = { 0 };
	struct bus *ok = NULL, *plain = NULL, *nocert = NULL;
	struct bus_sub *sub = NULL;
	struct seen obs;
	seen_init(&obs);
	char pw[128], ca[512], cert[512], key[512], plain_url[64];
	TEST_EQ_INT(test_nats_start_tls(&n), 0);
	TEST_ASSERT(strncmp(n.url, "tls://", 6) == 0);
	snprintf(ca, sizeof(ca), "%s/tls/ca.pem", n.dir);
	snprintf(cert, sizeof(cert), "%s/tls/client.pem", n.dir);
	snprintf(key, sizeof(key), "%s/tls/client-key.pem", n.dir);
	TEST_EQ_INT(test_nats_password(&n, "sip-bridge", pw, sizeof(pw)), 0);

	struct bus_auth a = { .user = "sip-bridge",
			      .password = pw,
			      .inbox_prefix = "_INBOX.sip-bridge",
			      .tls_ca = ca,
			      .tls_cert = cert,
			      .tls_key = key };
	TEST_EQ_INT(bus_connect_auth(&ok, n.url, "tls-ok", &a), 0);
	for (int i = 0; i < WAIT_MS / 10 && !bus_connected(ok); i++)
		usleep(10000);
	TEST_ASSERT(bus_connected(ok));
	TEST_EQ_INT(bus_subscribe(ok, &sub, "calls.*.call_ended", NULL, on_seen, &obs), 0);
	TEST_EQ_INT(bus_publish(ok, "calls.tls-check.call_ended", "{}", 2), 0);
	TEST_ASSERT(seen_wait(&obs, "calls.tls-check.call_ended"));
	TEST_EQ_INT(bus_denied(ok), 0);

	struct bus_auth no_tls = a;
	no_tls.tls_ca = no_tls.tls_cert = no_tls.tls_key = NULL;
	snprintf(plain_url, sizeof(plain_url), "nats://127.0.0.1:%d", n.port);
	TEST_EQ_INT(bus_connect_auth(&plain, plain_url, "tls-plain", &no_tls), 0);
	struct bus_auth no_cert = a;
	no_cert.tls_cert = no_cert.tls_key = NULL;
	TEST_EQ_INT(bus_connect_auth(&nocert, n.url, "tls-nocert", &no_cert), 0);
	/* the server refuses both, and they give up (counted as denied) */
	TEST_ASSERT(denied_since(plain, 0));
	TEST_ASSERT(denied_since(nocert, 0));
	TEST_ASSERT(!bus_connected(plain));
	TEST_ASSERT(!bus_connected(nocert));
out:
	sub = bus_unsubscribe(sub);
	ok = bus_close(ok);
	plain = bus_close(plain);
	nocert = bus_close(nocert);
	seen_destroy(&obs);
	test_nats_destroy(&n);
	return err;
}

/* callmesh-events (what `make up` follows events with) works as viewer. */
static int test_viewer_tool_reads_events(void)
{
	int err = 0, pid = 0;
	struct test_nats n = { 0 };
	struct ident sb = { 0 };
	char bin[256], env_url[96], viewer[3][160], logpath[600], *log = NULL;
	char *dir = test_tmpdir("events-tool");
	TEST_EQ_INT(test_nats_start_auth(&n), 0);
	TEST_EQ_INT(connect_as(&sb, &n, "sip-bridge"), 0);
	TEST_EQ_INT(test_nats_user_env(&n, "viewer", viewer), 0);
	snprintf(env_url, sizeof(env_url), "NATS_URL=%s", n.url);
	snprintf(logpath, sizeof(logpath), "%s/events.log", dir);
	const char *argv[] = { test_bin(bin, sizeof(bin), "callmesh-events"), "calls.>", NULL };
	const char *envp[] = { env_url, viewer[0], viewer[1], viewer[2], NULL };
	TEST_EQ_INT(test_spawn(&pid, argv, envp, logpath), 0);
	/* publish until the tool has subscribed and printed one (bounded) */
	bool seen = false;
	for (int i = 0; i < 100 && !seen; i++) {
		TEST_EQ_INT(bus_publish(sb.bus, "calls.viewer-check.call_answered", "{\"x\":1}", 7),
			    0);
		usleep(50000);
		free(log);
		log = read_file(logpath);
		seen = log && strstr(log, "calls.viewer-check.call_answered {\"x\":1}");
	}
	TEST_ASSERT(seen);
	TEST_ASSERT(!strstr(log, "cannot"));
out:
	free(log);
	if (pid)
		test_kill(pid);
	ident_close(&sb);
	test_nats_destroy(&n);
	test_rmtree(dir);
	free(dir);
	return err;
}

/* ---- the five services with their own identities ---------------------- */

static const char *const services[] = {
	"api-gateway", "room-manager", "twilio-dialer", "sip-bridge", "agent-worker",
};

struct running {
	int pid;
	int health_port;
	char env_nats[300], env_health[64], env_db[300], env_api[64], env_sip[64];
	char user[3][160];
};

/* room-manager gets its credentials inside NATS_URL (userinfo), the others
 * through NATS_USER/NATS_PASSWORD; each its own inbox prefix. */
static int start_service(struct running *r, const char *svc, const struct test_nats *n,
			 const char *db_url, const char *logdir)
{
	char bin[256], logpath[512], pw[128];
	int err = test_nats_user_env(n, svc, r->user);
	if (!err)
		err = test_nats_password(n, svc, pw, sizeof(pw));
	if (err)
		return err;
	bool in_url = strcmp(svc, "room-manager") == 0;
	if (in_url)
		snprintf(r->env_nats, sizeof(r->env_nats), "NATS_URL=nats://%s:%s@127.0.0.1:%d",
			 svc, pw, n->port);
	else
		snprintf(r->env_nats, sizeof(r->env_nats), "NATS_URL=%s", n->url);
	r->health_port = test_free_port();
	snprintf(r->env_health, sizeof(r->env_health), "HEALTH_ADDR=127.0.0.1:%d", r->health_port);
	snprintf(r->env_db, sizeof(r->env_db), "DATABASE_URL=%s", db_url);
	snprintf(r->env_api, sizeof(r->env_api), "API_ADDR=127.0.0.1:%d", test_free_port());
	snprintf(r->env_sip, sizeof(r->env_sip), "SIP_BIND=127.0.0.1:%d", test_free_port_span(1));
	snprintf(logpath, sizeof(logpath), "%s/%s.log", logdir, svc);
	const char *argv[] = { test_bin(bin, sizeof(bin), svc), NULL };
	const char *envp[] = { r->env_nats,
			       r->env_health,
			       r->env_db,
			       r->env_api,
			       r->env_sip,
			       in_url ? r->user[2] : r->user[0],
			       r->user[1],
			       r->user[2],
			       "MIGRATIONS_DIR=services/api-gateway/migrations",
			       "API_KEYS=test-key-0001",
			       TEST_GW_SECRETS_ENV,
			       "LOG_FORMAT=kv",
			       "LOG_LEVEL=debug",
			       NULL };
	if (in_url) /* no NATS_PASSWORD either: the URL carries it */
		envp[6] = r->user[2];
	return test_spawn(&r->pid, argv, envp, logpath);
}

/* Every service starts and becomes ready against the auth-on server (it is
 * allowed what it needs: nothing it does is refused), and neither its
 * password nor a URL's userinfo reaches its log. */
static int test_services_ready_with_own_identity(void)
{
	int err = 0;
	struct test_nats n = { 0 };
	struct test_pg pg = { 0 };
	struct running run[CM_ARRAY_LEN(services)];
	char url[128], pw[CM_ARRAY_LEN(services)][128], path[600], *log = NULL;
	char *logdir = test_tmpdir("auth-svc-logs");
	memset(run, 0, sizeof(run));

	TEST_EQ_INT(test_nats_start_auth(&n), 0);
	TEST_EQ_INT(test_pg_start(&pg), 0);
	for (size_t i = 0; i < CM_ARRAY_LEN(services); i++) {
		TEST_EQ_INT(test_nats_password(&n, services[i], pw[i], sizeof(pw[i])), 0);
		TEST_EQ_INT(start_service(&run[i], services[i], &n, pg.url, logdir), 0);
	}
	for (size_t i = 0; i < CM_ARRAY_LEN(services); i++) {
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", run[i].health_port);
		if (test_http_wait(url, 200, 30000)) {
			test_failed(__FILE__, __LINE__, "%s never became ready (logs in %s)",
				    services[i], logdir);
			err = 1;
			goto out;
		}
	}
	/* ready, and the persister has created the DIALS consumers the workers
	 * bind to: give the workers' fetch loops their round trip */
	for (size_t i = 0; i < CM_ARRAY_LEN(services); i++) {
		int code = -1;
		kill(run[i].pid, SIGTERM);
		TEST_EQ_INT(test_wait_exit(run[i].pid, 10000, &code), 0);
		run[i].pid = 0;
		TEST_EQ_INT(code, 0);
	}
	for (size_t i = 0; i < CM_ARRAY_LEN(services); i++) {
		snprintf(path, sizeof(path), "%s/%s.log", logdir, services[i]);
		log = read_file(path);
		TEST_ASSERT(log != NULL);
		for (size_t j = 0; j < CM_ARRAY_LEN(services); j++) {
			if (strstr(log, pw[j])) {
				test_failed(__FILE__, __LINE__, "%s's log holds %s's password",
					    services[i], services[j]);
				err = 1;
				goto out;
			}
		}
		/* a DIALS worker that starts before api-gateway has created its
		 * consumer tries to create it, and may not: that one is expected */
		char expected[128];
		snprintf(expected, sizeof(expected), "DURABLE.CREATE.DIALS.%s\\\"", services[i]);
		bool other = false;
		for (const char *p = strstr(log, "bus_not_permitted"); p;
		     p = strstr(p + 1, "bus_not_permitted")) {
			const char *eol = strchr(p, '\n');
			const char *hit = strstr(p, expected);
			other = other || !hit || (eol && hit > eol);
		}
		if (other || strstr(log, "bus_auth_failed")) {
			test_failed(__FILE__, __LINE__,
				    "%s was refused something it needs (see %s)", services[i],
				    path);
			err = 1;
			goto out;
		}
		TEST_CONTAINS(log, "NATS_PASSWORD=");
		if (strcmp(services[i], "room-manager") == 0)
			TEST_CONTAINS(log, "NATS_URL=nats://<redacted>@127.0.0.1:");
		else
			TEST_CONTAINS(log, "NATS_PASSWORD=<redacted>");
		free(log);
		log = NULL;
	}
out:
	free(log);
	for (size_t i = 0; i < CM_ARRAY_LEN(services); i++)
		test_kill(run[i].pid);
	test_pg_destroy(&pg);
	test_nats_destroy(&n);
	if (!err)
		test_rmtree(logdir);
	free(logdir);
	return err;
}

/* The identity variables are checked at start, each error naming one. */
static int test_identity_config_errors(void)
{
	int err = 0;
	static const struct {
		const char *env[3];
		const char *names;
	} cases[] = {
		{ { "NATS_USER=api-gateway", NULL }, "NATS_PASSWORD: is required with NATS_USER" },
		{ { "NATS_PASSWORD=s3cret-pw-0001", NULL },
		  "NATS_USER: is required with NATS_PASSWORD" },
		{ { "NATS_CREDS=/nonexistent/x.creds", NULL },
		  "NATS_CREDS: \"/nonexistent/x.creds\" is not a readable file" },
		{ { "NATS_CREDS=/etc/hostname", "NATS_USER=u", "NATS_PASSWORD=p" },
		  "set one of them" },
		{ { "NATS_NKEY=UABC", "NATS_NKEY_SEED=/etc/hostname" },
		  "NATS_NKEY: \"UABC\" is not a user public nkey" },
		{ { "NATS_NKEY_SEED=SUAIBDPBAUTWCWBKIO6XHQNINK5FWJW4OHLXC3HQ2KFE4PEJUA44CNHTC4",
		    NULL },
		  "NATS_NKEY_SEED: must name the file" },
		{ { "NATS_TLS_CERT=/etc/hostname", NULL },
		  "NATS_TLS_KEY: is required with NATS_TLS_CERT" },
		{ { "NATS_TLS_CA=/nonexistent/ca.pem", NULL },
		  "NATS_TLS_CA: \"/nonexistent/ca.pem\"" },
		{ { "NATS_INBOX_PREFIX=_INBOX.>", NULL }, "NATS_INBOX_PREFIX" },
		{ { "NATS_URL=http://u:s3cret-pw-0002@127.0.0.1:4222", NULL },
		  "NATS_URL: \"http://<redacted>@127.0.0.1:4222\"" },
	};
	for (size_t i = 0; i < CM_ARRAY_LEN(cases); i++) {
		char bin[256], *out = NULL;
		const char *argv[] = { test_bin(bin, sizeof(bin), "agent-worker"), NULL };
		int st = test_run_cmd(&out, argv, cases[i].env, 10000);
		bool ok = st > 0 && out && strstr(out, cases[i].names) &&
			  !strstr(out, "s3cret-pw") && !strstr(out, "SUAIBDPBAUTW");
		if (!ok)
			test_failed(__FILE__, __LINE__, "case %zu: exit %d, output: %s", i, st,
				    out ? out : "");
		free(out);
		TEST_ASSERT(ok);
	}
out:
	return err;
}

static const struct test tests[] = {
	{ "outsider_refused", test_outsider_refused },
	{ "identities_least_privilege", test_identities_least_privilege },
	{ "tls_required", test_tls_required },
	{ "viewer_tool_reads_events", test_viewer_tool_reads_events },
	{ "services_ready_with_own_identity", test_services_ready_with_own_identity },
	{ "identity_config_errors", test_identity_config_errors },
};

int main(int argc, char **argv)
{
	log_setup("test_nats_auth", LOG_WARN, false);
	int rc = test_run(__FILE__, tests, CM_ARRAY_LEN(tests), argc, argv);
	bus_library_shutdown(2000);
	return rc;
}
