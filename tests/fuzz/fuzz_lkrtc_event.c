/* libFuzzer target for libs/lkrtc's side of the livekit-ffi engine: the
 * FfiEvents the engine calls back with (decoded and dispatched by
 * on_engine_event) and the room's event thread that handles them
 * (members, subscriptions, audio frames, data, disconnection), with
 * sends of our own in between.
 *
 * The engine is a stand-in (fake_lkffi.c, loaded by lkrtc through
 * lkrtc_connect_opts.engine_path as it loads the real one) whose requests
 * this file answers the way the engine does. Each input joins one room
 * (connect, publish) and leaves it at the end. The input is a list of
 * records [op][len: 2 bytes, little endian][len bytes]; op % 4:
 *   0  an FfiEvent from the engine. What decodes here is delivered after
 *      the engine's contract is put into it: every owned handle is a fresh
 *      one of the stand-in's; data_ptr of audio frames and data packets
 *      points at data_len / samples × channels bytes that live until that
 *      handle is dropped; a room_handle or stream_handle below 16 names our
 *      room / the n-th audio stream we opened. What does not decode goes as
 *      it is.
 *   1  lkrtc_send_audio (20 ms);  2  lkrtc_send_data of the payload;
 *   3  wait until the room's event thread has handled everything so far.
 * An input that starts with 0xff is instead a connect the engine refuses
 * with the rest as its words.
 *
 * Checked besides the sanitizers: every handle the engine handed over is
 * dropped exactly once by the time the room is left (none twice, none
 * unknown, none kept); requests decode; the handlers keep their contract
 * (closed at most once with a documented errno, nothing after it, frames
 * of LKRTC_FRAME_SAMPLES, data as delivered). */
#include "lkrtc/lkrtc.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lkrtc/ffi.pb-c.h"

#define P(name) Livekit__Proto__##name

#define ROOM_H        (1ull << 40)  /* handles of the stand-in start here */
#define SMALL_HANDLE  16
#define STREAMS_MAX   64
#define PCM_MAX       (48000 * 2)   /* samples of one frame we hand over */
#define DATA_MAX      (64 * 1024)
#define SYNC_WAIT_S   5
#define SYNC_ID       "\x01sync"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef void(ffi_cb_fn)(const uint8_t *data, size_t len);

/* ---- the stand-in's handles ----------------------------------------------- */

struct handle {
	uint64_t id;
	void *buf;      /* freed when dropped (response bytes, frame, data) */
	bool dropped;
};

static struct {
	pthread_mutex_t lock;
	struct handle *h;
	size_t n, cap;
	uint64_t next;
	uint64_t room;
	uint64_t streams[STREAMS_MAX];
	size_t nstreams;
	const char *connect_error; /* refuse the connect with these words */
} fk = { .lock = PTHREAD_MUTEX_INITIALIZER };

static uint64_t handle_new(void *buf)
{
	pthread_mutex_lock(&fk.lock);
	if (fk.n == fk.cap) {
		size_t cap = fk.cap ? fk.cap * 2 : 256;
		struct handle *grown = realloc(fk.h, cap * sizeof(*grown));
		if (!grown)
			abort();
		fk.h = grown;
		fk.cap = cap;
	}
	uint64_t id = ROOM_H + ++fk.next;
	fk.h[fk.n++] = (struct handle){ .id = id, .buf = buf };
	pthread_mutex_unlock(&fk.lock);
	return id;
}

static bool fake_drop(uint64_t id)
{
	pthread_mutex_lock(&fk.lock);
	struct handle *h = id > ROOM_H && id - ROOM_H <= fk.n ? &fk.h[id - ROOM_H - 1] : NULL;
	if (!h || h->id != id || h->dropped) {
		fprintf(stderr, "handle %llu dropped twice or never handed out\n",
			(unsigned long long)id);
		abort();
	}
	h->dropped = true;
	free(h->buf);
	h->buf = NULL;
	pthread_mutex_unlock(&fk.lock);
	return true;
}

/* buf (freed with the handle) for a handle handed out already */
static void handle_attach(uint64_t id, void *buf)
{
	pthread_mutex_lock(&fk.lock);
	struct handle *h = id > ROOM_H && id - ROOM_H <= fk.n ? &fk.h[id - ROOM_H - 1] : NULL;
	if (!h || h->buf)
		abort();
	h->buf = buf;
	pthread_mutex_unlock(&fk.lock);
}

