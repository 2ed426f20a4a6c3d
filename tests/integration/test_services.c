/* The five service binaries: config validation, real start-up against
 * nats-server and PostgreSQL, readiness that follows NATS, clean SIGTERM. */
#include "core/core.h"
#include "harness/test.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const services[] = {
	"api-gateway", "room-manager", "twilio-dialer", "sip-bridge", "agent-worker",
};

/* Runs a service with a config that must be refused; checks it exits
 * non-zero at once and names the variable. */
static int expect_config_error(const char *svc, const char *const envp[], const char *var)
{
	int err = 0;
	char bin[256], *out = NULL;
	const char *argv[] = { test_bin(bin, sizeof(bin), svc), NULL };
	int st = test_run_cmd(&out, argv, envp, 10000);
	if (st == 0 || st == -1 || !out || !strstr(out, var)) {
		test_failed(__FILE__, __LINE__, "%s with bad %s: exit %d, output: %s", svc, var, st,
			    out ? out : "");
		err = 1;
	}
	free(out);
	return err;
}

/* --help lists the variables (core ones and the service's own) and exits 0;
 * any other argument exits 2 pointing at --help. */
static int test_help_lists_the_variables(void)
{
	int err = 0;
	static const char *const own[] = { "API_KEYS", "ROOM_BACKEND", "DIAL_ATTEMPTS",
					   "MEDIA_THREADS", "MAX_SESSIONS" };
	for (size_t i = 0; i < CM_ARRAY_LEN(services); i++) {
		char bin[256], *out = NULL;
		const char *help[] = { test_bin(bin, sizeof(bin), services[i]), "--help", NULL };
		TEST_EQ_INT(test_run_cmd(&out, help, NULL, 10000), 0);
		TEST_CONTAINS(out, "NATS_URL");
		TEST_CONTAINS(out, "HEALTH_ADDR");
		TEST_CONTAINS(out, own[i]);
		free(out);
		out = NULL;
		const char *bogus[] = { bin, "--port=1", NULL };
		TEST_EQ_INT(test_run_cmd(&out, bogus, NULL, 10000), 2);
		TEST_CONTAINS(out, "--port=1");
		TEST_CONTAINS(out, "--help");
		free(out);
	}
out:
	return err;
}

