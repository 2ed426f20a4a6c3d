/* lkrtc: livekit-ffi loaded with dlopen() and driven with protobuf-c
 * messages (FfiRequest/FfiResponse/FfiEvent of the pinned schema).
 *
 * Who runs what:
 *   - the engine's callback (its threads) decodes each FfiEvent and, without
 *     ever blocking on us: plays audio frames to the handler, completes
 *     capture accounting, wakes the thread waiting for an async callback, or
 *     queues a room event to that room's event thread. Nothing else.
 *   - each room's event thread handles room events (members, subscriptions,
 *     data, disconnection, the reconnect watchdog) and may send requests.
 *   - every owned handle in every decoded message is dropped unless the code
 *     took it (take() zeroes the id it keeps): drop_owned() walks the message
 *     through its descriptor, so a schema addition cannot leak a handle. */
#include "lkrtc/lkrtc.h"
#include "lkrtc/lkrtc_priv.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lkrtc/ffi.pb-c.h"

#define P(name) Livekit__Proto__##name

#define ENGINE_REL                                                              \
	"runtime/livekit/node_modules/@livekit/rtc-ffi-bindings-linux-x64-gnu/" \
	"rtc-node.linux-x64-gnu.node"
#define ENGINE_UP_MAX   6
#define DEFAULT_TIMEOUT_MS   10000
#define DEFAULT_RECONNECT_MS 20000
#define LKRTC_QUEUE_MAX      65536 /* room events waiting for room_main */
#define DISCONNECT_WAIT_MS   5000
#define CAPTURES_IN_FLIGHT \
	(LKRTC_QUEUE_MS / LKRTC_FRAME_MS) /* more unanswered: the engine is stuck */
#define SID_MAX              64
#define DROP_DEPTH_MAX       16

/* ---- the engine (one per process) --------------------------------------- */

typedef void (ffi_cb_fn)(const uint8_t *data, size_t len);
typedef void (ffi_initialize_fn)(ffi_cb_fn *cb, bool capture_logs, const char *sdk,
				 const char *sdk_version);
typedef uint64_t (ffi_request_fn)(const uint8_t *req, size_t len, const uint8_t **res,
				  size_t *res_len);
typedef bool (ffi_drop_handle_fn)(uint64_t handle);
typedef void (ffi_dispose_fn)(void);

struct waiter {
	struct waiter *next;
	uint64_t id;
	P(FfiEvent) *ev;        /* the callback, once it came (owned) */
};

struct item {                   /* one entry of a room's event queue */
	P(FfiEvent) *ev;        /* a room event (owned), or NULL: */
	bool joined;            /* a member already in the room at connect */
	char identity[LKRTC_IDENTITY_MAX + 1];
	int lost_err;           /* != 0: the engine failed (panic) */
	char reason[LKRTC_REASON_MAX];
};

static struct engine {
	pthread_mutex_t lock;   /* load/init, waiters */
	pthread_cond_t cond;    /* a waiter got its callback */
	bool cond_ready;
	bool initialised;
	void *dl;
	ffi_initialize_fn *initialize;
	ffi_request_fn *request;
	ffi_drop_handle_fn *drop;
	ffi_dispose_fn *dispose;
	struct waiter *waiters;
	atomic_uint_fast64_t next_room_seq;

	pthread_rwlock_t rooms_lock; /* the list; read by the callback */
	struct lkrtc_room *rooms;
	atomic_uint_fast64_t undecodable;
} eng = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.rooms_lock = PTHREAD_RWLOCK_INITIALIZER,
};

struct sender {
	bool used;
	uint64_t stream;        /* OwnedAudioStream handle */
	uint64_t track;         /* the remote track's handle (the stream lives while it does) */
	char sid[SID_MAX];
	char identity[LKRTC_IDENTITY_MAX + 1];
	int16_t acc[LKRTC_FRAME_SAMPLES];
	size_t acc_n;
};

struct lkrtc_room {
	struct lkrtc_room *next;        /* eng.rooms */
	uint64_t seq;                   /* high 32 bits of this room's async ids */
	atomic_uint_fast32_t async_n;
	struct lkrtc_handlers h;
	void *arg;
	int reconnect_timeout_ms;
	char identity[LKRTC_IDENTITY_MAX + 1];

	uint64_t room, participant, source, track, publication; /* owned handles */

	pthread_mutex_t senders_lock;
	struct sender senders[LKRTC_SENDERS_MAX];

	struct mqueue *q;               /* struct item, engine threads → room_main */
	atomic_bool stop;
	pthread_t thread;
	bool thread_started;

	atomic_bool lost;               /* closed() was called or is due */
	atomic_uint_fast32_t captures;  /* capture callbacks outstanding */
	atomic_uint_fast64_t frames_sent, frames_dropped, send_errors, frames_received,
		data_sent, data_received, reconnects;
};

static void copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

static uint64_t take(P(FfiOwnedHandle) *h)
{
	if (!h)
		return 0;
	uint64_t id = h->id;
	h->id = 0;
	return id;
}

static void drop_handle(uint64_t id)
{
	if (id && eng.drop)
		eng.drop(id);
}

/* Drops every FfiOwnedHandle still in m (a field set to 0 was taken). */
static void drop_owned_at(const ProtobufCMessage *m, int depth)
{
	if (!m || depth > DROP_DEPTH_MAX)
		return;
	if (m->descriptor == &livekit__proto__ffi_owned_handle__descriptor) {
		drop_handle(((const P(FfiOwnedHandle) *)m)->id);
		return;
	}
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *base = (const char *)m;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			ProtobufCMessage *const *arr =
				*(ProtobufCMessage *const *const *)(base + f->offset);
			for (size_t j = 0; arr && j < n; j++)
				drop_owned_at(arr[j], depth + 1);
			continue;
		}
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)(base + f->quantifier_offset) != f->id)
			continue; /* another member of the union is set */
		drop_owned_at(*(const ProtobufCMessage *const *)(base + f->offset), depth + 1);
	}
}

static void event_free(P(FfiEvent) *ev)
{
	if (!ev)
		return;
	drop_owned_at(&ev->base, 0);
	livekit__proto__ffi_event__free_unpacked(ev, NULL);
}

static void response_free(P(FfiResponse) *res)
{
	if (!res)
		return;
	drop_owned_at(&res->base, 0);
	livekit__proto__ffi_response__free_unpacked(res, NULL);
}