/* every handle handed out was dropped; the table is emptied */
static void handles_check_all_dropped(void)
{
	pthread_mutex_lock(&fk.lock);
	for (size_t i = 0; i < fk.n; i++) {
		if (!fk.h[i].dropped) {
			fprintf(stderr, "handle %llu was never dropped\n",
				(unsigned long long)fk.h[i].id);
			abort();
		}
	}
	fk.n = 0;
	fk.next = 0;
	fk.nstreams = 0;
	pthread_mutex_unlock(&fk.lock);
}

/* ---- the engine's answers ----------------------------------------------- */

static ffi_cb_fn *(*engine_cb_get)(void); /* the callback lkrtc registered */

static void engine_cb(const uint8_t *p, size_t n)
{
	ffi_cb_fn *cb = engine_cb_get();
	if (!cb)
		abort(); /* a request before livekit_ffi_initialize */
	cb(p, n);
}

static void send_event(const P(FfiEvent) *ev)
{
	size_t n = livekit__proto__ffi_event__get_packed_size(ev);
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf)
		abort();
	livekit__proto__ffi_event__pack(ev, buf);
	engine_cb(buf, n);
	free(buf);
}

static P(FfiOwnedHandle) *owned(P(FfiOwnedHandle) *h, void *buf)
{
	livekit__proto__ffi_owned_handle__init(h);
	h->id = handle_new(buf);
	return h;
}

static void participant_info(P(ParticipantInfo) *pi, const char *identity)
{
	livekit__proto__participant_info__init(pi);
	pi->sid = (char *)"PA_fuzz";
	pi->name = (char *)"";
	pi->identity = (char *)identity;
	pi->metadata = (char *)"";
}

/* ConnectCallback: our room, ourselves and one member already there */
static void answer_connect(uint64_t async_id)
{
	P(FfiEvent) ev = LIVEKIT__PROTO__FFI_EVENT__INIT;
	P(ConnectCallback) cc = LIVEKIT__PROTO__CONNECT_CALLBACK__INIT;
	P(ConnectCallback__Result) res = LIVEKIT__PROTO__CONNECT_CALLBACK__RESULT__INIT;
	P(OwnedRoom) room = LIVEKIT__PROTO__OWNED_ROOM__INIT;
	P(RoomInfo) ri = LIVEKIT__PROTO__ROOM_INFO__INIT;
	P(OwnedParticipant) me = LIVEKIT__PROTO__OWNED_PARTICIPANT__INIT, other = me;
	P(ParticipantInfo) me_i, other_i;
	P(ConnectCallback__ParticipantWithTracks) pwt =
		LIVEKIT__PROTO__CONNECT_CALLBACK__PARTICIPANT_WITH_TRACKS__INIT;
	P(ConnectCallback__ParticipantWithTracks) *pwts[1] = { &pwt };
	P(FfiOwnedHandle) h_room, h_me, h_other;
	cc.async_id = async_id;
	if (fk.connect_error) {
		cc.message_case = LIVEKIT__PROTO__CONNECT_CALLBACK__MESSAGE_ERROR;
		cc.error = (char *)fk.connect_error;
	} else {
		ri.name = (char *)"call-fuzz";
		ri.metadata = (char *)"";
		room.handle = owned(&h_room, NULL);
		fk.room = h_room.id;
		room.info = &ri;
		participant_info(&me_i, "agent-fuzz");
		me.handle = owned(&h_me, NULL);
		me.info = &me_i;
		participant_info(&other_i, "sip-already-there");
		other.handle = owned(&h_other, NULL);
		other.info = &other_i;
		pwt.participant = &other;
		res.room = &room;
		res.local_participant = &me;
		res.n_participants = 1;
		res.participants = pwts;
		cc.message_case = LIVEKIT__PROTO__CONNECT_CALLBACK__MESSAGE_RESULT;
		cc.result = &res;
	}
	ev.message_case = LIVEKIT__PROTO__FFI_EVENT__MESSAGE_CONNECT;
	ev.connect = &cc;
	send_event(&ev);
}

