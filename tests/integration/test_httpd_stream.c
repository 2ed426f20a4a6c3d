/* libs/httpd streaming and file replies against a real listener: a parked
 * stream costs no thread and no CPU until it is woken, a wake delivers at
 * once, HTTPD_STREAM_END finishes the chunked body, a client that left is
 * noticed at the next write, httpd_free() ends parked streams (MHD would
 * abort on suspended connections), and fd replies send the asked slice. */
#include "harness/test.h"
#include "httpd/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SLOTS 8

struct slot {
	struct httpd_stream *stream;
	char buf[256];
	size_t len;
	bool end, done, used;
	int reads;
};

struct ctx {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct slot s[SLOTS];
	char file[256];
};

struct slot_arg {
	struct ctx *c;
	struct slot *s;
};

static long on_read(char *buf, size_t max, void *arg)
{
	struct slot_arg *a = arg;
	long n;
	pthread_mutex_lock(&a->c->mu);
	a->s->reads++;
	if (a->s->len) {
		n = (long)(a->s->len < max ? a->s->len : max);
		memcpy(buf, a->s->buf, (size_t)n);
		memmove(a->s->buf, a->s->buf + n, a->s->len - (size_t)n);
		a->s->len -= (size_t)n;
	} else {
		n = a->s->end ? HTTPD_STREAM_END : 0;
	}
	pthread_mutex_unlock(&a->c->mu);
	return n;
}

static void on_done(void *arg)
{
	struct slot_arg *a = arg;
	pthread_mutex_lock(&a->c->mu);
	a->s->done = true;
	a->s->stream = NULL;
	pthread_cond_broadcast(&a->c->cv);
	pthread_mutex_unlock(&a->c->mu);
	free(a);
}

static void on_stream(struct httpd_req *req, void *arg)
{
	struct ctx *c = arg;
	static const struct httpd_header hdrs[] = { { "Cache-Control", "no-store" } };
	struct slot_arg *a = malloc(sizeof(*a));
	struct slot *s = NULL;
	pthread_mutex_lock(&c->mu);
	for (int i = 0; i < SLOTS && !s; i++)
		if (!c->s[i].used)
			s = &c->s[i];
	if (s) {
		memset(s, 0, sizeof(*s));
		s->used = true;
		memcpy(s->buf, "hello\n", 6);
		s->len = 6;
	}
	pthread_mutex_unlock(&c->mu);
	if (!s || !a) {
		free(a);
		httpd_reply_error(req, 503, "full", NULL, "no slot");
		return;
	}
	a->c = c;
	a->s = s;
	struct httpd_stream *st = NULL;
	if (httpd_reply_stream(req, &st, 200, "text/event-stream", hdrs, 1, on_read, on_done, a)) {
		free(a);
		return;
	}
	pthread_mutex_lock(&c->mu);
	s->stream = st;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void on_file(struct httpd_req *req, void *arg)
{
	struct ctx *c = arg;
	static const struct httpd_header hdrs[] = { { "X-Test", "slice" },
						    { "Accept-Ranges", "bytes" } };
	int fd = open(c->file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		httpd_reply_error(req, 404, "not_found", NULL, "no file");
		return;
	}
	httpd_reply_fd(req, 206, "text/plain", fd, 5, 10, hdrs, 2);
}

static void on_hdrs(struct httpd_req *req, void *arg)
{
	(void)arg;
	static const struct httpd_header hdrs[] = { { "X-One", "1" }, { "X-Two", "2" } };
	httpd_reply_raw_hdrs(req, 200, "text/plain", "ok", 2, hdrs, 2);
}

static const struct httpd_route routes[] = {
	{ "GET", "/stream", on_stream, true },
	{ "GET", "/file", on_file, true },
	{ "GET", "/hdrs", on_hdrs, true },
};

/* ---- a raw HTTP client -------------------------------------------------- */

static int client_open(int port, const char *path)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	char req[256];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
	if (write(fd, req, (size_t)n) != n) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads into buf (appending) until `needle` is in it or timeout; 0 when found. */
static int client_wait(int fd, char *buf, size_t cap, size_t *lenp, const char *needle,
		       int timeout_ms)
{
	int64_t end = time_mono_ms() + timeout_ms;
	for (int i = 0; i < 10000; i++) {
		buf[*lenp] = '\0';
		if (strstr(buf, needle))
			return 0;
		int left = (int)(end - time_mono_ms());
		if (left <= 0)
			return ETIMEDOUT;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, left) <= 0)
			continue;
		ssize_t n = read(fd, buf + *lenp, cap - 1 - *lenp);
		if (n <= 0)
			return EPIPE;
		*lenp += (size_t)n;
	}
	return ETIMEDOUT;
}

