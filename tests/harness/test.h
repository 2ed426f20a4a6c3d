/*
 * The in-repo test harness: each tests/<kind>/test_<mod>.c holds a table of
 * tests and ends with TEST_MAIN(table). A test returns 0 on success; the
 * assertion macros log the failing expression and jump to the test's `out:`
 * label, so cleanup below it always runs. Each binary ends with the line
 * "N passed, M failed"; tests/run.sh sums them. The benches (bench/) link
 * the harness too, for its processes, ports and CPU readers.
 *
 *   static int test_roundtrip(void)
 *   {
 *           int err = 0;
 *           char *s = make();
 *           TEST_ASSERT(s != NULL);
 *           TEST_EQ_STR(s, "x");
 *   out:
 *           free(s);
 *           return err;
 *   }
 */
#ifndef CALLMESH_TEST_H
#define CALLMESH_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

struct test {
	const char *name;
	int (*fn)(void);
};

void test_failed(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int test_run(const char *suite, const struct test *tests, size_t n, int argc, char **argv);

#define TEST_MAIN(table)                                                              \
	int main(int argc, char **argv)                                               \
	{                                                                             \
		return test_run(__FILE__, table, sizeof(table) / sizeof(table[0]), argc, argv); \
	}

#define TEST_ASSERT(cond)                                                             \
	do {                                                                          \
		if (!(cond)) {                                                        \
			test_failed(__FILE__, __LINE__, "assertion failed: %s", #cond); \
			err = 1;                                                      \
			goto out;                                                     \
		}                                                                     \
	} while (0)

#define TEST_EQ_INT(a, b)                                                             \
	do {                                                                          \
		long long a_ = (long long)(a), b_ = (long long)(b);                   \
		if (a_ != b_) {                                                       \
			test_failed(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_); \
			err = 1;                                                      \
			goto out;                                                     \
		}                                                                     \
	} while (0)

#define TEST_EQ_STR(a, b)                                                             \
	do {                                                                          \
		const char *a_ = (a), *b_ = (b);                                      \
		if (!a_ || !b_ || strcmp(a_, b_) != 0) {                              \
			test_failed(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b, \
				    a_ ? a_ : "(null)", b_ ? b_ : "(null)");          \
			err = 1;                                                      \
			goto out;                                                     \
		}                                                                     \
	} while (0)

/* A substring check, for error messages and rendered output. */
#define TEST_CONTAINS(hay, needle)                                                              \
	do {                                                                                    \
		const char *h_ = (hay), *n_ = (needle);                                         \
		if (!h_ || !strstr(h_, n_)) {                                                   \
			test_failed(__FILE__, __LINE__, "%s contains \"%s\": got \"%s\"", #hay, \
				    n_, h_ ? h_ : "(null)");                                    \
			err = 1;                                                                \
			goto out;                                                               \
		}                                                                               \
	} while (0)

/* ---- real processes for integration tests (tests/harness/procs.c) ------- */

/* A free TCP port on 127.0.0.1 (bound then released); -1 when none. */
int test_free_port(void);
/* The same for UDP. */
int test_free_udp_port(void);
/* A TCP port P where P..P+n-1 (n ≤ 4) are free for TCP and UDP alike: for a
 * peer such as baresip that listens on both and on the next port for TLS. */
int test_free_port_span(int n);
/* A UDP port P where P..P+n-1 (n ≤ 4) are free: sipp's -mp, which binds P
 * and P+2 (its video socket) and exits when either is taken. */
int test_free_udp_span(int n);
/* Sleeps; for pacing and polling, never as synchronisation with an event. */
void test_nap_ms(int ms);
void test_nap_us(long us);
/* Moves a CLOCK_MONOTONIC deadline `ms` on (a sender's next frame). */
void test_deadline_step(struct timespec *t, int ms);
/* Moves *t `ms` on and sleeps until then: pacing on absolute deadlines, so
 * the work between two frames does not slow the sender down. */
void test_pace(struct timespec *t, int ms);
/* A condition a test awaits: true once it holds. Called from the test's thread. */
typedef bool (*test_pred_h)(void *arg);
/* Polls pred(arg) (every 2 ms, backing off to 50 ms) until it returns true or
 * timeout_ms passed; true when it held. The way to wait for an event that has
 * no notification of its own, instead of a fixed sleep. */
bool test_wait_until(test_pred_h pred, void *arg, int timeout_ms);
/* Waits up to timeout_ms until something accepts TCP connections on
 * 127.0.0.1:port; 0 or ETIMEDOUT. */
int test_wait_port(int port, int timeout_ms);
/* A fresh temporary directory under $TMPDIR; caller frees. */
char *test_tmpdir(const char *prefix);
/* Removes a directory tree (rm -rf). */
void test_rmtree(const char *dir);

struct test_nats {
	int port;
	int pid;
	char url[64];
	char *dir; /* JetStream store; kept across restart */
	bool auth; /* started by test_nats_start_auth(): users in <dir>/auth */
};
/* Starts nats-server with JetStream on a free port; waits until it accepts. */
int test_nats_start(struct test_nats *n);
/* The same with authorization on: scripts/nats-auth.sh generates one user
 * per service and `viewer` into <dir>/auth, and nats-server runs with that
 * config (anonymous clients are refused). */
int test_nats_start_auth(struct test_nats *n);
/* The same behind TLS with client certificates: url is tls://…; a CA, the
 * server's and a client's certificate (signed by it) are in <dir>/tls:
 * ca.pem, client.pem, client-key.pem. */
int test_nats_start_tls(struct test_nats *n);
/* The password of `user` of an auth-on server, into buf (NUL-terminated).
 * ENOENT when there is no such user. */
int test_nats_password(const struct test_nats *n, const char *user, char *buf, size_t len);
/* envp entries for a service that connects as `user`: NATS_USER=,
 * NATS_PASSWORD=, NATS_INBOX_PREFIX= into three buffers of `len` bytes each. */
int test_nats_user_env(const struct test_nats *n, const char *user, char env[3][160]);
/* Stops it (SIGTERM, wait); the store stays for a restart. */
void test_nats_stop(struct test_nats *n);
/* Starts it again on the same port and store. */
int test_nats_restart(struct test_nats *n);
/* Stops it and removes its store. */
void test_nats_destroy(struct test_nats *n);

struct test_pg {
	int port;
	char *dir;
	char url[256];
};
/* A throw-away PostgreSQL cluster (scripts/pg.sh, durability off for speed) on a free port. */
int test_pg_start(struct test_pg *pg);
/* The same with PostgreSQL's defaults: fsync and synchronous commit on (benches). */
int test_pg_start_durable(struct test_pg *pg);
void test_pg_destroy(struct test_pg *pg);

/* Runs `argv` with extra environment `envp` (NAME=VALUE, NULL-terminated),
 * capturing stdout+stderr (caller frees *outputp) and waiting at most
 * timeout_ms; returns the exit status, or -1 when it had to be killed. */
int test_run_cmd(char **outputp, const char *const argv[], const char *const envp[],
		 int timeout_ms);

/* Starts `argv` in the background with extra environment `envp`, output
 * appended to `logpath`; *pidp is its pid. */
int test_spawn(int *pidp, const char *const argv[], const char *const envp[], const char *logpath);
/* Waits up to timeout_ms for pid to exit; *exitp = exit code, or 128+signal.
 * ETIMEDOUT when it is still running. */
int test_wait_exit(int pid, int timeout_ms, int *exitp);
/* SIGKILL + reap, for cleanup after a failed assertion. */
void test_kill(int pid);
/* Sends `sig` to *pidp, gives it grace_ms to exit, then SIGKILL; reaps it and
 * sets *pidp = 0. Nothing when *pidp <= 0. */
void test_stop(int *pidp, int sig, int grace_ms);

/* GET (body NULL) or POST a URL with libcurl; *statusp = HTTP status, *bodyp
 * (may be NULL) = response body, caller frees. 0 or EIO on transport error. */
int test_http(long *statusp, char **bodyp, const char *method, const char *url,
	      const char *bearer, const char *body);
/* Polls GET url until it answers `want_status`, up to timeout_ms. */
int test_http_wait(const char *url, long want_status, int timeout_ms);

/* What api-gateway and sip-bridge need to start (issue 13): the key that
 * seals trunk passwords (SECRETS_KEY) and the webhook signing secret. Test
 * values only. */
#define TEST_SECRETS_KEY "dGVzdC1vbmx5LXNlY3JldHMta2V5LTMyLWJ5dGVzISE="
#define TEST_WEBHOOK_SECRET "test-only-webhook-signing-secret-0123456789"
#define TEST_GW_SECRETS_ENV \
	"SECRETS_KEY=" TEST_SECRETS_KEY, "WEBHOOK_SIGNING_SECRET=" TEST_WEBHOOK_SECRET
/* `password` sealed for dial job `call_id` with TEST_SECRETS_KEY, as
 * api-gateway puts it in trunk.password_sealed (seal.c). Caller frees;
 * NULL on failure. */
char *test_seal_for_call(const char *call_id, const char *password);

/* The build directory (CALLMESH_BUILD, default "build") + "/bin/" + name. */
const char *test_bin(char *buf, size_t len, const char *name);

/* ---- CPU time of other processes, for benches (tests/harness/cpu.c) ----- */

/* utime + stime of pid (/proc/<pid>/stat), µs, in clock ticks; -1 when unknown. */
int64_t test_cpu_us(int pid);

/* Time on a CPU of every thread of pid (/proc/<pid>/task/<tid>/schedstat),
 * ns: finer than clock ticks; 0 when unknown. */
double test_cpu_sched_ns(int pid);

#define TEST_THREADS_MAX 64
#define TEST_THREAD_NAME_MAX 20
/* CPU time of pid's threads, µs, summed over the threads of one name. */
struct test_threads {
	int n;
	char name[TEST_THREADS_MAX][TEST_THREAD_NAME_MAX];
	int64_t us[TEST_THREADS_MAX];
};
/* Reads every thread of pid (/proc/<pid>/task/<tid>/stat) into *t. */
void test_threads_cpu(struct test_threads *t, int pid);
/* The µs of the threads named `name` in t; 0 when there are none. */
int64_t test_threads_us(const struct test_threads *t, const char *name);

/* The p-th percentile (0..100) of v[0..n), sorting v; -1 when n <= 0
 * (stats.c). */
int64_t test_pct(int64_t *v, int n, int p);

/* ---- PostgreSQL state, for integration tests (tests/harness/db.c) ------ */

struct db;
/* The first column of the first row of `sql` ($1 = arg when not NULL): ""
 * when there is no row or it is SQL NULL; NULL when the query failed.
 * Caller frees. */
char *test_db_query1(struct db *db, const char *sql, const char *arg);
/* Polls test_db_query1 every 25 ms until it returns `want`; 0 or ETIMEDOUT
 * after timeout_ms. */
int test_db_wait_value(struct db *db, const char *sql, const char *arg, const char *want,
		       int timeout_ms);

/* Re-executes this test binary (argv) inside a network namespace of its
 * own through tests/netns/run.sh, unless it already runs in one
 * (CALLMESH_NETNS set): then returns 0 at once. Otherwise returns only on
 * failure (2, message on stderr). Call first in main(); root only. */
int test_netns_enter(int argc, char **argv);

#endif