/* One synchronous request; *resp (caller response_free()) on success. */
static int request(P(FfiResponse) **resp, const P(FfiRequest) *req)
{
	size_t len = livekit__proto__ffi_request__get_packed_size(req);
	uint8_t *buf = malloc(len ? len : 1);
	const uint8_t *res = NULL;
	size_t res_len = 0;
	if (!buf)
		return ENOMEM;
	livekit__proto__ffi_request__pack(req, buf);
	uint64_t h = eng.request(buf, len, &res, &res_len);
	free(buf);
	if (!h) {
		log_error("lkrtc_request_failed",
			  "the engine refused request %d (its log says why)",
			  (int)req->message_case);
		return EIO;
	}
	P(FfiResponse) *r = livekit__proto__ffi_response__unpack(NULL, res_len, res);
	drop_handle(h);
	if (!r) {
		log_error("lkrtc_bad_response", "undecodable response to request %d",
			  (int)req->message_case);
		return EIO;
	}
	*resp = r;
	return 0;
}

/* ---- async callbacks ------------------------------------------------------ */

static uint64_t async_id(struct lkrtc_room *r)
{
	return (r->seq << 32) | ((uint64_t)atomic_fetch_add(&r->async_n, 1) & 0xffffffffu);
}

static void waiter_add(struct waiter *w, uint64_t id)
{
	memset(w, 0, sizeof(*w));
	w->id = id;
	pthread_mutex_lock(&eng.lock);
	w->next = eng.waiters;
	eng.waiters = w;
	pthread_mutex_unlock(&eng.lock);
}

/* Waits for w's callback until timeout_ms and unlinks w; returns the
 * callback (owned) or NULL. One that comes later finds no waiter: it is
 * freed (and a late connect left again) by the callback. */
static P(FfiEvent) *waiter_wait(struct waiter *w, int timeout_ms)
{
	struct timespec ts;
	time_deadline(&ts, CLOCK_MONOTONIC, timeout_ms);
	pthread_mutex_lock(&eng.lock);
	while (!w->ev) {
		if (pthread_cond_timedwait(&eng.cond, &eng.lock, &ts) == ETIMEDOUT)
			break;
	}
	P(FfiEvent) *ev = w->ev;
	for (struct waiter **pp = &eng.waiters; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	}
	pthread_mutex_unlock(&eng.lock);
	return ev;
}

static uint64_t callback_async_id(const P(FfiEvent) *ev)
{
	switch (ev->message_case) {
	case LIVEKIT__PROTO__FFI_EVENT__MESSAGE_CONNECT:
		return ev->connect->async_id;
	case LIVEKIT__PROTO__FFI_EVENT__MESSAGE_DISCONNECT:
		return ev->disconnect->async_id;
	case LIVEKIT__PROTO__FFI_EVENT__MESSAGE_PUBLISH_TRACK:
		return ev->publish_track->async_id;
	case LIVEKIT__PROTO__FFI_EVENT__MESSAGE_DISPOSE:
		return ev->dispose->async_id;
	default:
		return 0;
	}
}

/* A room the caller gave up waiting for: leave it at once. */
static void connect_orphan(P(FfiEvent) *ev)
{
	if (ev->connect->message_case != LIVEKIT__PROTO__CONNECT_CALLBACK__MESSAGE_RESULT)
		return;
	uint64_t room = ev->connect->result->room->handle->id;
	P(DisconnectRequest) dr = LIVEKIT__PROTO__DISCONNECT_REQUEST__INIT;
	P(FfiRequest) req = LIVEKIT__PROTO__FFI_REQUEST__INIT;
	P(FfiResponse) *res = NULL;
	dr.room_handle = room;
	req.message_case = LIVEKIT__PROTO__FFI_REQUEST__MESSAGE_DISCONNECT;
	req.disconnect = &dr;
	if (request(&res, &req) == 0)
		response_free(res);
	log_warn("lkrtc_connect_late", "a connect answered after its caller gave up: left again");
}

/* Hands ev to its waiter; false when nobody waits for it. */
static bool waiter_complete(P(FfiEvent) *ev)
{
	uint64_t id = callback_async_id(ev);
	if (!id)
		return false;
	pthread_mutex_lock(&eng.lock);
	struct waiter *w = eng.waiters;
	while (w && w->id != id)
		w = w->next;
	if (w)
		w->ev = ev;
	pthread_cond_broadcast(&eng.cond);
	pthread_mutex_unlock(&eng.lock);
	return w != NULL;
}

/* ---- rooms as the callback sees them (eng.rooms_lock held for reading) --- */

static struct lkrtc_room *room_by_handle(uint64_t handle)
{
	for (struct lkrtc_room *r = eng.rooms; r; r = r->next)
		if (r->room == handle)
			return r;
	return NULL;
}

static struct lkrtc_room *room_by_seq(uint64_t seq)
{
	for (struct lkrtc_room *r = eng.rooms; r; r = r->next)
		if (r->seq == seq)
			return r;
	return NULL;
}

static void item_free(struct item *it)
{
	if (!it)
		return;
	event_free(it->ev);
	free(it);
}

static void item_free_v(void *it)
{
	item_free(it);
}

/* Takes ownership of it; an item the queue refuses (full, or closed at
 * leave) is dropped. */
static void queue_push(struct lkrtc_room *r, struct item *it)
{
	int err = mqueue_push(r->q, it);
	if (err) {
		log_warn("lkrtc_event_dropped", "a room event was dropped: %s", cm_strerror(err));
		item_free(it);
	}
}

/* Audio from a remote track: copy, drop the engine's buffer, play 20 ms. */
static void on_audio_frame(const P(AudioStreamEvent) *se)
{
	const P(OwnedAudioFrameBuffer) *fb = se->frame_received->frame;
	const P(AudioFrameBufferInfo) *info = fb->info;
	pthread_rwlock_rdlock(&eng.rooms_lock);
	for (struct lkrtc_room *r = eng.rooms; r; r = r->next) {
		pthread_mutex_lock(&r->senders_lock);
		struct sender *s = NULL;
		for (size_t i = 0; i < LKRTC_SENDERS_MAX && !s; i++)
			if (r->senders[i].used && r->senders[i].stream == se->stream_handle)
				s = &r->senders[i];
		if (!s) {
			pthread_mutex_unlock(&r->senders_lock);
			continue;
		}
		const int16_t *pcm = (const int16_t *)(uintptr_t)info->data_ptr;
		size_t n = info->samples_per_channel, ch = info->num_channels;
		if (info->sample_rate != LKRTC_RATE || ch == 0 || !pcm)
			n = 0; /* asked for 48 kHz; anything else is not ours to play */
		for (size_t i = 0; i < n; i++) {
			s->acc[s->acc_n++] = pcm[i * ch];
			if (s->acc_n == LKRTC_FRAME_SAMPLES) {
				s->acc_n = 0;
				atomic_fetch_add(&r->frames_received, 1);
				if (r->h.audio && !atomic_load(&r->lost))
					r->h.audio(s->identity, s->acc, r->arg);
			}
		}
		pthread_mutex_unlock(&r->senders_lock);
		break;
	}
	pthread_rwlock_unlock(&eng.rooms_lock);
}