/* Waits until slot i has its stream handle (the handler ran). */
static int await_stream(struct ctx *c, int i)
{
	int64_t end = time_mono_ms() + 3000;
	pthread_mutex_lock(&c->mu);
	while (!c->s[i].stream && !c->s[i].done && time_mono_ms() < end) {
		pthread_mutex_unlock(&c->mu);
		test_nap_ms(5);
		pthread_mutex_lock(&c->mu);
	}
	int rc = c->s[i].stream ? 0 : ETIMEDOUT;
	pthread_mutex_unlock(&c->mu);
	return rc;
}

static int await_done(struct ctx *c, int i, int timeout_ms)
{
	int64_t end = time_mono_ms() + timeout_ms;
	pthread_mutex_lock(&c->mu);
	while (!c->s[i].done && time_mono_ms() < end) {
		pthread_mutex_unlock(&c->mu);
		test_nap_ms(5);
		pthread_mutex_lock(&c->mu);
	}
	bool done = c->s[i].done;
	pthread_mutex_unlock(&c->mu);
	return done ? 0 : ETIMEDOUT;
}

/* Queues text on slot i and wakes it, as an owner must: under its lock,
 * and only while done has not run. */
static void push(struct ctx *c, int i, const char *text, bool end)
{
	pthread_mutex_lock(&c->mu);
	struct slot *s = &c->s[i];
	size_t n = strlen(text);
	if (s->len + n < sizeof(s->buf)) {
		memcpy(s->buf + s->len, text, n);
		s->len += n;
	}
	s->end = end;
	if (!s->done)
		httpd_stream_wake(s->stream);
	pthread_mutex_unlock(&c->mu);
}

static int reads_of(struct ctx *c, int i)
{
	pthread_mutex_lock(&c->mu);
	int r = c->s[i].reads;
	pthread_mutex_unlock(&c->mu);
	return r;
}

static int start(struct ctx *c, struct httpd **hp, int *portp, unsigned threads)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	*portp = test_free_port();
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", *portp);
	struct httpd_opts o = { .threads = threads };
	return httpd_new(hp, addr, routes, CM_ARRAY_LEN(routes), c, &o);
}

static void finish(struct ctx *c, struct httpd *h)
{
	httpd_free(h);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
}

static int test_park_wake_end(void)
{
	int err = 0, port = 0, fd = -1;
	struct ctx c;
	struct httpd *h = NULL;
	char buf[4096];
	size_t len = 0;
	TEST_ASSERT(start(&c, &h, &port, 2) == 0);
	fd = client_open(port, "/stream");
	TEST_ASSERT(fd >= 0);
	TEST_ASSERT(client_wait(fd, buf, sizeof(buf), &len, "hello\n", 3000) == 0);
	TEST_CONTAINS(buf, "Transfer-Encoding: chunked");
	TEST_CONTAINS(buf, "Cache-Control: no-store");
	TEST_ASSERT(await_stream(&c, 0) == 0);
	/* parked: nothing reads it while there is nothing to send */
	int before = reads_of(&c, 0);
	test_nap_ms(300);
	int idle = reads_of(&c, 0) - before;
	TEST_ASSERT(idle <= 2);
	int64_t t0 = time_mono_ms();
	push(&c, 0, "world\n", false);
	TEST_ASSERT(client_wait(fd, buf, sizeof(buf), &len, "world\n", 2000) == 0);
	int64_t woke_ms = time_mono_ms() - t0;
	TEST_ASSERT(woke_ms < 500);
	push(&c, 0, "bye\n", true);
	TEST_ASSERT(client_wait(fd, buf, sizeof(buf), &len, "bye\n\r\n0\r\n\r\n", 2000) == 0);
	TEST_ASSERT(await_done(&c, 0, 2000) == 0);
	printf("    parked 300 ms: %d reads; a wake reached the client in %lld ms\n", idle,
	       (long long)woke_ms);
out:
	if (fd >= 0)
		close(fd);
	finish(&c, h);
	return err;
}