static void answer_publish(uint64_t async_id)
{
	P(FfiEvent) ev = LIVEKIT__PROTO__FFI_EVENT__INIT;
	P(PublishTrackCallback) pc = LIVEKIT__PROTO__PUBLISH_TRACK_CALLBACK__INIT;
	P(OwnedTrackPublication) pub = LIVEKIT__PROTO__OWNED_TRACK_PUBLICATION__INIT;
	P(TrackPublicationInfo) info = LIVEKIT__PROTO__TRACK_PUBLICATION_INFO__INIT;
	P(FfiOwnedHandle) h;
	info.sid = (char *)"TR_ours";
	info.name = (char *)"microphone";
	info.mime_type = (char *)"audio/opus";
	pub.handle = owned(&h, NULL);
	pub.info = &info;
	pc.async_id = async_id;
	pc.message_case = LIVEKIT__PROTO__PUBLISH_TRACK_CALLBACK__MESSAGE_PUBLICATION;
	pc.publication = &pub;
	ev.message_case = LIVEKIT__PROTO__FFI_EVENT__MESSAGE_PUBLISH_TRACK;
	ev.publish_track = &pc;
	send_event(&ev);
}

/* The request's FfiResponse (and its callback event, sent before the
 * request returns: the engine may be that quick). */
