/* The recording room backend: frames sent by the agent are kept with their
 * send time so that tests (and the benchmark) observe exactly what a session
 * put on the wire; caller audio is injected with room_record_inject(). */
#include "agent_room.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define ROOM_NAME_MAX 128

struct rec_room {
	struct rec_room *next;
	char name[ROOM_NAME_MAX + 1];
	struct room_record_frame *frames;
	size_t nframes, cap;
	int16_t *pcm; /* ROOM_RECORD_PCM_MAX frames, allocated on first send */
	int joins, leaves;
};

struct agent_room {
	struct agent_room *next;
	struct room_record_hub *hub;
	struct rec_room *rec;
	const struct agent_room_handlers *h;
	void *arg;
};

struct room_record_hub {
	pthread_mutex_t mu;
	bool tell_members; /* room_record_hub_members(): tells of members */
	struct rec_room *rooms;
	struct agent_room *members;
};

int room_record_hub_new(struct room_record_hub **hubp)
{
	struct room_record_hub *hub = calloc(1, sizeof(*hub));
	if (!hub)
		return ENOMEM;
	pthread_mutex_init(&hub->mu, NULL);
	*hubp = hub;
	return 0;
}

struct room_record_hub *room_record_hub_free(struct room_record_hub *hub)
{
	if (!hub)
		return NULL;
	while (hub->members) {
		struct agent_room *m = hub->members;
		hub->members = m->next;
		free(m);
	}
	while (hub->rooms) {
		struct rec_room *r = hub->rooms;
		hub->rooms = r->next;
		free(r->frames);
		free(r->pcm);
		free(r);
	}
	pthread_mutex_destroy(&hub->mu);
	free(hub);
	return NULL;
}

/* Caller holds hub->mu. */
static struct rec_room *find_room(struct room_record_hub *hub, const char *name, bool create)
{
	for (struct rec_room *r = hub->rooms; r; r = r->next)
		if (strcmp(r->name, name) == 0)
			return r;
	if (!create || strlen(name) > ROOM_NAME_MAX)
		return NULL;
	struct rec_room *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	memcpy(r->name, name, strlen(name) + 1);
	r->next = hub->rooms;
	hub->rooms = r;
	return r;
}

static int rec_join(struct agent_room **roomp, void *ctx, const char *room, const char *identity,
		    const struct agent_room_handlers *h, void *arg, char *why, size_t whylen)
{
	struct room_record_hub *hub = ctx;
	int err = 0;
	(void)identity;
	if (why && whylen)
		why[0] = '\0';
	if (!hub || !room || !h || !h->frame)
		return EINVAL;
	struct agent_room *m = calloc(1, sizeof(*m));
	if (!m)
		return ENOMEM;
	pthread_mutex_lock(&hub->mu);
	m->rec = find_room(hub, room, true);
	if (!m->rec) {
		err = ENOMEM;
		goto out;
	}
	m->hub = hub;
	m->h = h;
	m->arg = arg;
	m->rec->joins++;
	m->next = hub->members;
	hub->members = m;
	*roomp = m;
	m = NULL;
out:
	pthread_mutex_unlock(&hub->mu);
	free(m);
	return err;
}

static int32_t frame_rms(const int16_t *pcm)
{
	double acc = 0;
	for (int i = 0; i < AGENT_FRAME_SAMPLES; i++)
		acc += (double)pcm[i] * pcm[i];
	return (int32_t)sqrt(acc / AGENT_FRAME_SAMPLES);
}

static int rec_send(struct agent_room *m, const int16_t pcm[AGENT_FRAME_SAMPLES])
{
	int err = 0;
	struct room_record_frame f = { time_mono_us(), frame_rms(pcm) };
	pthread_mutex_lock(&m->hub->mu);
	struct rec_room *r = m->rec;
	if (r->nframes >= ROOM_RECORD_FRAMES_MAX) {
		err = ENOSPC;
		goto out;
	}
	if (r->nframes == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 256;
		struct room_record_frame *nf = realloc(r->frames, cap * sizeof(*nf));
		if (!nf) {
			err = ENOMEM;
			goto out;
		}
		r->frames = nf;
		r->cap = cap;
	}
	if (r->nframes < ROOM_RECORD_PCM_MAX) {
		if (!r->pcm)
			r->pcm = malloc((size_t)ROOM_RECORD_PCM_MAX * AGENT_FRAME_SAMPLES *
					sizeof(int16_t));
		if (r->pcm)
			memcpy(r->pcm + r->nframes * AGENT_FRAME_SAMPLES, pcm,
			       AGENT_FRAME_SAMPLES * sizeof(int16_t));
	}
	r->frames[r->nframes++] = f;
out:
	pthread_mutex_unlock(&m->hub->mu);
	return err;
}

static void rec_leave(struct agent_room *m)
{
	if (!m)
		return;
	struct room_record_hub *hub = m->hub;
	pthread_mutex_lock(&hub->mu);
	for (struct agent_room **pp = &hub->members; *pp; pp = &(*pp)->next) {
		if (*pp == m) {
			*pp = m->next;
			break;
		}
	}
	m->rec->leaves++;
	pthread_mutex_unlock(&hub->mu);
	free(m);
}

