/* api-gateway's end-of-call webhook against a real nats-server, PostgreSQL
 * and a scripted HTTP receiver (libs/httpd), driven in-process. */
#include "../services/api-gateway/persist.h"
#include "../services/api-gateway/webhook.h"
#include "bus/bus.h"
#include "egress/egress.h"
#include "db/db.h"
#include "harness/test.h"
#include "httpd/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define MIGRATIONS "services/api-gateway/migrations"
#define SOURCE "api-gateway/test"
#define WAIT_MS 20000

/* The receiver answers statuses from its script, then 200. */
struct receiver {
	pthread_mutex_t mu;
	unsigned script[8];
	int nscript;
	int requests;
	int ok;
	char *last_body;
	char last_ts[32];
	char last_sig[128];
};

static void on_hook(struct httpd_req *req, void *arg)
{
	struct receiver *r = arg;
	size_t len = 0;
	const char *body = httpd_req_body(req, &len);
	pthread_mutex_lock(&r->mu);
	unsigned status = r->requests < r->nscript ? r->script[r->requests] : 200;
	r->requests++;
	if (status == 200)
		r->ok++;
	free(r->last_body);
	r->last_body = body ? strndup(body, len) : NULL;
	const char *ts = httpd_req_header(req, "X-Callmesh-Timestamp");
	const char *sig = httpd_req_header(req, "X-Callmesh-Signature");
	snprintf(r->last_ts, sizeof(r->last_ts), "%s", ts ? ts : "");
	snprintf(r->last_sig, sizeof(r->last_sig), "%s", sig ? sig : "");
	pthread_mutex_unlock(&r->mu);
	httpd_reply_raw(req, status, "application/json", "{}", 2);
}

static const struct httpd_route hook_routes[] = {
	{ "POST", "/hook", on_hook, true },
};

struct env {
	struct test_nats n;
	struct test_pg pg;
	struct bus *bus;
	struct db *db;
	struct persist *p;
	struct webhook *wh;
	struct httpd *h;
	struct receiver r;
	char hook_url[128];
	bool nats_up, pg_up;
};

/* Webhooks here go to 127.0.0.1: allowed, as OUTBOUND_ALLOW_PRIVATE=true
 * would, unless a test says otherwise; always signed. */
static const struct webhook_opts local_opts = { .signing_secret = TEST_WEBHOOK_SECRET,
						 .allow_private = true };

static int env_up(struct env *e, const struct webhook_opts *given)
{
	int err;
	char addr[64];
	struct webhook_opts o = given ? *given : local_opts;
	if (!o.signing_secret)
		o.signing_secret = TEST_WEBHOOK_SECRET;
	const struct webhook_opts *opts = &o;
	memset(e, 0, sizeof(*e));
	pthread_mutex_init(&e->r.mu, NULL);
	if ((err = test_nats_start(&e->n)) != 0)
		return err;
	e->nats_up = true;
	if ((err = test_pg_start(&e->pg)) != 0)
		return err;
	e->pg_up = true;
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", test_free_port());
	snprintf(e->hook_url, sizeof(e->hook_url), "http://%s/hook", addr);
	if ((err = httpd_new(&e->h, addr, hook_routes, 1, &e->r, NULL)) != 0 ||
	    (err = bus_connect(&e->bus, e->n.url, "test-webhook")) != 0 ||
	    (err = bus_ensure_streams(e->bus)) != 0 || (err = db_connect(&e->db, e->pg.url)) != 0 ||
	    (err = db_migrate(e->db, MIGRATIONS, NULL)) != 0 ||
	    (err = persist_new(&e->p, e->bus, e->pg.url, SOURCE, NULL, false)) != 0)
		return err;
	return webhook_new(&e->wh, e->bus, e->pg.url, SOURCE, opts);
}

static void env_down(struct env *e)
{
	e->wh = webhook_free(e->wh);
	e->p = persist_free(e->p);
	e->h = httpd_free(e->h);
	e->bus = bus_close(e->bus);
	e->db = db_close(e->db);
	if (e->pg_up)
		test_pg_destroy(&e->pg);
	if (e->nats_up)
		test_nats_destroy(&e->n);
	free(e->r.last_body);
	pthread_mutex_destroy(&e->r.mu);
}

