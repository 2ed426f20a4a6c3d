/* sip-bridge against baresip as a real far end: baresip (Debian baresip-core)
 * runs from a config directory written here, listens for SIP on 127.0.0.1
 * over TCP, answers automatically, and is driven through its ctrl_tcp module
 * (netstring-framed JSON commands): hold, resume, hangup. We assert the
 * events on NATS and the direction of the SDP answers the bridge sent back
 * (its debug log names the direction of every answer it writes). */
#include "test_sip_bridge_fx.h"

#include <sys/stat.h>

struct baresip {
	int pid;
	int sip_port, ctrl_port;
	int ctrl_fd;
	char dir[512];
	char log[600];
	char in[65536];   /* what ctrl_tcp sent us */
	size_t in_len;
};

static int write_file(const char *dir, const char *name, const char *text)
{
	char path[700];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *fp = fopen(path, "w");
	if (!fp)
		return errno;
	fputs(text, fp);
	return fclose(fp) == 0 ? 0 : EIO;
}

static int baresip_start(struct fx *f, struct baresip *b)
{
	int err = 0;
	char cfg[2048], acc[256];
	memset(b, 0, sizeof(*b));
	b->ctrl_fd = -1;
	b->sip_port = test_free_port();
	b->ctrl_port = test_free_port();
	int rtp = 40000 + (int)(getpid() % 100) * 100;
	snprintf(b->dir, sizeof(b->dir), "%s/baresip", f->dir);
	snprintf(b->log, sizeof(b->log), "%s/baresip.log", f->dir);
	TEST_EQ_INT(mkdir(b->dir, 0700), 0);
	snprintf(cfg, sizeof(cfg),
		 "poll_method\t\tepoll\n"
		 "sip_listen\t\t127.0.0.1:%d\n"
		 "sip_trans_def\t\ttcp\n"
		 "audio_player\t\taubridge,callmesh\n"
		 "audio_source\t\taubridge,callmesh\n"
		 "audio_alert\t\taubridge,callmesh\n"
		 "rtp_ports\t\t%d-%d\n"
		 "module_path\t\t/usr/lib/baresip/modules\n"
		 "module\t\t\tg711.so\n"
		 
		 "module\t\t\taubridge.so\n"
		 "module_app\t\taccount.so\n"
		 "module_app\t\tmenu.so\n"
		 "module_app\t\tctrl_tcp.so\n"
		 "ctrl_tcp_listen\t\t127.0.0.1:%d\n",
		 b->sip_port, rtp, rtp + 99, b->ctrl_port);
	TEST_EQ_INT(write_file(b->dir, "config", cfg), 0);
	snprintf(acc, sizeof(acc),
		 "<sip:+918044319241@127.0.0.1;transport=tcp>;regint=0;answermode=auto;"
		 "audio_codecs=PCMU,PCMA\n");
	TEST_EQ_INT(write_file(b->dir, "accounts", acc), 0);
	TEST_EQ_INT(write_file(b->dir, "contacts", ""), 0);
	/* -s: SIP trace in the log, for whoever reads a failure */
	const char *argv[] = { "baresip", "-f", b->dir, "-s", NULL };
	TEST_EQ_INT(test_spawn(&b->pid, argv, NULL, b->log), 0);
	TEST_EQ_INT(wait_tcp(b->ctrl_port, WAIT_MS), 0);
	TEST_EQ_INT(wait_tcp(b->sip_port, WAIT_MS), 0);
	b->ctrl_fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)b->ctrl_port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	TEST_EQ_INT(connect(b->ctrl_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
out:
	return err;
}

static void baresip_stop(struct baresip *b)
{
	if (b->ctrl_fd >= 0)
		close(b->ctrl_fd);
	b->ctrl_fd = -1;
	if (b->pid > 0) {
		int code;
		kill(b->pid, SIGTERM);
		if (test_wait_exit(b->pid, 5000, &code) != 0)
			test_kill(b->pid);
	}
	b->pid = 0;
}

/* Sends one ctrl_tcp command: a netstring holding {"command":…}. */
static int baresip_cmd(struct baresip *b, const char *command)
{
	char json[256], ns[300];
	int jl = snprintf(json, sizeof(json), "{\"command\":\"%s\",\"params\":\"\",\"token\":\"%s\"}",
			  command, command);
	int nl = snprintf(ns, sizeof(ns), "%d:%s,", jl, json);
	return send(b->ctrl_fd, ns, (size_t)nl, MSG_NOSIGNAL) == nl ? 0 : EIO;
}

/* Waits until ctrl_tcp has sent something containing `needle` after
 * offset *fromp (updated to just past it). */
static bool baresip_await(struct baresip *b, const char *needle, size_t *fromp, int timeout_ms)
{
	int64_t end = time_mono_ms() + timeout_ms;
	for (;;) {
		const char *hit = strstr(b->in + *fromp, needle);
		if (hit) {
			*fromp = (size_t)(hit - b->in) + strlen(needle);
			return true;
		}
		int left = (int)(end - time_mono_ms());
		struct pollfd p = { b->ctrl_fd, POLLIN, 0 };
		if (left <= 0 || poll(&p, 1, left) != 1 || b->in_len + 1 >= sizeof(b->in))
			break;
		ssize_t n = recv(b->ctrl_fd, b->in + b->in_len, sizeof(b->in) - 1 - b->in_len, 0);
		if (n <= 0)
			break;
		b->in_len += (size_t)n;
		b->in[b->in_len] = '\0';
	}
	fprintf(stdout, "    baresip sent no \"%s\" within %d ms\n", needle, timeout_ms);
	return false;
}

/* The bridge's debug log line for its n-th answer (0-based) to an offer. */
static int answer_line(struct fx *f, int nth, char *line, size_t len)
{
	char path[600];
	snprintf(path, sizeof(path), "%s/sip-bridge-1.log", f->dir);
	char *log = read_all(path);
	int found = ENOENT;
	const char *p = log;
	for (int i = 0; p && (p = strstr(p, "offer_answered")) != NULL; i++, p++) {
		if (i == nth) {
			const char *eol = strchr(p, '\n');
			snprintf(line, len, "%.*s", eol ? (int)(eol - p) : (int)strlen(p), p);
			found = 0;
			break;
		}
	}
	free(log);
	return found;
}

static int test_baresip_answer_hold_resume_hangup(void)
{
	int err = 0;
	struct fx f;
	struct baresip b = { .ctrl_fd = -1 };
	char id[ID_UUID_LEN + 1], line[512];
	char *hold = NULL, *resume = NULL, *ended = NULL;
	size_t at = 0;
	struct job_opts jo = { .ring_timeout_s = 30, .user = "", .pass = "" };
	TEST_EQ_INT(fx_start(&f, "10"), 0);
	TEST_EQ_INT(baresip_start(&f, &b), 0);
	TEST_EQ_INT(id_uuid4(id), 0);
	TEST_EQ_INT(publish_job_opts(&f, id, b.sip_port, &jo), 0);
	TEST_EQ_INT(expect_setup(&f, id, false), 0);
	TEST_ASSERT(baresip_await(&b, "CALL_ESTABLISHED", &at, WAIT_MS));

	/* baresip's hold: a re-INVITE with a=sendonly; we answer a=recvonly */
	TEST_EQ_INT(baresip_cmd(&b, "hold"), 0);
	hold = await_event(&f, id, "call_hold", WAIT_MS);
	TEST_ASSERT(hold != NULL);
	TEST_CONTAINS(hold, "\"direction\":\"sendonly\"");
	TEST_CONTAINS(hold, "\"method\":\"attribute\"");
	TEST_EQ_INT(answer_line(&f, 0, line, sizeof(line)), 0);
	TEST_CONTAINS(line, "answered 200 with a=recvonly");

	TEST_EQ_INT(baresip_cmd(&b, "resume"), 0);
	resume = await_event(&f, id, "call_resume", WAIT_MS);
	TEST_ASSERT(resume != NULL);
	TEST_CONTAINS(resume, "\"direction\":\"sendrecv\"");
	TEST_EQ_INT(answer_line(&f, 1, line, sizeof(line)), 0);
	TEST_CONTAINS(line, "answered 200 with a=sendrecv");
	TEST_EQ_INT(count_events(&f, id, "call_hold"), 1);

	/* hang up from baresip: BYE → call_ended by remote */
	TEST_EQ_INT(baresip_cmd(&b, "hangup"), 0);
	ended = await_event(&f, id, "call_ended", WAIT_MS);
	TEST_ASSERT(ended != NULL);
	TEST_CONTAINS(ended, "\"by\":\"remote\"");
	TEST_EQ_INT(count_events(&f, id, "call_failed"), 0);
out:
	if (err)
		fprintf(stdout, "    baresip log: %s\n", b.log);
	baresip_stop(&b);
	free(hold);
	free(resume);
	free(ended);
	err |= fx_stop(&f, err != 0);
	return err;
}

static const struct test tests[] = {
	{ "baresip_answer_hold_resume_hangup", test_baresip_answer_hold_resume_hangup },
};
TEST_MAIN(tests)
