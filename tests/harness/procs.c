/* Real processes for integration tests: nats-server, PostgreSQL, services. */
#include "test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Test ports come from PORT_LO..PORT_HI-1: below the kernel's ephemeral
 * range (32768-60999 by default), so no connect() or bind(0) anywhere on the
 * machine takes one between our check and its user's bind (CI once lost
 * baresip's SIP port that way), and apart from the RTP ranges tests give
 * services (20000 and up). Each process walks the range from a start of its
 * own, so it never hands out a port twice, and a port is handed out only
 * when binding it works now. */
#define PORT_LO 10000
#define PORT_HI 20000

/* Binds 127.0.0.1:port for `type` and keeps the socket in fds[*nfds];
 * false when the port is taken. */
static bool hold_port(int type, int port, int fds[], int *nfds)
{
	int fd = socket(AF_INET, type, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		fds[(*nfds)++] = fd;
		return true;
	}
	if (fd >= 0)
		close(fd);
	return false;
}

/* n (1..4) consecutive ports, free now for TCP when tcp and for UDP when
 * udp: the first, or -1 when the range has none. */
static int take_ports(int n, bool tcp, bool udp)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	static int next;
	int port = -1;
	if (n < 1 || n > 4)
		return -1;
	pthread_mutex_lock(&mu);
	if (next == 0)
		next = PORT_LO + (int)(((unsigned)getpid() * 2654435761u ^ (unsigned)time(NULL)) %
				       (PORT_HI - PORT_LO));
	for (int tries = 0; tries < PORT_HI - PORT_LO && port < 0; tries++) {
		int p = next + n <= PORT_HI ? next : PORT_LO;
		int fds[8], nfds = 0;
		bool ok = true;
		/* held together until all are checked */
		for (int i = 0; ok && i < n; i++) {
			if (tcp)
				ok = hold_port(SOCK_STREAM, p + i, fds, &nfds);
			if (ok && udp)
				ok = hold_port(SOCK_DGRAM, p + i, fds, &nfds);
		}
		while (nfds > 0)
			close(fds[--nfds]);
		next = ok ? p + n : p + 1;
		if (ok)
			port = p;
	}
	pthread_mutex_unlock(&mu);
	return port;
}

int test_free_port(void)
{
	return take_ports(1, true, false);
}

int test_free_udp_port(void)
{
	return take_ports(1, false, true);
}

int test_free_port_span(int n)
{
	return take_ports(n, true, true);
}

int test_free_udp_span(int n)
{
	return take_ports(n, false, true);
}

void test_nap_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
	while (nanosleep(&ts, &ts) == EINTR)
		;
}

void test_nap_ms(int ms)
{
	test_nap_us((long)ms * 1000);
}

bool test_wait_until(test_pred_h pred, void *arg, int timeout_ms)
{
	struct timespec now, end;
	int step_ms = 2;
	clock_gettime(CLOCK_MONOTONIC, &end);
	test_deadline_step(&end, timeout_ms);
	for (;;) {
		if (pred(arg))
			return true;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > end.tv_sec ||
		    (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
			return pred(arg);
		test_nap_ms(step_ms);
		if (step_ms < 50)
			step_ms *= 2;
	}
}

void test_deadline_step(struct timespec *t, int ms)
{
	t->tv_nsec += (long)ms * 1000000L;
	t->tv_sec += t->tv_nsec / 1000000000L;
	t->tv_nsec %= 1000000000L;
}

void test_pace(struct timespec *t, int ms)
{
	test_deadline_step(t, ms);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, t, NULL) == EINTR)
		;
}

char *test_tmpdir(const char *prefix)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char tmpl[512];
	snprintf(tmpl, sizeof(tmpl), "%s/callmesh-%s-XXXXXX", base, prefix);
	char *d = mkdtemp(tmpl);
	return d ? strdup(d) : NULL;
}

void test_rmtree(const char *dir)
{
	if (!dir || !*dir || strcmp(dir, "/") == 0)
		return;
	const char *argv[] = { "rm", "-rf", (char *)dir, NULL };
	char *out = NULL;
	test_run_cmd(&out, argv, NULL, 30000);
	free(out);
}

int test_wait_port(int port, int timeout_ms)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		if (fd >= 0)
			close(fd);
		if (ok)
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > timeout_ms)
			return ETIMEDOUT;
		struct timespec nap = { 0, 10 * 1000000 };
		nanosleep(&nap, NULL);
	}
}