static int seed_call(struct db *db, char call_id[ID_UUID_LEN + 1], const char *url)
{
	char aid[ID_UUID_LEN + 1], room[64];
	int err = id_uuid4(aid);
	if (!err)
		err = id_uuid4(call_id);
	if (err)
		return err;
	snprintf(room, sizeof(room), "call-%s", call_id);
	const char *pa[] = { aid, url };
	err = db_exec(db, NULL,
		      "INSERT INTO assistants (id, name, end_call_url) VALUES ($1, 'A', $2)", 2,
		      pa);
	if (err)
		return err;
	const char *pc[] = { call_id, aid, room };
	return db_exec(db, NULL,
		       "INSERT INTO calls (id, kind, provider, assistant_id, room, status)"
		       " VALUES ($1, 'outbound', 'exotel', $2, $3, 'queued')",
		       3, pc);
}

static int emit(struct bus *bus, enum event_type type, const char *call_id,
		const char *k1, const char *v1, const char *k2, const char *v2)
{
	struct event *ev = NULL;
	char room[64];
	snprintf(room, sizeof(room), "call-%s", call_id);
	int err = event_new(&ev, type, call_id, room, "sip-bridge/test");
	if (!err && k1)
		err = event_set_str(ev, k1, v1);
	if (!err && k2)
		err = event_set_str(ev, k2, v2);
	if (!err && type == EV_CALL_ENDED)
		err = event_set_int(ev, "duration_ms", 1000);
	if (!err)
		err = bus_publish_event(bus, ev);
	event_free(ev);
	return err;
}

static int receiver_counts(struct receiver *r, int *requests, int *ok)
{
	pthread_mutex_lock(&r->mu);
	*requests = r->requests;
	*ok = r->ok;
	pthread_mutex_unlock(&r->mu);
	return 0;
}

static const char outcome_sql[] =
	"SELECT type || '|' || coalesce(data->>'status_code', '-') || '|' ||"
	" coalesce(data->>'attempts', '-') || '|' || (data->>'url')"
	" FROM call_events WHERE call_id = $1 AND type LIKE 'webhook_%'";

static int test_retried_then_delivered_once(void)
{
	int err = 0;
	struct env e;
	char cid[ID_UUID_LEN + 1], cid2[ID_UUID_LEN + 1], want[256];
	char *v = NULL;
	int requests = 0, ok = 0;

	TEST_EQ_INT(env_up(&e, NULL), 0);
	e.r.script[0] = 503;
	e.r.nscript = 1;
	TEST_EQ_INT(seed_call(e.db, cid, e.hook_url), 0);
	TEST_EQ_INT(emit(e.bus, EV_CALL_DIALING, cid, NULL, NULL, NULL, NULL), 0);
	TEST_EQ_INT(emit(e.bus, EV_CALL_FAILED, cid, "status", "busy", "sip_reason", "Busy Here"),
		    0);
	/* unanswered: settled at once; 503, then 200 one second later */
	TEST_EQ_INT(test_db_wait_value(e.db, "SELECT count(*) FROM call_events WHERE call_id = $1"
			       " AND type LIKE 'webhook_%'", cid, "1", WAIT_MS), 0);
	v = test_db_query1(e.db, outcome_sql, cid);
	snprintf(want, sizeof(want), "webhook_delivered|200|2|%s", e.hook_url);
	TEST_EQ_STR(v, want);
	free(v);
	/* the claim carries its deadline: 2 × (4 × 10 s + 1 + 2 + 4 s) + 60 s */
	v = test_db_query1(e.db,
			   "SELECT webhook_status || '|' || webhook_attempts || '|' ||"
			   " extract(epoch from webhook_stale_at - webhook_claimed_at)::int"
			   " FROM calls WHERE id = $1",
			   cid);
	TEST_EQ_STR(v, "delivered|2|154");
	TEST_EQ_INT(receiver_counts(&e.r, &requests, &ok), 0);
	TEST_EQ_INT(requests, 2);
	TEST_EQ_INT(ok, 1);
	pthread_mutex_lock(&e.r.mu);
	cJSON *rec = e.r.last_body ? cJSON_Parse(e.r.last_body) : NULL;
	pthread_mutex_unlock(&e.r.mu);
	TEST_ASSERT(rec != NULL);
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(rec, "status");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(rec, "call_id");
	bool shape = cJSON_IsString(st) && strcmp(st->valuestring, "busy") == 0 &&
		     cJSON_IsString(id) && strcmp(id->valuestring, cid) == 0 &&
		     cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(rec, "events"));
	cJSON_Delete(rec);
	TEST_ASSERT(shape);

	/* a restarted webhook module never sends it again: once it has delivered
	 * a second call (so it has looked at the table), the first one got no
	 * request more */
	e.wh = webhook_free(e.wh);
	TEST_EQ_INT(webhook_new(&e.wh, e.bus, e.pg.url, SOURCE, &local_opts), 0);
	TEST_EQ_INT(seed_call(e.db, cid2, e.hook_url), 0);
	TEST_EQ_INT(emit(e.bus, EV_CALL_DIALING, cid2, NULL, NULL, NULL, NULL), 0);
	TEST_EQ_INT(emit(e.bus, EV_CALL_FAILED, cid2, "status", "busy", "sip_reason", "Busy Here"),
		    0);
	webhook_kick(e.wh);
	TEST_EQ_INT(test_db_wait_value(e.db, "SELECT count(*) FROM call_events WHERE call_id = $1"
				       " AND type LIKE 'webhook_%'", cid2, "1", WAIT_MS), 0);
	free(v);
	v = test_db_query1(
		e.db, "SELECT webhook_status || '|' || webhook_attempts FROM calls WHERE id = $1",
		cid2);
	TEST_EQ_STR(v, "delivered|1");
	TEST_EQ_INT(receiver_counts(&e.r, &requests, &ok), 0);
	TEST_EQ_INT(requests, 2 + 1);