static bool rec_members(const void *ctx)
{
	struct room_record_hub *hub = (struct room_record_hub *)ctx;
	pthread_mutex_lock(&hub->mu);
	bool on = hub->tell_members;
	pthread_mutex_unlock(&hub->mu);
	return on;
}

const struct room_backend room_record_backend = {
	.name = "record",
	.join = rec_join,
	.send_frame = rec_send,
	.leave = rec_leave,
	.members = rec_members,
};

void room_record_hub_members(struct room_record_hub *hub, bool on)
{
	pthread_mutex_lock(&hub->mu);
	hub->tell_members = on;
	pthread_mutex_unlock(&hub->mu);
}

int room_record_member(struct room_record_hub *hub, const char *room, const char *identity,
		       bool joined)
{
	int delivered = 0;
	pthread_mutex_lock(&hub->mu);
	for (struct agent_room *m = hub->members; m; m = m->next) {
		if (strcmp(m->rec->name, room) == 0 && m->h->member) {
			m->h->member(identity, joined, m->arg);
			delivered++;
		}
	}
	pthread_mutex_unlock(&hub->mu);
	return delivered ? 0 : ENOENT;
}

int room_record_close(struct room_record_hub *hub, const char *room, int err, const char *reason)
{
	int delivered = 0;
	pthread_mutex_lock(&hub->mu);
	for (struct agent_room *m = hub->members; m; m = m->next) {
		if (strcmp(m->rec->name, room) == 0 && m->h->closed) {
			m->h->closed(err, reason, m->arg);
			delivered++;
		}
	}
	pthread_mutex_unlock(&hub->mu);
	return delivered ? 0 : ENOENT;
}

size_t room_record_count(struct room_record_hub *hub, const char *room)
{
	pthread_mutex_lock(&hub->mu);
	struct rec_room *r = find_room(hub, room, false);
	size_t n = r ? r->nframes : 0;
	pthread_mutex_unlock(&hub->mu);
	return n;
}

size_t room_record_frames(struct room_record_hub *hub, const char *room, size_t from,
			  struct room_record_frame *out, size_t max)
{
	size_t n = 0;
	pthread_mutex_lock(&hub->mu);
	struct rec_room *r = find_room(hub, room, false);
	if (r && from < r->nframes) {
		n = r->nframes - from;
		if (n > max)
			n = max;
		memcpy(out, r->frames + from, n * sizeof(*out));
	}
	pthread_mutex_unlock(&hub->mu);
	return n;
}

size_t room_record_pcm(struct room_record_hub *hub, const char *room, size_t from,
		       int16_t *pcm, size_t nframes)
{
	size_t n = 0;
	pthread_mutex_lock(&hub->mu);
	struct rec_room *r = find_room(hub, room, false);
	if (r && r->pcm && from < r->nframes && from < ROOM_RECORD_PCM_MAX) {
		size_t avail = r->nframes < ROOM_RECORD_PCM_MAX ? r->nframes : ROOM_RECORD_PCM_MAX;
		n = avail - from;
		if (n > nframes)
			n = nframes;
		memcpy(pcm, r->pcm + from * AGENT_FRAME_SAMPLES,
		       n * AGENT_FRAME_SAMPLES * sizeof(int16_t));
	}
	pthread_mutex_unlock(&hub->mu);
	return n;
}

int room_record_joins(struct room_record_hub *hub, const char *room)
{
	pthread_mutex_lock(&hub->mu);
	struct rec_room *r = find_room(hub, room, false);
	int n = r ? r->joins : 0;
	pthread_mutex_unlock(&hub->mu);
	return n;
}

int room_record_leaves(struct room_record_hub *hub, const char *room)
{
	pthread_mutex_lock(&hub->mu);
	struct rec_room *r = find_room(hub, room, false);
	int n = r ? r->leaves : 0;
	pthread_mutex_unlock(&hub->mu);
	return n;
}

int room_record_inject(struct room_record_hub *hub, const char *room, const int16_t *pcm,
		       size_t nsamples)
{
	int16_t frame[AGENT_FRAME_SAMPLES];
	int delivered = 0;
	pthread_mutex_lock(&hub->mu);
	for (size_t off = 0; off < nsamples; off += AGENT_FRAME_SAMPLES) {
		size_t n = nsamples - off < AGENT_FRAME_SAMPLES ? nsamples - off
								: AGENT_FRAME_SAMPLES;
		memset(frame, 0, sizeof(frame));
		memcpy(frame, pcm + off, n * sizeof(int16_t));
		for (struct agent_room *m = hub->members; m; m = m->next) {
			if (strcmp(m->rec->name, room) == 0) {
				m->h->frame(frame, m->arg);
				delivered = 1;
			}
		}
	}
	pthread_mutex_unlock(&hub->mu);
	return delivered || nsamples == 0 ? 0 : ENOENT;
}
