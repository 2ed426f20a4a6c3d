/* Recordings remembered per call, so recordings.stop finds the egress. Each
 * table is owned by one backend and locks itself: any worker thread. */
#include "recordings.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REC_TABLE_MAX 4096

struct rec_entry {
	char call_id[ID_UUID_LEN + 1];
	char recording_id[128];
	char path[512];
	bool used;
};

struct rec_table {
	pthread_mutex_t lock;
	struct rec_entry e[REC_TABLE_MAX];
	size_t next; /* ring: the slot written next (the oldest when full) */
};

int rec_table_new(struct rec_table **tp)
{
	struct rec_table *t = calloc(1, sizeof(*t));
	if (!t)
		return ENOMEM;
	pthread_mutex_init(&t->lock, NULL);
	*tp = t;
	return 0;
}

struct rec_table *rec_table_free(struct rec_table *t)
{
	if (t) {
		pthread_mutex_destroy(&t->lock);
		free(t);
	}
	return NULL;
}

int rec_table_put(struct rec_table *t, const char *call_id, const char *recording_id,
		  const char *path)
{
	if (strlen(call_id) > ID_UUID_LEN || strlen(recording_id) >= sizeof(t->e[0].recording_id) ||
	    strlen(path) >= sizeof(t->e[0].path))
		return EINVAL;
	pthread_mutex_lock(&t->lock);
	struct rec_entry *e = &t->e[t->next];
	t->next = (t->next + 1) % REC_TABLE_MAX;
	snprintf(e->call_id, sizeof(e->call_id), "%s", call_id);
	snprintf(e->recording_id, sizeof(e->recording_id), "%s", recording_id);
	snprintf(e->path, sizeof(e->path), "%s", path);
	e->used = true;
	pthread_mutex_unlock(&t->lock);
	return 0;
}

int rec_table_get(struct rec_table *t, const char *call_id, const char *recording_id,
		  char *rec_id, size_t rec_len, char *path, size_t path_len, bool remove)
{
	int err = ENOENT;
	pthread_mutex_lock(&t->lock);
	/* newest first: walk back from the slot written last */
	for (size_t k = 1; k <= REC_TABLE_MAX; k++) {
		struct rec_entry *e = &t->e[(t->next + REC_TABLE_MAX - k) % REC_TABLE_MAX];
		if (!e->used)
			continue;
		bool hit = recording_id ? strcmp(e->recording_id, recording_id) == 0
					: call_id && strcmp(e->call_id, call_id) == 0;
		if (!hit)
			continue;
		snprintf(rec_id, rec_len, "%s", e->recording_id);
		snprintf(path, path_len, "%s", e->path);
		if (remove)
			e->used = false;
		err = 0;
		break;
	}
	pthread_mutex_unlock(&t->lock);
	return err;
}