static int nats_spawn(struct test_nats *n)
{
	char port[16], store[512], log[512], conf[512];
	snprintf(port, sizeof(port), "%d", n->port);
	snprintf(store, sizeof(store), "%s/js", n->dir);
	snprintf(log, sizeof(log), "%s/nats.log", n->dir);
	snprintf(conf, sizeof(conf), "%s/auth/nats.conf", n->dir);
	pid_t pid = fork();
	if (pid < 0)
		return errno;
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (n->auth)
			execlp("nats-server", "nats-server", "-c", conf, "-a", "127.0.0.1", "-p",
			       port, "-js", "-sd", store, (char *)NULL);
		else
			execlp("nats-server", "nats-server", "-a", "127.0.0.1", "-p", port, "-js",
			       "-sd", store, (char *)NULL);
		_exit(127);
	}
	n->pid = pid;
	return test_wait_port(n->port, 10000);
}

int test_nats_start(struct test_nats *n)
{
	memset(n, 0, sizeof(*n));
	n->port = test_free_port();
	n->dir = test_tmpdir("nats");
	if (n->port < 0 || !n->dir)
		return EIO;
	snprintf(n->url, sizeof(n->url), "nats://127.0.0.1:%d", n->port);
	return nats_spawn(n);
}

/* A CA, a server certificate for 127.0.0.1 and a client certificate, both
 * signed by the CA, into <dir>/tls (ca.pem, server.pem/-key.pem,
 * client.pem/-key.pem). */
static int make_certs(const char *dir)
{
	static const char script[] =
		"set -e; mkdir -p \"$1\"; cd \"$1\"; umask 077\n"
		"ec='-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes'\n"
		"openssl req -x509 $ec -keyout ca-key.pem -out ca.pem -days 2 -subj "
		"/CN=callmesh-test-ca\n"
		"for who in server client; do\n"
		"  openssl req $ec -keyout $who-key.pem -out $who.csr -subj /CN=127.0.0.1\n"
		"  printf "
		"'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth,clientAuth\\n' > "
		"$who.ext\n"
		"  openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial "
		"-days 2"
		" -extfile $who.ext -out $who.pem\n"
		"done\n";
	char tls[512], *out = NULL;
	snprintf(tls, sizeof(tls), "%s/tls", dir);
	const char *argv[] = { "sh", "-c", script, "sh", tls, NULL };
	int st = test_run_cmd(&out, argv, NULL, 30000);
	if (st != 0)
		fprintf(stdout, "    certificates: openssl failed (%d): %s\n", st, out ? out : "");
	free(out);
	return st == 0 ? 0 : EIO;
}

static int nats_start_auth(struct test_nats *n, bool tls)
{
	memset(n, 0, sizeof(*n));
	n->port = test_free_port();
	n->dir = test_tmpdir("nats");
	if (n->port < 0 || !n->dir)
		return EIO;
	n->auth = true;
	snprintf(n->url, sizeof(n->url), "%s://127.0.0.1:%d", tls ? "tls" : "nats", n->port);
	char auth[512], cert[512], key[512], ca[512], *out = NULL;
	snprintf(auth, sizeof(auth), "%s/auth", n->dir);
	snprintf(cert, sizeof(cert), "%s/tls/server.pem", n->dir);
	snprintf(key, sizeof(key), "%s/tls/server-key.pem", n->dir);
	snprintf(ca, sizeof(ca), "%s/tls/ca.pem", n->dir);
	if (tls && make_certs(n->dir))
		return EIO;
	const char *plain[] = { "scripts/nats-auth.sh", "generate", auth, NULL };
	const char *with_tls[] = { "scripts/nats-auth.sh", "generate", auth, "--tls", cert, key,
				   "--verify", ca, NULL };
	int st = test_run_cmd(&out, tls ? with_tls : plain, NULL, 20000);
	if (st != 0) {
		fprintf(stdout, "    nats-auth.sh generate failed (%d): %s\n", st, out ? out : "");
		free(out);
		return EIO;
	}
	free(out);
	return nats_spawn(n);
}

int test_nats_start_auth(struct test_nats *n)
{
	return nats_start_auth(n, false);
}

int test_nats_start_tls(struct test_nats *n)
{
	return nats_start_auth(n, true);
}

int test_nats_password(const struct test_nats *n, const char *user, char *buf, size_t len)
{
	char path[512], line[256];
	int err = ENOENT;
	snprintf(path, sizeof(path), "%s/auth/%s.env", n->dir, user);
	FILE *f = fopen(path, "r");
	if (!f)
		return ENOENT;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "NATS_PASSWORD=", 14) == 0) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(buf, len, "%s", line + 14);
			err = 0;
		}
	}
	fclose(f);
	return err;
}

