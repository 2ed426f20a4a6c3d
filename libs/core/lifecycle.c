/* SIGINT/SIGTERM → an orderly stop that every loop can wait on. */
#include "core.h"

#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>
#include <fcntl.h>

static atomic_bool stopping;
static int wake_pipe[2] = { -1, -1 };

static void on_signal(int sig)
{
	(void)sig;
	lifecycle_request_stop();
}

void lifecycle_install(void)
{
	if (wake_pipe[0] < 0 && pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		wake_pipe[0] = wake_pipe[1] = -1;
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

void lifecycle_request_stop(void)
{
	atomic_store(&stopping, true);
	if (wake_pipe[1] >= 0) {
		ssize_t w = write(wake_pipe[1], "x", 1);
		(void)w;
	}
}

bool lifecycle_stopping(void)
{
	return atomic_load(&stopping);
}

bool lifecycle_wait(int timeout_ms)
{
	if (lifecycle_stopping())
		return true;
	struct pollfd pfd = { .fd = wake_pipe[0], .events = POLLIN };
	poll(&pfd, wake_pipe[0] >= 0 ? 1 : 0, timeout_ms);
	return lifecycle_stopping();
}
