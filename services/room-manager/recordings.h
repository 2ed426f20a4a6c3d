/* The recordings a backend has started, remembered per call (recordings.c). */
#ifndef ROOM_MANAGER_RECORDINGS_H
#define ROOM_MANAGER_RECORDINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/core.h"

/* Recordings remembered per call (so recordings.stop may omit
 * recording_id); bounded, the oldest forgotten first. Thread-safe. */
struct rec_table;
int rec_table_new(struct rec_table **tp) CM_MUST_USE;
struct rec_table *rec_table_free(struct rec_table *t);
int rec_table_put(struct rec_table *t, const char *call_id, const char *recording_id,
		  const char *path) CM_MUST_USE;
/* Looks up by recording id (when non-NULL) or else by call id; copies into
 * the buffers. ENOENT when unknown. With `remove`, forgets it. */
int rec_table_get(struct rec_table *t, const char *call_id, const char *recording_id, char *rec_id,
		  size_t rec_len, char *path, size_t path_len, bool remove) CM_MUST_USE;

#endif