out:
	free(v);
	env_down(&e);
	return err;
}

static int test_client_error_is_final(void)
{
	int err = 0;
	struct env e;
	char cid[ID_UUID_LEN + 1], want[256];
	char *v = NULL;
	int requests = 0, ok = 0;

	TEST_EQ_INT(env_up(&e, NULL), 0);
	e.r.script[0] = 400;
	e.r.nscript = 1;
	TEST_EQ_INT(seed_call(e.db, cid, e.hook_url), 0);
	TEST_EQ_INT(emit(e.bus, EV_CALL_FAILED, cid, "status", "no_answer", NULL, NULL), 0);
	TEST_EQ_INT(test_db_wait_value(e.db, "SELECT count(*) FROM call_events WHERE call_id = $1"
			       " AND type LIKE 'webhook_%'", cid, "1", WAIT_MS), 0);
	v = test_db_query1(e.db, outcome_sql, cid);
	snprintf(want, sizeof(want), "webhook_failed|400|1|%s", e.hook_url);
	TEST_EQ_STR(v, want);
	free(v);
	v = test_db_query1(e.db, "SELECT data->>'error' FROM call_events WHERE call_id = $1"
		   " AND type = 'webhook_failed'", cid);
	TEST_EQ_STR(v, "HTTP 400");
	free(v);
	v = test_db_query1(e.db, "SELECT webhook_status FROM calls WHERE id = $1", cid);
	TEST_EQ_STR(v, "failed");
	TEST_EQ_INT(receiver_counts(&e.r, &requests, &ok), 0);
	TEST_EQ_INT(requests, 1);
out:
	free(v);
	env_down(&e);
	return err;
}

/* An answered call waits for its recording; a call without URL is skipped;
 * an unreachable receiver is retried, then given up. */