static uint64_t fake_request(const uint8_t *req, size_t len, const uint8_t **res, size_t *res_len)
{
	P(FfiRequest) *rq = livekit__proto__ffi_request__unpack(NULL, len, req);
	if (!rq)
		abort(); /* lkrtc packed a request the engine cannot read */
	P(FfiResponse) rs = LIVEKIT__PROTO__FFI_RESPONSE__INIT;
	P(FfiEvent) cb = LIVEKIT__PROTO__FFI_EVENT__INIT;
	P(ConnectResponse) connect = LIVEKIT__PROTO__CONNECT_RESPONSE__INIT;
	P(DisconnectResponse) disconnect = LIVEKIT__PROTO__DISCONNECT_RESPONSE__INIT;
	P(DisconnectCallback) disconnect_cb = LIVEKIT__PROTO__DISCONNECT_CALLBACK__INIT;
	P(ReadyForRoomEventResponse) ready = LIVEKIT__PROTO__READY_FOR_ROOM_EVENT_RESPONSE__INIT;
	P(NewAudioSourceResponse) nas = LIVEKIT__PROTO__NEW_AUDIO_SOURCE_RESPONSE__INIT;
	P(OwnedAudioSource) source = LIVEKIT__PROTO__OWNED_AUDIO_SOURCE__INIT;
	P(AudioSourceInfo) source_i = LIVEKIT__PROTO__AUDIO_SOURCE_INFO__INIT;
	P(CreateAudioTrackResponse) cat = LIVEKIT__PROTO__CREATE_AUDIO_TRACK_RESPONSE__INIT;
	P(OwnedTrack) track = LIVEKIT__PROTO__OWNED_TRACK__INIT;
	P(TrackInfo) track_i = LIVEKIT__PROTO__TRACK_INFO__INIT;
	P(PublishTrackResponse) pt = LIVEKIT__PROTO__PUBLISH_TRACK_RESPONSE__INIT;
	P(NewAudioStreamResponse) nst = LIVEKIT__PROTO__NEW_AUDIO_STREAM_RESPONSE__INIT;
	P(OwnedAudioStream) stream = LIVEKIT__PROTO__OWNED_AUDIO_STREAM__INIT;
	P(AudioStreamInfo) stream_i = LIVEKIT__PROTO__AUDIO_STREAM_INFO__INIT;
	P(CaptureAudioFrameResponse) cap = LIVEKIT__PROTO__CAPTURE_AUDIO_FRAME_RESPONSE__INIT;
	P(CaptureAudioFrameCallback) cap_cb = LIVEKIT__PROTO__CAPTURE_AUDIO_FRAME_CALLBACK__INIT;
	P(PublishDataResponse) pd = LIVEKIT__PROTO__PUBLISH_DATA_RESPONSE__INIT;
	P(PublishDataCallback) pd_cb = LIVEKIT__PROTO__PUBLISH_DATA_CALLBACK__INIT;
	P(FfiOwnedHandle) h;
	void (*then)(uint64_t) = NULL;
	uint64_t then_id = 0, ok = 1;

	switch (rq->message_case) {
	case LIVEKIT__PROTO__FFI_REQUEST__MESSAGE_CONNECT:
		connect.async_id = rq->connect->request_async_id;
		rs.message_case = LIVEKIT__PROTO__FFI_RESPONSE__MESSAGE_CONNECT;
		rs.connect = &connect;
		then = answer_connect;
		then_id = connect.async_id;
		break;
	case LIVEKIT__PROTO__FFI_REQUEST__MESSAGE_DISCONNECT:
		disconnect.async_id = disconnect_cb.async_id = rq->disconnect->request_async_id;
		rs.message_case = LIVEKIT__PROTO__FFI_RESPONSE__MESSAGE_DISCONNECT;
		rs.disconnect = &disconnect;
		cb.message_case = LIVEKIT__PROTO__FFI_EVENT__MESSAGE_DISCONNECT;
		cb.disconnect = &disconnect_cb;
		break;
	case LIVEKIT__PROTO__FFI_REQUEST__MESSAGE_READY_FOR_ROOM_EVENT:
		rs.message_case = LIVEKIT__PROTO__FFI_RESPONSE__MESSAGE_READY_FOR_ROOM_EVENT;
		rs.ready_for_room_event = &ready;
		break;
	case LIVEKIT__PROTO__FFI_REQUEST__MESSAGE_NEW_AUDIO_SOURCE:
		source.handle = owned(&h, NULL);
		source.info = &source_i;
		nas.source = &source;
		rs.message_case = LIVEKIT__PROTO__FFI_RESPONSE__MESSAGE_NEW_AUDIO_SOURCE;
		rs.new_audio_source = &nas;
		break;
	case LIVEKIT__PROTO__FFI_REQUEST__MESSAGE_CREATE_AUDIO_TRACK:
		track_i.sid = (char *)"TR_ours";
		track_i.name = (char *)"microphone";
		track_i.kind = LIVEKIT__PROTO__TRACK_KIND__KIND_AUDIO;
		track.handle = owned(&h, NULL);
		track.info = &track_i;
		cat.track = &track;
		rs.message_case = LIVEKIT__PROTO__FFI_RESPONSE__MESSAGE_CREATE_AUDIO_TRACK;
		rs.create_audio_track = &cat;
		break;
	case LIVEKIT__PROTO__FFI_REQUEST__MESSAGE_PUBLISH_TRACK:
		pt.async_id = rq->publish_track->request_async_id;
		rs.message_case = LIVEKIT__PROTO__FFI_RESPONSE__MESSAGE_PUBLISH_TRACK;
		rs.publish_track = &pt;
		then = answer_publish;
		then_id = pt.async_id;
		break;
	case LIVEKIT__PROTO__FFI_REQUEST__MESSAGE_NEW_AUDIO_STREAM:
		stream.handle = owned(&h, NULL);
		stream.info = &stream_i;
		nst.stream = &stream;
		pthread_mutex_lock(&fk.lock);
		if (fk.nstreams < STREAMS_MAX)
			fk.streams[fk.nstreams++] = h.id;
		pthread_mutex_unlock(&fk.lock);
		rs.message_case = LIVEKIT__PROTO__FFI_RESPONSE__MESSAGE_NEW_AUDIO_STREAM;
		rs.new_audio_stream = &nst;
		break;
	case LIVEKIT__PROTO__FFI_REQUEST__MESSAGE_CAPTURE_AUDIO_FRAME:
		cap.async_id = cap_cb.async_id = rq->capture_audio_frame->request_async_id;
		if (rq->capture_audio_frame->buffer->samples_per_channel != LKRTC_FRAME_SAMPLES)
			abort();
		rs.message_case = LIVEKIT__PROTO__FFI_RESPONSE__MESSAGE_CAPTURE_AUDIO_FRAME;
		rs.capture_audio_frame = &cap;
		if (cap.async_id & 1)
			cap_cb.error = (char *)"queue full"; /* every other one is refused */
		cb.message_case = LIVEKIT__PROTO__FFI_EVENT__MESSAGE_CAPTURE_AUDIO_FRAME;
		cb.capture_audio_frame = &cap_cb;
		break;
	case LIVEKIT__PROTO__FFI_REQUEST__MESSAGE_PUBLISH_DATA:
		pd.async_id = pd_cb.async_id = rq->publish_data->request_async_id;
		rs.message_case = LIVEKIT__PROTO__FFI_RESPONSE__MESSAGE_PUBLISH_DATA;
		rs.publish_data = &pd;
		if (pd.async_id & 1)
			pd_cb.error = (char *)"not delivered";
		cb.message_case = LIVEKIT__PROTO__FFI_EVENT__MESSAGE_PUBLISH_DATA;
		cb.publish_data = &pd_cb;
		break;
	default:
		ok = 0; /* a request this stand-in does not know: refused */
		break;
	}
	livekit__proto__ffi_request__free_unpacked(rq, NULL);
	if (!ok)
		return 0;
	size_t n = livekit__proto__ffi_response__get_packed_size(&rs);
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf)
		abort();
	livekit__proto__ffi_response__pack(&rs, buf);
	*res = buf;
	*res_len = n;
	uint64_t id = handle_new(buf);
	if (cb.message_case != LIVEKIT__PROTO__FFI_EVENT__MESSAGE__NOT_SET)
		send_event(&cb);
	if (then)
		then(then_id);
	return id;
}