int test_nats_user_env(const struct test_nats *n, const char *user, char env[3][160])
{
	char pw[128];
	int err = test_nats_password(n, user, pw, sizeof(pw));
	if (err)
		return err;
	snprintf(env[0], 160, "NATS_USER=%s", user);
	snprintf(env[1], 160, "NATS_PASSWORD=%s", pw);
	snprintf(env[2], 160, "NATS_INBOX_PREFIX=_INBOX.%s", user);
	return 0;
}

void test_nats_stop(struct test_nats *n)
{
	if (n->pid > 0) {
		kill(n->pid, SIGTERM);
		waitpid(n->pid, NULL, 0);
		n->pid = 0;
	}
}

int test_nats_restart(struct test_nats *n)
{
	test_nats_stop(n);
	return nats_spawn(n);
}

void test_nats_destroy(struct test_nats *n)
{
	test_nats_stop(n);
	test_rmtree(n->dir);
	free(n->dir);
	n->dir = NULL;
}

static int pg_start(struct test_pg *pg, bool durable)
{
	memset(pg, 0, sizeof(*pg));
	pg->port = test_free_port();
	pg->dir = test_tmpdir("pg");
	if (pg->port < 0 || !pg->dir)
		return EIO;
	char port[16];
	snprintf(port, sizeof(port), "%d", pg->port);
	/* durability off unless asked for: a test cluster does not outlive its test */
	const char *argv[] = { "scripts/pg.sh", "start", pg->dir, port, durable ? NULL : "fast",
			       NULL };
	char *out = NULL;
	int st = test_run_cmd(&out, argv, NULL, 120000);
	if (st != 0) {
		fprintf(stdout, "    pg.sh start failed (%d): %s\n", st, out ? out : "");
		free(out);
		return EIO;
	}
	free(out);
	snprintf(pg->url, sizeof(pg->url),
		 "postgresql://callmesh@127.0.0.1:%d/callmesh?connect_timeout=5", pg->port);
	return 0;
}

int test_pg_start(struct test_pg *pg)
{
	return pg_start(pg, false);
}

int test_pg_start_durable(struct test_pg *pg)
{
	return pg_start(pg, true);
}

void test_pg_destroy(struct test_pg *pg)
{
	if (!pg->dir)
		return;
	const char *argv[] = { "scripts/pg.sh", "stop", pg->dir, NULL };
	char *out = NULL;
	test_run_cmd(&out, argv, NULL, 60000);
	free(out);
	test_rmtree(pg->dir);
	free(pg->dir);
	pg->dir = NULL;
}

int test_run_cmd(char **outputp, const char *const argv[], const char *const envp[], int timeout_ms)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		for (const char *const *e = envp; e && *e; e++)
			putenv((char *)*e);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	bool killed = false;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		long left = timeout_ms -
			    ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0) {
			kill(pid, SIGKILL);
			killed = true;
			break;
		}
		struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		if (len + 1024 > cap && cap < (1u << 22)) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
		ssize_t r = read(fds[0], buf + len, cap - len - 1 > 1024 ? 1024 : cap - len - 1);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fds[0]);
	buf[len] = '\0';
	int status = 0;
	waitpid(pid, &status, 0);
	if (outputp)
		*outputp = buf;
	else
		free(buf);
	if (killed)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int test_spawn(int *pidp, const char *const argv[], const char *const envp[], const char *logpath)
{
	pid_t pid = fork();
	if (pid < 0)
		return errno;
	if (pid == 0) {
		int fd = open(logpath ? logpath : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		for (const char *const *e = envp; e && *e; e++)
			putenv((char *)*e);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	*pidp = pid;
	return 0;
}

int test_wait_exit(int pid, int timeout_ms, int *exitp)
{
	for (int waited = 0;; waited += 10) {
		int status = 0;
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid) {
			*exitp = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			return 0;
		}
		if (r < 0)
			return errno;
		if (waited >= timeout_ms)
			return ETIMEDOUT;
		struct timespec nap = { 0, 10 * 1000000 };
		nanosleep(&nap, NULL);
	}
}

void test_kill(int pid)
{
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

void test_stop(int *pidp, int sig, int grace_ms)
{
	int code = 0;
	if (*pidp <= 0)
		return;
	kill(*pidp, sig);
	if (test_wait_exit(*pidp, grace_ms, &code) == ETIMEDOUT)
		test_kill(*pidp);
	*pidp = 0;
}

const char *test_bin(char *buf, size_t len, const char *name)
{
	const char *build = getenv("CALLMESH_BUILD");
	snprintf(buf, len, "%s/bin/%s", build && *build ? build : "build", name);
	return buf;
}