/* Queues an end of stream to the room playing that stream; returns ev when
 * no room took it. */
static P(FfiEvent) *on_stream_eos(P(FfiEvent) *ev)
{
	uint64_t stream = ev->audio_stream_event->stream_handle;
	pthread_rwlock_rdlock(&eng.rooms_lock);
	for (struct lkrtc_room *r = eng.rooms; r && ev; r = r->next) {
		pthread_mutex_lock(&r->senders_lock);
		bool ours = false;
		for (size_t i = 0; i < LKRTC_SENDERS_MAX && !ours; i++)
			ours = r->senders[i].used && r->senders[i].stream == stream;
		pthread_mutex_unlock(&r->senders_lock);
		struct item *it = ours ? calloc(1, sizeof(*it)) : NULL;
		if (it) {
			it->ev = ev;
			queue_push(r, it);
			ev = NULL;
		}
	}
	pthread_rwlock_unlock(&eng.rooms_lock);
	return ev;
}

static void on_capture_done(const P(CaptureAudioFrameCallback) *cb)
{
	pthread_rwlock_rdlock(&eng.rooms_lock);
	struct lkrtc_room *r = room_by_seq(cb->async_id >> 32);
	if (r) {
		atomic_fetch_sub(&r->captures, 1);
		if (cb->error)
			atomic_fetch_add(&r->frames_dropped, 1); /* the queue was full */
		else
			atomic_fetch_add(&r->frames_sent, 1);
	}
	pthread_rwlock_unlock(&eng.rooms_lock);
}

static void on_panic(const char *msg)
{
	log_error("lkrtc_engine_panic", "the LiveKit engine failed: %s", msg);
	pthread_rwlock_rdlock(&eng.rooms_lock);
	for (struct lkrtc_room *r = eng.rooms; r; r = r->next) {
		struct item *it = calloc(1, sizeof(*it));
		if (!it)
			continue;
		it->lost_err = EIO;
		snprintf(it->reason, sizeof(it->reason), "the LiveKit engine failed: %s", msg);
		queue_push(r, it);
	}
	pthread_rwlock_unlock(&eng.rooms_lock);
}

static void on_engine_event(const uint8_t *data, size_t len)
{
	P(FfiEvent) *ev = livekit__proto__ffi_event__unpack(NULL, len, data);
	if (!ev) {
		/* its handles (if any) cannot be known: log the first few only */
		if (atomic_fetch_add(&eng.undecodable, 1) < 5)
			log_error("lkrtc_bad_event", "an engine event of %zu bytes did not decode",
				  len);
		return;
	}
	switch (ev->message_case) {
	case LIVEKIT__PROTO__FFI_EVENT__MESSAGE_AUDIO_STREAM_EVENT:
		if (ev->audio_stream_event->message_case ==
		    LIVEKIT__PROTO__AUDIO_STREAM_EVENT__MESSAGE_FRAME_RECEIVED)
			on_audio_frame(ev->audio_stream_event);
		else if (ev->audio_stream_event->message_case ==
			 LIVEKIT__PROTO__AUDIO_STREAM_EVENT__MESSAGE_EOS)
			ev = on_stream_eos(ev); /* the track ended: its slot is freed */
		break;
	case LIVEKIT__PROTO__FFI_EVENT__MESSAGE_CAPTURE_AUDIO_FRAME:
		on_capture_done(ev->capture_audio_frame);
		break;
	case LIVEKIT__PROTO__FFI_EVENT__MESSAGE_PUBLISH_DATA:
		if (ev->publish_data->error)
			log_warn("lkrtc_data_failed", "a data message was not sent: %s",
				 ev->publish_data->error);
		break;
	case LIVEKIT__PROTO__FFI_EVENT__MESSAGE_PANIC:
		on_panic(ev->panic->message);
		break;
	case LIVEKIT__PROTO__FFI_EVENT__MESSAGE_LOGS:
		break; /* capture_logs is off: the engine logs to stderr itself */
	case LIVEKIT__PROTO__FFI_EVENT__MESSAGE_ROOM_EVENT: {
		pthread_rwlock_rdlock(&eng.rooms_lock);
		struct lkrtc_room *r = room_by_handle(ev->room_event->room_handle);
		struct item *it = r ? calloc(1, sizeof(*it)) : NULL;
		if (it) {
			it->ev = ev;
			queue_push(r, it);
			ev = NULL;
		}
		pthread_rwlock_unlock(&eng.rooms_lock);
		break;
	}
	default:
		if (waiter_complete(ev))
			ev = NULL;
		else if (ev->message_case == LIVEKIT__PROTO__FFI_EVENT__MESSAGE_CONNECT)
			connect_orphan(ev);
		break;
	}
	event_free(ev);
}

#if defined(__SANITIZE_ADDRESS__)
/* LeakSanitizer: what the engine still holds at exit (its tokio runtimes,
 * libwebrtc's factories: it is never unloaded, and dispose does not free
 * them) is the engine's, not a leak of ours. Every binary that links lkrtc
 * gets this; only allocations whose stack passes through the engine match. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:rtc-node.linux-x64-gnu.node\n";
}
#endif

/* ---- loading ---------------------------------------------------------- */