static int test_bad_config_names_the_variable(void)
{
	int err = 0;
	for (size_t i = 0; i < CM_ARRAY_LEN(services); i++) {
		const char *bad_nats[] = { "NATS_URL=http://127.0.0.1:4222", "API_KEYS=k",
					   "DATABASE_URL=postgresql://x@127.0.0.1:1/x", NULL };
		TEST_EQ_INT(expect_config_error(services[i], bad_nats, "NATS_URL"), 0);
		const char *bad_level[] = { "LOG_LEVEL=loud", "API_KEYS=k",
					    "DATABASE_URL=postgresql://x@127.0.0.1:1/x", NULL };
		TEST_EQ_INT(expect_config_error(services[i], bad_level, "LOG_LEVEL"), 0);
		const char *bad_health[] = { "HEALTH_ADDR=127.0.0.1:99999", "API_KEYS=k",
					     "DATABASE_URL=postgresql://x@127.0.0.1:1/x", NULL };
		TEST_EQ_INT(expect_config_error(services[i], bad_health, "HEALTH_ADDR"), 0);
	}
	const char *no_keys[] = { "API_KEYS=", "DATABASE_URL=postgresql://x@127.0.0.1:1/x", NULL };
	TEST_EQ_INT(expect_config_error("api-gateway", no_keys, "API_KEYS"), 0);
	const char *bad_db[] = { "API_KEYS=k", "DATABASE_URL=mysql://x", NULL };
	TEST_EQ_INT(expect_config_error("api-gateway", bad_db, "DATABASE_URL"), 0);
	/* ROOM_BACKEND means the same in every service with rooms */
	static const char *const room_svcs[] = { "room-manager", "sip-bridge", "agent-worker" };
	for (size_t i = 0; i < CM_ARRAY_LEN(room_svcs); i++) {
		const char *lk[] = { "ROOM_BACKEND=livekit", "LIVEKIT_URL=",
				"SECRETS_KEY=" TEST_SECRETS_KEY, NULL };
		TEST_EQ_INT(expect_config_error(room_svcs[i], lk, "LIVEKIT_URL"), 0);
		const char *lk_key[] = { "LIVEKIT_URL=http://10.213.0.1:7880",
				"SECRETS_KEY=" TEST_SECRETS_KEY, NULL };
		TEST_EQ_INT(expect_config_error(room_svcs[i], lk_key, "LIVEKIT_API_KEY"), 0);
		const char *lk_sec[] = { "LIVEKIT_URL=ws://10.213.0.1:7880", "LIVEKIT_API_KEY=k",
				"SECRETS_KEY=" TEST_SECRETS_KEY, NULL };
		TEST_EQ_INT(expect_config_error(room_svcs[i], lk_sec, "LIVEKIT_API_SECRET"), 0);
		const char *bad[] = { "ROOM_BACKEND=janus", "SECRETS_KEY=" TEST_SECRETS_KEY, NULL };
		TEST_EQ_INT(expect_config_error(room_svcs[i], bad, "ROOM_BACKEND"), 0);
	}
	const char *lk_secret[] = { "LIVEKIT_URL=https://lk.example", "LIVEKIT_API_KEY=k",
				    "LIVEKIT_API_SECRET=", "SECRETS_KEY=" TEST_SECRETS_KEY, NULL };
	TEST_EQ_INT(expect_config_error("twilio-dialer", lk_secret, "LIVEKIT_API_SECRET"), 0);
	const char *calls[] = { "MAX_CALLS=0", "SECRETS_KEY=" TEST_SECRETS_KEY, NULL };
	TEST_EQ_INT(expect_config_error("sip-bridge", calls, "MAX_CALLS"), 0);
	const char *ports[] = { "RTP_PORT_MIN=30000", "RTP_PORT_MAX=30010",
			"SECRETS_KEY=" TEST_SECRETS_KEY, NULL };
	TEST_EQ_INT(expect_config_error("sip-bridge", ports, "RTP_PORT_MAX"), 0);
	const char *threads[] = { "MEDIA_THREADS=65", "SECRETS_KEY=" TEST_SECRETS_KEY, NULL };
	TEST_EQ_INT(expect_config_error("sip-bridge", threads, "MEDIA_THREADS"), 0);
	const char *adv[] = { "SIP_ADVERTISE=sip.example.com",
			"SECRETS_KEY=" TEST_SECRETS_KEY, NULL };
	TEST_EQ_INT(expect_config_error("sip-bridge", adv, "SIP_ADVERTISE"), 0);
	const char *sessions[] = { "MAX_SESSIONS=abc", NULL };
	TEST_EQ_INT(expect_config_error("agent-worker", sessions, "MAX_SESSIONS"), 0);
	/* issue 13: the sealing key is required where trunk passwords are opened,
	 * the webhook signing secret where webhooks leave, and provider base
	 * URLs may not name private addresses unless allowed */
	const char *gw_no_key[] = { "API_KEYS=k", "DATABASE_URL=postgresql://x@127.0.0.1:1/x",
				    "WEBHOOK_SIGNING_SECRET=" TEST_WEBHOOK_SECRET, NULL };
	TEST_EQ_INT(expect_config_error("api-gateway", gw_no_key, "SECRETS_KEY: is required"), 0);
	const char *gw_bad_key[] = {
		"API_KEYS=test-key-0001", "DATABASE_URL=postgresql://x@127.0.0.1:1/x",
		"SECRETS_KEY=c2hvcnQ=", "WEBHOOK_SIGNING_SECRET=" TEST_WEBHOOK_SECRET, NULL
	};
	TEST_EQ_INT(expect_config_error("api-gateway", gw_bad_key, "SECRETS_KEY: must be base64"),
		    0);
	const char *gw_short[] = { "API_KEYS=test-key-0001",
				   "DATABASE_URL=postgresql://x@127.0.0.1:1/x",
				   "SECRETS_KEY=" TEST_SECRETS_KEY, "WEBHOOK_SIGNING_SECRET=short",
				   NULL };
	TEST_EQ_INT(expect_config_error("api-gateway", gw_short, "WEBHOOK_SIGNING_SECRET"), 0);
	const char *br_no_key[] = { "SIP_BIND=127.0.0.1:5099", NULL };
	TEST_EQ_INT(expect_config_error("sip-bridge", br_no_key, "SECRETS_KEY: is required"), 0);
	const char *oa_local[] = { "OPENAI_BASE_URL=http://127.0.0.1:8080/v1", NULL };
	TEST_EQ_INT(expect_config_error("agent-worker", oa_local,
					"OPENAI_BASE_URL: 127.0.0.1 is a loopback"),
		    0);
	const char *oa_meta[] = { "OPENAI_BASE_URL=http://169.254.169.254/v1", NULL };
	TEST_EQ_INT(expect_config_error("agent-worker", oa_meta, "OPENAI_BASE_URL"), 0);
out:
	return err;
}

struct running {
	int pid;
	int health_port;
	char env_nats[96], env_health[64], env_db[300], env_api[64], env_mig[300], env_sip[64];
};