/* ---- the engine's contract put into a fuzzed event ------------------------ */

static void fix_audio(P(AudioStreamEvent) *se)
{
	if (se->stream_handle < SMALL_HANDLE) {
		pthread_mutex_lock(&fk.lock);
		if (se->stream_handle < fk.nstreams)
			se->stream_handle = fk.streams[se->stream_handle];
		pthread_mutex_unlock(&fk.lock);
	}
	if (se->message_case != LIVEKIT__PROTO__AUDIO_STREAM_EVENT__MESSAGE_FRAME_RECEIVED)
		return;
	P(OwnedAudioFrameBuffer) *fb = se->frame_received->frame;
	P(AudioFrameBufferInfo) *info = fb->info;
	if (info->num_channels > 8)
		info->num_channels = 1 + info->num_channels % 8;
	uint32_t ch = info->num_channels ? info->num_channels : 1;
	if ((uint64_t)info->samples_per_channel * ch > PCM_MAX)
		info->samples_per_channel = PCM_MAX / ch;
	size_t n = (size_t)info->samples_per_channel * info->num_channels;
	int16_t *pcm = malloc((n ? n : 1) * sizeof(*pcm));
	if (!pcm)
		abort();
	for (size_t i = 0; i < n; i++)
		pcm[i] = (int16_t)(i * 257);
	info->data_ptr = (uint64_t)(uintptr_t)pcm;
	handle_attach(fb->handle->id, pcm);
}

static void fix_data(P(DataPacketReceived) *dp)
{
	if (dp->value_case != LIVEKIT__PROTO__DATA_PACKET_RECEIVED__VALUE_USER)
		return;
	P(BufferInfo) *b = dp->user->data->data;
	if (b->data_len > DATA_MAX)
		b->data_len = b->data_len % (DATA_MAX + 1);
	uint8_t *buf = malloc(b->data_len ? b->data_len : 1);
	if (!buf)
		abort();
	for (size_t i = 0; i < b->data_len; i++)
		buf[i] = (uint8_t)i;
	b->data_ptr = (uint64_t)(uintptr_t)buf;
	handle_attach(dp->user->data->handle->id, buf);
}

/* Every owned handle gets a fresh one of the stand-in's. */
static void fresh_handles(ProtobufCMessage *m, int depth)
{
	if (!m || depth > 32)
		return;
	if (m->descriptor == &livekit__proto__ffi_owned_handle__descriptor) {
		((P(FfiOwnedHandle) *)m)->id = handle_new(NULL);
		return;
	}
	const ProtobufCMessageDescriptor *d = m->descriptor;
	char *base = (char *)m;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(size_t *)(base + f->quantifier_offset);
			ProtobufCMessage **arr = *(ProtobufCMessage ***)(base + f->offset);
			for (size_t j = 0; arr && j < n; j++)
				fresh_handles(arr[j], depth + 1);
			continue;
		}
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(uint32_t *)(base + f->quantifier_offset) != f->id)
			continue;
		fresh_handles(*(ProtobufCMessage **)(base + f->offset), depth + 1);
	}
}