/* The engine's path into path; *fromp says where it came from. */
static int engine_find(char *path, size_t cap, const char *configured, const char **fromp)
{
	const char *env = getenv("LIVEKIT_FFI_LIB");
	if (env && *env) {
		copy_str(path, cap, env);
		*fromp = "LIVEKIT_FFI_LIB";
		return 0;
	}
	if (configured && *configured) {
		copy_str(path, cap, configured);
		*fromp = "the configured engine path";
		return 0;
	}
	*fromp = "found under the executable's directory";
	char dir[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	if (n <= 0)
		return ENOENT;
	dir[n] = '\0';
	for (int up = 0; up <= ENGINE_UP_MAX; up++) {
		char *slash = strrchr(dir, '/');
		if (!slash)
			break;
		*slash = '\0';
		if ((size_t)snprintf(path, cap, "%s/%s", dir, ENGINE_REL) < cap &&
		    access(path, R_OK) == 0)
			return 0;
	}
	return ENOENT;
}

/* Loads and initialises the engine once (eng.lock held). */
static int engine_start(const char *configured, char *reason, size_t reason_len)
{
	char path[PATH_MAX];
	const char *from = "";
	if (eng.initialised)
		return 0;
	if (!eng.cond_ready) {
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&eng.cond, &ca);
		pthread_condattr_destroy(&ca);
		eng.cond_ready = true;
	}
	if (!eng.dl) {
		if (engine_find(path, sizeof(path), configured, &from)) {
			snprintf(reason, reason_len,
				 "the LiveKit engine (" ENGINE_REL
				 ") is not under the executable's "
				 "directory or its parents: run make deps, or set LIVEKIT_FFI_LIB");
			log_error("lkrtc_engine_missing", "%s", reason);
			return ENOENT;
		}
		/* the stubs it needs are in this executable (lkrtc_napi_stubs of them) */
		void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (!dl) {
			snprintf(reason, reason_len, "cannot load the LiveKit engine %s (%s): %s",
				 path, from, dlerror());
			log_error("lkrtc_engine_load_failed", "%s", reason);
			return access(path, R_OK) ? ENOENT : ELIBBAD;
		}
		eng.initialize = (ffi_initialize_fn *)dlsym(dl, "livekit_ffi_initialize");
		eng.request = (ffi_request_fn *)dlsym(dl, "livekit_ffi_request");
		eng.drop = (ffi_drop_handle_fn *)dlsym(dl, "livekit_ffi_drop_handle");
		eng.dispose = (ffi_dispose_fn *)dlsym(dl, "livekit_ffi_dispose");
		if (!eng.initialize || !eng.request || !eng.drop || !eng.dispose) {
			snprintf(reason, reason_len, "%s lacks the livekit_ffi_* C ABI", path);
			log_error("lkrtc_engine_load_failed", "%s", reason);
			eng.initialize = NULL;
			eng.request = NULL;
			eng.drop = NULL;
			eng.dispose = NULL;
			dlclose(dl);
			return ELIBBAD;
		}
		eng.dl = dl;
		log_info("lkrtc_engine_loaded", "%s (%u napi stubs)", path, lkrtc_napi_stubs);
	}
	/* capture_logs off: the engine's own logger writes to stderr (RUST_LOG) */
	eng.initialize(on_engine_event, false, "cpp", "callmesh");
	eng.initialised = true;
	return 0;
}

void lkrtc_shutdown(void)
{
	pthread_mutex_lock(&eng.lock);
	pthread_rwlock_rdlock(&eng.rooms_lock);
	bool idle = eng.rooms == NULL;
	pthread_rwlock_unlock(&eng.rooms_lock);
	if (eng.initialised && idle) {
		eng.dispose();
		eng.initialised = false;
	}
	pthread_mutex_unlock(&eng.lock);
}

/* ---- the room's event thread ---------------------------------------------- */

static void lose(struct lkrtc_room *r, int err, const char *reason)
{
	if (atomic_exchange(&r->lost, true))
		return;
	log_warn("lkrtc_room_lost", "identity=%s: %s", r->identity, reason);
	if (r->h.closed)
		r->h.closed(err, reason, r->arg);
}

static void on_disconnected(struct lkrtc_room *r, P(DisconnectReason) why)
{
	switch (why) {
	case LIVEKIT__PROTO__DISCONNECT_REASON__CLIENT_INITIATED:
		return;
	case LIVEKIT__PROTO__DISCONNECT_REASON__PARTICIPANT_REMOVED:
		lose(r, EACCES, "removed from the LiveKit room by the server");
		return;
	case LIVEKIT__PROTO__DISCONNECT_REASON__ROOM_DELETED:
	case LIVEKIT__PROTO__DISCONNECT_REASON__ROOM_CLOSED:
		lose(r, EACCES, "the LiveKit room was deleted");
		return;
	case LIVEKIT__PROTO__DISCONNECT_REASON__DUPLICATE_IDENTITY:
		lose(r, EEXIST, "the same identity joined the LiveKit room elsewhere");
		return;
	case LIVEKIT__PROTO__DISCONNECT_REASON__SERVER_SHUTDOWN:
		lose(r, ECONNRESET, "the LiveKit server shut down");
		return;
	default: {
		const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
			&livekit__proto__disconnect_reason__descriptor, why);
		char reason[LKRTC_REASON_MAX];
		snprintf(reason, sizeof(reason), "lost the LiveKit server (%s)", v ? v->name : "?");
		lose(r, ECONNRESET, reason);
		return;
	}
	}
}

static void senders_clear(struct lkrtc_room *r, const char *identity, const char *sid);