static int test_settle_skip_and_unreachable(void)
{
	int err = 0;
	struct env e;
	char cid[ID_UUID_LEN + 1], nourl[ID_UUID_LEN + 1], dead[ID_UUID_LEN + 1], dead_url[64];
	char *v = NULL;
	int requests = 0, ok = 0;
	struct webhook_opts opts = { .settle_s = 60, .backoff_ms = 100, .timeout_s = 2,
				     .allow_private = true };

	TEST_EQ_INT(env_up(&e, &opts), 0);
	TEST_EQ_INT(seed_call(e.db, cid, e.hook_url), 0);
	TEST_EQ_INT(seed_call(e.db, nourl, NULL), 0);
	snprintf(dead_url, sizeof(dead_url), "http://127.0.0.1:%d/hook", test_free_port());
	TEST_EQ_INT(seed_call(e.db, dead, dead_url), 0);

	TEST_EQ_INT(emit(e.bus, EV_CALL_ANSWERED, cid, NULL, NULL, NULL, NULL), 0);
	TEST_EQ_INT(emit(e.bus, EV_CALL_ENDED, cid, "reason", "remote_hangup", "by", "remote"), 0);
	TEST_EQ_INT(emit(e.bus, EV_CALL_FAILED, nourl, "status", "busy", NULL, NULL), 0);
	TEST_EQ_INT(emit(e.bus, EV_CALL_FAILED, dead, "status", "busy", NULL, NULL), 0);
	TEST_EQ_INT(test_db_wait_value(
			    e.db, "SELECT coalesce(webhook_status, '') FROM calls WHERE id = $1",
			    nourl, "skipped", WAIT_MS),
		    0);
	TEST_EQ_INT(test_db_wait_value(e.db,
				       "SELECT coalesce(webhook_status, '') || webhook_attempts"
				       " FROM calls WHERE id = $1",
				       dead, "failed4", WAIT_MS),
		    0);
	TEST_EQ_INT(test_db_wait_value(e.db, "SELECT status FROM calls WHERE id = $1", cid,
				       "completed", WAIT_MS),
		    0);
	/* the recording is not in yet: nothing sent */
	TEST_EQ_INT(receiver_counts(&e.r, &requests, &ok), 0);
	TEST_EQ_INT(requests, 0);
	TEST_EQ_INT(emit(e.bus, EV_RECORDING_READY, cid, "path", "/rec/z.ogg", NULL, NULL), 0);
	TEST_EQ_INT(test_db_wait_value(
			    e.db, "SELECT coalesce(webhook_status, '') FROM calls WHERE id = $1",
			    cid, "delivered", WAIT_MS),
		    0);
	pthread_mutex_lock(&e.r.mu);
	bool has_path = e.r.last_body && strstr(e.r.last_body, "/rec/z.ogg");
	pthread_mutex_unlock(&e.r.mu);
	TEST_ASSERT(has_path);
	TEST_EQ_INT(test_db_wait_value(e.db, "SELECT count(*) FROM call_events WHERE call_id = $1"
			       " AND type = 'webhook_failed'", dead, "1", WAIT_MS), 0);
out:
	free(v);
	env_down(&e);
	return err;
}

static int test_post_transport_errors(void)
{
	int err = 0;
	long status = 7;
	char why[256];
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", test_free_port());
	struct webhook_target t = { 2, TEST_WEBHOOK_SECRET, true };
	TEST_EQ_INT(webhook_post(&status, url, "{}", 2, &t, why, sizeof(why)), ECONNREFUSED);
	TEST_EQ_INT(status, 0);
	TEST_ASSERT(why[0] != '\0');
	TEST_ASSERT(webhook_post(&status, "ftp://127.0.0.1/x", "{}", 2, &t, why, sizeof(why)) != 0);
out:
	return err;
}

/* The receiver's side, written from the README ("End-of-call webhook"):
 * the signature header is "v1=" and the lower-case hex of
 * HMAC-SHA256(secret, timestamp + "." + raw body); a timestamp more than
 * 5 minutes from now is refused; the comparison is constant-time. */
static bool readme_verify(const char *secret, const char *ts, const char *sig, const char *body,
			  size_t len, long long now_s)
{
	char *end = NULL;
	long long t = ts && *ts ? strtoll(ts, &end, 10) : 0;
	if (!ts || !*ts || *end || !sig || strncmp(sig, "v1=", 3) != 0 || strlen(sig) != 3 + 64)
		return false;
	if (t < now_s - 300 || t > now_s + 300)
		return false;
	size_t n = strlen(ts) + 1 + len;
	unsigned char *msg = malloc(n), md[32];
	unsigned int mdlen = 0;
	char hex[65];
	if (!msg)
		return false;
	memcpy(msg, ts, strlen(ts));
	msg[strlen(ts)] = '.';
	memcpy(msg + strlen(ts) + 1, body, len);
	bool ok = HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, n, md, &mdlen) &&
		  mdlen == 32;
	free(msg);
	for (unsigned i = 0; ok && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return ok && CRYPTO_memcmp(hex, sig + 3, 64) == 0;
}

/* A delivered webhook verifies; a tampered body, another secret or an old
 * timestamp do not. */
