/*
 * core — what every callmesh service needs before it talks to anything:
 * logging, configuration from the environment, ids, time, status codes,
 * Prometheus counters and signal-driven shutdown.
 *
 * Nothing here allocates behind the caller's back except where a function
 * says "caller frees".
 */
#ifndef CALLMESH_CORE_H
#define CALLMESH_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define CM_MUST_USE __attribute__((warn_unused_result))
#define CM_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- logging ----------------------------------------------------------
 * One line per event on stderr: JSON lines (LOG_FORMAT=json, the default) or
 * key=value (LOG_FORMAT=kv). `event` is a short snake_case name; the printf
 * message becomes the "msg" field. Thread-safe (one write(2) per line). */
enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_setup(const char *service, enum log_level level, bool json);
int log_level_parse(enum log_level *levelp, const char *s) CM_MUST_USE;
const char *log_level_name(enum log_level level);
bool log_enabled(enum log_level level);
void log_emit(enum log_level level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_debug(ev, ...) log_emit(LOG_DEBUG, ev, __VA_ARGS__)
#define log_info(ev, ...)  log_emit(LOG_INFO, ev, __VA_ARGS__)
#define log_warn(ev, ...)  log_emit(LOG_WARN, ev, __VA_ARGS__)
#define log_error(ev, ...) log_emit(LOG_ERROR, ev, __VA_ARGS__)

/* ---- configuration ----------------------------------------------------
 * A service describes its variables in a table; cfg_load() reads them from
 * the environment into a struct through offsetof(). Strings point into the
 * environment or at the default (borrowed, valid for the process life).
 * An invalid value makes cfg_load() fail with a message naming the variable. */
enum cfg_type {
	CFG_STR,   /* const char *            */
	CFG_INT,   /* long, within [min,max]  */
	CFG_BOOL,  /* bool: true/false/1/0/yes/no */
	CFG_ENUM,  /* const char *, one of `choices` ("a|b|c") */
	CFG_ADDR,  /* const char *, "host:port" with port 1..65535 */
	CFG_URL,   /* const char *, "<scheme>://…" with scheme in `choices` */
};

struct cfg_var {
	const char *name;
	enum cfg_type type;
	const char *def;     /* NULL: no default */
	bool required;       /* an empty/unset value is an error */
	bool secret;         /* redacted when logged */
	long min, max;       /* CFG_INT bounds */
	const char *choices; /* CFG_ENUM values or CFG_URL schemes, '|'-separated */
	size_t offset;       /* offsetof() into the service's config struct */
	const char *help;
};

/* Loads every variable of `table` (terminated by an entry with name NULL)
 * into `out`. On error writes "NAME: problem" into err and returns EINVAL. */
int cfg_load(void *out, const struct cfg_var *table, char *err, size_t errlen) CM_MUST_USE;
/* Logs the effective configuration, secrets redacted. */
void cfg_log(const void *cfg, const struct cfg_var *table);
/* Writes one line per variable of `table` to f: name, type and bounds or
 * choices, default, "required"/"secret", help. health_default stands in for
 * HEALTH_ADDR's per-service default. */
void cfg_help(FILE *f, const struct cfg_var *table, const char *health_default);
/* Copies `url` (a comma-separated list of URLs) into out with each URL's
 * userinfo ("user:password@") replaced by "<redacted>@", so that a URL can
 * be logged. Truncates to outlen (always NUL-terminated). Returns out. */
const char *cfg_url_redact(char *out, size_t outlen, const char *url);

/* Variables every service has, at the start of each service's config struct. */
struct core_cfg {
	const char *nats_url;
	const char *log_level;
	const char *log_format;
	const char *health_addr;
	const char *instance;
	/* NATS identity and TLS (each NULL when unset; at most one of creds,
	 * nkey, user/password; files checked readable at start). */
	const char *nats_creds;        /* NATS_CREDS: .creds file (JWT + seed) */
	const char *nats_nkey;         /* NATS_NKEY: public user nkey (U…) */
	const char *nats_nkey_seed;    /* NATS_NKEY_SEED: file holding its seed */
	const char *nats_user;         /* NATS_USER */
	const char *nats_password;     /* NATS_PASSWORD; secret */
	const char *nats_tls_ca;       /* NATS_TLS_CA: PEM CA file; set = TLS required */
	const char *nats_tls_cert;     /* NATS_TLS_CERT / NATS_TLS_KEY: client certificate */
	const char *nats_tls_key;
	const char *nats_inbox_prefix; /* NATS_INBOX_PREFIX: reply subjects (default _INBOX) */
	long http_max_connections;     /* HTTP_MAX_CONNECTIONS: per listener */
	long http_max_per_client;      /* HTTP_MAX_PER_CLIENT: per client address */
	long http_request_timeout_s;   /* HTTP_REQUEST_TIMEOUT_S: headers + body deadline */
};
extern const struct cfg_var core_cfg_vars[];

/* Loads core_cfg_vars then `svc_vars` (may be NULL) into `cfg` (whose first
 * member is a struct core_cfg) and sets up logging; the caller logs the
 * effective config (cfg_log) once it has derived its defaults.
 * On a bad value prints "config: NAME: problem" to stderr and returns EINVAL. */
int core_init(const char *service, void *cfg, const struct cfg_var *svc_vars,
	      const char *default_health_addr) CM_MUST_USE;

/* ---- ids --------------------------------------------------------------- */
#define ID_UUID_LEN 36
/* Random (version 4) UUID, lower case, NUL-terminated. */
int id_uuid4(char out[ID_UUID_LEN + 1]) CM_MUST_USE;
/* True for a well-formed UUID (any version, either case). */
bool id_is_uuid(const char *s);
/* FNV-1a of a NUL-terminated string: for hash tables of ids, not security. */
uint64_t id_hash(const char *s);

/* ---- time -------------------------------------------------------------- */
int64_t time_now_ms(void);      /* wall clock, ms since the epoch */
int64_t time_mono_us(void);     /* monotonic, µs */
int64_t time_mono_ms(void);
/* *ts = now on `clock` + ms (≥ 0), normalised: a deadline for
 * pthread_cond_timedwait (the condvar's clock) or pthread_mutex_timedlock
 * (CLOCK_REALTIME). */
void time_deadline(struct timespec *ts, clockid_t clock, int64_t ms);
#define TIME_ISO_LEN 24         /* 2026-11-23T19:00:00.123Z */
/* Formats ms since the epoch as UTC RFC 3339 with milliseconds. */
void time_iso8601(char out[TIME_ISO_LEN + 1], int64_t ms);
/* Parses the RFC 3339 form above (Z or ±hh:mm, fraction optional). */
int time_parse_iso8601(int64_t *msp, const char *s) CM_MUST_USE;

/* ---- call status ------------------------------------------------------- */
enum call_status {
	CALL_QUEUED, CALL_DIALING, CALL_RINGING, CALL_IN_PROGRESS, CALL_ON_HOLD,
	CALL_COMPLETED, CALL_BUSY, CALL_NO_ANSWER, CALL_REJECTED, CALL_CANCELLED,
	CALL_UNREACHABLE, CALL_TIMEOUT, CALL_FAILED,
	CALL_STATUS_COUNT
};
const char *call_status_name(enum call_status st);
int call_status_parse(enum call_status *stp, const char *s) CM_MUST_USE;
bool call_status_is_terminal(enum call_status st);
/* Final SIP response code of a failed call → status (486/600 busy, 408/480
 * no_answer, 603/403 rejected, 487 cancelled, 404/410/484 unreachable,
 * anything else failed). */
enum call_status call_status_from_sip(int sip_code);

/* ---- errors ------------------------------------------------------------
 * Functions return 0 or an errno value (EINVAL bad input, ENOENT not found,
 * ETIMEDOUT, ECONNREFUSED, EIO, ENOMEM, EEXIST conflict). */
const char *cm_strerror(int err);

/* ---- metrics: Prometheus counters and gauges --------------------------
 * Registered once at start (not thread-safe), updated from any thread. */
struct metric;
struct metric *metric_counter(const char *name, const char *help);
struct metric *metric_gauge(const char *name, const char *help);
void metric_add(struct metric *m, int64_t delta);
void metric_set(struct metric *m, int64_t value);
int64_t metric_value(const struct metric *m);
/* Renders every metric in Prometheus text format. Caller frees. */
char *metrics_render(void);

/* ---- process lifecycle ------------------------------------------------ */
/* Installs SIGINT/SIGTERM handlers (and ignores SIGPIPE). */
void lifecycle_install(void);
bool lifecycle_stopping(void);
/* Sleeps until a stop signal or `timeout_ms` (negative: forever). Returns
 * true when stopping. */
bool lifecycle_wait(int timeout_ms);
void lifecycle_request_stop(void);

/* ---- mqueue: the one thread-safe FIFO of pointers ----------------------
 * Any thread pushes; one consumer pops, either from a poll/su_root loop
 * watching mqueue_fd() (and calling mqueue_drain when it is readable) or
 * blocking in mqueue_wait(). Bounded: at most `max` items (1..1<<20). */
struct mqueue;
/* 0, ENOMEM, EINVAL (max out of range), EMFILE/ENFILE (no eventfd) */
int mqueue_new(struct mqueue **mqp, size_t max) CM_MUST_USE;
/* Takes ownership of item (non-NULL) on success; ENOSPC when full, EPIPE
 * after mqueue_close, ENOMEM, EINVAL for a NULL item (not taken then). */
int mqueue_push(struct mqueue *mq, void *item) CM_MUST_USE;
/* Non-blocking; NULL when empty. The caller owns the item. */
void *mqueue_pop(struct mqueue *mq);
/* Blocks up to timeout_ms (-1 = forever); NULL on timeout or when closed
 * and empty. The caller owns the item. */
void *mqueue_wait(struct mqueue *mq, int timeout_ms);
/* An eventfd, readable while items may be queued (and after close). Read it
 * only through mqueue_drain; borrowed, closed by mqueue_free. */
int mqueue_fd(const struct mqueue *mq);
/* The consumer side of an fd loop: clears the fd, then pops every item and
 * calls h(item, arg) (h takes ownership); returns the number handled. */
typedef void (mqueue_h)(void *item, void *arg);
size_t mqueue_drain(struct mqueue *mq, mqueue_h *h, void *arg);
size_t mqueue_len(struct mqueue *mq);
/* Wakes every waiter; later pushes get EPIPE; queued items stay poppable. */
void mqueue_close(struct mqueue *mq);
/* NULL-safe; returns NULL. Frees the items still queued with item_free (may
 * be NULL: they are dropped). No other thread may be using mq. */
struct mqueue *mqueue_free(struct mqueue *mq, void (*item_free)(void *));

/* ---- addresses --------------------------------------------------------
 * host:port, the one parser: "host", "host:port", "[v6]", "[v6]:port"; port
 * 1..65535 in digits; no port → default_port (0 = a port is required). host
 * is stored without brackets (a v6 literal contains ':'). A host is a name
 * or IPv4 literal of printable ASCII without ":[]/@?#\" or spaces, or a
 * bracketed IPv6 literal. 0 or EINVAL (*hp untouched; callers name their
 * field in the message). */
struct hostport {
	char host[256];
	uint16_t port;
};
int addr_parse(struct hostport *hp, const char *s, uint16_t default_port) CM_MUST_USE;
/* The same for a listening address: the port is required and may be 0
 * (the kernel picks one). */
int addr_parse_listen(struct hostport *hp, const char *s) CM_MUST_USE;

/* E.164: '+', first digit 1-9, then digits, 8..16 characters in all. */
#define E164_MAX 16
bool e164_valid(const char *s);

#endif