static int start_service(struct running *r, const char *svc, const char *nats_url,
			 const char *db_url, const char *logdir)
{
	char bin[256], logpath[512];
	r->health_port = test_free_port();
	snprintf(r->env_nats, sizeof(r->env_nats), "NATS_URL=%s", nats_url);
	snprintf(r->env_health, sizeof(r->env_health), "HEALTH_ADDR=127.0.0.1:%d", r->health_port);
	snprintf(r->env_db, sizeof(r->env_db), "DATABASE_URL=%s",
		 db_url ? db_url : "postgresql://x@127.0.0.1:1/x");
	snprintf(r->env_api, sizeof(r->env_api), "API_ADDR=127.0.0.1:%d", test_free_port());
	snprintf(r->env_mig, sizeof(r->env_mig), "MIGRATIONS_DIR=services/api-gateway/migrations");
	snprintf(r->env_sip, sizeof(r->env_sip), "SIP_BIND=127.0.0.1:%d", test_free_port_span(1));
	snprintf(logpath, sizeof(logpath), "%s/%s.log", logdir, svc);
	const char *argv[] = { test_bin(bin, sizeof(bin), svc), NULL };
	const char *envp[] = { r->env_nats,
			       r->env_health,
			       r->env_db,
			       r->env_api,
			       r->env_mig,
			       r->env_sip,
			       "API_KEYS=test-key-0001",
			       "LOG_FORMAT=kv",
			       TEST_GW_SECRETS_ENV,
			       NULL };
	return test_spawn(&r->pid, argv, envp, logpath);
}

static int test_all_services_start_ready_and_stop(void)
{
	int err = 0;
	struct test_nats nats = { 0 };
	struct test_pg pg = { 0 };
	struct running run[CM_ARRAY_LEN(services)];
	char url[128];
	char *logdir = test_tmpdir("svc-logs");
	memset(run, 0, sizeof(run));

	TEST_EQ_INT(test_nats_start(&nats), 0);
	TEST_EQ_INT(test_pg_start(&pg), 0);
	for (size_t i = 0; i < CM_ARRAY_LEN(services); i++)
		TEST_EQ_INT(start_service(&run[i], services[i], nats.url, pg.url, logdir), 0);
	for (size_t i = 0; i < CM_ARRAY_LEN(services); i++) {
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", run[i].health_port);
		if (test_http_wait(url, 200, 30000)) {
			test_failed(__FILE__, __LINE__, "%s never became ready (logs in %s)",
				    services[i], logdir);
			err = 1;
			goto out;
		}
		long status = 0;
		char *body = NULL;
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", run[i].health_port);
		TEST_EQ_INT(test_http(&status, &body, "GET", url, NULL, NULL), 0);
		TEST_EQ_INT(status, 200);
		int has = body && strstr(body, "service_up 1") != NULL;
		free(body);
		TEST_ASSERT(has);
	}
	for (size_t i = 0; i < CM_ARRAY_LEN(services); i++) {
		int code = -1;
		kill(run[i].pid, SIGTERM);
		TEST_EQ_INT(test_wait_exit(run[i].pid, 10000, &code), 0);
		run[i].pid = 0;
		if (code != 0) {
			test_failed(__FILE__, __LINE__, "%s exited %d on SIGTERM", services[i],
				    code);
			err = 1;
			goto out;
		}
	}
out:
	for (size_t i = 0; i < CM_ARRAY_LEN(services); i++)
		test_kill(run[i].pid);
	test_pg_destroy(&pg);
	test_nats_destroy(&nats);
	if (!err)
		test_rmtree(logdir);
	free(logdir);
	return err;
}

/* /healthz answers while NATS is down; /readyz says 503 until it is up. */
static int test_readiness_follows_nats(void)
{
	int err = 0;
	struct test_nats nats = { 0 };
	struct running r = { 0 };
	char url[128];
	char *logdir = test_tmpdir("svc-logs");

	TEST_EQ_INT(test_nats_start(&nats), 0);
	test_nats_stop(&nats);
	TEST_EQ_INT(start_service(&r, "room-manager", nats.url, NULL, logdir), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/healthz", r.health_port);
	TEST_EQ_INT(test_http_wait(url, 200, 10000), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", r.health_port);
	TEST_EQ_INT(test_http_wait(url, 503, 1000), 0);
	TEST_EQ_INT(test_nats_restart(&nats), 0);
	TEST_EQ_INT(test_http_wait(url, 200, 20000), 0);
	test_nats_stop(&nats);
	TEST_EQ_INT(test_http_wait(url, 503, 20000), 0);
out:
	test_kill(r.pid);
	test_nats_destroy(&nats);
	test_rmtree(logdir);
	free(logdir);
	return err;
}

static const struct test tests[] = {
	{ "help_lists_the_variables", test_help_lists_the_variables },
	{ "bad_config_names_the_variable", test_bad_config_names_the_variable },
	{ "all_services_start_ready_and_stop", test_all_services_start_ready_and_stop },
	{ "readiness_follows_nats", test_readiness_follows_nats },
};
TEST_MAIN(tests)