static int test_signed_and_verified(void)
{
	int err = 0;
	struct env e;
	char cid[ID_UUID_LEN + 1], ts[32], sig[128], *body = NULL;
	TEST_EQ_INT(env_up(&e, NULL), 0);
	TEST_EQ_INT(seed_call(e.db, cid, e.hook_url), 0);
	TEST_EQ_INT(emit(e.bus, EV_CALL_FAILED, cid, "status", "busy", NULL, NULL), 0);
	TEST_EQ_INT(test_db_wait_value(e.db, "SELECT webhook_status FROM calls WHERE id = $1", cid,
				       "delivered", WAIT_MS), 0);
	pthread_mutex_lock(&e.r.mu);
	body = e.r.last_body ? strdup(e.r.last_body) : NULL;
	snprintf(ts, sizeof(ts), "%s", e.r.last_ts);
	snprintf(sig, sizeof(sig), "%s", e.r.last_sig);
	pthread_mutex_unlock(&e.r.mu);
	TEST_ASSERT(body && strstr(body, cid));
	long long now = time_now_ms() / 1000;
	TEST_ASSERT(readme_verify(TEST_WEBHOOK_SECRET, ts, sig, body, strlen(body), now));
	/* tampered: one byte of the body */
	char *p = strstr(body, "busy");
	TEST_ASSERT(p != NULL);
	p[0] = 'B';
	TEST_ASSERT(!readme_verify(TEST_WEBHOOK_SECRET, ts, sig, body, strlen(body), now));
	p[0] = 'b';
	TEST_ASSERT(!readme_verify("another-secret-of-at-least-32-chars!", ts, sig, body,
				   strlen(body), now));
	/* replayed later than 5 minutes */
	TEST_ASSERT(!readme_verify(TEST_WEBHOOK_SECRET, ts, sig, body, strlen(body), now + 301));
	/* webhook_sign agrees with the README's construction */
	char mine[72];
	TEST_EQ_INT(webhook_sign(mine, TEST_WEBHOOK_SECRET, strtoll(ts, NULL, 10), body,
				 strlen(body)),
		    0);
	TEST_EQ_STR(mine, sig);
out:
	free(body);
	env_down(&e);
	return err;
}

/* Without OUTBOUND_ALLOW_PRIVATE a webhook to 127.0.0.1 is refused: not
 * sent, not retried, the outcome names why. */
static int test_private_destination_refused(void)
{
	int err = 0;
	struct env e;
	char cid[ID_UUID_LEN + 1], why[256];
	char *v = NULL;
	int requests = 0, ok = 0;
	long status = 0;
	struct addrinfo *ai = NULL;
	struct webhook_opts opts = { .backoff_ms = 100, .allow_private = false };
	TEST_EQ_INT(env_up(&e, &opts), 0);
	TEST_EQ_INT(seed_call(e.db, cid, e.hook_url), 0);
	TEST_EQ_INT(emit(e.bus, EV_CALL_FAILED, cid, "status", "busy", NULL, NULL), 0);
	TEST_EQ_INT(test_db_wait_value(e.db, "SELECT webhook_status || '|' || webhook_attempts"
				       " FROM calls WHERE id = $1", cid, "failed|1", WAIT_MS), 0);
	TEST_EQ_INT(test_db_wait_value(e.db, "SELECT count(*) FROM call_events WHERE call_id = $1"
				       " AND type = 'webhook_failed'", cid, "1", WAIT_MS), 0);
	v = test_db_query1(e.db, "SELECT data->>'error' FROM call_events WHERE call_id = $1"
			   " AND type = 'webhook_failed'", cid);
	TEST_CONTAINS(v, "127.0.0.1 is a loopback address");
	TEST_EQ_INT(receiver_counts(&e.r, &requests, &ok), 0);
	TEST_EQ_INT(requests, 0);
	/* by name too: a name that resolves to loopback passes the URL check
	 * and is refused at connect time, after resolution (this machine's
	 * host name, where /etc/hosts maps it to 127.0.0.1) */
	struct webhook_target t = { 2, TEST_WEBHOOK_SECRET, false };
	char url[400], host[256] = "";
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM };
	if (gethostname(host, sizeof(host) - 1) == 0 && getaddrinfo(host, NULL, &hints, &ai) == 0 &&
	    ((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK)) {
		snprintf(url, sizeof(url), "http://%s:%s", host, strrchr(e.hook_url, ':') + 1);
		TEST_EQ_INT(egress_url_check(url, false, why, sizeof(why)), 0);
		TEST_EQ_INT(webhook_post(&status, url, "{}", 2, &t, why, sizeof(why)), EACCES);
		TEST_CONTAINS(why, "127.0.0.1 is a loopback address");
		TEST_EQ_INT(receiver_counts(&e.r, &requests, &ok), 0);
		TEST_EQ_INT(requests, 0);
	} else {
		fprintf(stdout,
			"    (host name %s does not resolve to 127.0.0.1: connect-time check "
			"covered by the literal only)\n",
			host);
	}
out:
	if (ai)
		freeaddrinfo(ai);
	free(v);
	env_down(&e);
	return err;
}

