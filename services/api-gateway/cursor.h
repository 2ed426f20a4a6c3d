/* Opaque cursors for keyset pagination on (created_at, id), newest first:
 * base64url of "<created_at µs since the epoch>:<uuid>". */
#ifndef CALLMESH_GATEWAY_CURSOR_H
#define CALLMESH_GATEWAY_CURSOR_H

#include "core/core.h"

#include <stdint.h>

#define CURSOR_MAX 96 /* encoded length + NUL always fits */

struct cursor {
	int64_t created_us;
	char id[ID_UUID_LEN + 1];
};

/* Encodes into out (CURSOR_MAX bytes). EINVAL for a bad id. */
int cursor_encode(char out[CURSOR_MAX], int64_t created_us, const char *id) CM_MUST_USE;
/* Decodes a cursor from a client. EINVAL for anything we did not make. */
int cursor_decode(struct cursor *c, const char *s) CM_MUST_USE;

#endif