static void on_track_subscribed(struct lkrtc_room *r, P(TrackSubscribed) *ts)
{
	P(OwnedTrack) *t = ts->track;
	if (!r->h.audio || t->info->kind != LIVEKIT__PROTO__TRACK_KIND__KIND_AUDIO)
		return; /* its handle is dropped with the event */
	/* the same track again (after a full reconnect): the new one replaces it */
	senders_clear(r, ts->participant_identity, t->info->sid);
	P(NewAudioStreamRequest) ns = LIVEKIT__PROTO__NEW_AUDIO_STREAM_REQUEST__INIT;
	P(FfiRequest) req = LIVEKIT__PROTO__FFI_REQUEST__INIT;
	P(FfiResponse) *res = NULL;
	ns.track_handle = t->handle->id;
	ns.type = LIVEKIT__PROTO__AUDIO_STREAM_TYPE__AUDIO_STREAM_NATIVE;
	ns.has_sample_rate = ns.has_num_channels = ns.has_frame_size_ms = true;
	ns.sample_rate = LKRTC_RATE;
	ns.num_channels = 1;
	ns.frame_size_ms = LKRTC_FRAME_MS; /* the engine cuts 20 ms; acc[] copes with any size */
	req.message_case = LIVEKIT__PROTO__FFI_REQUEST__MESSAGE_NEW_AUDIO_STREAM;
	req.new_audio_stream = &ns;
	if (request(&res, &req))
		return;
	if (res->message_case != LIVEKIT__PROTO__FFI_RESPONSE__MESSAGE_NEW_AUDIO_STREAM) {
		response_free(res);
		return;
	}
	pthread_mutex_lock(&r->senders_lock);
	struct sender *s = NULL;
	for (size_t i = 0; i < LKRTC_SENDERS_MAX && !s; i++)
		if (!r->senders[i].used)
			s = &r->senders[i];
	if (s) {
		memset(s, 0, sizeof(*s));
		s->used = true;
		s->stream = take(res->new_audio_stream->stream->handle);
		s->track = take(t->handle);
		copy_str(s->sid, sizeof(s->sid), t->info->sid);
		copy_str(s->identity, sizeof(s->identity), ts->participant_identity);
	}
	pthread_mutex_unlock(&r->senders_lock);
	if (s)
		log_info("lkrtc_track_subscribed", "identity=%s: audio of %s (%s)", r->identity,
			 ts->participant_identity, t->info->sid);
	else
		log_warn("lkrtc_too_many_senders", "identity=%s: more than %d remote audio tracks; "
			 "%s not played", r->identity, LKRTC_SENDERS_MAX, ts->participant_identity);
	response_free(res); /* drops the stream handle when no slot took it */
}

/* Drops the stream and track of the remote tracks matching (NULL/0: any). */
static void senders_clear_at(struct lkrtc_room *r, const char *identity, const char *sid,
			     uint64_t stream)
{
	uint64_t drop[2 * LKRTC_SENDERS_MAX];
	size_t n = 0;
	pthread_mutex_lock(&r->senders_lock);
	for (size_t i = 0; i < LKRTC_SENDERS_MAX; i++) {
		struct sender *s = &r->senders[i];
		if (!s->used || (identity && strcmp(s->identity, identity)) ||
		    (sid && strcmp(s->sid, sid)) || (stream && s->stream != stream))
			continue;
		drop[n++] = s->stream;
		drop[n++] = s->track;
		memset(s, 0, sizeof(*s));
	}
	pthread_mutex_unlock(&r->senders_lock);
	for (size_t i = 0; i < n; i++)
		drop_handle(drop[i]); /* outside the lock: frames may be on their way */
}

static void senders_clear(struct lkrtc_room *r, const char *identity, const char *sid)
{
	senders_clear_at(r, identity, sid, 0);
}

static void on_data(struct lkrtc_room *r, const P(DataPacketReceived) *dp)
{
	if (dp->value_case != LIVEKIT__PROTO__DATA_PACKET_RECEIVED__VALUE_USER)
		return;
	const P(BufferInfo) *b = dp->user->data->data;
	atomic_fetch_add(&r->data_received, 1);
	if (r->h.data && !atomic_load(&r->lost))
		r->h.data(dp->participant_identity, dp->user->topic ? dp->user->topic : "",
			  (const uint8_t *)(uintptr_t)b->data_ptr, (size_t)b->data_len, r->arg);
	/* the buffer is valid until its handle is dropped, with the event */
}

static void on_room_event(struct lkrtc_room *r, P(RoomEvent) *re, int64_t *reconnecting_since)
{
	switch (re->message_case) {
	case LIVEKIT__PROTO__ROOM_EVENT__MESSAGE_PARTICIPANT_CONNECTED:
		if (r->h.member && !atomic_load(&r->lost))
			r->h.member(re->participant_connected->info->info->identity, true, r->arg);
		break;
	case LIVEKIT__PROTO__ROOM_EVENT__MESSAGE_PARTICIPANT_DISCONNECTED:
		senders_clear(r, re->participant_disconnected->participant_identity, NULL);
		if (r->h.member && !atomic_load(&r->lost))
			r->h.member(re->participant_disconnected->participant_identity, false,
				    r->arg);
		break;
	case LIVEKIT__PROTO__ROOM_EVENT__MESSAGE_TRACK_SUBSCRIBED:
		on_track_subscribed(r, re->track_subscribed);
		break;
	case LIVEKIT__PROTO__ROOM_EVENT__MESSAGE_TRACK_UNSUBSCRIBED:
		senders_clear(r, re->track_unsubscribed->participant_identity,
			      re->track_unsubscribed->track_sid);
		break;
	case LIVEKIT__PROTO__ROOM_EVENT__MESSAGE_DATA_PACKET_RECEIVED:
		on_data(r, re->data_packet_received);
		break;
	case LIVEKIT__PROTO__ROOM_EVENT__MESSAGE_RECONNECTING:
		if (!*reconnecting_since) {
			*reconnecting_since = time_mono_ms();
			log_warn("lkrtc_reconnecting", "identity=%s: lost the server, reconnecting",
				 r->identity);
		}
		break;
	case LIVEKIT__PROTO__ROOM_EVENT__MESSAGE_RECONNECTED:
		if (*reconnecting_since)
			log_info("lkrtc_reconnected", "identity=%s: after %lld ms", r->identity,
				 (long long)(time_mono_ms() - *reconnecting_since));
		*reconnecting_since = 0;
		atomic_fetch_add(&r->reconnects, 1);
		break;
	case LIVEKIT__PROTO__ROOM_EVENT__MESSAGE_DISCONNECTED:
		on_disconnected(r, re->disconnected->reason);
		break;
	case LIVEKIT__PROTO__ROOM_EVENT__MESSAGE_EOS:
		lose(r, ECONNRESET, "the LiveKit engine closed the room");
		break;
	default:
		break;
	}
}

static void *room_main(void *arg)
{
	struct lkrtc_room *r = arg;
	int64_t reconnecting_since = 0;
	for (;;) {
		int wait_ms = -1;
		if (reconnecting_since) {
			int64_t left =
				reconnecting_since + r->reconnect_timeout_ms - time_mono_ms();
			wait_ms = left > 0 ? (int)left : 0;
		}
		struct item *it = mqueue_wait(r->q, wait_ms);
		if (atomic_load(&r->stop)) {
			item_free(it);
			break;
		}
		if (!it) { /* the reconnect watchdog fired */
			char reason[LKRTC_REASON_MAX];
			snprintf(reason, sizeof(reason),
				 "lost the LiveKit server: not back after %d ms of reconnecting",
				 r->reconnect_timeout_ms);
			lose(r, ECONNRESET, reason);
			reconnecting_since = 0;
			continue;
		}
		if (it->ev &&
		    it->ev->message_case == LIVEKIT__PROTO__FFI_EVENT__MESSAGE_AUDIO_STREAM_EVENT)
			senders_clear_at(r, NULL, NULL, it->ev->audio_stream_event->stream_handle);
		else if (it->ev)
			on_room_event(r, it->ev->room_event, &reconnecting_since);
		else if (it->lost_err)
			lose(r, it->lost_err, it->reason);
		else if (r->h.member && !atomic_load(&r->lost))
			r->h.member(it->identity, it->joined, r->arg);
		item_free(it);
	}
	return NULL;
}