/* The outcome event goes to calls.>, which the read-only viewer reads: the
 * URL it names carries no credentials (userinfo, query), while the request
 * itself went to the URL as given. */
static int test_event_url_without_credentials(void)
{
	int err = 0;
	struct env e;
	char cid[ID_UUID_LEN + 1], url[256], want[256];
	char *v = NULL;
	int requests = 0, ok = 0;
	TEST_EQ_INT(env_up(&e, NULL), 0);
	const char *hostport = e.hook_url + strlen("http://");
	snprintf(url, sizeof(url), "http://hookuser:hook-pass-1@%s?token=hook-token-2#f", hostport);
	TEST_EQ_INT(seed_call(e.db, cid, url), 0);
	TEST_EQ_INT(emit(e.bus, EV_CALL_FAILED, cid, "status", "busy", NULL, NULL), 0);
	TEST_EQ_INT(test_db_wait_value(e.db, "SELECT count(*) FROM call_events WHERE call_id = $1"
				       " AND type LIKE 'webhook_%'", cid, "1", WAIT_MS), 0);
	TEST_EQ_INT(receiver_counts(&e.r, &requests, &ok), 0);
	TEST_EQ_INT(ok, 1);
	v = test_db_query1(e.db, outcome_sql, cid);
	snprintf(want, sizeof(want), "webhook_delivered|200|1|%s", e.hook_url);
	TEST_EQ_STR(v, want);
out:
	free(v);
	env_down(&e);
	return err;
}

/* PostgreSQL drops the worker's connection (a restart, a failover) after it
 * claimed a call and while it loads the record: nothing was sent yet, so
 * the webhook must still go out once the database answers again. */
static int test_db_blip_after_claim_still_delivers(void)
{
	int err = 0;
	struct env e;
	struct db *locker = NULL, *admin = NULL;
	char cid[ID_UUID_LEN + 1], admin_url[160];
	char *v = NULL;
	int requests = 0, ok = 0;

	TEST_EQ_INT(env_up(&e, NULL), 0);
	TEST_EQ_INT(db_connect(&locker, e.pg.url), 0);
	TEST_EQ_INT(seed_call(e.db, cid, e.hook_url), 0);
	/* the record's query waits on transcript_segments; the claim does not */
	TEST_EQ_INT(db_begin(locker), 0);
	TEST_EQ_INT(db_exec(locker, NULL, "LOCK TABLE transcript_segments IN ACCESS EXCLUSIVE MODE",
			    0, NULL), 0);
	TEST_EQ_INT(emit(e.bus, EV_CALL_FAILED, cid, "status", "busy", "sip_reason", "Busy Here"),
		    0);
	TEST_EQ_INT(test_db_wait_value(e.db, "SELECT count(*) FROM pg_stat_activity"
				       " WHERE wait_event_type = 'Lock'"
				       " AND query LIKE '%transcripts%' AND $1 <> ''",
				       cid, "1", WAIT_MS),
		    0);
	v = test_db_query1(e.db, "SELECT (webhook_claimed_at IS NOT NULL)::text FROM calls"
			   " WHERE id = $1", cid);
	printf("    claimed while the record loads: %s\n", v ? v : "?");
	free(v);
	v = NULL;
	snprintf(admin_url, sizeof(admin_url),
		 "postgresql://callmesh@127.0.0.1:%d/postgres?connect_timeout=5", e.pg.port);
	TEST_EQ_INT(db_connect(&admin, admin_url), 0);
	TEST_EQ_INT(db_exec(admin, NULL, "ALTER DATABASE callmesh ALLOW_CONNECTIONS false", 0,
			    NULL), 0);
	v = test_db_query1(e.db, "SELECT pg_terminate_backend(pid)::text FROM pg_stat_activity"
			   " WHERE wait_event_type = 'Lock' AND query LIKE '%transcripts%'"
			   " AND $1 <> ''", cid);
	TEST_EQ_STR(v, "true");
	/* ... and refuses connections for a moment (as while it restarts) */
	test_nap_ms(1500);
	TEST_EQ_INT(db_exec(admin, NULL, "ALTER DATABASE callmesh ALLOW_CONNECTIONS true", 0,
			    NULL), 0);
	(void)db_rollback(locker);
	/* the database is back at once: the receiver must get the record */
	int w = test_db_wait_value(e.db, "SELECT coalesce(webhook_status, 'none') FROM calls"
				   " WHERE id = $1", cid, "delivered", WAIT_MS);
	free(v);
	v = test_db_query1(e.db, "SELECT coalesce(webhook_status, 'none') || '|' ||"
			   " coalesce((SELECT string_agg(type || ':' ||"
			   " coalesce(data->>'error', ''), ',')"
			   " FROM call_events WHERE call_id = $1 AND type LIKE 'webhook_%'), '-')"
			   " FROM calls WHERE id = $1", cid);
	TEST_EQ_INT(receiver_counts(&e.r, &requests, &ok), 0);
	printf("    after the blip: %s; receiver got %d request(s)\n", v ? v : "?", requests);
	TEST_EQ_INT(w, 0);
	TEST_EQ_INT(ok, 1);
out:
	free(v);
	if (admin)
		if (db_exec(admin, NULL, "ALTER DATABASE callmesh ALLOW_CONNECTIONS true", 0, NULL))
			err = 1;
	db_close(admin);
	db_close(locker);
	env_down(&e);
	return err;
}