static void deliver(const uint8_t *p, size_t n)
{
	P(FfiEvent) *ev = livekit__proto__ffi_event__unpack(NULL, n, p);
	if (!ev) {
		engine_cb(p, n); /* undecodable: lkrtc must cope */
		return;
	}
	fresh_handles(&ev->base, 0);
	if (ev->message_case == LIVEKIT__PROTO__FFI_EVENT__MESSAGE_AUDIO_STREAM_EVENT)
		fix_audio(ev->audio_stream_event);
	if (ev->message_case == LIVEKIT__PROTO__FFI_EVENT__MESSAGE_ROOM_EVENT) {
		if (ev->room_event->room_handle < SMALL_HANDLE)
			ev->room_event->room_handle = fk.room;
		if (ev->room_event->message_case ==
		    LIVEKIT__PROTO__ROOM_EVENT__MESSAGE_DATA_PACKET_RECEIVED)
			fix_data(ev->room_event->data_packet_received);
	}
	send_event(ev);
	livekit__proto__ffi_event__free_unpacked(ev, NULL);
}

/* ---- our handlers ---------------------------------------------------------- */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned syncs_seen;
	atomic_bool closed;
	unsigned frames, datas, members;
} hs = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void on_audio(const char *identity, const int16_t pcm[LKRTC_FRAME_SAMPLES], void *arg)
{
	volatile int16_t sink = 0;
	(void)arg;
	/* audio runs on the engine's thread: it may still come just after closed */
	if (!identity)
		abort();
	for (size_t i = 0; i < LKRTC_FRAME_SAMPLES; i++)
		sink ^= pcm[i];
	(void)sink;
	hs.frames++;
}

static void on_data(const char *identity, const char *topic, const uint8_t *d, size_t len,
		    void *arg)
{
	(void)arg;
	if (!identity || !topic || (len && !d) || len > DATA_MAX || hs.closed)
		abort();
	for (size_t i = 0; i < len; i++)
		if (d[i] != (uint8_t)i)
			abort(); /* not the bytes the engine handed over */
	hs.datas++;
}

static void on_member(const char *identity, bool joined, void *arg)
{
	(void)arg;
	pthread_mutex_lock(&hs.lock);
	if (!identity || hs.closed)
		abort();
	if (joined && strcmp(identity, SYNC_ID) == 0)
		hs.syncs_seen++;
	hs.members++;
	pthread_cond_broadcast(&hs.cond);
	pthread_mutex_unlock(&hs.lock);
}

static void on_closed(int err, const char *reason, void *arg)
{
	(void)arg;
	pthread_mutex_lock(&hs.lock);
	if (hs.closed || !reason || !reason[0] ||
	    (err != ECONNRESET && err != EACCES && err != EEXIST && err != EIO))
		abort();
	hs.closed = true;
	pthread_cond_broadcast(&hs.cond);
	pthread_mutex_unlock(&hs.lock);
}

static const struct lkrtc_handlers handlers = { on_audio, on_data, on_member, on_closed };

/* A member joining with SYNC_ID, and the wait for it (or for the room to be
 * lost: no handler runs after that). */
static void sync_room(void)
{
	P(FfiEvent) ev = LIVEKIT__PROTO__FFI_EVENT__INIT;
	P(RoomEvent) re = LIVEKIT__PROTO__ROOM_EVENT__INIT;
	P(ParticipantConnected) pc = LIVEKIT__PROTO__PARTICIPANT_CONNECTED__INIT;
	P(OwnedParticipant) op = LIVEKIT__PROTO__OWNED_PARTICIPANT__INIT;
	P(ParticipantInfo) pi;
	P(FfiOwnedHandle) h;
	participant_info(&pi, SYNC_ID);
	op.handle = owned(&h, NULL);
	op.info = &pi;
	pc.info = &op;
	re.room_handle = fk.room;
	re.message_case = LIVEKIT__PROTO__ROOM_EVENT__MESSAGE_PARTICIPANT_CONNECTED;
	re.participant_connected = &pc;
	ev.message_case = LIVEKIT__PROTO__FFI_EVENT__MESSAGE_ROOM_EVENT;
	ev.room_event = &re;
	pthread_mutex_lock(&hs.lock);
	unsigned want = hs.syncs_seen + 1;
	pthread_mutex_unlock(&hs.lock);
	send_event(&ev);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += SYNC_WAIT_S;
	pthread_mutex_lock(&hs.lock);
	while (hs.syncs_seen < want && !hs.closed)
		if (pthread_cond_timedwait(&hs.cond, &hs.lock, &ts) == ETIMEDOUT)
			abort(); /* the room's event thread is stuck */
	pthread_mutex_unlock(&hs.lock);
}