/* ---- connect / leave ---------------------------------------------------- */

/* errno for the engine's words on a failed connect. */
static int connect_errno(const char *msg)
{
	static const struct { const char *needle; int err; } map[] = {
		{ "401", EACCES }, { "403", EACCES }, { "Unauthorized", EACCES },
		{ "Forbidden", EACCES }, { "unauthorized", EACCES },
		{ "Connection refused", ECONNREFUSED }, { "os error 111", ECONNREFUSED },
		{ "No route to host", EHOSTUNREACH }, { "os error 113", EHOSTUNREACH },
		{ "Network is unreachable", EHOSTUNREACH }, { "os error 101", EHOSTUNREACH },
		{ "timed out", ETIMEDOUT }, { "timeout", ETIMEDOUT }, { "Timeout", ETIMEDOUT },
		{ "os error 110", ETIMEDOUT },
	};
	for (size_t i = 0; i < CM_ARRAY_LEN(map); i++)
		if (strstr(msg, map[i].needle))
			return map[i].err;
	return EIO;
}

static struct lkrtc_room *room_free(struct lkrtc_room *r)
{
	if (!r)
		return NULL;
	mqueue_free(r->q, item_free_v);
	pthread_mutex_destroy(&r->senders_lock);
	free(r);
	return NULL;
}

static int publish(struct lkrtc_room *r, int timeout_ms, char *reason, size_t reason_len)
{
	P(FfiRequest) req = LIVEKIT__PROTO__FFI_REQUEST__INIT;
	P(FfiResponse) *res = NULL;
	int err;

	P(AudioSourceOptions) ao = LIVEKIT__PROTO__AUDIO_SOURCE_OPTIONS__INIT;
	P(NewAudioSourceRequest) ns = LIVEKIT__PROTO__NEW_AUDIO_SOURCE_REQUEST__INIT;
	ao.echo_cancellation = ao.noise_suppression = ao.auto_gain_control = false;
	ns.type = LIVEKIT__PROTO__AUDIO_SOURCE_TYPE__AUDIO_SOURCE_NATIVE;
	ns.options = &ao;
	ns.has_sample_rate = ns.has_num_channels = ns.has_queue_size_ms = true;
	ns.sample_rate = LKRTC_RATE;
	ns.num_channels = 1;
	ns.queue_size_ms = LKRTC_QUEUE_MS;
	req.message_case = LIVEKIT__PROTO__FFI_REQUEST__MESSAGE_NEW_AUDIO_SOURCE;
	req.new_audio_source = &ns;
	if ((err = request(&res, &req)))
		goto fail;
	if (res->message_case == LIVEKIT__PROTO__FFI_RESPONSE__MESSAGE_NEW_AUDIO_SOURCE)
		r->source = take(res->new_audio_source->source->handle);
	res = (response_free(res), NULL);
	if (!r->source)
		goto fail;

	P(CreateAudioTrackRequest) ct = LIVEKIT__PROTO__CREATE_AUDIO_TRACK_REQUEST__INIT;
	ct.name = (char *)"microphone";
	ct.source_handle = r->source;
	req.message_case = LIVEKIT__PROTO__FFI_REQUEST__MESSAGE_CREATE_AUDIO_TRACK;
	req.create_audio_track = &ct;
	if ((err = request(&res, &req)))
		goto fail;
	if (res->message_case == LIVEKIT__PROTO__FFI_RESPONSE__MESSAGE_CREATE_AUDIO_TRACK)
		r->track = take(res->create_audio_track->track->handle);
	res = (response_free(res), NULL);
	if (!r->track)
		goto fail;

	P(TrackPublishOptions) po = LIVEKIT__PROTO__TRACK_PUBLISH_OPTIONS__INIT;
	P(PublishTrackRequest) pt = LIVEKIT__PROTO__PUBLISH_TRACK_REQUEST__INIT;
	struct waiter w;
	po.has_source = true;
	po.source = LIVEKIT__PROTO__TRACK_SOURCE__SOURCE_MICROPHONE;
	pt.local_participant_handle = r->participant;
	pt.track_handle = r->track;
	pt.options = &po;
	pt.has_request_async_id = true;
	pt.request_async_id = async_id(r);
	req.message_case = LIVEKIT__PROTO__FFI_REQUEST__MESSAGE_PUBLISH_TRACK;
	req.publish_track = &pt;
	waiter_add(&w, pt.request_async_id);
	if ((err = request(&res, &req))) {
		P(FfiEvent) *late = waiter_wait(&w, 0);
		event_free(late);
		goto fail;
	}
	res = (response_free(res), NULL);
	P(FfiEvent) *ev = waiter_wait(&w, timeout_ms);
	if (!ev) {
		snprintf(reason, reason_len, "publishing our audio track got no answer in %d ms",
			 timeout_ms);
		log_error("lkrtc_publish_failed", "identity=%s: %s", r->identity, reason);
		return ETIMEDOUT;
	}
	P(PublishTrackCallback) *pc = ev->publish_track;
	if (pc->message_case == LIVEKIT__PROTO__PUBLISH_TRACK_CALLBACK__MESSAGE_PUBLICATION)
		r->publication = take(pc->publication->handle);
	else
		snprintf(reason, reason_len, "publishing our audio track failed: %s",
			 pc->message_case == LIVEKIT__PROTO__PUBLISH_TRACK_CALLBACK__MESSAGE_ERROR ?
			 pc->error : "no publication");
	event_free(ev);
	if (!r->publication) {
		log_error("lkrtc_publish_failed", "identity=%s: %s", r->identity, reason);
		return EIO;
	}
	return 0;
fail:
	response_free(res);
	snprintf(reason, reason_len, "the engine refused to create our audio track");
	log_error("lkrtc_publish_failed", "identity=%s: %s", r->identity, reason);
	return err ? err : EIO;
}

