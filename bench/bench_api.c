/*
 * api-gateway figures (issue #3) with wrk against the real binary, a
 * throw-away nats-server (JetStream) and PostgreSQL cluster started here:
 *   POST /call/outbound  — validate, durable insert, call_queued, rooms.create
 *                          and agents.dispatch (answered by stand-ins in
 *                          this process), dial job on DIALS → 202
 *   GET  /calls/{id}     — the record with transcript and events
 * POST runs side by side in one run: BENCH_API_BASELINE's binary when set
 * (e.g. one built from main), this build with DB_PREPARED=false, then this
 * build as configured by default; each followed by the CPU a call cost the
 * gateway, nats-server and PostgreSQL (the machine's 2 cores hold all of
 * them, wrk and the stand-ins). The gateway runs its default API_THREADS;
 * BENCH_API_THREADS=API_THREADS=n sets another.
 * Each run is bounded (BENCH_SECONDS, default 8 s); prints throughput and
 * p99 against the targets (≥ 3,000 and ≥ 20,000 req/s, p99 ≤ 20 ms), never
 * fails on them. Needs wrk (scripts/deps.sh) and a built $BUILD/bin.
 */
#include "bus/bus.h"
#include "harness/bench.h"
#include "harness/test.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KEY "bench-key-0123456789"
#define TARGET_OUTBOUND_RATE 3000.0 /* issue 15 */
#define TARGET_GET_RATE 20000.0
#define TARGET_P99_MS 20.0

static char *tmpdir;

/* Runs argv to its end (at most timeout_ms), output appended to `log`; its exit
 * code, -1 when it could not run or was killed. */
static int run(const char *const argv[], const char *log, int timeout_ms)
{
	int pid = 0, code = -1;
	if (test_spawn(&pid, argv, NULL, log))
		return -1;
	if (test_wait_exit(pid, timeout_ms, &code)) {
		test_kill(pid);
		return -1;
	}
	return code;
}

/* One request with the bench's key; *statusp, body into buf (4096). */
static int http(long *statusp, char buf[4096], const char *method, const char *url,
		const char *body)
{
	char *reply = NULL;
	int err = test_http(statusp, &reply, method, url, KEY, body);
	snprintf(buf, 4096, "%s", reply ? reply : "");
	free(reply);
	return err;
}

/* data.<name> of an API reply, copied into out. */
static int reply_field(char *out, size_t len, const char *body, const char *name)
{
	cJSON *j = cJSON_Parse(body);
	const cJSON *v =
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "data"), name);
	int err = cJSON_IsString(v) ? 0 : EINVAL;
	if (!err)
		snprintf(out, len, "%s", v->valuestring);
	cJSON_Delete(j);
	return err;
}

/* Stand-ins for room-manager and agent-worker. */
static struct bus *fakes;
static char reply_room[] = "{\"ok\":true,\"data\":{\"room\":\"r\",\"backend\":\"local\",\"url\":"
			   "\"ws://127.0.0.1:7880\"}}";
static char reply_agent[] = "{\"ok\":true,\"data\":{\"worker\":\"agent-worker/bench\"}}";
static char reply_empty[] = "{\"ok\":true,\"data\":{}}";

static void on_command(const struct bus_msg *msg, void *arg)
{
	const char *reply = arg;
	if (msg->reply && bus_respond(fakes, msg, reply, strlen(reply)))
		fprintf(stderr, "bench_api: cannot reply on %s\n", msg->subject);
}

/* Runs wrk; prints its report and the figures (<fig>.req_per_s, <fig>.p99)
 * against the targets; returns the rate (0 when wrk failed). */