/* ---- the run ---------------------------------------------------------------- */

static char engine_path[4096];

static void setup(void)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		abort();
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (!slash)
		abort();
	*slash = '\0';
	if (snprintf(engine_path, sizeof(engine_path), "%s/libfake_lkffi.so", exe) >=
	    (int)sizeof(engine_path))
		abort();
	unsetenv("LIVEKIT_FFI_LIB"); /* it would win over engine_path */
	void *dl = dlopen(engine_path, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		fprintf(stderr, "%s\n", dlerror());
		abort();
	}
	void (*set)(void *, void *) = (void (*)(void *, void *))dlsym(dl, "fake_lkffi_set");
	engine_cb_get = (ffi_cb_fn * (*)(void)) dlsym(dl, "fake_lkffi_callback");
	if (!set || !engine_cb_get)
		abort();
	set((void *)fake_request, (void *)fake_drop);
}

static struct lkrtc_room *join(char *reason, size_t reason_len, int *errp)
{
	struct lkrtc_room *r = NULL;
	struct lkrtc_connect_opts o = { .url = "ws://127.0.0.1:1", .token = "fuzz-token",
					.timeout_ms = 2000, .engine_path = engine_path };
	*errp = lkrtc_connect(&r, &o, &handlers, NULL, reason, reason_len);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	char reason[LKRTC_REASON_MAX], *words = NULL;
	int err = 0;
	if (!ready) {
		setup();
		ready = true;
	}
	pthread_mutex_lock(&hs.lock);
	hs.syncs_seen = 0;
	hs.closed = false;
	pthread_mutex_unlock(&hs.lock);

	if (size > 0 && data[0] == 0xff) {
		words = malloc(size);
		if (!words)
			return 0;
		memcpy(words, data + 1, size - 1);
		words[size - 1] = '\0';
		fk.connect_error = words;
		struct lkrtc_room *r = join(reason, sizeof(reason), &err);
		fk.connect_error = NULL;
		if (r || (err != EACCES && err != ECONNREFUSED && err != EHOSTUNREACH &&
			  err != ETIMEDOUT && err != EIO) || !reason[0])
			abort();
		goto out;
	}

	struct lkrtc_room *r = join(reason, sizeof(reason), &err);
	if (!r) {
		fprintf(stderr, "connect to the stand-in failed: %s\n", reason);
		abort();
	}
	int16_t pcm[LKRTC_FRAME_SAMPLES];
	for (size_t i = 0; i < LKRTC_FRAME_SAMPLES; i++)
		pcm[i] = (int16_t)i;
	for (size_t at = 0; at < size;) {
		uint8_t op = data[at];
		size_t len = at + 3 <= size ? (size_t)data[at + 1] | (size_t)data[at + 2] << 8 : 0;
		at = at + 3 <= size ? at + 3 : size;
		if (len > size - at)
			len = size - at;
		/* an exact-size copy, so sanitizers see reads past the end */
		uint8_t *rec = malloc(len ? len : 1);
		if (!rec)
			abort();
		memcpy(rec, data + at, len);
		at += len;
		switch (op % 4) {
		case 0:
			deliver(rec, len);
			break;
		case 1:
			err = lkrtc_send_audio(r, pcm);
			if (err && err != ENOBUFS && err != EPIPE && err != EIO)
				abort();
			break;
		case 2:
			err = lkrtc_send_data(r, NULL, rec, len);
			if (err && err != EMSGSIZE && err != EPIPE && err != EIO)
				abort();
			break;
		case 3:
			sync_room();
			break;
		}
		free(rec);
	}
	sync_room();
	lkrtc_disconnect(r);
out:
	handles_check_all_dropped();
	free(words);
	return 0;
}