/* The connect itself: request, callback, room handle. */
static int room_connect(struct lkrtc_room *r, const struct lkrtc_connect_opts *o, int timeout_ms,
			char *reason, size_t reason_len, P(FfiEvent) **evp)
{
	P(RoomOptions) ro = LIVEKIT__PROTO__ROOM_OPTIONS__INIT;
	P(ConnectRequest) cr = LIVEKIT__PROTO__CONNECT_REQUEST__INIT;
	P(FfiRequest) req = LIVEKIT__PROTO__FFI_REQUEST__INIT;
	P(FfiResponse) *res = NULL;
	struct waiter *w = calloc(1, sizeof(*w));
	int err;
	if (!w)
		return ENOMEM;
	ro.has_auto_subscribe = ro.has_single_peer_connection = true;
	ro.auto_subscribe = r->h.audio != NULL;
	ro.single_peer_connection = false;
	ro.has_join_retries = ro.has_connect_timeout_ms = true;
	ro.join_retries = 0;
	ro.connect_timeout_ms = (uint64_t)timeout_ms;
	cr.url = (char *)o->url;
	cr.token = (char *)o->token;
	cr.options = &ro;
	cr.has_request_async_id = true;
	cr.request_async_id = async_id(r);
	req.message_case = LIVEKIT__PROTO__FFI_REQUEST__MESSAGE_CONNECT;
	req.connect = &cr;
	waiter_add(w, cr.request_async_id);
	err = request(&res, &req);
	response_free(res);
	/* the engine's own timeout is timeout_ms; a little more for its answer */
	P(FfiEvent) *ev = waiter_wait(w, err ? 0 : timeout_ms + 2000);
	free(w);
	if (err) {
		event_free(ev);
		snprintf(reason, reason_len, "the LiveKit engine refused the connect request");
		return err;
	}
	if (!ev) {
		snprintf(reason, reason_len, "no answer from LiveKit at %s within %d ms", o->url,
			 timeout_ms);
		log_error("lkrtc_connect_failed", "%s", reason);
		return ETIMEDOUT;
	}
	P(ConnectCallback) *cc = ev->connect;
	if (cc->message_case != LIVEKIT__PROTO__CONNECT_CALLBACK__MESSAGE_RESULT) {
		const char *msg = cc->message_case ==
						  LIVEKIT__PROTO__CONNECT_CALLBACK__MESSAGE_ERROR
					  ? cc->error
					  : "no result";
		err = connect_errno(msg);
		snprintf(reason, reason_len, "%s: %s",
			 err == EACCES ? "LiveKit refused the access token" :
			 err == ECONNREFUSED ? "nothing accepts connections at the LiveKit URL" :
			 err == EHOSTUNREACH ? "the LiveKit host is unreachable" :
			 err == ETIMEDOUT ? "LiveKit did not answer in time" :
			 "cannot join the LiveKit room", msg);
		log_error("lkrtc_connect_failed", "url=%s: %s", o->url, reason);
		event_free(ev);
		return err;
	}
	r->room = take(cc->result->room->handle);
	r->participant = take(cc->result->local_participant->handle);
	copy_str(r->identity, sizeof(r->identity), cc->result->local_participant->info->identity);
	*evp = ev;
	return 0;
}

int lkrtc_connect(struct lkrtc_room **roomp, const struct lkrtc_connect_opts *o,
		  const struct lkrtc_handlers *h, void *arg, char *reason, size_t reason_len)
{
	char scratch[LKRTC_REASON_MAX];
	struct lkrtc_room *r = NULL;
	P(FfiEvent) *ev = NULL;
	int err;
	if (!reason || !reason_len) {
		reason = scratch;
		reason_len = sizeof(scratch);
	}
	reason[0] = '\0';
	if (!roomp || !o || !o->url || !*o->url || !o->token || !*o->token || !h) {
		snprintf(reason, reason_len, "connect needs a url, a token and handlers");
		return EINVAL;
	}
	int timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
	int64_t deadline = time_mono_ms() + timeout_ms;

	pthread_mutex_lock(&eng.lock);
	err = engine_start(o->engine_path, reason, reason_len);
	pthread_mutex_unlock(&eng.lock);
	if (err)
		return err;

	r = calloc(1, sizeof(*r));
	if (!r)
		return ENOMEM;
	r->seq = atomic_fetch_add(&eng.next_room_seq, 1) + 1;
	r->h = *h;
	r->arg = arg;
	r->reconnect_timeout_ms = o->reconnect_timeout_ms > 0 ? o->reconnect_timeout_ms :
		DEFAULT_RECONNECT_MS;
	pthread_mutex_init(&r->senders_lock, NULL);
	err = mqueue_new(&r->q, LKRTC_QUEUE_MAX);
	if (err) {
		room_free(r);
		return err;
	}

	err = room_connect(r, o, timeout_ms, reason, reason_len, &ev);
	if (err) {
		room_free(r);
		return err;
	}
	/* members already there, reported once handlers may run */
	P(ConnectCallback__Result) *res = ev->connect->result;
	for (size_t i = 0; i < res->n_participants; i++) {
		struct item *it = calloc(1, sizeof(*it));
		if (!it)
			continue;
		it->joined = true;
		copy_str(it->identity, sizeof(it->identity),
			 res->participants[i]->participant->info->identity);
		queue_push(r, it);
	}
	event_free(ev); /* drops the remote participants' and publications' handles */

	pthread_rwlock_wrlock(&eng.rooms_lock);
	r->next = eng.rooms;
	eng.rooms = r;
	pthread_rwlock_unlock(&eng.rooms_lock);
	err = pthread_create(&r->thread, NULL, room_main, r);
	if (err) {
		snprintf(reason, reason_len, "cannot start the room's event thread");
		goto fail;
	}
	r->thread_started = true;

	/* mandatory: the engine holds the room's events until it hears this */
	P(ReadyForRoomEventRequest) rr = LIVEKIT__PROTO__READY_FOR_ROOM_EVENT_REQUEST__INIT;
	P(FfiRequest) req = LIVEKIT__PROTO__FFI_REQUEST__INIT;
	P(FfiResponse) *resp = NULL;
	rr.room_handle = r->room;
	req.message_case = LIVEKIT__PROTO__FFI_REQUEST__MESSAGE_READY_FOR_ROOM_EVENT;
	req.ready_for_room_event = &rr;
	if ((err = request(&resp, &req))) {
		snprintf(reason, reason_len, "the engine refused ready_for_room_event");
		goto fail;
	}
	response_free(resp);

	int64_t left = deadline - time_mono_ms();
	err = publish(r, left > 1000 ? (int)left : 1000, reason, reason_len);
	if (err)
		goto fail;
	log_info("lkrtc_connected", "url=%s identity=%s", o->url, r->identity);
	*roomp = r;
	return 0;
fail:
	lkrtc_disconnect(r);
	return err;
}