static double bench(const char *name, const char *fig, const char *file, const char *url,
		    const char *lua, int seconds, int conns, double target_rate)
{
	char dur[16], c[16], out[512], line[512], f_rate[64], f_p99[64], note[64];
	double rate = 0, p99 = -1;
	snprintf(dur, sizeof(dur), "%ds", seconds);
	snprintf(c, sizeof(c), "%d", conns);
	snprintf(out, sizeof(out), "%s/wrk-%s.txt", tmpdir, file);
	const char *argv[] = { "wrk", "-t2", "-c",  c,   "-d", dur,
			       "--latency", "-s", lua, url, NULL };
	snprintf(f_rate, sizeof(f_rate), "%s.req_per_s", fig);
	snprintf(f_p99, sizeof(f_p99), "%s.p99", fig);
	if (run(argv, out, (seconds + 60) * 1000) != 0) {
		printf("  %-16s wrk failed (output in %s)\n", name, out);
		bench_figure_absent(f_rate, ">=", target_rate, "req/s", "wrk failed");
		bench_figure_absent(f_p99, "<=", TARGET_P99_MS, "ms", "wrk failed");
		return 0;
	}
	FILE *f = fopen(out, "r");
	long non2xx = 0;
	while (f && fgets(line, sizeof(line), f)) {
		char unit[8] = "";
		double v = 0;
		if (sscanf(line, "Requests/sec: %lf", &v) == 1)
			rate = v;
		else if (sscanf(line, " 99%% %lf%7s", &v, unit) == 2)
			p99 = strcmp(unit, "us") == 0  ? v / 1000
			      : strcmp(unit, "s") == 0 ? v * 1000
						       : v;
		else
			sscanf(line, " Non-2xx or 3xx responses: %ld", &non2xx);
	}
	if (f)
		fclose(f);
	printf("  %-18s %8.0f req/s (target >= %.0f)  p99 %6.2f ms (target <= %.0f)  non-2xx %ld  "
	       "[%s, %d conns, %d s]\n",
	       name, rate, target_rate, p99, TARGET_P99_MS, non2xx,
	       rate >= target_rate && p99 <= TARGET_P99_MS ? "meets" : "below", conns, seconds);
	snprintf(note, sizeof(note), "%s, %d conns, %d s, non-2xx %ld", name, conns, seconds,
		 non2xx);
	bench_figure(f_rate, non2xx == 0 ? rate : -1, ">=", target_rate, "req/s", note);
	bench_figure(f_p99, p99, "<=", TARGET_P99_MS, "ms", note);
	fflush(stdout);
	return rate;
}

/* CPU time of the cluster's postmaster and its children (the backends), µs. */
static int64_t pg_cpu_us(const struct test_pg *pg)
{
	char path[320], line[512];
	snprintf(path, sizeof(path), "%s/data/postmaster.pid", pg->dir);
	FILE *f = fopen(path, "r");
	long master = f && fgets(line, sizeof(line), f) ? strtol(line, NULL, 10) : 0;
	if (f)
		fclose(f);
	if (master <= 0)
		return -1;
	/* the postmaster's own time and that of its children already gone
	 * (utime stime cutime cstime: fields 14-17) */
	snprintf(path, sizeof(path), "/proc/%ld/stat", master);
	f = fopen(path, "r");
	char *rp0 = f && fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
	unsigned long long t[4] = { 0 };
	if (f)
		fclose(f);
	static const char fields[] = " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u"
				     " %llu %llu %llu %llu";
	if (!rp0 || sscanf(rp0 + 1, fields, &t[0], &t[1], &t[2], &t[3]) != 4)
		return -1;
	long hz = sysconf(_SC_CLK_TCK);
	int64_t sum = (int64_t)((t[0] + t[1] + t[2] + t[3]) * 1000000ULL / (unsigned long long)hz);
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL) {
		long pid = strtol(e->d_name, NULL, 10);
		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		FILE *s = fopen(path, "r");
		if (!s)
			continue;
		char *rp = fgets(line, sizeof(line), s) ? strrchr(line, ')') : NULL;
		long ppid = 0;
		char st;
		if (rp && sscanf(rp + 1, " %c %ld", &st, &ppid) == 2 && ppid == master)
			sum += test_cpu_us((int)pid);
		fclose(s);
	}
	if (d)
		closedir(d);
	return sum;
}

/* bench() of POST /call/outbound against gateway `pid`, then the CPU each
 * request cost the gateway, nats-server and PostgreSQL. */
static void bench_outbound(const char *name, const char *fig, const char *file, int port,
			   const char *lua,
			   int seconds, int pid, const struct test_nats *nats,
			   const struct test_pg *pg)
{
	char url[96];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/call/outbound", port);
	int64_t g0 = test_cpu_us(pid), n0 = test_cpu_us(nats->pid), p0 = pg_cpu_us(pg);
	double rate = bench(name, fig, file, url, lua, seconds, 32, TARGET_OUTBOUND_RATE);
	int64_t g1 = test_cpu_us(pid), n1 = test_cpu_us(nats->pid), p1 = pg_cpu_us(pg);
	double n = rate * seconds;
	if (n > 0 && g0 >= 0 && n0 >= 0 && p0 >= 0)
		printf("  %-18s CPU per call: api-gateway %.0f us, nats-server %.0f us, "
		       "postgres %.0f us\n", "", (double)(g1 - g0) / n, (double)(n1 - n0) / n,
		       (double)(p1 - p0) / n);
	fflush(stdout);
}

/* bench() of GET /calls/{id} against gateway `pid`, then the CPU each
 * request cost it (steadier than the rate in a VM). */
