/* The sip-bridge test fixture (tests/harness/sip_bridge_fx.c), shared by
 * tests/integration/test_sip_bridge*.c, test_sip_baresip.c, test_sip_relay.c and
 * test_e2e.c: a nats-server, the real $CALLMESH_BUILD/bin/sip-bridge (which can be
 * killed and started again on the same NATS), a capture of calls.> and
 * owners.heartbeat, sipp as the carrier, a bare TCP "sink" that counts the
 * INVITEs it is sent, and the pieces of a far end's G.711 RTP (espeak-ng speech
 * at 8 kHz, a socket, a 20 ms clock). Every wait has a deadline.
 * Threads: bus callbacks fill struct fx under fx.mu; the sink runs its own thread;
 * everything else runs on the test's thread. */
#ifndef CALLMESH_TEST_SIP_BRIDGE_FX_H
#define CALLMESH_TEST_SIP_BRIDGE_FX_H

#include "bus/bus.h"
#include "harness/test.h"
#include "media/media.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define WAIT_MS 15000
#define EVENTS_MAX 512
#define FX_ENV_MAX 12

struct captured {
	char subject[128];
	char *data;
};

struct fx {
	struct test_nats nats;
	int bridge_pid;
	int bridge_starts;
	int sip_port, health_port;
	char *dir;
	struct bus *bus;
	struct bus_sub *sub, *hb_sub;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int nev;
	struct captured ev[EVENTS_MAX];
	int heartbeats;
	char last_heartbeat[1024];
	char env[FX_ENV_MAX][640];
	int nenv;
};

/* *dl = CLOCK_REALTIME now + timeout_ms (for pthread_cond_timedwait). */
void deadline_in(struct timespec *dl, int timeout_ms);

/* Waits for the event calls.<call_id>.<type>; returns a copy of its JSON
 * (caller frees) or NULL after timeout_ms. */
char *await_event(struct fx *f, const char *call_id, const char *type, int timeout_ms);

/* Waits until at least `want` events of `type` (any call) arrived. */
bool await_type_count(struct fx *f, const char *type, int want, int timeout_ms);

int count_events(struct fx *f, const char *call_id, const char *type);

/* Index of the event in arrival order, -1 when absent. */
int event_index(struct fx *f, const char *call_id, const char *type);

/* Adds NAME=VALUE to the bridge's environment (before fx_bridge_start). */
void fx_setenv(struct fx *f, const char *name, const char *value);

/* Starts (or starts again, on the same ports and NATS) the bridge and waits
 * until /readyz answers 200. */
int fx_bridge_start(struct fx *f);

/* kill -9, reaped. */
void fx_bridge_kill9(struct fx *f);

/* NATS, the capture, and the environment of the bridge; the bridge is
 * started too unless max_calls is NULL (then call fx_bridge_start()). */
int fx_start(struct fx *f, const char *max_calls);

/* Stops everything; 1 when the bridge did not exit 0 on SIGTERM (a crash, a
 * sanitizer report, a hang). */
int fx_stop(struct fx *f, bool keep_logs);

/* Waits until something accepts TCP connections on 127.0.0.1:port. */
int wait_tcp(int port, int timeout_ms);

struct sipp {
	int pid;
	int port;
	int media_port;          /* sipp's -mp: set before sipp_start to choose it,
				  * else a UDP port free with its +2 (never the fixed 6000 that
				  * `make run`'s phone simulator holds) */
	char logfile[512];
	char msgfile[512];
};

/* sipp options beyond the scenario and its -key pairs. */
struct sipp_opts {
	const char *transport;  /* -t value, "t1" when NULL */
	int calls;              /* -m, 1 when 0 */
	const char *const *extra; /* more arguments, NULL-ended */
};

/* Starts sipp as the carrier with `scenario` and -key pairs (NULL-ended). */
int sipp_start_opts(struct fx *f, struct sipp *s, const char *scenario, const char *const keys[],
			  const struct sipp_opts *o);

int sipp_start(struct fx *f, struct sipp *s, const char *scenario, const char *const keys[]);

int sipp_wait(struct sipp *s);

char *read_all(const char *path);

/* sipp reads status codes when it loads a scenario, before -key values:
 * writes a copy of tests/sip/<name> with @CODE@ replaced into the fixture's
 * directory; *pathp names it. */
int scenario_with_code(struct fx *f, char *path, size_t len, const char *name, const char *code,
			     const char *verify);

/* One dial job; msg_id NULL = "dial-<call_id>". */
struct job_opts {
	const char *to_number;  /* "+918044319241" when NULL */
	const char *transport;  /* "tcp" when NULL */
	const char *msg_id;
	int ring_timeout_s;
	const char *user, *pass;
	const char *dial_by;    /* RFC 3339; none when NULL */
};

int publish_job_opts(struct fx *f, const char *call_id, int sip_port, const struct job_opts *o);

int publish_job(struct fx *f, const char *call_id, int sip_port, int ring_timeout_s,
		      const char *user, const char *pass);

/* Checks the events of an answered call up to call_answered, in order. */
int expect_setup(struct fx *f, const char *id, bool ringing);

int hangup(struct fx *f, const char *id, const char *reason);

/* ---- a far end's G.711 RTP (test_e2e, test_sip_relay) -------------------- */

double fx_rms(const int16_t *pcm, size_t n);

/* The energy of a G.711 packet's payload (PCMU or PCMA); 0 for other types. */
double fx_g711_rms(const struct rtp_packet *r);

uint32_t fx_le32(const uint8_t *p);

/* Speaks `text` with the espeak-ng program into <dir>/<wav_name> and loads it
 * at 8 kHz into pcm (at most max samples); *framesp = whole G.711 frames. */
int fx_speech_load(int16_t *pcm, size_t *framesp, size_t max, const char *dir, const char *wav_name,
			 const char *text);

/* A UDP socket on 127.0.0.1, on a port of the system's choosing. */
int fx_rtp_socket(int *fdp, int *portp);

void fx_rtp_send(int fd, const struct sockaddr_in *to, const struct rtp_hdr *h,
		 const uint8_t *payload, size_t len);

/* Moves a CLOCK_MONOTONIC deadline one 20 ms frame on. */
void fx_frame_next(struct timespec *t);

/* The clock of a far end that sends every 20 ms and receives on fd as
 * packets arrive: waits until fd is readable or the frame at *next is due.
 * True when the frame is due (*next then moves on a frame), false when it is
 * not yet; read fd either way. */
bool fx_frame_due(int fd, struct timespec *next);

/* ---- the sink: a far end that only listens (TCP), counting INVITEs ------- */

#define SINK_CONNS 16

#define SINK_TEXT_MAX (256 * 1024)

struct sink {
	int port;
	int lfd;
	pthread_t thread;
	atomic_bool stop;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *text;  /* everything received, every connection appended */
	size_t len;
};

int sink_start(struct sink *k);

/* INVITEs for to_number seen so far. */
int sink_invites(struct sink *k, const char *to_number);

/* Waits until the sink saw at least `want` INVITEs for to_number. */
bool sink_await(struct sink *k, const char *to_number, int want, int timeout_ms);

void sink_stop(struct sink *k);

#endif