int lkrtc_send_audio(struct lkrtc_room *r, const int16_t pcm[LKRTC_FRAME_SAMPLES])
{
	if (!r || !pcm)
		return EINVAL;
	if (atomic_load(&r->lost))
		return EPIPE;
	if (atomic_load(&r->captures) >= CAPTURES_IN_FLIGHT) {
		atomic_fetch_add(&r->frames_dropped, 1);
		return ENOBUFS;
	}
	P(AudioFrameBufferInfo) bi = LIVEKIT__PROTO__AUDIO_FRAME_BUFFER_INFO__INIT;
	P(CaptureAudioFrameRequest) cf = LIVEKIT__PROTO__CAPTURE_AUDIO_FRAME_REQUEST__INIT;
	P(FfiRequest) req = LIVEKIT__PROTO__FFI_REQUEST__INIT;
	P(FfiResponse) *res = NULL;
	bi.data_ptr = (uint64_t)(uintptr_t)pcm; /* the engine copies it before returning */
	bi.num_channels = 1;
	bi.sample_rate = LKRTC_RATE;
	bi.samples_per_channel = LKRTC_FRAME_SAMPLES;
	cf.source_handle = r->source;
	cf.buffer = &bi;
	cf.has_request_async_id = true;
	cf.request_async_id = async_id(r);
	req.message_case = LIVEKIT__PROTO__FFI_REQUEST__MESSAGE_CAPTURE_AUDIO_FRAME;
	req.capture_audio_frame = &cf;
	atomic_fetch_add(&r->captures, 1);
	if (request(&res, &req)) {
		atomic_fetch_sub(&r->captures, 1);
		atomic_fetch_add(&r->send_errors, 1);
		return EIO;
	}
	response_free(res);
	return 0;
}

int lkrtc_send_data(struct lkrtc_room *r, const char *topic, const uint8_t *data, size_t len)
{
	if (!r || (!data && len))
		return EINVAL;
	if (len > LKRTC_DATA_MAX)
		return EMSGSIZE;
	if (topic && strlen(topic) > LKRTC_TOPIC_MAX)
		return EINVAL;
	if (atomic_load(&r->lost))
		return EPIPE;
	uint8_t empty = 0;
	P(PublishDataRequest) pd = LIVEKIT__PROTO__PUBLISH_DATA_REQUEST__INIT;
	P(FfiRequest) req = LIVEKIT__PROTO__FFI_REQUEST__INIT;
	P(FfiResponse) *res = NULL;
	pd.local_participant_handle = r->participant;
	pd.data_ptr = (uint64_t)(uintptr_t)(data ? data : &empty); /* copied by the engine */
	pd.data_len = len;
	pd.reliable = true;
	pd.topic = topic && *topic ? (char *)topic : NULL;
	pd.has_request_async_id = true;
	pd.request_async_id = async_id(r);
	req.message_case = LIVEKIT__PROTO__FFI_REQUEST__MESSAGE_PUBLISH_DATA;
	req.publish_data = &pd;
	if (request(&res, &req))
		return EIO;
	response_free(res);
	atomic_fetch_add(&r->data_sent, 1);
	return 0;
}

void lkrtc_stats(struct lkrtc_room *r, struct lkrtc_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!r)
		return;
	st->frames_sent = atomic_load(&r->frames_sent);
	st->frames_dropped = atomic_load(&r->frames_dropped);
	st->send_errors = atomic_load(&r->send_errors);
	st->frames_received = atomic_load(&r->frames_received);
	st->data_sent = atomic_load(&r->data_sent);
	st->data_received = atomic_load(&r->data_received);
	st->reconnects = atomic_load(&r->reconnects);
}

const char *lkrtc_identity(const struct lkrtc_room *r)
{
	return r ? r->identity : "";
}

void lkrtc_disconnect(struct lkrtc_room *r)
{
	if (!r)
		return;
	atomic_store(&r->lost, true); /* no handler from here on */
	/* unlinked: the callback finds neither its frames nor its events */
	pthread_rwlock_wrlock(&eng.rooms_lock);
	for (struct lkrtc_room **pp = &eng.rooms; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	pthread_rwlock_unlock(&eng.rooms_lock);
	if (r->thread_started) {
		atomic_store(&r->stop, true);
		mqueue_close(r->q);
		pthread_join(r->thread, NULL);
	}
	if (r->room) {
		P(DisconnectRequest) dr = LIVEKIT__PROTO__DISCONNECT_REQUEST__INIT;
		P(FfiRequest) req = LIVEKIT__PROTO__FFI_REQUEST__INIT;
		P(FfiResponse) *res = NULL;
		struct waiter *w = calloc(1, sizeof(*w));
		dr.room_handle = r->room;
		dr.has_request_async_id = true;
		dr.request_async_id = async_id(r);
		dr.has_reason = true;
		dr.reason = LIVEKIT__PROTO__DISCONNECT_REASON__CLIENT_INITIATED;
		req.message_case = LIVEKIT__PROTO__FFI_REQUEST__MESSAGE_DISCONNECT;
		req.disconnect = &dr;
		if (w)
			waiter_add(w, dr.request_async_id);
		int err = request(&res, &req);
		response_free(res);
		if (w) {
			P(FfiEvent) *ev = waiter_wait(w, err ? 0 : DISCONNECT_WAIT_MS);
			if (!ev && !err)
				log_warn("lkrtc_disconnect_slow", "identity=%s: the engine did not "
					 "confirm the disconnect within %d ms", r->identity,
					 DISCONNECT_WAIT_MS);
			event_free(ev);
			free(w);
		}
	}
	senders_clear(r, NULL, NULL);
	drop_handle(r->publication);
	drop_handle(r->track);
	drop_handle(r->source);
	drop_handle(r->participant);
	drop_handle(r->room);
	if (*r->identity)
		log_info("lkrtc_disconnected", "identity=%s", r->identity);
	room_free(r);
}