static int test_parked_hold_no_thread(void)
{
	int err = 0, port = 0, fds[4] = { -1, -1, -1, -1 };
	struct ctx c;
	struct httpd *h = NULL;
	char *body = NULL;
	long status = 0;
	char url[128];
	TEST_ASSERT(start(&c, &h, &port, 2) == 0);
	for (int i = 0; i < 4; i++) {
		char buf[1024];
		size_t len = 0;
		fds[i] = client_open(port, "/stream");
		TEST_ASSERT(fds[i] >= 0);
		TEST_ASSERT(client_wait(fds[i], buf, sizeof(buf), &len, "hello\n", 3000) == 0);
	}
	/* 4 parked streams on 2 threads: an ordinary request still answers */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hdrs", port);
	TEST_ASSERT(test_http(&status, &body, "GET", url, NULL, NULL) == 0);
	TEST_EQ_INT(status, 200);
	TEST_EQ_STR(body, "ok");
	/* a client that left is noticed when its stream next writes */
	close(fds[0]);
	fds[0] = -1;
	for (int k = 0; k < 20 && await_done(&c, 0, 100) != 0; k++)
		push(&c, 0, "are you there?\n", false);
	TEST_ASSERT(await_done(&c, 0, 100) == 0);
	/* stop with three streams parked: they end, done runs for each */
	h = httpd_free(h);
	for (int i = 1; i < 4; i++)
		TEST_ASSERT(await_done(&c, i, 100) == 0);
out:
	free(body);
	for (int i = 0; i < 4; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	finish(&c, h);
	return err;
}

static int test_fd_and_headers(void)
{
	int err = 0, port = 0, fd = -1;
	struct ctx c;
	struct httpd *h = NULL;
	char buf[4096];
	size_t len = 0;
	char *dir = NULL;
	TEST_ASSERT(start(&c, &h, &port, 2) == 0);
	dir = test_tmpdir("httpd-fd");
	TEST_ASSERT(dir != NULL);
	snprintf(c.file, sizeof(c.file), "%s/f.txt", dir);
	FILE *f = fopen(c.file, "w");
	TEST_ASSERT(f != NULL);
	fputs("0123456789abcdefghij", f);
	fclose(f);
	fd = client_open(port, "/file");
	TEST_ASSERT(fd >= 0);
	TEST_ASSERT(client_wait(fd, buf, sizeof(buf), &len, "56789abcde", 3000) == 0);
	TEST_CONTAINS(buf, "HTTP/1.1 206");
	TEST_CONTAINS(buf, "Content-Length: 10\r\n");
	TEST_CONTAINS(buf, "X-Test: slice\r\n");
	TEST_CONTAINS(buf, "Accept-Ranges: bytes\r\n");
	TEST_ASSERT(strstr(buf, "56789abcdef") == NULL);
	close(fd);
	len = 0;
	fd = client_open(port, "/hdrs");
	TEST_ASSERT(fd >= 0);
	TEST_ASSERT(client_wait(fd, buf, sizeof(buf), &len, "\r\n\r\nok", 3000) == 0);
	TEST_CONTAINS(buf, "X-One: 1\r\n");
	TEST_CONTAINS(buf, "X-Two: 2\r\n");
out:
	if (dir)
		test_rmtree(dir);
	free(dir);
	if (fd >= 0)
		close(fd);
	finish(&c, h);
	return err;
}

static const struct test tests[] = {
	{ "park_wake_end", test_park_wake_end },
	{ "parked_hold_no_thread", test_parked_hold_no_thread },
	{ "fd_and_headers", test_fd_and_headers },
};

TEST_MAIN(tests)