/* A record the database refuses to load every time (here: its transcripts
 * may not be read) is given up after a few tries, with the reason in
 * webhook_failed: a worker does not retry one call for ever. */
static int test_unloadable_record_is_given_up(void)
{
	int err = 0;
	struct env e;
	char cid[ID_UUID_LEN + 1];
	char *v = NULL;
	int requests = 0, ok = 0;
	TEST_EQ_INT(env_up(&e, NULL), 0);
	TEST_EQ_INT(seed_call(e.db, cid, e.hook_url), 0);
	TEST_EQ_INT(db_exec(e.db, NULL, "REVOKE SELECT ON transcript_segments FROM callmesh", 0,
			    NULL),
		    0);
	TEST_EQ_INT(emit(e.bus, EV_CALL_FAILED, cid, "status", "busy", NULL, NULL), 0);
	TEST_EQ_INT(test_db_wait_value(e.db, "SELECT coalesce(webhook_status, 'none') FROM calls"
				       " WHERE id = $1", cid, "failed", 30000),
		    0);
	v = test_db_query1(e.db, "SELECT type || '|' || (data->>'error') FROM call_events"
			   " WHERE call_id = $1 AND type LIKE 'webhook_%'", cid);
	TEST_EQ_STR(v, "webhook_failed|record not loaded: permission denied for table "
		       "transcript_segments");
	TEST_EQ_INT(receiver_counts(&e.r, &requests, &ok), 0);
	TEST_EQ_INT(requests, 0);
out:
	free(v);
	env_down(&e);
	return err;
}

/* An api-gateway killed mid-delivery leaves a claim without an outcome:
 * once it is older than any delivery takes, it is recorded as failed,
 * "interrupted", and never sent again; a call whose outcome event was
 * stored gets that outcome; a fresh claim is left to its worker. "Older
 * than any delivery takes" is the claimer's figure when it stored one
 * (webhook_stale_at): a claim an hour old from an instance with longer
 * timeouts is left alone, one 10 s old from an instance with shorter ones
 * past its deadline is recorded, whatever this instance's stale_s (30 s). */