static void bench_get(const char *name, const char *fig, int port, const char *call_id,
		      const char *lua, int seconds, int pid)
{
	char url[160];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/calls/%s", port, call_id);
	int64_t g0 = test_cpu_us(pid);
	double rate = bench(name, fig, "get", url, lua, seconds, 64, TARGET_GET_RATE);
	int64_t g1 = test_cpu_us(pid);
	if (rate > 0 && g0 >= 0 && g1 >= 0)
		printf("  %-18s CPU per request: api-gateway %.1f us\n", "",
		       (double)(g1 - g0) / (rate * seconds));
	fflush(stdout);
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return errno;
	fputs(text, f);
	return fclose(f) ? errno : 0;
}

/* Starts the api-gateway binary `bin` on 127.0.0.1:port with one extra variable; 0 once ready. */
static int gateway_start(int *pidp, const char *bin, const struct test_nats *nats,
			 const struct test_pg *pg, int port, const char *extra, const char *log)
{
	char env_nats[96], env_db[300], env_api[64], env_health[64], url[96];
	int hport = test_free_port();
	/* the gateway's own default (8) unless BENCH_API_THREADS="API_THREADS=n" */
	const char *threads = getenv("BENCH_API_THREADS");
	if (threads && strncmp(threads, "API_THREADS=", 12) != 0)
		threads = NULL;
	snprintf(env_nats, sizeof(env_nats), "NATS_URL=%s", nats->url);
	snprintf(env_db, sizeof(env_db), "DATABASE_URL=%s", pg->url);
	snprintf(env_api, sizeof(env_api), "API_ADDR=127.0.0.1:%d", port);
	snprintf(env_health, sizeof(env_health), "HEALTH_ADDR=127.0.0.1:%d", hport);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", hport);
	if (test_spawn(pidp, (const char *const[]){ bin, NULL },
		       (const char *const[]){ env_nats, env_db, env_api, env_health,
					      "API_KEYS=" KEY, "LOG_LEVEL=warn", extra,
					      TEST_GW_SECRETS_ENV, threads, NULL },
		       log))
		return EIO;
	return test_http_wait(url, 200, 30000);
}

