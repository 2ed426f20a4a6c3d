/* Private to libs/livekit: base64 flavours and HMAC-SHA256 for the JWT code. */
#ifndef CALLMESH_LIVEKIT_PRIV_H
#define CALLMESH_LIVEKIT_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "livekit.h"

/* base64url without padding (JWT) or standard base64 with padding (webhook
 * sha256 claim) of `len` bytes. Caller frees; NULL when out of memory. */
char *lk_b64url_encode(const void *data, size_t len);
char *lk_b64std_encode(const void *data, size_t len);
/* Decodes base64url (padding optional) of `len` chars into a new buffer
 * (caller frees, NUL-terminated for convenience), *outlenp bytes. EINVAL on a
 * character outside the alphabet or an impossible length; ENOMEM. */
int lk_b64url_decode(uint8_t **outp, size_t *outlenp, const char *s, size_t len) CM_MUST_USE;

#endif