static int test_interrupted_delivery_recorded(void)
{
	int err = 0;
	struct env e;
	char dead[ID_UUID_LEN + 1], told[ID_UUID_LEN + 1], live[ID_UUID_LEN + 1];
	char patient[ID_UUID_LEN + 1], hasty[ID_UUID_LEN + 1];
	char *v = NULL;
	int requests = 0, ok = 0;
	struct webhook_opts o = local_opts;
	o.stale_s = 30;
	TEST_EQ_INT(env_up(&e, &o), 0);
	e.wh = webhook_free(e.wh); /* started below, once the rows are in place */
	TEST_EQ_INT(seed_call(e.db, dead, e.hook_url), 0);
	TEST_EQ_INT(seed_call(e.db, told, e.hook_url), 0);
	TEST_EQ_INT(seed_call(e.db, live, e.hook_url), 0);
	TEST_EQ_INT(seed_call(e.db, patient, e.hook_url), 0);
	TEST_EQ_INT(seed_call(e.db, hasty, e.hook_url), 0);
	TEST_EQ_INT(db_exec(e.db, NULL,
			    "UPDATE calls SET status = 'busy',"
			    " ended_at = now() - interval '1 hour',"
			    " webhook_claimed_at = now() - interval '1 hour',"
			    " webhook_stale_at = now() + interval '1 hour' WHERE id = $1",
			    1, (const char *[]){ patient }),
		    0);
	TEST_EQ_INT(db_exec(e.db, NULL,
			    "UPDATE calls SET status = 'busy', ended_at = now(),"
			    " webhook_claimed_at = now() - interval '10 seconds',"
			    " webhook_stale_at = now() - interval '1 second' WHERE id = $1",
			    1, (const char *[]){ hasty }),
		    0);
	TEST_EQ_INT(db_exec(e.db, NULL,
			    "UPDATE calls SET status = 'busy',"
			    " ended_at = now() - interval '1 hour',"
			    " webhook_claimed_at = now() - interval '1 hour' WHERE id IN ($1, $2)",
			    2, (const char *[]){ dead, told }),
		    0);
	TEST_EQ_INT(db_exec(e.db, NULL,
			    "UPDATE calls SET status = 'busy', ended_at = now(),"
			    " webhook_claimed_at = now() WHERE id = $1",
			    1, (const char *[]){ live }),
		    0);
	TEST_EQ_INT(emit(e.bus, EV_WEBHOOK_DELIVERED, told, "url", "http://h/", NULL, NULL), 0);
	TEST_EQ_INT(test_db_wait_value(e.db,
				       "SELECT count(*) FROM call_events WHERE call_id = $1", told,
				       "1", WAIT_MS),
		    0);
	TEST_EQ_INT(webhook_new(&e.wh, e.bus, e.pg.url, SOURCE, &o), 0);
	TEST_EQ_INT(test_db_wait_value(e.db, "SELECT coalesce(webhook_status, 'none') FROM calls"
				       " WHERE id = $1", dead, "failed", WAIT_MS),
		    0);
	TEST_EQ_INT(test_db_wait_value(e.db,
				       "SELECT type || '|' || (data->>'error') FROM call_events"
				       " WHERE call_id = $1 AND type LIKE 'webhook_%'", dead,
				       "webhook_failed|interrupted: the api-gateway delivering it "
				       "stopped; not sent again (at most once)", WAIT_MS),
		    0);
	TEST_EQ_INT(test_db_wait_value(e.db, "SELECT coalesce(webhook_status, 'none') FROM calls"
				       " WHERE id = $1", hasty, "failed", WAIT_MS),
		    0);
	v = test_db_query1(e.db,
			   "SELECT coalesce(webhook_status, 'none') FROM calls WHERE id = $1",
			   patient);
	TEST_EQ_STR(v, "none");
	free(v);
	v = test_db_query1(e.db, "SELECT webhook_status || '|' || (SELECT string_agg(type, ',')"
			   " FROM call_events WHERE call_id = $1) FROM calls WHERE id = $1", told);
	TEST_EQ_STR(v, "delivered|webhook_delivered");
	free(v);
	v = test_db_query1(e.db,
			   "SELECT coalesce(webhook_status, 'none') FROM calls WHERE id = $1",
			   live);
	TEST_EQ_STR(v, "none");
	TEST_EQ_INT(receiver_counts(&e.r, &requests, &ok), 0);
	TEST_EQ_INT(requests, 0);
out:
	free(v);
	env_down(&e);
	return err;
}

static const struct test tests[] = {
	{ "retried_then_delivered_once", test_retried_then_delivered_once },
	{ "interrupted_delivery_recorded", test_interrupted_delivery_recorded },
	{ "client_error_is_final", test_client_error_is_final },
	{ "settle_skip_and_unreachable", test_settle_skip_and_unreachable },
	{ "post_transport_errors", test_post_transport_errors },
	{ "signed_and_verified", test_signed_and_verified },
	{ "private_destination_refused", test_private_destination_refused },
	{ "event_url_without_credentials", test_event_url_without_credentials },
	{ "db_blip_after_claim_still_delivers", test_db_blip_after_claim_still_delivers },
	{ "unloadable_record_is_given_up", test_unloadable_record_is_given_up },
};

TEST_MAIN(tests)