int main(void)
{
	int gw = 0, gw_plain = 0, gw_base = 0;
	struct test_nats nats = { 0 };
	struct test_pg pg = { 0 };
	struct bus_sub *subs[3] = { 0 };
	char log[300], url[256], body[1024], reply[4096], lua[300], aid[64], tid[64];
	char call_id[64];
	int rc = 1, seconds = 8;
	const char *s = getenv("BENCH_SECONDS");
	if (s && strtol(s, NULL, 10) > 0 && strtol(s, NULL, 10) <= 60)
		seconds = (int)strtol(s, NULL, 10);
	const char *build = getenv("BUILD") ? getenv("BUILD") : "build";

	printf("# bench_api: api-gateway under wrk\n");
	fflush(stdout);
	if (test_run_cmd(NULL, (const char *const[]){ "sh", "-c", "command -v wrk", NULL }, NULL,
			 10000) != 0) {
		printf("  skipped: wrk not installed (make deps)\n");
		bench_figure_absent("api.outbound.req_per_s", ">=", TARGET_OUTBOUND_RATE, "req/s",
				    "wrk not installed (make deps)");
		return 0;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	tmpdir = test_tmpdir("bench-api");
	if (!tmpdir)
		return 1;
	snprintf(log, sizeof(log), "%s/run.log", tmpdir);

	int aport = test_free_port(), aport2 = test_free_port(), aport3 = test_free_port();
	/* BENCH_API_BASELINE: another api-gateway binary (e.g. built from main)
	 * measured first, side by side in the same run */
	const char *baseline = getenv("BENCH_API_BASELINE");
	char bin[256];
	if (test_nats_start(&nats)) {
		printf("  nats-server did not start\n");
		goto out;
	}
	if (test_pg_start(&pg)) {
		printf("  PostgreSQL did not start\n");
		goto out;
	}
	/* gw: the gateway as configured by default; gw_plain: the same with
	 * DB_PREPARED=false, the way it ran before prepared statements. */
	snprintf(bin, sizeof(bin), "%s/bin/api-gateway", build);
	if (gateway_start(&gw, bin, &nats, &pg, aport, "DB_PREPARED=true", log) ||
	    gateway_start(&gw_plain, bin, &nats, &pg, aport2, "DB_PREPARED=false", log) ||
	    (baseline && gateway_start(&gw_base, baseline, &nats, &pg, aport3, "LOG_FORMAT=json",
				       log))) {
		printf("  api-gateway not ready (log %s)\n", log);
		goto out;
	}
	if (bus_connect(&fakes, nats.url, "bench-fakes") ||
	    bus_subscribe(fakes, &subs[0], "rooms.create", NULL, on_command, reply_room) ||
	    bus_subscribe(fakes, &subs[1], "agents.dispatch", NULL, on_command, reply_agent) ||
	    bus_subscribe(fakes, &subs[2], "rooms.delete", NULL, on_command, reply_empty))
		goto out;

	long st = 0;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/assistants", aport);
	if (http(&st, reply, "POST", url,
		 "{\"assistant_name\":\"Bench\",\"assistant_prompt\":\"Hello {{name}}\"}") ||
	    st != 201 || reply_field(aid, sizeof(aid), reply, "assistant_id"))
		goto api_failed;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/trunks", aport);
	if (http(&st, reply, "POST", url,
		 "{\"trunk_name\":\"Bench\",\"trunk_type\":\"exotel\",\"trunk_config\":{\"sip_"
		 "host\":"
		 "\"127.0.0.1\",\"username\":\"u\",\"password\":\"p\",\"numbers\":[\"+"
		 "918044319240\"]}}") ||
	    st != 201 || reply_field(tid, sizeof(tid), reply, "trunk_id"))
		goto api_failed;
	/* one call to read back: GET runs first, on a quiet system */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/call/outbound", aport);
	snprintf(body, sizeof(body),
		 "{\"assistant_id\":\"%s\",\"trunk_id\":\"%s\",\"to_number\":\"+919876543210\","
		 "\"call_service\":\"exotel\"}", aid, tid);
	if (http(&st, reply, "POST", url, body) || st != 202 ||
	    reply_field(call_id, sizeof(call_id), reply, "call_id"))
		goto api_failed;
	snprintf(lua, sizeof(lua), "%s/get.lua", tmpdir);
	if (write_file(lua, "wrk.headers[\"Authorization\"] = \"Bearer " KEY "\"\n"))
		goto out;
	if (baseline)
		bench_get("GET /calls/{id} BENCH_API_BASELINE", "api.get_call_baseline", aport3,
			  call_id, lua, seconds, gw_base);
	bench_get("GET /calls/{id}", "api.get_call", aport, call_id, lua, seconds, gw);

	snprintf(body, sizeof(body),
		 "{\\\"assistant_id\\\":\\\"%s\\\",\\\"trunk_id\\\":\\\"%s\\\",\\\"to_number\\\":"
		 "\\\"+919876543210\\\",\\\"call_service\\\":\\\"exotel\\\",\\\"metadata\\\":"
		 "{\\\"name\\\":\\\"Asha\\\"}}", aid, tid);
	char script[2048];
	snprintf(script, sizeof(script),
		 "wrk.method = \"POST\"\nwrk.body = \"%s\"\n"
		 "wrk.headers[\"Content-Type\"] = \"application/json\"\n"
		 "wrk.headers[\"Authorization\"] = \"Bearer " KEY "\"\n", body);
	snprintf(lua, sizeof(lua), "%s/outbound.lua", tmpdir);
	if (write_file(lua, script))
		goto out;
	/* each gateway stops after its run: its persister would share the next one's work */
	if (baseline) {
		bench_outbound("POST /call/outbound BENCH_API_BASELINE", "api.outbound_baseline",
			       "outbound-base", aport3, lua, seconds, gw_base, &nats, &pg);
		test_stop(&gw_base, SIGTERM, 10000);
	}
	bench_outbound("POST /call/outbound DB_PREPARED=false", "api.outbound_unprepared",
		       "outbound-plain", aport2, lua, seconds, gw_plain, &nats, &pg);
	test_stop(&gw_plain, SIGTERM, 10000);
	bench_outbound("POST /call/outbound", "api.outbound", "outbound", aport, lua, seconds, gw,
		       &nats, &pg);
	rc = 0;
	goto out;
api_failed:
	printf("  setup request failed: %ld %s (log %s)\n", st, reply, log);
out:
	for (int i = 0; i < 3; i++)
		subs[i] = bus_unsubscribe(subs[i]);
	fakes = bus_close(fakes);
	test_stop(&gw, SIGTERM, 10000);
	test_stop(&gw_plain, SIGTERM, 10000);
	test_stop(&gw_base, SIGTERM, 10000);
	test_pg_destroy(&pg);
	test_nats_destroy(&nats);
	if (rc == 0)
		test_rmtree(tmpdir);
	free(tmpdir);
	curl_global_cleanup();
	return rc;
}
